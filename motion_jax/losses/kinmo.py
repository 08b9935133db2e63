"""KinMo hierarchical text-motion alignment objectives (Zhang et al., "KinMo: Kinematic-aware
Human Motion Understanding and Generation", sec. 3.3; ``shared/papers/kinmo.txt``).

* :func:`kinmo_loss` (the paper's): for each semantic level ``T in {T_c, T_g, T_i}`` the TMR
  objective of the pair (level text, motion) - KL ``L_KL``, cross-modal embedding similarity
  ``L_E``, motion reconstruction ``L_R`` and the InfoNCE of eq. 7 with TMR's weights
  (:func:`motion_jax.losses.tmr_loss`) - summed over levels with per-level weights (1 each; eq. 7
  sums the InfoNCE over ``T`` unweighted)::

      L = sum_T w_T (L_R(T) + 1e-5 L_KL(T) + 1e-5 L_E(T) + 0.1 L_NCE(T))

  The motion-side parts of each level's TMR loss (reconstruction from the motion latent, the
  motion prior KL) are the same tensors for every level, so they carry the summed level weights.
* :func:`kinmo_nce_loss`: eq. 7 alone (one symmetric InfoNCE per level on the embeddings), the
  earlier InfoNCE-only objective, kept as the named option ``objective="nce"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax

from motion_jax.losses.common import info_nce
from motion_jax.losses.tmr import TMRLossWeights, tmr_loss

Array = jax.Array
_TMR_WEIGHTS = TMRLossWeights()


def kinmo_loss(
  outputs: Mapping,
  motion: Array,
  motion_mask: Array,
  caption_embeddings: Array | None = None,
  weights: TMRLossWeights = _TMR_WEIGHTS,
  level_weights: Mapping[str, float] | None = None,
) -> tuple[Array, dict[str, Array]]:
  """Per-level TMR objective summed over levels (KinMo sec. 3.3, eq. 7 and its three TMR terms).

  Args:
    outputs: as returned by :class:`motion_jax.models.kinmo_alignment.KinMoAlignment`:
      ``text`` ``{level: {"mu", "logvar", "latent"}}`` (``[B, D]``), ``motion`` ``{"mu",
      "logvar", "latent"}``, ``motion_from_text`` ``{level: [B, T, F]}``, ``motion_from_motion``
      ``[B, T, F]``.
    motion: ``[B, T, F]`` ground-truth motion features.
    motion_mask: ``[B, T]`` valid frames.
    caption_embeddings: optional ``[B, E]`` global-caption sentence embeddings (InfoNCE negative
      filtering, TMR).
    weights: TMR's term weights, temperature and filtering threshold.
    level_weights: optional per-level weights (default 1 each).
  Returns:
    ``(total, terms)``: ``terms["<level>/<term>"]`` the unweighted TMR terms of each level
    (``reconstruction``, ``kl``, ``latent``, ``contrastive``, ``total``) and ``terms["total"]``.
  """
  level_weights = level_weights or {}
  m = outputs["motion"]
  total, terms = 0.0, {}
  for level, t in outputs["text"].items():
    level_out = {
      "motion_from_text": outputs["motion_from_text"][level],
      "motion_from_motion": outputs["motion_from_motion"],
      "text_latent": t["latent"],
      "motion_latent": m["latent"],
      "text_mu": t["mu"],
      "text_logvar": t["logvar"],
      "motion_mu": m["mu"],
      "motion_logvar": m["logvar"],
    }
    value, level_terms = tmr_loss(level_out, motion, motion_mask, caption_embeddings, weights)
    total = total + level_weights.get(level, 1.0) * value
    terms.update({f"{level}/{k}": v for k, v in level_terms.items()})
  terms["total"] = total
  return total, terms


def kinmo_nce_loss(
  motion_embedding: Array,
  text_embeddings_per_level: Mapping[str, Array],
  temperature: float = 0.1,
  level_weights: Mapping[str, float] | None = None,
  caption_embeddings: Array | None = None,
  threshold: float = 0.8,
) -> tuple[Array, dict[str, Array]]:
  """Sum over levels of the symmetric InfoNCE between motion and level text (KinMo eq. 7 alone).

  Args:
    motion_embedding: ``[B, D]``.
    text_embeddings_per_level: e.g. ``{"global": e_c, "group": e_g, "interaction": e_i}``,
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
