"""Grain loader for text-motion examples: crop, normalise, pick a caption, pad, bucket by length.

Examples come from :mod:`motion_jax.data.text_motion.tfds` (``builder.as_data_source()[split]``) or
any random-access sequence of dicts with ``motion [T, D]``, ``captions`` (str or bytes) and
optionally ``tokens`` / ``motion_id`` / ``kinmo_*`` fields.

Per example (:func:`prepare_example`, a pure function of the example and an rng), following
HumanML3D's text-to-motion loader:

1. caption: one of the example's captions, uniformly at random;
2. length: ``m = min(T, max_length)`` rounded down to a multiple of ``unit_length`` (4: the
   token unit of 4x temporal downsampling), and with probability ``drop_unit_prob`` (HumanML3D:
   1/3) one unit shorter; a random window of ``m`` frames (the first ``m`` when not random);
3. normalisation ``(x - mean) / std`` with the dataset statistics;
4. zero padding to ``pad_length`` frames and a boolean ``mask`` (True on real frames).

Batches (:class:`TextMotionBatcher`) are step-indexed: the batch of step ``s`` is a pure function of
``(seed, s)``, as for :class:`motion_jax.data.batching.StepBatcher` (same ``batcher(step)`` call,
same per-process rows of the global batch), so a resumed run reads exactly the batches of an
uninterrupted one, with no iterator state to checkpoint. :func:`make_step_batcher` gives the same
per-example transform through ``StepBatcher`` itself when no bucketing is wanted.

Bucketing. Examples go to the bucket of their stored length ``min(T, max_length)``: bucket ``k``
holds lengths in ``(edges[k-1], edges[k]]``. Default edges ``(64, 96, 128, 160, 196)`` frames
(3.2 / 4.8 / 6.4 / 8 / 9.8 s at 20 fps): HumanML3D keeps 40-199 frames, so the first bucket holds
40-64 frames, and every bucket spans 32 frames (8 tokens), the spread in one batch. Each bucket is
an endless stream of reshuffled passes over its examples (Grain ``MapDataset.shuffle``). One
*schedule epoch* is ``ceil(n_k / B)`` batches of each bucket ``k``, in a shuffled order (reshuffled
every epoch); batch ``c`` of bucket ``k`` in epoch ``e`` takes positions
``e * ceil(n_k / B) * B + c * B + r`` of that bucket's stream, so a bucket's last partial batch
is filled with the start of its next pass and nothing is dropped. With ``pad_to_bucket=False``
(default) every batch is padded to ``max_length`` (one compiled shape; bucketing then only lowers
the spread of lengths in a batch); with ``True`` to its bucket's edge (one shape per bucket).

Randomness: the per-example rng is ``np.random.default_rng([seed, step, row])``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grain
import jax
import numpy as np

from motion_jax.data.batching import StepBatcher

DEFAULT_BUCKET_EDGES = (64, 96, 128, 160, 196)


@dataclasses.dataclass(frozen=True)
class LoaderConfig:
  """Per-example processing.

  Attributes:
    max_length: longest motion kept, frames (HumanML3D: 196).
    unit_length: lengths are cropped to multiples of this (4 = one token of a 4x VQ encoder).
    drop_unit_prob: probability of one unit shorter than the longest multiple (HumanML3D: 1/3).
    random_crop: random window position (else the first frames).
    random_caption: draw a caption (else caption 0).
    pad_length: output frames (``None``: ``max_length``).
    max_kinmo_groups / max_kinmo_interactions: KinMo texts padded to these counts (6 groups, 15
      pairs).
  """

  max_length: int = 196
  unit_length: int = 4
  drop_unit_prob: float = 1.0 / 3.0
  random_crop: bool = True
  random_caption: bool = True
  pad_length: int | None = None
  max_kinmo_groups: int = 6
  max_kinmo_interactions: int = 15

  def __post_init__(self):
    if self.max_length % self.unit_length:
      raise ValueError(
        f"max_length {self.max_length} must be a multiple of unit_length {self.unit_length}"
      )
    if self.pad_length is not None and self.pad_length < self.max_length:
      raise ValueError(f"pad_length {self.pad_length} < max_length {self.max_length}")

  @classmethod
  def eval(cls, **kw) -> LoaderConfig:
    """Deterministic crops (first frames, longest unit multiple); captions still seeded."""
    return cls(drop_unit_prob=0.0, random_crop=False, **kw)


def _str(x: Any) -> str:
  return x.decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else str(x)


def _texts(example: Mapping, key: str) -> list[str]:
  return [_str(t) for t in example.get(key, [])]


def _pad_texts(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
  texts = texts[:n]
  mask = np.zeros(n, bool)
  mask[: len(texts)] = True
  return np.asarray(texts + [""] * (n - len(texts)), dtype=object), mask


def crop_length(n_frames: int, config: LoaderConfig, rng: np.random.Generator) -> int:
  """Cropped length: ``min(T, max_length)`` down to a unit multiple, maybe one unit less."""
  u = config.unit_length
  units = min(n_frames, config.max_length) // u
  if units < 1:
    raise ValueError(f"motion of {n_frames} frames is shorter than one unit ({u} frames)")
  if config.drop_unit_prob > 0 and units > 1 and rng.random() < config.drop_unit_prob:
    units -= 1
  return units * u


def prepare_example(
  example: Mapping,
  rng: np.random.Generator,
  config: LoaderConfig,
  mean: np.ndarray,
  std: np.ndarray,
  pad_length: int | None = None,
) -> dict:
  """One training example with fixed shapes (see module docstring).

  Returns a dict: ``motion [P, D]`` float32 normalised and zero-padded, ``mask [P]`` bool,
  ``length`` int32, ``caption`` str, ``tokens`` str (space-joined ``word/POS``; "" if none),
  ``caption_index`` int32, ``num_captions`` int32, ``crop_start`` int32, ``motion_id`` str,
  ``kinmo_present`` bool, ``kinmo_group_texts [G]`` / ``kinmo_interaction_texts [I]`` str with
  masks ``kinmo_group_mask [G]`` / ``kinmo_interaction_mask [I]``.
  """
  motion = np.asarray(example["motion"], np.float32)
  t, d = motion.shape
  if np.shape(mean) != (d,) or np.shape(std) != (d,):
    raise ValueError(f"motion width {d} does not match mean/std {np.shape(mean)}/{np.shape(std)}")
  captions = _texts(example, "captions")
  if not captions:
    raise ValueError(f"example {_str(example.get('example_id', '?'))!r} has no captions")
  tokens = _texts(example, "tokens")
  k = int(rng.integers(len(captions))) if config.random_caption else 0
  m = crop_length(t, config, rng)
  start = int(rng.integers(0, t - m + 1)) if config.random_crop else 0
  x = (motion[start : start + m] - mean) / std
  p = pad_length or config.pad_length or config.max_length
  if m > p:
    raise ValueError(f"cropped length {m} exceeds pad length {p}")
  out_motion = np.zeros((p, d), np.float32)
  out_motion[:m] = x
  mask = np.zeros(p, bool)
  mask[:m] = True
  groups, gmask = _pad_texts(_texts(example, "kinmo_group_texts"), config.max_kinmo_groups)
  inter, imask = _pad_texts(
    _texts(example, "kinmo_interaction_texts"), config.max_kinmo_interactions
  )
  return {
    "motion": out_motion,
    "mask": mask,
    "length": np.int32(m),
    "caption": captions[k],
    "tokens": tokens[k] if k < len(tokens) else "",
    "caption_index": np.int32(k),
    "num_captions": np.int32(len(captions)),
    "crop_start": np.int32(start),
    "motion_id": _str(example.get("motion_id", "")),
    "kinmo_present": np.bool_(bool(example.get("kinmo_present", False))),
    "kinmo_group_texts": groups,
    "kinmo_group_mask": gmask,
    "kinmo_interaction_texts": inter,
    "kinmo_interaction_mask": imask,
  }


def collate(rows: Sequence[dict]) -> dict:
  """Stacks per-example dicts into a batch (strings into object arrays)."""
  out = {}
  for key in rows[0]:
    vals = [r[key] for r in rows]
    out[key] = np.asarray(vals, dtype=object) if isinstance(vals[0], str) else np.stack(vals)
  return out


def numeric_only(batch: Mapping[str, np.ndarray]) -> dict:
  """Drops the string fields of a batch (what ``train.sharding.shard_batch`` can place on
  devices); tokenise captions first if the model needs them (e.g. in a ``postprocess``)."""
  return {k: v for k, v in batch.items() if np.asarray(v).dtype.kind not in ("O", "U", "S")}


def check_stats(mean, std, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Mean/std as float32 ``[D]``; raises ValueError when missing, mis-shaped or std <= 0."""
  if mean is None or std is None:
    raise ValueError(
      "normalisation statistics are missing: pass mean/std (the dataset was "
      "built without Mean.npy/Std.npy)"
    )
  mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
  if mean.ndim != 1 or mean.shape != std.shape or (dim is not None and mean.shape[0] != dim):
    raise ValueError(f"mean/std must be [{dim or 'D'}], got {mean.shape} / {std.shape}")
  if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
    raise ValueError("mean/std must be finite with std > 0")
  return mean, std


