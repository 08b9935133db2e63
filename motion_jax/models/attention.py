"""Generic transformer blocks shared by the text and motion encoders.

Conventions (also followed by the modules that reuse these blocks):

* Sequences are batch-major, ``[B, L, D]``.
* A *key mask* is a boolean ``[B, L]`` array that is ``True`` for real tokens and ``False`` for
  padding (the opposite of torch's ``key_padding_mask``).
* Dropout is active only when ``deterministic=False`` and needs the ``'dropout'`` rng stream.
* ``norm_first=False`` is the post-LN layout of BERT and of ``torch.nn.TransformerEncoderLayer``'s
  default (used by ACTOR / TEMOS / TMR); ``norm_first=True`` is the pre-LN layout.

The parameter names (``query``/``key``/``value``/``out``, ``attention_norm``, ``ff_in``/``ff_out``,
``ff_norm``) are stable: :mod:`motion_jax.models.text_encoder` maps pretrained BERT weights
onto them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
  # Exact (erf) GELU, as torch's "gelu" and BERT's "gelu" hidden_act.
  "gelu": lambda x: nn.gelu(x, approximate=False),
  "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
  "relu": nn.relu,
}


def get_activation(name: str) -> Callable[[Array], Array]:
  """Returns the activation function called ``name`` (``gelu``, ``gelu_tanh`` or ``relu``)."""
  try:
    return _ACTIVATIONS[name]
  except KeyError:
    choices = sorted(_ACTIVATIONS)
    raise ValueError(f"Unknown activation {name!r}; choose from {choices}") from None


def sinusoidal_positions(length: int, dim: int, max_period: float = 10000.0) -> Array:
  """Fixed sinusoidal position table of Vaswani et al. 2017, ``[length, dim]``.

  Even channels hold ``sin(pos * w_i)`` and odd channels ``cos(pos * w_i)`` with
  ``w_i = max_period ** (-2i / dim)`` (the interleaved layout used by ACTOR/TEMOS/TMR).
  """
  if dim % 2:
    raise ValueError(f"sinusoidal_positions needs an even dim, got {dim}")
  pos = jnp.arange(length, dtype=jnp.float32)[:, None]  # [L, 1]
  even = jnp.arange(0, dim, 2, dtype=jnp.float32)  # [D/2]
  freqs = jnp.exp(even * (-math.log(max_period) / dim))  # [D/2]
  angles = pos * freqs[None, :]  # [L, D/2]
  table = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # [L, D/2, 2]
  return table.reshape(length, dim)  # [L, D]


def _layer_norm(eps: float, name: str) -> nn.LayerNorm:
  # Two-pass variance: matches torch's LayerNorm to ~1e-7 instead of E[x^2]-E[x]^2.
  return nn.LayerNorm(epsilon=eps, use_fast_variance=False, name=name)


def _residual(
  x: Array,
  branch: Callable[[Array], Array],
  norm: nn.LayerNorm,
  norm_first: bool,
  dropout_rate: float,
  deterministic: bool,
) -> Array:
  """``LN(x + Drop(branch(x)))`` (post-LN) or ``x + Drop(branch(LN(x)))`` (pre-LN)."""
  drop = nn.Dropout(dropout_rate)
  if norm_first:
    return x + drop(branch(norm(x)), deterministic=deterministic)
  return norm(x + drop(branch(x), deterministic=deterministic))


class MultiHeadAttention(nn.Module):
  """Multi-head scaled dot-product attention with separate q/k/v/out projections.

  Attributes:
    num_heads: number of heads; must divide ``qkv_features``.
    qkv_features: width of the q/k/v projections (default: width of ``inputs_q``).
    out_features: width of the output (default: width of ``inputs_q``).
    dropout_rate: dropout on the attention probabilities.
  """

  num_heads: int
  qkv_features: int | None = None
  out_features: int | None = None
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(
    self,
    inputs_q: Array,  # [B, Lq, Dq]
    inputs_kv: Array,  # [B, Lk, Dk]
    key_mask: Array | None = None,  # [B, Lk] bool, True = attend
    deterministic: bool = True,
  ) -> Array:  # [B, Lq, out_features]
    features = self.qkv_features or inputs_q.shape[-1]
    out_features = self.out_features or inputs_q.shape[-1]
    if features % self.num_heads:
      raise ValueError(f"qkv_features={features} not divisible by num_heads={self.num_heads}")
    head_dim = features // self.num_heads

    def split(x: Array) -> Array:  # [B, L, F] -> [B, L, H, F/H]
      return x.reshape(x.shape[:-1] + (self.num_heads, head_dim))

    q = split(nn.Dense(features, name="query")(inputs_q))  # [B, Lq, H, Dh]
    k = split(nn.Dense(features, name="key")(inputs_kv))  # [B, Lk, H, Dh]
    v = split(nn.Dense(features, name="value")(inputs_kv))  # [B, Lk, H, Dh]

    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(head_dim)  # [B, H, Lq, Lk]
    if key_mask is not None:
      big_neg = jnp.finfo(logits.dtype).min
      logits = jnp.where(key_mask[:, None, None, :], logits, big_neg)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)  # [B,H,Lq,Lk]
    weights = nn.Dropout(self.dropout_rate)(weights, deterministic=deterministic)
    attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v)  # [B, Lq, H, Dh]
    attended = attended.reshape(attended.shape[:2] + (features,))  # [B, Lq, F]
    return nn.Dense(out_features, name="out")(attended)  # [B, Lq, out_features]


class FeedForward(nn.Module):
  """Position-wise MLP ``ff_out(dropout(act(ff_in(x))))``."""

  hidden_dim: int
  activation: str = "gelu"
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: Array, deterministic: bool = True) -> Array:  # [B, L, D] -> [B, L, D]
    h = nn.Dense(self.hidden_dim, name="ff_in")(x)  # [B, L, F]
    h = get_activation(self.activation)(h)
    h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
    return nn.Dense(x.shape[-1], name="ff_out")(h)  # [B, L, D]


class TransformerEncoderLayer(nn.Module):
  """Self-attention + feed-forward block with residuals, post-LN or pre-LN.

  Post-LN (``norm_first=False``): ``x = LN(x + Drop(SA(x))); x = LN(x + Drop(FF(x)))``.
  Pre-LN: ``x = x + Drop(SA(LN(x))); x = x + Drop(FF(LN(x)))``.

  Attributes:
    num_heads: attention heads.
    ff_dim: hidden width of the feed-forward MLP.
    dropout_rate: dropout on the residual branches.
    attention_dropout_rate: dropout on attention probabilities (default: ``dropout_rate``).
    activation_dropout_rate: dropout after the MLP activation (default: ``dropout_rate``, as
      torch's TransformerEncoderLayer; BERT uses 0).
    activation: ``gelu`` (exact), ``gelu_tanh`` or ``relu``.
    norm_first: pre-LN when True.
    layer_norm_eps: LayerNorm epsilon (torch default 1e-5, BERT 1e-12).
  """

  num_heads: int
  ff_dim: int
  dropout_rate: float = 0.1
  attention_dropout_rate: float | None = None
  activation_dropout_rate: float | None = None
  activation: str = "gelu"
  norm_first: bool = False
  layer_norm_eps: float = 1e-5

  @nn.compact
  def __call__(
    self,
    x: Array,  # [B, L, D]
    key_mask: Array | None = None,  # [B, L] bool
    deterministic: bool = True,
  ) -> Array:  # [B, L, D]
    rate = self.dropout_rate
    attn_drop = rate if self.attention_dropout_rate is None else self.attention_dropout_rate
    act_drop = rate if self.activation_dropout_rate is None else self.activation_dropout_rate
    attention = MultiHeadAttention(self.num_heads, dropout_rate=attn_drop, name="self_attention")
    ff = FeedForward(self.ff_dim, self.activation, act_drop, name="ff")
    attn_norm = _layer_norm(self.layer_norm_eps, "attention_norm")
    ff_norm = _layer_norm(self.layer_norm_eps, "ff_norm")

    x = _residual(
      x,
      lambda h: attention(h, h, key_mask, deterministic),
      attn_norm,
      self.norm_first,
      rate,
      deterministic,
    )
    return _residual(
      x, lambda h: ff(h, deterministic), ff_norm, self.norm_first, rate, deterministic
    )


class CrossAttentionLayer(nn.Module):
  """A single cross-attention block with residual: ``x + Drop(MHA(x, memory))``, then LN.

  Post-LN: ``LN(x + Drop(CA(x, m)))``; pre-LN: ``x + Drop(CA(LN(x), m))``.
  """

  num_heads: int
  dropout_rate: float = 0.1
  norm_first: bool = False
  layer_norm_eps: float = 1e-5

  @nn.compact
  def __call__(
    self,
    x: Array,  # [B, Lq, D] queries
    memory: Array,  # [B, Lm, Dm] keys / values
    memory_mask: Array | None = None,  # [B, Lm] bool
    deterministic: bool = True,
  ) -> Array:  # [B, Lq, D]
    attention = MultiHeadAttention(
      self.num_heads,
      qkv_features=x.shape[-1],
      dropout_rate=self.dropout_rate,
      name="cross_attention",
    )
    norm = _layer_norm(self.layer_norm_eps, "cross_attention_norm")
    return _residual(
      x,
      lambda h: attention(h, memory, memory_mask, deterministic),
      norm,
      self.norm_first,
      self.dropout_rate,
      deterministic,
    )


class TransformerDecoderLayer(nn.Module):
  """Self-attention, cross-attention to a memory, feed-forward (torch's decoder layer)."""

  num_heads: int
  ff_dim: int
  dropout_rate: float = 0.1
  activation: str = "gelu"
  norm_first: bool = False
  layer_norm_eps: float = 1e-5

  @nn.compact
  def __call__(
    self,
    x: Array,  # [B, L, D]
    memory: Array,  # [B, Lm, D]
    key_mask: Array | None = None,  # [B, L] bool, mask of x (self-attention keys)
    memory_mask: Array | None = None,  # [B, Lm] bool
    deterministic: bool = True,
  ) -> Array:  # [B, L, D]
    rate = self.dropout_rate
    self_attention = MultiHeadAttention(self.num_heads, dropout_rate=rate, name="self_attention")
    attn_norm = _layer_norm(self.layer_norm_eps, "attention_norm")
    x = _residual(
      x,
      lambda h: self_attention(h, h, key_mask, deterministic),
      attn_norm,
      self.norm_first,
      rate,
      deterministic,
    )
    x = CrossAttentionLayer(
      self.num_heads, rate, self.norm_first, self.layer_norm_eps, name="cross"
    )(x, memory, memory_mask, deterministic)
    ff = FeedForward(self.ff_dim, self.activation, rate, name="ff")
    ff_norm = _layer_norm(self.layer_norm_eps, "ff_norm")
    return _residual(
      x, lambda h: ff(h, deterministic), ff_norm, self.norm_first, rate, deterministic
    )


# ------------------------------------------------------------------- blockwise attention core


def _attend_row(q: Array, k: Array, v: Array, keep: Array | None) -> tuple[Array, Array, Array]:
  """One (sequence, head) row: q [Tq, Dh] (already scaled), k, v [Tk, Dh], dropout multiplier
  keep [Tq, Tk] or None -> (out [Tq, Dh], row max m [Tq, 1], softmax denominator l [Tq, 1])."""
  s = q @ k.T  # [Tq, Tk]
  m = jnp.max(s, axis=-1, keepdims=True)
  e = jnp.exp(s - m)
  denom = jnp.sum(e, axis=-1, keepdims=True)
  return ((e if keep is None else e * keep) @ v) / denom, m, denom


def _attend_row_grad(q, k, v, out, m, denom, d_out, keep):
  """The row's input gradients, recomputing its probabilities p = exp(s - m) / l. With dropout
  multiplier M (p_d = p * M, out = p_d v): dv = p_d^T d_out, dp = (d_out v^T) * M and
  delta = rowsum(dp * p) = rowsum(d_out * out), so ds = p * (dp - delta) (the softmax Jacobian).

  The products with a transposed [Tq, Tk] operand (dk, dv) are written as small-transposed-times-
  big, [Dh, Tq] x [Tq, Tk], behind optimisation barriers: XLA otherwise folds the transposes into
  a dot that contracts the big operand's first axis, which XLA:CPU compiled to its generic dot
  instead of its XNNPACK fusions (3.5x slower at 64 x 128 x 128, the 11-head surrogate's sizes;
  benchmarks/README.md, "Where the CPU time goes")."""
  p = jnp.exp(q @ k.T - m) / denom  # [Tq, Tk]
  delta = jnp.sum(d_out * out, axis=-1, keepdims=True)  # [Tq, 1]
  dp = d_out @ v.T
  pd = p
  if keep is not None:
    dp, pd = dp * keep, p * keep
  ds = p * (dp - delta)
  qt, d_out_t = jax.lax.optimization_barrier((q.T, d_out.T))
  dk_t, dv_t = jax.lax.optimization_barrier((qt @ ds, d_out_t @ pd))  # [Dh, Tk]
  return ds @ k, dk_t.T, dv_t.T


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _blockwise(q: Array, k: Array, v: Array, keep: Array | None, block: int) -> Array:
  return _blockwise_fwd(q, k, v, keep, block)[0]


def _blockwise_fwd(q, k, v, keep, block):
  out, m, denom = jax.lax.map(lambda a: _attend_row(*a, keep), (q, k, v), batch_size=block)
  return out, (q, k, v, out, m, denom, keep)


def _blockwise_bwd(block, res, d_out):
  *rows, keep = res
  dq, dk, dv = jax.lax.map(lambda a: _attend_row_grad(*a, keep), (*rows, d_out), batch_size=block)
  return dq, dk, dv, None if keep is None else jnp.zeros_like(keep)


_blockwise.defvjp(_blockwise_fwd, _blockwise_bwd)


def blockwise_attention(
  q: Array, k: Array, v: Array, block: int = 64, keep: Array | None = None
) -> Array:
  """(softmax(q k^T) * keep) v over rows q [N, Tq, Dh], k, v [N, Tk, Dh] (N = batch x heads; q
  already scaled by 1/sqrt(Dh); no mask), `block` rows at a time, with a custom gradient that
  recomputes each block's probabilities instead of storing them. `keep` [Tq, Tk] is an optional
  dropout multiplier (0 or 1 / keep-probability) shared by every row: Flax's default
  `broadcast_dropout=True` attention dropout, one mask for all sequences and heads.

  Same maths as the plain formulation (softmax with the row maximum subtracted); what changes is
  memory traffic. Plain attention materialises the [N, Tq, Tk] scores, probabilities and their
  gradients, and keeps the probabilities for the backward pass. At BIGE's guidance sizes (48
  candidates x 11 heads x 128 frames) each such array is 35 MB, so a surrogate gradient needs
  341 MiB of temporaries, which XLA:CPU obtains fresh from the OS on every call (~110k page
  faults per call). Here a block's [block, Tq, Tk] arrays stay in cache and only O(N T Dh) is
  kept: 57 MiB of temporaries, and the muscle surrogate's input gradient is 1.6x faster on the
  2-core CPU (`benchmarks/hot_paths.py`). Per-row dropout masks are not supported: drawing them
  inside the blocks (threefry per row, or a counter hash) or up front cost more than the
  recomputation saved in a training step (batch 40 x 64: 68-121 ms against Flax's 72 ms).
  """
  if keep is not None and keep.shape != (q.shape[1], k.shape[1]):
    raise ValueError(f"keep must be [Tq, Tk] = {(q.shape[1], k.shape[1])}, got {keep.shape}")
  return _blockwise(q, k, v, keep, max(1, min(int(block), q.shape[0])))
