"""BioVAE's "MIA pre-train" (biovae.txt Fig. 2, Tables III/IV) on the squat stand-in.

The paper pre-trains the module's muscle mapping u(X) (8 MIA EMG channels) on the MIA dataset,
which we do not have. This stage trains the same mapping on the squat dataset's motion ->
activation pairs (`motion_jax.data.squat.mia`: t2m joints from OpenSim forward kinematics at
20 Hz, static-optimisation activations grouped into MIA's channels; the two biceps channels have
no target and are masked out).

`pretrain` trains the **full** `models.biovae.BioVAE` module (the one `stages.biovae` fine-tunes)
with the shared loop, loss only on ``BioVAEOutput.activations`` (`losses.biovae.
muscle_pretrain_loss`, a masked MSE: the paper gives no pre-training loss). The module's x̂₀ input
is zeros (width D = 263, the t2m features); only ``pose_encoder`` and ``activation_in/out``
receive gradients. With the default ``weight_decay = 0`` Adam leaves every other parameter at its
initial value. The result drops into `stages.biovae.train(..., module_init=params)`.

Choices (fields of `MusclePretrainConfig`): 30-frame training windows (MIA's window length,
FACTS.md), uniform over repetitions and start frames, shorter repetitions zero-padded and masked;
Adam 1e-3 without weight decay; the OpenSim model of the forward kinematics (the squat data's
base model) and the joint map (`data.squat.mia.T2MJointMap`).

Held-out metrics (`evaluate`): per-channel MSE and R² on the squat test split (subjects held out
by `data.squat.source.load_splits`), against a constant baseline that predicts the training
split's mean of each channel. R² = 1 − SSE / SST with SST about the test split's own mean, so
the constant baseline scores R² <= 0 and a mapping that learned something scores above it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.data.squat import mia
from motion_jax.data.squat.source import RATE, SquatDataConfig, load_splits
from motion_jax.losses import biovae as bio_losses
from motion_jax.models.biovae import MUSCLES, BioVAE, BioVAEConfig
from motion_jax.skeletons.opencap import (
  BIGE_COORDINATES,
  BIGE_MUSCLES,
  LAI_ARNOLD_2017_CONTACTS,
  load_opencap_model,
)
from motion_jax.skeletons.t2m import T2M
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params

log = logging.getLogger(__name__)
FEATURES = T2M.dim_pose  # D = 263: the width of the module's x̂₀ input (zeros here)


@dataclasses.dataclass(frozen=True)
class MusclePretrainConfig:
  window: int = 30  # training window (frames at the module's fps); MIA's 30-frame windows
  batch_size: int = 64
  model: str = LAI_ARNOLD_2017_CONTACTS  # OpenSim model of the FK (a file in data/opencap)
  joint_map: mia.T2MJointMap = mia.T2MJointMap()
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=1e-3, b1=0.9, b2=0.999, weight_decay=0.0, grad_clip_norm=1.0
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=5000, log_every=100, checkpoint_every=1000, keep_checkpoints=2
  )

  def __post_init__(self):
    if self.window < 1 or self.batch_size < 1:
      raise ValueError(
        f"muscle pretrain: window and batch_size must be >= 1, got {self.window}, {self.batch_size}"
      )


class MuscleSplit(NamedTuple):
  """One split as module inputs and targets, one entry per repetition."""

  joints: list[np.ndarray]  # [T, 22, 3] t2m joints (metres) at the module's fps
  targets: list[np.ndarray]  # [T, 8] MIA channels
  channel_mask: np.ndarray  # [8] True where a channel has a target


def prepare(
  squat_cfg: SquatDataConfig, cfg: MusclePretrainConfig, fps: float
) -> dict[str, MuscleSplit]:
  """``{"train", "test"}`` splits of the squat data as t2m joints and MIA channels at ``fps``."""
  splits = load_splits(squat_cfg, require_activations=True)
  model = load_opencap_model(cfg.model)
  out = {}
  for name in ("train", "test"):
    joints, targets, mask = [], [], None
    for ex in splits[name]:
      j, a = mia.squat_to_t2m_joints(
        ex["coordinates"],
        BIGE_COORDINATES,
        model,
        RATE,
        fps,
        activations=ex["activations"],
        joint_map=cfg.joint_map,
      )
      u, mask = mia.group_activations(a, BIGE_MUSCLES)
      joints.append(j)
      targets.append(u)
    out[name] = MuscleSplit(joints, targets, mask)
  return out


def make_batch_fn(data: MuscleSplit, cfg: MusclePretrainConfig, seed: int) -> Callable:
  """``step -> {"joints" [B, W, 22, 3], "targets" [B, W, 8], "mask" [B, W]}``: random windows."""
  n, w = len(data.joints), cfg.window

  def batch_fn(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, step])
    joints = np.zeros((cfg.batch_size, w, *data.joints[0].shape[1:]), np.float32)
    targets = np.zeros((cfg.batch_size, w, data.targets[0].shape[1]), np.float32)
    mask = np.zeros((cfg.batch_size, w), bool)
    for b, r in enumerate(rng.integers(0, n, cfg.batch_size)):
      length = len(data.joints[r])
      s = int(rng.integers(0, max(length - w, 0) + 1))
      k = min(w, length - s)
      joints[b, :k] = data.joints[r][s : s + k]
      joints[b, k:] = data.joints[r][s + k - 1]  # hold the last pose (masked anyway)
      targets[b, :k] = data.targets[r][s : s + k]
      mask[b, :k] = True
    return {"joints": joints, "targets": targets, "mask": mask}

  return batch_fn


def make_loss_fn(model: BioVAE, channel_mask: np.ndarray) -> Callable:
  """The module on a batch of joints (x̂₀ = 0), `muscle_pretrain_loss` on its activations."""
  cmask = jnp.asarray(channel_mask)

  def loss_fn(params, mutables, batch, rngs):
    del rngs
    joints = batch["joints"]
    x0 = jnp.zeros((*joints.shape[:2], model.features), joints.dtype)
    out = model.apply({"params": params}, joints, x0)
    total, terms = bio_losses.muscle_pretrain_loss(
      out.activations, batch["targets"], cmask, batch["mask"]
    )
    return total, (terms, mutables)

  return loss_fn


@functools.partial(jax.jit, static_argnums=0)
def _activations(model: BioVAE, params: Any, joints: jax.Array) -> jax.Array:
  x0 = jnp.zeros((*joints.shape[:2], model.features), joints.dtype)
  return model.apply({"params": params}, joints, x0).activations


def predict(model: BioVAE, params: Any, joints: list[np.ndarray]) -> list[np.ndarray]:
  """u(X) [T, 8] of each clip: clips padded at the end with their last pose (the module is
  causal, so padding never changes earlier frames) and batched."""
  t_max = max(len(j) for j in joints)
  x = np.stack([np.concatenate([j, np.repeat(j[-1:], t_max - len(j), 0)]) for j in joints])
  u = np.asarray(_activations(model, params, jnp.asarray(x)))
  return [u[i, : len(j)] for i, j in enumerate(joints)]


def evaluate(
  model: BioVAE, params: Any, test: MuscleSplit, baseline_mean: np.ndarray
) -> dict[str, Any]:
  """Held-out per-channel MSE / R² of the module and of the constant ``baseline_mean`` [8]."""
  pred = np.concatenate(predict(model, params, test.joints))
  target = np.concatenate(test.targets)
  sst = ((target - target.mean(0)) ** 2).mean(0)
  mse = ((pred - target) ** 2).mean(0)
  base = ((baseline_mean[None] - target) ** 2).mean(0)
  channels = {}
  for c, name in enumerate(MUSCLES):
    if not test.channel_mask[c]:
      channels[name] = None  # no target (biceps: no arm muscles in the Lai models)
      continue
    channels[name] = {
      "mse": float(mse[c]),
      "r2": float(1.0 - mse[c] / max(sst[c], 1e-12)),
      "baseline_mse": float(base[c]),
      "baseline_r2": float(1.0 - base[c] / max(sst[c], 1e-12)),
    }
  m = test.channel_mask
  return {
    "frames": int(len(target)),
    "clips": len(test.joints),
    "mse": float(mse[m].mean()),
    "baseline_mse": float(base[m].mean()),
    "channels": channels,
  }


def format_metrics(metrics: dict[str, Any]) -> str:
  """A small table of `evaluate`'s result (one row per channel)."""
  rows = [f"{'channel':<14}{'mse':>9}{'r2':>8}{'base mse':>10}{'base r2':>9}"]
  for name, c in metrics["channels"].items():
    if c is None:
      rows.append(f"{name:<14}{'(no target)':>36}")
      continue
    rows.append(
      f"{name:<14}{c['mse']:>9.5f}{c['r2']:>8.3f}{c['baseline_mse']:>10.5f}{c['baseline_r2']:>9.3f}"
    )
  rows.append(f"{'mean':<14}{metrics['mse']:>9.5f}{'':>8}{metrics['baseline_mse']:>10.5f}")
  return "\n".join(rows)