def make_transform(
  config: LoaderConfig, mean, std
) -> Callable[[Mapping, np.random.Generator], dict]:
  """``transform(example, rng)`` for :class:`StepBatcher` (uniform batches, no bucketing)."""
  mean, std = check_stats(mean, std)
  return functools.partial(prepare_example, config=config, mean=mean, std=std)


def make_step_batcher(
  examples: Sequence[Mapping],
  *,
  batch_size: int,
  seed: int,
  mean,
  std,
  config: LoaderConfig = LoaderConfig(),
  shuffle: bool = True,
) -> StepBatcher:
  """A :class:`StepBatcher` over ``examples`` with :func:`prepare_example` as its transform.

  Note: ``StepBatcher`` stacks leaves with ``np.stack``, so string fields become ``<U`` arrays.
  """
  return StepBatcher(
    examples,
    batch_size=batch_size,
    seed=seed,
    transform=make_transform(config, mean, std),
    shuffle=shuffle,
  )


def example_lengths(examples: Sequence[Mapping]) -> np.ndarray:
  """Stored lengths of all examples (reads every example; prefer the build's metadata)."""
  return np.asarray([int(np.shape(ex["motion"])[0]) for ex in examples], np.int64)


def assign_buckets(lengths: Sequence[int], edges: Sequence[int], max_length: int) -> np.ndarray:
  """Bucket index of each length: bucket k holds ``min(L, max_length)`` in ``(e[k-1], e[k]]``."""
  edges = np.asarray(edges)
  if edges.ndim != 1 or len(edges) == 0 or np.any(np.diff(edges) <= 0):
    raise ValueError(f"bucket edges must be strictly increasing, got {tuple(edges)}")
  if edges[-1] < max_length:
    raise ValueError(f"last bucket edge {edges[-1]} < max_length {max_length}")
  clipped = np.minimum(np.asarray(lengths), max_length)
  return np.searchsorted(edges, clipped, side="left")


