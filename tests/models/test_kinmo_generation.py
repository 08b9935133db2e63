"""KinMo's level-conditioned mask transformer: shapes, the level embedding, condition dropping."""

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.models.kinmo_generation import LevelConditionedMaskTransformer
from motion_jax.models.momask import TokenTransformerConfig

CFG = TokenTransformerConfig(latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, dropout=0.0)
K = 10


def _inputs():
  ids = jax.random.randint(jax.random.PRNGKey(1), (2, 6), 0, K + 2)
  cond = jax.random.normal(jax.random.PRNGKey(2), (2, 5))
  valid = jnp.ones((2, 6), bool)
  return ids, cond, valid


def test_levels_share_weights_and_the_level_id_changes_the_logits():
  model = LevelConditionedMaskTransformer(CFG, K)
  ids, cond, valid = _inputs()
  keep = jnp.ones((2,), bool)
  params = model.init(jax.random.PRNGKey(0), ids, cond, jnp.zeros((2,), jnp.int32), keep, valid)
  # one projection and one body for every level: the only level-specific parameters are the
  # three rows of the level embedding
  assert params["params"]["level_embed"]["embedding"].shape == (3, 16)
  out = [model.apply(params, ids, cond, jnp.full((2,), lv), keep, valid) for lv in range(3)]
  assert out[0].shape == (2, 6, K)
  assert not np.allclose(out[0], out[1]) and not np.allclose(out[1], out[2])


def test_dropped_condition_ignores_embedding_and_level():
  model = LevelConditionedMaskTransformer(CFG, K)
  ids, cond, valid = _inputs()
  drop = jnp.zeros((2,), bool)
  params = model.init(jax.random.PRNGKey(0), ids, cond, jnp.zeros((2,), jnp.int32), drop, valid)
  a = model.apply(params, ids, cond, jnp.zeros((2,), jnp.int32), drop, valid)
  b = model.apply(params, ids, -3 * cond, jnp.full((2,), 2), drop, valid)
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_without_level_embedding_the_level_is_ignored():
  model = LevelConditionedMaskTransformer(CFG, K, level_embedding=False)
  ids, cond, valid = _inputs()
  keep = jnp.ones((2,), bool)
  params = model.init(jax.random.PRNGKey(0), ids, cond, jnp.zeros((2,), jnp.int32), keep, valid)
  assert "level_embed" not in params["params"]
  a = model.apply(params, ids, cond, jnp.zeros((2,), jnp.int32), keep, valid)
  b = model.apply(params, ids, cond, jnp.full((2,), 2), keep, valid)
  np.testing.assert_array_equal(a, b)


def test_zero_initialised_control_branch_leaves_the_generator_unchanged():
  from motion_jax.models.kinmo_generation import ControlledMaskTransformer

  ids, cond, valid = _inputs()
  keep, level = jnp.ones((2,), bool), jnp.ones((2,), jnp.int32)
  control = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 12))
  plain = LevelConditionedMaskTransformer(CFG, K)
  main = plain.init(jax.random.PRNGKey(0), ids, cond, level, keep, valid)["params"]
  ctl_model = ControlledMaskTransformer(CFG, K)
  full = ctl_model.init(jax.random.PRNGKey(4), ids, cond, level, keep, valid, control)["params"]
  # same parameter names as the generator, plus body/control
  assert set(full) == set(main) and set(full["body"]) == set(main["body"]) | {"control"}
  params = {**main, "body": {**main["body"], "control": full["body"]["control"]}}
  want = plain.apply({"params": main}, ids, cond, level, keep, valid)
  got = ctl_model.apply({"params": params}, ids, cond, level, keep, valid, control)
  np.testing.assert_allclose(got, want, atol=1e-5)
  # a non-zero output projection makes the branch matter (random: a constant shift per token
  # would vanish in the following LayerNorm)
  k0 = params["body"]["control"]["zero_0"]["kernel"]
  params["body"]["control"]["zero_0"]["kernel"] = jax.random.normal(jax.random.PRNGKey(9), k0.shape)
  moved = ctl_model.apply({"params": params}, ids, cond, level, keep, valid, control)
  assert not np.allclose(moved, want, atol=1e-3)
