"""Residual VQ-VAE over motion sequences (MoMask, Guo et al. CVPR 2024, Sec. 3.1).

The 1D-convolutional encoder and decoder of `motion_jax.models.vqvae` (T2M-GPT's) around a stack
of Q EMA-reset quantisers (`motion_jax.models.quantizers.EMAResetQuantizer`): layer 0 quantises
the encoder output, layer j the residual left by layers < j (MoMask eq. 1), and the decoder sees
the sum of the Q codes. Quantize dropout (MoMask Sec. 3.1): in training, with probability
``quantize_dropout`` only a random prefix of 1..Q layers is used for the whole batch; the dropped
layers neither contribute to the sum nor update their codebooks.

Sizes from MoMask's public code (FACTS.md): 6 quantisers of 512 codes x 512 dims, EMA rate 0.99,
quantize dropout 0.2, width 512, down_t 2, depth 3, dilation growth 3.
Choices where the paper is silent (fields): the prefix length is drawn uniformly from 1..Q when a
batch is dropped (the public code's ``randrange(0, Q)`` + 1).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.quantizers import EMAResetQuantizer, straight_through
from motion_jax.models.vqvae import Decoder, Encoder, VQVAEConfig


@dataclasses.dataclass(frozen=True)
class RVQConfig:
  """The VQ-VAE backbone (`VQVAEConfig`) plus the residual stack's settings."""

  vq: VQVAEConfig = VQVAEConfig()
  num_quantizers: int = 6
  quantize_dropout: float = 0.2

  def __post_init__(self):
    if self.num_quantizers < 1:
      raise ValueError(f"num_quantizers must be >= 1, got {self.num_quantizers}")
    if not 0.0 <= self.quantize_dropout <= 1.0:
      raise ValueError(f"quantize_dropout must be in [0, 1], got {self.quantize_dropout}")

  @property
  def downsample(self) -> int:
    return self.vq.downsample


def active_layers(key: jax.Array, num_quantizers: int, dropout: float) -> jax.Array:
  """Number of residual layers used for one training batch (MoMask Sec. 3.1, quantize dropout):
  Q with probability 1 - dropout, else uniform in 1..Q. Returns an int32 scalar."""
  k_drop, k_n = jax.random.split(key)
  drop = jax.random.uniform(k_drop) < dropout
  n = jax.random.randint(k_n, (), 1, num_quantizers + 1)
  return jnp.where(drop, n, num_quantizers).astype(jnp.int32)


class ResidualQuantizer(nn.Module):
  """Q EMA-reset quantisers applied to successive residuals (MoMask eq. 1)."""

  num_quantizers: int
  num_codes: int
  code_dim: int
  mu: float = 0.99

  def setup(self):
    self.layers = [
      EMAResetQuantizer(self.num_codes, self.code_dim, self.mu, name=f"layer_{i}")
      for i in range(self.num_quantizers)
    ]

  def __call__(
    self, z: jax.Array, *, train: bool, num_active: jax.Array | int | None = None
  ) -> tuple[jax.Array, dict]:
    """z [B, T, D] -> (sum of the active layers' codes, straight-through [B, T, D], aux).

    ``num_active``: how many leading layers are used (default all). aux: ``indices``
    [B, T, Q] (of every layer, also the unused ones), ``residuals`` / ``codes`` [Q, B, T, D] (the
    input of each layer and its nearest codes, for the commitment loss), ``active`` [Q] bool,
    ``perplexity`` / ``codes_used`` [Q] per layer in this batch, ``dead_codes`` [Q].
    """
    q = self.num_quantizers
    n = q if num_active is None else num_active
    residual = z
    total = jnp.zeros_like(z)
    residuals, codes, idx, perp, used, dead, active = [], [], [], [], [], [], []
    for i, layer in enumerate(self.layers):
      on = jnp.asarray(i < n)
      _, aux = layer(residual, train=train, active=on)
      code = aux["z_q"]  # [B, T, D] (no gradient path; the sum below is straight-through)
      residuals.append(residual)
      codes.append(code)
      total = total + jnp.where(on, code, 0.0)
      residual = residual - jax.lax.stop_gradient(code)
      idx.append(aux["indices"])
      perp.append(aux["perplexity"])
      used.append(aux["codes_used"])
      dead.append(aux["dead_codes"])
      active.append(on)
    aux = {
      "indices": jnp.stack(idx, -1),
      "residuals": jnp.stack(residuals),
      "codes": jnp.stack(codes),
      "active": jnp.stack(active),
      "perplexity": jnp.stack(perp),
      "codes_used": jnp.stack(used),
      "dead_codes": jnp.stack(dead),
    }
    return straight_through(z, total), aux

  def lookup(self, indices: jax.Array, num_layers: int | None = None) -> jax.Array:
    """Sum of the codes of the first ``num_layers`` layers: indices [B, T, >=L] -> [B, T, D]."""
    n = self.num_quantizers if num_layers is None else num_layers
    out = 0.0
    for i in range(n):
      book = self.layers[i].variables["codebook"]["codebook"]
      out = out + book[indices[..., i]]
    return out

  def codebooks(self) -> jax.Array:
    """All codebooks [Q, K, D]."""
    return jnp.stack([layer.variables["codebook"]["codebook"] for layer in self.layers])


