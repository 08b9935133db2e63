"""Vector quantisers: EMA codebook with dead-code reset (T2M-GPT / BIGE), and the pure helpers
that latent guidance reuses outside the module.

Facts from T2M-GPT (Zhang et al. 2023, "QuantizeEMAReset") that BIGE uses unchanged: the codebook
is initialised from the first training batch of encodings, code sums and counts are exponential
moving averages with rate mu (0.99), codes whose EMA count falls below 1 are reset to random
encodings of the current batch, and gradients pass straight through the quantiser. The
commitment loss ||z_e - sg(z_q)||^2 is `motion_jax.losses.vqvae.commitment_loss` (the module
returns z_q in its aux).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def nearest_codes(codebook: jax.Array, x: jax.Array) -> jax.Array:
  """Index of the nearest code for each vector. codebook [K, D], x [..., D] -> [...] int32."""
  d = jnp.sum(x**2, -1, keepdims=True) - 2.0 * x @ codebook.T + jnp.sum(codebook**2, -1)  # [..., K]
  return jnp.argmin(d, axis=-1).astype(jnp.int32)


def straight_through(x: jax.Array, x_q: jax.Array) -> jax.Array:
  """Forward value x_q, gradient of the identity w.r.t. x."""
  return x + jax.lax.stop_gradient(x_q - x)


def quantize(codebook: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Straight-through quantisation: (x_q with identity gradient, code indices)."""
  idx = nearest_codes(codebook, x)
  return straight_through(x, codebook[idx]), idx


def code_perplexity(counts: jax.Array) -> jax.Array:
  """exp(entropy) of a code-usage histogram [K]; K when uniform, 1 when one code is used."""
  p = counts / jnp.maximum(counts.sum(), 1e-12)
  return jnp.exp(-jnp.sum(p * jnp.log(p + 1e-10)))


def _random_rows(x: jax.Array, k: int, key: jax.Array) -> jax.Array:
  """k rows drawn without replacement from x [N, D], tiled with small noise when N < k."""
  n, d = x.shape
  reps = math.ceil(k / n)
  if reps > 1:
    noise_key, key = jax.random.split(key)
    tiled = jnp.tile(x, (reps, 1))
    x = tiled + 0.01 / math.sqrt(d) * jax.random.normal(noise_key, tiled.shape, x.dtype)
  return jax.random.permutation(key, x, axis=0)[:k]


class EMAResetQuantizer(nn.Module):
  """EMA codebook with reset. State lives in the mutable 'codebook' collection."""

  num_codes: int = 512
  code_dim: int = 512
  mu: float = 0.99

  @nn.compact
  def __call__(
    self, x: jax.Array, *, train: bool, active: jax.Array | None = None
  ) -> tuple[jax.Array, dict]:
    """x [B, T, D] -> (x_q [B, T, D] straight-through, aux).

    ``active`` (a bool scalar, default True): when False in training, the EMA statistics and the
    codebook are left unchanged (a residual layer dropped by quantize dropout, MoMask Sec. 3.1).

    aux: ``z_q`` the nearest codes [B, T, D] (no straight-through; the commitment loss of
    `motion_jax.losses.vqvae` compares them with x), ``perplexity`` and ``codes_used`` of this
    batch, ``dead_codes`` (EMA count < 1, training only), ``indices`` [B, T].
    """
    k, d = self.num_codes, self.code_dim
    codebook = self.variable("codebook", "codebook", jnp.zeros, (k, d))
    code_sum = self.variable("codebook", "code_sum", jnp.zeros, (k, d))
    code_count = self.variable("codebook", "code_count", jnp.zeros, (k,))
    initted = self.variable("codebook", "initted", lambda: jnp.zeros((), jnp.bool_))
    flat = x.reshape(-1, d).astype(jnp.float32)  # [N, D]

    if train and not self.is_initializing():
      init_rows = _random_rows(jax.lax.stop_gradient(flat), k, self.make_rng("sample"))
      first = jnp.logical_not(initted.value)
      codebook.value = jnp.where(first, init_rows, codebook.value)
      code_sum.value = jnp.where(first, init_rows, code_sum.value)
      code_count.value = jnp.where(first, jnp.ones((k,)), code_count.value)
      initted.value = jnp.ones((), jnp.bool_)

    idx = nearest_codes(codebook.value, flat)  # [N]
    # The codes of this batch come from the codebook as it is before this step's EMA update and
    # reset (T2M-GPT's order: dequantize, then update_codebook).
    x_q = codebook.value[idx].reshape(x.shape)
    onehot = jax.nn.one_hot(idx, k, dtype=jnp.float32)  # [N, K]
    batch_counts = onehot.sum(0)  # [K]

    if train and not self.is_initializing():
      sg = jax.lax.stop_gradient(flat)
      new_sum = self.mu * code_sum.value + (1 - self.mu) * (onehot.T @ sg)
      new_count = self.mu * code_count.value + (1 - self.mu) * batch_counts
      reset_rows = _random_rows(sg, k, self.make_rng("sample"))
      used = (new_count >= 1.0)[:, None]
      new_codebook = jnp.where(used, new_sum / jnp.maximum(new_count, 1e-6)[:, None], reset_rows)
      if active is not None:
        new_codebook = jnp.where(active, new_codebook, codebook.value)
        new_sum = jnp.where(active, new_sum, code_sum.value)
        new_count = jnp.where(active, new_count, code_count.value)
      codebook.value = new_codebook
      code_sum.value, code_count.value = new_sum, new_count

    aux = {
      "z_q": x_q,
      "perplexity": code_perplexity(batch_counts),
      "codes_used": jnp.sum(batch_counts > 0),
      "dead_codes": jnp.sum(code_count.value < 1.0) if train else jnp.zeros((), jnp.int32),
      "indices": idx.reshape(x.shape[:-1]),
    }
    return straight_through(x, x_q), aux
