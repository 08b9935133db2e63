"""Autoregressive token sampling as pure functions (T2M-GPT, Zhang et al., CVPR 2023, Sec. 3.2):
the next token is drawn from softmax(logits / temperature) (optionally top-k filtered) until the
End token; one `lax.scan` over positions, with or without a key/value cache.

Kept next to the other samplers (`motion_jax.diffusion`), which the architecture allows to take
a model as a function. Choices (fields of `ARConfig`): End is not allowed before ``min_tokens``
(at least one: a motion has a token); after End, positions hold End; temperature 0 is greedy.

* `sample_cached(step_fn, cache, text, key, cfg, num_codes, max_tokens)`: ``step_fn(text, prev,
  cache, pos) -> (logits [B, K + 1], cache)``; one position per scan step (O(L) per step).
* `sample_full(full_fn, text, key, ...)`: ``full_fn(text, ids [B, max_tokens]) -> logits
  [B, max_tokens + 1, K + 1]``, the whole causal forward pass at every step (O(L^2) per step);
  the reference the cache must match.
Both return ``(tokens [B, max_tokens + 1] with End = K after the motion, lengths [B])``.

Length control: both take an optional ``target`` [B] int (tokens; 0 = free): a row with
``target > 0`` has End masked out of its logits before position ``target`` and every other token
masked out at it, so its length is exactly ``target`` (in 1..max_tokens) whatever the model
prefers. It is a traced argument: new lengths do not recompile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class ARConfig(NamedTuple):
  temperature: float = 1.0
  top_k: int = 0  # 0: no filtering
  min_tokens: int = 1  # End is not allowed before this many tokens


def _pick(key, logits, t, cfg: ARConfig, num_codes: int, target: Array | None = None):
  logits = logits.astype(jnp.float32)  # [B, K + 1]
  is_end = jnp.arange(num_codes + 1) == num_codes
  no_end = jnp.broadcast_to(t < max(cfg.min_tokens, 1), logits.shape[:1])  # [B]
  if target is not None:  # rows with target > 0: End exactly at position `target`
    forced = target > 0
    no_end = jnp.where(forced, t < target, no_end)
    logits = jnp.where((forced & (t >= target))[:, None] & ~is_end, -jnp.inf, logits)
  logits = jnp.where(no_end[:, None] & is_end, -jnp.inf, logits)
  if cfg.top_k:
    kth = jax.lax.top_k(logits, cfg.top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  if cfg.temperature == 0:
    return jnp.argmax(logits, -1).astype(jnp.int32)
  g = jax.random.gumbel(key, logits.shape)
  return jnp.argmax(logits / cfg.temperature + g, -1).astype(jnp.int32)


def _finish(tokens, num_codes):  # tokens [T, B] -> ([B, T] End-padded, lengths [B])
  tokens = tokens.T
  is_end = tokens == num_codes
  ended = jnp.cumsum(is_end, axis=1) > 0
  lengths = jnp.where(ended.any(1), jnp.argmax(is_end, axis=1), tokens.shape[1])
  return jnp.where(ended, num_codes, tokens), lengths.astype(jnp.int32)


def sample_cached(
  step_fn: Callable, cache, text: Array, key: Array, cfg: ARConfig, num_codes: int,
  max_tokens: int, target: Array | None = None,
) -> tuple[Array, Array]:  # fmt: skip
  """Sampling with a key/value cache (module docstring)."""
  b = text.shape[0]

  def body(carry, t):
    cache, prev, key = carry
    key, k = jax.random.split(key)
    logits, cache = step_fn(text, prev, cache, t)
    tok = _pick(k, logits, t, cfg, num_codes, target)
    return (cache, tok, key), tok

  init = (cache, jnp.zeros((b,), jnp.int32), key)
  _, tokens = jax.lax.scan(body, init, jnp.arange(max_tokens + 1))
  return _finish(tokens, num_codes)


def sample_full(
  full_fn: Callable, text: Array, key: Array, cfg: ARConfig, num_codes: int, max_tokens: int,
  target: Array | None = None,
) -> tuple[Array, Array]:  # fmt: skip
  """Sampling by re-running the whole causal sequence each step (module docstring)."""
  b = text.shape[0]
  ids0 = jnp.full((b, max_tokens + 1), num_codes + 1, jnp.int32)  # the last slot is never read

  def body(carry, t):
    ids, key = carry
    key, k = jax.random.split(key)
    logits = full_fn(text, ids[:, :max_tokens])
    logits = jax.lax.dynamic_index_in_dim(logits, t, axis=1, keepdims=False)
    tok = _pick(k, logits, t, cfg, num_codes, target)
    ids = jax.lax.dynamic_update_slice_in_dim(ids, tok[:, None], t, axis=1)
    return (ids, key), tok

  _, tokens = jax.lax.scan(body, (ids0, key), jnp.arange(max_tokens + 1))
  return _finish(tokens, num_codes)


__all__ = ["ARConfig", "sample_cached", "sample_full"]
