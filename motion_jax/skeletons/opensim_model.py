"""OpenSim 4.x musculoskeletal models (`.osim` XML) as immutable skeleton descriptions.

`load_osim(path)` parses the parts of a model that kinematics and whole-body quantities need:

* bodies (mass, mass centre, inertia about the mass centre in the body frame),
* joints with their parent/child `PhysicalOffsetFrame`s resolved to a base body, and a six-axis
  spatial transform (`CustomJoint` as written; Pin, Weld, Slider, Universal, Gimbal, Ball, Free and
  Planar joints converted to the equivalent six axes; other types raise `OsimFormatError`),
* coordinates (default, range, clamped, locked, motion type), `CoordinateCouplerConstraint`s,
* markers, contact spheres and muscle names (with side).

Only OpenSim 4.x documents are read (`SUPPORTED_VERSIONS`): the `<OpenSimDocument Version=...>` is
checked first, so an OpenSim 3.x model (Version 30000: joints inside bodies) fails with an error
that names the file, its version and the supported ones instead of a misleading layout error.

Everything is a frozen dataclass of tuples / read-only numpy arrays (hash by identity, so a model
can be closed over or passed as a static argument to `jax.jit`). Kinematics is in `opensim_fk.py`;
model scaling (OpenSim ScaleTool semantics) is `scale_model` below.

Conventions (OpenSim 4.x, checked against opensim 4.6 in tests/skeletons/test_opensim_*.py):
* a `PhysicalOffsetFrame` `orientation` is a body-fixed X-Y-Z Euler sequence, R = Rx(a) Ry(b) Rz(c);
* a `PinJoint` rotates about the Z axis of its parent offset frame.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from motion_jax.skeletons import opensim_functions as fns

ROTATIONAL = "rotational"
TRANSLATIONAL = "translational"
COUPLED = "coupled"

GROUND = "ground"


class OsimFormatError(ValueError):
  """An `.osim` file that is not a (supported) OpenSim 4.x model; the message names file and
  line (and, for an unsupported document version, the version and the supported ones)."""


def _ro(a) -> np.ndarray:
  a = np.array(a, dtype=np.float64)
  a.setflags(write=False)
  return a


def euler_xyz_body_fixed(angles) -> np.ndarray:
  """Rotation matrix of a body-fixed X-Y-Z sequence: Rx(a) @ Ry(b) @ Rz(c) (numpy, float64)."""
  a, b, c = (float(v) for v in angles)
  ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
  rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
  ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
  rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
  return rx @ ry @ rz


# ----------------------------------------------------------------------------------------------
# Dataclasses.


@dataclasses.dataclass(frozen=True, eq=False)
class Body:
  name: str
  mass: float
  mass_center: np.ndarray  # [3] in the body frame
  inertia: np.ndarray  # [3, 3] about the mass centre, body axes


@dataclasses.dataclass(frozen=True, eq=False)
class Frame:
  """A frame fixed to `body`: X_BF = (rotation, translation) (frame axes and origin in the body)."""

  name: str
  body: str  # base body name, or GROUND
  translation: np.ndarray  # [3]
  rotation: np.ndarray  # [3, 3]


@dataclasses.dataclass(frozen=True, eq=False)
class TransformAxis:
  name: str  # rotation1..3 / translation1..3
  coordinates: tuple[str, ...]  # empty for a constant axis
  axis: np.ndarray  # [3] unit vector
  function: fns.Function


@dataclasses.dataclass(frozen=True, eq=False)
class Joint:
  """A joint: child frame M moves relative to parent frame F by the spatial transform.

  X_FM = (R1 R2 R3, t): body-fixed rotations about `axes[0..2]` (each axis expressed in the frame
  produced by the previous rotations) and a translation sum_k f_k * axis_k in F (axes[3..5]).
  """

  name: str
  joint_type: str  # the XML tag: CustomJoint, PinJoint, WeldJoint, BallJoint, ...
  parent_frame: Frame
  child_frame: Frame
  coordinates: tuple[str, ...]
  axes: tuple[TransformAxis, ...]  # 6: rotation1..3, translation1..3

  @property
  def parent_body(self) -> str:
    return self.parent_frame.body

  @property
  def child_body(self) -> str:
    return self.child_frame.body


#: OpenSim's `Coordinate` range when the file has no `<range>` (`Coordinate().getRangeMin/Max()`).
DEFAULT_RANGE = (-10.0, 10.0)


@dataclasses.dataclass(frozen=True, eq=False)
class Coordinate:
  name: str
  joint: str
  default_value: float
  range: tuple[float, float]  # (min, max) in radians / metres; DEFAULT_RANGE when not in the file
  clamped: bool
  locked: bool
  motion_type: str  # ROTATIONAL / TRANSLATIONAL / COUPLED (as OpenSim reports it)


@dataclasses.dataclass(frozen=True, eq=False)
class CoordinateCoupler:
  """`CoordinateCouplerConstraint`: q[dependent] = scale_factor * function(q[independent])."""

  name: str
  dependent: str
  independent: str
  function: fns.Function
  scale_factor: float
  enforced: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Marker:
  name: str
  body: str
  location: np.ndarray  # [3] in the body frame


@dataclasses.dataclass(frozen=True, eq=False)
class ContactSphere:
  name: str
  body: str
  location: np.ndarray  # [3] centre in the body frame
  radius: float


@dataclasses.dataclass(frozen=True, eq=False)
class Muscle:
  name: str
  muscle_type: str  # XML tag, e.g. Millard2012EquilibriumMuscle
  side: str | None  # "r", "l" or None


@dataclasses.dataclass(frozen=True, eq=False)
class OsimModel:
  """Immutable description of an OpenSim model's skeleton (see module docstring)."""

  name: str
  bodies: tuple[Body, ...]
  joints: tuple[Joint, ...]  # topologically sorted: a joint's parent body is placed before it
  coordinates: tuple[Coordinate, ...]
  couplers: tuple[CoordinateCoupler, ...]
  markers: tuple[Marker, ...] = ()
  contact_spheres: tuple[ContactSphere, ...] = ()
  muscles: tuple[Muscle, ...] = ()
  gravity: np.ndarray = dataclasses.field(default_factory=lambda: _ro([0.0, -9.80665, 0.0]))
  other_constraints: tuple[str, ...] = ()  # names of constraints FK does not enforce
  source: str = ""

  # -- names and lookups ---------------------------------------------------------------------
  @property
  def body_names(self) -> tuple[str, ...]:
    return tuple(b.name for b in self.bodies)

  @property
  def joint_names(self) -> tuple[str, ...]:
    return tuple(j.name for j in self.joints)

  @property
  def coordinate_names(self) -> tuple[str, ...]:
    return tuple(c.name for c in self.coordinates)

  @property
  def dependent_coordinate_names(self) -> tuple[str, ...]:
    return tuple(c.dependent for c in self.couplers if c.enforced)

  @property
  def independent_coordinate_names(self) -> tuple[str, ...]:
    dep = set(self.dependent_coordinate_names)
    return tuple(n for n in self.coordinate_names if n not in dep)

  @property
  def muscle_names(self) -> tuple[str, ...]:
    return tuple(m.name for m in self.muscles)

  @property
  def total_mass(self) -> float:
    return float(sum(b.mass for b in self.bodies))

  def body(self, name: str) -> Body:
    return self.bodies[self.body_index(name)]

  def body_index(self, name: str) -> int:
    try:
      return self.body_names.index(name)
    except ValueError:
      raise KeyError(f"unknown body {name!r} in model {self.name!r}") from None

  def coordinate(self, name: str) -> Coordinate:
    for c in self.coordinates:
      if c.name == name:
        return c
    raise KeyError(
      f"unknown coordinate {name!r} in model {self.name!r}; known: {self.coordinate_names}"
    )

  def joint(self, name: str) -> Joint:
    for j in self.joints:
      if j.name == name:
        return j
    raise KeyError(f"unknown joint {name!r} in model {self.name!r}")

  def is_rotational(self, name: str) -> bool:
    """True when OpenSim converts this coordinate between degrees and radians in `.mot` files."""
    return self.coordinate(name).motion_type == ROTATIONAL

  def default_values(self) -> np.ndarray:
    return np.array([c.default_value for c in self.coordinates])


