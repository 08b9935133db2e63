"""MoMask's two token transformers (Guo et al., CVPR 2024, Secs. 3.2-3.3).

* `MaskTransformer`: bidirectional transformer over the base-layer (layer 0) tokens of the
  residual VQ-VAE; the text condition (a frozen sentence embedding, projected) is the first token;
  predicts a distribution over the codebook at every motion position (MoMask Sec. 3.2).
* `ResidualTransformer`: predicts the tokens of residual layer j in 1..Q-1 from the sum of the
  embeddings of layers < j, the text token and an embedding of j (MoMask Sec. 3.3).
* `LengthEstimator`: the motion's token count from the text (MoMask's length estimator).

Sizes from MoMask's public code (FACTS.md): latent 384, 8 layers, 6 heads, feed-forward 1024,
dropout 0.2, GELU, post-LN (torch's default encoder layer), sinusoidal positions.
Choices where the paper is silent (fields or fixed here): the condition is dropped by zeroing the
text token (classifier-free guidance; ``keep [B]`` False); two extra token ids [MASK] = K and
[PAD] = K + 1 in the mask transformer's input table; the residual transformer adds the layer
embedding to every position and to the text token, keeps one token table per input layer and one
output head shared by all layers.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.attention import TransformerEncoderLayer, sinusoidal_positions


@dataclasses.dataclass(frozen=True)
class TokenTransformerConfig:
  latent_dim: int = 384
  num_layers: int = 8
  num_heads: int = 6
  ff_dim: int = 1024
  dropout: float = 0.2
  activation: str = "gelu"

  def __post_init__(self):
    if self.latent_dim % self.num_heads:
      raise ValueError(f"latent_dim {self.latent_dim} not divisible by {self.num_heads} heads")


def mask_id(num_codes: int) -> int:
  """The [MASK] token id of a codebook of ``num_codes`` codes."""
  return num_codes


def pad_id(num_codes: int) -> int:
  """The [PAD] token id (positions past the motion's length)."""
  return num_codes + 1


class _Body(nn.Module):
  """Text token + motion tokens -> transformer -> logits over the codebook at motion positions."""

  cfg: TokenTransformerConfig
  num_codes: int

  @nn.compact
  def __call__(self, cond_tok, x, valid, deterministic):  # [B, D], [B, N, D], [B, N]
    c = self.cfg
    n = x.shape[1]
    x = x + sinusoidal_positions(n, c.latent_dim)[None]
    h = jnp.concatenate([cond_tok[:, None], x], axis=1)  # [B, 1 + N, D]
    key_mask = jnp.concatenate([jnp.ones_like(valid[:, :1]), valid], axis=1)
    h = nn.Dropout(c.dropout)(h, deterministic=deterministic)
    for i in range(c.num_layers):
      h = TransformerEncoderLayer(
        c.num_heads, c.ff_dim, c.dropout, activation=c.activation, name=f"layer_{i}"
      )(h, key_mask, deterministic)
    h = nn.LayerNorm(name="out_norm")(h[:, 1:])
    return nn.Dense(self.num_codes, name="head")(h)  # [B, N, K]


class MaskTransformer(nn.Module):
  """(ids [B, N] in 0..K+1, text [B, F], keep [B] bool, valid [B, N] bool) -> logits [B, N, K]."""

  cfg: TokenTransformerConfig
  num_codes: int

  @nn.compact
  def __call__(self, ids, text, keep, valid, *, deterministic: bool = True):
    d = self.cfg.latent_dim
    cond = nn.Dense(d, name="text_proj")(text) * keep[:, None].astype(text.dtype)  # [B, D]
    x = nn.Embed(self.num_codes + 2, d, name="token_embed")(ids)  # [B, N, D]
    return _Body(self.cfg, self.num_codes, name="body")(cond, x, valid, deterministic)


class ResidualTransformer(nn.Module):
  """(codes [B, N, Q], layer [B] in 1..Q-1, text [B, F], keep [B], valid [B, N]) -> logits
  [B, N, K] of layer ``layer``; only layers < ``layer`` of ``codes`` are read."""

  cfg: TokenTransformerConfig
  num_codes: int
  num_quantizers: int

  @nn.compact
  def __call__(self, codes, layer, text, keep, valid, *, deterministic: bool = True):
    d, q = self.cfg.latent_dim, self.num_quantizers
    cond = nn.Dense(d, name="text_proj")(text) * keep[:, None].astype(text.dtype)  # [B, D]
    tables = self.param(
      "token_embed", nn.initializers.normal(stddev=1.0), (q - 1, self.num_codes, d)
    )  # one table per input layer 0..Q-2
    below = jnp.arange(q - 1)[None, :] < layer[:, None]  # [B, Q-1]
    emb = jax.vmap(lambda t, c: t[c], in_axes=(0, -1), out_axes=-2)(tables, codes[..., : q - 1])
    x = jnp.sum(emb * below[:, None, :, None].astype(emb.dtype), axis=2)  # [B, N, D]
    lay = nn.Embed(q, d, name="layer_embed")(layer)  # [B, D]
    return _Body(self.cfg, self.num_codes, name="body")(
      cond + lay, x + lay[:, None], valid, deterministic
    )


class LengthEstimator(nn.Module):
  """Text embedding [B, F] -> logits [B, num_lengths] over the token count (MoMask's length
  estimator, Sec. 4 / public code: an MLP classifier on the frozen text embedding; the width and
  depth here are choices: ``width`` -> width/4 with LayerNorm, LeakyReLU 0.2 and dropout)."""

  num_lengths: int
  width: int = 512
  dropout: float = 0.2

  @nn.compact
  def __call__(self, text, *, deterministic: bool = True):
    h = text
    for w in (self.width, self.width // 4):
      h = nn.Dense(w)(h)
      h = nn.LayerNorm()(h)
      h = nn.leaky_relu(h, 0.2)
      h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
    return nn.Dense(self.num_lengths)(h)
