"""Stage: LADiff (Sampieri et al. 2024) -- the length-aware VAE, latent diffusion, and sampling.

* `train_vae`: `models.ladiff.LAVAE` on normalised text-motion features (random crops of the
  training clips, so every length in [unit, max_length] is seen), `losses.lavae_loss`
  (reconstruction + KL 1e-4), the shared loop.
* `latent_scale`: the standard deviation of the frozen encoder's mu over the active tokens of some
  training batches (the latent is divided by it before diffusion when ``normalize_latents``).
* `train_diffusion`: `models.ladiff.LatentDenoiser` on z ~ q(z | x) of the frozen VAE (the
  reparameterised sample, as MLD), x_t = `diffusion.q_sample` on the active tokens, condition
  dropped with probability 0.1 (classifier-free guidance), `losses.latent_diffusion_loss` (x0).
* `Generator`: for captions and requested lengths f, noise of k = ceil(f / r) active tokens
  (the others zero and masked), DDIM with classifier-free guidance (`motion_jax.diffusion`),
  decoding with the VAE at f frames; returns raw features ``[f, F]`` (and the latents).
  ``length_aware=False`` in the VAE config gives the MLD-style fixed-latent baseline: the same
  code with all K tokens always active.

Settings (LADiff's code, FACTS.md): DDPM 1000 steps, scaled-linear betas 0.00085-0.012,
x0-prediction, DDIM 20 steps eta 0, guidance 7.5. Choices left open, as fields (MLD's where it
has one): AdamW lr 1e-4, batch 128, condition drop 0.1, no latent normalisation by default
(``normalize_latents``), training lengths from the loader's random crops (LADiff's "33% noised
inputs" of FACTS.md is not reproduced: what is noised is not stated there).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import diffusion, losses
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.models.ladiff import (
  LAVAE,
  LatentDenoiser,
  LatentDenoiserConfig,
  LAVAEConfig,
  active_mask,
)
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params

DEFAULT_STEPS = 20  # DDIM steps (LADiff code)
DEFAULT_SCALE = 7.5  # classifier-free guidance (LADiff code)


@dataclasses.dataclass(frozen=True)
class LAVAEStageConfig:
  model: LAVAEConfig = LAVAEConfig()
  loss: losses.LAVAELossConfig = losses.LAVAELossConfig()
  optim: optim.OptimConfig = optim.OptimConfig(learning_rate=1e-4, b1=0.9, b2=0.999)
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=100_000, log_every=200, checkpoint_every=10_000, keep_checkpoints=2
  )
  batch_size: int = 128


@dataclasses.dataclass(frozen=True)
class LatentDiffusionStageConfig:
  denoiser: LatentDenoiserConfig = LatentDenoiserConfig()
  schedule: str = "scaled_linear"
  num_timesteps: int = 1000
  beta_start: float = 0.00085
  beta_end: float = 0.012
  cond_drop_prob: float = 0.1
  normalize_latents: bool = False
  scale_batches: int = 16  # training batches the latent std is measured on
  optim: optim.OptimConfig = optim.OptimConfig(learning_rate=1e-4, b1=0.9, b2=0.999)
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=100_000, log_every=200, checkpoint_every=10_000, keep_checkpoints=2
  )
  batch_size: int = 128

  def __post_init__(self):
    if self.schedule not in diffusion.SCHEDULES:
      raise ValueError(f"schedule must be one of {diffusion.SCHEDULES}, got {self.schedule!r}")
    if not 0.0 <= self.cond_drop_prob <= 1.0:
      raise ValueError(f"cond_drop_prob must be in [0, 1], got {self.cond_drop_prob}")


def make_schedule(cfg: LatentDiffusionStageConfig) -> diffusion.Schedule:
  return diffusion.make_schedule(cfg.schedule, cfg.num_timesteps, cfg.beta_start, cfg.beta_end)


def make_vae_loss_fn(model: LAVAE, cfg: LAVAEStageConfig) -> Callable:
  def loss_fn(params, mutables, batch, rngs):
    x, mask = batch["motion"], batch["mask"]
    recon, aux = model.apply(
      {"params": params},
      x,
      mask,
      rngs["sample"],
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    total, terms = losses.lavae_loss(
      recon, x, mask, aux["mu"], aux["logvar"], aux["active"], cfg.loss
    )
    return total, (terms, mutables)

  return loss_fn


def train_vae(
  cfg: LAVAEStageConfig,
  batch_fn: Callable[[int], dict],
  model: LAVAE,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "lavae",
) -> Any:
  """Trains (or resumes) the VAE; returns its parameters as numpy."""
  example = jax.tree.map(lambda x: x[:1], batch_fn(0))

  def init_fn(key):
    return model.init({"params": key}, example["motion"], example["mask"])["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_vae_loss_fn(model, cfg),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


def latent_scale(
  vae: LAVAE, vae_params: Any, batch_fn: Callable[[int], dict], cfg: LatentDiffusionStageConfig
) -> float:
  """Std of the encoder's mu over the active tokens of ``scale_batches`` batches (1.0 when
  ``normalize_latents`` is off)."""
  if not cfg.normalize_latents:
    return 1.0
  enc = jax.jit(lambda p, x, m: vae.apply({"params": p}, x, m, method=LAVAE.encode))
  values = []
  for i in range(cfg.scale_batches):
    b = batch_fn(i)
    mu, _, active = enc(vae_params, b["motion"], b["mask"])
    values.append(np.asarray(mu)[np.asarray(active)])
  return float(np.concatenate(values).std())


def make_diffusion_loss_fn(
  vae: LAVAE,
  vae_params: Any,
  denoiser: LatentDenoiser,
  schedule: diffusion.Schedule,
  cfg: LatentDiffusionStageConfig,
  scale: float,
) -> Callable:
  """Encode with the frozen VAE, noise the active tokens, denoise, x0 loss on the active ones."""

  def loss_fn(params, mutables, batch, rngs):
    mu, logvar, active = vae.apply(
      {"params": vae_params}, batch["motion"], batch["mask"], method=LAVAE.encode
    )
    k_z, k_t, k_cond = jax.random.split(rngs["sample"], 3)
    keep_tok = active[..., None].astype(mu.dtype)
    z0 = (mu + jnp.exp(0.5 * logvar) * jax.random.normal(k_z, mu.shape)) * keep_tok / scale
    z0 = jax.lax.stop_gradient(z0)
    b = z0.shape[0]
    t, eps, z_t = diffusion.noise_batch(schedule, z0, k_t, rngs["noise"], keep_tok)
    keep = diffusion.drop_condition(k_cond, b, cfg.cond_drop_prob)
    pred = denoiser.apply(
      {"params": params},
      z_t,
      t,
      batch["global_tokens"],
      batch["global_mask"],
      keep,
      active,
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    total, terms = losses.latent_diffusion_loss(pred, z0, active)
    return total, (terms, mutables)

  return loss_fn


def train_diffusion(
  cfg: LatentDiffusionStageConfig,
  batch_fn: Callable[[int], dict],
  vae: LAVAE,
  vae_params: Any,
  denoiser: LatentDenoiser,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  scale: float,
  desc: str = "latent_diffusion",
) -> Any:
  """Trains (or resumes) the latent denoiser over the frozen VAE; returns its parameters."""
  example = jax.tree.map(lambda x: x[:1], batch_fn(0))
  kk, d = vae.config.num_subspaces, vae.config.latent_dim

  def init_fn(key):
    v = denoiser.init(
      {"params": key},
      jnp.zeros((1, kk, d)),
      jnp.zeros((1,), jnp.int32),
      example["global_tokens"],
      example["global_mask"],
      jnp.ones((1,), bool),
      jnp.ones((1, kk), bool),
    )
    return v["params"], {}

  vae_params = jax.tree.map(jnp.asarray, vae_params)
  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_diffusion_loss_fn(vae, vae_params, denoiser, make_schedule(cfg), cfg, scale),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


class Generator:
  """Text-and-length-to-motion sampling with a trained VAE and latent denoiser.

  Args:
    vae, vae_params, denoiser, denoiser_params: the trained modules.
    cfg: the diffusion stage config (schedule).
    scale: the latent scale the denoiser was trained with.
    features: sentence token states of the captions (every caption must be in it).
    mean, std: the training normalisation ``[F]``.
    max_frames: the frame axis every chunk is decoded at (longer requests are refused).
    caption_tokens: token axis length; chunk: rows per compiled call.
  """

  def __init__(
    self,
    vae: LAVAE,
    vae_params: Any,
    denoiser: LatentDenoiser,
    denoiser_params: Any,
    cfg: LatentDiffusionStageConfig,
    scale: float,
    features: tf_lib.TextFeatures,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    max_frames: int,
    caption_tokens: int,
    chunk: int = 32,
  ):
    self.vae, self.denoiser, self.cfg, self.scale = vae, denoiser, cfg, float(scale)
    self.vae_params, self.denoiser_params = vae_params, denoiser_params
    self.features = features
    self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    self.max_frames, self.caption_tokens, self.chunk = max_frames, caption_tokens, chunk
    self.schedule = make_schedule(cfg)
    self._fns: dict[tuple, Callable] = {}
    self._decode = jax.jit(
      lambda p, z, a, m: vae.apply({"params": p}, z, a, m, method=LAVAE.decode)
    )

  def _sample_fn(self, steps: int, scale: float, eta: float):
    key = (steps, float(scale), float(eta))
    if key not in self._fns:
      plan = diffusion.make_plan(self.schedule, "ddim", steps, eta)
      model = self.denoiser

      def denoise(params, z, t, cond):
        def apply(z, t, c, keep):
          return model.apply({"params": params}, z, t, c[0], c[1], keep, c[2])

        if scale in (0.0, 1.0):
          return apply(z, t, cond, jnp.full((z.shape[0],), scale == 1.0))
        return diffusion.guided_model_fn(apply, cond, scale)(z, t)

      self._fns[key] = diffusion.make_sample_fn(denoise, plan, prediction="x0")
    return self._fns[key]

  def generate(
    self,
    texts: Sequence[str],
    lengths: Sequence[int],
    key: jax.Array,
    *,
    steps: int = DEFAULT_STEPS,
    guidance_scale: float = DEFAULT_SCALE,
    eta: float = 0.0,
    return_latents: bool = False,
  ):
    """Raw motions ``[length_i, F]`` (and, with ``return_latents``, the sampled latents
    ``[N, K, D]`` in the VAE's units, inactive rows zero). Chunk c uses ``fold_in(key, c)``."""
    texts, lengths = list(texts), np.asarray(lengths, int)
    if len(texts) != len(lengths):
      raise ValueError(f"{len(texts)} texts but {len(lengths)} lengths")
    if np.any(lengths < 1) or np.any(lengths > self.max_frames):
      raise ValueError(f"lengths must be in [1, {self.max_frames}], got {lengths.tolist()}")
    fn = self._sample_fn(steps, guidance_scale, eta)
    tokens, tmask = self.features.lookup(texts, self.caption_tokens)
    c = self.vae.config
    motions, latents = [], []
    for ci, start in enumerate(range(0, len(texts), self.chunk)):
      idx = np.arange(start, start + self.chunk) % len(texts)
      active = active_mask(lengths[idx], c)  # [C, K]
      mask = np.arange(self.max_frames)[None] < lengths[idx][:, None]
      k_init, k_run = jax.random.split(jax.random.fold_in(key, ci))
      noise = jax.random.normal(k_init, (self.chunk, c.num_subspaces, c.latent_dim))
      z_init = noise * jnp.asarray(active)[..., None]  # the noise has k tokens
      cond = (jnp.asarray(tokens[idx]), jnp.asarray(tmask[idx]), jnp.asarray(active))
      z = fn(self.denoiser_params, cond, z_init, k_run)
      z = z * jnp.asarray(active)[..., None] * self.scale
      x = self._decode(self.vae_params, z, jnp.asarray(active), jnp.asarray(mask))
      x = np.asarray(x) * self.std + self.mean
      z = np.asarray(z)
      for j in range(min(self.chunk, len(texts) - start)):
        motions.append(x[j, : lengths[idx[j]]])
        latents.append(z[j])
    if return_latents:
      return motions, np.stack(latents)
    return motions


__all__ = [
  "DEFAULT_SCALE",
  "DEFAULT_STEPS",
  "Generator",
  "LAVAEStageConfig",
  "LatentDiffusionStageConfig",
  "latent_scale",
  "make_diffusion_loss_fn",
  "make_schedule",
  "make_vae_loss_fn",
  "train_diffusion",
  "train_vae",
]
