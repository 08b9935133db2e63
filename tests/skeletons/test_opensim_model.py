"""Parsing `.osim` files: structure of the shipped models, function semantics, and bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from motion_jax.paths import opencap_path
from motion_jax.skeletons import opencap
from motion_jax.skeletons import opensim_functions as fns
from motion_jax.skeletons.opensim_model import (
  COUPLED,
  ROTATIONAL,
  TRANSLATIONAL,
  OsimFormatError,
  euler_xyz_body_fixed,
  load_osim,
)

osim = pytest.importorskip("opensim")
osim.Logger.removeFileSink()  # no opensim.log next to the data files
osim.Logger.setLevelString("error")  # the models reference meshes we do not ship


@pytest.fixture(scope="module")
def lu():
  return load_osim(opencap_path(opencap.LAI_UHLRICH_2022))


def test_structure_of_lai_uhlrich(lu):
  assert len(lu.bodies) == 22 and len(lu.joints) == 22 and len(lu.coordinates) == 35
  assert lu.dependent_coordinate_names == ("knee_angle_r_beta", "knee_angle_l_beta")
  assert set(lu.independent_coordinate_names) == set(opencap.BIGE_COORDINATES)
  assert len(opencap.BIGE_COORDINATES) == 33 and len(set(opencap.BIGE_COORDINATES)) == 33
  assert {j.joint_type for j in lu.joints} == {"CustomJoint", "PinJoint", "WeldJoint"}
  assert lu.total_mass == pytest.approx(75.337)
  pelvis_ty = lu.coordinate("pelvis_ty")
  assert pelvis_ty.motion_type == TRANSLATIONAL and pelvis_ty.default_value == pytest.approx(
    0.93, abs=1e-6
  )
  assert lu.coordinate("knee_angle_r").range == pytest.approx((0.0, 2.44346095279206))
  assert lu.coordinate("knee_angle_r").clamped and not lu.coordinate("knee_angle_r").locked
  assert lu.coordinate("knee_angle_r_beta").motion_type == COUPLED
  # 80 muscles, 40 per side, in BIGE's activation order.
  assert len(lu.muscles) == 80
  assert sorted(lu.muscle_names) == sorted(opencap.BIGE_MUSCLES)
  assert [m.side for m in lu.muscles].count("l") == 40
  assert all(m.side == m.name[-1] for m in lu.muscles)
  assert opencap.BIGE_MUSCLES[:40] == tuple(m[:-2] + "_l" for m in opencap.BIGE_MUSCLES[40:])
  assert opencap.BIGE_ACTIVATION_COLUMNS[0] == "addbrev_l/activation"


@pytest.mark.parametrize(
  "rel",
  [
    opencap.LAI_UHLRICH_2022,
    opencap.LAI_ARNOLD_2017,
    opencap.SESSION_SCALED,
    opencap.LAI_ARNOLD_2017_CONTACTS,
  ],
)
def test_coordinates_and_motion_types_match_opensim(rel):
  model = load_osim(opencap_path(rel))
  om = osim.Model(str(opencap_path(rel)))
  om.initSystem()
  cs = om.getCoordinateSet()
  kinds = {
    osim.Coordinate.Rotational: ROTATIONAL,
    osim.Coordinate.Translational: TRANSLATIONAL,
    osim.Coordinate.Coupled: COUPLED,
  }
  assert model.coordinate_names == tuple(cs.get(i).getName() for i in range(cs.getSize()))
  for i, c in enumerate(model.coordinates):
    oc = cs.get(i)
    assert c.motion_type == kinds[oc.getMotionType()], c.name
    assert c.default_value == oc.getDefaultValue()
    assert c.range == (oc.getRangeMin(), oc.getRangeMax())
  assert model.body_names == tuple(
    om.getBodySet().get(i).getName() for i in range(om.getBodySet().getSize())
  )
  assert len(model.markers) == om.getMarkerSet().getSize()


def test_euler_xyz_body_fixed():
  a, b, c = 0.3, -0.7, 1.1
  r = euler_xyz_body_fixed([a, b, c])
  ref = osim.Rotation(
    osim.BodyRotationSequence,
    a,
    osim.CoordinateAxis(0),
    b,
    osim.CoordinateAxis(1),
    c,
    osim.CoordinateAxis(2),
  )
  ref = np.array([[ref.get(i, j) for j in range(3)] for i in range(3)])
  np.testing.assert_allclose(r, ref, atol=1e-15)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 13])
def test_simm_spline_matches_opensim(n):
  rng = np.random.default_rng(n)
  x = np.sort(rng.uniform(0, 3, n))
  y = rng.normal(size=n)
  ref = osim.SimmSpline()
  for a, b in zip(x, y):
    ref.addPoint(float(a), float(b))
  v = np.concatenate([rng.uniform(-1, 4, 40), x])  # includes extrapolation and the knots
  expect = np.array([ref.calcValue(osim.Vector(1, float(t))) for t in v])
  spline = fns.SimmSpline.from_knots(x, y)
  bank = fns.FunctionBank.build([spline, fns.MultiplierFunction(spline, 2.5)])
  with jax.enable_x64(True):
    np.testing.assert_allclose(np.asarray(jax.jit(spline)(v)), expect, atol=1e-12)
    both = np.asarray(jax.jit(bank)(np.stack([v, v], -1)))
  np.testing.assert_allclose(both[:, 0], expect, atol=1e-12)
  np.testing.assert_allclose(both[:, 1], 2.5 * expect, atol=1e-12)


def test_polynomial_and_linear_match_opensim():
  coef = [0.3, -1.2, 0.5, 2.0]
  ref = osim.PolynomialFunction(osim.Vector(coef))
  lin = osim.LinearFunction(1.7, -0.2)
  v = np.linspace(-2, 2, 9)
  with jax.enable_x64(True):
    np.testing.assert_allclose(
      np.asarray(fns.PolynomialFunction(tuple(coef))(v)),
      [ref.calcValue(osim.Vector(1, float(t))) for t in v],
      atol=1e-12,
    )
    np.testing.assert_allclose(
      np.asarray(fns.LinearFunction(1.7, -0.2)(v)),
      [lin.calcValue(osim.Vector(1, float(t))) for t in v],
      atol=1e-12,
    )


# --------------------------------------------------------------------------------------------
# Bad input: OsimFormatError naming the file and the line.


def _write(tmp_path, text, name="bad.osim"):
  p = tmp_path / name
  p.write_text(text)
  return p


MINIMAL = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
<Model name="tiny">
<BodySet name="bodyset"><objects>
<Body name="b1"><mass>2</mass><mass_center>0 0.1 0</mass_center><inertia>1 1 1 0 0 0</inertia>\
</Body>
</objects></BodySet>
<JointSet name="jointset"><objects>
<{jtype} name="j1">
<socket_parent_frame>ground_offset</socket_parent_frame>
<socket_child_frame>b1_offset</socket_child_frame>
<coordinates><Coordinate name="q1"><default_value>0.25</default_value><range>-1 1</range>\
</Coordinate></coordinates>
<frames>
<PhysicalOffsetFrame name="ground_offset"><socket_parent>/ground</socket_parent>
<translation>0 1 0</translation><orientation>0 0 0</orientation></PhysicalOffsetFrame>
<PhysicalOffsetFrame name="b1_offset"><socket_parent>/bodyset/b1</socket_parent>
<translation>{child_t}</translation><orientation>0 0 0</orientation></PhysicalOffsetFrame>
</frames>
</{jtype}>
</objects></JointSet>
</Model>
</OpenSimDocument>
"""


