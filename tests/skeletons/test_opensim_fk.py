"""JAX forward kinematics of OpenCap models against OpenSim 4.6 itself (an independent reference).

For three shipped models, 200 random poses within the coordinate ranges and every frame of the real
squat motion: joint centres (child-frame origins), total mass and whole-body COM agree with OpenSim
to 1e-6 m in float64 and 1e-4 m in float32. The OpenSim results are computed once per module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.data.formats.mot import convert_units, coordinates_from_motion, read_mot
from motion_jax.paths import opencap_path
from motion_jax.skeletons import opencap
from motion_jax.skeletons import opensim_fk as F
from motion_jax.skeletons.opensim_model import load_osim

osim = pytest.importorskip("opensim")
osim.Logger.removeFileSink()  # no opensim.log next to the data files
osim.Logger.setLevelString("error")  # the models reference meshes we do not ship

MODELS = {
  "LaiUhlrich2022": opencap.LAI_UHLRICH_2022,
  "LaiArnold2017": opencap.LAI_ARNOLD_2017,
  "session_scaled": opencap.SESSION_SCALED,
}
N_RANDOM = 200


def _opensim_reference(path, names, q):
  """OpenSim joint centres [T, J, 3], COM [T, 3], marker positions [T, M, 3] and total mass.

  `q` [T, len(names)] holds independent coordinates (radians/metres); the others stay at their
  defaults and coupled coordinates are set from OpenSim's own coupler function.
  """
  om = osim.Model(str(path))
  s = om.initSystem()
  cs = om.getCoordinateSet()
  coords = [cs.get(n) for n in names]
  couplers = []
  for i in range(om.getConstraintSet().getSize()):
    c = osim.CoordinateCouplerConstraint.safeDownCast(om.getConstraintSet().get(i))
    if c is not None:
      ind = c.getIndependentCoordinateNames().get(0)
      couplers.append(
        (
          cs.get(c.getDependentCoordinateName()),
          cs.get(ind),
          c.getFunction(),
          float(c.getPropertyByName("scale_factor").toString()),
        )
      )
  frames = [om.getJointSet().get(i).getChildFrame() for i in range(om.getJointSet().getSize())]
  markers = [om.getMarkerSet().get(i) for i in range(om.getMarkerSet().getSize())]
  jc, com, mk = [], [], []
  for row in q:
    for c, v in zip(coords, row):
      c.setValue(s, float(v), False)
    for dep, ind, fn, k in couplers:
      dep.setValue(s, k * fn.calcValue(osim.Vector(1, ind.getValue(s))), False)
    om.realizePosition(s)
    jc.append([f.getPositionInGround(s).to_numpy() for f in frames])
    com.append(om.calcMassCenterPosition(s).to_numpy())
    mk.append([m.getLocationInGround(s).to_numpy() for m in markers] or np.zeros((0, 3)))
  joint_names = [om.getJointSet().get(i).getName() for i in range(om.getJointSet().getSize())]
  return dict(
    joint_centers=np.array(jc),
    com=np.array(com),
    markers=np.array(mk).reshape(len(q), -1, 3),
    total_mass=om.getTotalMass(s),
    joint_names=joint_names,
    marker_names=[m.getName() for m in markers],
  )


@pytest.fixture(scope="module")
def cases():
  """Per model: 200 random poses + all squat frames in one [T, n] array (one compile per dtype)."""
  rng = np.random.default_rng(0)
  squats = read_mot(opencap_path(opencap.SQUATS_MOT))
  out = {}
  for key, rel in MODELS.items():
    path = opencap_path(rel)
    model = load_osim(path)
    names = model.independent_coordinate_names
    lo = np.array([model.coordinate(n).range[0] for n in names])
    hi = np.array([model.coordinate(n).range[1] for n in names])
    q_rand = rng.uniform(lo, hi, size=(N_RANDOM, len(names)))
    # Squat frames; coordinates this model lacks are dropped, those the file lacks at default.
    sq = convert_units(squats, model, in_degrees=False)
    q_sq = np.array([model.coordinate(n).default_value for n in names])[None].repeat(sq.n_frames, 0)
    for i, n in enumerate(names):
      if n in sq.names:
        q_sq[:, i] = sq.column(n)
    q = np.concatenate([q_rand, q_sq])
    if key == "session_scaled":  # plus the session's own OpenCap walking trial (41 coordinates)
      walk = read_mot(opencap_path(opencap.WALK_MOT))
      q = np.concatenate([q, coordinates_from_motion(walk, model, names)])
    out[key] = dict(model=model, names=names, q=q, ref=_opensim_reference(path, names, q))
  return out


@pytest.mark.parametrize("impl", F.IMPLS)
@pytest.mark.parametrize("key", list(MODELS))
def test_joint_centers_and_com_match_opensim_float64(cases, key, impl):
  case = cases[key]
  model, ref = case["model"], case["ref"]
  assert list(model.joint_names) == ref["joint_names"]
  assert case["q"].shape[0] == N_RANDOM + 801 + (222 if key == "session_scaled" else 0)
  with jax.enable_x64(True):
    fk = jax.jit(F.make_fk(model, case["names"], impl))(jnp.asarray(case["q"], jnp.float64))
    com = F.center_of_mass(fk, model)
    markers = F.marker_positions(fk, model)
    assert fk.joint_centers.dtype == jnp.float64
  err = np.abs(np.asarray(fk.joint_centers) - ref["joint_centers"]).max(axis=(1, 2))
  # Random poses and real frames (squats; walk for the session model), reported separately.
  assert err[:N_RANDOM].max() < 1e-6, err[:N_RANDOM].max()
  assert err[N_RANDOM:].max() < 1e-6, err[N_RANDOM:].max()
  assert np.abs(np.asarray(com) - ref["com"]).max() < 1e-6
  assert abs(model.total_mass - ref["total_mass"]) < 1e-6
  assert [m.name for m in model.markers] == ref["marker_names"]
  if model.markers:
    assert np.abs(np.asarray(markers) - ref["markers"]).max() < 1e-6


@pytest.mark.parametrize("key", list(MODELS))
def test_joint_centers_and_com_match_opensim_float32(cases, key):
  case = cases[key]
  model, ref = case["model"], case["ref"]
  fk = jax.jit(F.make_fk(model, case["names"]))(jnp.asarray(case["q"], jnp.float32))
  assert fk.joint_centers.dtype == jnp.float32
  err = np.abs(np.asarray(fk.joint_centers) - ref["joint_centers"]).max(axis=(1, 2))
  assert err[:N_RANDOM].max() < 1e-4, err[:N_RANDOM].max()
  assert err[N_RANDOM:].max() < 1e-4, err[N_RANDOM:].max()
  assert np.abs(np.asarray(F.center_of_mass(fk, model)) - ref["com"]).max() < 1e-4


def test_batched_shapes_and_subset_defaults(cases):
  """[B, T, n] input; coordinates left out sit at their defaults; *_beta passed in is recomputed."""
  model = cases["LaiUhlrich2022"]["model"]
  q = np.random.default_rng(1).uniform(-0.3, 0.3, size=(2, 5, len(opencap.BIGE_COORDINATES)))
  fk = jax.jit(F.make_fk(model, opencap.BIGE_COORDINATES))
  out = fk(jnp.asarray(q, jnp.float32))
  assert out.joint_centers.shape == (2, 5, len(model.joints), 3)
  assert out.body_rotations.shape == (2, 5, len(model.bodies), 3, 3)
  flat = fk(jnp.asarray(q.reshape(10, -1), jnp.float32))
  np.testing.assert_allclose(
    np.asarray(out.joint_centers).reshape(10, -1, 3), flat.joint_centers, atol=1e-6
  )
  # A subset: only the knee; everything else at default (pelvis_ty default is 0.93 m).
  full = F.full_coordinates(model, np.array([[0.5]]), ["knee_angle_r"])
  idx = model.coordinate_names.index
  assert float(full[0, idx("knee_angle_r")]) == pytest.approx(0.5)
  assert float(full[0, idx("knee_angle_r_beta")]) == pytest.approx(0.5)
  assert float(full[0, idx("pelvis_ty")]) == pytest.approx(
    model.coordinate("pelvis_ty").default_value
  )
  # Passing a wrong beta does not matter: it is recomputed from the knee angle.
  fk2 = jax.jit(F.make_fk(model, ("knee_angle_r", "knee_angle_r_beta")))
  a = fk2(jnp.array([[0.5, 0.0]])).joint_centers
  b = fk2(jnp.array([[0.5, 1.2]])).joint_centers
  np.testing.assert_array_equal(a, b)
  with pytest.raises(KeyError, match="not_a_coordinate"):
    F.make_fk(model, ["knee_angle_r", "not_a_coordinate"])


def test_rotations_are_orthonormal(cases):
  case = cases["LaiArnold2017"]
  model, names, q = case["model"], case["names"], case["q"]
  with jax.enable_x64(True):
    r = np.asarray(jax.jit(F.make_fk(model, names))(q).body_rotations)
  np.testing.assert_allclose(
    r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12
  )
  np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_lowest_point_exact_and_smooth(cases):
  case = cases["LaiUhlrich2022"]
  model, names, q, ref = case["model"], case["names"], case["q"], case["ref"]
  t = 0.005

  @jax.jit
  def lows(q):
    fk = F.forward_kinematics(model, q, names)
    return F.lowest_point(fk, model), F.soft_lowest_point(fk, model, temperature=t)

  with jax.enable_x64(True):
    exact, soft = (np.asarray(v) for v in lows(q))
  np.testing.assert_allclose(exact, ref["joint_centers"][..., 1].min(-1), atol=1e-9)
  n = len(model.joints)
  assert np.all(soft <= exact + 1e-12)
  assert np.all(soft >= exact - t * np.log(n) - 1e-12)


def test_pelvis_translation_is_not_com(cases):
  case = cases["LaiUhlrich2022"]
  model, names, q, ref = case["model"], case["names"], case["q"], case["ref"]
  with jax.enable_x64(True):
    p = np.asarray(jax.jit(lambda q: F.pelvis_translation(model, q, names))(q))
  np.testing.assert_allclose(
    p, q[:, [names.index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]]
  )
  assert np.abs(p - ref["com"]).max() > 0.01  # the real COM differs from the pelvis origin


def test_contact_spheres_match_opensim():
  path = opencap_path(opencap.LAI_ARNOLD_2017_CONTACTS)
  model = load_osim(path)
  assert len(model.contact_spheres) == 12
  names = model.independent_coordinate_names
  q = np.random.default_rng(3).uniform(-0.4, 0.4, size=(10, len(names)))
  om = osim.Model(str(path))
  s = om.initSystem()
  ref = []
  for row in q:
    for n, v in zip(names, row):
      om.getCoordinateSet().get(n).setValue(s, float(v), False)
    om.realizePosition(s)
    pts = []
    for i in range(om.getContactGeometrySet().getSize()):
      g = om.getContactGeometrySet().get(i)
      if g.getConcreteClassName() == "ContactSphere":
        pts.append(g.getFrame().findStationLocationInGround(s, g.get_location()).to_numpy())
    ref.append(pts)

  @jax.jit
  def run(q):
    fk = F.forward_kinematics(model, q, names)
    return fk.joint_centers, F.contact_sphere_centers(fk, model), F.lowest_point(fk, model)

  with jax.enable_x64(True):
    jc, centers, low = (np.asarray(v) for v in run(q))
  np.testing.assert_allclose(centers, np.array(ref), atol=1e-9)
  radii = np.array([c.radius for c in model.contact_spheres])
  expect = np.minimum(jc[..., 1].min(-1), (centers[..., 1] - radii).min(-1))
  np.testing.assert_allclose(low, expect)


def _finite_difference(f, x, eps=1e-6):
  cols = []
  for i in range(x.shape[-1]):
    d = np.zeros_like(x)
    d[i] = eps
    cols.append((np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps))
  return np.stack(cols, axis=-1)


def test_gradients_match_finite_differences():
  """d(COM)/dq and d(soft lowest point)/dq (contacts model: joints + spheres) vs central FD."""
  model = load_osim(opencap_path(opencap.LAI_ARNOLD_2017_CONTACTS))
  names = opencap.BIGE_COORDINATES
  q0 = np.random.default_rng(4).uniform(-0.5, 0.5, size=len(names))
  q0[names.index("knee_angle_r")] = 1.0  # inside the knee range, spline region of the patella
  q0[names.index("knee_angle_l")] = 0.3
  with jax.enable_x64(True):

    def com_and_low(q):  # [4]: whole-body COM (3) and smooth lowest point (joints + spheres)
      fk = F.forward_kinematics(model, q, names)
      low = F.soft_lowest_point(fk, model, temperature=0.02)
      return jnp.concatenate([F.center_of_mass(fk, model), low[None]])

    jac = np.asarray(jax.jit(jax.jacfwd(com_and_low))(jnp.asarray(q0)))  # [4, 33]
    fd = _finite_difference(jax.jit(com_and_low), q0)
    np.testing.assert_allclose(jac, fd, atol=1e-7, rtol=1e-6)
    assert np.all(np.abs(jac).max(axis=1) > 1e-3)  # not trivially zero
    # Reverse mode agrees with forward mode.
    g = np.asarray(jax.jit(jax.grad(lambda q: com_and_low(q)[3]))(jnp.asarray(q0)))
    np.testing.assert_allclose(g, jac[3], atol=1e-12)


def test_unrolled_equals_levels_in_value_and_gradient(tmp_path):
  """impl="unrolled" (trace-time folding, per-joint entries) gives the levels result: every
  output of FKResult, [B, T, n] batches, float32, and the reverse-mode gradient of COM + smooth
  lowest point (contacts model: joints and spheres). "levels" is checked against OpenSim and
  finite differences above, so equality to it suffices; the float64 OpenSim test also runs on
  "unrolled"."""
  model = load_osim(opencap_path(opencap.LAI_ARNOLD_2017_CONTACTS))
  names = opencap.BIGE_COORDINATES
  q = np.random.default_rng(5).uniform(-0.6, 0.6, size=(2, 3, len(names)))

  def objective(impl):
    def f(q):
      fk = F.forward_kinematics(model, q, names, impl)
      low = F.soft_lowest_point(fk, model, temperature=0.02)
      return jnp.sum(F.center_of_mass(fk, model) ** 2) + jnp.sum(low)

    return f

  with jax.enable_x64(True):
    a = jax.jit(F.make_fk(model, names))(jnp.asarray(q))
    b = jax.jit(F.make_fk(model, names, "unrolled"))(jnp.asarray(q))
    for x, y in zip(a, b):
      assert x.shape == y.shape and x.dtype == y.dtype == jnp.float64
      np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-12)
    ga, gb = (np.asarray(jax.jit(jax.grad(objective(i)))(jnp.asarray(q))) for i in F.IMPLS)
    np.testing.assert_allclose(gb, ga, atol=1e-12)
    assert np.abs(ga).max() > 1e-3
  c = jax.jit(F.make_fk(model, names, "unrolled"))(jnp.asarray(q, jnp.float32))
  assert c.joint_centers.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(c.joint_centers), np.asarray(a.joint_centers), atol=1e-5)
  with pytest.raises(ValueError, match="unknown FK implementation"):
    F.make_fk(model, names, "fast")
  # A model without coordinates or mass (constants only).
  xml = MASSLESS_PIN.format(mass=0).replace("PinJoint", "WeldJoint")
  coords = '<Coordinate name="q1"><default_value>0</default_value></Coordinate>'
  xml = xml.replace(
    f"<coordinates>{coords}</coordinates>",
    '<frames><PhysicalOffsetFrame name="off"><socket_parent>/ground</socket_parent>'
    "<translation>0.1 1 0</translation><orientation>0.3 0 0.2</orientation>"
    "</PhysicalOffsetFrame></frames>",
  ).replace("<socket_parent_frame>/ground<", "<socket_parent_frame>off<")
  (tmp_path / "weld.osim").write_text(xml)
  weld = load_osim(tmp_path / "weld.osim")
  assert weld.coordinate_names == ()
  fk = jax.jit(F.make_fk(weld, [], "unrolled"))(jnp.zeros((3, 0)))
  ref = jax.jit(F.make_fk(weld, []))(jnp.zeros((3, 0)))
  assert abs(float(ref.joint_centers[0, 0, 1]) - 1.0) < 1e-6  # the offset frame was applied
  for x, y in zip(ref, fk):
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-7)


def test_jit_does_not_recompile():
  model = load_osim(opencap_path(opencap.LAI_UHLRICH_2022))
  traces = []
  fk = F.make_fk(model, opencap.BIGE_COORDINATES)

  @jax.jit
  def f(q):
    traces.append(1)
    return fk(q).joint_centers

  q = jnp.zeros((4, len(opencap.BIGE_COORDINATES)), jnp.float32)
  f(q)
  f(q + 0.1)
  f(jnp.ones_like(q))
  assert len(traces) == 1


MASSLESS_PIN = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000"><Model name="massless">
<BodySet name="bodyset"><objects>
<Body name="b1"><mass>{mass}</mass><mass_center>0.3 0.1 0</mass_center>\
<inertia>0 0 0 0 0 0</inertia></Body>
</objects></BodySet>
<JointSet name="jointset"><objects>
<PinJoint name="j1"><socket_parent_frame>/ground</socket_parent_frame>\
<socket_child_frame>/bodyset/b1</socket_child_frame>
<coordinates><Coordinate name="q1"><default_value>0</default_value></Coordinate></coordinates>\
</PinJoint>
</objects></JointSet>
</Model></OpenSimDocument>
"""