class RVQVAE(nn.Module):
  """encode -> residual quantisation -> decode over motions [B, T, input_dim].

  `__call__(x, train, num_active)` returns (reconstruction [B, T, input_dim], aux): the residual
  quantiser's aux plus ``z_e``. Training draws the prefix length itself (rng stream 'sample')
  when ``num_active`` is None and ``quantize_dropout > 0``.
  """

  cfg: RVQConfig
  input_dim: int

  def setup(self):
    v = self.cfg.vq
    self.encoder = Encoder(v)
    self.quantizer = ResidualQuantizer(self.cfg.num_quantizers, v.num_codes, v.code_dim, v.mu)
    self.decoder = Decoder(v, self.input_dim)

  def _check(self, x):
    if x.shape[-1] != self.input_dim:
      raise ValueError(f"motion has {x.shape[-1]} channels, the RVQ-VAE expects {self.input_dim}")
    if x.shape[-2] % self.cfg.downsample:
      raise ValueError(
        f"sequence length {x.shape[-2]} must be a multiple of {self.cfg.downsample} (2**down_t)"
      )

  def __call__(self, x, *, train: bool = False, num_active=None):
    self._check(x)
    if (
      num_active is None and train and self.cfg.quantize_dropout > 0 and not self.is_initializing()
    ):
      num_active = active_layers(
        self.make_rng("sample"), self.cfg.num_quantizers, self.cfg.quantize_dropout
      )
    z_e = self.encoder(x)
    z_q, aux = self.quantizer(z_e, train=train, num_active=num_active)
    return self.decoder(z_q), {**aux, "z_e": z_e, "num_active": num_active}

  def encode(self, x):
    """Code indices of every layer, [B, T / 2**down_t, Q] (eval mode)."""
    self._check(x)
    _, aux = self.quantizer(self.encoder(x), train=False)
    return aux["indices"]

  def decode(self, indices, num_layers: int | None = None):
    """Motion [B, 4 T', input_dim] from indices [B, T', >= num_layers] of the first layers."""
    return self.decoder(self.quantizer.lookup(indices, num_layers))

  def latent(self, indices, num_layers: int | None = None):
    """The decoder's input [B, T', code_dim]: the sum of the first layers' code vectors."""
    return self.quantizer.lookup(indices, num_layers)

  def decode_latent(self, z):
    """Motion [B, 4 T', input_dim] from a (possibly off-codebook) decoder input [B, T', C]."""
    return self.decoder(z)

  def codebooks(self):
    return self.quantizer.codebooks()
