"""LADiff (Sampieri et al., ECCV 2024, "Length-Aware Motion Synthesis via Latent Diffusion"; the
lecture, lecture.txt "Length-Aware VAE"): a length-aware transformer VAE and a latent denoiser.

* `LAVAE`: the latent is K sub-spaces (tokens) of D dims; a motion of f frames uses
  k = `active_subspaces(f)` of them. The encoder runs a transformer over [2K distribution tokens
  (mu_1..mu_K, logvar_1..logvar_K), frames]; the distribution tokens of sub-spaces >= k and the
  padded frames are masked out of the attention keys, and the inactive mu / logvar / z are zeroed.
  The decoder runs a transformer over [the K latent tokens, one query per output frame (sinusoidal
  positions)], the inactive latent tokens zeroed and masked out of the keys, the padded frames
  masked too; the frame outputs are projected to the motion features.
* `LatentDenoiser`: x0-prediction transformer over [condition token, K latent tokens] with the
  inactive tokens masked out of the keys and their outputs zeroed; the condition token is the
  timestep embedding plus the text vector (mean of the trainable `TextConditioner` over frozen
  MiniLM token states, projected), zeroed when the condition is dropped (classifier-free
  guidance) -- MDM's conditioning (`models/mdm.py`).
* ``length_aware=False`` is the MLD-style baseline (Chen et al. 2023): one fixed-size latent, all
  K tokens always active whatever the length (same sizes, so the same K x D capacity as LADiff's
  largest latent). MLD's own latent is 1 x 256: ``num_subspaces=1`` with ``length_aware=False``.

Settings (LADiff's public code, FACTS.md): K = 5, D = 256, r = 48 frames per sub-space,
k = ceil(f / r); VAE 9 layers, 4 heads, ff 1024; denoiser 9 layers. The lecture's slide writes
k = floor(f / r); the code's ceil is used (floor gives k = 0 for f < r). A length beyond K r uses
all K sub-spaces.
Choices left open (fields): dropout 0.1 and GELU, post-LN layers (the project's
`TransformerEncoderLayer`, as MDM); learned sub-space embeddings added to the latent tokens; the
frame queries are sinusoidal positions only (MLD's decoder queries are zeros + positions).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.models.attention import TransformerEncoderLayer, sinusoidal_positions
from motion_jax.models.denoiser_common import (
  TextConditioner,
  TextConditionerConfig,
  TimeEmbedding,
  masked_mean,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class LAVAEConfig:
  num_subspaces: int = 5  # K
  latent_dim: int = 256  # D
  frames_per_subspace: int = 48  # r
  num_layers: int = 9
  num_heads: int = 4
  ff_dim: int = 1024
  dropout_rate: float = 0.1
  length_aware: bool = True  # False: the MLD-style fixed latent (all K tokens always active)

  def __post_init__(self):
    if self.num_subspaces < 1 or self.frames_per_subspace < 1 or self.latent_dim < 2:
      raise ValueError(f"LAVAEConfig: K >= 1, r >= 1 and D >= 2 needed, got {self}")


def active_subspaces(lengths, cfg: LAVAEConfig):
  """k = ceil(f / r) clipped to [1, K] (LADiff code; module docstring); K for the fixed latent.
  Works on numpy and jax integer arrays alike."""
  xp = jnp if isinstance(lengths, jax.Array) else np
  lengths = xp.asarray(lengths)
  if not cfg.length_aware:
    return xp.full(lengths.shape, cfg.num_subspaces, dtype=xp.int32)
  k = -(-lengths // cfg.frames_per_subspace)
  return xp.clip(k, 1, cfg.num_subspaces).astype(xp.int32)


def active_mask(lengths, cfg: LAVAEConfig):
  """``[B, K]`` bool: sub-space j is active iff j < k(f)."""
  xp = jnp if isinstance(lengths, jax.Array) else np
  k = active_subspaces(lengths, cfg)
  return xp.arange(cfg.num_subspaces)[None, :] < k[:, None]


def _layers(cfg, h: Array, key_mask: Array, deterministic: bool, prefix: str) -> Array:
  for i in range(cfg.num_layers):
    h = TransformerEncoderLayer(
      cfg.num_heads, cfg.ff_dim, cfg.dropout_rate, activation="gelu", name=f"{prefix}_{i}"
    )(h, key_mask, deterministic)
  return h


class LAVAE(nn.Module):
  """Length-aware transformer VAE (module docstring). ``__call__`` encodes, samples and decodes;
  `encode` / `decode` are its halves."""

  config: LAVAEConfig
  motion_features: int

  def setup(self):
    c = self.config
    self.input_proj = nn.Dense(c.latent_dim)
    self.dist_tokens = self.param(
      "dist_tokens", nn.initializers.normal(0.02), (2 * c.num_subspaces, c.latent_dim)
    )
    self.subspace_embedding = self.param(
      "subspace_embedding", nn.initializers.normal(0.02), (c.num_subspaces, c.latent_dim)
    )
    self.encoder_layers = [
      TransformerEncoderLayer(c.num_heads, c.ff_dim, c.dropout_rate, activation="gelu")
      for _ in range(c.num_layers)
    ]
    self.decoder_layers = [
      TransformerEncoderLayer(c.num_heads, c.ff_dim, c.dropout_rate, activation="gelu")
      for _ in range(c.num_layers)
    ]
    self.output_proj = nn.Dense(self.motion_features)
    self.dropout = nn.Dropout(c.dropout_rate)

  def encode(self, x: Array, mask: Array, deterministic: bool = True) -> tuple[Array, Array, Array]:
    """``x [B, T, F], mask [B, T] -> (mu [B, K, D], logvar [B, K, D], active [B, K])`` with the
    inactive rows zeroed."""
    c = self.config
    b, n = x.shape[:2]
    kk = c.num_subspaces
    active = active_mask(mask.astype(jnp.int32).sum(1), c)  # [B, K]
    frames = self.input_proj(x)  # [B, T, D]
    dist = jnp.broadcast_to(self.dist_tokens[None], (b, 2 * kk, c.latent_dim))  # [B, 2K, D]
    h = jnp.concatenate([dist, frames], axis=1)  # [B, 2K + T, D]
    h = h + sinusoidal_positions(2 * kk + n, c.latent_dim)[None]
    key_mask = jnp.concatenate([active, active, mask.astype(bool)], axis=1)  # [B, 2K + T]
    h = self.dropout(h, deterministic=deterministic)
    for layer in self.encoder_layers:
      h = layer(h, key_mask, deterministic)
    keep = active[..., None].astype(h.dtype)  # [B, K, 1]
    return h[:, :kk] * keep, h[:, kk : 2 * kk] * keep, active

  def decode(
    self, z: Array, active: Array, mask: Array, deterministic: bool = True
  ) -> Array:  # [B, T, F]
    """``z [B, K, D]`` (inactive rows ignored), ``active [B, K]``, ``mask [B, T]`` -> motion."""
    c = self.config
    b, n = mask.shape
    z = jnp.where(active[..., None], z, 0.0) + self.subspace_embedding[None]  # [B, K, D]
    queries = jnp.broadcast_to(sinusoidal_positions(n, c.latent_dim)[None], (b, n, c.latent_dim))
    h = jnp.concatenate([z, queries], axis=1)  # [B, K + T, D]
    key_mask = jnp.concatenate([active, mask.astype(bool)], axis=1)  # [B, K + T]
    h = self.dropout(h, deterministic=deterministic)
    for layer in self.decoder_layers:
      h = layer(h, key_mask, deterministic)
    out = self.output_proj(h[:, c.num_subspaces :])  # [B, T, F]
    return out * mask[..., None].astype(out.dtype)

  def __call__(
    self, x: Array, mask: Array, key: Array | None = None, deterministic: bool = True
  ) -> tuple[Array, dict[str, Array]]:
    """Reconstruction ``[B, T, F]`` and ``{"mu", "logvar", "z", "active"}``; ``key`` samples
    z = mu + exp(logvar / 2) eps (the reparameterisation), None decodes mu."""
    mu, logvar, active = self.encode(x, mask, deterministic)
    z = mu
    if key is not None:
      z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape, mu.dtype)
    z = z * active[..., None].astype(z.dtype)
    recon = self.decode(z, active, mask, deterministic)
    return recon, {"mu": mu, "logvar": logvar, "z": z, "active": active}


@dataclasses.dataclass(frozen=True)
class LatentDenoiserConfig:
  num_layers: int = 9
  num_heads: int = 4
  ff_dim: int = 1024
  dropout_rate: float = 0.1
  text: TextConditionerConfig = TextConditionerConfig()


class LatentDenoiser(nn.Module):
  """``(z_t [B, K, D], t [B], text [B, L, Ft], text_mask [B, L], keep [B], active [B, K]) -> z0``
  (module docstring); the width is the latent's D."""

  config: LatentDenoiserConfig

  @nn.compact
  def __call__(
    self,
    z: Array,  # [B, K, D]
    t: Array,  # [B] int
    text: Array,  # [B, L, Ft]
    text_mask: Array,  # [B, L] bool
    keep: Array,  # [B] bool, False = condition dropped (CFG)
    active: Array,  # [B, K] bool
    deterministic: bool = True,
  ) -> Array:  # [B, K, D]
    c = self.config
    b, kk, d = z.shape
    time = TimeEmbedding(d, d, "silu", name="time")(t)  # [B, D]
    words = TextConditioner(c.text, name="text")(text, text_mask, deterministic)  # [B, L, W]
    sentence = nn.Dense(d, name="text_proj")(masked_mean(words, text_mask))  # [B, D]
    cond = time + jnp.where(keep[:, None], sentence, 0.0)  # [B, D]
    tokens = nn.Dense(d, name="input_proj")(jnp.where(active[..., None], z, 0.0))  # [B, K, D]
    h = jnp.concatenate([cond[:, None], tokens], axis=1)  # [B, 1 + K, D]
    h = h + sinusoidal_positions(kk + 1, d)[None]
    h = nn.Dropout(c.dropout_rate)(h, deterministic=deterministic)
    key_mask = jnp.concatenate([jnp.ones((b, 1), bool), active], axis=1)  # [B, 1 + K]
    h = _layers(c, h, key_mask, deterministic, "layer")
    out = nn.Dense(d, name="output_proj")(h[:, 1:])  # [B, K, D]
    return out * active[..., None].astype(out.dtype)


__all__ = [
  "LAVAE",
  "LAVAEConfig",
  "LatentDenoiser",
  "LatentDenoiserConfig",
  "active_mask",
  "active_subspaces",
]
