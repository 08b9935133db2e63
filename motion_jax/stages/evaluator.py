"""Stage: the frozen text-motion evaluator used by the generation metrics (T2M-style evaluation).

Guo et al. (T2M, CVPR 2022) evaluate generators in the embedding space of a text / motion
co-embedding trained once on the dataset; their weights cannot be obtained here, so this stage
trains a TMR-style evaluator (Petrovich et al. 2023: ACTOR-style transformer encoders over frozen
MiniLM token states and over HumanML3D features, aligned by InfoNCE with negative filtering;
optionally the full TMR objective with the motion decoder) on the embedded procedural dataset, once,
and caches it.

``ensure_evaluator(workdir, config)`` returns the cached :class:`Evaluator` when the
``<workdir>/evaluator`` stage (`motion_jax.train.artifacts.cached_stage`) holds one for the same
config, otherwise builds the dataset (if missing) and the text features, trains with the shared
loop in ``<workdir>/evaluator`` (resuming an interrupted run) and stores it. Training uses the
InfoNCE of `motion_jax.losses.contrastive_loss` or the full `motion_jax.losses.tmr_loss`
(``objective``); the EMA of the parameters is used when ``loop.ema_decay > 0`` (TMR evaluates
the raw parameters, so it is off by default).

The evaluator's embedding of a text / motion is its (deterministic) latent ``mu``, L2-normalised.
Motions are raw HumanML3D features ``[T, F]``; they are cropped to the first ``max_length`` frames,
normalised with the training set's Mean/Std and must have at least ``min_frames`` frames (40:
HumanML3D's shortest clip, the shortest length the evaluator saw in training).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import losses
from motion_jax.config import to_dict
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.data.text_motion import loader as loader_lib
from motion_jax.data.text_motion import preparation as prep
from motion_jax.metrics import generation as gen_lib
from motion_jax.models.tmr import TMR, TMRConfig
from motion_jax.stages import text_data
from motion_jax.train import artifacts, optim
from motion_jax.train import loop as loop_lib
from motion_jax.train.state import eval_params

log = logging.getLogger(__name__)

STAGE, FEATURES_FILE = "evaluator", "text_features.npz"
OBJECTIVES = ("tmr", "contrastive")


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
  """TMR's sizes by default (latent 256, 6 layers, 4 heads, ff 1024, dropout 0.1, AdamW 1e-4,
  batch 32, loss weights of `motion_jax.losses.TMRLossWeights`)."""

  seed: int = 0
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  latent_dim: int = 256
  ff_dim: int = 1024
  num_layers: int = 6
  num_heads: int = 4
  dropout_rate: float = 0.1
  objective: str = "tmr"  # 'tmr' (with the motion decoder, TMR eqs. 1-3) | 'contrastive' (eq. 3)
  loss: losses.TMRLossWeights = losses.TMRLossWeights()
  min_frames: int = 40  # HumanML3D's shortest clip, the shortest the evaluator saw in training
  optim: optim.OptimConfig = optim.OptimConfig(learning_rate=1e-4, b1=0.9, b2=0.999)
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=37_500, log_every=100, checkpoint_every=2500, keep_checkpoints=2
  )
  batch_size: int = 32

  def __post_init__(self):
    if self.objective not in OBJECTIVES:
      raise ValueError(f"evaluator objective must be one of {OBJECTIVES}, got {self.objective!r}")


def make_model(cfg: EvaluatorConfig, motion_features: int, text_features: int) -> TMR:
  return TMR(
    TMRConfig(
      motion_features=motion_features,
      text_features=text_features,
      latent_dim=cfg.latent_dim,
      ff_dim=cfg.ff_dim,
      num_layers=cfg.num_layers,
      num_heads=cfg.num_heads,
      dropout_rate=cfg.dropout_rate,
      vae=cfg.objective == "tmr",
    )
  )


@dataclasses.dataclass(frozen=True)
class GenerationEvalConfig:
  """T2M's protocol for a generator (Guo et al.): 20 repeats, R-precision in batches of 32, 300
  diversity pairs, multimodality over 100 texts x 30 samples, 10 pairs; ``chunk`` = generation
  batch."""

  split: str = "test"
  num_repeats: int = gen_lib.NUM_REPEATS
  diversity_pairs: int = gen_lib.DIVERSITY_PAIRS
  mm_texts: int = gen_lib.MM_TEXTS
  mm_repeats: int = gen_lib.MM_REPEATS
  mm_pairs: int = gen_lib.MM_PAIRS
  chunk: int = 32

  def protocol_kwargs(self, num_pairs: int, seed: int) -> dict[str, Any]:
    """Keyword arguments of `gen_lib.evaluate_generator` for an evaluation set of ``num_pairs``
    (diversity pairs capped at the motions R-precision uses)."""
    used = (num_pairs // gen_lib.R_PRECISION_BATCH) * gen_lib.R_PRECISION_BATCH
    return dict(
      num_repeats=self.num_repeats,
      diversity_pairs=min(self.diversity_pairs, used),
      mm_texts=self.mm_texts,
      mm_repeats=self.mm_repeats,
      mm_pairs=self.mm_pairs,
      seed=seed,
    )


class Evaluator:
  """A frozen TMR-style text / motion embedding model (see the module docstring).

  Attributes: ``model`` (TMR), ``params``, ``mean`` / ``std`` ``[F]``, ``max_length``,
  ``min_frames``, ``caption_tokens`` (padded token length of captions), ``features`` (the
  sentence-feature cache; captions not in it are encoded with MiniLM on demand).
  """

  def __init__(
    self,
    model: TMR,
    params: Any,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    max_length: int,
    min_frames: int,
    caption_tokens: int,
    features: tf_lib.TextFeatures,
    features_path: pathlib.Path | None = None,
    encoder: tf_lib.EncoderFn | None = None,
    chunk: int = 64,
  ):
    self.model, self.params = model, params
    self.mean, self.std = loader_lib.check_stats(mean, std)
    self.max_length, self.min_frames, self.caption_tokens = max_length, min_frames, caption_tokens
    self.features, self._features_path, self._encoder = features, features_path, encoder
    self.chunk = chunk
    self._text_fn = jax.jit(
      lambda p, t, m: model.apply({"params": p}, t, m, method=TMR.encode_text)[1]["mu"]
    )
    self._motion_fn = jax.jit(
      lambda p, x, m: model.apply({"params": p}, x, m, method=TMR.encode_motion)[1]["mu"]
    )

  @property
  def dim(self) -> int:
    return int(self.mean.shape[0])

  def _run(self, fn, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, out = len(a), []
    for s in range(0, n, self.chunk):
      idx = np.arange(s, s + self.chunk) % n  # fixed shape: pad the last chunk
      out.append(
        np.asarray(fn(self.params, jnp.asarray(a[idx]), jnp.asarray(b[idx])))[
          : min(self.chunk, n - s)
        ]
      )
    e = np.concatenate(out).astype(np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)

  def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
    """``[N, D]`` unit-norm text embeddings. Raises ValueError on an empty list / caption."""
    if isinstance(texts, (str, bytes)):
      raise TypeError("embed_texts expects a list of captions, got a single string")
    texts = list(texts)
    if not texts:
      raise ValueError("embed_texts: empty caption list")
    for i, t in enumerate(texts):
      if not isinstance(t, str) or not t.strip():
        raise ValueError(f"embed_texts: caption {i} is empty or not a string: {t!r}")
    missing = [t for t in set(texts) if tf_lib.sentence_key(t) not in self.features.index]
    if missing:
      if self._features_path is None:
        raise KeyError(f"{len(missing)} caption(s) not in the evaluator's text features")
      if self._encoder is None:
        from motion_jax.models.text_encoder import minilm_encoder

        self._encoder = minilm_encoder()
      self.features = tf_lib.ensure_text_features(
        self._features_path, missing, encoder=self._encoder
      )
    tokens, mask = self.features.lookup(texts)
    # Captions longer than the training budget are cut (the token states are contextual anyway).
    length = max(self.caption_tokens, int(mask.sum(1).max()))
    length = -(-length // 8) * 8
    tokens, mask = self.features.lookup(texts, length)
    return self._run(self._text_fn, tokens, mask)

  def prepare_motions(self, motions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Validates, crops to ``max_length``, normalises and pads: ``([N, max_length, F], mask)``."""
    if isinstance(motions, np.ndarray) and motions.ndim == 2:
      raise ValueError(
        "embed_motions expects a list of [T, F] motions (or a [N, T, F] array), "
        f"got one [T, F] array of shape {motions.shape}"
      )
    motions = list(motions)
    if not motions:
      raise ValueError("embed_motions: empty motion list")
    x = np.zeros((len(motions), self.max_length, self.dim), np.float32)
    mask = np.zeros((len(motions), self.max_length), bool)
    for i, m in enumerate(motions):
      m = np.asarray(m, np.float32)
      if m.ndim != 2 or m.shape[1] != self.dim:
        raise ValueError(f"motion {i}: expected shape [T, {self.dim}], got {m.shape}")
      if len(m) < self.min_frames:
        raise ValueError(
          f"motion {i} has {len(m)} frames, fewer than the evaluator's minimum of "
          f"{self.min_frames} frames"
        )
      if not np.isfinite(m).all():
        raise ValueError(f"motion {i} contains NaN or inf")
      m = m[: self.max_length]
      x[i, : len(m)] = (m - self.mean) / self.std
      mask[i, : len(m)] = True
    return x, mask

  def embed_motions(self, motions: Sequence[np.ndarray]) -> np.ndarray:
    """``[N, D]`` unit-norm motion embeddings of raw motions ``[T_i, F]``."""
    return self._run(self._motion_fn, *self.prepare_motions(motions))


