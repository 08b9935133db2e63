"""Stage: train a motion VQ-VAE with the shared loop; reconstruct and measure code usage.

Model: `motion_jax.models.vqvae.VQVAE` (T2M-GPT's architecture, used by BIGE). Objective:
`motion_jax.losses.vqvae_loss` (BIGE eq. 1). Defaults (`VQStageConfig()`): the paper/code sizes
(BIGE options/option_vq.py): width 512, 512 codes x 512 dims, down_t 2, depth 3, dilation growth
3, mu 0.99, batch 128, AdamW 2e-4 (0.9, 0.99), warmup 1000, milestones (50k, 400k) x 0.05, 200k
iterations, 64-frame training windows. Experiments shrink them for their `quick`/`tiny` presets.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import losses
from motion_jax.models.vqvae import VQVAE, VQVAEConfig
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params


@dataclasses.dataclass(frozen=True)
class VQStageConfig:
  model: VQVAEConfig = VQVAEConfig()
  loss: losses.VQLossConfig = losses.VQLossConfig()
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=2e-4,
    b1=0.9,
    b2=0.99,
    warmup_steps=1000,
    schedule="multistep",
    decay_steps=(50_000, 400_000),
    decay_factor=0.05,
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=200_000, log_every=200, checkpoint_every=10_000
  )
  batch_size: int = 128
  window: int = 64  # training window (frames); a multiple of 2**down_t

  def __post_init__(self):
    if self.window % self.model.downsample:
      raise ValueError(
        f"vqvae.window={self.window} must be a multiple of 2**down_t = {self.model.downsample}"
      )


def make_init_fn(model: VQVAE, window: int, batch_size: int = 1):
  def init_fn(key):
    p_key, s_key = jax.random.split(key)
    x = jnp.zeros((batch_size, window, model.input_dim))
    variables = model.init({"params": p_key, "sample": s_key}, x, train=False)
    return variables["params"], {"codebook": variables["codebook"]}

  return init_fn


def make_loss_fn(model: VQVAE, cfg: losses.VQLossConfig):
  """Apply the model, call `losses.vqvae_loss`; codebook statistics as mutable state."""

  def loss_fn(params, mutables, batch, rngs):
    x = batch["motion"]  # [B, T, C] normalised
    (x_hat, aux), new = model.apply(
      {"params": params, **mutables},
      x,
      train=True,
      mutable=["codebook"],
      rngs={"sample": rngs["sample"]},
    )
    loss, terms = losses.vqvae_loss(x, x_hat, aux["z_e"], aux["z_q"], cfg)
    metrics = {**terms, "perplexity": aux["perplexity"], "dead_codes": aux["dead_codes"]}
    return loss, (metrics, dict(new))

  return loss_fn


def make_model(cfg: VQStageConfig, input_dim: int) -> VQVAE:
  return VQVAE(cfg.model, input_dim)


def train(
  cfg: VQStageConfig,
  batch_fn: Callable[[int], dict],
  input_dim: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "vqvae",
) -> tuple[VQVAE, dict]:
  """Trains on batches `batch_fn(step) -> {'motion': [B, window, input_dim]}` (normalised).

  Returns (model, variables {'params', 'codebook'} as numpy).
  """
  model = make_model(cfg, input_dim)
  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=make_init_fn(model, cfg.window),
    loss_fn=make_loss_fn(model, cfg.loss),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  variables = {
    "params": loop_lib.to_numpy(eval_params(state)),
    "codebook": loop_lib.to_numpy(state.mutables["codebook"]),
  }
  return model, variables


def init_variables(model: VQVAE, window: int) -> dict:
  """Freshly initialised variables: the structure `artifacts.load_tree(like=...)` restores into."""
  params, mutables = make_init_fn(model, window)(jax.random.PRNGKey(0))
  return {"params": params, "codebook": mutables["codebook"]}


def reconstruct(
  model: VQVAE, variables: dict, x: np.ndarray, batch: int = 64
) -> tuple[np.ndarray, np.ndarray]:
  """Eval-mode reconstruction and code indices of x [N, T, C]."""
  fn = jax.jit(lambda v, x: model.apply(v, x, train=False))
  outs, codes = [], []
  for i in range(0, len(x), batch):
    y, aux = fn(variables, jnp.asarray(x[i : i + batch], jnp.float32))
    outs.append(np.asarray(y))
    codes.append(np.asarray(aux["indices"]))
  return np.concatenate(outs), np.concatenate(codes)


def encode(model: VQVAE, variables: dict, x: np.ndarray, batch: int = 64) -> np.ndarray:
  """Encoder outputs (pre-quantisation latents) [N, T / 2**down_t, D] of x [N, T, C]."""
  fn = jax.jit(lambda v, x: model.apply(v, x, method=VQVAE.encode))
  return np.concatenate(
    [np.asarray(fn(variables, jnp.asarray(x[i : i + batch]))) for i in range(0, len(x), batch)]
  )


def code_usage(codes: np.ndarray, num_codes: int) -> dict[str, Any]:
  counts = np.bincount(codes.ravel(), minlength=num_codes).astype(np.float64)
  p = counts / counts.sum()
  nz = p[p > 0]
  return {
    "perplexity": float(np.exp(-(nz * np.log(nz)).sum())),
    "codes_used": int((counts > 0).sum()),
    "num_codes": num_codes,
  }
