"""BIGE latent guidance with tiny random networks and the real OpenSim model's FK."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.guidance import bige as guidance
from motion_jax.guidance.random_models import random_frozen_models

T, L, D = 16, 4, 8


@functools.lru_cache(maxsize=1)
def frozen_setup():
  return random_frozen_models(frames=T, code_dim=D, num_codes=16, train_latents=10, seed=0)


def leaves_hash(tree):
  return [np.asarray(leaf).copy() for leaf in jax.tree.leaves(tree)]


def test_guidance_lowers_objective_keeps_frozen_params_and_has_finite_grads():
  frozen, variables = frozen_setup()
  before = leaves_hash(variables)
  cfg = guidance.GuidanceConfig(steps=25, learning_rate=0.05, num_candidates=3)
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
  with pytest.raises(ValueError, match="guidance.weight_set"):
    guidance.GuidanceConfig(weight_set="mine")
  code = guidance.GuidanceConfig(weight_set="code").weight_vector
  np.testing.assert_array_equal(code, guidance.CODE_WEIGHTS.vector())
  assert code[guidance.TERMS.index("com_velocity")] == 50.0
