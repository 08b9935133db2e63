"""BioVAE's physics losses (biovae.txt Sec. III-C, eqs. 8-9).

* **L_phys** = MSE(BioVAE's predicted accelerations, Ẍ_gt): the module's Euler-Lagrange output
  against the ground truth's joint accelerations (the paper: "L_phys = MSE(VAE(Θᵗ), Ẍ_gtᵗ)").
* **L_accel** (eq. 8) = MSE(Ẍ of the denoised motion, Ẍ_gt): the acceleration of the joints
  recovered from the final (corrected) x̂₀, against the same target.
* **L** (eq. 9) = L_diffusion + L_accel + L_phys, weights 1 in the paper (`BioVAELossWeights`).

Ẍ of joint positions is the backward second difference at ``fps``,
(X_t − 2 X_{t−1} + X_{t−2}) fps². It matches the module's causal view, in which frame t sees
X_{:t}. It is defined from the third frame on, and only where all three frames are valid.
The paper gives no unit for Ẍ and weights the terms 1. ``BioVAELossWeights.accel_unit`` chooses
it: ``"frame"`` (the default) takes the plain second difference, in m/frame², and ``"second"``
multiplies it by fps², giving m/s². In m/s² the terms reach ~1e3 on
HumanML3D-scale motion at 20 fps, against a diffusion loss of ~1e-2. At weight 1 that swamps the
denoising objective: in a 30-step test, the simple loss rose from 0.011 to 0.17. In m/frame² the
terms are fps⁴ = 1.6e5 times smaller and comparable to the diffusion loss. The module's Ẍ
(`models.biovae`) is trained in the same unit, so it inherits this choice.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

Array = jax.Array
ACCEL_UNITS = ("frame", "second")


@dataclasses.dataclass(frozen=True)
class BioVAELossWeights:
  accel: float = 1.0  # eq. 8
  phys: float = 1.0  # L_phys
  accel_unit: str = "frame"  # Ẍ in m/frame² ('frame') or m/s² ('second'); the paper is silent

  def __post_init__(self):
    if self.accel_unit not in ACCEL_UNITS:
      raise ValueError(f"accel_unit must be one of {ACCEL_UNITS}, got {self.accel_unit!r}")

  def difference_rate(self, fps: float) -> float:
    """The ``fps`` argument of `finite_acceleration` for this unit (1 gives m/frame²)."""
    return float(fps) if self.accel_unit == "second" else 1.0


def finite_acceleration(x: Array, fps: float) -> tuple[Array, Array]:
  """Backward second difference of ``x [B, T, ...]`` over time: ``(Ẍ [B, T-2, ...], frame index
  offset 2)``: row i is the acceleration at frame i + 2."""
  return (x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2]) * fps**2, 2


def acceleration_mask(mask: Array) -> Array:
  """Frames t >= 2 whose t, t-1 and t-2 are all valid: ``[B, T-2]``."""
  return mask[:, 2:] & mask[:, 1:-1] & mask[:, :-2]


def masked_accel_mse(pred: Array, target: Array, mask: Array) -> Array:
  """Mean over valid frames (``mask [B, T']``), joints and axes of (pred − target)²."""
  m = mask.astype(pred.dtype).reshape(mask.shape + (1,) * (pred.ndim - 2))
  per = pred.size // (pred.shape[0] * pred.shape[1])
  return (((pred - target) ** 2) * m).sum() / jnp.maximum(m.sum() * per, 1.0)


def physics_losses(
  joints: Array,
  joints_hat: Array,
  module_accel: Array,
  mask: Array,
  fps: float,
  accel_scale: Array | None = None,
  accel_mask: Array | None = None,
) -> dict[str, Array]:
  """``{"accel": L_accel, "phys": L_phys}`` for ground-truth joints, the joints of the corrected
  x̂₀ and the module's accelerations (all ``[B, T, J, 3]``), valid frames ``mask [B, T]``.

  ``accel_scale`` [B, J] (edit-aware training, `stages.biovae`): the module's Ẍ was scaled by it,
  so L_phys compares it with the equally scaled Ẍ_gt. ``accel_mask`` [B, T] (default ``mask``):
  the frames L_accel covers (edit-aware training leaves the edited examples out of it)."""
  target, k = finite_acceleration(joints, fps)
  valid = acceleration_mask(mask)
  generated, _ = finite_acceleration(joints_hat, fps)
  scaled = target if accel_scale is None else target * accel_scale[:, None, :, None]
  return {
    "accel": masked_accel_mse(
      generated, target, valid if accel_mask is None else acceleration_mask(accel_mask)
    ),
    "phys": masked_accel_mse(module_accel[:, k:], scaled, valid),
  }


def edit_accel_loss(joints: Array, joints_hat: Array, accel_scale: Array, mask: Array) -> Array:
  """Edit-aware training's term (ours; the paper does not say how editing is learned): the
  corrected motion's Ẍ against the ground truth's Ẍ scaled per joint by ``accel_scale`` [B, J],
  relative to Ẍ_gt's mean square so that it is unit-free (the unit's rate cancels):
  Σ (Ẍ(x̂₀) − s Ẍ_gt)² / Σ Ẍ_gt², over the valid frames ``mask`` [B, T] of the edited examples."""
  target, _ = finite_acceleration(joints, 1.0)
  generated, _ = finite_acceleration(joints_hat, 1.0)
  valid = acceleration_mask(mask)
  m = valid.astype(target.dtype)[..., None, None]
  err = (((generated - target * accel_scale[:, None, :, None]) ** 2) * m).sum()
  return err / jnp.maximum((target**2 * m).sum(), 1e-12)


def biovae_loss(
  diffusion_total: Array, physics: dict[str, Array], weights: BioVAELossWeights
) -> Array:
  """Eq. 9: the diffusion loss plus the weighted physics terms."""
  return diffusion_total + weights.accel * physics["accel"] + weights.phys * physics["phys"]


def muscle_pretrain_loss(
  u_pred: Array, u_target: Array, channel_mask: Array, frame_mask: Array
) -> tuple[Array, dict[str, Array]]:
  """Pre-training loss of the muscle mapping u(X) ("MIA pre-train", Tabs. III/IV): masked MSE.

  The paper does not give this loss (FACTS.md A1 lists the MIA pre-training loss as not in the
  text); the mean squared error of the activations is our choice. It averages
  (u_pred − u_target)² over the valid frames and the channels that have a target.

  Args:
    u_pred: ``[B, T, C]`` predicted activations (the module's ``BioVAEOutput.activations``).
    u_target: ``[B, T, C]`` target activations.
    channel_mask: ``[C]`` True where the channel has a target (the squat stand-in has no biceps).
    frame_mask: ``[B, T]`` True on valid frames.
  Returns:
    ``(total, {"muscle_mse": total})``.
  """
  m = frame_mask.astype(u_pred.dtype)[..., None] * channel_mask.astype(u_pred.dtype)
  mse = (((u_pred - u_target) ** 2) * m).sum() / jnp.maximum(m.sum(), 1.0)
  return mse, {"muscle_mse": mse}


__all__ = [
  "ACCEL_UNITS",
  "BioVAELossWeights",
  "acceleration_mask",
  "biovae_loss",
  "edit_accel_loss",
  "finite_acceleration",
  "masked_accel_mse",
  "muscle_pretrain_loss",
  "physics_losses",
]
