"""TMR objective (Petrovich, Black, Varol, "TMR: Text-to-Motion Retrieval Using Contrastive 3D
Human Motion Synthesis", ICCV 2023):

    L = L_rec + 1e-5 * L_KL + 1e-5 * L_E + 0.1 * L_NCE          (TMR Sec. 3, eqs. 1-3)

L_rec is the smooth-L1 reconstruction of the motion decoded from the text latent and from the
motion latent (TEMOS), L_KL the four KL terms of TEMOS, L_E the smooth-L1 between the text and
motion latents, and L_NCE the symmetric InfoNCE with temperature 0.1 whose denominator drops
negatives whose captions are near-duplicates of the positive caption (negative filtering).
The contrastive-only variant (`contrastive_loss`) is L_NCE alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax

from motion_jax.losses.common import gaussian_kl, info_nce, smooth_l1

Array = jax.Array


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


def contrastive_loss(
  text_latent: Array,
  motion_latent: Array,
  temperature: float = 0.1,
  caption_embeddings: Array | None = None,
  threshold: float = 0.8,
) -> tuple[Array, dict[str, Array]]:
  """L_NCE of TMR eq. 3 alone: symmetric InfoNCE of text vs motion latents ``[B, D]``, with
  negative filtering by caption embeddings ``[B, E]`` when given. Returns ``(loss, terms)``."""
  nce = info_nce(text_latent, motion_latent, temperature, caption_embeddings, threshold)
  return nce, {"contrastive": nce}
