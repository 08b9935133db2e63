"""Losses as pure functions of arrays.

Each function is self-contained (no shared state, no module imports beyond jax) so that several
models can share this file. Reductions are means unless a docstring says otherwise.

TMR (Petrovich, Black, Varol, "TMR: Text-to-Motion Retrieval Using Contrastive 3D Human Motion
Synthesis", ICCV 2023) trains with

    L = L_rec + 1e-5 * L_KL + 1e-5 * L_E + 0.1 * L_NCE          (TMR Sec. 3, eq. 1-3)

where L_rec is the smooth-L1 reconstruction of the motion decoded from the text latent and from
the motion latent (TEMOS), L_KL the four KL terms of TEMOS, L_E the smooth-L1 between the text and
motion latents, and L_NCE the symmetric InfoNCE with temperature 0.1 whose denominator drops
negatives whose captions are near-duplicates of the positive caption (negative filtering).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp

Array = jax.Array


# ----------------------------------------------------------------------------------------------
# Elementary losses
# ----------------------------------------------------------------------------------------------


def smooth_l1(pred: Array, target: Array, mask: Array | None = None, beta: float = 1.0) -> Array:
  """Smooth-L1 (Huber with slope 1) averaged over elements, as torch's ``SmoothL1Loss``.

  ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``.

  Args:
    pred, target: arrays of the same shape, e.g. ``[B, T, F]``.
    mask: optional boolean mask broadcastable to ``pred`` over its leading axes (e.g. ``[B, T]``
      valid frames); the mean is taken over the masked-in elements only.
    beta: transition point.
  Returns:
    Scalar loss.
  """
  d = jnp.abs(pred - target)
  per_elem = jnp.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)
  if mask is None:
    return jnp.mean(per_elem)
  m = mask.astype(per_elem.dtype).reshape(mask.shape + (1,) * (per_elem.ndim - mask.ndim))
  m = jnp.broadcast_to(m, per_elem.shape)
  return jnp.sum(per_elem * m) / jnp.maximum(jnp.sum(m), 1.0)


def gaussian_kl(
  mu_q: Array, logvar_q: Array, mu_p: Array | None = None, logvar_p: Array | None = None
) -> Array:
  """Mean over elements of ``KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)))`` (diagonal).

  ``p`` defaults to the standard normal. Per element:
  ``0.5 * (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1)``.
  The mean (not the sum) over latent dimensions follows the TEMOS/TMR implementation's reduction.
  """
  if mu_p is None:
    mu_p = jnp.zeros_like(mu_q)
  if logvar_p is None:
    logvar_p = jnp.zeros_like(logvar_q)
  ratio = (jnp.exp(logvar_q) + (mu_q - mu_p) ** 2) * jnp.exp(-logvar_p)
  kl = 0.5 * (logvar_p - logvar_q + ratio - 1.0)
  return jnp.mean(kl)


def _normalize(x: Array, eps: float = 1e-8) -> Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


def filtered_negatives_mask(text_embeddings: Array, threshold: float = 0.8) -> Array:
  """``[B, B]`` boolean mask of the similarity-matrix entries kept in the InfoNCE denominators.

  Entry ``(i, j)`` is dropped when ``i != j`` and the cosine similarity of the caption embeddings
  of ``i`` and ``j`` is above ``threshold`` (they are near-paraphrases, so ``j`` is a false
  negative for ``i``). The diagonal (positives) is always kept.

  Note: TMR states the threshold as 0.8 on its text-similarity score; its reference
  implementation rescales cosine to ``(cos + 1) / 2`` before thresholding, which corresponds to
  ``threshold=0.6`` here. The default follows this project's spec (cosine > 0.8).
  """
  e = _normalize(text_embeddings)
  sim = e @ e.T  # [B, B]
  eye = jnp.eye(sim.shape[0], dtype=bool)
  return eye | (sim <= threshold)


def info_nce(
  x: Array,
  y: Array,
  temperature: float = 0.1,
  text_embeddings: Array | None = None,
  threshold: float = 0.8,
) -> Array:
  """Symmetric InfoNCE over a batch of paired embeddings (CLIP / TMR eq. 3).

  ``S_ij = cos(x_i, y_j) / temperature``; the loss is the mean of the row-wise (x -> y) and
  column-wise (y -> x) cross-entropies with the diagonal as targets. With ``text_embeddings``
  (``[B, E]`` sentence embeddings of the captions), off-diagonal entries whose captions have
  cosine above ``threshold`` are removed from both denominators (see
  :func:`filtered_negatives_mask`).

  Args:
    x: ``[B, D]`` e.g. text latents.
    y: ``[B, D]`` e.g. motion latents.
    temperature: softmax temperature (TMR: 0.1).
    text_embeddings: optional ``[B, E]`` caption embeddings for negative filtering.
    threshold: cosine threshold for negative filtering.
  Returns:
    Scalar loss.
  """
  logits = (_normalize(x) @ _normalize(y).T) / temperature  # [B, B]
  if text_embeddings is not None:
    keep = filtered_negatives_mask(text_embeddings, threshold)
    logits = jnp.where(keep, logits, -jnp.inf)
  diag = jnp.diagonal(logits)  # [B]
  loss_xy = jax.nn.logsumexp(logits, axis=1) - diag  # [B]
  loss_yx = jax.nn.logsumexp(logits, axis=0) - diag  # [B]
  return 0.5 * (jnp.mean(loss_xy) + jnp.mean(loss_yx))


# ----------------------------------------------------------------------------------------------
# TMR objective
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TMRLossWeights:
  """Weights of the TMR objective (TMR paper, Sec. 4 implementation details)."""

  reconstruction: float = 1.0
  kl: float = 1e-5
  latent: float = 1e-5
  contrastive: float = 0.1
  temperature: float = 0.1
  threshold: float = 0.8


def tmr_loss(
  outputs: Mapping[str, Array],
  motion: Array,
  motion_mask: Array,
  text_embeddings: Array | None = None,
  weights: TMRLossWeights = TMRLossWeights(),
) -> tuple[Array, dict[str, Array]]:
  """TMR training loss.

  Args:
    outputs: dict with ``motion_from_text`` and ``motion_from_motion`` (``[B, T, F]``),
      ``text_latent``/``motion_latent`` (``[B, D]``, the latents used for decoding: sampled
      during training), ``text_mu``/``text_logvar``/``motion_mu``/``motion_logvar`` (``[B, D]``),
      as returned by :class:`motion_jax.models.tmr.TMR`.
    motion: ``[B, T, F]`` ground-truth motion features.
    motion_mask: ``[B, T]`` valid frames.
    text_embeddings: optional ``[B, E]`` sentence embeddings for InfoNCE negative filtering.
    weights: loss weights.
  Returns:
    ``(total, terms)`` with the unweighted terms ``reconstruction``, ``kl``, ``latent``,
    ``contrastive`` and the ``total``.
  """
  rec = smooth_l1(outputs["motion_from_text"], motion, motion_mask) + smooth_l1(
    outputs["motion_from_motion"], motion, motion_mask
  )
  t_mu, t_lv = outputs["text_mu"], outputs["text_logvar"]
  m_mu, m_lv = outputs["motion_mu"], outputs["motion_logvar"]
  # TEMOS: text and motion distributions pulled towards each other and towards N(0, I).
  kl = (
    gaussian_kl(t_mu, t_lv, m_mu, m_lv)
    + gaussian_kl(m_mu, m_lv, t_mu, t_lv)
    + gaussian_kl(t_mu, t_lv)
    + gaussian_kl(m_mu, m_lv)
  )
  latent = smooth_l1(outputs["text_latent"], outputs["motion_latent"])
  nce = info_nce(
    outputs["text_latent"],
    outputs["motion_latent"],
    weights.temperature,
    text_embeddings,
    weights.threshold,
  )
  total = (
    weights.reconstruction * rec
    + weights.kl * kl
    + weights.latent * latent
    + weights.contrastive * nce
  )
  terms = {"reconstruction": rec, "kl": kl, "latent": latent, "contrastive": nce, "total": total}
  return total, terms


# ----------------------------------------------------------------------------------------------
# KinMo hierarchical alignment objective
# ----------------------------------------------------------------------------------------------


def hierarchical_info_nce(
  motion_embedding: Array,
  text_embeddings_per_level: Mapping[str, Array],
  temperature: float = 0.1,
  level_weights: Mapping[str, float] | None = None,
  caption_embeddings: Array | None = None,
  threshold: float = 0.8,
) -> tuple[Array, dict[str, Array]]:
  """Sum over levels of the symmetric InfoNCE between motion and level text (KinMo eq. 7).

  Args:
    motion_embedding: ``[B, D]``.
    text_embeddings_per_level: e.g. ``{"global": e_g, "group": e_b, "interaction": e_i}``,
      each ``[B, D]``.
    temperature: InfoNCE temperature.
    level_weights: optional per-level weights (default 1 each).
    caption_embeddings: optional ``[B, E]`` global-caption sentence embeddings (negative
      filtering).
    threshold: filtering threshold (cosine).
  Returns:
    ``(total, {level: loss})``.
  """
  terms = {
    level: info_nce(emb, motion_embedding, temperature, caption_embeddings, threshold)
    for level, emb in text_embeddings_per_level.items()
  }
  level_weights = level_weights or {}
  total = sum(level_weights.get(level, 1.0) * v for level, v in terms.items())
  return total, terms
