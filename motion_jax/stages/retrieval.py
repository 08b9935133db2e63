"""Stage: train and evaluate text-motion alignment models (KinMo HTMA and its ablations).

Data path (shared with :mod:`motion_jax.stages.evaluator`):

1. :func:`prepare_text_motion` - the embedded procedural dataset (HumanML3D layout incl.
   ``kinmo/<id>.json``, built if missing by :func:`motion_jax.data.procedural.ensure_dataset`),
   turned into a TFDS ArrayRecord dataset in the workdir (:mod:`motion_jax.data.text_motion_tfds`).
2. :func:`ensure_dataset_text_features` - frozen MiniLM features of every distinct caption, group
   and interaction description, cached by sentence hash (:mod:`motion_jax.data.text_features`).
3. :class:`motion_jax.data.text_motion_loader.TextMotionBatcher` draws batches (random caption,
   crop, normalisation); :func:`make_featurizer` replaces their strings by the cached features.

Model inputs. The global caption enters as MiniLM token states ``[B, L, 384]`` (as TMR's text
encoder reads DistilBERT token states). KinMo group / interaction descriptions enter either as one
token per description, its MiniLM sentence embedding (``kinmo_text_tokens='sentence'``:
``[B, G, 1, 384]``, cheap: 6 and 15 tokens), or as their token states
(``'tokens'``: ``[B, G, L, 384]``, flattened to ``G * L`` tokens by the model). Levels a variant
does not use are fed as one masked zero token, so their encoders cost nothing and get no gradient.

Variants (KinMo Table 4 ablation): ``levels`` is ``global``, ``global+group`` or
``global+group+interaction``; the loss is the sum of the symmetric InfoNCE of the motion embedding
against the fused text embedding of each trained level (KinMo eq. 7), with TMR's negative filtering
(captions whose MiniLM sentence cosine exceeds ``filter_threshold`` are not used as negatives of
each other). Retrieval uses the finest trained level (``e_i`` for the full hierarchy).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from motion_jax.data import text_features as tf_lib
from motion_jax.data import text_motion_loader as loader_lib
from motion_jax.losses import hierarchical_info_nce
from motion_jax.metrics import retrieval as retrieval_lib
from motion_jax.models.kinmo_alignment import KinMoAlignment, KinMoAlignmentConfig
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim

log = logging.getLogger(__name__)

LEVEL_SETS = {
  "global": ("global",),
  "global+group": ("global", "group"),
  "global+group+interaction": ("global", "group", "interaction"),
}
SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------------------------
# Configs
# ------------------------------------------------------------------------------------------------
def data_config(preset: str | None) -> ml_collections.ConfigDict:
  """Dataset settings. ``root=''``: the shared cache ``data/cache/text_motion``; ``'workdir'``: a
  private copy under the workdir (tests). ``clips``/``seed`` select the procedural build."""
  d = ml_collections.ConfigDict()
  d.root = ""
  d.clips, d.seed = 3000, 0
  d.max_length = 196  # HumanML3D max_motion_length
  d.unit_length = 4
  d.frame_stride = 1  # >1: temporal subsampling of the model input (CPU presets)
  if preset == "quick":
    d.frame_stride = 2
  if preset == "tiny":
    d.root, d.clips, d.frame_stride = "workdir", 180, 2
  return d


def model_config(preset: str | None) -> ml_collections.ConfigDict:
  """Alignment model + training. Default: TMR's sizes and optimiser (Petrovich et al. 2023, Sec. 4:
  latent 256, 6 layers, 4 heads, feed-forward 1024, dropout 0.1, AdamW lr 1e-4, batch 32,
  temperature 0.1, negative-filtering threshold 0.8), trained ~500 epochs of the 2,388 training
  clips (37,500 steps, TMR trains 500 epochs)."""
  from experiments import base

  m = ml_collections.ConfigDict()
  m.latent_dim, m.ff_dim, m.num_layers, m.num_heads, m.dropout_rate = 256, 1024, 6, 4, 0.1
  m.temperature, m.filter_threshold = 0.1, 0.8
  m.kinmo_text_tokens = "tokens"
  m.batch_size, m.num_steps = 32, 37_500
  m.log_every, m.checkpoint_every, m.keep_checkpoints, m.ema_decay = 100, 2500, 2, 0.999
  m.init_from = ""
  m.optim = base.get_config().optim
  m.optim.update(dict(learning_rate=1e-4, b1=0.9, b2=0.999, weight_decay=0.0))
  if preset == "quick":
    m.latent_dim, m.ff_dim, m.num_layers, m.num_heads = 64, 128, 1, 4
    m.kinmo_text_tokens = "sentence"
    m.num_steps, m.log_every, m.checkpoint_every = 800, 25, 400
    m.optim.learning_rate = 5e-4
  elif preset == "tiny":
    m.latent_dim, m.ff_dim, m.num_layers, m.num_heads = 16, 32, 1, 2
    m.kinmo_text_tokens = "sentence"
    m.batch_size, m.num_steps, m.log_every, m.checkpoint_every = 8, 6, 3, 0
    m.optim.learning_rate = 1e-3
  return m


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TextMotionData:
  """A built text-motion dataset: random-access sources per split and normalisation statistics."""

  root: pathlib.Path
  sources: dict[str, Any]
  lengths: dict[str, list[int]]
  mean: np.ndarray
  std: np.ndarray

  @property
  def dim(self) -> int:
    return int(self.mean.shape[0])


def dataset_root(data_cfg: Any, workdir: str | pathlib.Path) -> pathlib.Path:
  from motion_jax.data.procedural import DEFAULT_ROOT

  if data_cfg.root == "workdir":
    return pathlib.Path(workdir) / "dataset"
  return pathlib.Path(data_cfg.root) if data_cfg.root else DEFAULT_ROOT


def prepare_text_motion(data_cfg: Any, workdir: str | pathlib.Path) -> TextMotionData:
  """Ensures the procedural dataset and its TFDS build (in ``<workdir>/tfds``, tagged with the
  dataset's manifest digest so a rebuilt dataset is never read through a stale TFDS copy)."""
  from motion_jax.data import text_motion_tfds as tm
  from motion_jax.data.procedural import ensure_dataset

  workdir = pathlib.Path(workdir)
  root = ensure_dataset(
    dataset_root(data_cfg, workdir), clips=int(data_cfg.clips), seed=int(data_cfg.seed)
  )
  digest = json.loads((root / "manifest.json").read_text()).get("digest", "unknown")[:12]
  tfds_dir = workdir / "tfds" / digest
  builder = tm.prepare(root, tfds_dir)
  md = builder.info.metadata
  sources = {s: builder.as_data_source(split=s) for s in SPLITS if s in builder.info.splits}
  mean, std = loader_lib.check_stats(md.get("mean"), md.get("std"))
  return TextMotionData(root, sources, dict(md.get("lengths", {})), mean, std)


def _str(x: Any) -> str:
  return x.decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else str(x)


def collect_sentences(data: TextMotionData) -> tuple[list[str], list[str]]:
  """``(captions, kinmo descriptions)`` of every example of every split (with repeats)."""
  captions, kinmo = [], []
  for source in data.sources.values():
    for i in range(len(source)):
      ex = source[i]
      if len(ex["captions"]) == 0:
        raise ValueError(f"example {_str(ex.get('example_id', i))!r} has no captions")
      captions += [_str(c) for c in ex["captions"]]
      kinmo += [_str(t) for t in ex.get("kinmo_group_texts", [])]
      kinmo += [_str(t) for t in ex.get("kinmo_interaction_texts", [])]
  return captions, kinmo


def ensure_dataset_text_features(
  data: TextMotionData,
  path: str | pathlib.Path,
  *,
  kinmo: bool = True,
  encoder: tf_lib.EncoderFn | None = None,
) -> tuple[tf_lib.TextFeatures, list[str], list[str]]:
  """Cached MiniLM features of every sentence of every split; also returns the sentence lists
  of :func:`collect_sentences`."""
  captions, kinmo_texts = collect_sentences(data)
  sentences = sorted(set(captions) | (set(kinmo_texts) if kinmo else set()))
  feats = tf_lib.ensure_text_features(path, sentences, encoder=encoder)
  return feats, captions, kinmo_texts


def _round_up(n: int, m: int = 8) -> int:
  return max(m, -(-n // m) * m)


def token_budget(feats: tf_lib.TextFeatures, sentences: Sequence[str]) -> int:
  """Longest real token count of ``sentences`` rounded up to a multiple of 8."""
  rows = feats.rows([s for s in sentences if s])
  return _round_up(int(feats.mask[rows].sum(axis=1).max())) if len(rows) else 8


@dataclasses.dataclass(frozen=True)
class FeaturizeSpec:
  levels: tuple[str, ...]
  kinmo_text_tokens: str  # 'sentence' or 'tokens'
  caption_tokens: int  # padded token length of captions
  kinmo_tokens: int  # padded token length of KinMo texts ('tokens' mode)
  frame_stride: int = 1  # keep every k-th frame (CPU presets: 2 = 10 fps)

  def __post_init__(self):
    if self.kinmo_text_tokens not in ("sentence", "tokens"):
      raise ValueError(
        f"kinmo_text_tokens must be 'sentence' or 'tokens', got {self.kinmo_text_tokens!r}"
      )
    if self.frame_stride < 1:
      raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")
    bad = [lv for lv in self.levels if lv not in ("global", "group", "interaction")]
    if bad or "global" not in self.levels:
      raise ValueError(
        f"levels must include 'global' and be among global/group/interaction, got {self.levels}"
      )


def make_featurizer(
  feats: tf_lib.TextFeatures, spec: FeaturizeSpec
) -> Callable[[Mapping[str, np.ndarray]], dict]:
  """``postprocess(batch) -> numeric batch`` for :class:`TextMotionBatcher`: captions to token
  states, KinMo texts to sentence embeddings or token states, strings dropped."""

  def kinmo_level(texts, mask, b):
    if spec.kinmo_text_tokens == "sentence":
      emb = feats.sentence_embeddings(texts)  # [B, G, F]
      return emb[:, :, None, :], np.asarray(mask, bool)[:, :, None]  # [B, G, 1, F], [B, G, 1]
    return feats.lookup(texts, spec.kinmo_tokens)  # [B, G, L, F], [B, G, L]

  def postprocess(batch):
    captions = batch["caption"]
    b = len(captions)
    g_tokens, g_mask = feats.lookup(captions, spec.caption_tokens)  # [B, L, F]
    out = {
      "motion": np.asarray(batch["motion"], np.float32)[:, :: spec.frame_stride],
      "mask": np.asarray(batch["mask"], bool)[:, :: spec.frame_stride],
      "global_tokens": g_tokens,
      "global_mask": g_mask,
      "caption_embedding": feats.sentence_embeddings(captions),  # [B, F]
    }
    dummy = (np.zeros((b, 1, feats.width), np.float32), np.zeros((b, 1), bool))
    for level, key in (("group", "kinmo_group"), ("interaction", "kinmo_interaction")):
      if level in spec.levels:
        if not np.asarray(batch["kinmo_present"]).all():
          raise ValueError(
            f"the {level} level needs KinMo descriptions, but some examples have no kinmo/<id>.json"
          )
        tok, msk = kinmo_level(batch[f"{key}_texts"], batch[f"{key}_mask"], b)
      else:
        tok, msk = dummy
      out[f"{level}_tokens"], out[f"{level}_mask"] = tok, msk
    return out

  return postprocess


# ------------------------------------------------------------------------------------------------
# Model and training
# ------------------------------------------------------------------------------------------------
TEXT_KEYS = (
  "global_tokens",
  "global_mask",
  "group_tokens",
  "group_mask",
  "interaction_tokens",
  "interaction_mask",
)


def model_from_config(
  cfg: Any,
  *,
  levels: Sequence[str],
  use_cross_attention: bool,
  motion_features: int,
  text_features: int,
) -> KinMoAlignment:
  return KinMoAlignment(
    KinMoAlignmentConfig(
      text_features=text_features,
      motion_features=motion_features,
      latent_dim=cfg.latent_dim,
      ff_dim=cfg.ff_dim,
      num_layers=cfg.num_layers,
      num_heads=cfg.num_heads,
      dropout_rate=cfg.dropout_rate,
      use_cross_attention=use_cross_attention,
      temperature=cfg.temperature,
      retrieval_level=levels[-1],
    )
  )


def make_loss_fn(model: KinMoAlignment, levels: Sequence[str], filter_threshold: float):
  cfg = model.config

  def loss_fn(params, mutables, batch, rngs):
    out = model.apply(
      {"params": params},
      *(batch[k] for k in TEXT_KEYS),
      batch["motion"],
      batch["mask"],
      deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )
    total, terms = hierarchical_info_nce(
      out["motion"],
      {lv: out["text"][lv] for lv in levels},
      cfg.temperature,
      None,
      batch["caption_embedding"],
      filter_threshold,
    )
    return total, ({f"nce_{k}": v for k, v in terms.items()}, mutables)

  return loss_fn


def train_alignment(
  cfg: Any,
  batch_fn: Callable[[int], dict],
  model: KinMoAlignment,
  levels: Sequence[str],
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "align",
) -> Any:
  """Trains (or resumes / reloads) one alignment model with the shared loop; returns params."""
  example = jax.tree.map(lambda x: x[:1], batch_fn(0))

  def init_fn(key):
    variables = model.init(
      {"params": key}, *(example[k] for k in TEXT_KEYS), example["motion"], example["mask"]
    )
    return variables["params"], {}

  tx = optim.make_optimizer(optim.OptimConfig.from_config(cfg.optim))
  loop_cfg = loop_lib.LoopConfig.from_config(cfg, seed=seed, desc=desc)
  state = loop_lib.train(
    workdir=workdir,
    loop=loop_cfg,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, levels, cfg.filter_threshold),
    tx=tx,
    batch_fn=batch_fn,
  )
  return loop_lib.to_numpy(state.params)


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------
def eval_batch(
  source, postprocess, data: TextMotionData, max_length: int, unit_length: int = 4
) -> dict:
  """Whole split, deterministically: caption 0 of each example and its first ``max_length``
  frames (HumanML3D eval loader crop), featurised; plus ``caption`` strings."""
  if len(source) == 0:
    raise ValueError("empty evaluation split")
  cfg = loader_lib.LoaderConfig.eval(
    max_length=max_length, unit_length=unit_length, random_caption=False
  )
  rows = [
    loader_lib.prepare_example(source[i], np.random.default_rng(i), cfg, data.mean, data.std)
    for i in range(len(source))
  ]
  batch = loader_lib.collate(rows)
  out = postprocess(batch)
  out["caption"] = [str(c) for c in batch["caption"]]
  return out


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
    "text_query": "caption 0 of each test clip (+ its KinMo descriptions)",
    "motion": "first frames of each test clip (<= max_length), normalised",
  }


def evaluate(
  text_emb: Mapping[str, np.ndarray],
  motion_emb: np.ndarray,
  caption_embeddings: np.ndarray,
  levels: Sequence[str],
  *,
  threshold: float = 0.8,
  dissimilar_size: int = 100,
  batch_size: int = 32,
  seed: int = 0,
  num_repeats: int = 1,
) -> dict:
  """Four-protocol retrieval for the finest level (``main``), each trained level and the mean of
  the levels' cosine similarities (``level_mean``)."""
  kw = dict(
    threshold=threshold,
    dissimilar_size=dissimilar_size,
    batch_size=min(batch_size, len(motion_emb)),
    seed=seed,
    num_repeats=num_repeats,
  )
  from motion_jax.models.kinmo_alignment import retrieval_similarity

  sims = {lv: retrieval_similarity(text_emb[lv], motion_emb) for lv in levels}
  per_level = {
    lv: retrieval_lib.evaluate_retrieval(s, caption_embeddings, **kw) for lv, s in sims.items()
  }
  out = {"main_level": levels[-1], "main": per_level[levels[-1]], "per_level": per_level}
  if len(levels) > 1:
    out["level_mean"] = retrieval_lib.evaluate_retrieval(
      np.mean([sims[lv] for lv in levels], axis=0), caption_embeddings, **kw
    )
  return out


__all__ = [
  "FeaturizeSpec",
  "LEVEL_SETS",
  "TextMotionData",
  "collect_sentences",
  "data_config",
  "embed_split",
  "ensure_dataset_text_features",
  "eval_batch",
  "evaluate",
  "make_featurizer",
  "make_loss_fn",
  "model_config",
  "model_from_config",
  "prepare_text_motion",
  "protocol_settings",
  "token_budget",
  "train_alignment",
]