def _derive_seed(seed: int, *keys: int) -> int:
  """An independent 32-bit seed for stream ``keys`` of ``seed``."""
  return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


class TextMotionBatcher:
  """``batcher(step)`` -> this process's rows of global batch ``step``, bucketed by length.

  A pure function of ``(seed, step)`` (see the module docstring for the schedule). Use
  :meth:`as_map_dataset` for a Grain ``MapDataset`` whose element ``s`` is batch ``s`` (e.g. to
  prefetch with ``.to_iter_dataset()`` starting at the restored step).
  """

  def __init__(
    self,
    examples: Sequence[Mapping],
    *,
    batch_size: int,
    seed: int,
    mean,
    std,
    config: LoaderConfig = LoaderConfig(),
    bucket_edges: Sequence[int] | None = DEFAULT_BUCKET_EDGES,
    lengths: Sequence[int] | None = None,
    pad_to_bucket: bool = False,
    postprocess: Callable[[dict], dict] | None = None,
  ):
    """Args:
    examples: random-access examples (e.g. a TFDS ArrayRecord data source).
    batch_size: global batch size (all processes).
    seed: shuffling, caption and crop seed.
    mean, std: ``[D]`` normalisation statistics.
    config: per-example processing.
    bucket_edges: upper length edges (the last must be >= ``config.max_length``); ``None``
      for one bucket (plain shuffled batches).
    lengths: stored example lengths (e.g. ``metadata["lengths"][split]``); read from the
      examples when ``None``.
    pad_to_bucket: pad each batch to its bucket's edge instead of ``max_length``.
    postprocess: applied to each collated batch (e.g. tokenise captions, or
      :func:`numeric_only` before ``train.sharding.shard_batch``, which takes numbers only).
    """
    n = len(examples)
    if n == 0:
      raise ValueError("TextMotionBatcher: no examples to batch")
    if batch_size % jax.process_count():
      raise ValueError(f"batch_size {batch_size} not divisible by {jax.process_count()} processes")
    self.batch_size, self.seed, self.config = batch_size, seed, config
    self.mean, self.std = check_stats(mean, std)
    self._examples = examples
    self._postprocess = postprocess
    lengths = example_lengths(examples) if lengths is None else np.asarray(lengths)
    if len(lengths) != n:
      raise ValueError(f"{len(lengths)} lengths for {n} examples")
    edges = tuple(bucket_edges) if bucket_edges is not None else (config.max_length,)
    self.bucket_edges = edges
    bucket_of = assign_buckets(lengths, edges, config.max_length)
    self._streams, self._chunks, self._pad = [], [], []
    labels = []
    for k, edge in enumerate(edges):
      members = np.flatnonzero(bucket_of == k)
      if len(members) == 0:
        continue
      b = len(self._streams)
      stream = grain.MapDataset.source(members.tolist()).seed(_derive_seed(seed, 1, k))
      stream = stream.shuffle()
      chunks = math.ceil(len(members) / batch_size)
      self._streams.append(stream)
      self._chunks.append(chunks)
      pad = config.pad_length or config.max_length
      self._pad.append(min(int(edge), config.max_length) if pad_to_bucket else pad)
      labels.extend((b, c) for c in range(chunks))
    self.bucket_sizes = tuple(int((bucket_of == k).sum()) for k in range(len(edges)))
    self.steps_per_epoch = len(labels)
    self._order = grain.MapDataset.source(labels).seed(_derive_seed(seed, 0)).shuffle()

  def batch_plan(self, step: int) -> tuple[int, list[int]]:
    """(bucket stream, global example indices) of batch ``step``."""
    epoch = step // self.steps_per_epoch
    b, c = self._order[step]
    first = (epoch * self._chunks[b] + c) * self.batch_size
    stream = self._streams[b]
    return b, [int(stream[first + r]) for r in range(self.batch_size)]

  def __call__(self, step: int) -> dict:
    b, indices = self.batch_plan(step)
    per = self.batch_size // jax.process_count()
    lo = jax.process_index() * per
    rows = [
      prepare_example(
        self._examples[i],
        np.random.default_rng([self.seed, step, r]),
        self.config,
        self.mean,
        self.std,
        pad_length=self._pad[b],
      )
      for r, i in zip(range(lo, lo + per), indices[lo : lo + per])
    ]
    batch = collate(rows)
    return batch if self._postprocess is None else self._postprocess(batch)

  def as_map_dataset(self) -> grain.MapDataset:
    """Endless Grain ``MapDataset``: element ``s`` is ``self(s)``."""
    return (
      grain.MapDataset.range(self.steps_per_epoch)
      .repeat(None)
      .map_with_index(lambda step, _: self(step))
    )