# ----------------------------------------------------------------------------------------------
# Parsing.


class _Doc:
  """An XML tree with element line numbers (expat), plus error helpers naming the file."""

  def __init__(self, path: str):
    self.path = path
    self.lines: dict[int, int] = {}
    try:
      data = Path(path).read_bytes()
    except OSError as e:
      raise OsimFormatError(f"{path}: cannot read: {e}") from e
    builder = ET.TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()

    def start(tag, attrs):
      el = builder.start(tag, attrs)
      self.lines[id(el)] = parser.CurrentLineNumber

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
      parser.Parse(data, True)
      self.root = builder.close()
    except xml.parsers.expat.ExpatError as e:
      raise OsimFormatError(
        f"{path}:{e.lineno}:{e.offset + 1}: not well-formed XML "
        f"({xml.parsers.expat.errors.messages.get(e.code, e)})"
      ) from e
    except Exception as e:  # builder errors on odd documents
      raise OsimFormatError(f"{path}: cannot parse XML: {e}") from e

  def where(self, el: ET.Element | None) -> str:
    if el is None:
      return self.path
    return f"{self.path}:{self.lines.get(id(el), '?')}"

  def error(self, el: ET.Element | None, msg: str) -> OsimFormatError:
    return OsimFormatError(f"{self.where(el)}: {msg}")

  def floats(self, el: ET.Element, child: str, n: int | None, default=None) -> list[float]:
    sub = el.find(child)
    if sub is None:
      if default is not None:
        return list(default)
      raise self.error(el, f"<{el.tag} name={el.get('name')!r}> has no <{child}>")
    try:
      vals = [float(t) for t in (sub.text or "").split()]
    except ValueError:
      raise self.error(sub, f"<{child}> is not a list of numbers: {sub.text!r}") from None
    if n is not None and len(vals) != n:
      raise self.error(sub, f"<{child}> needs {n} numbers, got {len(vals)}")
    if not all(np.isfinite(vals)):
      raise self.error(sub, f"<{child}> has a non-finite number: {sub.text!r}")
    return vals

  def name(self, el: ET.Element) -> str:
    n = (el.get("name") or "").strip()
    if not n:
      raise self.error(el, f"<{el.tag}> without a name")
    return n

  def flag(self, el: ET.Element, child: str, default: bool) -> bool:
    text = (el.findtext(child) or "").strip().lower()
    if not text:
      return default
    if text in ("true", "1"):
      return True
    if text in ("false", "0"):
      return False
    raise self.error(el.find(child), f"<{child}> must be true/false, got {text!r}")

  def function(self, el: ET.Element, where_el: ET.Element):
    try:
      return fns.parse_function(el, "")
    except fns.FunctionFormatError as e:
      raise self.error(where_el, str(e)) from None