def test_minimal_pin_model(tmp_path):
  from motion_jax.skeletons import opensim_fk as F

  model = load_osim(_write(tmp_path, MINIMAL.format(jtype="PinJoint", child_t="0.5 0 0")))
  assert model.coordinate("q1").motion_type == ROTATIONAL
  with jax.enable_x64(True):
    fk = jax.jit(F.make_fk(model, ["q1"]))(np.array([[np.pi / 2]]))
  # Pin about z at (0, 1, 0); body origin sits at -(child offset) rotated by 90 deg about z.
  np.testing.assert_allclose(np.asarray(fk.joint_centers)[0, 0], [0, 1, 0], atol=1e-12)
  np.testing.assert_allclose(np.asarray(fk.body_positions)[0, 0], [0, 0.5, 0], atol=1e-12)


@pytest.mark.parametrize(
  "text,match",
  [
    ("this is not xml", r"bad\.osim:1:\d+: not well-formed"),
    ('<?xml version="1.0"?>\n<root><a></root>', r"bad\.osim:2:\d+: not well-formed"),
    ('<?xml version="1.0"?>\n<svg></svg>', r"bad\.osim:2: not an OpenSim model"),
    (
      '<OpenSimDocument Version="30000"><Model name="m"><BodySet/></Model></OpenSimDocument>',
      "only the OpenSim 4.x layout",
    ),
    (
      MINIMAL.format(jtype="EllipsoidJoint", child_t="0 0 0"),
      r"bad\.osim:\d+: joint type .EllipsoidJoint.",
    ),
    (
      MINIMAL.format(jtype="PinJoint", child_t="0 zero 0"),
      r"bad\.osim:16: <translation> is not a list",
    ),
    (
      MINIMAL.format(jtype="PinJoint", child_t="0 0"),
      r"bad\.osim:16: <translation> needs 3 numbers",
    ),
    (MINIMAL.format(jtype="PinJoint", child_t="0 nan 0"), "non-finite"),
    (
      MINIMAL.format(jtype="PinJoint", child_t="0 0 0").replace("/bodyset/b1", "/bodyset/b2"),
      "cannot resolve frame path",
    ),
  ],
)
def test_bad_osim_raises_with_file_and_line(tmp_path, text, match):
  with pytest.raises(OsimFormatError, match=match):
    load_osim(_write(tmp_path, text))


