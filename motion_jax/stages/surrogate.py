"""Stage: train BIGE's muscle surrogate (kinematics -> 80 activations) and evaluate it.

Model: `motion_jax.models.surrogate.MuscleSurrogate`. Objective: `motion_jax.losses.surrogate_loss`
(BIGE Sec. 3.2, L1; the public code's activation-weighted form as `weighted_loss=True`).
Defaults (`SurrogateStageConfig()`): 3 post-LN layers at the input width (33), 11 heads, ff 256,
dropout 0.1, sigmoid; Adam 2e-4 (the code's optimiser), batch 40, 64-frame windows, 20k steps.
Held-out evaluation: per-muscle MAE and Pearson correlation over all frames.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import losses
from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params


@dataclasses.dataclass(frozen=True)
class SurrogateStageConfig:
  model: SurrogateConfig = SurrogateConfig()
  optim: optim.OptimConfig = optim.OptimConfig(learning_rate=2e-4, b1=0.9, b2=0.999)
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=20_000, log_every=200, checkpoint_every=5_000
  )
  weighted_loss: bool = False  # the public code's activation-weighted L1 instead of the paper's
  batch_size: int = 40
  window: int = 64


def make_model(cfg: SurrogateStageConfig, output_dim: int, max_len: int) -> MuscleSurrogate:
  return MuscleSurrogate(cfg.model, output_dim=output_dim, max_len=max_len)


def make_loss_fn(model: MuscleSurrogate, weighted: bool):
  """Apply the model, call `losses.surrogate_loss`."""

  def loss_fn(params, mutables, batch, rngs):
    pred = model.apply(
      {"params": params}, batch["motion"], train=True, rngs={"dropout": rngs["dropout"]}
    )
    loss, terms = losses.surrogate_loss(pred, batch["activations"], weighted)
    return loss, (terms, mutables)

  return loss_fn


def train(
  cfg: SurrogateStageConfig,
  batch_fn: Callable[[int], dict],
  input_dim: int,
  output_dim: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  max_len: int | None = None,
  desc: str = "surrogate",
) -> tuple[MuscleSurrogate, Any]:
  """Trains on `batch_fn(step) -> {'motion': [B, W, input_dim] normalised, 'activations':
  [B, W, output_dim]}`; returns (model, params as numpy).

  `max_len` sizes the positional table (default the window); set it to the longest sequence the
  model will see later (e.g. guidance samples longer than the training windows)."""
  model = make_model(cfg, output_dim, max(max_len or 0, cfg.window))

  def init_fn(key):
    return model.init(key, jnp.zeros((1, cfg.window, input_dim)))["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, cfg.weighted_loss),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return model, loop_lib.to_numpy(eval_params(state))


def init_params(model: MuscleSurrogate, input_dim: int, window: int) -> Any:
  """Freshly initialised parameters: the structure `artifacts.load_tree(like=...)` restores into."""
  return model.init(jax.random.PRNGKey(0), jnp.zeros((1, window, input_dim)))["params"]


def predict(model: MuscleSurrogate, params: Any, motion: np.ndarray, batch: int = 64) -> np.ndarray:
  fn = jax.jit(lambda p, x: model.apply({"params": p}, x, train=False))
  return np.concatenate(
    [
      np.asarray(fn(params, jnp.asarray(motion[i : i + batch], jnp.float32)))
      for i in range(0, len(motion), batch)
    ]
  )


def evaluate(pred: np.ndarray, target: np.ndarray, muscles: Sequence[str]) -> dict[str, Any]:
  """Per-muscle MAE and correlation over all frames of [N, T, M] arrays (M = len(muscles))."""
  m = len(muscles)
  p, t = pred.reshape(-1, m).astype(np.float64), target.reshape(-1, m).astype(np.float64)
  mae = np.abs(p - t).mean(0)
  pc, tc = p - p.mean(0), t - t.mean(0)
  denom = np.sqrt((pc**2).sum(0) * (tc**2).sum(0))
  corr = np.where(denom > 1e-12, (pc * tc).sum(0) / np.maximum(denom, 1e-12), np.nan)
  per_muscle = {
    name: {"mae": float(mae[i]), "corr": float(corr[i])} for i, name in enumerate(muscles)
  }
  out = {
    "mae_mean": float(mae.mean()),
    "corr_median": float(np.nanmedian(corr)),
    "per_muscle": per_muscle,
  }
  for name in ("vasmed_l", "vasmed_r"):
    if name in per_muscle:
      out[name] = per_muscle[name]
  return out
