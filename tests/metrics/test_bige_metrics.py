"""BIGE metrics on hand-built motions whose answers are known in closed form."""

import numpy as np
import pytest

from motion_jax.metrics import bige
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

C = {n: i for i, n in enumerate(BIGE_COORDINATES)}
M = {n: i for i, n in enumerate(BIGE_MUSCLES)}


def test_fidelity_is_zero_for_identical_sets_and_matches_gaussian_closed_form():
  rng = np.random.default_rng(0)
  real = rng.normal(size=(40, 50, 33))
  assert bige.fidelity_w2_gauss(real, real) == pytest.approx(0.0, abs=1e-5)
  # Shift every (standardised) coordinate by d: W2 = d * sqrt(33) for equal covariances.
  gen = real + 0.5 * real.reshape(-1, 33).std(0)
  assert bige.fidelity_w2_gauss(real, gen) == pytest.approx(0.5 * np.sqrt(33), rel=1e-4)


def test_fidelity_on_ill_conditioned_motions():
  """Squat coordinates are nearly collinear (rank-deficient covariance): W2 of a set with itself
  stays at rounding level, and matches the 1-D closed form along the one free direction."""
  from motion_jax.data.formats.opencap import read_trial
  from motion_jax.paths import opencap_path
  from motion_jax.skeletons.opencap import SQUATS_MOT

  q = read_trial(opencap_path(SQUATS_MOT)).coordinates  # the real squat trial
  windows = np.stack([q[i : i + 60] for i in range(0, len(q) - 60, 60)])
  assert bige.fidelity_w2_gauss(windows, windows) < 1e-6  # scipy sqrtm: 4e-5
  rng = np.random.default_rng(1)
  basis = rng.normal(size=(3, 33))
  real = rng.normal(size=(10, 60, 3)) @ basis + 1e-7 * rng.normal(size=(10, 60, 33))
  assert bige.fidelity_w2_gauss(real, real) < 1e-6
  # Gaussian W2 between N(mu, S) and N(mu, 4 S) is sqrt(tr S) (sqrt of tr(S + 4S - 2 * 2S)).
  gen = real.mean((0, 1)) + 2.0 * (real - real.mean((0, 1)))
  x = real.reshape(-1, 33) / real.reshape(-1, 33).std(0)
  assert bige.fidelity_w2_gauss(real, gen) == pytest.approx(
    np.sqrt(np.trace(np.cov(x, rowvar=False))), rel=1e-6
  )


def test_fidelity_eq5_pooled_and_per_sample():
  real = np.zeros((2, 3, 33))
  real[0] = 1.0  # pooled mean 0.5, std 0.5
  gen = np.full((2, 3, 33), 2.0)  # mean 2, std 0
  assert bige.fidelity_pooled(real, gen) == pytest.approx(1.5**2 + 0.5**2)
  gen[1] = np.r_[np.zeros(50), np.ones(49)].reshape(3, 33)
  per = bige.fidelity_per_sample(real, gen)
  assert per[0] == pytest.approx(1.5**2 + 0.5**2)
  m, s = gen[1].mean(), gen[1].std()
  assert per[1] == pytest.approx((0.5 - m) ** 2 + (0.5 - s) ** 2)
  out = bige.evaluate_set(gen, np.zeros((2, 3, 80)), np.zeros((2, 3, 2, 3)), 60.0, real)
  assert out["fidelity"]["mean"] == pytest.approx(per.mean())
  assert out["fidelity"]["std"] == pytest.approx(per.std())
  assert out["fidelity_set"]["mean"] == pytest.approx(bige.fidelity_pooled(real, gen))


def test_entropy_of_uniform_histogram_is_log_bins():
  x = np.linspace(0, 1, 1000, endpoint=False)[None]
  assert bige.sample_entropies(x)[0] == pytest.approx(np.log(10), rel=1e-6)
  assert bige.sample_entropies(np.r_[np.zeros(99), 1.0][None])[0] < 0.1


