"""BIGE latent guidance: tiny random networks over the real OpenSim FK, and both objectives on
hand-built motions whose terms are computed by hand."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.guidance import bige as guidance
from motion_jax.guidance.random_models import random_frozen_models
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

T, L, D = 16, 4, 8
C = {n: i for i, n in enumerate(BIGE_COORDINATES)}


@functools.lru_cache(maxsize=1)
def frozen_setup():
  return random_frozen_models(frames=T, code_dim=D, num_codes=16, train_latents=10, seed=0)


def leaves_hash(tree):
  return [np.asarray(leaf).copy() for leaf in jax.tree.leaves(tree)]


def test_guidance_lowers_objective_keeps_frozen_params_and_has_finite_grads():
  frozen, variables = frozen_setup()
  before = leaves_hash(variables)
  cfg = guidance.GuidanceConfig(
    steps=25, learning_rate=0.05, num_candidates=3, keep=2, schedule="all"
  )
  cal = guidance.unit_calibration(cfg, floor=0.0, tilt_target=-20.0)
  w = guidance.weight_vector(cfg, cal)
  z0 = guidance.initial_latents(jax.random.PRNGKey(5), frozen, cfg)
  grads = jax.jit(jax.grad(lambda z: jnp.sum(guidance.guidance_terms(z, frozen, cfg, cal) @ w)))(z0)
  assert grads.shape == z0.shape and bool(jnp.all(jnp.isfinite(grads)))
  assert float(jnp.abs(grads).sum()) > 0
  z, history, final = guidance.make_guide(frozen, cfg, cal)(z0)
  history = np.asarray(history)
  assert history.shape == (25, len(guidance.OURS_TERMS) + 1)
  assert final.shape == (3, len(guidance.OURS_TERMS))
  assert np.all(np.isfinite(history))
  assert history[-1, -1] < history[0, -1]  # weighted objective went down
  assert not np.allclose(np.asarray(z), np.asarray(z0))
  for a, b in zip(before, leaves_hash(variables)):  # decoder/surrogate untouched
    np.testing.assert_array_equal(a, b)


def test_code_schedule_is_proximity_only_then_ramps():
  cfg = guidance.GuidanceConfig(
    steps=100, schedule="code", proximity_only_steps=10, ramp_steps=10, final_proximity_steps=20
  )
  prox = cfg.terms.index("proximity")
  sym = cfg.terms.index("asymmetry")

  def s(i):
    return np.asarray(guidance.schedule_scales(jnp.asarray(i), cfg))

  assert s(5)[prox] == 1 and s(5)[sym] == 0
  assert s(15)[sym] == pytest.approx(0.5)
  assert s(50)[sym] == 1
  assert s(85)[sym] == 0 and s(85)[prox] == 1


def test_proximity_is_the_min_frobenius_distance():
  e = jnp.stack([jnp.zeros((L, D)), jnp.ones((L, D))])
  z = jnp.full((L, D), 0.9)
  expected = np.sqrt(L * D * 0.1**2)
  assert float(guidance.proximity(z, e)) == pytest.approx(expected, rel=1e-3)


def test_bad_config_is_a_clear_error():
  with pytest.raises(ValueError, match="guidance.init"):
    guidance.GuidanceConfig(init="uniform")
  with pytest.raises(ValueError, match="guidance.weight_set"):
    guidance.GuidanceConfig(weight_set="paper")
  with pytest.raises(ValueError, match="activation_low/high"):
    guidance.GuidanceConfig(activation_low=0.6, activation_high=0.5)
  with pytest.raises(ValueError, match="guidance.schedule='code' needs"):
    guidance.GuidanceConfig(steps=100, schedule="code")  # default phases 500 + 500 + 1000
  assert guidance.GuidanceConfig(steps=100, schedule="all").steps == 100
  assert guidance.GuidanceConfig(weight_set="code").terms == guidance.CODE_TERMS


# ----------------------------------------------------------------- hand-built motion, fake FK


class _FK(NamedTuple):
  joint_centers: jax.Array


def _fake_models(mean=None, std=None):
  """FrozenModels whose FK puts two joints at known places: joint 0 at (pelvis_tx, pelvis_ty -
  0.9, pelvis_tz), joint 1 one metre above it. Only `motion_terms` is used."""

  def fk(q_rad):
    base = q_rad[..., [C["pelvis_tx"], C["pelvis_ty"], C["pelvis_tz"]]] - jnp.array([0, 0.9, 0])
    return _FK(jnp.stack([base, base + jnp.array([0.0, 1.0, 0.0])], axis=-2))

  n = len(BIGE_COORDINATES)
  return guidance.FrozenModels(
    decode=None,
    surrogate=None,
    fk=fk,
    center_of_mass=lambda r: r.joint_centers[..., 0, :],
    codebook=jnp.zeros((2, D)),
    mean=jnp.zeros(n) if mean is None else mean,
    std=jnp.ones(n) if std is None else std,
    train_latents=jnp.zeros((2, L, D)),
    foot_joints=jnp.asarray([0]),
  )


def _hand_motion():
  """One 4-frame motion (degrees / metres) and its activations, with every term by hand."""
  t = 4
  q = np.zeros((1, t, len(BIGE_COORDINATES)), np.float32)
  q[0, :, C["pelvis_tilt"]] = [-10.0, -20.0, -30.0, -20.0]
  q[0, :, C["knee_angle_l"]] = [0.0, 40.0, 80.0, 40.0]
  q[0, :, C["knee_angle_r"]] = [0.0, 38.0, 78.0, 40.0]  # L-R: 0, 2, 2, 0
  q[0, :, C["hip_flexion_l"]] = [0.0, 30.0, 60.0, 30.0]
  q[0, :, C["hip_flexion_r"]] = [0.0, 30.0, 60.0, 30.0]
  q[0, :, C["pelvis_ty"]] = [0.92, 0.90, 0.88, 0.90]  # lowest joint height 0.02, 0, -0.02, 0
  q[0, :, C["pelvis_tx"]] = [0.0, 0.01, 0.01, 0.0]
  a = np.zeros((1, t, len(BIGE_MUSCLES)), np.float32)
  a[0, :, BIGE_MUSCLES.index("vasmed_l")] = [0.1, 0.3, 0.5, 0.2]  # peak 0.5 at frame 2
  a[0, :, BIGE_MUSCLES.index("vasmed_r")] = [0.1, 0.2, 0.4, 0.2]  # peak 0.4
  return q, a


def test_code_objective_terms_by_hand():
  """weight_set='code': LIMO_Surrogate.py's terms in its raw units, each computed by hand."""
  q, a = _hand_motion()
  cfg = guidance.GuidanceConfig(weight_set="code")
  m = _fake_models()
  got = np.asarray(guidance.motion_terms(q, q, a, m, cfg, 0.0, 0.0))[0]
  terms = dict(zip(cfg.terms[1:], got))
  assert terms["pelvis_tilt"] == pytest.approx((100 + 400 + 900 + 400) / 4)
  knees = [0, 0, 40, 38, 80, 78, 40, 40]
  assert terms["knee_flex"] == pytest.approx(-np.mean(np.square(knees)), rel=1e-6)
  assert terms["symmetry"] == pytest.approx((0 + 4 + 4 + 0) / (4 * 3))  # mean over t and pairs
  assert terms["foot"] == pytest.approx((0.02**2 + 0 + 0.02**2 + 0) / 4, rel=1e-4)
  assert terms["foot_sliding"] == pytest.approx((0.02**2 * 3) / 3, rel=1e-4)
  diffs = np.diff(q[0], axis=0)
  assert terms["temporal"] == pytest.approx(np.mean(diffs**2), rel=1e-5)
  trans = q[0][:, [C["pelvis_tx"], C["pelvis_ty"], C["pelvis_tz"]]]
  assert terms["temporal_trans"] == pytest.approx(np.mean(np.diff(trans, axis=0) ** 2), rel=1e-5)
  padded = np.concatenate([trans[:1], trans, trans[-1:]])
  lap = np.abs(padded[2:] - 2 * padded[1:-1] + padded[:-2])
  huber = np.where(lap < 0.01, 0.5 * lap**2 / 0.01, lap - 0.005)
  assert terms["com_acceleration"] == pytest.approx(huber.mean(), rel=1e-4)
  assert terms["constraint"] == pytest.approx(0.05)  # vasmed_l peak 0.5 is 0.05 above 0.45
  weights = np.asarray(guidance.weight_vector(cfg, guidance.unit_calibration(cfg)))
  expected = [guidance.CODE_WEIGHTS[t] for t in guidance.CODE_TERMS]
  np.testing.assert_array_equal(weights, np.float32(expected))
  assert weights[cfg.terms.index("temporal_trans")] == 50.0


