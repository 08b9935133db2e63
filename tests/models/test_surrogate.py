"""Tests of BIGE's muscle-activation surrogate: a post-LN transformer over time, tiny config.

Parameters are drawn in numpy from the shapes `jax.eval_shape` gives for `model.init` (XLA's
compilation of flax's random initialisers costs ~10 s on this CPU; the tests are about the model).
Biases and the positional table are non-zero so that no path is trivially inactive.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig

B, T, C, M, MAX_LEN = 3, 10, 6, 80, 12
CFG = SurrogateConfig(model_dim=0, num_layers=2, num_heads=3, ff_dim=16, dropout=0.1)


def _variables(model, x, seed=0):
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  rng = np.random.default_rng(seed)

  def make(path, s):
    names = [p.key for p in path]
    if names[-1] == "kernel":
      # Attention q/k/v kernels are [in, heads, head_dim]; every other kernel [..., out].
      fan_in = np.prod(s.shape[:-1]) if s.ndim == 2 or "out" in names else s.shape[0]
      return jnp.asarray(rng.normal(size=s.shape) / np.sqrt(fan_in), s.dtype)
    if names[-1] == "scale":
      return jnp.ones(s.shape, s.dtype)
    return jnp.asarray(0.1 * rng.normal(size=s.shape), s.dtype)  # biases, positional table

  return jax.tree_util.tree_map_with_path(make, shapes)


@pytest.fixture(scope="module")
def setup():
  model = MuscleSurrogate(CFG, output_dim=M, max_len=MAX_LEN)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(B, T, C)), jnp.float32)
  variables = _variables(model, x)
  assert variables["params"]["pos_embedding"].shape == (MAX_LEN, C)
  apply = jax.jit(functools.partial(model.apply, train=False))
  return apply, variables, x


def test_output_shape_and_range(setup):
  apply, variables, x = setup
  y = np.asarray(apply(variables, x))
  assert y.shape == (B, T, M)
  assert np.all(y > 0) and np.all(y < 1)
  assert y.std() > 1e-3  # not a constant output


def test_permuting_the_batch_permutes_the_outputs(setup):
  apply, variables, x = setup
  perm = np.array([2, 0, 1])
  y = np.asarray(apply(variables, x))
  np.testing.assert_allclose(np.asarray(apply(variables, x[perm])), y[perm], rtol=0, atol=1e-6)


def test_attention_is_over_time_within_each_sequence(setup):
  """Changing frame t of sequence b changes b's outputs at every other frame (self-attention
  over time) and leaves the other sequences' outputs unchanged (no attention across the batch,
  the public BIGE code's bug)."""
  apply, variables, x = setup
  b, t = 1, 4
  y = np.asarray(apply(variables, x))
  y2 = np.asarray(apply(variables, x.at[b, t].add(2.0)))
  others = [i for i in range(B) if i != b]
  np.testing.assert_allclose(y2[others], y[others], rtol=0, atol=1e-6)
  frame_change = np.abs(y2[b] - y[b]).max(-1)  # [T]
  assert np.all(np.delete(frame_change, t) > 1e-4), frame_change


def test_frames_depend_on_their_position(setup):
  """The learnable positional table makes equal frames at different times map differently."""
  apply, variables, _ = setup
  x = jnp.ones((1, T, C))
  y = np.asarray(apply(variables, jnp.broadcast_to(x, (B, T, C))))[0]
  assert np.abs(y[1:] - y[:-1]).max() > 1e-4


def test_sequence_longer_than_max_len_raises():
  model = MuscleSurrogate(CFG, output_dim=M, max_len=MAX_LEN)
  ok = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, MAX_LEN, C)))
  assert ok["params"]["pos_embedding"].shape == (MAX_LEN, C)
  with pytest.raises(ValueError, match="max_len"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, MAX_LEN + 1, C)))


def test_width_not_divisible_by_heads_raises():
  model = MuscleSurrogate(CFG, output_dim=M, max_len=MAX_LEN)
  with pytest.raises(ValueError, match="num_heads"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, T, 5)))
  # With an input projection the model width is model_dim, whatever the input width.
  projected = MuscleSurrogate(
    SurrogateConfig(model_dim=9, num_layers=1, num_heads=3, ff_dim=8), output_dim=M
  )
  out, _ = jax.eval_shape(projected.init_with_output, jax.random.PRNGKey(0), jnp.zeros((1, T, 5)))
  assert out.shape == (1, T, M)
  bad = MuscleSurrogate(SurrogateConfig(model_dim=8, num_layers=1, num_heads=3, ff_dim=8))
  with pytest.raises(ValueError, match="num_heads"):
    jax.eval_shape(bad.init, jax.random.PRNGKey(0), jnp.zeros((1, T, 6)))


def test_blockwise_and_xla_attention_share_parameters_and_agree():
  """The default blockwise attention and Flax's are one parameter tree and the same function
  (value and input gradient), also in training with dropout: the same rng drops the same
  attention entries (Flax's broadcast mask), so outputs and parameter gradients agree."""
  import dataclasses

  x = jnp.asarray(np.random.default_rng(2).normal(size=(B, T, C)), jnp.float32)
  blockwise = MuscleSurrogate(dataclasses.replace(CFG, attention_block=2), M, MAX_LEN)
  xla = MuscleSurrogate(dataclasses.replace(CFG, attention="xla"), M, MAX_LEN)
  variables = _variables(xla, x)
  assert jax.tree.structure(jax.eval_shape(blockwise.init, jax.random.PRNGKey(0), x)) == (
    jax.tree.structure(variables)
  )
  w = jnp.asarray(np.random.default_rng(3).normal(size=(B, T, M)), jnp.float32)
  rngs = {"dropout": jax.random.PRNGKey(4)}
  results = []
  for model in (blockwise, xla):

    def train_loss(v, model=model):
      return jnp.sum(model.apply(v, x, train=True, rngs=rngs) * w)

    value = model.apply(variables, x)
    grad = jax.grad(lambda x, model=model: jnp.sum(model.apply(variables, x) * w))(x)
    train = model.apply(variables, x, train=True, rngs=rngs)
    results.append((value, grad, train, jax.grad(train_loss)(variables)))
  (v_b, g_b, t_b, p_b), (v_x, g_x, t_x, p_x) = results
  np.testing.assert_allclose(np.asarray(v_b), np.asarray(v_x), rtol=0, atol=1e-6)
  np.testing.assert_allclose(np.asarray(g_b), np.asarray(g_x), rtol=0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(t_b), np.asarray(t_x), rtol=0, atol=1e-6)
  assert not np.allclose(np.asarray(t_b), np.asarray(v_b), atol=1e-3)  # dropout did act
  for a, b in zip(jax.tree.leaves(p_b), jax.tree.leaves(p_x), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=2e-5)
  assert float(jnp.abs(g_b).max()) > 1e-3  # the gradient is not trivially zero


def test_unknown_attention_raises():
  with pytest.raises(ValueError, match="attention"):
    SurrogateConfig(attention="flash")
