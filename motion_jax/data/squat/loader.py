"""Step-indexed batches of squat windows: the one batcher of every squat experiment and of the
TFDS/Grain path.

Examples are dicts with ``coordinates [T, 33]`` (degrees / metres) and ``activations [T, 80]``:
the in-memory examples of `motion_jax.data.squat.source.load_splits` or a TFDS data source of
`motion_jax.data.squat.tfds` (after `source.select`). Per example (`prepare_example`, a pure
function of the example and an rng): a window of `window` frames
(`motion_jax.data.squat.windows`, ``mode='random'`` for training), the coordinates normalised
with the training split's `Normaliser`; activations stay in [0, 1] unless an activation
normaliser is given. ``length`` keeps min(T, window).

`make_batcher` wraps `motion_jax.data.batching.StepBatcher`: the batch of step ``s`` is a pure
function of ``(seed, s)`` (Grain ``MapDataset`` shuffle), per-example randomness from
``np.random.default_rng([seed, position])``, so a resumed run reads the same batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from motion_jax.data.batching import StepBatcher
from motion_jax.data.squat.windows import Normaliser, window_indices


def prepare_example(
  example: Mapping[str, Any],
  normaliser: Normaliser,
  window: int,
  mode: str = "random",
  rng: np.random.Generator | None = None,
  activation_normaliser: Normaliser | None = None,
) -> dict[str, np.ndarray]:
  """One fixed-size example: {'motion' [W, 33] normalised, 'activations' [W, 80],
  'has_activations', 'length'}."""
  q = np.asarray(example["coordinates"], np.float32)
  a = np.asarray(example["activations"], np.float32)
  idx = window_indices(len(q), window, mode, rng)
  acts = a[idx] if activation_normaliser is None else activation_normaliser(a[idx])
  return {
    "motion": normaliser(q[idx]),
    "activations": acts.astype(np.float32),
    "has_activations": np.asarray(bool(example.get("has_activations", True))),
    "length": np.asarray(min(len(q), window), np.int32),
  }


def make_batcher(
  examples: Sequence[Mapping[str, Any]],
  normaliser: Normaliser,
  *,
  window: int,
  batch_size: int,
  seed: int,
  mode: str = "random",
  shuffle: bool = True,
  activation_normaliser: Normaliser | None = None,
) -> StepBatcher:
  """`batcher(step)` -> dict of [B, ...] arrays (this process's rows of the global batch)."""

  def transform(ex, rng):
    return prepare_example(ex, normaliser, window, mode, rng, activation_normaliser)

  return StepBatcher(
    examples, batch_size=batch_size, seed=seed, transform=transform, shuffle=shuffle
  )


__all__ = ["make_batcher", "prepare_example"]
