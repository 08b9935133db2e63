"""KinMo's level-conditioned masked generator (Zhang et al., arXiv 2411.15472, Sec. 3.4).

KinMo keeps MoMask's generator (Guo et al., CVPR 2024, Sec. 3.2) and replaces its CLIP text
condition by the hierarchical text embeddings ``mu_c``, ``mu_g``, ``mu_i`` (HTMA, eqs. 4-6), one
generator with shared weights for the three levels. `LevelConditionedMaskTransformer` is MoMask's
`motion_jax.models.momask.MaskTransformer` whose condition token is a projection of the level's
embedding (the same projection for every level: the embeddings share one space).

Choices the paper does not state (attributes):

* ``level_embedding``: a learned embedding of the level id (0 global, 1 group, 2 interaction)
  added to the condition token (True), so the shared generator knows which granularity conditions
  it; False feeds the level's embedding alone.
* The condition is dropped for classifier-free guidance by zeroing the whole condition token,
  level embedding included (as MoMask's module does with its text token).

Trajectory control (KinMo Sec. 3.4 cites OmniControl's ControlNet; details in the paper's
appendix C, not in its text): `ControlledMaskTransformer` is the same generator (identical
parameter names, so a trained generator's parameters load into it) whose body gets a control
branch, `ControlBranch`: a trainable copy of the body's transformer layers (initialised from the
main layers by the stage) reading the body's input plus a zero-initialised projection of the
per-token control signal (the target joint's positions over the token's frames); after each main
layer, the branch's layer output goes through a zero-initialised linear layer and is added to the
main stream (ControlNet's zero convolutions), so an untrained branch leaves the generator
unchanged. Choices: one branch layer per main layer; the control signal is given to the
conditional and the unconditional rows of classifier-free guidance alike.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from motion_jax.models.attention import TransformerEncoderLayer, sinusoidal_positions
from motion_jax.models.momask import TokenTransformerConfig, _Body

NUM_LEVELS = 3


class LevelConditionedMaskTransformer(nn.Module):
  """(ids [B, N] in 0..K+1, cond [B, F], level [B] int, keep [B] bool, valid [B, N] bool) ->
  logits [B, N, K]."""

  cfg: TokenTransformerConfig
  num_codes: int
  level_embedding: bool = True

  @nn.compact
  def __call__(self, ids, cond, level, keep, valid, *, deterministic: bool = True):
    d = self.cfg.latent_dim
    c = nn.Dense(d, name="text_proj")(cond)  # [B, D]
    if self.level_embedding:
      c = c + nn.Embed(NUM_LEVELS, d, name="level_embed")(level)
    c = c * keep[:, None].astype(c.dtype)
    x = nn.Embed(self.num_codes + 2, d, name="token_embed")(ids)  # [B, N, D]
    return _Body(self.cfg, self.num_codes, name="body")(c, x, valid, deterministic)


class ControlBranch(nn.Module):
  """ControlNet branch: (h [B, 1+N, D] the body's input, control [B, N, C], key_mask
  [B, 1+N]) -> one residual [B, 1+N, D] per main layer, zero at initialisation."""

  cfg: TokenTransformerConfig

  @nn.compact
  def __call__(self, h, control, key_mask, deterministic):
    c = self.cfg
    zero = nn.initializers.zeros
    ctl = nn.Dense(c.latent_dim, kernel_init=zero, name="control_in")(control)  # [B, N, D]
    h = h + jnp.concatenate([jnp.zeros_like(ctl[:, :1]), ctl], axis=1)
    out = []
    for i in range(c.num_layers):
      h = TransformerEncoderLayer(
        c.num_heads, c.ff_dim, c.dropout, activation=c.activation, name=f"layer_{i}"
      )(h, key_mask, deterministic)
      out.append(nn.Dense(c.latent_dim, kernel_init=zero, name=f"zero_{i}")(h))
    return out


class _ControlledBody(nn.Module):
  """`motion_jax.models.momask._Body` (same parameter names) with a `ControlBranch` whose
  residuals are added after each layer."""

  cfg: TokenTransformerConfig
  num_codes: int

  @nn.compact
  def __call__(self, cond_tok, x, valid, control, deterministic):
    c = self.cfg
    x = x + sinusoidal_positions(x.shape[1], c.latent_dim)[None]
    h = jnp.concatenate([cond_tok[:, None], x], axis=1)  # [B, 1 + N, D]
    key_mask = jnp.concatenate([jnp.ones_like(valid[:, :1]), valid], axis=1)
    h = nn.Dropout(c.dropout)(h, deterministic=deterministic)
    res = ControlBranch(c, name="control")(h, control, key_mask, deterministic)
    for i in range(c.num_layers):
      h = TransformerEncoderLayer(
        c.num_heads, c.ff_dim, c.dropout, activation=c.activation, name=f"layer_{i}"
      )(h, key_mask, deterministic)
      h = h + res[i]
    h = nn.LayerNorm(name="out_norm")(h[:, 1:])
    return nn.Dense(self.num_codes, name="head")(h)  # [B, N, K]


class ControlledMaskTransformer(nn.Module):
  """`LevelConditionedMaskTransformer` with trajectory control: (ids, cond, level, keep, valid,
  control [B, N, C]) -> logits [B, N, K]; parameters = the generator's + ``body/control``."""

  cfg: TokenTransformerConfig
  num_codes: int
  level_embedding: bool = True

  @nn.compact
  def __call__(self, ids, cond, level, keep, valid, control, *, deterministic: bool = True):
    d = self.cfg.latent_dim
    c = nn.Dense(d, name="text_proj")(cond)
    if self.level_embedding:
      c = c + nn.Embed(NUM_LEVELS, d, name="level_embed")(level)
    c = c * keep[:, None].astype(c.dtype)
    x = nn.Embed(self.num_codes + 2, d, name="token_embed")(ids)
    return _ControlledBody(self.cfg, self.num_codes, name="body")(
      c, x, valid, control, deterministic
    )


__all__ = [
  "NUM_LEVELS",
  "ControlBranch",
  "ControlledMaskTransformer",
  "LevelConditionedMaskTransformer",
]
