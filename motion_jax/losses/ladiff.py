"""LADiff's objectives (Sampieri et al. 2024; MLD, Chen et al. 2023, on which its code is built).

* `lavae_loss`: the length-aware VAE's reconstruction over the valid frames plus the KL of the
  active sub-spaces' posteriors to N(0, I), weighted 1e-4 (LADiff's code, FACTS.md). The
  reconstruction is smooth-L1 on the normalised features (MLD's ``recons_feature``) or MSE
  (``recon='l2'``); the KL is the mean over the active tokens' dimensions (the inactive ones are
  zeroed by the encoder and carry no information, so they are left out of the mean).
* `latent_diffusion_loss`: DDPM's simple loss (Ho et al. 2020 eq. 14) on the x0 target, mean over
  the active latent tokens only.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
RECONS = ("smooth_l1", "l2")


@dataclasses.dataclass(frozen=True)
class LAVAELossConfig:
  kl_weight: float = 1e-4
  recon: str = "smooth_l1"  # 'smooth_l1' (MLD) | 'l2'

  def __post_init__(self):
    if self.recon not in RECONS:
      raise ValueError(f"recon must be one of {RECONS}, got {self.recon!r}")


def _masked_mean(err: Array, mask: Array) -> Array:
  """Mean of ``err [B, N, D]`` over rows where ``mask [B, N]`` and over D."""
  m = mask.astype(err.dtype)[..., None]
  return (err * m).sum() / jnp.maximum(m.sum() * err.shape[-1], 1.0)


def lavae_loss(
  recon: Array,  # [B, T, F]
  target: Array,  # [B, T, F]
  frame_mask: Array,  # [B, T]
  mu: Array,  # [B, K, D]
  logvar: Array,  # [B, K, D]
  active: Array,  # [B, K]
  cfg: LAVAELossConfig = LAVAELossConfig(),
) -> tuple[Array, dict[str, Array]]:
  """Reconstruction + kl_weight * KL (module docstring): ``(total, {"recon", "kl"})``."""
  d = recon - target
  per = optax.huber_loss(recon, target, delta=1.0) if cfg.recon == "smooth_l1" else d**2
  rec = _masked_mean(per, frame_mask)
  kl_elem = 0.5 * (jnp.exp(logvar) + mu**2 - 1.0 - logvar)  # KL(N(mu, e^logvar) || N(0, 1))
  kl = _masked_mean(kl_elem, active)
  return rec + cfg.kl_weight * kl, {"recon": rec, "kl": kl}


def latent_diffusion_loss(
  pred: Array, target: Array, active: Array
) -> tuple[Array, dict[str, Array]]:
  """Squared error of the x0 prediction ``[B, K, D]`` over the active tokens ``[B, K]``."""
  simple = _masked_mean((pred - target) ** 2, active)
  return simple, {"simple": simple}


__all__ = ["LAVAELossConfig", "RECONS", "latent_diffusion_loss", "lavae_loss"]