def _join_path(base: str, rel: str) -> str:
  parts = [] if rel.startswith("/") else [p for p in base.split("/") if p]
  for p in rel.split("/"):
    if p in ("", "."):
      continue
    if p == "..":
      if parts:
        parts.pop()
    else:
      parts.append(p)
  return "/" + "/".join(parts)


def _side(name: str) -> str | None:
  if name.endswith("_r"):
    return "r"
  if name.endswith("_l"):
    return "l"
  return None


_UNIT_AXES = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0]), "z": np.array([0, 0, 1.0])}


def _fixed_axes(coords_and_fns) -> tuple[TransformAxis, ...]:
  """Six axes for joints with a fixed layout: list of (name, axis letter, coordinate or None)."""
  out = []
  for name, letter, coord in coords_and_fns:
    if coord is None:
      out.append(TransformAxis(name, (), _ro(_UNIT_AXES[letter]), fns.Constant(0.0)))
    else:
      out.append(
        TransformAxis(name, (coord,), _ro(_UNIT_AXES[letter]), fns.LinearFunction(1.0, 0.0))
      )
  return tuple(out)


# Joint types with a fixed layout, as CustomJoint-equivalent axes: (rotations, translations), each a
# list of (axis of the parent offset frame F, index of the joint's coordinate or None). Rotations
# are body-fixed in order; translations are along F's axes. OpenSim runs Ball/Free joints with Euler
# angles (body-fixed X-Y-Z). Each layout is checked against OpenSim in test_opensim_model.py.
_NO_T = [("x", None), ("y", None), ("z", None)]
_FIXED_LAYOUTS = {
  "WeldJoint": ([("z", None), ("x", None), ("y", None)], _NO_T),
  "PinJoint": ([("z", 0), ("x", None), ("y", None)], _NO_T),
  "SliderJoint": ([("z", None), ("x", None), ("y", None)], [("x", 0), ("y", None), ("z", None)]),
  "UniversalJoint": ([("x", 0), ("y", 1), ("z", None)], _NO_T),
  "GimbalJoint": ([("x", 0), ("y", 1), ("z", 2)], _NO_T),
  "BallJoint": ([("x", 0), ("y", 1), ("z", 2)], _NO_T),
  "FreeJoint": ([("x", 0), ("y", 1), ("z", 2)], [("x", 3), ("y", 4), ("z", 5)]),
  "PlanarJoint": ([("z", 0), ("x", None), ("y", None)], [("x", 1), ("y", 2), ("z", None)]),
}


