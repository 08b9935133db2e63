"""BIGE guidance objective: the terms of the property predictor g_alpha (BIGE eqs. 2-4, Table 1)
and the public code's objective (LIMO_Surrogate.py), as pure functions of decoded candidates.

Every function is batched over candidates B and returns [B]. Inputs are in the units the paper's
Table 1 and the public code use: angles in degrees, positions in metres, differences per frame
(Table 1 writes its losses as per-frame differences, without the frame rate).
`motion_jax.guidance.bige` picks the columns (pelvis tilt, leg pairs, pelvis translation ...),
weights the terms (eq. 4) and adds the proximity term (eq. 3).

Table 1 forms (the `weight_set="ours"` objective):
* `tilt_at_peak`: the signed pelvis tilt at the peak of vastus medialis activation (Table 1
  L_tilt); the peak frame is a soft arg-max over time (temperature `sharpness`) so the term is
  differentiable. The objective is its squared distance to a target, `(tilt - target)^2`: Table 1
  minimises the signed tilt itself, which has no minimum; a target is what a clinician sets.
* `asymmetry_sq`: mean over frames of the sum over leg pairs of (left - right)^2 (L_asymm).
* `angular_velocity_sq`: mean over frames of the sum over angles of the squared per-frame change
  (L_omega; its printed form `(K_t - K_t)^2` is read as the first difference).
* `com_velocity_sq`: mean over the T-1 transitions of |K^trans_{t+1} - K^trans_t|^2 (L_vCOM).
* `com_acceleration_sq`: mean over the T-2 interior frames of |Laplacian K^trans|^2 (L_aCOM).
* `sliding_sq`: mean over transitions of |p_low,t+1 - p_low,t|^2, p_low the 3-D position of the
  lowest joint centre (L_slide), soft-selected (`lowest_point`) so it is differentiable.
* `activation_range`: max(x - high, low - x, 0) of the vastus medialis (L_MAC), summed over the
  left and right muscles. Table 1 averages it over frames without saying what x is; at standing
  frames a squat's vasmed activation is necessarily low, so by default x is the peak over time
  (the public code's reading); `per_frame=True` averages the per-frame hinge instead.
Two terms that Table 1 does not list, kept because the code has them in some form:
* `ground_sq`: mean over frames of (soft lowest joint height - floor)^2 (the code's "foot").
* `temporal`: mean squared first difference of the decoded motion (the code's "temporal").

LIMO_Surrogate.py forms (the `weight_set="code"` objective, raw decoder units: degrees, metres):
`code_tilt` (mean tilt^2 over all frames), `code_knee_flex` (-mean knee angle^2), `code_symmetry`
(mean (left - right)^2 over frames and pairs), `code_foot` (mean lowest-point height^2; the code
uses <= 3 random frames through a non-differentiable call, here every frame), `code_foot_sliding`
(mean (Delta lowest-point height)^2), `temporal` (on the raw decoded motion), `code_temporal_trans`
(mean squared first difference of the pelvis translation, over frames and axes),
`code_com_acceleration` (smooth-L1 beta 0.01 of the Laplacian [1, -2, 1] of the pelvis
translation, replicate-padded to T frames) and `activation_range` (peak form).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from motion_jax.losses.common import laplacian, smooth_l1

Array = jax.Array


def proximity(z: Array, train_latents: Array) -> Array:
  """min_n ||z - e_n||_F for one candidate z [L, D] and training latents [N, L, D] (BIGE eq. 3),
  via the expanded square (one matmul against all training latents)."""
  zf, ef = z.reshape(-1), train_latents.reshape(train_latents.shape[0], -1)
  d2 = jnp.sum(zf**2) - 2.0 * ef @ zf + jnp.sum(ef**2, -1)
  return jnp.sqrt(jnp.maximum(jnp.min(d2), 1e-12))


# ------------------------------------------------------------------------- Table 1 (the paper)


def peak_weights(vasmed: Array, sharpness: float = 0.02) -> Array:
  """Soft one-hot [B, T] of the frame of peak activation of vasmed [B, T, M] (the muscle with the
  higher peak dominates): softmax over frames and muscles of a / sharpness, summed over muscles."""
  b, t, m = vasmed.shape
  w = jax.nn.softmax(vasmed.reshape(b, t * m) / sharpness, axis=-1)
  return w.reshape(b, t, m).sum(-1)


def tilt_at_peak(tilt: Array, vasmed: Array, sharpness: float = 0.02) -> Array:
  """Signed pelvis tilt [B, T] (deg) at the (soft) peak of vasmed [B, T, M] -> [B] (Table 1
  L_tilt)."""
  return jnp.sum(peak_weights(vasmed, sharpness) * tilt, -1)


def asymmetry_sq(left: Array, right: Array) -> Array:
  """mean_t sum_pairs (left - right)^2 of paired angles [B, T, P] (Table 1 L_asymm)."""
  return jnp.mean(jnp.sum((left - right) ** 2, -1), -1)


def angular_velocity_sq(angles: Array) -> Array:
  """mean_t sum_angles (theta_{t+1} - theta_t)^2 of angles [B, T, K] (Table 1 L_omega)."""
  return jnp.mean(jnp.sum(jnp.diff(angles, axis=1) ** 2, -1), -1)


def com_velocity_sq(trans: Array) -> Array:
  """1/(T-1) sum_t |K_{t+1} - K_t|^2 of the translation [B, T, 3] (Table 1 L_vCOM)."""
  return jnp.mean(jnp.sum(jnp.diff(trans, axis=1) ** 2, -1), -1)


def com_acceleration_sq(trans: Array) -> Array:
  """1/(T-2) sum_t |Laplacian K_t|^2 of the translation [B, T, 3] (Table 1 L_aCOM)."""
  return jnp.mean(jnp.sum(laplacian(trans) ** 2, -1), -1)


def lowest_point(joints: Array, softness: float = 0.01, up: int = 1) -> Array:
  """Soft position of the lowest joint centre of joints [B, T, J, 3] -> [B, T, 3]: positions
  weighted by softmax(-height / softness) over joints."""
  w = jax.nn.softmax(-joints[..., up] / softness, axis=-1)
  return jnp.sum(w[..., None] * joints, -2)


def sliding_sq(p_low: Array) -> Array:
  """1/(T-1) sum_t |p_low,t+1 - p_low,t|^2 of the lowest point [B, T, 3] (Table 1 L_slide)."""
  return jnp.mean(jnp.sum(jnp.diff(p_low, axis=1) ** 2, -1), -1)


def ground_sq(joint_heights: Array, floor: Array | float, softness: float = 0.01) -> Array:
  """mean_t (soft-min joint height - floor)^2 of heights [B, T, J] (m): keeps the lowest joint on
  the floor without pushing it through."""
  soft_lowest = -softness * jax.nn.logsumexp(-joint_heights / softness, axis=-1)
  return jnp.mean((soft_lowest - floor) ** 2, -1)


def activation_range(activations: Array, low: float, high: float, per_frame: bool = False) -> Array:
  """sum over muscles of max(x - high, low - x, 0) of activations [B, T, M] (Table 1 L_MAC);
  x = the peak over time, or every frame averaged over time with `per_frame`."""
  x = activations if per_frame else jnp.max(activations, axis=1, keepdims=True)
  hinge = jnp.maximum(jnp.maximum(x - high, low - x), 0.0)
  return jnp.sum(jnp.mean(hinge, 1), -1)


def temporal(x: Array) -> Array:
  """Mean squared first difference over time of x [B, T, C] -> [B]."""
  return jnp.mean(jnp.diff(x, axis=1) ** 2, (1, 2))


# ------------------------------------------------------------------ LIMO_Surrogate.py (the code)


def code_tilt(tilt: Array) -> Array:
  """Mean pelvis tilt^2 over all frames, tilt [B, T] in degrees."""
  return jnp.mean(tilt**2, -1)


def code_knee_flex(knees: Array) -> Array:
  """-mean knee angle^2 over frames and both knees [B, T, 2] (deg): rewards deep squats."""
  return -jnp.mean(knees**2, (1, 2))


def code_symmetry(left: Array, right: Array) -> Array:
  """Mean (left - right)^2 over frames and pairs [B, T, P] (deg)."""
  return jnp.mean((left - right) ** 2, (1, 2))


def code_foot(joint_heights: Array) -> Array:
  """Mean over frames of the lowest joint height^2, heights [B, T, J] (m)."""
  return jnp.mean(jnp.min(joint_heights, -1) ** 2, -1)


def code_foot_sliding(joint_heights: Array) -> Array:
  """Mean over transitions of the squared change of the lowest joint height [B, T, J] (m)."""
  return jnp.mean(jnp.diff(jnp.min(joint_heights, -1), axis=1) ** 2, -1)


def code_temporal_trans(trans: Array) -> Array:
  """Mean squared first difference of the pelvis translation [B, T, 3] over frames and axes."""
  return jnp.mean(jnp.diff(trans, axis=1) ** 2, (1, 2))


def code_com_acceleration(trans: Array, beta: float = 0.01) -> Array:
  """Mean smooth-L1 (beta) of the Laplacian [1, -2, 1] of the translation [B, T, 3], the ends
  replicate-padded so the Laplacian has T frames."""
  padded = jnp.concatenate([trans[:, :1], trans, trans[:, -1:]], axis=1)
  lap = laplacian(padded)
  return smooth_l1(lap, jnp.zeros_like(lap), beta=beta, axis=(1, 2))
