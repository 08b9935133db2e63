"""Pose-estimation errors of a joint sequence against ground truth (BioVAE Table V's columns).

Input: joints ``[T, J, 3]`` in metres, both clips on the same frames and joints. Position errors
are returned in **millimetres**, the acceleration error in **m/s²**.

* `mpjpe`: mean over frames and joints of the Euclidean joint error. **Global by default**
  (``align_root=False``: no per-frame pelvis alignment), since the refinement corruptions here
  (foot sliding, floor offset) are global translations a root-aligned MPJPE cannot see; WHAM and
  the HMR literature report the root-aligned variant (``align_root=True``, root = joint 0).
* `pa_mpjpe`: per-frame Procrustes alignment (scale, rotation, translation) of ``pred`` onto
  ``gt``, Umeyama 1991's closed form (the Kabsch SVD with the reflection fix
  ``diag(1, 1, sign(det(U Vᵀ)))`` and the optimal scale trace(S D) / var(pred)), then MPJPE.
* `accel_error`: mean over interior frames and joints of ``|| Δ²pred - Δ²gt ||`` with the central
  second difference ``Δ²x_t = x_{t+1} - 2 x_t + x_{t-1}`` times ``fps²``: **m/s²**. The HMR code
  (VIBE/TCMR/WHAM ``compute_error_accel``) reports ``1000 Δ²`` in mm/frame² (multiply ours by
  ``1000 / fps²`` to get it: 2.5 at HumanML3D's 20 fps). BioVAE's Table V caption says its Accel
  is in m/s² (FACTS.md A6), but its numbers (WHAM 6.52 on 3DPW) are WHAM's own, which WHAM's code
  computes in mm/frame² at 30 fps; the two differ by 1000 / 900 there, so they are comparable
  only roughly. Root alignment as in `mpjpe` (``align_root``).
"""

from __future__ import annotations

import numpy as np


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
  if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
    raise ValueError(f"pred and gt must both be [T, J, 3], got {pred.shape} and {gt.shape}")
  return pred, gt


def _root_align(x: np.ndarray) -> np.ndarray:
  return x - x[:, :1]


def mpjpe(pred: np.ndarray, gt: np.ndarray, *, align_root: bool = False) -> float:
  """Mean per-joint position error in mm of ``pred`` vs ``gt`` ``[T, J, 3]`` (metres)."""
  pred, gt = _check(pred, gt)
  if align_root:
    pred, gt = _root_align(pred), _root_align(gt)
  return float(1000.0 * np.linalg.norm(pred - gt, axis=-1).mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
  """``pred [..., J, 3]`` moved by the similarity transform (s, R, t) minimising
  ``sum_j || s R pred_j + t - gt_j ||²`` per leading index (Umeyama 1991, eqs. 40-42)."""
  pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
  mu_p, mu_g = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
  p, g = pred - mu_p, gt - mu_g
  cov = np.einsum("...ji,...jk->...ik", g, p)  # [..., 3, 3] = sum_j g_j p_jᵀ
  u, sv, vt = np.linalg.svd(cov)
  d = np.ones(sv.shape)
  d[..., -1] = np.sign(np.linalg.det(u @ vt))  # reflection fix
  rot = u @ (d[..., :, None] * vt)  # U diag(d) Vᵀ
  var_p = (p**2).sum((-2, -1))
  scale = (sv * d).sum(-1) / np.maximum(var_p, 1e-12)
  aligned = scale[..., None, None] * np.einsum("...ik,...jk->...ji", rot, p)
  return aligned + mu_g


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
  """MPJPE in mm after per-frame Procrustes alignment (scale, rotation, translation)."""
  pred, gt = _check(pred, gt)
  return mpjpe(procrustes_align(pred, gt), gt)


def second_difference(x: np.ndarray, fps: float) -> np.ndarray:
  """``(x_{t+1} - 2 x_t + x_{t-1}) fps²`` over the interior frames: ``[T, ...] -> [T-2, ...]``."""
  return (x[2:] - 2.0 * x[1:-1] + x[:-2]) * fps**2


def accel_error(pred: np.ndarray, gt: np.ndarray, fps: float, *, align_root: bool = False) -> float:
  """Mean acceleration error in m/s² (see the module docstring); needs T >= 3."""
  pred, gt = _check(pred, gt)
  if pred.shape[0] < 3:
    raise ValueError(f"accel_error needs at least 3 frames, got {pred.shape[0]}")
  if align_root:
    pred, gt = _root_align(pred), _root_align(gt)
  diff = second_difference(pred, fps) - second_difference(gt, fps)
  return float(np.linalg.norm(diff, axis=-1).mean())


def estimation_errors(pred: np.ndarray, gt: np.ndarray, fps: float) -> dict[str, float]:
  """The three columns: ``{'mpjpe_mm', 'pa_mpjpe_mm', 'accel_ms2'}``."""
  return {
    "mpjpe_mm": mpjpe(pred, gt),
    "pa_mpjpe_mm": pa_mpjpe(pred, gt),
    "accel_ms2": accel_error(pred, gt, fps),
  }


__all__ = [
  "accel_error",
  "estimation_errors",
  "mpjpe",
  "pa_mpjpe",
  "procrustes_align",
  "second_difference",
]
