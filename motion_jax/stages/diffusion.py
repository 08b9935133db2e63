"""Stage: text-to-motion diffusion (StableMoFusion's UNet or MDM) on a text-motion dataset.

* `make_model`, `make_loss_fn`, `train`: a denoiser over normalised HumanML3D features
  conditioned on frozen MiniLM token states, trained with the shared loop: timestep uniform in
  [0, T), x_t = `q_sample`, the condition dropped with probability ``cond_drop_prob``
  (classifier-free guidance), `losses.diffusion_loss` on the chosen target (length-masked);
  the EMA parameters are returned when ``loop.ema_decay > 0``.
* `Generator`: samples motions for captions at given lengths with a `motion_jax.diffusion` sampler
  and guidance scale, in fixed-size chunks (one compiled shape per sampler, steps and scale), and
  returns raw (de-normalised) features cropped to each length.

Settings (BioVAE Sec. IV-F / StableMoFusion's code, FACTS.md): DDPM T = 1000 linear betas,
x0-prediction, cond drop 0.1, AdamW 2e-4 wd 0.01, grad clip 1, batch 64, 50k steps, sampling
SDE-DPM-Solver++(2M) with Karras sigmas, 10 steps, CFG 2.5.
Choices left open, as fields: ``ema_decay`` 0.9998 per step (StableMoFusion's .9999 applied every 32
steps with its warm-up comes to ~.994 per update, ~.9998 per step); StableMoFusion's ExponentialLR
(.9 every 5k steps) is not reproduced (constant rate); MDM's geometric weights 0.
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
from motion_jax.models.mdm import MDM, MDMConfig
from motion_jax.models.motion_unet import MotionUNet, UNetConfig
from motion_jax.representations import humanml3d
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params

DENOISERS = ("unet", "mdm")
FOOT_JOINTS = (7, 10, 8, 11)  # t2m l_ankle, l_foot, r_ankle, r_foot: HumanML3D contacts' order
CONTACTS = slice(259, 263)


@dataclasses.dataclass(frozen=True)
class DiffusionStageConfig:
  """Training settings of both denoisers (which one is `make_model`'s ``denoiser`` argument)."""

  unet: UNetConfig = UNetConfig()
  mdm: MDMConfig = MDMConfig()
  schedule: str = "linear"  # 'linear' | 'cosine'
  num_timesteps: int = 1000
  beta_start: float = 1e-4
  beta_end: float = 0.02
  prediction: str = "x0"  # 'x0' | 'eps' | 'v'
  cond_drop_prob: float = 0.1
  loss: losses.DiffusionLossWeights = losses.DiffusionLossWeights()
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=2e-4, b1=0.9, b2=0.999, weight_decay=0.01, grad_clip_norm=1.0
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=50_000, log_every=100, checkpoint_every=5000, keep_checkpoints=2, ema_decay=0.9998
  )
  batch_size: int = 64

  def __post_init__(self):
    if self.prediction not in diffusion.PREDICTIONS:
      raise ValueError(
        f"prediction must be one of {diffusion.PREDICTIONS}, got {self.prediction!r}"
      )
    if self.schedule not in diffusion.SCHEDULES:
      raise ValueError(f"schedule must be one of {diffusion.SCHEDULES}, got {self.schedule!r}")
    if not 0.0 <= self.cond_drop_prob <= 1.0:
      raise ValueError(f"cond_drop_prob must be in [0, 1], got {self.cond_drop_prob}")


def make_schedule(cfg: DiffusionStageConfig) -> diffusion.Schedule:
  return diffusion.make_schedule(cfg.schedule, cfg.num_timesteps, cfg.beta_start, cfg.beta_end)


def make_model(cfg: DiffusionStageConfig, denoiser: str, motion_features: int):
  """``'unet'``: StableMoFusion's `MotionUNet`; ``'mdm'``: `MDM`."""
  if denoiser == "unet":
    return MotionUNet(cfg.unet, motion_features)
  if denoiser == "mdm":
    return MDM(cfg.mdm, motion_features)
  raise ValueError(f"denoiser must be one of {DENOISERS}, got {denoiser!r}")


