"""BIGE's muscle-activation surrogate: a small post-LN transformer over time, 33 -> 80.

Facts (BIGE paper; Rose-STL-Lab/BIGE surrogate code): the model width is the input width (33
coordinates, no input projection), learnable positional encoding over up to 196 frames, post-LN
layers of multi-head self-attention + ReLU feed-forward, a linear head to 80 activations and a
sigmoid (paper; later code versions replaced it), L1 loss. The paper uses 3 layers; the code
configures 3 heads / 128 ff (guidance script) or 11 heads / 256 ff (training script; the default
here). Tried (BIGE quick, 2026-11-30, one seed): 3 heads / ff 128 trains 2.4x faster per step and
guides 3.8x faster on the 2-core CPU, with similar held-out error (vasmed MAE 0.023 vs 0.020), but
guidance then found motions the surrogate scores as in range that are not squats (fidelity eq. 5
23.3 against 6.65 over three seeds with 11 heads); so the default stays 11 / 256.
Unlike the public code (which feeds batch-first tensors to a sequence-first attention, so it attends
across the batch), attention here is over time within each sequence.

Attention implementation (`attention`, ours; the same maths and parameters either way, so a
trained model runs under both): 'blockwise' (default) computes it `attention_block` (sequence,
head) rows at a time with a gradient that recomputes the probabilities
(`models.attention.blockwise_attention`); 'xla' is Flax's `MultiHeadDotProductAttention`. Attention
dropout is Flax's default under both: one [T, T] mask shared by every sequence and head, drawn from
the same key, so training with either drops the same entries. With 11 heads of 3 dims the plain
form is bound by memory traffic. On the 2-core CPU (`benchmarks/hot_paths.py`,
`benchmarks/surrogate_step.py`, AMD EPYC, 2026-12-02): at guidance sizes (48 candidates x 128
frames) 'blockwise' computes the surrogate's input gradient in 269 ms against 'xla''s 470 and its
forward pass in 77 ms against 324; a training step (batch 40 x 64, dropout 0.1) takes 103 ms
against 123.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.attention import blockwise_attention

ATTENTIONS = ("blockwise", "xla")


@dataclasses.dataclass(frozen=True)
class SurrogateConfig:
  """Architecture hyper-parameters; input/output widths and max_len are module attributes."""

  model_dim: int = 0  # 0: use the input width directly (paper/code); else project first
  num_layers: int = 3
  num_heads: int = 11
  ff_dim: int = 256
  dropout: float = 0.1
  attention: str = "blockwise"  # 'blockwise' | 'xla' (module docstring); same parameters
  attention_block: int = 64  # (sequence, head) rows per block of 'blockwise'

  def __post_init__(self):
    if self.attention not in ATTENTIONS:
      raise ValueError(f"surrogate attention must be one of {ATTENTIONS}, got {self.attention!r}")
    if self.attention_block < 1:
      raise ValueError(f"surrogate attention_block must be >= 1, got {self.attention_block}")


class BlockwiseSelfAttention(nn.Module):
  """Self-attention with `nn.MultiHeadDotProductAttention`'s parameters (query / key / value
  [D, H, D/H], out [H, D/H, D]) and maths (query scaled by 1/sqrt(D/H), no mask), computed by
  `blockwise_attention`. Dropout on the probabilities is Flax's default: one [T, T] mask for every
  sequence and head (`broadcast_dropout=True`), drawn from the same `'dropout'` key and shape as
  Flax's, so both implementations drop the same entries."""

  num_heads: int
  block: int = 64
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, *, deterministic: bool = True):  # [..., T, D]
    d = x.shape[-1]
    head_dim = d // self.num_heads
    t = x.shape[-2]

    def rows(name):  # [..., T, D] -> [N = batch x heads, T, D/H]
      h = nn.DenseGeneral((self.num_heads, head_dim), name=name)(x)  # [..., T, H, D/H]
      return jnp.moveaxis(h, -2, -3).reshape(-1, t, head_dim)

    q = rows("query") / jnp.sqrt(head_dim).astype(x.dtype)
    keep = None
    if self.dropout > 0.0 and not deterministic:
      keep_prob = 1.0 - self.dropout
      mask = jax.random.bernoulli(self.make_rng("dropout"), keep_prob, (1, 1, t, t))
      keep = mask.reshape(t, t).astype(x.dtype) / jnp.asarray(keep_prob, x.dtype)
    o = blockwise_attention(q, rows("key"), rows("value"), self.block, keep)  # [N, T, D/H]
    o = jnp.moveaxis(o.reshape(*x.shape[:-2], self.num_heads, t, head_dim), -3, -2)
    return nn.DenseGeneral(d, axis=(-2, -1), name="out")(o)  # [..., T, D]


class PostLNLayer(nn.Module):
  num_heads: int
  ff_dim: int
  dropout: float
  attention: str = "blockwise"
  attention_block: int = 64

  @nn.compact
  def __call__(self, x, *, train: bool):  # [B, T, D]
    d = x.shape[-1]
    name = "MultiHeadDotProductAttention_0"  # Flax's automatic name: one parameter tree for both
    if self.attention == "blockwise":
      h = BlockwiseSelfAttention(self.num_heads, self.attention_block, self.dropout, name=name)(
        x, deterministic=not train
      )
    else:
      h = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads,
        qkv_features=d,
        dropout_rate=self.dropout,
        deterministic=not train,
        name=name,
      )(x, x)
    x = nn.LayerNorm()(x + nn.Dropout(self.dropout, deterministic=not train)(h))
    h = nn.Dense(d)(nn.relu(nn.Dense(self.ff_dim)(x)))
    return nn.LayerNorm()(x + nn.Dropout(self.dropout, deterministic=not train)(h))


class MuscleSurrogate(nn.Module):
  """kinematics [B, T, C] (normalised; BIGE: C = 33) -> activations [B, T, output_dim] in (0, 1).

  `max_len` sizes the learnable positional table: the longest sequence the model will see.
  """

  cfg: SurrogateConfig
  output_dim: int = 80
  max_len: int = 196

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    c = self.cfg
    t = x.shape[-2]
    if t > self.max_len:
      raise ValueError(f"sequence length {t} exceeds the surrogate's max_len {self.max_len}")
    if c.model_dim:
      x = nn.Dense(c.model_dim)(x)
    d = x.shape[-1]
    if d % c.num_heads:
      raise ValueError(f"model width {d} is not divisible by num_heads={c.num_heads}")
    pos = self.param("pos_embedding", nn.initializers.zeros, (self.max_len, d))
    h = x + pos[:t]
    for _ in range(c.num_layers):
      h = PostLNLayer(c.num_heads, c.ff_dim, c.dropout, c.attention, c.attention_block)(
        h, train=train
      )
    return jax.nn.sigmoid(nn.Dense(self.output_dim)(h))
