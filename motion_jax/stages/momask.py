"""Stage: MoMask's token transformers (Guo et al., CVPR 2024) on a text-motion dataset, and text-
to-motion generation with the trained residual VQ-VAE (`motion_jax.stages.rvq`).

* `token_batch_fn`: training batches of the text-motion batcher turned into tokens by the frozen
  RVQ-VAE encoder (codes [B, N, Q], valid [B, N], the caption's frozen MiniLM sentence embedding).
* `train_base` (MoMask Sec. 3.2): the masked transformer on layer-0 tokens, corrupted by
  `motion_jax.diffusion.masked.corrupt`, condition dropped with ``cond_drop_prob``, loss
  `losses.masked_token_loss` (eq. 4).
* `train_residual` (Sec. 3.3): the residual transformer; per sequence a layer j in 1..Q-1 is drawn
  as ``round((1 - cos(pi u / 2)) (Q - 2)) + 1``, u ~ U(0, 1) (the public code's pick, FACTS.md),
  loss `losses.token_loss` (eq. 6) on that layer.
* `Generator`: captions at given lengths -> tokens (``ceil(frames / 4)``) by
  `motion_jax.diffusion.masked.decode` (one jitted call per fixed-size chunk) -> RVQ decoder ->
  raw features cropped to each length; given tokens (inpainting / editing) are kept.

Defaults: the paper / public-code sizes (FACTS.md): latent 384, 8 layers, 6 heads, ff 1024, dropout
0.2, cond drop 0.1, 10 % random / 88 % [MASK], 10 decoding steps, CFG 4, residual CFG 5, top-k 0.9.
Choices (FACTS.md lists no optimiser for the transformers; fields): AdamW 2e-4 (0.9, 0.99), warm-up
2000, x0.1 at 50k of 100k steps, batch 64, weight decay 1e-5; the residual transformer has the
base's sizes.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import diffusion, losses
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.diffusion import masked
from motion_jax.models.momask import (
  LengthEstimator,
  MaskTransformer,
  ResidualTransformer,
  TokenTransformerConfig,
)
from motion_jax.models.rvq import RVQVAE
from motion_jax.stages import rvq as rvq_stage
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params


@dataclasses.dataclass(frozen=True)
class DecodeSettings:
  """Inference (MoMask's public code, HumanML3D): see `motion_jax.diffusion.masked.DecodeConfig`."""

  steps: int = 10
  guidance_scale: float = 4.0
  residual_guidance_scale: float = 5.0
  top_k: float = 0.9
  temperature: float = 1.0

  def __post_init__(self):
    if self.steps < 1:
      raise ValueError(f"decode.steps must be >= 1, got {self.steps}")
    if not 0.0 <= self.top_k < 1.0:
      raise ValueError(f"decode.top_k must be in [0, 1), got {self.top_k}")

  def to_decode_config(self) -> masked.DecodeConfig:
    return masked.DecodeConfig(**dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class MoMaskStageConfig:
  transformer: TokenTransformerConfig = TokenTransformerConfig()
  residual: TokenTransformerConfig = TokenTransformerConfig()
  cond_drop_prob: float = 0.1
  random_prob: float = 0.1
  mask_prob: float = 0.88
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=2e-4,
    b1=0.9,
    b2=0.99,
    weight_decay=1e-5,
    warmup_steps=2000,
    schedule="multistep",
    decay_steps=(50_000,),
    decay_factor=0.1,
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=100_000, log_every=200, checkpoint_every=10_000
  )
  batch_size: int = 64
  decode: DecodeSettings = DecodeSettings()
  length_width: int = 512  # length estimator (choice)
  length_dropout: float = 0.2

  def __post_init__(self):
    for name in ("cond_drop_prob", "random_prob", "mask_prob"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def make_base_model(cfg: MoMaskStageConfig, num_codes: int) -> MaskTransformer:
  return MaskTransformer(cfg.transformer, num_codes)


def make_residual_model(
  cfg: MoMaskStageConfig, num_codes: int, num_quantizers: int
) -> ResidualTransformer:
  return ResidualTransformer(cfg.residual, num_codes, num_quantizers)


def token_batch_fn(
  batcher: Callable[[int], dict], rvq_model: RVQVAE, rvq_variables: dict
) -> Callable[[int], dict]:
  """``step -> {'codes' [B, N, Q] int32, 'valid' [B, N] bool, 'text' [B, F]}`` from batches
  ``{'motion' [B, T, C] normalised, 'mask' [B, T], 'caption_embedding' [B, F]}``."""
  encode = rvq_stage.make_encode_fn(rvq_model)
  down = rvq_model.cfg.downsample

  def batch_fn(step: int) -> dict:
    b = batcher(step)
    codes = np.asarray(encode(rvq_variables, jnp.asarray(b["motion"])))
    valid = np.asarray(b["mask"], bool)[:, ::down]
    return {
      "codes": codes.astype(np.int32),
      "valid": valid,
      "text": np.asarray(b["caption_embedding"], np.float32),
    }

  return batch_fn


def residual_layers(key: jax.Array, batch: int, num_quantizers: int) -> jax.Array:
  """Per-sequence residual layer to train, ``round((1 - cos(pi u / 2)) (Q - 2)) + 1`` (MoMask's
  public code), in 1..Q-1; [B] int32."""
  u = jax.random.uniform(key, (batch,))
  j = jnp.round((1.0 - jnp.cos(0.5 * jnp.pi * u)) * (num_quantizers - 2)) + 1
  return j.astype(jnp.int32)


def make_base_loss_fn(model: MaskTransformer, cfg: MoMaskStageConfig) -> Callable:
  def loss_fn(params, mutables, batch, rngs):
    codes, valid, text = batch["codes"], batch["valid"], batch["text"]
    k_corrupt, k_cond = jax.random.split(rngs["sample"])
    inputs, corrupted = masked.corrupt(
      k_corrupt,
      codes[..., 0],
      valid,
      model.num_codes,
      random_prob=cfg.random_prob,
      mask_prob=cfg.mask_prob,
    )
    keep = diffusion.drop_condition(k_cond, codes.shape[0], cfg.cond_drop_prob)
    logits = model.apply(
      {"params": params},
      inputs,
      text,
      keep,
      valid,
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    total, terms = losses.masked_token_loss(logits, codes[..., 0], corrupted)
    return total, (terms, mutables)

  return loss_fn


def make_residual_loss_fn(model: ResidualTransformer, cfg: MoMaskStageConfig) -> Callable:
  def loss_fn(params, mutables, batch, rngs):
    codes, valid, text = batch["codes"], batch["valid"], batch["text"]
    b = codes.shape[0]
    k_layer, k_cond = jax.random.split(rngs["sample"])
    layer = residual_layers(k_layer, b, model.num_quantizers)
    keep = diffusion.drop_condition(k_cond, b, cfg.cond_drop_prob)
    logits = model.apply(
      {"params": params},
      codes,
      layer,
      text,
      keep,
      valid,
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    targets = jnp.take_along_axis(codes, layer[:, None, None], axis=-1)[..., 0]  # [B, N]
    total, terms = losses.token_loss(logits, targets, valid)
    return total, (terms, mutables)

  return loss_fn


def _train(cfg, model, loss_fn, init_args, batch_fn, workdir, seed, desc, init_params=None):
  def init_fn(key):
    if init_params is not None:  # fine-tuning a trained model (e.g. on MoCLIP text embeddings)
      return jax.tree.map(jnp.asarray, init_params), {}
    return model.init({"params": key}, *init_args)["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=loss_fn,
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


def train_base(
  cfg: MoMaskStageConfig,
  batch_fn: Callable[[int], dict],
  num_codes: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "momask_base",
  init_params=None,
):
  """Trains (or resumes) the masked transformer on `token_batch_fn` batches; numpy params."""
  model = make_base_model(cfg, num_codes)
  ex = batch_fn(0)
  b = ex["codes"][:1]
  args = (
    jnp.asarray(b[..., 0]),
    jnp.asarray(ex["text"][:1]),
    jnp.ones((1,), bool),
    jnp.asarray(ex["valid"][:1]),
  )
  loss_fn = make_base_loss_fn(model, cfg)
  return _train(cfg, model, loss_fn, args, batch_fn, workdir, seed, desc, init_params)


def train_residual(
  cfg: MoMaskStageConfig,
  batch_fn: Callable[[int], dict],
  num_codes: int,
  num_quantizers: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "momask_residual",
  init_params=None,
):
  """Trains (or resumes) the residual transformer on `token_batch_fn` batches; numpy params."""
  model = make_residual_model(cfg, num_codes, num_quantizers)
  ex = batch_fn(0)
  args = (
    jnp.asarray(ex["codes"][:1]),
    jnp.ones((1,), jnp.int32),
    jnp.asarray(ex["text"][:1]),
    jnp.ones((1,), bool),
    jnp.asarray(ex["valid"][:1]),
  )
  loss_fn = make_residual_loss_fn(model, cfg)
  return _train(cfg, model, loss_fn, args, batch_fn, workdir, seed, desc, init_params)


def make_length_model(cfg: MoMaskStageConfig, max_tokens: int) -> LengthEstimator:
  """Classifier over token counts 0..max_tokens."""
  return LengthEstimator(max_tokens + 1, cfg.length_width, cfg.length_dropout)


def train_length(
  cfg: MoMaskStageConfig,
  batch_fn: Callable[[int], dict],
  max_tokens: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "momask_length",
  init_params=None,
):
  """Trains the length estimator on `token_batch_fn` batches (token count = valid.sum()) with the
  cross-entropy of `losses.token_loss`; numpy params."""
  model = make_length_model(cfg, max_tokens)

  def loss_fn(params, mutables, batch, rngs):
    logits = model.apply(
      {"params": params}, batch["text"], deterministic=False, rngs={"dropout": rngs["dropout"]}
    )
    target = batch["valid"].sum(-1).astype(jnp.int32)
    total, terms = losses.token_loss(
      logits[:, None], target[:, None], jnp.ones_like(target[:, None])
    )
    return total, (terms, mutables)

  ex = batch_fn(0)
  args = (jnp.asarray(ex["text"][:1]),)
  return _train(cfg, model, loss_fn, args, batch_fn, workdir, seed, desc, init_params)


def sample_lengths(
  model: LengthEstimator, params, text: np.ndarray, key: jax.Array, greedy: bool = False
) -> np.ndarray:
  """Token counts [B] (>= 1) drawn from (or the mode of) the estimator's distribution."""
  logits = model.apply({"params": params}, jnp.asarray(text))
  logits = logits.at[:, 0].set(-jnp.inf)
  if greedy:
    return np.asarray(jnp.argmax(logits, -1))
  return np.asarray(jax.random.categorical(key, logits))


def frames_to_token_mask(frame_mask: np.ndarray, downsample: int = 4) -> np.ndarray:
  """Tokens whose ``downsample`` frames are all given: [B, T] -> [B, ceil(T / 4)] bool."""
  b, t = frame_mask.shape
  n = math.ceil(t / downsample)
  pad = np.zeros((b, n * downsample), bool)
  pad[:, :t] = frame_mask
  return pad.reshape(b, n, downsample).all(-1)


class Generator:
  """Text-to-motion with trained MoMask parts (see the module docstring).

  Args:
    rvq_model, rvq_variables: the residual VQ-VAE.
    base_params, residual_params: the two transformers' parameters.
    cfg: the stage config (sizes, decode settings).
    features: cached sentence features of the captions (MiniLM).
    mean, std: the training normalisation [F].
    max_frames: frames every chunk is decoded at (a multiple of 4).
    chunk: prompts per compiled call.
  """

  def __init__(
    self,
    rvq_model: RVQVAE,
    rvq_variables: dict,
    base_params,
    residual_params,
    cfg: MoMaskStageConfig,
    features: tf_lib.TextFeatures,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    max_frames: int,
    chunk: int = 32,
  ):
    self.rvq, self.rvq_variables = rvq_model, rvq_variables
    down = rvq_model.cfg.downsample
    if max_frames % down:
      raise ValueError(f"max_frames {max_frames} must be a multiple of {down}")
    self.down, self.tokens = down, max_frames // down
    self.num_codes = rvq_model.cfg.vq.num_codes
    self.num_quantizers = rvq_model.cfg.num_quantizers
    self.base = make_base_model(cfg, self.num_codes)
    self.residual = make_residual_model(cfg, self.num_codes, self.num_quantizers)
    self.base_params, self.residual_params = base_params, residual_params
    self.cfg, self.features = cfg, features
    self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    self.max_frames, self.chunk = max_frames, chunk
    self._fns: dict[tuple, Callable] = {}
    self._encode = rvq_stage.make_encode_fn(rvq_model)

  def _decode_fn(self, settings: DecodeSettings):
    key = dataclasses.astuple(settings)
    if key not in self._fns:
      dcfg = settings.to_decode_config()
      base, residual, rvq = self.base, self.residual, self.rvq
      k, q = self.num_codes, self.num_quantizers

      def run(pb, pr, v, text, valid, rng, known, known_mask):
        def base_fn(ids, text, keep, valid):
          return base.apply({"params": pb}, ids, text, keep, valid)

        def res_fn(codes, layer, text, keep, valid):
          return residual.apply({"params": pr}, codes, layer, text, keep, valid)

        codes = masked.decode(base_fn, res_fn, text, valid, rng, dcfg, k, q, known, known_mask)
        return codes, rvq.apply(v, codes, method=RVQVAE.decode)

      self._fns[key] = jax.jit(run)
    return self._fns[key]

  def encode(self, motions: np.ndarray) -> np.ndarray:
    """Codes [N, T / 4, Q] of raw motions [N, T, F] (T = ``max_frames``)."""
    x = (np.asarray(motions, np.float32) - self.mean) / self.std
    return np.asarray(self._encode(self.rvq_variables, jnp.asarray(x)))

  def generate(
    self,
    texts: Sequence[str],
    lengths: Sequence[int],
    key: jax.Array,
    *,
    settings: DecodeSettings | None = None,
    known: np.ndarray | None = None,
    known_mask: np.ndarray | None = None,
    return_codes: bool = False,
  ):
    """Raw motions ``[length_i, F]`` for ``texts`` (chunk c uses ``fold_in(key, c)``).

    ``known`` [N, max_frames / 4, Q] codes and ``known_mask`` [N, max_frames / 4] keep given
    tokens (inpainting / temporal editing; `frames_to_token_mask` converts a frame mask).
    With ``return_codes`` also returns the codes [N, max_frames / 4, Q]."""
    settings = settings or self.cfg.decode
    texts, lengths = list(texts), np.asarray(lengths, int)
    if len(texts) != len(lengths):
      raise ValueError(f"{len(texts)} texts but {len(lengths)} lengths")
    if np.any(lengths < 1) or np.any(lengths > self.max_frames):
      raise ValueError(f"lengths must be in [1, {self.max_frames}]")
    rows = self.features.rows(texts)
    if np.any(rows < 0):
      raise KeyError(f"{int(np.sum(rows < 0))} caption(s) have no cached text features")
    text = self.features.sentence_embeddings(texts)
    ntok = -(-lengths // self.down)  # ceil
    fn = self._decode_fn(settings)
    n, q = self.tokens, self.num_quantizers
    if known is None:
      known = np.zeros((len(texts), n, q), np.int32)
      known_mask = np.zeros((len(texts), n), bool)
    out, codes_out = [], []
    for c, start in enumerate(range(0, len(texts), self.chunk)):
      idx = np.arange(start, start + self.chunk) % len(texts)  # fixed shape: wrap the last chunk
      valid = np.arange(n)[None] < ntok[idx][:, None]
      codes, x = fn(
        self.base_params,
        self.residual_params,
        self.rvq_variables,
        jnp.asarray(text[idx]),
        jnp.asarray(valid),
        jax.random.fold_in(key, c),
        jnp.asarray(known[idx], jnp.int32),
        jnp.asarray(known_mask[idx]),
      )
      x = np.asarray(x) * self.std + self.mean
      codes = np.asarray(codes)
      for j in range(min(self.chunk, len(texts) - start)):
        out.append(x[j, : lengths[idx[j]]])
        codes_out.append(codes[j])
    return (out, np.stack(codes_out)) if return_codes else out

  def inpaint(
    self,
    texts: Sequence[str],
    motions: Sequence[np.ndarray],
    keep_frames: Sequence[np.ndarray],
    key: jax.Array,
    *,
    settings: DecodeSettings | None = None,
  ):
    """Inpainting / temporal editing (MoMask Sec. 4.4): the tokens whose 4 frames are all kept
    (``keep_frames[i]`` bool [len_i]) stay those of ``motions[i]`` (raw [len_i, F]), the others
    are regenerated from ``texts[i]``. A kept prefix / suffix / middle is inpainting; a dropped
    span is temporal editing. Returns (motions [len_i, F], codes [N, max_frames / 4, Q],
    token mask [N, max_frames / 4] of the kept tokens)."""
    n = len(texts)
    x = np.zeros((n, self.max_frames, len(self.mean)), np.float32) + self.mean
    keep = np.zeros((n, self.max_frames), bool)
    lengths = []
    for i, (m, k) in enumerate(zip(motions, keep_frames)):
      if len(m) != len(k) or len(m) > self.max_frames:
        raise ValueError(f"motion {i}: {len(m)} frames, mask {len(k)}, max {self.max_frames}")
      x[i, : len(m)], keep[i, : len(m)] = m, k
      lengths.append(len(m))
    known = self.encode(x)
    token_mask = frames_to_token_mask(keep, self.down)
    out, codes = self.generate(
      texts, lengths, key, settings=settings, known=known, known_mask=token_mask,
      return_codes=True,
    )  # fmt: skip
    return out, codes, token_mask


__all__ = [
  "DecodeSettings",
  "Generator",
  "MoMaskStageConfig",
  "frames_to_token_mask",
  "make_base_loss_fn",
  "make_base_model",
  "make_length_model",
  "make_residual_loss_fn",
  "make_residual_model",
  "residual_layers",
  "sample_lengths",
  "token_batch_fn",
  "train_base",
  "train_length",
  "train_residual",
]
