"""StableMoFusion's 1D convolutional UNet denoiser (Huang et al. 2024; BioVAE's backbone, biovae.txt
Sec. IV-F; sizes from the public code, FACTS.md "StableMoFusion").

Layout over time (features as channels), ``levels = len(dim_mults)``:

* encoder level: 2 conditioned blocks, keep the skip, downsample (conv k3 stride 2);
* middle: 2 conditioned blocks;
* decoder level: upsample (transposed conv k4 stride 2), concatenate the skip, 2 conditioned blocks;
* a zero-initialised 1x1 output conv (the network predicts 0 at initialisation).

A conditioned block is a residual temporal block (two conv k5 -> GroupNorm -> Mish units with
dropout, the first modulated by AdaGN x (1 + scale) + shift from the timestep embedding through a
zero-initialised projection; a 1x1 conv on the residual when widths differ), then a residual
cross-attention to the text tokens in the linear "efficient attention" form (Shen et al. 2021:
queries softmax-normalised over features, keys over the text tokens), skipped for rows whose
condition is dropped (classifier-free guidance).

Frames are padded to a multiple of 2^levels (16 for 4 levels) inside the module. Masking: padded
frames are zeroed before every convolution and GroupNorm normalises each frame over its channel
groups (FACTS.md: "GroupNorm 8 per frame"), so the outputs at valid frames do not depend on what the
padded frames hold. Sizes: base 512, mults (2, 2, 2, 2), GroupNorm 8 groups, kernel 5, dropout 0.1,
time embedding sinusoidal(base) -> 4 base -> Mish -> base, 8 attention heads.
Choices the code leaves implicit and this module fixes: the downsampled mask keeps every other
frame of the finer one; the cross-attention output is added through a Dense and a LayerNorm'd query.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.denoiser_common import (
  TextConditioner,
  TextConditionerConfig,
  TimeEmbedding,
  mish,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class UNetConfig:
  base_dim: int = 512
  dim_mults: tuple[int, ...] = (2, 2, 2, 2)
  kernel_size: int = 5
  groups: int = 8
  dropout_rate: float = 0.1
  attention_heads: int = 8
  text: TextConditionerConfig = TextConditionerConfig()

  @property
  def frame_multiple(self) -> int:
    return 2 ** len(self.dim_mults)

  def __post_init__(self):
    widths = [self.base_dim * m for m in self.dim_mults]
    if not self.dim_mults or any(w % self.groups for w in widths):
      raise ValueError(f"unet: every width {widths} must be divisible by groups={self.groups}")


def _masked(x: Array, mask: Array) -> Array:
  return x * mask[..., None].astype(x.dtype)


class FrameGroupNorm(nn.Module):
  """GroupNorm over the channel groups of each frame separately (``[B, T, C]``)."""

  groups: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    b, t, c = x.shape
    y = nn.GroupNorm(num_groups=self.groups, name="gn")(x.reshape(b * t, c))
    return y.reshape(b, t, c)


class ResidualTemporalBlock(nn.Module):
  out_dim: int
  kernel_size: int
  groups: int
  dropout_rate: float

  @nn.compact
  def __call__(self, x: Array, time: Array, mask: Array, deterministic: bool) -> Array:
    k = (self.kernel_size,)
    pad = ((self.kernel_size // 2, self.kernel_size // 2),)
    h = nn.Conv(self.out_dim, k, padding=pad, name="conv0")(_masked(x, mask))  # [B, T, C]
    h = FrameGroupNorm(self.groups, name="norm0")(h)
    scale_shift = nn.Dense(2 * self.out_dim, kernel_init=nn.initializers.zeros, name="ada_gn")(
      mish(time)
    )  # [B, 2C]
    scale, shift = jnp.split(scale_shift[:, None, :], 2, axis=-1)
    h = mish(h * (1.0 + scale) + shift)
    h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
    h = nn.Conv(self.out_dim, k, padding=pad, name="conv1")(_masked(h, mask))
    h = mish(FrameGroupNorm(self.groups, name="norm1")(h))
    res = x if x.shape[-1] == self.out_dim else nn.Conv(self.out_dim, (1,), name="res_conv")(x)
    return _masked(h + res, mask)


class EfficientCrossAttention(nn.Module):
  """Linear attention of frames to text tokens (Shen et al. 2021), residual, per-row switch."""

  num_heads: int

  @nn.compact
  def __call__(self, x: Array, text: Array, text_mask: Array, keep: Array) -> Array:
    b, n, c = x.shape
    h = self.num_heads
    q = nn.Dense(c, name="query")(nn.LayerNorm(name="norm")(x)).reshape(b, n, h, c // h)
    k = nn.Dense(c, name="key")(text).reshape(b, text.shape[1], h, c // h)
    v = nn.Dense(c, name="value")(text).reshape(b, text.shape[1], h, c // h)
    q = jax.nn.softmax(q, axis=-1)  # over each head's features
    k = jnp.where(text_mask[:, :, None, None], k, jnp.finfo(k.dtype).min)
    k = jax.nn.softmax(k, axis=1)  # over the text tokens
    context = jnp.einsum("blhd,blhe->bhde", k, v)  # [B, H, D, D]
    out = jnp.einsum("bnhd,bhde->bnhe", q, context).reshape(b, n, c)
    out = nn.Dense(c, name="out")(out)
    return x + jnp.where(keep[:, None, None], out, 0.0)


class CondBlock(nn.Module):
  out_dim: int
  config: UNetConfig

  @nn.compact
  def __call__(self, x, time, text, text_mask, keep, mask, deterministic):
    c = self.config
    x = ResidualTemporalBlock(
      self.out_dim, c.kernel_size, c.groups, c.dropout_rate, name="temporal"
    )(x, time, mask, deterministic)
    x = EfficientCrossAttention(c.attention_heads, name="cross_attention")(x, text, text_mask, keep)
    return _masked(x, mask)


class MotionUNet(nn.Module):
  """``(x_t [B, T, F], t [B], text [B, L, Ft], text_mask, keep [B], mask [B, T]) -> [B, T, F]``."""

  config: UNetConfig
  motion_features: int

  @nn.compact
  def __call__(
    self,
    x: Array,
    t: Array,
    text: Array,
    text_mask: Array,
    keep: Array,
    mask: Array,
    deterministic: bool = True,
  ) -> Array:
    c = self.config
    b, n, f = x.shape
    m = c.frame_multiple
    padded = -(-n // m) * m
    x = jnp.pad(x, ((0, 0), (0, padded - n), (0, 0)))
    mask = jnp.pad(mask.astype(bool), ((0, 0), (0, padded - n)))
    time = TimeEmbedding(c.base_dim, 4 * c.base_dim, "mish", name="time")(t)  # [B, base]
    words = TextConditioner(c.text, name="text")(text, text_mask, deterministic)  # [B, L, W]
    widths = [c.base_dim * k for k in c.dim_mults]
    args = (time, words, text_mask, keep)
    h, skips, masks = _masked(x, mask), [], []
    for i, w in enumerate(widths):
      h = CondBlock(w, c, name=f"down_{i}_0")(h, *args, mask, deterministic)
      h = CondBlock(w, c, name=f"down_{i}_1")(h, *args, mask, deterministic)
      skips.append(h)
      masks.append(mask)
      h = nn.Conv(w, (3,), strides=(2,), padding=((1, 1),), name=f"downsample_{i}")(
        _masked(h, mask)
      )
      mask = mask[:, ::2]
    h = CondBlock(widths[-1], c, name="mid_0")(h, *args, mask, deterministic)
    h = CondBlock(widths[-1], c, name="mid_1")(h, *args, mask, deterministic)
    for i, w in reversed(list(enumerate(widths))):
      h = nn.ConvTranspose(w, (4,), strides=(2,), padding="SAME", name=f"upsample_{i}")(
        _masked(h, mask)
      )
      mask = masks[i]
      h = jnp.concatenate([_masked(h, mask), skips[i]], axis=-1)
      h = CondBlock(w, c, name=f"up_{i}_0")(h, *args, mask, deterministic)
      h = CondBlock(w, c, name=f"up_{i}_1")(h, *args, mask, deterministic)
    out = nn.Conv(f, (1,), kernel_init=nn.initializers.zeros, name="output")(h)  # zero-init
    return _masked(out, mask)[:, :n]


__all__ = ["EfficientCrossAttention", "FrameGroupNorm", "MotionUNet", "UNetConfig"]
