"""KinMo hierarchical text-motion alignment objective (Zhang et al., "KinMo: Kinematic-aware
Human Motion Understanding and Generation", eq. 7): one symmetric InfoNCE per text level (global,
group, interaction) against the motion embedding, summed with per-level weights (1 each in the
paper; a config field here).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax

from motion_jax.losses.common import info_nce

Array = jax.Array


def kinmo_loss(
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