def test_ours_objective_terms_by_hand():
  """weight_set='ours': Table 1's terms (signed tilt toward the target, sums over pairs/angles,
  per-frame differences of the pelvis translation)."""
  q, a = _hand_motion()
  cfg = guidance.GuidanceConfig(sharpness=1e-4)
  m = _fake_models()
  got = np.asarray(guidance.motion_terms(q, q, a, m, cfg, 0.0, -25.0))[0]
  terms = dict(zip(cfg.terms[1:], got))
  assert terms["pelvis_tilt"] == pytest.approx((-30 + 25) ** 2, rel=1e-4)  # tilt at peak -30
  assert terms["asymmetry"] == pytest.approx((0 + 4 + 4 + 0) / 4)  # mean_t sum_pairs
  flex = q[0][:, [C[n] for n in guidance.FLEXIONS]]
  assert terms["angular_velocity"] == pytest.approx(
    np.mean(np.sum(np.diff(flex, axis=0) ** 2, -1)), rel=1e-5
  )
  trans = q[0][:, [C["pelvis_tx"], C["pelvis_ty"], C["pelvis_tz"]]]
  v = np.diff(trans, axis=0)
  assert terms["com_velocity"] == pytest.approx(np.mean(np.sum(v**2, -1)), rel=1e-4)
  lap = trans[2:] - 2 * trans[1:-1] + trans[:-2]
  assert terms["com_acceleration"] == pytest.approx(np.mean(np.sum(lap**2, -1)), rel=1e-4)
  assert terms["constraint"] == pytest.approx(0.05)
  assert terms["foot_sliding"] == pytest.approx(np.mean(np.sum(v**2, -1)), rel=1e-3)


