"""Elementary losses shared by several objectives: smooth-L1, Gaussian KL, filtered InfoNCE, the
discrete Laplacian over time.

Pure functions of arrays (jax and optax only). Reductions are means unless a docstring says
otherwise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


# ----------------------------------------------------------------------------------------------
# Elementary losses
# ----------------------------------------------------------------------------------------------


def laplacian(x: Array) -> Array:
  """Discrete Laplacian [1, -2, 1] over time of x [B, T, C] -> [B, T-2, C]."""
  return x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2]


def smooth_l1(
  pred: Array,
  target: Array,
  mask: Array | None = None,
  beta: float = 1.0,
  axis: int | tuple[int, ...] | None = None,
) -> Array:
  """Smooth-L1 (Huber with slope 1) averaged over elements, as torch's ``SmoothL1Loss``.

  ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta`` (= ``optax.huber_loss / beta``).

  Args:
    pred, target: arrays of the same shape, e.g. ``[B, T, F]``.
    mask: optional boolean mask broadcastable to ``pred`` over its leading axes (e.g. ``[B, T]``
      valid frames); the mean is taken over the masked-in elements only.
    beta: transition point.
    axis: axes of the mean (default all; only without ``mask``).
  Returns:
    The mean loss (a scalar, or the array left after reducing ``axis``).
  """
  per_elem = optax.huber_loss(pred, target, delta=beta) / beta
  if mask is None:
    return jnp.mean(per_elem, axis=axis)
  if axis is not None:
    raise ValueError("smooth_l1: axis is not supported together with mask")
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
  """Symmetric InfoNCE over a batch of paired embeddings (CLIP; TMR eq. 3; KinMo eq. 7 per level).

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
