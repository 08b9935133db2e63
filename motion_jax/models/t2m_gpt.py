"""T2M-GPT's text-conditioned causal transformer over VQ motion tokens (Zhang et al., CVPR 2023,
Sec. 3.2), with a key/value cache for sampling.

The sequence is [text, t_1, .., t_n]: the frozen sentence embedding, projected, is the first
token; position i predicts token i + 1 out of K codes and the End token (id K). Ids: codes 0..K-1,
End = K, [PAD] = K + 1 (input table K + 2 rows, output K + 1 classes).

Sizes from T2M-GPT's public code (FACTS.md): 9 layers, 1024 dims, 16 heads, block size 51.
Choices where the paper is silent or the public code differs in details (fields / fixed here):
pre-LN blocks with a 4x GELU MLP, fixed sinusoidal positions, dropout 0.1.

`__call__` runs the whole sequence with a causal mask (training, and the no-cache sampler);
`init_cache` / `T2MGPT.step` run one position at a time, reading and writing ``cache`` (a tuple
of per-layer (k, v) arrays [B, L, H, D/H]) at ``pos`` (the cached sampler).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.attention import sinusoidal_positions


@dataclasses.dataclass(frozen=True)
class GPTConfig:
  num_layers: int = 9
  dim: int = 1024
  num_heads: int = 16
  block_size: int = 51  # text token + up to 50 motion tokens
  dropout: float = 0.1

  def __post_init__(self):
    if self.dim % self.num_heads:
      raise ValueError(f"dim {self.dim} not divisible by {self.num_heads} heads")


def end_id(num_codes: int) -> int:
  return num_codes


def gpt_pad_id(num_codes: int) -> int:
  return num_codes + 1


class _Attention(nn.Module):
  num_heads: int
  dim: int
  dropout: float

  def setup(self):
    self.qkv = nn.Dense(3 * self.dim)
    self.out = nn.Dense(self.dim)
    self.drop = nn.Dropout(self.dropout)

  def _split(self, x):  # [B, L, 3D] -> 3 x [B, L, H, Dh]
    b, n, _ = x.shape
    q, k, v = jnp.split(x, 3, axis=-1)
    shape = (b, n, self.num_heads, self.dim // self.num_heads)
    return q.reshape(shape), k.reshape(shape), v.reshape(shape)

  def _attend(self, q, k, v, allowed, deterministic):  # allowed [Lq, Lk] or [B, Lq, Lk]
    scale = (self.dim // self.num_heads) ** -0.5
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * scale
    logits = jnp.where(allowed[..., None, :, :] if allowed.ndim == 3 else allowed, logits, -1e30)
    w = self.drop(jax.nn.softmax(logits, -1), deterministic=deterministic)
    o = jnp.einsum("bhqk,bkhd->bqhd", w, v)
    return self.out(o.reshape(o.shape[0], o.shape[1], self.dim))

  def __call__(self, x, deterministic):  # [B, L, D]
    q, k, v = self._split(self.qkv(x))
    n = x.shape[1]
    causal = jnp.tril(jnp.ones((n, n), bool))
    return self._attend(q, k, v, causal, deterministic)

  def step(self, x, cache, pos):  # x [B, 1, D]; cache (k, v) [B, L, H, Dh]; pos int
    q, k, v = self._split(self.qkv(x))
    k_cache = jax.lax.dynamic_update_slice_in_dim(cache[0], k, pos, axis=1)
    v_cache = jax.lax.dynamic_update_slice_in_dim(cache[1], v, pos, axis=1)
    allowed = (jnp.arange(k_cache.shape[1]) <= pos)[None, :]  # [1, L]
    return self._attend(q, k_cache, v_cache, allowed, True), (k_cache, v_cache)


class _Block(nn.Module):
  cfg: GPTConfig

  def setup(self):
    c = self.cfg
    self.ln1, self.ln2 = nn.LayerNorm(), nn.LayerNorm()
    self.attn = _Attention(c.num_heads, c.dim, c.dropout)
    self.fc1, self.fc2 = nn.Dense(4 * c.dim), nn.Dense(c.dim)
    self.drop = nn.Dropout(c.dropout)

  def _mlp(self, x, deterministic):
    return self.drop(self.fc2(nn.gelu(self.fc1(x))), deterministic=deterministic)

  def __call__(self, x, deterministic):
    x = x + self.drop(self.attn(self.ln1(x), deterministic), deterministic=deterministic)
    return x + self._mlp(self.ln2(x), deterministic)

  def step(self, x, cache, pos):
    a, cache = self.attn.step(self.ln1(x), cache, pos)
    x = x + a
    return x + self._mlp(self.ln2(x), True), cache


def init_cache(cfg: GPTConfig, batch: int) -> tuple:
  """Empty key/value cache: per layer (k, v) [B, block_size, H, dim / H]."""
  shape = (batch, cfg.block_size, cfg.num_heads, cfg.dim // cfg.num_heads)
  return tuple((jnp.zeros(shape), jnp.zeros(shape)) for _ in range(cfg.num_layers))


class T2MGPT(nn.Module):
  """Causal transformer: (text [B, F], ids [B, N]) -> logits [B, N + 1, K + 1]."""

  cfg: GPTConfig
  num_codes: int

  def setup(self):
    c = self.cfg
    self.text_proj = nn.Dense(c.dim)
    self.tok_embed = nn.Embed(self.num_codes + 2, c.dim)
    self.blocks = [_Block(c) for _ in range(c.num_layers)]
    self.ln_f = nn.LayerNorm()
    self.head = nn.Dense(self.num_codes + 1)
    self.drop = nn.Dropout(c.dropout)

  def _positions(self):
    return sinusoidal_positions(self.cfg.block_size, self.cfg.dim)

  def __call__(self, text, ids, *, deterministic: bool = True):
    n = ids.shape[1] + 1
    if n > self.cfg.block_size:
      raise ValueError(f"sequence of {n} tokens exceeds block_size {self.cfg.block_size}")
    x = jnp.concatenate([self.text_proj(text)[:, None], self.tok_embed(ids)], axis=1)
    x = self.drop(x + self._positions()[:n][None], deterministic=deterministic)
    for blk in self.blocks:
      x = blk(x, deterministic)
    return self.head(self.ln_f(x))

  def step(self, text, prev, cache, pos):
    """One position: the text token at ``pos == 0``, else the embedding of ``prev`` [B]; returns
    (logits [B, K + 1] for the next token, updated cache)."""
    x = jnp.where(pos == 0, self.text_proj(text), self.tok_embed(prev))[:, None]  # [B, 1, D]
    x = x + jax.lax.dynamic_slice_in_dim(self._positions(), pos, 1, axis=0)[None]
    new = []
    for blk, layer_cache in zip(self.blocks, cache):
      x, layer_cache = blk.step(x, layer_cache, pos)
      new.append(layer_cache)
    return self.head(self.ln_f(x))[:, 0], tuple(new)