def test_foot_metrics_floating_penetration_and_sliding():
  t = 11
  joints = np.zeros((1, t, 2, 3))
  joints[0, :, 1, 1] = 1.0  # a second joint far above
  joints[0, :, 0, 0] = np.arange(t) * 0.002  # lowest joint slides 2 mm / frame
  out = bige.foot_metrics(joints, ground=0.0)
  assert out["penetration_mm"][0] == 0 and out["floating_mm"][0] == 0
  assert out["sliding_mm"][0] == pytest.approx(2.0)  # mean over the T-1 transitions
  lifted = joints.copy()
  lifted[..., 1] += 0.05  # 5 cm off the ground: floating, no contact
  out = bige.foot_metrics(lifted, ground=0.0)
  assert out["floating_mm"][0] == pytest.approx(50.0) and out["sliding_mm"][0] == 0
  sunk = joints.copy()
  sunk[..., 1] -= 0.005  # 5 mm below: under the 1 cm threshold
  assert bige.foot_metrics(sunk, ground=0.0)["penetration_mm"][0] == 0
  sunk[..., 1] -= 0.02
  assert bige.foot_metrics(sunk, ground=0.0)["penetration_mm"][0] == pytest.approx(25.0)
  # Default ground: the median of per-frame minima, so a uniformly lifted motion is grounded.
  assert bige.foot_metrics(lifted)["floating_mm"][0] == 0


def test_floor_metrics_in_the_papers_units():
  fps, t = 50.0, 11
  joints = np.zeros((1, t, 2, 3))
  joints[0, :, 1, 1] = 1.0
  joints[0, :, 0, 0] = np.arange(t) * 0.002  # 2 mm per frame = 0.1 m/s at 50 Hz
  joints[0, 5:, :, 1] += 0.03  # last 6 frames 3 cm up (ground = median of lowest = 0)
  out = bige.floor_metrics(joints, fps, ground=0.0)
  assert out["floating_cm"][0] == pytest.approx(3.0 * 6 / t)
  assert out["penetration_cm"][0] == 0
  # frames 0..4 are in contact: four 2 mm steps and the 3 cm lift off frame 4
  step = 4 * 0.002 + np.hypot(0.03, 0.002)
  assert out["sliding"][0] == pytest.approx(step * fps / (t - 1))


def _constructed(n=2, t=61, fps=60.0):
  q = np.zeros((n, t, 33))
  a = np.zeros((n, t, 80))
  q[..., C["pelvis_tilt"]] = np.linspace(0, -30, t)  # tilt falls 0..-30 deg
  a[:, 20, M["vasmed_l"]] = 0.4  # peak (higher side) at frame 20 -> tilt -10
  a[:, 40, M["vasmed_r"]] = 0.3
  q[..., C["knee_angle_l"]] = 10.0  # 10 deg asymmetry on one pair
  q[..., C["hip_flexion_r"]] = 4.0  # and 4 on another
  q[..., C["pelvis_tx"]] = np.arange(t) / fps * 0.5  # 0.5 m/s, no acceleration
  return q, a, fps


def test_table3_paper_definitions_on_constructed_motion():
  q, a, fps = _constructed()
  out = bige.per_sample_table3(q, a, fps)
  np.testing.assert_allclose(out["pelvis_tilt"], -10.0)  # signed
  np.testing.assert_allclose(out["asymmetry"], 14.0)  # sum over pairs, mean over frames
  # tilt moves 30 deg in 1 s; the other flexions are constant: sum = 30 deg/s
  np.testing.assert_allclose(out["angular_velocity"], 30.0, rtol=1e-9)
  np.testing.assert_allclose(out["com_velocity"], 0.5)  # the pelvis translation
  np.testing.assert_allclose(out["com_acceleration"], 0.0, atol=1e-9)
  np.testing.assert_allclose(out["constraint"], 0.05 / 2)  # vasmed_r peak 0.3: 0.05 below
  assert not out["constraint_satisfied"].any()
  a[0, 20, M["vasmed_l"]] = 0.2  # below range by 0.15
  violation, ok = bige.activation_constraint(a)
  np.testing.assert_allclose(violation, [0.1, 0.025])
  assert list(ok) == [False, False]


