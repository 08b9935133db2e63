"""MoCLIP objective (MoCLIP, anonymous CVPR submission, Sec. 3.1; `../shared/papers/moclip.txt`):

    L_total = L_contrastive + lambda_distill * L_distill + L_alignment          (eq. 5)

* L_contrastive (eqs. 1-2): symmetric cross-entropy of the logits ``s * z_motion z_text^T`` and
  their transpose against the diagonal, with ``z`` L2-normalised and ``s = exp(logit_scale)`` the
  CLIP logit scale (the paper's "scaling matrix W derived from CLIP's logit scaling parameter",
  i.e. ``W = s I``). As in CLIP, the scale is capped: ``logit_scale`` is clipped at
  ``ln(max_logit_scale)`` (CLIP: 100), so its gradient vanishes above the cap.
* L_distill (eq. 3), the tethering loss: ``mean_i ||z_student_i - z_teacher_i||_2^2`` between the
  student and the frozen teacher text embeddings, as given (the stage passes the L2-normalised
  sentence embeddings; the teacher receives no gradient).
* L_alignment (eq. 4): ``1 - mean_i cos(z_motion_i, z_student_i)``.

The weights of L_contrastive and L_alignment are 1 in the paper; they are arguments here so that
the naive ablation (contrastive only) is expressible.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

CLIP_MAX_LOGIT_SCALE = 100.0


def _normalize(x: Array, eps: float = 1e-12) -> Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


def capped_logit_scale(logit_scale: Array, max_logit_scale: float = CLIP_MAX_LOGIT_SCALE) -> Array:
  """``exp(min(logit_scale, ln max_logit_scale))``: CLIP's multiplicative logit scale, capped."""
  if not max_logit_scale > 0:
    raise ValueError(f"max_logit_scale must be > 0, got {max_logit_scale}")
  return jnp.exp(jnp.minimum(logit_scale, math.log(max_logit_scale)))


def contrastive_loss(
  z_motion: Array,  # [N, E]
  z_text: Array,  # [N, E]
  logit_scale: Array,  # [] log of the inverse temperature
  max_logit_scale: float = CLIP_MAX_LOGIT_SCALE,
) -> Array:
  """Eqs. 1-2: ``(CE(s Zm Zt^T, y) + CE(s Zt Zm^T, y)) / 2``, ``y`` the diagonal, rows of ``Z``
  L2-normalised, ``s`` the capped logit scale. Returns a scalar."""
  zm, zt = _normalize(z_motion), _normalize(z_text)
  logits = capped_logit_scale(logit_scale, max_logit_scale) * zm @ zt.T  # [N, N]
  labels = jnp.arange(logits.shape[0])
  m2t = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  t2m = optax.softmax_cross_entropy_with_integer_labels(logits.T, labels).mean()
  return 0.5 * (m2t + t2m)


def distill_loss(z_student: Array, z_teacher: Array) -> Array:
  """Eq. 3 (tethering): ``(1/N) sum_i ||z_student_i - z_teacher_i||_2^2``; the teacher is
  wrapped in ``stop_gradient``. Returns a scalar."""
  diff = z_student - jax.lax.stop_gradient(z_teacher)  # [N, E]
  return jnp.mean(jnp.sum(diff**2, axis=-1))


def alignment_loss(z_motion: Array, z_student: Array) -> Array:
  """Eq. 4: ``1 - (1/N) sum_i cos(z_motion_i, z_student_i)``. Returns a scalar."""
  cos = jnp.sum(_normalize(z_motion) * _normalize(z_student), axis=-1)  # [N]
  return 1.0 - jnp.mean(cos)


def moclip_loss(
  z_motion: Array,  # [N, E] motion embeddings
  z_student: Array,  # [N, E] student text embeddings
  z_teacher: Array,  # [N, E] frozen teacher text embeddings
  logit_scale: Array,  # []
  *,
  distill_weight: float | Array = 0.4,  # may be traced
  alignment_weight: float = 1.0,
  contrastive_weight: float = 1.0,
  max_logit_scale: float = CLIP_MAX_LOGIT_SCALE,
) -> tuple[Array, dict[str, Array]]:
  """Eq. 5: ``L = w_c L_contrastive + lambda L_distill + w_a L_alignment`` (paper: w_c = w_a = 1,
  lambda = 0.4).

  Returns:
    ``(total, terms)`` with the unweighted ``contrastive``, ``distill``, ``alignment``, the
    effective ``logit_scale`` (``exp`` of the capped parameter) and the ``total``.
  """
  if z_motion.shape != z_student.shape or z_student.shape != z_teacher.shape:
    raise ValueError(
      f"embedding shapes differ: motion {z_motion.shape}, student {z_student.shape}, "
      f"teacher {z_teacher.shape}"
    )
  weights = {
    "distill": distill_weight,
    "alignment": alignment_weight,
    "contrastive": contrastive_weight,
  }
  for name, w in weights.items():
    if isinstance(w, (int, float)) and w < 0:  # a traced weight (one compiled step for a sweep)
      raise ValueError(f"{name}_weight must be >= 0, got {w}")
  con = contrastive_loss(z_motion, z_student, logit_scale, max_logit_scale)
  dis = distill_loss(z_student, z_teacher)
  ali = alignment_loss(z_motion, z_student)
  total = contrastive_weight * con + distill_weight * dis + alignment_weight * ali
  terms = {
    "contrastive": con,
    "distill": dis,
    "alignment": ali,
    "logit_scale": capped_logit_scale(logit_scale, max_logit_scale),
    "total": total,
  }
  return total, terms


__all__ = [
  "CLIP_MAX_LOGIT_SCALE",
  "alignment_loss",
  "capped_logit_scale",
  "contrastive_loss",
  "distill_loss",
  "moclip_loss",
]