def _is_linear(fn) -> bool:
  if isinstance(fn, fns.MultiplierFunction):
    return _is_linear(fn.function)
  return isinstance(fn, fns.LinearFunction)


#: Document versions `load_osim` reads: [first, end) of `<OpenSimDocument Version=...>`. OpenSim
#: 4.0 writes 40000, 4.6 writes 40600; 3.x wrote 30000 (joints inside bodies, no offset frames).
SUPPORTED_VERSIONS = (40000, 50000)
_SUPPORTED_TEXT = "OpenSim 4.x documents, Version 40000 to 49999 (4.6 writes 40600)"


class OsimVersionWarning(UserWarning):
  """An `.osim` document newer than the OpenSim 4.x formats `load_osim` was checked against."""


def _version_label(version: int) -> str:
  if version < 30000:
    return "OpenSim 1.x/2.x"
  if version < 30500:
    return "OpenSim 3.x"
  if version < 40000:
    return "a pre-release OpenSim 4.0 format"
  return f"OpenSim {version // 10000}.x"


def document_version(doc: _Doc) -> int:
  """The integer `Version` attribute of `<OpenSimDocument>` (OpenSim requires it)."""
  root = doc.root
  text = root.get("Version")
  if text is None:
    raise doc.error(
      root,
      "<OpenSimDocument> has no Version attribute (OpenSim refuses such files); "
      f"supported: {_SUPPORTED_TEXT}",
    )
  try:
    return int(text.strip())
  except ValueError:
    raise doc.error(
      root, f"<OpenSimDocument Version={text!r}> is not an integer; supported: {_SUPPORTED_TEXT}"
    ) from None


def load_osim(path: str | os.PathLike) -> OsimModel:
  """Parse an OpenSim 4.x `.osim` file into an `OsimModel` (raises `OsimFormatError`).

  The document `Version` is read first: older documents (OpenSim 3.x and earlier: Version below
  40000) raise an error naming the file, the version and the supported versions, with how to
  convert the file with OpenSim 4 (which reads and upgrades old documents). Newer documents
  (Version 50000 or more) are parsed with an `OsimVersionWarning`; any error then notes the version.
  """
  path = str(path)
  doc = _Doc(path)
  root = doc.root
  if root.tag != "OpenSimDocument":
    raise doc.error(
      root, f"not an OpenSim model document (root <{root.tag}>, expected <OpenSimDocument><Model>)"
    )
  version = document_version(doc)
  first, end = SUPPORTED_VERSIONS
  if version < first:
    raise doc.error(
      root,
      f"document Version {version} ({_version_label(version)}) is not supported; only the "
      f"OpenSim 4.x layout is read: {_SUPPORTED_TEXT}. OpenSim 4 upgrades older models when it "
      f"loads them: convert this one with `opensim.Model({path!r}).printToXML('<new>.osim')` "
      "(or open it in the OpenSim 4 GUI and save it).",
    )
  if version >= end:
    warnings.warn(
      f"{path}: document Version {version} ({_version_label(version)}) is newer than the "
      f"supported {_SUPPORTED_TEXT}; reading it as 4.x",
      OsimVersionWarning,
      stacklevel=2,
    )
    try:
      return _parse_model(doc, path)
    except OsimFormatError as e:
      raise OsimFormatError(
        f"{e} (note: document Version {version} is newer than the supported {_SUPPORTED_TEXT})"
      ) from e
  return _parse_model(doc, path)


