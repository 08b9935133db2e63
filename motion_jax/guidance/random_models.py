"""Untrained stand-ins for BIGE's frozen models, over the real OpenSim FK: for checking shapes,
gradients and speed of guidance without training anything (tests and benchmarks use them).

`random_frozen_models(...)` returns (FrozenModels, (vq variables, surrogate variables)): a tiny
random VQ-VAE decoder and muscle surrogate, a random codebook and training latents, the real
shipped OpenCap model's FK and whole-body COM, and a standing mean pose (pelvis 0.9 m up).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.guidance.bige import FrozenModels
from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig
from motion_jax.models.vqvae import VQVAE, VQVAEConfig
from motion_jax.skeletons import opensim_fk
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES, load_opencap_model

FOOT_JOINTS = ("ankle_r", "mtp_r", "ankle_l", "mtp_l")


def random_frozen_models(
  frames: int = 16,
  code_dim: int = 8,
  num_codes: int = 16,
  width: int = 16,
  depth: int = 1,
  surrogate: SurrogateConfig | None = None,
  train_latents: int = 10,
  seed: int = 0,
  model=None,
):
  """(FrozenModels, (vq_vars, sur_vars)) with random weights; latents are [frames / 4, code_dim].

  `surrogate` defaults to one post-LN layer of 3 heads, feed-forward 16."""
  surrogate = surrogate or SurrogateConfig(num_layers=1, num_heads=3, ff_dim=16)
  keys = jax.random.split(jax.random.PRNGKey(seed), 5)
  n = len(BIGE_COORDINATES)
  vq = VQVAE(VQVAEConfig(width=width, code_dim=code_dim, num_codes=num_codes, depth=depth), n)
  x = jnp.zeros((1, frames, n))
  vq_vars = vq.init({"params": keys[0], "sample": keys[1]}, x)
  codebook = jax.random.normal(keys[2], (num_codes, code_dim))
  sur = MuscleSurrogate(surrogate, output_dim=len(BIGE_MUSCLES), max_len=frames)
  sur_vars = sur.init(keys[3], x)
  model = model or load_opencap_model()
  fk = opensim_fk.make_fk(model, BIGE_COORDINATES)
  mean = np.zeros(n, np.float32)
  mean[BIGE_COORDINATES.index("pelvis_ty")] = 0.9
  frozen = FrozenModels(
    decode=lambda zq: vq.apply(vq_vars, zq, method=VQVAE.decode),
    surrogate=lambda xn: sur.apply(sur_vars, xn),
    fk=fk,
    center_of_mass=lambda r: opensim_fk.center_of_mass(r, model),
    codebook=codebook,
    mean=jnp.asarray(mean),
    std=jnp.full((n,), 5.0),
    train_latents=jax.random.normal(
      keys[4], (train_latents, frames // vq.cfg.downsample, code_dim)
    ),
    foot_joints=jnp.asarray([model.joint_names.index(j) for j in FOOT_JOINTS]),
    fps=60.0,
  )
  return frozen, (vq_vars, sur_vars)


__all__ = ["random_frozen_models"]