def make_loss_fn(model: TMR, cfg: EvaluatorConfig):
  """Apply the model, call `losses.tmr_loss` (objective 'tmr') or `losses.contrastive_loss`."""
  w = cfg.loss

  def loss_fn(params, mutables, batch, rngs):
    if cfg.objective == "tmr":
      out = model.apply(
        {"params": params},
        batch["global_tokens"],
        batch["global_mask"],
        batch["motion"],
        batch["mask"],
        sample=True,
        deterministic=False,
        rngs={"dropout": rngs["dropout"], "sample": rngs["sample"]},
      )
      total, terms = losses.tmr_loss(
        out, batch["motion"], batch["mask"], batch["caption_embedding"], w
      )
      return total, (terms, mutables)
    kw = dict(deterministic=False, rngs={"dropout": rngs["dropout"]})
    t, _ = model.apply(
      {"params": params}, batch["global_tokens"], batch["global_mask"], method=TMR.encode_text, **kw
    )
    m, _ = model.apply(
      {"params": params}, batch["motion"], batch["mask"], method=TMR.encode_motion, **kw
    )
    total, terms = losses.contrastive_loss(
      t, m, w.temperature, batch["caption_embedding"], w.threshold
    )
    return total, (terms, mutables)

  return loss_fn


def load_evaluator(
  workdir: str | pathlib.Path, encoder: tf_lib.EncoderFn | None = None
) -> Evaluator:
  """The evaluator saved in ``workdir`` by :func:`ensure_evaluator`."""
  from motion_jax.config import from_dict

  workdir = pathlib.Path(workdir)
  marker = artifacts.stage_dir(workdir, STAGE) / artifacts.STAGE_FILE
  if not marker.exists():
    raise FileNotFoundError(f"{marker} is missing: no trained evaluator in {workdir}")
  info = json.loads(marker.read_text())["info"]
  cfg = from_dict(EvaluatorConfig, info["config"], "evaluator")
  model = make_model(cfg, info["motion_features"], info["text_features"])
  arrays = artifacts.load_tree(artifacts.stage_dir(workdir, STAGE) / artifacts.ARRAYS_DIR)
  feats = tf_lib.load_text_features(workdir / FEATURES_FILE)
  if feats is None:
    raise FileNotFoundError(f"{workdir / FEATURES_FILE} is missing")
  return Evaluator(
    model,
    arrays["params"],
    np.asarray(arrays["mean"]),
    np.asarray(arrays["std"]),
    max_length=info["max_length"],
    min_frames=info["min_frames"],
    caption_tokens=info["caption_tokens"],
    features=feats,
    features_path=workdir / FEATURES_FILE,
    encoder=encoder,
  )