def _parse_model(doc: _Doc, path: str) -> OsimModel:
  root = doc.root
  model_el = root.find("Model")
  if model_el is None:
    raise doc.error(
      root, f"not an OpenSim model document (root <{root.tag}>, expected <OpenSimDocument><Model>)"
    )
  if model_el.find("JointSet") is None or model_el.find("BodySet") is None:
    raise doc.error(model_el, "no <BodySet>/<JointSet>: only the OpenSim 4.x layout is supported")
  ground_el = model_el.find("Ground")
  ground_name = ground_el.get("name", GROUND) if ground_el is not None else GROUND

  # Bodies.
  bodies = []
  for el in model_el.findall("BodySet/objects/Body"):
    name = doc.name(el)
    mass = doc.floats(el, "mass", 1, default=[0.0])[0]
    com = doc.floats(el, "mass_center", 3, default=[0.0, 0.0, 0.0])
    i6 = doc.floats(el, "inertia", 6, default=[0.0] * 6)
    xx, yy, zz, xy, xz, yz = i6
    inertia = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    bodies.append(Body(name, mass, _ro(com), _ro(inertia)))
  body_names = [b.name for b in bodies]
  if len(set(body_names)) != len(body_names):
    raise doc.error(model_el, "duplicate body names")
  if ground_name in body_names:
    raise doc.error(model_el, f"a body is named like the ground ({ground_name!r})")

  # Frames: every PhysicalOffsetFrame, keyed by absolute component path.
  raw_frames: dict[str, tuple[ET.Element, str]] = {}  # path -> (element, owner path)
  base_paths = {"/" + ground_name: ground_name}
  base_paths.update({f"/bodyset/{n}": n for n in body_names})
  joint_els = list(
    model_el.find("JointSet/objects") if model_el.find("JointSet/objects") is not None else []
  )
  for jel in joint_els:
    for fel in jel.findall("frames/PhysicalOffsetFrame"):
      raw_frames[f"/jointset/{jel.get('name')}/{fel.get('name')}"] = (
        fel,
        f"/jointset/{jel.get('name')}",
      )
  for bel in model_el.findall("BodySet/objects/Body"):
    for fel in bel.findall("components/PhysicalOffsetFrame"):
      raw_frames[f"/bodyset/{bel.get('name')}/{fel.get('name')}"] = (
        fel,
        f"/bodyset/{bel.get('name')}",
      )
  for fel in model_el.findall("components/PhysicalOffsetFrame"):
    raw_frames[f"/{fel.get('name')}"] = (fel, "")

  resolved: dict[str, Frame] = {}

  def resolve(rel: str, base: str, el: ET.Element, depth: int = 0) -> Frame:
    """Frame (on its base body) named by socket path `rel` relative to component path `base`."""
    if depth > 20:
      raise doc.error(el, "cyclic PhysicalOffsetFrame parents")
    p = _join_path(base, rel.strip())
    if p in base_paths:
      n = base_paths[p]
      return Frame(n, n, _ro(np.zeros(3)), _ro(np.eye(3)))
    if p not in raw_frames:
      # OpenSim resolves a relative socket path against the owner's parent too.
      p2 = _join_path(base.rsplit("/", 1)[0] if "/" in base else "", rel.strip())
      if p2 in base_paths:
        n = base_paths[p2]
        return Frame(n, n, _ro(np.zeros(3)), _ro(np.eye(3)))
      if p2 not in raw_frames:
        raise doc.error(el, f"cannot resolve frame path {rel!r}")
      p = p2
    if p in resolved:
      return resolved[p]
    fel, _owner = raw_frames[p]
    parent_rel = (fel.findtext("socket_parent") or "").strip()
    if not parent_rel:
      raise doc.error(fel, f"PhysicalOffsetFrame {fel.get('name')!r} has no <socket_parent>")
    parent = resolve(parent_rel, p, fel, depth + 1)
    t = np.array(doc.floats(fel, "translation", 3, default=[0.0] * 3))
    r = euler_xyz_body_fixed(doc.floats(fel, "orientation", 3, default=[0.0] * 3))
    frame = Frame(
      fel.get("name"),
      parent.body,
      _ro(parent.translation + parent.rotation @ t),
      _ro(parent.rotation @ r),
    )
    resolved[p] = frame
    return frame

  # Joints and coordinates.
  joints, coords = [], []
  for jel in joint_els:
    jname = doc.name(jel)
    jtype = jel.tag
    base = f"/jointset/{jname}"
    pf_path = (jel.findtext("socket_parent_frame") or "").strip()
    cf_path = (jel.findtext("socket_child_frame") or "").strip()
    if not pf_path or not cf_path:
      raise doc.error(jel, f"joint {jname!r} lacks socket_parent_frame/socket_child_frame")
    parent_frame = resolve(pf_path, base, jel)
    child_frame = resolve(cf_path, base, jel)
    coord_els = jel.findall("coordinates/Coordinate")
    cnames = tuple(doc.name(c) for c in coord_els)
    if jtype == "CustomJoint":
      st = jel.find("SpatialTransform")
      if st is None:
        raise doc.error(jel, f"CustomJoint {jname!r} has no <SpatialTransform>")
      axes = []
      by_name = {ta.get("name"): ta for ta in st.findall("TransformAxis")}
      for axname in (
        "rotation1",
        "rotation2",
        "rotation3",
        "translation1",
        "translation2",
        "translation3",
      ):
        ta = by_name.get(axname)
        if ta is None:
          raise doc.error(st, f"CustomJoint {jname!r} is missing TransformAxis {axname!r}")
        tc = tuple((ta.findtext("coordinates") or "").split())
        ax = np.array(doc.floats(ta, "axis", 3))
        norm = np.linalg.norm(ax)
        if norm == 0:
          raise doc.error(ta, f"{jname}/{axname}: zero axis")
        fel_ = [c for c in ta if c.tag not in ("coordinates", "axis")]
        if not fel_:
          fn = fns.Constant(0.0)
        else:
          fn = doc.function(fel_[0], fel_[0])
        if len(tc) > 1:
          raise doc.error(
            ta, f"{jname}/{axname}: functions of several coordinates are not supported"
          )
        if tc and tc[0] not in cnames:
          raise doc.error(
            ta, f"{jname}/{axname}: coordinate {tc[0]!r} is not one of the joint's {cnames}"
          )
        if not tc and fns.constant_value(fn) is None:
          # No coordinate: OpenSim evaluates the function at 0.
          fn = fns.Constant(float(np.asarray(fn(np.zeros(())))))
        axes.append(TransformAxis(axname, tc, _ro(ax / norm), fn))
      rot = np.stack([a.axis for a in axes[:3]])
      if abs(np.linalg.det(rot)) < 1e-6:
        raise doc.error(
          st, f"CustomJoint {jname!r}: rotation axes are not independent (unsupported)"
        )
      axes = tuple(axes)
      # Motion type, as OpenSim's CustomJoint assigns it.
      mtypes = {}
      for cn in cnames:
        rot_lin = any(cn in a.coordinates and _is_linear(a.function) for a in axes[:3])
        tr_lin = any(cn in a.coordinates and _is_linear(a.function) for a in axes[3:])
        mtypes[cn] = ROTATIONAL if rot_lin else TRANSLATIONAL if tr_lin else COUPLED
    elif jtype in _FIXED_LAYOUTS:
      rot, trans = _FIXED_LAYOUTS[jtype]
      n_needed = sum(1 for _, c in (*rot, *trans) if c is not None)
      if len(cnames) != n_needed:
        raise doc.error(jel, f"{jtype} {jname!r} needs {n_needed} coordinates, got {len(cnames)}")
      spec = [
        (f"rotation{k + 1}", a, None if c is None else cnames[c]) for k, (a, c) in enumerate(rot)
      ]
      spec += [
        (f"translation{k + 1}", a, None if c is None else cnames[c])
        for k, (a, c) in enumerate(trans)
      ]
      axes = _fixed_axes(spec)
      mtypes = {cn: ROTATIONAL for _, _, cn in spec[:3] if cn is not None}
      mtypes.update({cn: TRANSLATIONAL for _, _, cn in spec[3:] if cn is not None})
    else:
      raise doc.error(
        jel,
        f"joint type {jtype!r} ({jname!r}) is not supported "
        f"(supported: CustomJoint, {', '.join(sorted(_FIXED_LAYOUTS))})",
      )
    for cel in coord_els:
      cn = doc.name(cel)
      rng = doc.floats(cel, "range", 2, default=DEFAULT_RANGE)
      coords.append(
        Coordinate(
          name=cn,
          joint=jname,
          default_value=doc.floats(cel, "default_value", 1, default=[0.0])[0],
          range=(rng[0], rng[1]),
          clamped=doc.flag(cel, "clamped", False),
          locked=doc.flag(cel, "locked", False),
          motion_type=mtypes[cn],
        )
      )
    joints.append(Joint(jname, jtype, parent_frame, child_frame, cnames, axes))

  cnames_all = [c.name for c in coords]
  if len(set(cnames_all)) != len(cnames_all):
    raise doc.error(model_el, "duplicate coordinate names")
  joints = _topological_sort(joints, ground_name, body_names, doc, model_el)

  # Constraints.
  couplers, others = [], []
  cs = model_el.find("ConstraintSet/objects")
  for el in list(cs) if cs is not None else []:
    if el.tag != "CoordinateCouplerConstraint":
      others.append(el.get("name") or el.tag)
      continue
    ind = (el.findtext("independent_coordinate_names") or "").split()
    dep = (el.findtext("dependent_coordinate_name") or "").strip()
    if len(ind) != 1:
      raise doc.error(el, "CoordinateCouplerConstraint with other than one independent coordinate")
    for c in (*ind, dep):
      if c not in cnames_all:
        raise doc.error(el, f"coupler references unknown coordinate {c!r}")
    fel = el.find("coupled_coordinates_function")
    if fel is None or len(list(fel)) != 1:
      raise doc.error(el, "CoordinateCouplerConstraint needs one <coupled_coordinates_function>")
    couplers.append(
      CoordinateCoupler(
        name=el.get("name", ""),
        dependent=dep,
        independent=ind[0],
        function=doc.function(list(fel)[0], fel),
        scale_factor=doc.floats(el, "scale_factor", 1, default=[1.0])[0],
        enforced=doc.flag(el, "isEnforced", True),
      )
    )

  # Markers and contact spheres.
  markers = []
  for el in model_el.findall("MarkerSet/objects/Marker"):
    fr = resolve(
      (el.findtext("socket_parent_frame") or "").strip(), f"/markerset/{el.get('name')}", el
    )
    loc = np.array(doc.floats(el, "location", 3, default=[0.0] * 3))
    markers.append(Marker(doc.name(el), fr.body, _ro(fr.translation + fr.rotation @ loc)))
  spheres = []
  for el in model_el.findall("ContactGeometrySet/objects/ContactSphere"):
    fr = resolve(
      (el.findtext("socket_frame") or "").strip(), f"/contactgeometryset/{el.get('name')}", el
    )
    loc = np.array(doc.floats(el, "location", 3, default=[0.0] * 3))
    radius = doc.floats(el, "radius", 1)[0]
    spheres.append(
      ContactSphere(doc.name(el), fr.body, _ro(fr.translation + fr.rotation @ loc), radius)
    )

  muscles = []
  fs = model_el.find("ForceSet/objects")
  for el in list(fs) if fs is not None else []:
    if el.tag.endswith("Muscle"):
      muscles.append(Muscle(doc.name(el), el.tag, _side(doc.name(el))))

  gravity = doc.floats(model_el, "gravity", 3, default=[0.0, -9.80665, 0.0])
  return OsimModel(
    name=model_el.get("name", ""),
    bodies=tuple(bodies),
    joints=tuple(joints),
    coordinates=tuple(coords),
    couplers=tuple(couplers),
    markers=tuple(markers),
    contact_spheres=tuple(spheres),
    muscles=tuple(muscles),
    gravity=_ro(gravity),
    other_constraints=tuple(others),
    source=path,
  )