def make_loss_fn(
  model, schedule: diffusion.Schedule, cfg: DiffusionStageConfig, mean=None, std=None
) -> Callable:
  """Apply the denoiser at a random timestep and call `losses.diffusion_loss`.

  MDM's position / foot terms need ``mean``/``std`` (to recover joints from the de-normalised
  263-dim features); they are computed only when their weight is non-zero."""
  w = cfg.loss
  need_joints = bool(w.positions or w.foot_contact)
  if need_joints and (mean is None or np.shape(mean)[-1] != 263):
    raise ValueError("the position / foot-contact terms need 263-dim HumanML3D features")

  def loss_fn(params, mutables, batch, rngs):
    x0, mask = batch["motion"], batch["mask"]
    b = x0.shape[0]
    k_t, k_cond = jax.random.split(rngs["sample"])
    t, eps, x_t = diffusion.noise_batch(schedule, x0, k_t, rngs["noise"])
    keep = diffusion.drop_condition(k_cond, b, cfg.cond_drop_prob)
    out = model.apply(
      {"params": params},
      x_t,
      t,
      batch["global_tokens"],
      batch["global_mask"],
      keep,
      mask,
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    a, s = diffusion.schedule.alpha_sigma(schedule, t)
    target = diffusion.training_target(cfg.prediction, x0, eps, a, s)
    x0_hat, _ = diffusion.to_x0_eps(cfg.prediction, out, x_t, a, s)
    kw = {}
    if need_joints:
      raw, raw_hat = x0 * std + mean, x0_hat * std + mean
      kw = dict(
        joints=humanml3d.recover_from_ric(raw, check_finite=False),
        joints_hat=humanml3d.recover_from_ric(raw_hat, check_finite=False),
        foot_contact=(raw[..., CONTACTS] > 0.5).astype(x0.dtype),
        foot_joints=FOOT_JOINTS,
      )
    geo = losses.geometric_losses(x0, x0_hat, mask, **kw)
    total, terms = losses.diffusion_loss(out, target, mask, w, geo)
    return total, (terms, mutables)

  return loss_fn


def train(
  cfg: DiffusionStageConfig,
  batch_fn: Callable[[int], dict],
  model,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  mean=None,
  std=None,
  desc: str = "diffusion",
  init_params: Any = None,
) -> Any:
  """Trains (or resumes) the denoiser with the shared loop; returns the evaluation params (EMA
  when kept) as numpy. ``init_params``: start from these parameters (e.g. a pre-trained
  denoiser being fine-tuned) instead of a fresh initialisation."""
  schedule = make_schedule(cfg)
  example = jax.tree.map(lambda x: x[:1], batch_fn(0))

  def init_fn(key):
    if init_params is not None:
      return jax.tree.map(jnp.asarray, init_params), {}
    v = model.init(
      {"params": key},
      example["motion"],
      jnp.zeros((1,), jnp.int32),
      example["global_tokens"],
      example["global_mask"],
      jnp.ones((1,), bool),
      example["mask"],
    )
    return v["params"], {}

  mean_j = None if mean is None else jnp.asarray(mean)
  std_j = None if std is None else jnp.asarray(std)
  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, schedule, cfg, mean_j, std_j),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


