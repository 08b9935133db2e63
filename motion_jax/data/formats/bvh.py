"""BVH (Biovision Hierarchy) reading, forward kinematics and export of joint sequences.

Reading: any hierarchy, any per-joint channel list (position and rotation channels in any order;
e.g. CMU's ``Zrotation Yrotation Xrotation`` or the ``Zrotation Xrotation Yrotation`` that
:func:`write_bvh` emits). Rotation channels are intrinsic, applied in the order listed:
``R_local = R_c1(a1) @ R_c2(a2) @ R_c3(a3)`` (column vectors, degrees). A joint's local
translation is ``OFFSET + (position channels)``; world transforms compose parent @ local.

Export (:func:`save_joints_as_bvh`): per-joint rotations are recovered from positions along the
kinematic tree (:func:`joints_to_local_rotations`):

* a joint with one child gets the shortest-arc rotation that turns its rest bone direction, as
  carried by the parent's world rotation, onto the observed bone direction (no added twist);
* a joint with several children (pelvis, spine3 on the t2m skeleton) gets the world rotation that
  best maps all its rest child offsets onto the observed child bone vectors in the least-squares
  sense (Wahba's problem, solved by SVD / Kabsch). It is exact when the children are rigidly
  attached, as in skinned-model data, and symmetric in the children (no child is privileged);
* a leaf joint keeps its parent's world rotation (identity local rotation); it gets an
  ``End Site`` of half its own rest offset, continuing its bone, so readers draw a bone there.

Positions are reproduced exactly when the bone lengths equal the rest offsets and the children of
each multi-child joint keep the rest layout; :func:`rest_offsets_from_joints` builds such rest
offsets from a clip's first frame (optionally along given bone directions, e.g. t2m's). Joints
from a generator that break either condition come back as the least-squares/shortest-arc fit,
with bone lengths forced to the rest lengths. Units are those of the input (metres for
HumanML3D; scale on import in Blender if it expects centimetres).

Errors in files raise :class:`BVHFormatError` (a ``ValueError``) naming the file and line; bad
arrays raise :class:`InvalidJointsError` (a ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

_POS_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROT_CHANNELS = {"xrotation": "x", "yrotation": "y", "zrotation": "z"}


class BVHFormatError(ValueError):
  """A malformed BVH file; the message starts with ``path:line:``."""

  def __init__(self, path, line: int | None, msg: str):
    self.path, self.line = str(path), line
    where = f"{path}:{line}" if line is not None else f"{path}"
    super().__init__(f"{where}: {msg}")


class InvalidJointsError(ValueError):
  """A joints array with the wrong shape or non-finite values."""


def check_joints(joints, num_joints: int | None = None, name: str = "joints") -> np.ndarray:
  """Return ``joints`` as a float64 ``[T, J, 3]`` array, or raise :class:`InvalidJointsError`.

  Rejects other ranks, a last axis other than 3, zero frames, a joint count different from
  ``num_joints``, and NaN/inf values (naming the first offending frames).
  """
  arr = np.asarray(joints, dtype=np.float64)
  if arr.ndim != 3 or arr.shape[-1] != 3:
    raise InvalidJointsError(f"{name} must have shape [T, J, 3], got {arr.shape}")
  if arr.shape[0] == 0:
    raise InvalidJointsError(f"{name} has no frames")
  if num_joints is not None and arr.shape[1] != num_joints:
    raise InvalidJointsError(f"{name} has {arr.shape[1]} joints but the skeleton has {num_joints}")
  bad = np.flatnonzero(~np.isfinite(arr).all(axis=(1, 2)))
  if bad.size:
    raise InvalidJointsError(
      f"{name} has non-finite values in {bad.size} frame(s), first: {bad[:5].tolist()}"
    )
  return arr


# ----------------------------------------------------------------------------- data types


@dataclasses.dataclass(frozen=True)
class BVHSkeleton:
  """Hierarchy of a BVH file (joints in file order; parents precede children).

  Attributes:
    names: joint names.
    parents: parent index per joint, -1 for roots.
    offsets: [J, 3] OFFSET of each joint in its parent's frame (file units).
    channels: channel names per joint, as written (e.g. ``("Zrotation", "Xrotation", ...)``).
    end_sites: (joint index, [3] offset) for each ``End Site``.
  """

  names: tuple[str, ...]
  parents: tuple[int, ...]
  offsets: np.ndarray
  channels: tuple[tuple[str, ...], ...]
  end_sites: tuple[tuple[int, np.ndarray], ...] = ()

  @property
  def num_channels(self) -> int:
    return sum(len(c) for c in self.channels)

  def channel_slices(self) -> list[slice]:
    out, start = [], 0
    for ch in self.channels:
      out.append(slice(start, start + len(ch)))
      start += len(ch)
    return out


@dataclasses.dataclass(frozen=True)
class BVHMotion:
  """A parsed BVH file: hierarchy, ``frames [T, C]`` channel values, seconds per frame."""

  skeleton: BVHSkeleton
  frames: np.ndarray
  frame_time: float
  path: str = ""

  @property
  def fps(self) -> float:
    return 1.0 / self.frame_time


# ----------------------------------------------------------------------------- reading


def parse_bvh(text: str, path: str | Path = "<string>") -> BVHMotion:
  """Parse BVH text (HIERARCHY + MOTION)."""
  lines = text.splitlines()
  toks = list(_tokens_upto_motion(lines))
  names, parents, offsets, channels, end_sites = [], [], [], [], []
  pos = 0

  def take(expected: str | None = None):
    nonlocal pos
    if pos >= len(toks):
      last = toks[-1][0] if toks else 1
      raise BVHFormatError(
        path, last, "unexpected end of hierarchy" + (f", expected {expected!r}" if expected else "")
      )
    lineno, tok = toks[pos]
    pos += 1
    if expected is not None and tok.upper() != expected.upper():
      raise BVHFormatError(path, lineno, f"expected {expected!r}, got {tok!r}")
    return lineno, tok

  def take_float():
    lineno, tok = take()
    try:
      return float(tok)
    except ValueError:
      raise BVHFormatError(path, lineno, f"expected a number, got {tok!r}") from None

  stack: list[int] = []  # indices of the joints whose blocks are open
  lineno, tok = take("HIERARCHY")
  while pos < len(toks):
    lineno, tok = take()
    up = tok.upper()
    if up in ("ROOT", "JOINT"):
      if up == "JOINT" and not stack:
        raise BVHFormatError(path, lineno, "JOINT outside of a ROOT block")
      if up == "ROOT" and stack:
        raise BVHFormatError(path, lineno, "ROOT inside another joint")
      _, name = take()
      names.append(name)
      parents.append(stack[-1] if stack else -1)
      take("{")
      take("OFFSET")
      offsets.append([take_float() for _ in range(3)])
      ch_line, kw = take()
      if kw.upper() != "CHANNELS":
        raise BVHFormatError(path, ch_line, f"joint {name!r}: expected 'CHANNELS', got {kw!r}")
      n_line, n_tok = take()
      if not n_tok.isdigit():
        raise BVHFormatError(path, n_line, f"joint {name!r}: bad channel count {n_tok!r}")
      chs = []
      for _ in range(int(n_tok)):
        c_line, c = take()
        if c.lower() not in _POS_CHANNELS and c.lower() not in _ROT_CHANNELS:
          raise BVHFormatError(path, c_line, f"joint {name!r}: unknown channel {c!r}")
        chs.append(c)
      channels.append(tuple(chs))
      stack.append(len(names) - 1)
    elif up == "END":
      if not stack:
        raise BVHFormatError(path, lineno, "End Site outside of a joint")
      take("Site")
      take("{")
      take("OFFSET")
      end_sites.append((stack[-1], np.array([take_float() for _ in range(3)])))
      take("}")
    elif up == "}":
      if not stack:
        raise BVHFormatError(path, lineno, "unbalanced '}'")
      stack.pop()
    else:
      raise BVHFormatError(path, lineno, f"unexpected token {tok!r} in HIERARCHY")
  if stack:
    raise BVHFormatError(
      path, toks[-1][0] if toks else None, f"hierarchy ends with {len(stack)} unclosed block(s)"
    )
  if not names:
    raise BVHFormatError(path, None, "no ROOT joint in HIERARCHY")
  skeleton = BVHSkeleton(
    tuple(names), tuple(parents), np.asarray(offsets, np.float64), tuple(channels), tuple(end_sites)
  )
  frames, frame_time = _parse_motion(lines, path, skeleton.num_channels)
  return BVHMotion(skeleton, frames, frame_time, str(path))


def _tokens_upto_motion(lines: list[str]):
  for lineno, line in enumerate(lines, start=1):
    if line.strip().upper() == "MOTION":
      return
    for tok in line.split():
      yield lineno, tok


def _parse_motion(lines: list[str], path, num_channels: int) -> tuple[np.ndarray, float]:
  idx = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
  if idx is None:
    raise BVHFormatError(path, len(lines), "no MOTION section")
  rest = [(i + 1, ln.strip()) for i, ln in enumerate(lines[idx + 1 :], start=idx + 1)]
  rest = [(n, ln) for n, ln in rest if ln]
  if len(rest) < 2:
    raise BVHFormatError(path, idx + 1, "MOTION needs 'Frames:' and 'Frame Time:' lines")
  (n1, l1), (n2, l2) = rest[0], rest[1]
  if not l1.lower().startswith("frames:"):
    raise BVHFormatError(path, n1, f"expected 'Frames: <n>', got {l1[:40]!r}")
  try:
    num_frames = int(l1.split(":", 1)[1])
  except ValueError:
    raise BVHFormatError(path, n1, f"bad frame count in {l1[:40]!r}") from None
  if not l2.lower().startswith("frame time:"):
    raise BVHFormatError(path, n2, f"expected 'Frame Time: <seconds>', got {l2[:40]!r}")
  try:
    frame_time = float(l2.split(":", 1)[1])
  except ValueError:
    raise BVHFormatError(path, n2, f"bad frame time in {l2[:40]!r}") from None
  if not frame_time > 0:
    raise BVHFormatError(path, n2, f"frame time must be positive, got {frame_time}")
  data = rest[2:]
  if len(data) < num_frames:
    raise BVHFormatError(
      path, data[-1][0] if data else n2, f"'Frames: {num_frames}' but only {len(data)} frame lines"
    )
  if len(data) > num_frames:
    raise BVHFormatError(
      path, data[num_frames][0], f"'Frames: {num_frames}' but {len(data)} frame lines"
    )
  frames = np.empty((num_frames, num_channels))
  for t, (lineno, ln) in enumerate(data):
    vals = ln.split()
    if len(vals) != num_channels:
      raise BVHFormatError(
        path,
        lineno,
        f"frame {t} has {len(vals)} values, the hierarchy declares {num_channels} channels",
      )
    try:
      frames[t] = [float(v) for v in vals]
    except ValueError as e:
      raise BVHFormatError(path, lineno, f"frame {t}: {e}") from None
  if not np.isfinite(frames).all():
    t = int(np.flatnonzero(~np.isfinite(frames).all(axis=1))[0])
    raise BVHFormatError(path, data[t][0], f"frame {t} has non-finite values")
  return frames, frame_time


def read_bvh(path: str | Path) -> BVHMotion:
  """Read and parse a ``.bvh`` file."""
  path = Path(path)
  return parse_bvh(path.read_text(), path)


def _axis_rotation(axis: str, angle_rad: np.ndarray) -> np.ndarray:
  """[T] angles -> [T, 3, 3] rotation about a principal axis (right-handed)."""
  c, s = np.cos(angle_rad), np.sin(angle_rad)
  one, zero = np.ones_like(c), np.zeros_like(c)
  if axis == "x":
    m = [one, zero, zero, zero, c, -s, zero, s, c]
  elif axis == "y":
    m = [c, zero, s, zero, one, zero, -s, zero, c]
  else:
    m = [c, -s, zero, s, c, zero, zero, zero, one]
  return np.stack(m, axis=-1).reshape(angle_rad.shape + (3, 3))


def bvh_local_transforms(motion: BVHMotion) -> tuple[np.ndarray, np.ndarray]:
  """Per-frame local rotations [T, J, 3, 3] and translations [T, J, 3] of every joint."""
  sk = motion.skeleton
  num_t, num_j = motion.frames.shape[0], len(sk.names)
  rots = np.broadcast_to(np.eye(3), (num_t, num_j, 3, 3)).copy()
  trans = np.broadcast_to(sk.offsets, (num_t, num_j, 3)).copy()
  for j, sl in enumerate(sk.channel_slices()):
    vals = motion.frames[:, sl]
    for c, name in enumerate(sk.channels[j]):
      key = name.lower()
      if key in _POS_CHANNELS:
        trans[:, j, _POS_CHANNELS[key]] += vals[:, c]
      else:
        rots[:, j] = rots[:, j] @ _axis_rotation(_ROT_CHANNELS[key], np.deg2rad(vals[:, c]))
  return rots, trans


def forward_kinematics(parents: Sequence[int], local_rot: np.ndarray, local_trans: np.ndarray):
  """World rotations [T, J, 3, 3] and positions [T, J, 3] from local transforms."""
  world_rot = np.empty_like(local_rot)
  world_pos = np.empty_like(local_trans)
  for j, p in enumerate(parents):
    if p < 0:
      world_rot[:, j] = local_rot[:, j]
      world_pos[:, j] = local_trans[:, j]
    else:
      world_rot[:, j] = world_rot[:, p] @ local_rot[:, j]
      world_pos[:, j] = world_pos[:, p] + np.einsum(
        "tij,tj->ti", world_rot[:, p], local_trans[:, j]
      )
  return world_rot, world_pos


def bvh_joint_positions(
  motion: BVHMotion, scale: float = 1.0, names: Sequence[str] | None = None
) -> np.ndarray:
  """World joint positions [T, J, 3] (End Sites excluded), multiplied by ``scale``.

  Joints come in file order, or in the order of ``names`` when given (BVH files list joints
  depth-first, which is not the index order of e.g. the t2m skeleton).
  """
  rots, trans = bvh_local_transforms(motion)
  _, pos = forward_kinematics(motion.skeleton.parents, rots, trans)
  if names is not None:
    missing = [n for n in names if n not in motion.skeleton.names]
    if missing:
      raise KeyError(f"{motion.path}: no joints named {missing}")
    pos = pos[:, [motion.skeleton.names.index(n) for n in names]]
  return pos * scale


# ----------------------------------------------------------------------------- export


def children_of(parents: Sequence[int]) -> list[list[int]]:
  kids: list[list[int]] = [[] for _ in parents]
  for j, p in enumerate(parents):
    if p >= 0:
      kids[p].append(j)
  return kids


def _check_tree(parents: Sequence[int]) -> None:
  if len(parents) == 0 or parents[0] != -1:
    raise ValueError(f"parents[0] must be -1 (the root), got {list(parents)[:1]}")
  for j, p in enumerate(parents[1:], start=1):
    if not 0 <= p < j:
      raise ValueError(f"parents must precede children; joint {j} has parent {p}")


def rest_offsets_from_joints(
  joints: np.ndarray, parents: Sequence[int], directions: np.ndarray | None = None, frame: int = 0
) -> np.ndarray:
  """Rest OFFSETs [J, 3] whose lengths are the bone lengths of ``joints[frame]``.

  Without ``directions`` the rest pose is the pose of that frame. With ``directions`` ([J, 3],
  e.g. t2m ``raw_offsets``, normalised here) bones point along them, except the bones leaving a
  joint with several children (pelvis -> hips/spine, spine3 -> neck/collars on t2m): those keep
  their frame-``frame`` vectors. One rotation per BVH joint moves its children rigidly, so the
  sibling layout must be the data's own for the export to reproduce the positions exactly
  (HumanML3D's own raw directions put the hips level with the pelvis, 10 cm off the data).
  """
  joints = check_joints(joints, len(parents))
  _check_tree(parents)
  par = np.asarray(parents)
  bones = joints[frame, 1:] - joints[frame, par[1:]]
  offsets = np.zeros((len(parents), 3))
  offsets[1:] = bones
  if directions is not None:
    d = np.asarray(directions, np.float64)
    if d.shape != offsets.shape:
      raise InvalidJointsError(f"directions must be [{len(parents)}, 3], got {d.shape}")
    kids = children_of(parents)
    for j in range(1, len(parents)):
      norm = np.linalg.norm(d[j])
      if len(kids[par[j]]) == 1 and norm > 0:
        offsets[j] = d[j] / norm * np.linalg.norm(offsets[j])
  return offsets


def _shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[T, 3, 3] rotations taking directions a [T, 3] onto b [T, 3] about a x b."""
  a = a / np.linalg.norm(a, axis=-1, keepdims=True)
  b = b / np.linalg.norm(b, axis=-1, keepdims=True)
  w = 1.0 + np.sum(a * b, axis=-1)
  xyz = np.cross(a, b)
  # Antiparallel: rotate by pi about any axis perpendicular to a.
  anti = w < 1e-9
  if np.any(anti):
    helper = np.where(np.abs(a[anti, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    perp = np.cross(a[anti], helper)
    xyz[anti] = perp / np.linalg.norm(perp, axis=-1, keepdims=True)
    w[anti] = 0.0
  quat = np.concatenate([xyz, w[:, None]], axis=-1)  # scipy order x, y, z, w
  return Rotation.from_quat(quat).as_matrix()


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
  """[T, 3, 3] rotations R minimising sum_c |R src_c - dst_c|^2; src [C, 3], dst [T, C, 3]."""
  h = np.einsum("ci,tcj->tij", src, dst)  # sum_c src_c dst_c^T
  u, _, vt = np.linalg.svd(h)
  d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", vt, u)))  # det(V U^T)
  fix = np.ones((len(h), 3))
  fix[:, 2] = np.where(d == 0, 1.0, d)
  return np.einsum("tji,tj,tkj->tik", vt, fix, u)  # V diag(fix) U^T


def joints_to_local_rotations(joints, parents: Sequence[int], offsets: np.ndarray):
  """Recover root positions [T, 3] and local rotations [T, J, 3, 3] from positions.

  The returned transforms reproduce ``joints`` by :func:`forward_kinematics` exactly when the
  bone lengths of ``joints`` equal the norms of ``offsets`` and joints with several children
  move their children rigidly (see the module docstring for the choices made).
  """
  _check_tree(parents)
  joints = check_joints(joints, len(parents))
  offsets = np.asarray(offsets, np.float64)
  if offsets.shape != (len(parents), 3):
    raise InvalidJointsError(f"offsets must be [{len(parents)}, 3], got {offsets.shape}")
  num_t, num_j = joints.shape[:2]
  kids = children_of(parents)
  world = np.empty((num_t, num_j, 3, 3))
  for j, p in enumerate(parents):
    parent_rot = world[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (num_t, 3, 3))
    ch = [c for c in kids[j] if np.linalg.norm(offsets[c]) > 1e-12]
    if not ch:
      world[:, j] = parent_rot
    elif len(ch) == 1:
      c = ch[0]
      rest_dir = parent_rot @ offsets[c]
      world[:, j] = _shortest_arc(rest_dir, joints[:, c] - joints[:, j]) @ parent_rot
    else:
      world[:, j] = _kabsch(offsets[ch], joints[:, ch] - joints[:, j : j + 1])
  local = np.empty_like(world)
  for j, p in enumerate(parents):
    local[:, j] = world[:, j] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, j]
  return joints[:, 0].copy(), local


def _format_row(values: np.ndarray) -> str:
  return " ".join(f"{v:.6f}" for v in values)


def write_bvh(
  path: str | Path,
  names: Sequence[str],
  parents: Sequence[int],
  offsets: np.ndarray,
  root_positions: np.ndarray,
  local_rotations: np.ndarray,
  frame_time: float,
  end_sites: dict[int, np.ndarray] | None = None,
) -> Path:
  """Write a BVH file: root ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``,
  other joints ``Zrotation Xrotation Yrotation`` (intrinsic, degrees), root OFFSET 0 0 0.

  Args:
    names, parents, offsets: the rest skeleton ([J] names, [J] parents, [J, 3] offsets).
    root_positions: [T, 3]; local_rotations: [T, J, 3, 3]; frame_time: seconds per frame.
    end_sites: leaf joint index -> [3] End Site offset (default: half the leaf's offset).
  """
  _check_tree(parents)
  num_j = len(parents)
  if len(names) != num_j or len(set(names)) != num_j:
    raise ValueError(f"need {num_j} distinct joint names, got {list(names)}")
  bad = [n for n in names if not n or any(ch.isspace() for ch in n) or n in "{}"]
  if bad:
    raise ValueError(f"joint names must be non-empty and without whitespace: {bad}")
  if not (frame_time > 0 and math.isfinite(frame_time)):
    raise ValueError(f"frame_time must be positive, got {frame_time}")
  local_rotations = np.asarray(local_rotations, np.float64)
  root_positions = np.asarray(root_positions, np.float64)
  num_t = local_rotations.shape[0]
  if local_rotations.shape != (num_t, num_j, 3, 3) or root_positions.shape != (num_t, 3):
    raise InvalidJointsError(
      f"expected local_rotations [T, {num_j}, 3, 3] and root_positions "
      f"[T, 3], got {local_rotations.shape} and {root_positions.shape}"
    )
  offsets = np.asarray(offsets, np.float64)
  kids = children_of(parents)
  if end_sites is None:
    end_sites = {j: 0.5 * offsets[j] for j in range(num_j) if not kids[j]}

  out: list[str] = ["HIERARCHY"]
  order: list[int] = []  # depth-first order of the hierarchy = column order of MOTION

  def emit(j: int, depth: int):
    order.append(j)
    ind = "\t" * depth
    if j == 0:
      out.append(f"{ind}ROOT {names[j]}")
      out.append(f"{ind}{{")
      out.append(f"{ind}\tOFFSET 0.000000 0.000000 0.000000")
      out.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
    else:
      out.append(f"{ind}JOINT {names[j]}")
      out.append(f"{ind}{{")
      out.append(f"{ind}\tOFFSET {_format_row(offsets[j])}")
      out.append(f"{ind}\tCHANNELS 3 Zrotation Xrotation Yrotation")
    for c in kids[j]:
      emit(c, depth + 1)
    if j in end_sites:
      out.append(f"{ind}\tEnd Site")
      out.append(f"{ind}\t{{")
      out.append(f"{ind}\t\tOFFSET {_format_row(end_sites[j])}")
      out.append(f"{ind}\t}}")
    out.append(f"{ind}}}")

  emit(0, 0)
  # Intrinsic Z-X-Y (scipy's upper-case sequence): R = Rz(a) @ Rx(b) @ Ry(c).
  # At gimbal lock (X = +-90 deg) scipy warns and sets the last angle to zero; the angles still
  # rebuild the same matrix, so the warning is noise here.
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Gimbal lock detected")
    euler = Rotation.from_matrix(local_rotations.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True)
  euler = euler.reshape(num_t, num_j, 3)[:, order].reshape(num_t, num_j * 3)
  rows = np.concatenate([root_positions, euler], axis=1)
  out += ["MOTION", f"Frames: {num_t}", f"Frame Time: {frame_time:.8f}"]
  out += [_format_row(r) for r in rows]
  path = Path(path)
  path.write_text("\n".join(out) + "\n")
  return path


def save_joints_as_bvh(
  path: str | Path,
  joints,
  parents: Sequence[int],
  names: Sequence[str],
  offsets: np.ndarray | None = None,
  fps: float = 20.0,
) -> Path:
  """Export a joints sequence [T, J, 3] on a kinematic tree as BVH (units of ``joints``).

  ``offsets`` default to the first frame's bone vectors (:func:`rest_offsets_from_joints`).
  Rotations come from :func:`joints_to_local_rotations`.
  """
  joints = check_joints(joints, len(parents))
  if offsets is None:
    offsets = rest_offsets_from_joints(joints, parents)
  root, local = joints_to_local_rotations(joints, parents, offsets)
  return write_bvh(path, names, parents, offsets, root, local, 1.0 / fps)