def _topological_sort(joints, ground, body_names, doc, model_el):
  by_child: dict[str, Joint] = {}
  for j in joints:
    if j.child_body == ground:
      raise doc.error(
        model_el, f"joint {j.name!r} has the ground as its child (reversed joints unsupported)"
      )
    if j.child_body in by_child:
      raise doc.error(
        model_el, f"body {j.child_body!r} is the child of two joints (closed loops unsupported)"
      )
    by_child[j.child_body] = j
  # Stable: keeps the file's order whenever it is already topological (as OpenSim writes it).
  placed, out = {ground}, []
  remaining = list(joints)
  while remaining:
    ready = next((j for j in remaining if j.parent_body in placed), None)
    if ready is None:
      raise doc.error(
        model_el, f"joints not connected to the ground: {[j.name for j in remaining]}"
      )
    placed.add(ready.child_body)
    out.append(ready)
    remaining.remove(ready)
  missing = [b for b in body_names if b not in placed]
  if missing:
    raise doc.error(model_el, f"bodies without a joint: {missing}")
  return out


# ----------------------------------------------------------------------------------------------
# Scaling (OpenSim ScaleTool / `Model.scale(state, ScaleSet, preserveMassDist, mass)` semantics).


def scale_inertia(
  inertia: np.ndarray, old_mass: float, new_mass: float, s: np.ndarray
) -> np.ndarray:
  """Inertia about the mass centre after scaling a body by factors `s` [3] (OpenSim's rule).

  Uniform factors scale the tensor by s^2 * new_mass / old_mass. Otherwise the body is modelled as
  a cylinder along its axis of smallest moment: radius from that moment (I_a = m r^2 / 2), length
  from another diagonal moment (I_o = m L^2 / 12 + m r^2 / 4); the radius is scaled by the two
  other factors (r^2 *= s_o1 s_o2), the length by s_a, and the moments recomputed with the new
  mass. Products of inertia I_ij are scaled by s_i s_j (and the mass ratio).
  """
  s = np.asarray(s, dtype=np.float64)
  inertia = np.asarray(inertia, dtype=np.float64)
  if old_mass <= 0.0:
    return inertia.copy()
  ratio = new_mass / old_mass
  if s[0] == s[1] == s[2]:
    return inertia * s[0] ** 2 * ratio
  diag = np.diag(inertia)
  axis = int(np.argmin(diag))  # first index of the smallest moment
  other = [i for i in range(3) if i != axis]
  r2 = max(2.0 * diag[axis] / old_mass, 0.0)
  l2 = max(12.0 * (diag[other[0]] - 0.25 * old_mass * r2) / old_mass, 0.0)
  r2 *= s[other[0]] * s[other[1]]
  l2 *= s[axis] ** 2
  out = inertia * np.outer(s, s) * ratio  # products of inertia
  out[axis, axis] = 0.5 * new_mass * r2
  for o in other:
    out[o, o] = new_mass * (l2 / 12.0 + 0.25 * r2)
  return out


