"""Stage: T2M-GPT's token transformer (Zhang et al., CVPR 2023) over the single-quantiser motion
VQ-VAE (`motion_jax.stages.vqvae`), and text-to-motion sampling with a key/value cache.

* `gpt_batch_fn`: training batches of the text-motion batcher tokenised by the frozen VQ-VAE:
  ``targets`` [B, N + 1] (codes, End = K at the length, [PAD] = K + 1 after), ``inputs`` [B, N]
  (the targets shifted, each code replaced by a random one with probability 1 - pkeep: T2M-GPT's
  corruption, Sec. 3.2), ``weight`` [B, N + 1] (codes and End), ``text`` [B, F].
* `make_loss_fn` / `train`: next-token cross-entropy (T2M-GPT eq. 5) via `losses.token_loss`.
* `Generator`: captions -> tokens by `motion_jax.diffusion.autoregressive.sample_cached` (one jitted
  scan per chunk) until End (length = 4 x tokens; or End forced at a given length) -> VQ decoder
  -> raw features.

Defaults (FACTS.md, public code): 9 layers, 1024 dims, 16 heads, block 51, pkeep 0.5, lr 1e-4.
Choices (fields): AdamW (0.9, 0.99), 300k steps of 128 with x0.05 at 150k, sampling temperature 1
without top-k; only code positions inside the length are corrupted.
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
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.diffusion import autoregressive as ar
from motion_jax.models.t2m_gpt import T2MGPT, GPTConfig, init_cache
from motion_jax.models.vqvae import VQVAE
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params


@dataclasses.dataclass(frozen=True)
class T2MGPTStageConfig:
  gpt: GPTConfig = GPTConfig()
  pkeep: float = 0.5
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=1e-4, b1=0.9, b2=0.99, schedule="multistep", decay_steps=(150_000,),
    decay_factor=0.05,
  )  # fmt: skip
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=300_000, log_every=200, checkpoint_every=10_000
  )
  batch_size: int = 128
  temperature: float = 1.0
  top_k: int = 0

  def __post_init__(self):
    if not 0.0 <= self.pkeep <= 1.0:
      raise ValueError(f"pkeep must be in [0, 1], got {self.pkeep}")


def make_model(cfg: T2MGPTStageConfig, num_codes: int) -> T2MGPT:
  return T2MGPT(cfg.gpt, num_codes)


def make_code_fn(vq: VQVAE) -> Callable:
  """Jitted ``(variables, x [B, T, C]) -> codes [B, T / 4]`` (eval mode)."""
  return jax.jit(lambda v, x: vq.apply(v, x, train=False)[1]["indices"])


def gpt_batch_fn(
  batcher: Callable[[int], dict], vq: VQVAE, vq_variables: dict, pkeep: float, seed: int
) -> Callable[[int], dict]:
  """Step-indexed GPT batches from ``{'motion', 'mask', 'caption_embedding'}`` batches (module
  docstring)."""
  code_fn = make_code_fn(vq)
  k = vq.cfg.num_codes
  down = vq.cfg.downsample

  def batch_fn(step: int) -> dict:
    b = batcher(step)
    codes = np.asarray(code_fn(vq_variables, jnp.asarray(b["motion"]))).astype(np.int32)
    n = codes.shape[1]
    length = np.asarray(b["mask"], bool)[:, ::down].sum(1)  # tokens
    pos = np.arange(n + 1)[None]
    targets = np.full((len(codes), n + 1), k + 1, np.int32)
    targets[:, :n] = np.where(pos[:, :n] < length[:, None], codes, k + 1)
    targets[pos[0][None] == length[:, None]] = k  # End
    rng = np.random.default_rng([seed, step])
    inputs = targets[:, :n].copy()
    replace = (rng.random(inputs.shape) >= pkeep) & (pos[:, :n] < length[:, None])
    inputs[replace] = rng.integers(0, k, size=int(replace.sum()))
    return {
      "inputs": inputs,
      "targets": targets,
      "weight": pos <= length[:, None],
      "text": np.asarray(b["caption_embedding"], np.float32),
    }

  return batch_fn


def make_loss_fn(model: T2MGPT) -> Callable:
  def loss_fn(params, mutables, batch, rngs):
    logits = model.apply(
      {"params": params},
      batch["text"],
      batch["inputs"],
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    total, terms = losses.token_loss(logits, batch["targets"], batch["weight"])
    return total, (terms, mutables)

  return loss_fn


def train(
  cfg: T2MGPTStageConfig,
  batch_fn: Callable[[int], dict],
  num_codes: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "t2m_gpt",
  init_params: Any = None,
):
  """Trains (or resumes) the GPT on `gpt_batch_fn` batches; numpy (eval) params.
  ``init_params``: start from these parameters (fine-tuning a trained GPT, e.g. on MoCLIP's text
  embeddings, moclip.txt Sec. 4.3) instead of a fresh initialisation."""
  model = make_model(cfg, num_codes)
  ex = batch_fn(0)

  def init_fn(key):
    if init_params is not None:
      return jax.tree.map(jnp.asarray, init_params), {}
    text, ids = jnp.asarray(ex["text"][:1]), jnp.asarray(ex["inputs"][:1])
    return model.init({"params": key}, text, ids)["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


class Generator:
  """Text-to-motion with a trained T2M-GPT: the length comes from the End token, which is not
  allowed before ``ceil(min_frames / 4)`` tokens (e.g. an evaluator's shortest motion)."""

  def __init__(
    self,
    vq: VQVAE,
    vq_variables: dict,
    params,
    cfg: T2MGPTStageConfig,
    features: tf_lib.TextFeatures,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    max_frames: int,
    chunk: int = 32,
    min_frames: int = 4,
  ):
    down = vq.cfg.downsample
    if max_frames % down:
      raise ValueError(f"max_frames {max_frames} must be a multiple of {down}")
    self.max_tokens = max_frames // down
    if self.max_tokens + 1 > cfg.gpt.block_size:
      raise ValueError(f"{self.max_tokens} tokens + text exceed block_size {cfg.gpt.block_size}")
    self.vq, self.vq_variables, self.params, self.cfg = vq, vq_variables, params, cfg
    self.down, self.features, self.chunk = down, features, chunk
    self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    self.model = make_model(cfg, vq.cfg.num_codes)
    k, model, max_tokens = vq.cfg.num_codes, self.model, self.max_tokens
    min_tokens = min(-(-min_frames // down), self.max_tokens)  # End allowed from here on
    sample_cfg = ar.ARConfig(cfg.temperature, cfg.top_k, min_tokens)

    def run(params, v, text, key, target):
      def step_fn(text, prev, cache, pos):
        return model.apply({"params": params}, text, prev, cache, pos, method=T2MGPT.step)

      cache = init_cache(cfg.gpt, text.shape[0])
      tokens, lengths = ar.sample_cached(
        step_fn, cache, text, key, sample_cfg, k, max_tokens, target
      )
      codes = jnp.where(tokens[:, :max_tokens] < k, tokens[:, :max_tokens], 0)
      return lengths, vq.apply(v, codes_to_latents(v, codes), method=VQVAE.decode)

    self._fn = jax.jit(run)

  def generate(
    self, texts: Sequence[str], key: jax.Array, lengths: Sequence[int] | None = None
  ) -> list[np.ndarray]:
    """Raw motions ``[4 x tokens before End, F]`` for ``texts`` (chunk c: ``fold_in(key, c)``).

    ``lengths`` (frames per text; 0 = the End token decides) forces End after ``lengths // 4``
    tokens (`motion_jax.diffusion.autoregressive`, a mask on the logits in the same compiled
    sampler): those motions have exactly ``4 (lengths // 4)`` frames."""
    texts = list(texts)
    rows = self.features.rows(texts)
    if np.any(rows < 0):
      raise KeyError(f"{int(np.sum(rows < 0))} caption(s) have no cached text features")
    target = np.zeros(len(texts), np.int32)
    if lengths is not None:
      lengths = np.asarray(lengths, int)
      if lengths.shape != (len(texts),):
        raise ValueError(f"{len(texts)} texts but {lengths.size} lengths")
      bad = (lengths != 0) & ((lengths < self.down) | (lengths > self.down * self.max_tokens))
      if bad.any():
        raise ValueError(
          f"lengths {lengths[bad].tolist()}: must be 0 (End token) or in "
          f"[{self.down}, {self.down * self.max_tokens}] frames"
        )
      target = (lengths // self.down).astype(np.int32)
    text = self.features.sentence_embeddings(texts)
    out = []
    for c, start in enumerate(range(0, len(texts), self.chunk)):
      idx = np.arange(start, start + self.chunk) % len(texts)
      lengths, x = self._fn(
        self.params,
        self.vq_variables,
        jnp.asarray(text[idx]),
        jax.random.fold_in(key, c),
        jnp.asarray(target[idx]),
      )
      x = np.asarray(x) * self.std + self.mean
      lengths = np.asarray(lengths)
      for j in range(min(self.chunk, len(texts) - start)):
        out.append(x[j, : self.down * int(lengths[j])])
    return out


def codes_to_latents(variables: dict, codes: jax.Array) -> jax.Array:
  """Codebook vectors [B, N, D] of codes [B, N]."""
  book = variables["codebook"]["quantizer"]["codebook"]
  return jnp.asarray(book)[codes]


__all__ = [
  "Generator",
  "T2MGPTStageConfig",
  "codes_to_latents",
  "gpt_batch_fn",
  "make_code_fn",
  "make_loss_fn",
  "make_model",
  "train",
]
