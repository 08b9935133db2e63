"""1D-convolutional VQ-VAE over motion sequences (T2M-GPT architecture, used by BIGE).

Architecture facts (T2M-GPT, Zhang et al. 2023; BIGE options/option_vq.py): width 512, temporal
down-sampling `down_t` times by stride 2 (kernel 4), each stage followed by a residual stack of
`depth` blocks with dilations growth^(depth-1) .. 1 (9, 3, 1), ReLU, nearest-neighbour upsampling in
the decoder, 512 codes of 512 dims. Layout is channels-last: [B, T, C].
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from motion_jax.models.quantizers import EMAResetQuantizer


@dataclasses.dataclass(frozen=True)
class VQVAEConfig:
  """Architecture hyper-parameters; the motion's channel count is the module's `input_dim`."""

  width: int = 512
  code_dim: int = 512
  num_codes: int = 512
  down_t: int = 2
  depth: int = 3
  dilation_growth: int = 3
  mu: float = 0.99

  @property
  def downsample(self) -> int:
    return 2**self.down_t


class ResBlock(nn.Module):
  width: int
  dilation: int

  @nn.compact
  def __call__(self, x):  # [B, T, W]
    h = nn.Conv(
      self.width, (3,), kernel_dilation=(self.dilation,), padding=[(self.dilation, self.dilation)]
    )(nn.relu(x))
    h = nn.Conv(self.width, (1,))(nn.relu(h))
    return x + h


class ResStack(nn.Module):
  width: int
  depth: int
  growth: int

  @nn.compact
  def __call__(self, x):
    for i in reversed(range(self.depth)):  # dilations 9, 3, 1
      x = ResBlock(self.width, self.growth**i)(x)
    return x


class Encoder(nn.Module):
  cfg: VQVAEConfig

  @nn.compact
  def __call__(self, x):  # [B, T, C]
    c = self.cfg
    h = nn.relu(nn.Conv(c.width, (3,), padding=[(1, 1)])(x))
    for _ in range(c.down_t):
      h = nn.Conv(c.width, (4,), strides=(2,), padding=[(1, 1)])(h)  # T -> T/2
      h = ResStack(c.width, c.depth, c.dilation_growth)(h)
    return nn.Conv(c.code_dim, (3,), padding=[(1, 1)])(h)  # [B, T/4, D]


class Decoder(nn.Module):
  cfg: VQVAEConfig
  output_dim: int

  @nn.compact
  def __call__(self, z):  # [B, T/4, D]
    c = self.cfg
    h = nn.relu(nn.Conv(c.width, (3,), padding=[(1, 1)])(z))
    for _ in range(c.down_t):
      h = ResStack(c.width, c.depth, c.dilation_growth)(h)
      h = jnp.repeat(h, 2, axis=1)  # nearest upsampling
      h = nn.Conv(c.width, (3,), padding=[(1, 1)])(h)
    h = nn.relu(nn.Conv(c.width, (3,), padding=[(1, 1)])(h))
    return nn.Conv(self.output_dim, (3,), padding=[(1, 1)])(h)  # [B, T, C]


class VQVAE(nn.Module):
  """encode -> quantize -> decode over motions [B, T, input_dim].

  `__call__` returns (reconstruction [B, T, input_dim], aux): the quantiser's aux (``z_q`` codes,
  ``indices``, ``perplexity``, ...) plus ``z_e``, the encoder outputs [B, T / 2**down_t, D]; the
  loss (`motion_jax.losses.vqvae_loss`) needs both.
  """

  cfg: VQVAEConfig
  input_dim: int

  def setup(self):
    self.encoder = Encoder(self.cfg)
    self.quantizer = EMAResetQuantizer(self.cfg.num_codes, self.cfg.code_dim, self.cfg.mu)
    self.decoder = Decoder(self.cfg, self.input_dim)

  def __call__(self, x, *, train: bool = False):
    if x.shape[-1] != self.input_dim:
      raise ValueError(f"motion has {x.shape[-1]} channels, the VQ-VAE expects {self.input_dim}")
    if x.shape[-2] % self.cfg.downsample:
      raise ValueError(
        f"sequence length {x.shape[-2]} must be a multiple of {self.cfg.downsample} (2**down_t)"
      )
    z_e = self.encoder(x)
    z_q, aux = self.quantizer(z_e, train=train)
    return self.decoder(z_q), {**aux, "z_e": z_e}

  def encode(self, x):
    return self.encoder(x)

  def decode(self, z_q):
    return self.decoder(z_q)

  def codebook(self):
    return self.quantizer.variables["codebook"]["codebook"]