def scale_model(
  model: OsimModel,
  scale_factors: Mapping[str, np.typing.ArrayLike],
  preserve_mass_distribution: bool = True,
  final_mass: float | None = None,
  scale_contact_spheres: bool = False,
) -> OsimModel:
  """The model scaled per body by `scale_factors[body] = (sx, sy, sz)` (bodies left out: 1).

  As OpenSim 4.6 `Model.scale` does (checked in tests/skeletons/test_opensim_scaling.py):
  * offset-frame translations, body mass centres and marker locations scale elementwise by the
    factors of the body they are fixed to (frames on the ground are unchanged);
  * CustomJoint translation axes whose function is not a `LinearFunction` (constants, polynomial
    and spline knee translations) get multiplied by the parent body's factor along the axis
    (`|axis| . s`, identical to OpenSim for the axis-aligned axes of the shipped models);
    coordinate-driven linear translations (pelvis_tx, ...) are unchanged;
  * masses scale by sx*sy*sz unless `preserve_mass_distribution`; then, if `final_mass` is given,
    every mass (and inertia) is multiplied so that the total equals it; inertias follow
    `scale_inertia`;
  * contact spheres are *not* moved by OpenSim's scaling; pass `scale_contact_spheres=True` to
    scale their centres like markers (radii never change).
  """
  unknown = set(scale_factors) - set(model.body_names)
  if unknown:
    raise KeyError(f"scale factors for unknown bodies: {sorted(unknown)}")
  fac = {b: np.ones(3) for b in model.body_names}
  for b, v in scale_factors.items():
    v = np.asarray(v, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
      raise ValueError(f"scale factors for {b!r} must be positive and finite, got {v}")
    fac[b] = v
  one = np.ones(3)

  def f(body):
    return fac.get(body, one)  # ground -> no scaling

  def frame(fr: Frame) -> Frame:
    return dataclasses.replace(fr, translation=_ro(fr.translation * f(fr.body)))

  joints = []
  for j in model.joints:
    axes = list(j.axes)
    if j.joint_type == "CustomJoint" and j.parent_body in fac:
      for k in range(3, 6):
        ax = axes[k]
        if isinstance(ax.function, fns.LinearFunction):
          continue
        factor = float(np.abs(ax.axis) @ fac[j.parent_body])
        fn = ax.function
        if isinstance(fn, fns.MultiplierFunction):
          fn = fns.MultiplierFunction(fn.function, fn.scale * factor)
        else:
          fn = fns.MultiplierFunction(fn, factor)
        axes[k] = dataclasses.replace(ax, function=fn)
    joints.append(
      dataclasses.replace(
        j, parent_frame=frame(j.parent_frame), child_frame=frame(j.child_frame), axes=tuple(axes)
      )
    )

  bodies = []
  for b in model.bodies:
    s = fac[b.name]
    mass = b.mass if preserve_mass_distribution else b.mass * abs(float(np.prod(s)))
    bodies.append(
      Body(b.name, mass, _ro(b.mass_center * s), _ro(scale_inertia(b.inertia, b.mass, mass, s)))
    )
  if final_mass is not None and final_mass > 0:
    total = sum(b.mass for b in bodies)
    k = final_mass / total
    bodies = [dataclasses.replace(b, mass=b.mass * k, inertia=_ro(b.inertia * k)) for b in bodies]

  markers = tuple(
    dataclasses.replace(m, location=_ro(m.location * f(m.body))) for m in model.markers
  )
  spheres = model.contact_spheres
  if scale_contact_spheres:
    spheres = tuple(dataclasses.replace(c, location=_ro(c.location * f(c.body))) for c in spheres)
  return dataclasses.replace(
    model,
    bodies=tuple(bodies),
    joints=tuple(joints),
    markers=markers,
    contact_spheres=spheres,
    source=f"{model.source} (scaled)",
  )