def pretrain(
  cfg: MusclePretrainConfig,
  module_cfg: BioVAEConfig,
  squat_cfg: SquatDataConfig,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  data: dict[str, MuscleSplit] | None = None,
) -> tuple[Any, dict[str, Any]]:
  """Pre-trains the full BioVAE module's u(X) on the squat stand-in (module docstring).

  Args:
    cfg: windows, batch, loop, optimiser, FK model and joint map.
    module_cfg: the module to pre-train (the same `BioVAEConfig` as the fine-tuning stage's).
    squat_cfg: which squat data (its train / test split).
    workdir: checkpoints, ``muscle_pretrain.jsonl`` and ``muscle_pretrain_metrics.json``.
    seed: initialisation, per-step RNG and window sampling.
    data: already prepared splits (`prepare`), to skip the forward kinematics.
  Returns:
    ``(params, metrics)``: the module's parameters as numpy (the tree of
    ``BioVAEDenoiser``'s ``params["biovae"]``), and the held-out metrics of `evaluate` for the
    trained module (``"trained"``) and for its initial parameters (``"untrained"``).
  """
  workdir = pathlib.Path(workdir)
  data = data if data is not None else prepare(squat_cfg, cfg, module_cfg.fps)
  train_split, test_split = data["train"], data["test"]
  model = BioVAE(module_cfg, FEATURES)
  batch_fn = make_batch_fn(train_split, cfg, seed)
  n_joints = train_split.joints[0].shape[1]

  def init_fn(key):
    x = jnp.zeros((1, cfg.window, n_joints, 3))
    return model.init({"params": key}, x, jnp.zeros((1, cfg.window, FEATURES)))["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, train_split.channel_mask),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc="muscle_pretrain",
  )
  params = loop_lib.to_numpy(eval_params(state))
  # The loop's initial parameters (train.loop.init_state splits the seed the same way).
  init_params, _ = init_fn(jax.random.split(jax.random.PRNGKey(seed))[0])
  baseline = np.concatenate(train_split.targets).mean(0)
  metrics = {
    "trained": evaluate(model, params, test_split, baseline),
    "untrained": evaluate(model, init_params, test_split, baseline),
  }
  log.info("muscle pre-training, held-out squat subjects:\n%s", format_metrics(metrics["trained"]))
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "muscle_pretrain_metrics.json").write_text(json.dumps(metrics, indent=1))
  return params, metrics


__all__ = [
  "FEATURES",
  "MusclePretrainConfig",
  "MuscleSplit",
  "evaluate",
  "format_metrics",
  "make_batch_fn",
  "make_loss_fn",
  "predict",
  "prepare",
  "pretrain",
]