def ensure_evaluator(
  workdir: str | pathlib.Path,
  config: EvaluatorConfig,
  *,
  encoder: tf_lib.EncoderFn | None = None,
) -> Evaluator:
  """The evaluator cached in ``workdir``, trained first when missing (or made by another config).

  Args:
    workdir: cache folder: ``evaluator/`` (a `motion_jax.train.artifacts.cached_stage`: training
      checkpoints and metrics, the parameters and the normalisation, ``stage.json``),
      ``text_features.npz``, ``tfds/``.
    config: the evaluator's settings (experiments' presets: `experiments.presets.evaluator`).
    encoder: text encoder for the features (default frozen MiniLM).
  """
  workdir = pathlib.Path(workdir)

  def train():
    data = text_data.load(config.data, workdir)
    feats, captions, _ = text_data.text_features(
      data, workdir / FEATURES_FILE, kinmo=False, encoder=encoder
    )
    cap_tokens = prep.token_budget(feats, captions)
    spec = prep.FeaturizeSpec(("global",), "sentence", cap_tokens, 8)
    post = prep.make_featurizer(feats, spec)
    batcher = prep.train_batcher(
      data, config.data, post, batch_size=config.batch_size, seed=config.seed
    )
    model = make_model(config, data.dim, feats.width)
    example = jax.tree.map(lambda x: x[:1], batcher(0))

    def init_fn(key):
      p_key, s_key = jax.random.split(key)
      v = model.init(
        {"params": p_key, "sample": s_key},
        example["global_tokens"],
        example["global_mask"],
        example["motion"],
        example["mask"],
      )
      return v["params"], {}

    state = loop_lib.train(
      workdir=artifacts.stage_dir(workdir, STAGE),
      loop=config.loop,
      init_fn=init_fn,
      loss_fn=make_loss_fn(model, config),
      tx=optim.make_optimizer(config.optim, config.loop.num_steps),
      batch_fn=batcher,
      seed=config.seed,
      desc="evaluator",
    )
    arrays = {
      "params": loop_lib.to_numpy(eval_params(state)),
      "mean": data.mean,
      "std": data.std,
    }
    info = {
      "config": to_dict(config),
      "motion_features": data.dim,
      "text_features": feats.width,
      "max_length": int(config.data.max_length),
      "min_frames": int(config.min_frames),
      "caption_tokens": cap_tokens,
      "dataset_root": str(data.root),
      "trained_steps": int(state.step),
    }
    return arrays, info

  artifacts.cached_stage(workdir, STAGE, train, {"evaluator": to_dict(config)})
  return load_evaluator(workdir, encoder)


