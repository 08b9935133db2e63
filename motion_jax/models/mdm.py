"""MDM (Tevet et al. 2023, "Human Motion Diffusion Model"): a transformer encoder over frames that
predicts the clean motion x0 (the lecture's diffusion model zoo; lecture.txt).

Input frames are projected to the latent width, a condition token is prepended (the timestep
embedding plus the text embedding, zeroed where the condition is dropped for classifier-free
guidance), sinusoidal positions are added, and a post-LN transformer encoder runs over
[condition, frames] with padded frames masked out of the attention; the frame outputs are projected
back to the motion features. Sizes: latent 512, 8 layers, 4 heads, ff 1024, dropout 0.1, GELU
(MDM's). Text: the trainable `TextConditioner` over frozen MiniLM token states, mean-pooled over
its valid tokens and projected (MDM pools CLIP into one sentence vector; MiniLM replaces CLIP here).
Choices MDM's text leaves to the code: the timestep MLP uses SiLU; the text vector is added to the
timestep embedding to form the one prefix token.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.attention import TransformerEncoderLayer, sinusoidal_positions
from motion_jax.models.denoiser_common import (
  TextConditioner,
  TextConditionerConfig,
  TimeEmbedding,
  masked_mean,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class MDMConfig:
  latent_dim: int = 512
  num_layers: int = 8
  num_heads: int = 4
  ff_dim: int = 1024
  dropout_rate: float = 0.1
  text: TextConditionerConfig = TextConditionerConfig()


class MDM(nn.Module):
  """``(x_t [B, T, F], t [B], text [B, L, Ft], text_mask [B, L], keep [B], mask [B, T]) -> x0``."""

  config: MDMConfig
  motion_features: int

  @nn.compact
  def __call__(
    self,
    x: Array,  # [B, T, F]
    t: Array,  # [B] int
    text: Array,  # [B, L, Ft]
    text_mask: Array,  # [B, L] bool
    keep: Array,  # [B] bool, False = condition dropped (CFG)
    mask: Array,  # [B, T] bool, valid frames
    deterministic: bool = True,
  ) -> Array:  # [B, T, F]
    c = self.config
    b, n = x.shape[:2]
    time = TimeEmbedding(c.latent_dim, c.latent_dim, "silu", name="time")(t)  # [B, D]
    words = TextConditioner(c.text, name="text")(text, text_mask, deterministic)  # [B, L, W]
    sentence = nn.Dense(c.latent_dim, name="text_proj")(masked_mean(words, text_mask))  # [B, D]
    cond = time + jnp.where(keep[:, None], sentence, 0.0)  # [B, D]
    frames = nn.Dense(c.latent_dim, name="input_proj")(x)  # [B, T, D]
    h = jnp.concatenate([cond[:, None], frames], axis=1)  # [B, 1 + T, D]
    h = h + sinusoidal_positions(n + 1, c.latent_dim)[None]
    h = nn.Dropout(c.dropout_rate)(h, deterministic=deterministic)
    key_mask = jnp.concatenate([jnp.ones((b, 1), bool), mask.astype(bool)], axis=1)  # [B, 1 + T]
    for i in range(c.num_layers):
      h = TransformerEncoderLayer(
        c.num_heads, c.ff_dim, c.dropout_rate, activation="gelu", name=f"layer_{i}"
      )(h, key_mask, deterministic)
    out = nn.Dense(self.motion_features, name="output_proj")(h[:, 1:])  # [B, T, F]
    return out * mask[..., None].astype(out.dtype)


__all__ = ["MDM", "MDMConfig"]
