"""Fixed-length windows of variable-length sequences (BIGE's windowing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
  """Centre-crop a longer sequence, tile a shorter one (BIGE: crop longer, tile shorter)."""
  if len(x) == 0:
    raise ValueError("fit_length: empty sequence")
  if len(x) >= length:
    start = (len(x) - length) // 2
    return x[start : start + length]
  reps = -(-length // len(x))
  return np.concatenate([x] * reps)[:length]


def random_windows(
  seqs: Sequence[np.ndarray], length: int, count: int, rng: np.random.Generator
) -> np.ndarray:
  """`count` random crops of `length` frames (sequences shorter than that are tiled first)."""
  out = []
  for _ in range(count):
    s = seqs[rng.integers(len(seqs))]
    s = fit_length(s, max(length, len(s)))
    start = rng.integers(len(s) - length + 1)
    out.append(s[start : start + length])
  return np.stack(out)