def eval_pairs(
  evaluator_workdir: str | pathlib.Path,
  config: EvaluatorConfig,
  split: str = "test",
) -> gen_lib.TextMotionPairs:
  """The evaluation pairs (raw motions and all captions) of ``split`` of the evaluator's dataset."""
  data = text_data.load(config.data, evaluator_workdir)
  if split not in data.sources:
    raise ValueError(f"split {split!r} not in the dataset (has {sorted(data.sources)})")
  return gen_lib.TextMotionPairs.from_examples(data.sources[split])


def nearest_training_clip(
  evaluator_workdir: str | pathlib.Path, config: EvaluatorConfig, evaluator: Evaluator
) -> gen_lib.GenerateFn:
  """A retrieval "generator" for reference rows: for each text, the raw motion of the training
  clip with the most similar caption (cosine of the frozen MiniLM sentence embeddings, over every
  caption of every training clip). It never sees test motions, so its scores show how far copying
  the closest training example gets on the test texts."""
  data = text_data.load(config.data, evaluator_workdir)
  source = data.sources["train"]
  pairs = gen_lib.TextMotionPairs.from_examples(source)
  owner = np.asarray([i for i, caps in enumerate(pairs.captions) for _ in caps])
  captions = [c for caps in pairs.captions for c in caps]
  evaluator.embed_texts(captions[:1])  # loads the feature cache (and any missing caption)
  bank = evaluator.features.sentence_embeddings(captions).astype(np.float32)  # [C, F]

  def generate(texts: Sequence[str]) -> list[np.ndarray]:
    evaluator.embed_texts(list(texts))  # makes sure every query has cached features
    q = evaluator.features.sentence_embeddings(list(texts)).astype(np.float32)  # [N, F]
    best = np.argmax(q @ bank.T, axis=1)
    return [pairs.motions[int(owner[b])] for b in best]

  return generate


def sanity_check(
  evaluator: Evaluator,
  pairs: gen_lib.TextMotionPairs,
  *,
  num_repeats: int = gen_lib.NUM_REPEATS,
  diversity_pairs: int | None = None,
  seed: int = 0,
) -> dict[str, Any]:
  """The evaluator's reference numbers on ``pairs``:

  * ``real``: the "Real" row (ground-truth motions as the generator; its FID is 0 by construction),
  * ``shuffled``: motions drawn at random, unrelated to the texts (R-precision must be chance,
    ``k / 32``),
  * ``fid_real_halves``: FID between the embeddings of two disjoint halves of the real motions
    (close to 0 up to finite-sample bias).
  ``diversity_pairs`` defaults to 300, or fewer when the set is smaller.
  """
  used = (len(pairs) // gen_lib.R_PRECISION_BATCH) * gen_lib.R_PRECISION_BATCH
  div = diversity_pairs or min(gen_lib.DIVERSITY_PAIRS, used)
  rng = np.random.default_rng(seed + 12345)

  def shuffled(texts):
    return [pairs.motions[int(i)] for i in rng.integers(len(pairs), size=len(texts))]

  kw = dict(num_repeats=num_repeats, diversity_pairs=div, seed=seed, multimodality_eval=False)
  real = gen_lib.evaluate_generator(evaluator, None, pairs, **kw)
  rand = gen_lib.evaluate_generator(evaluator, shuffled, pairs, **kw)
  emb = evaluator.embed_motions(list(pairs.motions))
  perm = np.random.default_rng(seed).permutation(len(emb))
  half = len(emb) // 2
  return {
    "real": real,
    "shuffled": rand,
    "fid_real_halves": gen_lib.fid(emb[perm[:half]], emb[perm[half : 2 * half]]),
    "chance_r_precision": [k / gen_lib.R_PRECISION_BATCH for k in (1, 2, 3)],
  }


__all__ = [
  "GenerationEvalConfig",
  "EvaluatorConfig",
  "Evaluator",
  "ensure_evaluator",
  "eval_pairs",
  "load_evaluator",
  "nearest_training_clip",
  "sanity_check",
]
