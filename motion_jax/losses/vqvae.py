"""Motion VQ-VAE objective (BIGE eq. 1; T2M-GPT's training loss, which BIGE's code uses).

    L_vq = L_rec(x_hat, x) + lambda_temp * L_temp(x_hat) + lambda_commit * ||z_e - sg(z_q)||^2

* `reconstruction_loss`: smooth-L1 (`kind='smooth_l1'`, beta 1: T2M-GPT's paper and code, BIGE's
  code) or squared error (`kind='l2'`: BIGE eq. 1's L2, normalised as a mean like the code's
  terms). The library default is T2M-GPT's smooth-L1; the BIGE experiments set `l2`
  (`experiments.bige.BIGE_VQ`), the paper's form, with the code's smooth-L1 as the option.
* `temporal_smoothness`: mean squared first difference over time of the reconstruction (eq. 1's
  L_temp as the public code computes it, a mean instead of a sum).
* `commitment_loss`: mean squared distance between encoder outputs z_e and their (stop-gradient)
  codes z_q (eq. 1's L_commit, T2M-GPT's `mse_loss(x, code.detach())`).
Weights (paper silent, public code): lambda_commit = 0.02, lambda_temp = 2.0.

Option (ours, not in eq. 1; `accel`, default 0 = the paper's objective): lambda_acc *
`acceleration_matching`, the mean squared difference between the second differences over time of
the reconstruction and of the input. At BIGE's 60 Hz a 1 mm frame-to-frame jitter in the pelvis
translation is ~14 m/s^2 of "COM acceleration" (Table 3), so a decoder that is accurate on average
can still be rough; this term asks the decoder to reproduce the input's curvature instead of
merely damping all motion as L_temp does.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from motion_jax.losses.common import laplacian, smooth_l1

Array = jax.Array
RECON_KINDS = ("smooth_l1", "l2")


@dataclasses.dataclass(frozen=True)
class VQLossConfig:
  recon_loss: str = "smooth_l1"  # 'smooth_l1' (public code) | 'l2'
  commit: float = 0.02
  temporal: float = 2.0
  accel: float = 0.0  # ours (not eq. 1): weight of acceleration_matching

  def __post_init__(self):
    if self.recon_loss not in RECON_KINDS:
      raise ValueError(f"recon_loss must be one of {RECON_KINDS}, got {self.recon_loss!r}")
    if self.accel < 0:
      raise ValueError(f"accel must be >= 0, got {self.accel}")


def reconstruction_loss(pred: Array, target: Array, kind: str = "smooth_l1") -> Array:
  """Mean over elements of smooth-L1 (beta 1, = torch SmoothL1Loss) or squared error."""
  if kind == "l2":
    return jnp.mean((pred - target) ** 2)
  if kind == "smooth_l1":
    return smooth_l1(pred, target)
  raise ValueError(f"recon_loss must be one of {RECON_KINDS}, got {kind!r}")


def temporal_smoothness(x: Array) -> Array:
  """Mean squared first difference over time of x [..., T, C] (BIGE eq. 1, L_temp)."""
  return jnp.mean((x[..., 1:, :] - x[..., :-1, :]) ** 2)


def acceleration_matching(pred: Array, target: Array) -> Array:
  """Mean squared difference of the second differences over time of [B, T, C] arrays (ours; not
  in BIGE eq. 1)."""
  return jnp.mean((laplacian(pred) - laplacian(target)) ** 2)


def commitment_loss(z_e: Array, z_q: Array) -> Array:
  """Mean of (z_e - sg(z_q))^2: pulls encoder outputs toward their codes (BIGE eq. 1)."""
  return jnp.mean((z_e - jax.lax.stop_gradient(z_q)) ** 2)


def vqvae_loss(
  x: Array, x_hat: Array, z_e: Array, z_q: Array, cfg: VQLossConfig = VQLossConfig()
) -> tuple[Array, dict[str, Array]]:
  """BIGE eq. 1 for motion x [B, T, C], reconstruction x_hat [B, T, C], encoder outputs z_e and
  their codes z_q [B, T', D]. Returns (total, {recon, temporal, commit[, accel]}); the accel term
  (ours) only when its weight is non-zero."""
  rec = reconstruction_loss(x_hat, x, cfg.recon_loss)
  temp = temporal_smoothness(x_hat)
  commit = commitment_loss(z_e, z_q)
  total = rec + cfg.commit * commit + cfg.temporal * temp
  terms = {"recon": rec, "commit": commit, "temporal": temp}
  if cfg.accel:
    terms["accel"] = acceleration_matching(x_hat, x)
    total = total + cfg.accel * terms["accel"]
  return total, terms
