"""Stage: train and evaluate text-motion alignment models (KinMo HTMA and its ablations).

Data path (`motion_jax.stages.text_data`, shared with `motion_jax.stages.evaluator`):

1. `text_data.load` - the embedded procedural dataset (HumanML3D layout incl.
   ``kinmo/<id>.json``, built if missing) turned into a TFDS ArrayRecord dataset in the workdir.
2. `text_data.text_features` - frozen MiniLM features of every distinct caption, group and
   interaction description, cached by sentence hash (`motion_jax.data.text_motion.features`).
3. `motion_jax.data.text_motion.loader.TextMotionBatcher` draws batches (random caption, crop,
   normalisation); `motion_jax.data.text_motion.preparation.make_featurizer` replaces their
   strings by the cached features.

Model inputs. The global caption enters as MiniLM token states ``[B, L, 384]`` (as TMR's text
encoder reads DistilBERT token states). KinMo group / interaction descriptions enter either as one
token per description, its MiniLM sentence embedding (``kinmo_text_tokens='sentence'``:
``[B, G, 1, 384]``, cheap: 6 and 15 tokens), or as their token states
(``'tokens'``: ``[B, G, L, 384]``, flattened to ``G * L`` tokens by the model). Levels a variant
does not use are fed as one masked zero token, so their encoders cost nothing and get no gradient.

Variants (KinMo Table 4 ablation): ``levels`` is ``global``, ``global+group`` or
``global+group+interaction``. The model (`motion_jax.models.kinmo_alignment`) applies each finer
level's cross-attention before its encoder (eqs. 5-6, ``alignment='pre'``; the earlier
encode-then-fuse form is ``alignment='post'``), with TMR/ACTOR encoders holding ``mu`` and
``logvar`` tokens. The loss (``objective='tmr'``, `motion_jax.losses.kinmo_loss`, KinMo sec. 3.3)
is, per trained level, TMR's reconstruction, KL, cross-modal embedding and InfoNCE terms (eq. 7)
with TMR's weights, summed with per-level weights (1 in the paper; `AlignmentLossConfig`), with
TMR's negative filtering (captions whose MiniLM sentence cosine exceeds ``filter_threshold`` are
not used as negatives of each other). ``objective='nce'`` is the earlier InfoNCE-only loss on the
``mu`` embeddings (`motion_jax.losses.kinmo_nce_loss`). Retrieval (``retrieval='concat'``, sec.
4.1) compares ``[mu_c; mu_g; mu_i]`` over the trained levels with the motion ``mu``
(`motion_jax.models.kinmo_alignment.text_retrieval_embedding`); ``retrieval='finest'`` uses the
finest trained level alone.

Defaults (`RetrievalStageConfig()`): TMR's sizes and optimiser (Petrovich et al. 2023, Sec. 4:
latent 256, 6 layers, 4 heads, feed-forward 1024, dropout 0.1, AdamW lr 1e-4, batch 32,
temperature 0.1, negative-filtering threshold 0.8), trained ~500 epochs of the 2,388 training
clips (37,500 steps).
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import losses
from motion_jax.metrics import retrieval as retrieval_lib
from motion_jax.models.kinmo_alignment import (
  ALIGNMENTS,
  CROSS_MEMORIES,
  LEVELS,
  KinMoAlignment,
  KinMoAlignmentConfig,
  motion_retrieval_embedding,
  retrieval_similarity,
  text_retrieval_embedding,
)
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params

log = logging.getLogger(__name__)

LEVEL_SETS = {
  "global": ("global",),
  "global+group": ("global", "group"),
  "global+group+interaction": ("global", "group", "interaction"),
}
RETRIEVALS = ("concat", "finest")
OBJECTIVES = ("tmr", "nce")
TEXT_KEYS = (
  "global_tokens",
  "global_mask",
  "group_tokens",
  "group_mask",
  "interaction_tokens",
  "interaction_mask",
)


@dataclasses.dataclass(frozen=True)
class AlignmentModelConfig:
  latent_dim: int = 256
  ff_dim: int = 1024
  num_layers: int = 6
  num_heads: int = 4
  dropout_rate: float = 0.1
  kinmo_text_tokens: str = "tokens"  # 'tokens' (token states) | 'sentence' (one token each)
  frame_stride: int = 1  # > 1: temporal subsampling of the motion input (CPU presets)
  alignment: str = "pre"  # 'pre': cross-attention before each level's encoder (eqs. 5-6) | 'post'
  cross_memory: str = "states"  # what a finer level attends to: 'states' | 'latent'
  cross_norm_first: bool = True  # 'pre' cross-attention as x + CA(LN(x), h) (else LN(x + CA))
  vae: bool = True  # mu and logvar tokens, sampled latents (TMR); False: deterministic token
  retrieval: str = "concat"  # 'concat': [mu_c; mu_g; mu_i] (sec. 4.1) | 'finest': finest level

  def __post_init__(self):
    if self.kinmo_text_tokens not in ("sentence", "tokens"):
      raise ValueError(
        f"kinmo_text_tokens must be 'sentence' or 'tokens', got {self.kinmo_text_tokens!r}"
      )
    for name, valid in (
      ("alignment", ALIGNMENTS),
      ("cross_memory", CROSS_MEMORIES),
      ("retrieval", RETRIEVALS),
    ):
      if getattr(self, name) not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {getattr(self, name)!r}")
    if self.frame_stride < 1:
      raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")


@dataclasses.dataclass(frozen=True)
class LevelWeights:
  """Per-level weights of KinMo eq. 7 (1 each in the paper)."""

  global_level: float = 1.0
  group_level: float = 1.0
  interaction_level: float = 1.0

  def as_dict(self) -> dict[str, float]:
    return {
      "global": self.global_level,
      "group": self.group_level,
      "interaction": self.interaction_level,
    }


@dataclasses.dataclass(frozen=True)
class AlignmentLossConfig:
  """KinMo's objective: per level TMR's terms (weights of TMR Sec. 4) or InfoNCE alone."""

  objective: str = "tmr"  # 'tmr': kinmo_loss (sec. 3.3) | 'nce': kinmo_nce_loss (eq. 7 alone)
  temperature: float = 0.1
  filter_threshold: float = 0.8
  reconstruction: float = 1.0
  kl: float = 1e-5
  latent: float = 1e-5
  contrastive: float = 0.1
  level_weights: LevelWeights = LevelWeights()

  def __post_init__(self):
    if self.objective not in OBJECTIVES:
      raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")

  def tmr_weights(self) -> losses.TMRLossWeights:
    return losses.TMRLossWeights(
      reconstruction=self.reconstruction,
      kl=self.kl,
      latent=self.latent,
      contrastive=self.contrastive,
      temperature=self.temperature,
      threshold=self.filter_threshold,
    )


@dataclasses.dataclass(frozen=True)
class RetrievalStageConfig:
  model: AlignmentModelConfig = AlignmentModelConfig()
  loss: AlignmentLossConfig = AlignmentLossConfig()
  optim: optim.OptimConfig = optim.OptimConfig(learning_rate=1e-4, b1=0.9, b2=0.999)
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=37_500, log_every=100, checkpoint_every=2500, keep_checkpoints=2
  )
  batch_size: int = 32


def make_model(
  cfg: AlignmentModelConfig,
  *,
  levels: Sequence[str],
  use_cross_attention: bool,
  motion_features: int,
  text_features: int,
  alignment: str | None = None,
) -> KinMoAlignment:
  """The HTMA model; ``alignment`` overrides ``cfg.alignment`` (an experiment variant)."""
  return KinMoAlignment(
    KinMoAlignmentConfig(
      text_features=text_features,
      motion_features=motion_features,
      latent_dim=cfg.latent_dim,
      ff_dim=cfg.ff_dim,
      num_layers=cfg.num_layers,
      num_heads=cfg.num_heads,
      dropout_rate=cfg.dropout_rate,
      alignment=alignment or cfg.alignment,
      use_cross_attention=use_cross_attention,
      cross_memory=cfg.cross_memory,
      cross_norm_first=cfg.cross_norm_first,
      vae=cfg.vae,
      retrieval_level="concat" if cfg.retrieval == "concat" else levels[-1],
    )
  )


def make_loss_fn(model: KinMoAlignment, levels: Sequence[str], cfg: AlignmentLossConfig):
  """Apply the model, call `losses.kinmo_loss` (or `losses.kinmo_nce_loss`) over the trained
  levels. Logged terms: ``<level>_<term>`` (``global_contrastive``, ...)."""
  for lv in levels:
    if lv not in LEVELS:
      raise ValueError(f"unknown level {lv!r}; valid: {LEVELS}")
  weights = cfg.level_weights.as_dict()
  tmr_weights = cfg.tmr_weights()
  levels = tuple(levels)

  def loss_fn(params, mutables, batch, rngs):
    text = tuple(batch[k] for k in TEXT_KEYS)
    if cfg.objective == "tmr":
      out = model.apply(
        {"params": params},
        *text,
        batch["motion"],
        batch["mask"],
        levels=levels,
        sample=True,
        deterministic=False,
        rngs={"dropout": rngs["dropout"], "sample": rngs["sample"]},
      )
      total, terms = losses.kinmo_loss(
        out, batch["motion"], batch["mask"], batch["caption_embedding"], tmr_weights, weights
      )
      terms = {k.replace("/", "_"): v for k, v in terms.items() if k != "total"}
      return total, (terms, mutables)
    kw = dict(deterministic=False, rngs={"dropout": rngs["dropout"]})
    t = model.apply({"params": params}, *text, method=KinMoAlignment.encode_text, **kw)
    m = model.apply(
      {"params": params}, batch["motion"], batch["mask"], method=KinMoAlignment.encode_motion, **kw
    )
    total, terms = losses.kinmo_nce_loss(
      m,
      {lv: t[lv] for lv in levels},
      cfg.temperature,
      weights,
      batch["caption_embedding"],
      cfg.filter_threshold,
    )
    return total, ({f"{k}_contrastive": v for k, v in terms.items()}, mutables)

  return loss_fn


def train_alignment(
  cfg: RetrievalStageConfig,
  batch_fn: Callable[[int], dict],
  model: KinMoAlignment,
  levels: Sequence[str],
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "align",
) -> Any:
  """Trains (or resumes) one alignment model with the shared loop; returns its params."""
  example = jax.tree.map(lambda x: x[:1], batch_fn(0))

  def init_fn(key):
    variables = model.init(
      {"params": key}, *(example[k] for k in TEXT_KEYS), example["motion"], example["mask"]
    )
    return variables["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, levels, cfg.loss),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------
def embed_split(
  model: KinMoAlignment, params, batch: dict, chunk: int = 64
) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """``({level: text embeddings [N, D]}, motion embeddings [N, D])`` in fixed-size chunks (the
  last chunk padded, so one compiled shape)."""
  n = len(batch["motion"])
  text_fn = jax.jit(lambda p, *a: model.apply({"params": p}, *a, method=KinMoAlignment.encode_text))
  motion_fn = jax.jit(
    lambda p, m, k: model.apply({"params": p}, m, k, method=KinMoAlignment.encode_motion)
  )
  texts, motions = [], []
  for a in range(0, n, chunk):
    idx = np.arange(a, a + chunk) % n
    t = text_fn(params, *(jnp.asarray(batch[k][idx]) for k in TEXT_KEYS))
    m = motion_fn(params, jnp.asarray(batch["motion"][idx]), jnp.asarray(batch["mask"][idx]))
    keep = min(chunk, n - a)
    texts.append({k: np.asarray(v)[:keep] for k, v in t.items()})
    motions.append(np.asarray(m)[:keep])
  return ({k: np.concatenate([t[k] for t in texts]) for k in texts[0]}, np.concatenate(motions))


def protocol_settings(
  threshold: float, dissimilar_size: int, batch_size: int, seed: int, num_repeats: int, n: int
) -> dict:
  """The exact protocol parameters, for the results files."""
  return {
    "test_pairs": n,
    "(a) all": "every test pair; only the paired item is correct",
    "(b) all_threshold": f"every test pair; also correct if MiniLM caption cosine > {threshold}",
    "(c) dissimilar": f"{min(dissimilar_size, n)} pairs by greedy farthest-point sampling on "
    "MiniLM caption embeddings",
    "(d) small_batches": f"batches of {batch_size} from {num_repeats} seeded permutation(s) "
    f"(seed {seed}), incomplete last batch dropped, metrics averaged",
    "ks": list(retrieval_lib.DEFAULT_KS),
    "tie_break": "pessimistic",
    "text_query": "caption 0 of each test clip (+ its oracle KinMo descriptions)",
    "motion": "first frames of each test clip (<= max_length), normalised",
  }


def evaluate(
  text_emb: Mapping[str, np.ndarray],
  motion_emb: np.ndarray,
  caption_embeddings: np.ndarray,
  levels: Sequence[str],
  *,
  retrieval: str = "concat",
  threshold: float = 0.8,
  dissimilar_size: int = 100,
  batch_size: int = 32,
  seed: int = 0,
  num_repeats: int = 1,
) -> dict:
  """Four-protocol retrieval (``main``) with the text embedding ``[mu_c; mu_g; mu_i]`` of the
  trained levels (``retrieval='concat'``, sec. 4.1) or the finest level (``'finest'``), and for
  each trained level alone (``per_level``)."""
  kw = dict(
    threshold=threshold,
    dissimilar_size=dissimilar_size,
    batch_size=min(batch_size, len(motion_emb)),
    seed=seed,
    num_repeats=num_repeats,
  )

  if retrieval not in RETRIEVALS:
    raise ValueError(f"retrieval must be one of {RETRIEVALS}, got {retrieval!r}")
  sims = {lv: retrieval_similarity(text_emb[lv], motion_emb) for lv in levels}
  per_level = {
    lv: retrieval_lib.evaluate_retrieval(s, caption_embeddings, **kw) for lv, s in sims.items()
  }
  if retrieval == "finest":
    return {"main_level": levels[-1], "main": per_level[levels[-1]], "per_level": per_level}
  main = retrieval_similarity(
    text_retrieval_embedding(text_emb, levels), motion_retrieval_embedding(motion_emb, levels)
  )
  return {
    "main_level": "concat",
    "main": retrieval_lib.evaluate_retrieval(main, caption_embeddings, **kw),
    "per_level": per_level,
  }


__all__ = [
  "AlignmentLossConfig",
  "AlignmentModelConfig",
  "LEVEL_SETS",
  "LevelWeights",
  "OBJECTIVES",
  "RETRIEVALS",
  "RetrievalStageConfig",
  "embed_split",
  "evaluate",
  "make_loss_fn",
  "make_model",
  "protocol_settings",
  "train_alignment",
]