def test_table3_code_definitions_are_rms():
  q, a, fps = _constructed()
  q[..., C["pelvis_tx"]] += 0.02 * np.sin(np.arange(q.shape[1]))[None]
  out = bige.per_sample_table3(q, a, fps, form="code")
  np.testing.assert_allclose(out["asymmetry"], np.sqrt((100 + 16) / 3))
  w = 30.0 * np.ones(60)  # only the tilt moves, 30 deg/s; 7 angles
  np.testing.assert_allclose(out["angular_velocity"], np.sqrt(np.mean(w**2) / 7), rtol=1e-6)
  trans = q[..., [C["pelvis_tx"], C["pelvis_ty"], C["pelvis_tz"]]]
  v = np.linalg.norm(np.diff(trans, axis=1) * fps, axis=-1)
  np.testing.assert_allclose(out["com_velocity"], np.sqrt((v**2).mean(1)))
  paper = bige.per_sample_table3(q, a, fps)
  np.testing.assert_allclose(paper["com_velocity"], v.mean(1))
  assert np.all(out["com_velocity"] > paper["com_velocity"])  # RMS >= mean, strictly here
  with pytest.raises(ValueError, match="form"):
    bige.asymmetry(q, form="mine")


def test_whole_body_translation_option():
  q, a, fps = _constructed()
  com = np.zeros((2, q.shape[1], 3))
  com[..., 1] = np.arange(q.shape[1]) / fps * 2.0  # 2 m/s upward
  out = bige.evaluate_set(q, a, np.zeros((2, q.shape[1], 2, 3)), fps, com=com,
                          translation="whole_body")  # fmt: skip
  assert out["com_velocity"]["mean"] == pytest.approx(2.0)
  assert bige.evaluate_set(q, a, np.zeros((2, q.shape[1], 2, 3)), fps)["com_velocity"][
    "mean"
  ] == pytest.approx(0.5)


def test_closer_to_reference():
  ref = {m: {"mean": 1.0} for m in bige.TABLE3}
  a = {m: {"mean": 1.1} for m in bige.TABLE3}
  b = {m: {"mean": 2.0} for m in bige.TABLE3}
  assert all(bige.closer_to_reference(ref, a, b).values())
  assert not any(bige.closer_to_reference(ref, b, a).values())
  # The constraint violation is lower-is-better: 0 beats the reference's own 1.0.
  zero = {m: {"mean": 0.0} for m in bige.TABLE3}
  got = bige.closer_to_reference(ref, zero, a)
  assert got["constraint"] and not got["asymmetry"]


def test_kinematics_pads_the_last_chunk_and_matches_per_motion_fk():
  """Chunked FK (last chunk padded to one compiled shape) returns exactly the motions given, each
  equal to its own FK call."""
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk
  from motion_jax.skeletons.opencap import load_opencap_model

  osim = load_opencap_model()
  rng = np.random.default_rng(0)
  q = rng.normal(scale=10.0, size=(5, 4, len(BIGE_COORDINATES))).astype(np.float32)  # degrees
  q[..., BIGE_COORDINATES.index("pelvis_ty")] = 0.9  # metres
  joints, com = bige.kinematics(osim, q, batch=2)
  assert joints.shape[:2] == (5, 4) and com.shape == (5, 4, 3)
  rot = np.array([n not in ("pelvis_tx", "pelvis_ty", "pelvis_tz") for n in BIGE_COORDINATES])
  for i in range(5):
    fk = opensim_fk.forward_kinematics(
      osim, jnp.where(rot, jnp.deg2rad(q[i]), q[i]), BIGE_COORDINATES
    )
    np.testing.assert_allclose(joints[i], np.asarray(fk.joint_centers), atol=1e-5)
    np.testing.assert_allclose(com[i], np.asarray(opensim_fk.center_of_mass(fk, osim)), atol=1e-5)
