"""Every training and guidance objective, as pure functions of arrays, one file per method.

* `common`: smooth-L1, Gaussian KL, InfoNCE with negative filtering (shared building blocks).
* `vqvae`: the motion VQ-VAE loss (BIGE eq. 1; T2M-GPT) -> `vqvae_loss`.
* `surrogate`: BIGE's muscle-surrogate L1 (Sec. 3.2) -> `surrogate_loss`.
* `bige_guidance`: BIGE's guidance terms (eqs. 2-4, Table 1).
* `tmr`: TMR's objective (eqs. 1-3) -> `tmr_loss`, and its InfoNCE alone -> `contrastive_loss`.
* `kinmo`: KinMo's hierarchical alignment (sec. 3.3: per-level TMR terms + eq. 7) -> `kinmo_loss`,
  and eq. 7's InfoNCE alone -> `kinmo_nce_loss`; trajectory control's spatial-guidance objective
  (OmniControl, used by KinMo Sec. 3.4) -> `trajectory_loss`.
* `momask`: MoMask's residual-VQ loss (eq. 2) and token cross-entropies (eqs. 4, 6).
* `diffusion`: the length-masked denoising loss and MDM's geometric terms -> `diffusion_loss`.
* `biovae`: BioVAE's L_accel and L_phys (eqs. 8-9) -> `physics_losses`, `biovae_loss`.
* `ladiff`: LADiff's length-aware VAE loss and latent x0 loss -> `lavae_loss`,
  `latent_diffusion_loss`.
* `moclip`: MoCLIP's contrastive + tethering + alignment objective (eqs. 1-5) -> `moclip_loss`.
Objectives return `(total, {term: value})`; stages apply a model and call one of them.
"""

from motion_jax.losses import bige_guidance, moclip
from motion_jax.losses.biovae import BioVAELossWeights, biovae_loss, physics_losses
from motion_jax.losses.common import filtered_negatives_mask, gaussian_kl, info_nce, smooth_l1
from motion_jax.losses.diffusion import (
  DiffusionLossWeights,
  diffusion_loss,
  geometric_losses,
  masked_mse,
)
from motion_jax.losses.kinmo import kinmo_loss, kinmo_nce_loss, trajectory_loss
from motion_jax.losses.ladiff import LAVAELossConfig, latent_diffusion_loss, lavae_loss
from motion_jax.losses.moclip import moclip_loss
from motion_jax.losses.momask import RVQLossConfig, masked_token_loss, rvq_loss, token_loss
from motion_jax.losses.surrogate import surrogate_loss
from motion_jax.losses.tmr import TMRLossWeights, contrastive_loss, tmr_loss
from motion_jax.losses.vqvae import (
  VQLossConfig,
  acceleration_matching,
  commitment_loss,
  reconstruction_loss,
  temporal_smoothness,
  vqvae_loss,
)

__all__ = [
  "BioVAELossWeights",
  "DiffusionLossWeights",
  "LAVAELossConfig",
  "RVQLossConfig",
  "TMRLossWeights",
  "VQLossConfig",
  "acceleration_matching",
  "bige_guidance",
  "biovae_loss",
  "commitment_loss",
  "contrastive_loss",
  "diffusion_loss",
  "filtered_negatives_mask",
  "gaussian_kl",
  "geometric_losses",
  "info_nce",
  "kinmo_loss",
  "kinmo_nce_loss",
  "latent_diffusion_loss",
  "lavae_loss",
  "masked_mse",
  "moclip",
  "moclip_loss",
  "physics_losses",
  "masked_token_loss",
  "reconstruction_loss",
  "rvq_loss",
  "smooth_l1",
  "surrogate_loss",
  "temporal_smoothness",
  "tmr_loss",
  "token_loss",
  "trajectory_loss",
  "vqvae_loss",
]
