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
* :func:`trajectory_loss`: the spatial-guidance objective of KinMo's trajectory control (Sec. 3.4,
  OmniControl's): the controlled joint's distance to its target trajectory.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

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


def trajectory_loss(pos: Array, target: Array, frames: Array) -> tuple[Array, dict[str, Array]]:
  """The objective of OmniControl's spatial guidance (Xie et al., ICLR 2024), used for
  KinMo's trajectory control (kinmo.txt Sec. 3.4, "Motion Trajectory Control"): the distance (m)
  of the controlled joint's global positions ``pos`` [B, T, 3] to the target ``target`` [B, T, 3]
  on the controlled frames ``frames`` [B, T] (bool, or non-negative weights), averaged over each
  clip's frames (weighted) and summed over clips (so each clip's gradient does not depend on the
  others). Terms: ``mean_distance`` (m, mean over clips)."""
  d = jnp.sqrt(jnp.sum(jnp.square(pos - target), axis=-1) + 1e-12)  # [B, T]
  w = frames.astype(d.dtype)
  per_clip = jnp.sum(d * w, axis=-1) / jnp.maximum(jnp.sum(w, axis=-1), 1.0)
  return jnp.sum(per_clip), {"mean_distance": jnp.mean(per_clip)}
