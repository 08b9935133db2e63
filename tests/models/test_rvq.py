"""Residual VQ (MoMask Sec. 3.1): more layers reconstruct better, quantize dropout uses a prefix,
gradients pass straight through."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models.rvq import RVQVAE, ResidualQuantizer, RVQConfig, active_layers
from motion_jax.models.vqvae import VQVAEConfig

Q, K, D = 4, 16, 4


def _fit(z, steps=25):
  rq = ResidualQuantizer(Q, K, D)
  v = rq.init({"params": jax.random.PRNGKey(0)}, z, train=False)

  @jax.jit
  def step(v, key):
    _, new = rq.apply(v, z, train=True, mutable=["codebook"], rngs={"sample": key})
    return {**v, **new}

  for i in range(steps):
    v = step(v, jax.random.PRNGKey(i))
  return rq, v


def test_error_falls_monotonically_with_layers():
  z = jax.random.normal(jax.random.PRNGKey(1), (8, 16, D))
  rq, v = _fit(z)
  _, aux = rq.apply(v, z, train=False)
  idx = aux["indices"]
  errs = [
    float(jnp.mean((z - rq.apply(v, idx, n, method=ResidualQuantizer.lookup)) ** 2))
    for n in range(1, Q + 1)
  ]
  assert all(b < a for a, b in zip(errs, errs[1:])), errs
  assert errs[-1] < 0.5 * errs[0]
  # The full sum returned by the forward pass is the Q-layer lookup.
  out, _ = rq.apply(v, z, train=False)
  np.testing.assert_allclose(
    out, rq.apply(v, idx, Q, method=ResidualQuantizer.lookup), rtol=1e-5, atol=1e-5
  )


def test_quantize_dropout_uses_only_a_prefix():
  z = jax.random.normal(jax.random.PRNGKey(2), (4, 8, D))
  rq, v = _fit(z, steps=3)
  z2 = z + 0.3 * jax.random.normal(jax.random.PRNGKey(3), z.shape)
  (out, aux), new = rq.apply(
    v, z2, train=True, num_active=2, mutable=["codebook"], rngs={"sample": jax.random.PRNGKey(9)}
  )
  codes = aux["codes"]
  np.testing.assert_allclose(out, codes[0] + codes[1], rtol=1e-5, atol=1e-5)
  assert aux["active"].tolist() == [True, True, False, False]
  for i in range(Q):
    before = v["codebook"][f"layer_{i}"]["code_count"]
    after = new["codebook"][f"layer_{i}"]["code_count"]
    changed = not np.allclose(before, after)
    assert changed == (i < 2), (i, changed)


def test_active_layers_distribution():
  keys = jax.random.split(jax.random.PRNGKey(0), 2000)
  never = jax.vmap(lambda k: active_layers(k, 6, 0.0))(keys)
  assert set(np.asarray(never).tolist()) == {6}
  n = np.asarray(jax.vmap(lambda k: active_layers(k, 6, 0.2))(keys))
  assert set(n.tolist()) == {1, 2, 3, 4, 5, 6}
  # P(n < 6) = 0.2 * 5/6
  assert abs(np.mean(n < 6) - 0.2 * 5 / 6) < 0.03


def test_straight_through_gradient_is_identity():
  z = jax.random.normal(jax.random.PRNGKey(4), (2, 8, D))
  rq, v = _fit(z, steps=2)
  w = jax.random.normal(jax.random.PRNGKey(5), z.shape)
  g = jax.grad(lambda z: jnp.sum(rq.apply(v, z, train=False)[0] * w))(z)
  np.testing.assert_allclose(g, w, rtol=1e-6)


def test_rvqvae_roundtrip_shapes_and_decode_prefix():
  cfg = RVQConfig(vq=VQVAEConfig(width=8, code_dim=4, num_codes=8, depth=1), num_quantizers=3)
  m = RVQVAE(cfg, 11)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 11))
  v = m.init({"params": jax.random.PRNGKey(0), "sample": jax.random.PRNGKey(1)}, x)
  idx = m.apply(v, x, method=RVQVAE.encode)
  assert idx.shape == (2, 4, 3) and idx.dtype == jnp.int32
  y, _ = m.apply(v, x)
  np.testing.assert_allclose(m.apply(v, idx, method=RVQVAE.decode), y, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="multiple of 4"):
    m.apply(v, x[:, :15])
