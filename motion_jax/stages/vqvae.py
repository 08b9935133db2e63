"""Stage: train a motion VQ-VAE with the shared loop, and evaluate reconstruction + code usage.

Loss (BIGE paper eq. 1; Rose-STL-Lab/BIGE train_vq.py for the code's variant):
  L = recon(x_hat, x) + commit * ||z_e - sg(z_q)||^2 + temporal * mean((x_hat[t+1] - x_hat[t])^2)
with recon = smooth-L1 (paper) or L2 (code default, `recon_loss='l2'`), commit = 0.02,
temporal = 2.0 in the code (the weight the paper's eq. 1 leaves to the implementation).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from motion_jax.data.batching import StepBatcher
from motion_jax.models.vqvae import VQVAE, VQVAEConfig, temporal_smoothness
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim


@dataclasses.dataclass(frozen=True)
class VQLossConfig:
  recon_loss: str = "smooth_l1"  # paper; 'l2' is the public code's default
  commit: float = 0.02
  temporal: float = 2.0

  def __post_init__(self):
    if self.recon_loss not in ("smooth_l1", "l2"):
      raise ValueError(f"vqvae.recon_loss must be 'smooth_l1' or 'l2', got {self.recon_loss!r}")


def default_config(preset: str | None) -> ml_collections.ConfigDict:
  """Paper/code sizes (BIGE options/option_vq.py): width 512, 512 codes x 512 dims, down_t 2,
  depth 3, dilation growth 3, mu 0.99, batch 128, AdamW 2e-4 (0.9, 0.99), warmup 1000, milestones
  (50k, 400k) x 0.05, 200k iterations. `quick` (CPU minutes) and `tiny` (tests) shrink it."""
  from experiments import base

  v = ml_collections.ConfigDict()
  v.width, v.code_dim, v.num_codes = 512, 512, 512
  v.down_t, v.depth, v.dilation_growth, v.mu = 2, 3, 3, 0.99
  v.recon_loss, v.commit, v.temporal = "smooth_l1", 0.02, 2.0
  v.batch_size, v.num_steps = 128, 200_000
  v.log_every, v.checkpoint_every, v.keep_checkpoints, v.ema_decay = 200, 10_000, 3, 0.999
  v.init_from = ""
  v.optim = base.get_config().optim
  v.optim.update(
    dict(
      learning_rate=2e-4,
      b1=0.9,
      b2=0.99,
      warmup_steps=1000,
      schedule="multistep",
      decay_steps=(50_000, 400_000),
      decay_factor=0.05,
    )
  )
  if preset == "quick":
    v.width, v.code_dim, v.num_codes = 128, 64, 128
    v.batch_size, v.num_steps, v.log_every, v.checkpoint_every = 32, 1500, 100, 500
    v.optim.warmup_steps, v.optim.decay_steps = 100, (1000,)
  elif preset == "tiny":
    v.width, v.code_dim, v.num_codes = 32, 16, 32
    v.batch_size, v.num_steps, v.log_every, v.checkpoint_every = 8, 30, 10, 20
    v.optim.warmup_steps, v.optim.decay_steps = 5, (1000,)
  return v


def recon_loss(pred: jax.Array, target: jax.Array, kind: str) -> jax.Array:
  if kind == "l2":
    return jnp.mean((pred - target) ** 2)
  return jnp.mean(optax.huber_loss(pred, target, delta=1.0))  # = torch SmoothL1 (beta=1)


def make_init_fn(model: VQVAE, window: int, batch_size: int):
  def init_fn(key):
    p_key, s_key = jax.random.split(key)
    x = jnp.zeros((batch_size, window, model.cfg.input_dim))
    variables = model.init({"params": p_key, "sample": s_key}, x, train=False)
    return variables["params"], {"codebook": variables["codebook"]}

  return init_fn


def make_loss_fn(model: VQVAE, cfg: VQLossConfig):
  def loss_fn(params, mutables, batch, rngs):
    x = batch["motion"]  # [B, T, C] normalised
    (x_hat, aux), new = model.apply(
      {"params": params, **mutables},
      x,
      train=True,
      mutable=["codebook"],
      rngs={"sample": rngs["sample"]},
    )
    rec = recon_loss(x_hat, x, cfg.recon_loss)
    temp = temporal_smoothness(x_hat)
    loss = rec + cfg.commit * aux["commit_loss"] + cfg.temporal * temp
    metrics = {
      "recon": rec,
      "commit": aux["commit_loss"],
      "temporal": temp,
      "perplexity": aux["perplexity"],
      "dead_codes": aux["dead_codes"],
    }
    return loss, (metrics, dict(new))

  return loss_fn


def model_from_config(cfg: Any, input_dim: int) -> VQVAE:
  return VQVAE(
    VQVAEConfig(
      input_dim=input_dim,
      width=cfg.width,
      code_dim=cfg.code_dim,
      num_codes=cfg.num_codes,
      down_t=cfg.down_t,
      depth=cfg.depth,
      dilation_growth=cfg.dilation_growth,
      mu=cfg.mu,
    )
  )


def train(cfg: Any, windows: np.ndarray, workdir: str | pathlib.Path, *, seed: int):
  """Trains on `windows` [N, T, C] (already normalised). Returns (model, variables)."""
  model = model_from_config(cfg, windows.shape[-1])
  examples = [{"motion": w.astype(np.float32)} for w in windows]
  batch_fn = StepBatcher(examples, batch_size=cfg.batch_size, seed=seed)
  tx = optim.make_optimizer(optim.OptimConfig.from_config(cfg.optim))
  loop_cfg = loop_lib.LoopConfig.from_config(cfg, seed=seed, desc="vqvae")
  state = loop_lib.train(
    workdir=workdir,
    loop=loop_cfg,
    init_fn=make_init_fn(model, windows.shape[1], 1),
    loss_fn=make_loss_fn(model, VQLossConfig(cfg.recon_loss, cfg.commit, cfg.temporal)),
    tx=tx,
    batch_fn=batch_fn,
  )
  variables = {
    "params": loop_lib.to_numpy(state.params),
    "codebook": loop_lib.to_numpy(state.mutables["codebook"]),
  }
  return model, variables


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


def code_usage(codes: np.ndarray, num_codes: int) -> dict[str, float]:
  counts = np.bincount(codes.ravel(), minlength=num_codes).astype(np.float64)
  p = counts / counts.sum()
  nz = p[p > 0]
  return {
    "perplexity": float(np.exp(-(nz * np.log(nz)).sum())),
    "codes_used": int((counts > 0).sum()),
    "num_codes": num_codes,
  }