def test_missing_file_and_binary(tmp_path):
  with pytest.raises(OsimFormatError, match="cannot read"):
    load_osim(tmp_path / "nope.osim")
  p = tmp_path / "bin.osim"
  p.write_bytes(bytes(range(256)))
  with pytest.raises(OsimFormatError, match="bin.osim"):
    load_osim(p)


JOINT_TYPES = {
  "PinJoint": 1,
  "SliderJoint": 1,
  "UniversalJoint": 2,
  "GimbalJoint": 3,
  "BallJoint": 3,
  "FreeJoint": 6,
  "PlanarJoint": 3,
  "WeldJoint": 0,
}

CHAIN = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000"><Model name="chain">
<BodySet name="bodyset"><objects>
<Body name="b1"><mass>2</mass><mass_center>0.1 0.2 0.3</mass_center><inertia>1 1 1 0 0 0</inertia>\
</Body>
<Body name="b2"><mass>1</mass><mass_center>0 -0.1 0</mass_center><inertia>1 1 1 0 0 0</inertia>\
</Body>
</objects></BodySet>
<JointSet name="jointset"><objects>
<PinJoint name="j1"><socket_parent_frame>/ground</socket_parent_frame>\
<socket_child_frame>/bodyset/b1</socket_child_frame>
<coordinates><Coordinate name="root"><default_value>0</default_value></Coordinate></coordinates>\
</PinJoint>
<{jtype} name="j2"><socket_parent_frame>p</socket_parent_frame>\
<socket_child_frame>c</socket_child_frame>
<coordinates>{coords}</coordinates>
<frames>
<PhysicalOffsetFrame name="p"><socket_parent>/bodyset/b1</socket_parent>
<translation>0.1 -0.4 0.05</translation><orientation>0.3 -0.2 0.7</orientation>\
</PhysicalOffsetFrame>
<PhysicalOffsetFrame name="c"><socket_parent>/bodyset/b2</socket_parent>
<translation>-0.02 0.3 0.01</translation><orientation>-0.5 0.4 0.1</orientation>\
</PhysicalOffsetFrame>
</frames></{jtype}>
</objects></JointSet>
</Model></OpenSimDocument>
"""


@pytest.mark.parametrize("jtype", list(JOINT_TYPES))
def test_fixed_layout_joint_types_match_opensim(tmp_path, jtype):
  """Each joint type's FK (body pose, joint centre) against OpenSim on random coordinates."""
  from motion_jax.skeletons import opensim_fk as F

  coords = "".join(
    f"<Coordinate name='c{i}'><default_value>0</default_value></Coordinate>"
    for i in range(JOINT_TYPES[jtype])
  )
  path = _write(tmp_path, CHAIN.format(jtype=jtype, coords=coords), name=f"{jtype}.osim")
  model = load_osim(path)
  om = osim.Model(str(path))
  s = om.initSystem()
  names = model.coordinate_names
  q = np.random.default_rng(5).uniform(-1.2, 1.2, size=(6, len(names)))
  ref_pos, ref_rot, ref_jc, ref_com = [], [], [], []
  for row in q:
    for n, v in zip(names, row):
      om.getCoordinateSet().get(n).setValue(s, float(v), False)
    om.realizePosition(s)
    x = om.getBodySet().get("b2").getTransformInGround(s)
    ref_pos.append(x.p().to_numpy())
    ref_rot.append([[x.R().get(i, j) for j in range(3)] for i in range(3)])
    ref_jc.append(om.getJointSet().get("j2").getChildFrame().getPositionInGround(s).to_numpy())
    ref_com.append(om.calcMassCenterPosition(s).to_numpy())
  with jax.enable_x64(True):

    @jax.jit
    def run(q):
      fk = F.forward_kinematics(model, q, names)
      return (
        fk.body_positions[:, 1],
        fk.body_rotations[:, 1],
        fk.joint_centers[:, 1],
        F.center_of_mass(fk, model),
      )

    pos, rot, jc, com = (np.asarray(v) for v in run(q))
  np.testing.assert_allclose(pos, np.array(ref_pos), atol=1e-12)
  np.testing.assert_allclose(rot, np.array(ref_rot), atol=1e-12)
  np.testing.assert_allclose(jc, np.array(ref_jc), atol=1e-12)
  np.testing.assert_allclose(com, np.array(ref_com), atol=1e-12)


