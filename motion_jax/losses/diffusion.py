"""Denoising objectives of the motion diffusion models (StableMoFusion, MDM).

* `masked_mse`: the length-masked simple loss, mean over valid frames and features of
  (prediction - target)^2 (DDPM eq. 14 with the target of the chosen parameterisation;
  StableMoFusion and MDM mask padded frames out).
* `geometric_losses`: MDM's optional terms on joint positions recovered from the predicted x0
  (Tevet et al. 2023, eqs. 2-4): L_pos = ||FK(x0) - FK(x0_hat)||^2, L_foot = ||(FK(x0_hat)_{i+1} -
  FK(x0_hat)_i) * f_i||^2 with f_i the ground-truth foot contact, L_vel = ||(x0_{i+1} - x0_i) -
  (x0_hat_{i+1} - x0_hat_i)||^2 (on the features). The caller recovers positions (a
  representation's FK); weights are `DiffusionLossWeights`, all 0 by default (StableMoFusion trains
  the simple loss only; MDM sets its lambdas per dataset, so they are config fields).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class DiffusionLossWeights:
  positions: float = 0.0
  foot_contact: float = 0.0
  velocity: float = 0.0


def _frame_mean(err: Array, mask: Array) -> Array:
  """Mean of ``err [B, T, ...]`` over valid frames ``mask [B, T]`` and trailing axes."""
  m = mask.astype(err.dtype).reshape(mask.shape + (1,) * (err.ndim - 2))
  per = err.size // (err.shape[0] * err.shape[1])
  return (err * m).sum() / jnp.maximum(m.sum() * per, 1.0)


def masked_mse(pred: Array, target: Array, mask: Array) -> Array:
  """Mean squared error over the valid frames (``mask [B, T]``) of ``[B, T, F]`` arrays."""
  return _frame_mean((pred - target) ** 2, mask)


def geometric_losses(
  x0: Array,
  x0_hat: Array,
  mask: Array,
  *,
  joints: Array | None = None,
  joints_hat: Array | None = None,
  foot_contact: Array | None = None,
  foot_joints: tuple[int, ...] = (),
) -> dict[str, Array]:
  """MDM eqs. 2-4 (module docstring): ``joints*`` ``[B, T, J, 3]``, ``foot_contact [B, T, K]``
  for the ``foot_joints`` (K indices into J). Terms whose inputs are missing are left out."""
  out = {}
  pair = mask[:, 1:] & mask[:, :-1]
  out["velocity"] = masked_mse(x0_hat[:, 1:] - x0_hat[:, :-1], x0[:, 1:] - x0[:, :-1], pair)
  if joints is not None and joints_hat is not None:
    out["positions"] = _frame_mean((joints_hat - joints) ** 2, mask)
    if foot_contact is not None and foot_joints:
      feet = joints_hat[:, :, list(foot_joints)]  # [B, T, K, 3]
      vel = (feet[:, 1:] - feet[:, :-1]) * foot_contact[:, :-1, :, None]
      out["foot_contact"] = _frame_mean(vel**2, pair)
  return out


def diffusion_loss(
  pred: Array,
  target: Array,
  mask: Array,
  weights: DiffusionLossWeights = DiffusionLossWeights(),
  geometric: dict[str, Array] | None = None,
) -> tuple[Array, dict[str, Array]]:
  """The simple loss plus the weighted geometric terms: ``(total, {term: value})``."""
  simple = masked_mse(pred, target, mask)
  terms = {"simple": simple}
  total = simple
  for name, value in (geometric or {}).items():
    w = getattr(weights, name)
    terms[name] = value
    if w:
      total = total + w * value
  return total, terms


__all__ = ["DiffusionLossWeights", "diffusion_loss", "geometric_losses", "masked_mse"]