def test_massless_model_com_is_zero_like_opensim(tmp_path):
  """Total mass 0: OpenSim puts the COM at the origin; 0/0 must not give NaN."""
  om = osim.Model()
  om.setName("massless_weld")
  body = osim.Body("b", 0.0, osim.Vec3(0.1, 0.2, 0.3), osim.Inertia(0, 0, 0))
  om.addBody(body)
  om.addJoint(
    osim.WeldJoint(
      "w", om.getGround(), osim.Vec3(0, 1, 0), osim.Vec3(0, 0, 0), body, osim.Vec3(0), osim.Vec3(0)
    )
  )
  s = om.initSystem()
  ref = om.calcMassCenterPosition(s).to_numpy()
  assert om.getTotalMass(s) == 0.0 and np.array_equal(ref, [0.0, 0.0, 0.0])
  path = tmp_path / "massless_weld.osim"
  om.printToXML(str(path))
  model = load_osim(path)
  assert model.total_mass == 0.0 and model.coordinate_names == ()
  with jax.enable_x64(True):
    fk = jax.jit(F.make_fk(model, []))(jnp.zeros((3, 0)))  # a model without coordinates
    np.testing.assert_allclose(
      np.asarray(F.body_mass_centers(fk, model))[:, 0], [[0.1, 1.2, 0.3]] * 3
    )
    com = np.asarray(jax.jit(lambda fk: F.center_of_mass(fk, model))(fk))
  assert com.shape == (3, 3)
  np.testing.assert_array_equal(com, np.broadcast_to(ref, (3, 3)))


