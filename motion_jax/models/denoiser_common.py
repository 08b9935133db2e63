"""Pieces shared by the motion denoisers (`models/mdm.py`, `models/motion_unet.py`).

* `timestep_features`: sinusoidal features of integer diffusion timesteps (Vaswani et al. 2017's
  table evaluated at t, as DDPM's time embedding, Ho et al. 2020 App. B).
* `TextConditioner`: frozen MiniLM token states (precomputed, ``[B, L, 384]``) -> Dense ->
  a small trainable post-LN transformer encoder -> LayerNorm. StableMoFusion's text path is the
  same shape over frozen CLIP tokens (Linear 256, 4 layers, 4 heads, ff 2048, GELU, + LN; FACTS.md);
  MiniLM replaces CLIP here (no CLIP weights in this project).
* `TimeEmbedding`: sinusoidal -> Dense -> activation -> Dense.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.attention import TransformerEncoderLayer

Array = jax.Array


def timestep_features(t: Array, dim: int, max_period: float = 10000.0) -> Array:
  """``[B, dim]`` sin/cos features of timesteps ``t [B]`` (first half sin, second half cos)."""
  if dim % 2:
    raise ValueError(f"timestep feature dim must be even, got {dim}")
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)  # [D/2]
  angles = t.astype(jnp.float32)[:, None] * freqs[None, :]  # [B, D/2]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # [B, D]


def mish(x: Array) -> Array:
  """Mish (Misra 2019): x tanh(softplus(x))."""
  return x * jnp.tanh(jax.nn.softplus(x))


class TimeEmbedding(nn.Module):
  """``t [B] -> [B, dim]``: sinusoidal(dim) -> Dense(hidden) -> act -> Dense(dim)."""

  dim: int
  hidden: int
  activation: str = "mish"  # 'mish' (StableMoFusion) | 'silu' (MDM)

  @nn.compact
  def __call__(self, t: Array) -> Array:
    act = mish if self.activation == "mish" else nn.silu
    h = nn.Dense(self.hidden, name="fc1")(timestep_features(t, self.dim))  # [B, H]
    return nn.Dense(self.dim, name="fc2")(act(h))  # [B, D]


@dataclasses.dataclass(frozen=True)
class TextConditionerConfig:
  """The trainable text path over frozen token states (StableMoFusion's sizes by default)."""

  width: int = 256
  num_layers: int = 4
  num_heads: int = 4
  ff_dim: int = 2048
  dropout_rate: float = 0.1


class TextConditioner(nn.Module):
  """``tokens [B, L, F_text], mask [B, L] -> [B, L, width]`` (see the module docstring)."""

  config: TextConditionerConfig

  @nn.compact
  def __call__(self, tokens: Array, mask: Array, deterministic: bool = True) -> Array:
    c = self.config
    h = nn.Dense(c.width, name="proj")(tokens)  # [B, L, W]
    for i in range(c.num_layers):
      h = TransformerEncoderLayer(
        c.num_heads, c.ff_dim, c.dropout_rate, activation="gelu", name=f"layer_{i}"
      )(h, mask, deterministic)
    return nn.LayerNorm(name="norm")(h)  # [B, L, W]


def masked_mean(x: Array, mask: Array) -> Array:
  """Mean over axis 1 of ``x [B, L, D]`` where ``mask [B, L]``; zeros for an empty row."""
  m = mask.astype(x.dtype)[..., None]
  return (x * m).sum(1) / jnp.maximum(m.sum(1), 1.0)


__all__ = [
  "TextConditioner",
  "TextConditionerConfig",
  "TimeEmbedding",
  "masked_mean",
  "mish",
  "timestep_features",
]
