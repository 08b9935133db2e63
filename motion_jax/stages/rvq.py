"""Stage: train MoMask's residual VQ-VAE with the shared loop; encode to tokens, decode with any
number of layers.

Model: `motion_jax.models.rvq.RVQVAE`. Objective: `motion_jax.losses.rvq_loss` (MoMask eq. 2).
Defaults (`RVQStageConfig()`, MoMask's public code, FACTS.md): 6 quantisers of 512 x 512, width
512, down_t 2, depth 3, dilation growth 3, EMA 0.99, quantize dropout 0.2, commitment 0.02, 0.5 x
the joint-position term, batch 256 of 64-frame windows, AdamW 2e-4 (0.9, 0.99), warm-up 2000.
Choices where the paper is silent (fields): ``loop.num_steps`` 50k with the learning rate
divided by 10 at 25k and 40k (the public code trains by epochs); frames past a clip's end are
masked out of the reconstruction terms.
Metrics logged while training: the loss terms, ``num_active`` (the quantize-dropout prefix) and
per-layer ``perplexity_<v>`` / ``codes_used_<v>`` of each batch.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import losses
from motion_jax.models.rvq import RVQVAE, RVQConfig
from motion_jax.models.vqvae import VQVAEConfig
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params


@dataclasses.dataclass(frozen=True)
class RVQStageConfig:
  model: RVQConfig = RVQConfig(vq=VQVAEConfig())
  loss: losses.RVQLossConfig = losses.RVQLossConfig()
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=2e-4,
    b1=0.9,
    b2=0.99,
    warmup_steps=2000,
    schedule="multistep",
    decay_steps=(25_000, 40_000),
    decay_factor=0.1,
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=50_000, log_every=200, checkpoint_every=10_000
  )
  batch_size: int = 256
  window: int = 64  # training window (frames); a multiple of 2**down_t

  def __post_init__(self):
    if self.window % self.model.downsample:
      raise ValueError(
        f"rvq.window={self.window} must be a multiple of 2**down_t = {self.model.downsample}"
      )


def position_slice(input_dim: int) -> tuple[int, int]:
  """The RIC joint-position block of HumanML3D-layout features: [4, 4 + 3 (J - 1)) with
  J = (dim + 1) / 12 joints (263 -> [4, 67), KIT's 251 -> [4, 64))."""
  if (input_dim + 1) % 12:
    raise ValueError(f"{input_dim} is not a HumanML3D-layout feature width (12 J - 1)")
  joints = (input_dim + 1) // 12
  return 4, 4 + 3 * (joints - 1)


def make_model(cfg: RVQStageConfig, input_dim: int) -> RVQVAE:
  return RVQVAE(cfg.model, input_dim)


def make_init_fn(model: RVQVAE, window: int):
  def init_fn(key):
    p_key, s_key = jax.random.split(key)
    x = jnp.zeros((1, window, model.input_dim))
    variables = model.init({"params": p_key, "sample": s_key}, x, train=False)
    return variables["params"], {"codebook": variables["codebook"]}

  return init_fn


def make_loss_fn(model: RVQVAE, cfg: losses.RVQLossConfig):
  """Apply the model (quantize dropout drawn inside), call `losses.rvq_loss`."""
  pos = position_slice(model.input_dim)
  q = model.cfg.num_quantizers

  def loss_fn(params, mutables, batch, rngs):
    x = batch["motion"]  # [B, T, C] normalised
    (x_hat, aux), new = model.apply(
      {"params": params, **mutables},
      x,
      train=True,
      mutable=["codebook"],
      rngs={"sample": rngs["sample"]},
    )
    total, terms = losses.rvq_loss(
      x, x_hat, aux["residuals"], aux["codes"], aux["active"], pos, cfg, batch.get("mask")
    )
    metrics = {**terms, "num_active": aux["num_active"]}
    for v in range(q):
      metrics[f"perplexity_{v}"] = aux["perplexity"][v]
      metrics[f"codes_used_{v}"] = aux["codes_used"][v]
    return total, (metrics, dict(new))

  return loss_fn


def train(
  cfg: RVQStageConfig,
  batch_fn: Callable[[int], dict],
  input_dim: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "rvq",
) -> tuple[RVQVAE, dict]:
  """Trains on ``batch_fn(step) -> {'motion': [B, window, C], 'mask'?: [B, window]}``
  (normalised). Returns (model, variables {'params', 'codebook'} as numpy)."""
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


def init_variables(model: RVQVAE, window: int) -> dict:
  """Freshly initialised variables: the structure `artifacts.load_tree(like=...)` restores into."""
  params, mutables = make_init_fn(model, window)(jax.random.PRNGKey(0))
  return {"params": params, "codebook": mutables["codebook"]}


def make_encode_fn(model: RVQVAE) -> Callable:
  """Jitted ``(variables, x [B, T, C]) -> indices [B, T / 4, Q]``."""
  return jax.jit(lambda v, x: model.apply(v, x, method=RVQVAE.encode))


def make_decode_fn(model: RVQVAE, num_layers: int | None = None) -> Callable:
  """Jitted ``(variables, indices [B, T', >= L]) -> motion [B, 4 T', C]`` from the first
  ``num_layers`` layers (default all)."""
  return jax.jit(lambda v, idx: model.apply(v, idx, num_layers, method=RVQVAE.decode))


def reconstruct_layers(
  model: RVQVAE, variables: dict, x: np.ndarray, batch: int = 64
) -> list[np.ndarray]:
  """Eval-mode reconstructions of x [N, T, C] with the first 1, 2, .., Q layers (list of Q)."""
  enc = make_encode_fn(model)
  q = model.cfg.num_quantizers
  decs = [make_decode_fn(model, n) for n in range(1, q + 1)]
  out: list[list[np.ndarray]] = [[] for _ in range(q)]
  for i in range(0, len(x), batch):
    idx = enc(variables, jnp.asarray(x[i : i + batch], jnp.float32))
    for n in range(q):
      out[n].append(np.asarray(decs[n](variables, idx)))
  return [np.concatenate(o) for o in out]


__all__ = [
  "RVQStageConfig",
  "init_variables",
  "make_decode_fn",
  "make_encode_fn",
  "make_init_fn",
  "make_loss_fn",
  "make_model",
  "position_slice",
  "reconstruct_layers",
  "train",
]