def from_tfds(
  data_dir,
  *,
  split: str = "train",
  config_name: str = "humanml3d",
  batch_size: int,
  seed: int,
  mean=None,
  std=None,
  config: LoaderConfig = LoaderConfig(),
  **kw,
) -> TextMotionBatcher:
  """A :class:`TextMotionBatcher` over a built ``text_motion/<config_name>`` split; mean/std
  default to the build's ``Mean.npy``/``Std.npy`` and lengths to its metadata."""
  from motion_jax.data.text_motion import tfds as text_motion_tfds  # TFDS only when used

  source, md = text_motion_tfds.load_data_source(data_dir, config_name, split)
  mean = md.get("mean") if mean is None else mean
  std = md.get("std") if std is None else std
  lengths = md.get("lengths", {}).get(split)
  return TextMotionBatcher(
    source,
    batch_size=batch_size,
    seed=seed,
    mean=mean,
    std=std,
    config=config,
    lengths=lengths,
    **kw,
  )


__all__ = [
  "DEFAULT_BUCKET_EDGES",
  "LoaderConfig",
  "TextMotionBatcher",
  "assign_buckets",
  "check_stats",
  "collate",
  "crop_length",
  "example_lengths",
  "from_tfds",
  "make_step_batcher",
  "make_transform",
  "numeric_only",
  "prepare_example",
]
