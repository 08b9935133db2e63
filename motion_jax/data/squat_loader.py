"""Grain loader for squat repetitions: BIGE windowing, normalisation, step-indexed batches.

Examples come from `motion_jax.data.squat_tfds` (``builder.as_data_source()[split]``) or any
random-access sequence of dicts with ``coordinates [T, 33]`` and ``activations [T, 80]``.

Per example (`prepare_example`, a pure function of the example and an rng), as BIGE windows its
squat motions (window of 196 frames):

1. window: a repetition longer than `window` is cropped to `window` frames (random start when
   `random_crop`, else the first frames); a shorter one is tiled (frames 0..T-1, 0..T-1, ...) and
   cut to `window` frames, so every example has exactly `window` frames and no padding mask is
   needed; ``length`` keeps min(T, window);
2. normalisation: ``(coordinates - mean) / std`` with the train-split statistics stored by the
   builder (``metadata["stats"]``); activations stay in [0, 1] unless `normalise_activations`.

Batches (`make_squat_batcher`) are `motion_jax.data.batching.StepBatcher` batches: the batch of
step ``s`` is a pure function of ``(seed, s)`` (Grain ``MapDataset`` shuffle), per-example
randomness from ``np.random.default_rng([seed, position])``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from motion_jax.data.batching import StepBatcher

BIGE_WINDOW = 196


@dataclasses.dataclass(frozen=True)
class SquatStats:
  """Normalisation statistics ([33] coordinates, [80] activations)."""

  coordinates_mean: np.ndarray
  coordinates_std: np.ndarray
  activations_mean: np.ndarray | None = None
  activations_std: np.ndarray | None = None

  @classmethod
  def from_metadata(cls, metadata: Mapping[str, Any]) -> SquatStats:
    s = metadata["stats"]

    def arr(k):
      return None if s.get(k) is None else np.asarray(s[k], np.float32)

    return cls(
      arr("coordinates_mean"),
      arr("coordinates_std"),
      arr("activations_mean"),
      arr("activations_std"),
    )

  @classmethod
  def from_examples(cls, examples: Sequence[Mapping[str, Any]]) -> SquatStats:
    q = np.concatenate([np.asarray(e["coordinates"], np.float64) for e in examples])
    a = np.concatenate([np.asarray(e["activations"], np.float64) for e in examples])
    return cls(
      q.mean(0).astype(np.float32),
      np.maximum(q.std(0), 1e-6).astype(np.float32),
      a.mean(0).astype(np.float32),
      np.maximum(a.std(0), 1e-6).astype(np.float32),
    )


def normalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  return ((np.asarray(x, np.float32) - mean) / std).astype(np.float32)


def denormalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  return (np.asarray(x, np.float32) * std + mean).astype(np.float32)


def window_indices(length: int, window: int = BIGE_WINDOW, start: int = 0) -> np.ndarray:
  """Frame indices of a `window`-frame window: a crop from `start` or, if shorter, tiling."""
  if length <= 0:
    raise ValueError("cannot window an empty sequence")
  if length >= window:
    if not 0 <= start <= length - window:
      raise ValueError(f"crop start {start} outside [0, {length - window}]")
    return np.arange(start, start + window)
  return np.arange(window) % length


@dataclasses.dataclass(frozen=True)
class SquatLoaderConfig:
  window: int = BIGE_WINDOW
  random_crop: bool = True
  normalise_activations: bool = False


def prepare_example(
  example: Mapping[str, Any],
  stats: SquatStats,
  config: SquatLoaderConfig = SquatLoaderConfig(),
  rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
  """One fixed-size training example (see module docstring)."""
  q = np.asarray(example["coordinates"], np.float32)
  a = np.asarray(example["activations"], np.float32)
  t = q.shape[0]
  start = 0
  if t > config.window and config.random_crop and rng is not None:
    start = int(rng.integers(0, t - config.window + 1))
  idx = window_indices(t, config.window, start)
  acts = a[idx]
  if config.normalise_activations and stats.activations_mean is not None:
    acts = normalise(acts, stats.activations_mean, stats.activations_std)
  return {
    "motion": normalise(q[idx], stats.coordinates_mean, stats.coordinates_std),  # [W, 33]
    "activations": acts.astype(np.float32),  # [W, 80]
    "has_activations": np.asarray(bool(example.get("has_activations", True))),
    "length": np.asarray(min(t, config.window), np.int32),
  }


def make_squat_batcher(
  examples: Sequence[Mapping[str, Any]],
  stats: SquatStats,
  *,
  batch_size: int,
  seed: int,
  config: SquatLoaderConfig = SquatLoaderConfig(),
  shuffle: bool = True,
) -> StepBatcher:
  """`batcher(step)` -> dict of [B, ...] arrays (this process's rows of the global batch)."""

  def transform(ex, rng):
    return prepare_example(ex, stats, config, rng)

  return StepBatcher(
    examples, batch_size=batch_size, seed=seed, transform=transform, shuffle=shuffle
  )


__all__ = [
  "BIGE_WINDOW",
  "SquatLoaderConfig",
  "SquatStats",
  "denormalise",
  "make_squat_batcher",
  "normalise",
  "prepare_example",
  "window_indices",
]