def test_massless_model_com_is_jittable_and_differentiable(tmp_path):
  """A massless pin model (OpenSim cannot build a system of it): COM 0, gradient 0, no NaN."""
  (tmp_path / "m0.osim").write_text(MASSLESS_PIN.format(mass=0))
  (tmp_path / "m2.osim").write_text(MASSLESS_PIN.format(mass=2))
  massless, massive = load_osim(tmp_path / "m0.osim"), load_osim(tmp_path / "m2.osim")

  def com(model):
    return jax.jit(lambda q: F.center_of_mass(F.forward_kinematics(model, q, ["q1"]), model))

  q = jnp.asarray([[0.0], [0.7], [-1.2]])
  np.testing.assert_array_equal(np.asarray(com(massless)(q)), np.zeros((3, 3)))
  grad = jax.jit(jax.grad(lambda q: com(massless)(q).sum()))(q)
  np.testing.assert_array_equal(np.asarray(grad), np.zeros((3, 1)))
  # With mass the same pose puts the COM at the body's mass centre (the check above is not vacuous).
  c = np.asarray(com(massive)(q))
  np.testing.assert_allclose(
    c[1],
    [0.3 * np.cos(0.7) - 0.1 * np.sin(0.7), 0.3 * np.sin(0.7) + 0.1 * np.cos(0.7), 0],
    atol=1e-6,
  )