class Generator:
  """Text-to-motion sampling with a trained denoiser (see the module docstring).

  Args:
    model, params: the denoiser and its (EMA) parameters.
    cfg: the stage config (schedule, prediction).
    features: sentence token states (captions missing from it are encoded on demand with
      ``encoder``, default MiniLM, and added to ``features_path`` when given; ``encoder_name``
      names the encoder, as the cache records it).
    mean, std: the training normalisation ``[F]``.
    max_frames: the frame axis every chunk is padded to (the dataset's max_length).
    caption_tokens: token axis length.
    chunk: rows per compiled call.
    extra_variables: Flax variable collections besides ``params`` (e.g. BioVAE's
      ``{"edit": {"accel_scale": [J]}}``). They are traced arguments, so changing their values
      (``generator.extra_variables = ...``) does not recompile.
  """

  def __init__(
    self,
    model,
    params,
    cfg: DiffusionStageConfig,
    features: tf_lib.TextFeatures,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    max_frames: int,
    caption_tokens: int,
    chunk: int = 32,
    features_path: pathlib.Path | None = None,
    encoder: tf_lib.EncoderFn | None = None,
    encoder_name: str = tf_lib.MINILM,
    extra_variables: dict | None = None,
  ):
    self.model, self.params, self.cfg = model, params, cfg
    self.extra_variables = dict(extra_variables or {})
    self.features, self._features_path, self._encoder = features, features_path, encoder
    self._encoder_name = encoder_name
    self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    self.max_frames, self.caption_tokens, self.chunk = max_frames, caption_tokens, chunk
    self.schedule = make_schedule(cfg)
    self._fns: dict[tuple, Callable] = {}

  def _sample_fn(self, sampler: str, steps: int, scale: float, eta: float):
    key = (sampler, steps, float(scale), float(eta))
    if key not in self._fns:
      plan = diffusion.make_plan(self.schedule, sampler, steps, eta)
      model = self.model

      def denoise(variables, x, t, cond):
        tokens, tmask, mask = cond

        def apply(x, t, c, keep):
          return model.apply(variables, x, t, c[0], c[1], keep, c[2])

        if scale in (0.0, 1.0):  # one branch only: unconditional (0) or conditional (1)
          return apply(x, t, cond, jnp.full((x.shape[0],), scale == 1.0))
        return diffusion.guided_model_fn(apply, (tokens, tmask, mask), scale)(x, t)

      self._fns[key] = diffusion.make_sample_fn(denoise, plan, prediction=self.cfg.prediction)
    return self._fns[key]

  def _tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    missing = [t for t in set(texts) if tf_lib.sentence_key(t) not in self.features.index]
    if missing:
      if self._features_path is None:
        raise KeyError(f"{len(missing)} caption(s) have no text features")
      if self._encoder is None:
        from motion_jax.models.text_encoder import minilm_encoder

        self._encoder = minilm_encoder()
      self.features = tf_lib.ensure_text_features(
        self._features_path, missing, encoder=self._encoder, encoder_name=self._encoder_name
      )
    return self.features.lookup(list(texts), self.caption_tokens)

  def generate(
    self,
    texts: Sequence[str],
    lengths: Sequence[int],
    key: jax.Array,
    *,
    sampler: str = "dpmpp_2m_sde",
    steps: int = 10,
    guidance_scale: float = 2.5,
    eta: float = 0.0,
  ) -> list[np.ndarray]:
    """Raw motions ``[length_i, F]`` for ``texts`` (chunk c uses ``fold_in(key, c)``)."""
    texts, lengths = list(texts), np.asarray(lengths, int)
    if len(texts) != len(lengths):
      raise ValueError(f"{len(texts)} texts but {len(lengths)} lengths")
    if np.any(lengths < 1) or np.any(lengths > self.max_frames):
      raise ValueError(
        f"lengths must be in [1, {self.max_frames}], got {lengths.min()}..{lengths.max()}"
      )
    fn = self._sample_fn(sampler, steps, guidance_scale, eta)
    tokens, tmask = self._tokens(texts)
    out = []
    for c, start in enumerate(range(0, len(texts), self.chunk)):
      idx = np.arange(start, start + self.chunk) % len(texts)  # fixed shape: wrap the last chunk
      mask = np.arange(self.max_frames)[None] < lengths[idx][:, None]
      k_init, k_run = jax.random.split(jax.random.fold_in(key, c))
      x_init = jax.random.normal(k_init, (self.chunk, self.max_frames, len(self.mean)))
      x = fn(
        {"params": self.params, **self.extra_variables},
        (jnp.asarray(tokens[idx]), jnp.asarray(tmask[idx]), jnp.asarray(mask)),
        x_init,
        k_run,
      )
      x = np.asarray(x) * self.std + self.mean
      for j in range(min(self.chunk, len(texts) - start)):
        out.append(x[j, : lengths[idx[j]]])
    return out


__all__ = [
  "DENOISERS",
  "DiffusionStageConfig",
  "Generator",
  "make_loss_fn",
  "make_model",
  "make_schedule",
  "train",
]
