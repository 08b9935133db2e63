"""Fixed-length windows of squat repetitions, and the normalisation statistics, for every squat
experiment and loader (BIGE's windowing: crop a longer repetition, tile a shorter one).

`window_indices(length, window, mode, rng)`: the frame indices of a `window`-frame window of a
`length`-frame sequence.
* ``mode="random"``: a crop from a uniformly random start (training; BIGE / T2M-GPT's datasets
  draw a new crop each time an example is read);
* ``mode="center"``: the centred crop (evaluation);
* ``mode="start"``: the first frames.
A sequence shorter than the window is tiled (frames 0..T-1, 0..T-1, ...) and cut, whatever the
mode, so every window has exactly `window` frames and no padding mask is needed.

`Normaliser`: per-channel mean and standard deviation over every frame of the training
repetitions (accumulated in float64, stored float32), the standard deviation floored at 1e-3 so
that a constant channel does not blow up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

MODES = ("random", "center", "start")
STD_FLOOR = 1e-3


def window_indices(
  length: int, window: int, mode: str = "center", rng: np.random.Generator | None = None
) -> np.ndarray:
  """[window] frame indices (module docstring). `rng` is required for ``mode='random'``."""
  if length <= 0:
    raise ValueError("cannot window an empty sequence")
  if mode not in MODES:
    raise ValueError(f"window mode must be one of {MODES}, got {mode!r}")
  if length < window:
    return np.arange(window) % length
  if mode == "random":
    if rng is None:
      raise ValueError("window mode 'random' needs an rng")
    start = int(rng.integers(0, length - window + 1))
  elif mode == "center":
    start = (length - window) // 2
  else:
    start = 0
  return np.arange(start, start + window)


def window(
  x: np.ndarray, length: int, mode: str = "center", rng: np.random.Generator | None = None
) -> np.ndarray:
  """x [T, ...] -> [length, ...] (module docstring)."""
  return np.asarray(x)[window_indices(len(x), length, mode, rng)]


def stack_windows(seqs: Sequence[np.ndarray], length: int, mode: str = "center") -> np.ndarray:
  """[N, length, ...]: the deterministic window of every sequence (``center`` or ``start``)."""
  if mode == "random":
    raise ValueError("stack_windows is deterministic; use mode 'center' or 'start'")
  return np.stack([window(x, length, mode) for x in seqs])


@dataclasses.dataclass(frozen=True, eq=False)
class Normaliser:
  """x -> (x - mean) / std per channel (module docstring)."""

  mean: np.ndarray  # [C] float32
  std: np.ndarray  # [C] float32

  @classmethod
  def fit(cls, seqs: Sequence[np.ndarray], floor: float = STD_FLOOR) -> Normaliser:
    frames = np.concatenate([np.asarray(s, np.float64) for s in seqs])
    if not len(frames):
      raise ValueError("Normaliser.fit: no frames")
    return cls(
      frames.mean(0).astype(np.float32), np.maximum(frames.std(0), floor).astype(np.float32)
    )

  @classmethod
  def from_tree(cls, tree: dict) -> Normaliser:
    return cls(np.asarray(tree["mean"], np.float32), np.asarray(tree["std"], np.float32))

  def to_tree(self) -> dict[str, np.ndarray]:
    return {"mean": self.mean, "std": self.std}

  def __call__(self, x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

  def inverse(self, x):
    """Works on numpy and jax arrays alike."""
    return x * self.std + self.mean


__all__ = ["MODES", "Normaliser", "stack_windows", "window", "window_indices"]
