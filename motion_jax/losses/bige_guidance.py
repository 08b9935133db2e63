"""BIGE guidance objective: the property predictor g_alpha's terms (BIGE eqs. 2-4, Table 1).

Pure functions of decoded candidates, batched over candidates B. Units: radians, metres, seconds.
`motion_jax.guidance.bige` decodes the latents through the frozen decoder, surrogate and FK and
weights these terms (eq. 4) plus the proximity term (eq. 3) into the total it minimises.

Forms as implemented (where Table 1 and the public code LIMO_Surrogate.py differ, the form used
is named; the paper-faithful forms are the subject of the BIGE fidelity work):
* `pelvis_tilt_at_peak`: tilt^2 at the peak of vasmed activation, the peak located by a soft
  arg-max over time (temperature `sharpness`).
* `asymmetry`: mean (left - right)^2 of hip flexion, knee angle, ankle angle (Table 1 L_asymm).
* `angular_velocity`: mean (dq/dt)^2 over rotational coordinates (Table 1 L_omega).
* `com_velocity`: mean |dCOM/dt|^2 (Table 1 L_vCOM).
* `com_acceleration`: mean smooth-L1 (beta 0.01) of the Laplacian [1, -2, 1] of the COM (the
  code's form of Table 1 L_aCOM).
* `foot_sliding`: mean over foot joints of a soft contact weight x |horizontal velocity|^2
  (Table 1 L_slide with contact weighting).
* `ground`: squared soft lowest point of the body (the code's "foot" term).
* `activation_range`: sum over the two vasmed muscles of max(peak - high, low - peak, 0) with the
  peak over time (Table 1 L_MAC).
* `temporal`: mean squared first difference of the decoded (normalised) motion (the code's).
* `proximity`: min over training latents e_n of ||z - e_n||_F (eq. 3).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from motion_jax.losses.common import smooth_l1

Array = jax.Array


def proximity(z: Array, train_latents: Array) -> Array:
  """min_n ||z - e_n||_F for one candidate z [L, D] and training latents [N, L, D] (eq. 3),
  via the expanded square (one matmul against all training latents)."""
  zf, ef = z.reshape(-1), train_latents.reshape(train_latents.shape[0], -1)
  d2 = jnp.sum(zf**2) - 2.0 * ef @ zf + jnp.sum(ef**2, -1)
  return jnp.sqrt(jnp.maximum(jnp.min(d2), 1e-12))


def pelvis_tilt_at_peak(pelvis_tilt: Array, vasmed: Array, sharpness: float = 0.02) -> Array:
  """Squared pelvis tilt [B, T] (rad) at the soft arg-max over time of the mean vasmed
  activation [B, T, 2] -> [B]."""
  peak_weight = jax.nn.softmax(vasmed.mean(-1) / sharpness, axis=-1)
  return jnp.sum(peak_weight * pelvis_tilt**2, -1)


def asymmetry(left: Array, right: Array) -> Array:
  """Mean squared left-right difference of paired angles [B, T, J] (rad) -> [B]."""
  return jnp.mean((left - right) ** 2, (1, 2))


def angular_velocity(angles: Array, fps: float) -> Array:
  """Mean squared angular velocity of angles [B, T, J] (rad) -> [B] (rad^2/s^2)."""
  return jnp.mean((jnp.diff(angles, axis=1) * fps) ** 2, (1, 2))


def com_velocity(com: Array, fps: float) -> Array:
  """Mean squared speed of the COM [B, T, 3] (m) -> [B] (m^2/s^2)."""
  return jnp.mean(jnp.sum((jnp.diff(com, axis=1) * fps) ** 2, -1), -1)


def com_acceleration(com: Array, beta: float = 0.01) -> Array:
  """Mean smooth-L1 (beta) of the discrete Laplacian [1, -2, 1] of the COM [B, T, 3] -> [B]."""
  lap = com[:, 2:] - 2.0 * com[:, 1:-1] + com[:, :-2]
  return smooth_l1(lap, jnp.zeros_like(lap), beta=beta, axis=(1, 2))


def foot_sliding(feet: Array, fps: float, contact_height: float, softness: float = 0.005) -> Array:
  """Contact-weighted squared horizontal speed of foot joints [B, T, F, 3] (y up) -> [B]; a
  joint counts as in contact by sigmoid((contact_height - height) / softness)."""
  contact = jax.nn.sigmoid((contact_height - feet[:, :-1, :, 1]) / softness)
  horizontal = (jnp.diff(feet, axis=1) * fps)[..., jnp.array([0, 2])]
  return jnp.mean(contact * jnp.sum(horizontal**2, -1), (1, 2))


def ground(joint_heights: Array, softness: float = 0.01) -> Array:
  """Squared soft-min height of the joints [B, T, J] (m), averaged over time -> [B]."""
  soft_lowest = -softness * jax.nn.logsumexp(-joint_heights / softness, axis=-1)
  return jnp.mean(soft_lowest**2, -1)


def activation_range(activations: Array, low: float, high: float) -> Array:
  """Sum over muscles of the hinge max(peak - high, low - peak, 0) of the peak over time of
  activations [B, T, M] -> [B] (Table 1 L_MAC)."""
  peak = jnp.max(activations, axis=1)
  return jnp.sum(jnp.maximum(jnp.maximum(peak - high, low - peak), 0.0), -1)


def temporal(x: Array) -> Array:
  """Mean squared first difference over time of x [B, T, C] -> [B]."""
  return jnp.mean(jnp.diff(x, axis=1) ** 2, (1, 2))
