"""`scale_model` against OpenSim 4.6's own `Model.scale(state, ScaleSet, preserveMassDist,
mass)`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.paths import opencap_path
from motion_jax.skeletons import opencap
from motion_jax.skeletons import opensim_fk as F
from motion_jax.skeletons.opensim_model import load_osim, scale_inertia, scale_model

osim = pytest.importorskip("opensim")
osim.Logger.removeFileSink()  # no opensim.log next to the data files
osim.Logger.setLevelString("error")  # the models reference meshes we do not ship

# (model, seed for the per-body non-uniform factors, preserve mass distribution, final mass)
CASES = [
  (opencap.LAI_UHLRICH_2022, 1, True, None),
  (opencap.LAI_ARNOLD_2017_CONTACTS, 2, False, 90.0),  # has markers and contact spheres
]


def _factors(model, seed):
  rng = np.random.default_rng(seed)
  return {b: rng.uniform(0.8, 1.25, 3) for b in model.body_names}


def _opensim_scaled(path, factors, preserve, final_mass, names, q):
  om = osim.Model(str(path))
  s = om.initSystem()
  scale_set = osim.ScaleSet()
  for body, f in factors.items():
    sc = osim.Scale()
    sc.setSegmentName(body)
    sc.setScaleFactors(osim.Vec3(*map(float, f)))
    sc.setApply(True)
    scale_set.cloneAndAppend(sc)
  assert om.scale(s, scale_set, preserve, -1.0 if final_mass is None else final_mass)
  s = om.initSystem()
  bodies = [om.getBodySet().get(i) for i in range(om.getBodySet().getSize())]
  out = dict(
    mass=np.array([b.getMass() for b in bodies]),
    com=np.array([b.getMassCenter().to_numpy() for b in bodies]),
    moments=np.array([b.getInertia().getMoments().to_numpy() for b in bodies]),
    products=np.array([b.getInertia().getProducts().to_numpy() for b in bodies]),
    markers=np.array(
      [
        om.getMarkerSet().get(i).get_location().to_numpy()
        for i in range(om.getMarkerSet().getSize())
      ]
    ).reshape(-1, 3),
  )
  spheres = []
  for i in range(om.getContactGeometrySet().getSize()):
    g = om.getContactGeometrySet().get(i)
    if g.getConcreteClassName() == "ContactSphere":
      spheres.append(g.get_location().to_numpy())
  out["spheres"] = np.array(spheres).reshape(-1, 3)
  frames = [om.getJointSet().get(i).getChildFrame() for i in range(om.getJointSet().getSize())]
  jc, com = [], []
  for row in q:
    for n, v in zip(names, row):
      om.getCoordinateSet().get(n).setValue(s, float(v), False)
    for n in ("knee_angle_r", "knee_angle_l"):  # coupler: beta = knee angle (linear 1, 0)
      om.getCoordinateSet().get(n + "_beta").setValue(
        s, om.getCoordinateSet().get(n).getValue(s), False
      )
    om.realizePosition(s)
    jc.append([f.getPositionInGround(s).to_numpy() for f in frames])
    com.append(om.calcMassCenterPosition(s).to_numpy())
  out["joint_centers"], out["body_com_ground"] = np.array(jc), np.array(com)
  out["total_mass"] = om.getTotalMass(s)
  return out


@pytest.mark.parametrize("rel,seed,preserve,final_mass", CASES)
def test_scale_model_matches_opensim(rel, seed, preserve, final_mass):
  path = opencap_path(rel)
  model = load_osim(path)
  # Every coupler in these models is beta = 1 * knee + 0, which the reference relies on.
  assert all(cp.function.slope == 1.0 and cp.function.intercept == 0.0 for cp in model.couplers)
  factors = _factors(model, seed)
  names = model.independent_coordinate_names
  lo = np.array([max(model.coordinate(n).range[0], -2.0) for n in names])
  hi = np.array([min(model.coordinate(n).range[1], 2.0) for n in names])
  q = np.random.default_rng(seed + 10).uniform(lo, hi, size=(16, len(names)))
  ref = _opensim_scaled(path, factors, preserve, final_mass, names, q)

  scaled = scale_model(model, factors, preserve_mass_distribution=preserve, final_mass=final_mass)
  np.testing.assert_allclose([b.mass for b in scaled.bodies], ref["mass"], rtol=1e-12)
  np.testing.assert_allclose(
    np.stack([b.mass_center for b in scaled.bodies]), ref["com"], atol=1e-14
  )
  inertia = np.stack([b.inertia for b in scaled.bodies])
  np.testing.assert_allclose(
    np.stack([np.diag(i) for i in inertia]), ref["moments"], rtol=1e-10, atol=1e-14
  )
  np.testing.assert_allclose(
    inertia[:, [0, 0, 1], [1, 2, 2]], ref["products"], rtol=1e-10, atol=1e-14
  )
  markers = np.array([m.location for m in scaled.markers]).reshape(-1, 3)
  np.testing.assert_allclose(markers, ref["markers"], atol=1e-14)
  # OpenSim's scaling leaves contact-sphere locations alone; so does scale_model by default.
  spheres = np.array([c.location for c in scaled.contact_spheres]).reshape(-1, 3)
  np.testing.assert_allclose(spheres, ref["spheres"], atol=1e-14)
  assert len(markers) == len(model.markers) and len(spheres) == len(model.contact_spheres)
  assert scaled.total_mass == pytest.approx(ref["total_mass"], rel=1e-12)
  if final_mass is not None:
    assert scaled.total_mass == pytest.approx(final_mass, rel=1e-12)
  else:
    assert scaled.total_mass == pytest.approx(model.total_mass, rel=1e-12)

  with jax.enable_x64(True):

    @jax.jit
    def run(q):
      fk = F.forward_kinematics(scaled, q, names)
      return fk.joint_centers, F.center_of_mass(fk, scaled)

    jc, com = (np.asarray(v) for v in run(jnp.asarray(q)))
  np.testing.assert_allclose(jc, ref["joint_centers"], atol=1e-9)
  np.testing.assert_allclose(com, ref["body_com_ground"], atol=1e-9)
  # The scaling did something: the unscaled model puts the joints elsewhere.
  with jax.enable_x64(True):
    jc0 = np.asarray(jax.jit(F.make_fk(model, names))(jnp.asarray(q)).joint_centers)
  assert np.abs(jc0 - jc).max() > 0.01


def test_scale_inertia_uniform_and_unit():
  inertia = np.array([[0.1, 0.01, 0.0], [0.01, 0.08, 0.002], [0.0, 0.002, 0.03]])
  np.testing.assert_allclose(scale_inertia(inertia, 10.0, 10.0, np.ones(3)), inertia)
  np.testing.assert_allclose(
    scale_inertia(inertia, 10.0, 20.0, np.full(3, 1.5)), inertia * 1.5**2 * 2
  )
  # Identity factors through the cylinder branch would change a non-cylindrical tensor; the
  # uniform branch must not.
  out = scale_inertia(inertia, 10.0, 10.0, np.array([1.0, 1.0, 1.0 + 1e-12]))
  assert np.all(np.isfinite(out))


def test_scale_model_rejects_bad_factors():
  model = load_osim(opencap_path(opencap.LAI_UHLRICH_2022))
  with pytest.raises(KeyError, match="not_a_body"):
    scale_model(model, {"not_a_body": [1, 1, 1]})
  with pytest.raises(ValueError, match="positive"):
    scale_model(model, {"pelvis": [1, -1, 1]})
