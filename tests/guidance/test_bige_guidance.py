"""BIGE latent guidance with tiny random networks and the real OpenSim model's FK."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.guidance import bige as guidance
from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig
from motion_jax.models.vqvae import VQVAE, VQVAEConfig
from motion_jax.skeletons import opensim_fk
from motion_jax.skeletons.opencap import BIGE_COORDINATES, load_opencap_model

T, L, D = 16, 4, 8


@functools.lru_cache(maxsize=1)
def frozen_setup():
  vq = VQVAE(VQVAEConfig(input_dim=33, width=16, code_dim=D, num_codes=16, depth=1))
  x = jnp.zeros((1, T, 33))
  keys = {"params": jax.random.PRNGKey(0), "sample": jax.random.PRNGKey(1)}
  vq_vars = vq.init(keys, x)
  codebook = jax.random.normal(jax.random.PRNGKey(2), (16, D))
  sur = MuscleSurrogate(SurrogateConfig(num_layers=1, num_heads=3, ff_dim=16, max_len=T))
  sur_vars = sur.init(jax.random.PRNGKey(3), x)
  model = load_opencap_model()
  fk = opensim_fk.make_fk(model, BIGE_COORDINATES)
  # Mean pose: a standing squat-like pose in degrees/metres (pelvis ~0.9 m above the floor).
  mean = np.zeros(33, np.float32)
  mean[BIGE_COORDINATES.index("pelvis_ty")] = 0.9
  frozen = guidance.FrozenModels(
    decode=lambda zq: vq.apply(vq_vars, zq[None], method=VQVAE.decode)[0],
    surrogate=lambda xn: sur.apply(sur_vars, xn[None])[0],
    fk=fk,
    center_of_mass=lambda r: opensim_fk.center_of_mass(r, model),
    codebook=codebook,
    mean=jnp.asarray(mean),
    std=jnp.full((33,), 5.0),
    train_latents=jax.random.normal(jax.random.PRNGKey(4), (10, L, D)),
    foot_joints=jnp.asarray(
      [model.joint_names.index(j) for j in ("ankle_r", "mtp_r", "ankle_l", "mtp_l")]
    ),
  )
  return frozen, (vq_vars, sur_vars)


def leaves_hash(tree):
  return [np.asarray(leaf).copy() for leaf in jax.tree.leaves(tree)]


def test_guidance_lowers_objective_keeps_frozen_params_and_has_finite_grads():
  frozen, variables = frozen_setup()
  before = leaves_hash(variables)
  cfg = guidance.GuidanceConfig(steps=25, learning_rate=0.05, num_candidates=3, fps=60.0)
  z0 = guidance.initial_latents(jax.random.PRNGKey(5), frozen, cfg)
  grads = jax.jit(
    jax.grad(lambda z: jnp.sum(guidance.guidance_terms(z, frozen, cfg) @ cfg.weight_vector))
  )(z0)
  assert grads.shape == z0.shape and bool(jnp.all(jnp.isfinite(grads)))
  assert float(jnp.abs(grads).sum()) > 0
  z, history = guidance.make_guide(frozen, cfg)(z0)
  history = np.asarray(history)
  assert history.shape == (25, len(guidance.TERMS) + 1)
  assert np.all(np.isfinite(history))
  assert history[-1, -1] < history[0, -1]  # weighted objective went down
  assert not np.allclose(np.asarray(z), np.asarray(z0))
  for a, b in zip(before, leaves_hash(variables)):  # decoder/surrogate untouched
    np.testing.assert_array_equal(a, b)


def test_code_schedule_is_proximity_only_then_ramps():
  cfg = guidance.GuidanceConfig(
    steps=100, schedule="code", proximity_only_steps=10, ramp_steps=10, final_proximity_steps=20
  )
  prox = guidance.TERMS.index("proximity")
  sym = guidance.TERMS.index("symmetry")

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
  with pytest.raises(ValueError, match="unknown terms"):
    guidance.GuidanceConfig(weights=(("no_such_term", 1.0),))
