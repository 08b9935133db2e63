"""KinMo's coarse-to-fine generation as re-mask-and-refine masked decoding (pure functions).

KinMo (Zhang et al., arXiv 2411.15472, Sec. 3.4 "Coarse-to-fine generation", Fig. 3) generates
the motion tokens with one masked generator (MoMask's, shared weights) conditioned first on the
global text embedding ``mu_c``, then "re-feeds" the tokens to the generator conditioned on the
group-level embedding ``mu_g``, then again on the interaction-level ``mu_i``. How the tokens are
re-fed is not in the paper's text; here (config, `LevelSchedule`):

* level 0 (``mu_c``): MoMask's iterative decoding from all tokens masked
  (`motion_jax.diffusion.masked.decode_base`), ``steps[0]`` steps;
* level l > 0: **re-mask and refine**: of the previous level's generated tokens keep exactly
  ``round(keep_fraction[l] * n)`` (``n`` = the tokens that are not fixed by the caller) with the
  highest confidence (the guided, top-k filtered probability each had when it was last sampled),
  re-mask the others and decode them again with MoMask's cosine schedule in ``steps[l]`` steps,
  conditioned on level l's embedding. The kept tokens are inputs of the transformer, come back
  bit-for-bit and keep their confidence for the next level.
* tokens fixed by the caller (``known`` / ``known_mask``: editing, inpainting) are never masked.

``keep_fraction[0]`` is ignored (nothing exists before the first level). Ties in confidence are
broken by position (earlier kept first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from motion_jax.diffusion import masked

Array = jax.Array
# (ids [B, N], cond [B, F], level [B] int, keep [B], valid [B, N]) -> logits [B, N, K]
LevelLogitsFn = Callable[[Array, Array, Array, Array, Array], Array]


class LevelSchedule(NamedTuple):
  """Per-level decoding: ``steps[l]`` iterative-decoding steps and ``keep_fraction[l]`` of the
  previous level's tokens kept (l > 0). Guidance, top-k and temperature as in MoMask
  (`masked.DecodeConfig`)."""

  steps: tuple[int, ...] = (10, 5, 5)
  keep_fraction: tuple[float, ...] = (0.0, 0.5, 0.5)
  guidance_scale: float = 4.0
  top_k: float = 0.9
  temperature: float = 1.0

  def level_config(self, level: int) -> masked.DecodeConfig:
    return masked.DecodeConfig(
      steps=self.steps[level],
      guidance_scale=self.guidance_scale,
      top_k=self.top_k,
      temperature=self.temperature,
    )


def num_kept(candidates: Array, keep_fraction: float) -> Array:
  """Tokens to keep per sequence: ``round(keep_fraction * candidates.sum(-1))`` [B]."""
  return jnp.round(keep_fraction * candidates.sum(-1).astype(jnp.float32))


def keep_most_confident(confidence: Array, candidates: Array, keep_fraction: float) -> Array:
  """[B, N] bool: exactly `num_kept` of the ``candidates`` [B, N] with the highest ``confidence``
  (ties by position), the rest of the candidates to be re-masked (KinMo Sec. 3.4, re-feeding;
  module docstring)."""
  # rank 0 = most confident candidate; non-candidates rank last
  scores = jnp.where(candidates, -confidence, jnp.inf)
  ranks = jnp.argsort(jnp.argsort(scores, axis=-1, stable=True), axis=-1, stable=True)
  return (ranks < num_kept(candidates, keep_fraction)[:, None]) & candidates


class Trace(NamedTuple):
  """Per level: the ids after decoding [L, B, N] and the tokens kept from the level before
  [L, B, N] (level 0: none)."""

  ids: Array
  kept: Array


def decode(
  logits_fn: LevelLogitsFn,
  conds: Sequence[Array],
  levels: Sequence[int],
  valid: Array,
  key: Array,
  schedule: LevelSchedule,
  num_codes: int,
  known: Array | None = None,
  known_mask: Array | None = None,
) -> tuple[Array, Trace]:
  """Coarse-to-fine decoding of the base-layer tokens (KinMo Sec. 3.4; module docstring).

  Args:
    logits_fn: the level-conditioned mask transformer.
    conds: per level a [B, F] conditioning (``mu_c``, ``mu_g``, ``mu_i`` or plain sentence
      embeddings), coarse first.
    levels: the level id given to ``logits_fn`` with each of ``conds`` (0 global, 1 group, 2
      interaction).
    valid: [B, N] bool.
    known, known_mask: [B, N] tokens fixed by the caller (never re-masked); default none.
  Returns:
    (ids [B, N] int32 with [PAD] past the length, `Trace`).
  """
  if len(conds) != len(levels) or not conds:
    raise ValueError(f"{len(conds)} conditionings for levels {tuple(levels)}")
  b, n = valid.shape
  if known is None:
    known = jnp.zeros((b, n), jnp.int32)
    known_mask = jnp.zeros((b, n), bool)
  known_mask = known_mask & valid
  ids, conf = None, None
  trace_ids, trace_kept = [], []
  for cond, level in zip(conds, levels, strict=True):
    key, k = jax.random.split(key)

    def fn(x, text, keep, v, level=level):
      return logits_fn(x, text, jnp.full((x.shape[0],), level, jnp.int32), keep, v)

    if ids is None:
      kept = jnp.zeros((b, n), bool)
      given, given_ids, given_conf = known_mask, known, None
    else:
      kept = keep_most_confident(conf, valid & ~known_mask, schedule.keep_fraction[level])
      given = kept | known_mask
      given_ids = jnp.where(known_mask, known, ids)
      given_conf = conf
    ids, conf = masked.decode_base(
      fn, cond, valid, k, schedule.level_config(level), num_codes, given_ids, given,
      known_confidence=given_conf, return_confidence=True,
    )  # fmt: skip
    trace_ids.append(ids)
    trace_kept.append(kept)
  return ids, Trace(jnp.stack(trace_ids), jnp.stack(trace_kept))


__all__ = ["LevelLogitsFn", "LevelSchedule", "Trace", "decode", "keep_most_confident", "num_kept"]
