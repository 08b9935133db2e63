"""Text-motion data ready for training: a built dataset's TFDS sources, its sentences, and the
featurizer that turns loader batches of strings into cached text features.

* `prepare(root, workdir)`: the TFDS ArrayRecord build of a HumanML3D-layout folder
  (`motion_jax.data.text_motion.tfds`, in ``<workdir>/tfds/<manifest digest>`` so that a rebuilt
  dataset is never read through a stale copy) -> `TextMotionData` (sources per split, lengths,
  Mean/Std).
* `collect_sentences`: every caption and KinMo description of every split.
* `token_budget`, `FeaturizeSpec`, `make_featurizer`: `TextMotionBatcher` postprocessing that
  replaces caption / description strings by MiniLM token states or sentence embeddings from a
  `motion_jax.data.text_motion.features.TextFeatures` cache.
* `eval_batch`: a whole split, deterministically (caption 0, first ``max_length`` frames).

Which dataset folder to prepare (the embedded procedural one, built on first use, or a user's
HumanML3D folder) is decided by the stage layer (`motion_jax.stages.text_data`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from motion_jax.data.text_motion import features as tf_lib
from motion_jax.data.text_motion import loader as loader_lib

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class TextMotionDataConfig:
  """Which text-motion dataset, and the HumanML3D loader settings.

  ``root=''``: the embedded procedural dataset in the shared cache (built on first use);
  ``'workdir'``: a private build under the run's workdir (tests); else a folder in the HumanML3D
  layout. ``clips`` / ``seed`` / ``version`` select the procedural build (generator 2.0.0: 1-4
  action sequences, 10,000 clips in ``data/cache/text_motion_v2_10000``; 1.0.0: single actions in
  ``data/cache/text_motion``).
  """

  root: str = ""
  clips: int = 10000
  seed: int = 0
  version: str = "2.0.0"
  max_length: int = 196  # HumanML3D max_motion_length
  unit_length: int = 4


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


def prepare(root: str | pathlib.Path, workdir: str | pathlib.Path) -> TextMotionData:
  """The TFDS build of the dataset folder `root` under ``<workdir>/tfds`` (module docstring)."""
  from motion_jax.data.text_motion import tfds as tm

  root, workdir = pathlib.Path(root), pathlib.Path(workdir)
  manifest = root / "manifest.json"
  digest = "unversioned"
  if manifest.exists():
    digest = json.loads(manifest.read_text()).get("digest", "unknown")[:12]
  builder = tm.prepare(root, workdir / "tfds" / digest)
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


def train_batcher(
  data: TextMotionData,
  cfg: TextMotionDataConfig,
  postprocess: Callable[[Mapping[str, np.ndarray]], dict],
  *,
  batch_size: int,
  seed: int,
) -> loader_lib.TextMotionBatcher:
  """Step-indexed training batches of the train split (random caption, crop, normalisation),
  featurised by `postprocess` (e.g. `make_featurizer`)."""
  return loader_lib.TextMotionBatcher(
    data.sources["train"],
    batch_size=batch_size,
    seed=seed,
    mean=data.mean,
    std=data.std,
    config=loader_lib.LoaderConfig(max_length=cfg.max_length, unit_length=cfg.unit_length),
    bucket_edges=None,
    lengths=data.lengths.get("train"),
    postprocess=postprocess,
  )
