"""Stage: train BIGE's muscle surrogate (kinematics -> 80 activations) and evaluate it.

L1 loss between predicted and simulated activations (paper); the public code adds an
activation-weighted variant (`weighted=True`: |a_hat - a| * a, x100), offered as an option.
Held-out evaluation: per-muscle MAE and Pearson correlation over held-out subjects' frames.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.data.batching import StepBatcher
from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig
from motion_jax.skeletons.opencap import BIGE_MUSCLES
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim


def model_from_config(cfg: Any, max_len: int) -> MuscleSurrogate:
  return MuscleSurrogate(
    SurrogateConfig(
      input_dim=33,
      output_dim=80,
      model_dim=cfg.model_dim,
      num_layers=cfg.num_layers,
      num_heads=cfg.num_heads,
      ff_dim=cfg.ff_dim,
      dropout=cfg.dropout,
      max_len=max_len,
    )
  )


def make_loss_fn(model: MuscleSurrogate, weighted: bool):
  def loss_fn(params, mutables, batch, rngs):
    pred = model.apply(
      {"params": params}, batch["motion"], train=True, rngs={"dropout": rngs["dropout"]}
    )
    err = jnp.abs(pred - batch["activation"])
    l1 = jnp.mean(err)
    loss = 100.0 * jnp.mean(err * batch["activation"]) if weighted else l1
    return loss, ({"l1": l1}, mutables)

  return loss_fn


def train(
  cfg: Any,
  motion: np.ndarray,
  activation: np.ndarray,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  max_len: int | None = None,
):
  """motion [N, W, 33] normalised, activation [N, W, 80] -> (model, params).

  `max_len` sizes the learnable positional table (default W); set it to the longest sequence the
  model will see later (e.g. guidance samples longer than the training windows)."""
  model = model_from_config(cfg, max(max_len or 0, motion.shape[1]))
  examples = [
    {"motion": m.astype(np.float32), "activation": a.astype(np.float32)}
    for m, a in zip(motion, activation)
  ]

  def init_fn(key):
    return model.init(key, jnp.zeros((1, *motion.shape[1:])))["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=loop_lib.LoopConfig.from_config(cfg, seed=seed, desc="surrogate"),
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, cfg.weighted_loss),
    tx=optim.make_optimizer(optim.OptimConfig.from_config(cfg.optim)),
    batch_fn=StepBatcher(examples, batch_size=cfg.batch_size, seed=seed),
  )
  return model, loop_lib.to_numpy(state.params)


def predict(model: MuscleSurrogate, params: Any, motion: np.ndarray, batch: int = 64) -> np.ndarray:
  fn = jax.jit(lambda p, x: model.apply({"params": p}, x, train=False))
  return np.concatenate(
    [
      np.asarray(fn(params, jnp.asarray(motion[i : i + batch], jnp.float32)))
      for i in range(0, len(motion), batch)
    ]
  )


def evaluate(pred: np.ndarray, target: np.ndarray) -> dict[str, Any]:
  """Per-muscle MAE and correlation over all frames of [N, T, 80] arrays."""
  p, t = pred.reshape(-1, 80).astype(np.float64), target.reshape(-1, 80).astype(np.float64)
  mae = np.abs(p - t).mean(0)
  pc, tc = p - p.mean(0), t - t.mean(0)
  denom = np.sqrt((pc**2).sum(0) * (tc**2).sum(0))
  corr = np.where(denom > 1e-12, (pc * tc).sum(0) / np.maximum(denom, 1e-12), np.nan)
  per_muscle = {
    name: {"mae": float(mae[i]), "corr": float(corr[i])} for i, name in enumerate(BIGE_MUSCLES)
  }
  return {
    "mae_mean": float(mae.mean()),
    "corr_median": float(np.nanmedian(corr)),
    "vasmed_l": per_muscle["vasmed_l"],
    "vasmed_r": per_muscle["vasmed_r"],
    "per_muscle": per_muscle,
  }


def default_config(preset: str | None):
  """Paper: 3 post-LN layers at the input width (33), 11 heads, ff 256, dropout 0.1, sigmoid, L1;
  Adam 2e-4 (the code's optimiser), batch 40, 64-frame windows."""
  import ml_collections

  from experiments import base

  s = ml_collections.ConfigDict()
  s.model_dim, s.num_layers, s.num_heads, s.ff_dim, s.dropout = 0, 3, 11, 256, 0.1
  s.weighted_loss = False
  s.window = 64
  s.batch_size, s.num_steps = 40, 20_000
  s.log_every, s.checkpoint_every, s.keep_checkpoints, s.ema_decay = 200, 5_000, 3, 0.999
  s.init_from = ""
  s.optim = base.get_config().optim
  s.optim.update(dict(learning_rate=2e-4, b1=0.9, b2=0.999))
  if preset == "quick":
    s.num_steps, s.log_every, s.checkpoint_every = 1500, 100, 500
  elif preset == "tiny":
    s.num_layers, s.ff_dim, s.num_steps, s.batch_size = 1, 32, 20, 8
    s.log_every, s.checkpoint_every = 10, 20
  return s
