"""Masked token modelling as pure functions: MoMask's training corruption and its iterative
decoding (Guo et al., CVPR 2024, Secs. 3.2-3.4; the schedule is MaskGIT's, Chang et al. 2022).

Masked generative modelling is absorbing-state discrete diffusion, so it lives next to the
Gaussian samplers; like them it takes the network as a function and loops with `lax.fori_loop`.

* `cosine_mask_ratio`: gamma(tau) = cos(pi tau / 2) (MoMask eq. 3).
* `corrupt`: per sequence tau ~ U(0, 1), ceil-free ``round(gamma(tau) * length)`` (at least one)
  positions chosen uniformly among the valid ones; of those, 10 % replaced by a random code, 88 %
  of the rest by [MASK], the remainder left unchanged (MoMask Sec. 3.2, BERT's rule).
* `guided_logits`: classifier-free guidance of logits in one batched call,
  ``uncond + s (cond - uncond)`` (MoMask Sec. 3.4).
* `top_k_filter`: keep the top ``ceil((1 - thres) K)`` logits (MoMask's top-k 0.9 keeps 10 %).
* `decode_base`: iterative decoding (MoMask Sec. 3.4): start from all unknown tokens masked; at
  step s of S (tau_s = s / (S - 1)) mask the ``round(gamma(tau_s) n)`` least confident unknown
  tokens (at least one), predict them with guidance, sample after top-k filtering; confidence is
  the predicted token's probability, and tokens not re-masked at a step are final. Known tokens
  (inpainting, editing) are never masked and come back bit-for-bit.
* `decode_residual`: layers 1..Q-1 one after another, each sampled from the residual transformer
  with guidance (MoMask Sec. 3.4), known tokens kept.
* `decode`: both, one jitted function batched over prompts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
# (ids [B, N], text [B, F], keep [B], valid [B, N]) -> logits [B, N, K]
BaseLogitsFn = Callable[[Array, Array, Array, Array], Array]
# (codes [B, N, Q], layer [B], text [B, F], keep [B], valid [B, N]) -> logits [B, N, K]
ResidualLogitsFn = Callable[[Array, Array, Array, Array, Array], Array]


class DecodeConfig(NamedTuple):
  """MoMask's inference settings (public code, FACTS.md): 10 steps, CFG 4 (HumanML3D), residual
  CFG 5, top-k 0.9, temperature 1 (0 = greedy)."""

  steps: int = 10
  guidance_scale: float = 4.0
  residual_guidance_scale: float = 5.0
  top_k: float = 0.9
  temperature: float = 1.0


def cosine_mask_ratio(tau: Array) -> Array:
  """gamma(tau) = cos(pi tau / 2): the fraction of tokens masked at time tau (MoMask eq. 3)."""
  return jnp.cos(0.5 * jnp.pi * tau)


def _ranks(scores: Array) -> Array:
  """Rank of each entry along the last axis (0 = smallest), ties by position."""
  return jnp.argsort(jnp.argsort(scores, axis=-1), axis=-1)


def corrupt(
  key: Array,
  tokens: Array,
  valid: Array,
  num_codes: int,
  *,
  random_prob: float = 0.1,
  mask_prob: float = 0.88,
) -> tuple[Array, Array]:
  """MoMask's training corruption (Sec. 3.2; module docstring).

  Args:
    tokens: [B, N] int codes; valid: [B, N] bool (inside the length).
  Returns:
    (inputs [B, N] with [MASK] = K, random codes and [PAD] = K + 1 past the length,
     corrupted [B, N] bool: the positions the loss is taken on).
  """
  b, n = tokens.shape
  k_tau, k_pos, k_rand, k_code, k_mask = jax.random.split(key, 5)
  length = valid.sum(-1)  # [B]
  tau = jax.random.uniform(k_tau, (b,))
  num = jnp.maximum(jnp.round(cosine_mask_ratio(tau) * length), 1.0)  # [B]
  scores = jnp.where(valid, jax.random.uniform(k_pos, (b, n)), 2.0)
  corrupted = (_ranks(scores) < num[:, None]) & valid
  replace = corrupted & (jax.random.uniform(k_rand, (b, n)) < random_prob)
  masked = corrupted & ~replace & (jax.random.uniform(k_mask, (b, n)) < mask_prob)
  random_codes = jax.random.randint(k_code, (b, n), 0, num_codes)
  inputs = jnp.where(replace, random_codes, tokens)
  inputs = jnp.where(masked, num_codes, inputs)
  inputs = jnp.where(valid, inputs, num_codes + 1)
  return inputs.astype(jnp.int32), corrupted


def guided_logits(logits_fn: Callable[[Array], Array], batch: int, scale: float) -> Array:
  """Classifier-free guidance in one call: ``logits_fn(keep [2B]) -> [2B, ...]`` is evaluated
  with the condition kept for the first B rows and dropped for the last B;
  returns ``uncond + scale (cond - uncond)`` (MoMask Sec. 3.4)."""
  keep = jnp.concatenate([jnp.ones((batch,), bool), jnp.zeros((batch,), bool)])
  out = logits_fn(keep)
  cond, uncond = out[:batch], out[batch:]
  return uncond + scale * (cond - uncond)


def top_k_filter(logits: Array, thres: float) -> Array:
  """Logits outside the top ``ceil((1 - thres) K)`` set to -inf (MoMask's top-k, thres 0.9)."""
  k = max(1, math.ceil((1.0 - thres) * logits.shape[-1]))
  kth = jax.lax.top_k(logits, k)[0][..., -1:]
  return jnp.where(logits < kth, -jnp.inf, logits)


def sample_tokens(key: Array, logits: Array, temperature: float) -> Array:
  """Gumbel-max sample of softmax(logits / temperature); argmax when temperature == 0."""
  if temperature == 0:
    return jnp.argmax(logits, -1).astype(jnp.int32)
  g = jax.random.gumbel(key, logits.shape, logits.dtype)
  return jnp.argmax(logits / temperature + g, -1).astype(jnp.int32)


def _double(x: Array) -> Array:
  return jnp.concatenate([x, x], axis=0)


def decode_base(
  logits_fn: BaseLogitsFn,
  text: Array,
  valid: Array,
  key: Array,
  cfg: DecodeConfig,
  num_codes: int,
  known: Array | None = None,
  known_mask: Array | None = None,
  known_confidence: Array | None = None,
  return_confidence: bool = False,
) -> Array | tuple[Array, Array]:
  """Iterative decoding of the base layer (MoMask Sec. 3.4; module docstring).

  Args:
    logits_fn: the mask transformer, ``(ids, text, keep, valid) -> logits``.
    text: [B, F]; valid: [B, N] bool (tokens = frames / 4 of each length).
    known, known_mask: [B, N] given tokens and where they are given (inpainting); default none.
    known_confidence: [B, N] confidence reported for the known tokens (default 1).
    return_confidence: also return each token's confidence: the (guided, top-k filtered)
      probability it had when it was last sampled, ``known_confidence`` where it was given
      (KinMo's coarse-to-fine re-masking reads it, `motion_jax.diffusion.coarse_to_fine`).
  Returns:
    ids [B, N] int32 (codes inside the length, [PAD] = K + 1 past it), and with
    ``return_confidence`` confidence [B, N] float32 (0 past the length).
  """
  b, n = valid.shape
  if known is None:
    known = jnp.zeros((b, n), jnp.int32)
    known_mask = jnp.zeros((b, n), bool)
  known_mask = known_mask & valid
  unknown = valid & ~known_mask
  count = unknown.sum(-1).astype(jnp.float32)  # [B]
  ids0 = jnp.where(known_mask, known, num_codes)
  ids0 = jnp.where(valid, ids0, num_codes + 1).astype(jnp.int32)
  scores0 = jnp.where(unknown, 0.0, jnp.inf)
  if known_confidence is None:
    known_confidence = jnp.ones((b, n), jnp.float32)
  conf0 = jnp.where(known_mask, known_confidence, 0.0).astype(jnp.float32)
  steps = cfg.steps
  text2, valid2 = _double(text), _double(valid)

  def body(s, carry):
    ids, scores, final_conf, key = carry
    key, k_sample = jax.random.split(key)
    tau = s / max(steps - 1, 1)
    num = jnp.minimum(jnp.maximum(jnp.round(cosine_mask_ratio(tau) * count), 1.0), count)
    is_mask = (_ranks(scores) < num[:, None]) & unknown
    ids = jnp.where(is_mask, num_codes, ids)
    logits = guided_logits(
      lambda keep: logits_fn(_double(ids), text2, keep, valid2), b, cfg.guidance_scale
    )
    logits = top_k_filter(logits, cfg.top_k)
    pred = sample_tokens(k_sample, logits, cfg.temperature)
    ids = jnp.where(is_mask, pred, ids)
    probs = jax.nn.softmax(logits, -1)
    conf = jnp.take_along_axis(probs, pred[..., None], -1)[..., 0]
    scores = jnp.where(is_mask, conf, jnp.inf)
    final_conf = jnp.where(is_mask, conf, final_conf)
    return ids, scores, final_conf, key

  ids, _, final_conf, _ = jax.lax.fori_loop(0, steps, body, (ids0, scores0, conf0, key))
  if return_confidence:
    return ids, final_conf
  return ids


def decode_residual(
  logits_fn: ResidualLogitsFn,
  base: Array,
  text: Array,
  valid: Array,
  key: Array,
  cfg: DecodeConfig,
  num_quantizers: int,
  known: Array | None = None,
  known_mask: Array | None = None,
) -> Array:
  """Layers 1..Q-1 from the base-layer ids [B, N] (MoMask Sec. 3.4). ``known`` [B, N, Q] and
  ``known_mask`` [B, N] keep given tokens of every layer. Returns codes [B, N, Q] (0 past the
  length)."""
  b, n = base.shape
  q = num_quantizers
  codes = jnp.zeros((b, n, q), jnp.int32).at[..., 0].set(jnp.where(valid, base, 0))
  if known is None:
    known, known_mask = codes, jnp.zeros((b, n), bool)
  keep_given = known_mask & valid
  text2, valid2 = _double(text), _double(valid)

  def body(j, carry):
    codes, key = carry
    key, k_sample = jax.random.split(key)
    layer = jnp.full((2 * b,), j, jnp.int32)
    logits = guided_logits(
      lambda keep: logits_fn(_double(codes), layer, text2, keep, valid2),
      b,
      cfg.residual_guidance_scale,
    )
    pred = sample_tokens(k_sample, top_k_filter(logits, cfg.top_k), cfg.temperature)
    pred = jnp.where(keep_given, known[..., j], pred)
    pred = jnp.where(valid, pred, 0)
    return codes.at[..., j].set(pred), key

  codes, _ = jax.lax.fori_loop(1, q, body, (codes, key))
  return codes


def decode(
  base_fn: BaseLogitsFn,
  residual_fn: ResidualLogitsFn,
  text: Array,
  valid: Array,
  key: Array,
  cfg: DecodeConfig,
  num_codes: int,
  num_quantizers: int,
  known: Array | None = None,
  known_mask: Array | None = None,
) -> Array:
  """Base layer by iterative decoding, then the residual layers; codes [B, N, Q]."""
  k_base, k_res = jax.random.split(key)
  base = decode_base(
    base_fn,
    text,
    valid,
    k_base,
    cfg,
    num_codes,
    None if known is None else known[..., 0],
    known_mask,
  )
  return decode_residual(
    residual_fn, base, text, valid, k_res, cfg, num_quantizers, known, known_mask
  )


__all__ = [
  "DecodeConfig",
  "corrupt",
  "cosine_mask_ratio",
  "decode",
  "decode_base",
  "decode_residual",
  "guided_logits",
  "sample_tokens",
  "top_k_filter",
]