# --------------------------------------------------------------------------------------------
# Document versions: read first; older (3.x) and malformed ones named in the error.

V3_MODEL = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="30000">
<Model name="two_link_v3">
<BodySet><objects>
<Body name="ground"><mass>0</mass><mass_center>0 0 0</mass_center>
<inertia_xx>0</inertia_xx><inertia_yy>0</inertia_yy><inertia_zz>0</inertia_zz>
<inertia_xy>0</inertia_xy><inertia_xz>0</inertia_xz><inertia_yz>0</inertia_yz><Joint /></Body>
<Body name="thigh"><mass>5</mass><mass_center>0 -0.2 0</mass_center>
<inertia_xx>0.1</inertia_xx><inertia_yy>0.02</inertia_yy><inertia_zz>0.1</inertia_zz>
<inertia_xy>0</inertia_xy><inertia_xz>0</inertia_xz><inertia_yz>0</inertia_yz>
<Joint><PinJoint name="hip">
<parent_body>ground</parent_body>
<location_in_parent>0 1 0</location_in_parent><orientation_in_parent>0 0 0</orientation_in_parent>
<location>0 0 0</location><orientation>0 0 0</orientation>
<CoordinateSet><objects><Coordinate name="hip_flexion"><motion_type>rotational</motion_type>
<default_value>0</default_value><range>-1.5 2</range><clamped>true</clamped></Coordinate>
</objects></CoordinateSet>
</PinJoint></Joint></Body>
</objects></BodySet>
{jointset}<ConstraintSet><objects /></ConstraintSet>
<ForceSet><objects /></ForceSet>
<MarkerSet><objects /></MarkerSet>
</Model>
</OpenSimDocument>
"""


@pytest.mark.parametrize("jointset", ["", "<JointSet><objects /></JointSet>\n"])
def test_opensim_3x_document_is_named_with_supported_versions(tmp_path, jointset):
  """A genuine 3.x model (OpenSim 4.6 reads and upgrades it) fails on its version, not later.

  With an (empty) <JointSet> the 4.x layout checks pass and the old parser reported "a body is
  named like the ground"; the version is now checked before any layout.
  """
  path = _write(tmp_path, V3_MODEL.format(jointset=jointset), name="legacy.osim")
  om = osim.Model(str(path))  # OpenSim itself reads it (upgrading the 3.x layout)
  om.initSystem()
  assert om.getCoordinateSet().get("hip_flexion").getRangeMax() == 2.0
  with pytest.raises(OsimFormatError) as e:
    load_osim(path)
  msg = str(e.value)
  assert msg.startswith(f"{path}:2: document Version 30000 (OpenSim 3.x) is not supported")
  assert "only the OpenSim 4.x layout" in msg and "Version 40000 to 49999" in msg
  assert "printToXML" in msg and "ground" not in msg
  # The conversion the message suggests gives a file load_osim reads.
  converted = tmp_path / "converted.osim"
  om.printToXML(str(converted))
  model = load_osim(converted)
  assert model.coordinate("hip_flexion").range == (-1.5, 2.0)
  assert model.body_names == ("thigh",) and model.total_mass == 5.0


@pytest.mark.parametrize(
  "version,match",
  [
    (None, r"bad\.osim:2: <OpenSimDocument> has no Version attribute.*Version 40000 to 49999"),
    ("4.0", r"bad\.osim:2: <OpenSimDocument Version='4.0'> is not an integer.*Version 40000"),
    ("20303", r"bad\.osim:2: document Version 20303 \(OpenSim 1.x/2.x\) is not supported"),
    ("30515", r"bad\.osim:2: document Version 30515 \(a pre-release OpenSim 4.0 format\) is not"),
  ],
)
def test_bad_or_old_versions_are_named(tmp_path, version, match):
  text = MINIMAL.format(jtype="PinJoint", child_t="0.5 0 0")
  attr = "" if version is None else f' Version="{version}"'
  path = _write(tmp_path, text.replace(' Version="40000"', attr))
  with pytest.raises(OsimFormatError, match=match):
    load_osim(path)


def test_supported_and_newer_versions(tmp_path):
  text = MINIMAL.format(jtype="PinJoint", child_t="0.5 0 0")
  for v in ("40000", "40600", "49999"):
    assert load_osim(_write(tmp_path, text.replace("40000", v))).coordinate_names == ("q1",)
  # Newer than 4.x: read as 4.x with a warning; a failure then names the version too.
  from motion_jax.skeletons.opensim_model import OsimVersionWarning

  with pytest.warns(OsimVersionWarning, match=r"Version 50000 \(OpenSim 5.x\) is newer"):
    assert load_osim(_write(tmp_path, text.replace("40000", "50000"))).coordinate_names == ("q1",)
  broken = text.replace("40000", "50100").replace("PinJoint", "FancyJoint")
  with pytest.warns(OsimVersionWarning), pytest.raises(OsimFormatError) as e:
    load_osim(_write(tmp_path, broken))
  assert "FancyJoint" in str(e.value) and "Version 50100 is newer" in str(e.value)


def test_coordinate_without_range_gets_opensims_default(tmp_path):
  """OpenSim gives a coordinate without <range> the range [-10, 10] (not unbounded)."""
  path = _write(tmp_path, CHAIN.format(jtype="PinJoint", coords="<Coordinate name='c0'/>"))
  model = load_osim(path)
  om = osim.Model(str(path))
  om.initSystem()
  for name in ("root", "c0"):
    oc = om.getCoordinateSet().get(name)
    assert model.coordinate(name).range == (oc.getRangeMin(), oc.getRangeMax()) == (-10.0, 10.0)