def test_calibration_scales_the_generator_to_alpha():
  """Each smoothness / floor term of `ours` divided by its scale averages 1 over the unguided
  generator's samples; tilt target and floor come from the reference windows."""
  frozen, _ = frozen_setup()
  cfg = guidance.GuidanceConfig()
  _, q_ref, a_ref = guidance.decode_candidates(frozen.train_latents, frozen)
  q_ref, a_ref = np.asarray(q_ref), np.asarray(a_ref)
  key = jax.random.PRNGKey(3)
  cal = guidance.calibrate(frozen, cfg, q_ref, a_ref, key, samples=8)
  assert cal.tilt_target == pytest.approx(np.mean(guidance.tilt_at_peak_np(q_ref, a_ref)))
  z = guidance.encoder_distribution_samples(key, frozen.train_latents, 8)
  ratio = np.asarray(guidance.guidance_terms(z, frozen, cfg, cal)).mean(0) / np.asarray(cal.scales)
  for k, name in enumerate(cfg.terms):
    if name in guidance.GENERATOR_SCALED:
      assert ratio[k] == pytest.approx(1.0, rel=1e-3), name
  assert float(cal.scales[cfg.terms.index("pelvis_tilt")]) == cfg.tilt_tolerance**2
  fixed = guidance.calibrate(frozen, guidance.GuidanceConfig(tilt_target=-25.0), q_ref, a_ref)
  assert fixed.tilt_target == -25.0


def test_selection_rules():
  cfg = guidance.GuidanceConfig(keep=2)
  cal = guidance.unit_calibration(cfg)
  final = np.zeros((4, len(cfg.terms)), np.float32)
  final[:, cfg.terms.index("constraint")] = [0.3, 0.1, 0.0, 0.2]
  acts = np.zeros((4, 5, len(BIGE_MUSCLES)), np.float32)
  acts[:, 2, BIGE_MUSCLES.index("vasmed_r")] = [0.9, 0.1, 0.5, 0.7]
  assert list(guidance.select(final, acts, cfg, cal)) == [2, 1]  # lowest objective
  code = guidance.GuidanceConfig(keep=2, selection="vasmed")
  assert list(guidance.select(final, acts, code, cal)) == [0, 3]  # highest peak vasmed


def test_encoder_distribution_samples_follow_the_training_latents():
  rng = np.random.default_rng(0)
  train = jnp.asarray(rng.normal(3.0, 0.5, size=(400, L, D)), jnp.float32)
  z = np.asarray(guidance.encoder_distribution_samples(jax.random.PRNGKey(0), train, 2000))
  assert z.shape == (2000, L, D)
  np.testing.assert_allclose(z.mean(0), np.asarray(train.mean(0)), atol=0.06)
  np.testing.assert_allclose(z.std(0), np.asarray(train.std(0)), rtol=0.1)


def test_guidance_runs_in_equal_chunks_with_the_result_of_one_scan():
  assert guidance.chunk_size(300) == 25 and guidance.chunk_size(26) == 13
  assert guidance.chunk_size(7) == 7 and guidance.chunk_size(29) == 1
  frozen, _ = frozen_setup()
  cfg = guidance.GuidanceConfig(steps=12, num_candidates=2, keep=1, schedule="all")
  cal = guidance.unit_calibration(cfg, tilt_target=-20.0)
  z0 = guidance.initial_latents(jax.random.PRNGKey(1), frozen, cfg)
  one = guidance.make_guide(frozen, cfg, cal, chunk=12)(z0)
  four = guidance.make_guide(frozen, cfg, cal, chunk=3)(z0, desc="test")
  for a, b in zip(one, four):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match="must divide"):
    guidance.make_guide(frozen, cfg, cal, chunk=5)
