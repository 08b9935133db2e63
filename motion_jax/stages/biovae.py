"""BioVAE fine-tuning (biovae.txt Sec. III-C and IV-F): the pre-trained StableMoFusion UNet plus
the Euler-Lagrange residual module (`models.biovae.BioVAEDenoiser`), trained with
L = L_diffusion + L_accel + L_phys (eqs. 6-9; `losses.biovae`).

The paper pre-trains the diffusion model for 50k iterations and then fine-tunes with the module for
10k: `stages.diffusion.train` is the first stage, `train` here the second. Its parameters start
from the UNet's (``"unet"``) and a fresh module (``"biovae"``). The module's output starts at zero,
so step 0 reproduces the pre-trained model. `BioVAEStageConfig` holds the module, the loss weights
(the ablation's "BioVAE loss" switch: 0 turns L_accel and L_phys off while keeping the module), and
the fine-tuning loop and optimiser (the paper: AdamW 2e-4, weight decay 0.01, batch 64; 10k steps).

Only x₀ prediction is supported, which is StableMoFusion's: the residual corrects x̂₀.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import diffusion, losses
from motion_jax.losses import biovae as bio_losses
from motion_jax.models.biovae import AccelEditConfig, BioVAEConfig, BioVAEDenoiser
from motion_jax.representations import humanml3d
from motion_jax.stages import diffusion as diff_stage
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params


@dataclasses.dataclass(frozen=True)
class EditTrainConfig:
  """Edit-aware training (ours: the paper edits Ẍ at test time, Tab. VI, but does not say how the
  decoder learns to act on an edited Ẍ; trained on eq. 9 alone, the quick model's decoder ignored
  it and the edits changed speed by < 0.01 %). In each batch a fraction ``prob`` of the examples
  get a factor s, log-uniform in [``low``, ``high``], on every joint or, with probability
  ``one_joint``, on one joint drawn uniformly. Their module Ẍ is scaled by it before the decoder;
  they leave the diffusion loss and L_accel, L_phys compares s Ẍ with s Ẍ_gt, and
  `losses.biovae.edit_accel_loss` (weight ``weight``) asks the corrected motion's Ẍ to be s Ẍ_gt.
  ``prob`` = 0 trains on eq. 9 alone."""

  prob: float = 0.25
  low: float = 0.5
  high: float = 2.0
  one_joint: float = 0.5
  weight: float = 1.0

  def __post_init__(self):
    if not (0.0 <= self.prob <= 1.0 and 0.0 <= self.one_joint <= 1.0):
      raise ValueError(f"edit_train: prob and one_joint must lie in [0, 1], got {self}")
    if not 0.0 < self.low <= self.high:
      raise ValueError(f"edit_train: need 0 < low <= high, got low={self.low}, high={self.high}")


def edit_scales(
  key: jax.Array, batch: int, joints: int, cfg: EditTrainConfig
) -> tuple[jax.Array, jax.Array]:
  """``(scale [B, J], edited [B])`` for edit-aware training (`EditTrainConfig`); 1 where not
  edited."""
  k_on, k_s, k_one, k_j = jax.random.split(key, 4)
  edited = jax.random.uniform(k_on, (batch,)) < cfg.prob
  log_s = jax.random.uniform(k_s, (batch,), minval=jnp.log(cfg.low), maxval=jnp.log(cfg.high))
  one = jax.random.uniform(k_one, (batch,)) < cfg.one_joint
  joint = jax.random.randint(k_j, (batch,), 0, joints)
  hit = jnp.where(one[:, None], jnp.arange(joints)[None] == joint[:, None], True)
  scale = jnp.where(edited[:, None] & hit, jnp.exp(log_s)[:, None], 1.0)
  return scale, edited


@dataclasses.dataclass(frozen=True)
class BioVAEStageConfig:
  module: BioVAEConfig = BioVAEConfig()
  loss: bio_losses.BioVAELossWeights = bio_losses.BioVAELossWeights()
  edit_train: EditTrainConfig = EditTrainConfig()
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=2e-4, b1=0.9, b2=0.999, weight_decay=0.01, grad_clip_norm=1.0
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=10_000, log_every=100, checkpoint_every=2000, keep_checkpoints=2, ema_decay=0.9998
  )

  def __post_init__(self):
    rate = self.loss.difference_rate(self.module.fps)
    if self.module.accel_rate != rate:
      raise ValueError(
        f"module.accel_rate ({self.module.accel_rate:g}) must be the loss's difference rate "
        f"({rate:g} for accel_unit={self.loss.accel_unit!r}): Ẍ has one unit"
      )


def make_model(
  diff_cfg: diff_stage.DiffusionStageConfig,
  cfg: BioVAEStageConfig,
  motion_features: int,
  mean,
  std,
  accel_scale: float | tuple[float, ...] = 1.0,
  edit: AccelEditConfig | None = None,
) -> BioVAEDenoiser:
  """UNet + module; ``edit`` is how a Tab. VI factor acts at sampling (`AccelEditConfig`)."""
  if diff_cfg.prediction != "x0":
    raise ValueError(f"BioVAE corrects x̂₀: prediction must be 'x0', got {diff_cfg.prediction!r}")
  return BioVAEDenoiser(
    diff_cfg.unet,
    cfg.module,
    motion_features,
    tuple(float(v) for v in np.asarray(mean).ravel()),
    tuple(float(v) for v in np.asarray(std).ravel()),
    accel_scale,
    AccelEditConfig() if edit is None else edit,
  )


def make_loss_fn(
  model: BioVAEDenoiser, schedule: diffusion.Schedule, diff_cfg, cfg: BioVAEStageConfig
) -> Callable:
  """Eq. 9 on a batch: the denoising loss on the corrected x̂₀ plus L_accel and L_phys.

  Edit-aware training (`EditTrainConfig`) trains the decoder's answer to a scaled Ẍ, so the loss
  applies ``model`` with the ``decoder`` editing mechanism whatever ``model.edit`` says (the
  ``kinematic`` one has no parameters to train)."""
  model = model.clone(edit=dataclasses.replace(model.edit, mechanism="decoder"))
  mean, std = jnp.asarray(model.mean), jnp.asarray(model.std)
  fps = cfg.loss.difference_rate(cfg.module.fps)  # m/frame² or m/s² (losses.biovae)

  def loss_fn(params, mutables, batch, rngs):
    x0, mask = batch["motion"], batch["mask"]
    b = x0.shape[0]
    k_t, k_cond = jax.random.split(rngs["sample"])
    t, eps, x_t = diffusion.noise_batch(schedule, x0, k_t, rngs["noise"])
    keep = diffusion.drop_condition(k_cond, b, diff_cfg.cond_drop_prob)
    joints = humanml3d.recover_from_ric(x0 * std + mean, check_finite=False)
    variables, scale, plain = {"params": params}, None, mask
    if cfg.edit_train.prob > 0:  # edit-aware training (EditTrainConfig)
      k_edit = jax.random.fold_in(rngs["sample"], 1)
      scale, edited = edit_scales(k_edit, b, joints.shape[2], cfg.edit_train)
      variables = {**variables, "edit": {"accel_scale": scale}}
      plain = mask & ~edited[:, None]
    x0_hat, phys = model.apply(
      variables,
      x_t,
      t,
      batch["global_tokens"],
      batch["global_mask"],
      keep,
      mask,
      deterministic=False,
      physics=True,
      rngs={"dropout": rngs["dropout"]},
    )
    simple, terms = losses.diffusion_loss(x0_hat, x0, plain)
    joints_hat = humanml3d.recover_from_ric(x0_hat * std + mean, check_finite=False)
    physics = bio_losses.physics_losses(joints, joints_hat, phys.accel, mask, fps, scale, plain)
    total = bio_losses.biovae_loss(simple, physics, cfg.loss)
    if scale is not None:
      edit = bio_losses.edit_accel_loss(joints, joints_hat, scale, mask & edited[:, None])
      physics["edit_accel"] = edit
      total = total + cfg.edit_train.weight * edit
    return total, ({**terms, **physics}, mutables)

  return loss_fn


def train(
  diff_cfg: diff_stage.DiffusionStageConfig,
  cfg: BioVAEStageConfig,
  batch_fn: Callable[[int], dict],
  model: BioVAEDenoiser,
  unet_params: Any,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "biovae",
  module_init: Any | None = None,
) -> Any:
  """Fine-tunes UNet + module from the pre-trained ``unet_params``; returns the evaluation params
  (EMA when kept) as numpy, ``{"unet": ..., "biovae": ...}``.

  ``module_init``: pre-trained module parameters (`stages.biovae_muscle.pretrain`, the "MIA
  pre-train" switch). When given they replace ALL of the fresh module's ``params["biovae"]``;
  their tree and shapes must match the module's (else a ValueError)."""
  example = jax.tree.map(lambda x: x[:1], batch_fn(0))
  unet_params = jax.tree.map(jnp.asarray, unet_params)
  if module_init is not None:
    module_init = jax.tree.map(jnp.asarray, module_init)

  def init_fn(key):
    v = model.init(
      {"params": key},
      example["motion"],
      jnp.zeros((1,), jnp.int32),
      example["global_tokens"],
      example["global_mask"],
      jnp.ones((1,), bool),
      example["mask"],
    )
    params = dict(v["params"])
    params["unet"] = unet_params  # the pre-trained denoiser (stage 1)
    if module_init is not None:
      leaves = jax.tree_util.tree_leaves_with_path
      fresh = {jax.tree_util.keystr(k): jnp.shape(v) for k, v in leaves(params["biovae"])}
      given = {jax.tree_util.keystr(k): jnp.shape(v) for k, v in leaves(module_init)}
      bad = sorted(k for k in fresh.keys() | given.keys() if fresh.get(k) != given.get(k))
      if bad:
        raise ValueError(
          f"module_init: {len(bad)} parameter(s) differ from the module's (another BioVAEConfig?)"
          f", e.g. {bad[0]}: given {given.get(bad[0])}, the module's {fresh.get(bad[0])}"
        )
      params["biovae"] = module_init  # the pre-trained muscle mapping (MIA pre-train)
    return params, {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, diff_stage.make_schedule(diff_cfg), diff_cfg, cfg),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


__all__ = [
  "BioVAEStageConfig",
  "EditTrainConfig",
  "edit_scales",
  "make_loss_fn",
  "make_model",
  "train",
]
