"""LADiff's length report: how long a generated motion actually moves, and the latent figure.

The decoded clip has exactly the requested number of frames by construction (the VAE decodes one
query per frame), so its length cannot be wrong; what can be wrong is how much of it is motion.
`motion_extent` measures that from the clip itself: per frame the largest joint speed (the norm of
HumanML3D's local-velocity block, metres per frame in the facing frame, times the frame rate);
frames whose speed reaches ``rest_speed`` (m/s) are *moving*; the motion's own duration is the
span from the first to the last moving frame. `length_statistics` reports, for clips requested at
f frames, the relative duration error |duration - f| / f and the moving fraction. A generator that
finishes early and then stands still (or plays a short motion slowly) scores a larger error than
the real clips of that length do, which is the reference reported beside it.

`latent_pca_figure`: 2-D PCA (numpy SVD) of flattened K x D latents, one panel per method, colour
= caption (action), marker = requested length (the lecture's t-SNE of 30/96/144-frame sequences of
3 actions; PCA is deterministic and needs no extra dependency).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from motion_jax.representations import humanml3d

FPS = 20.0  # HumanML3D


def frame_speeds(motion: np.ndarray, fps: float = FPS) -> np.ndarray:
  """``[T, F]`` raw HumanML3D features -> ``[T - 1]`` largest joint speed per frame (m/s)."""
  vel = np.asarray(humanml3d.split_features(np.asarray(motion, np.float32))["local_velocity"])
  return np.linalg.norm(vel[:-1], axis=-1).max(axis=-1) * fps  # the last row has no successor


def motion_extent(motion: np.ndarray, rest_speed: float, fps: float = FPS) -> tuple[int, float]:
  """(duration in frames from the first to the last moving frame, fraction of frames moving)."""
  moving = frame_speeds(motion, fps) >= rest_speed
  if not moving.any():
    return 0, 0.0
  idx = np.flatnonzero(moving)
  return int(idx[-1] - idx[0] + 2), float(moving.mean())  # + 2: frame pairs -> frames


def length_statistics(
  motions: Sequence[np.ndarray], requested: Sequence[int], rest_speed: float, fps: float = FPS
) -> dict[str, float]:
  """Mean decoded length, mean |duration - f| / f and mean moving fraction over the clips."""
  durations, fractions = zip(*(motion_extent(m, rest_speed, fps) for m in motions), strict=True)
  req = np.asarray(requested, float)
  dur = np.asarray(durations, float)
  return {
    "decoded_length": float(np.mean([len(m) for m in motions])),
    "decoded_length_error": float(np.mean(np.abs([len(m) for m in motions] - req))),
    "duration": float(dur.mean()),
    "duration_rel_error": float(np.mean(np.abs(dur - req) / req)),
    "moving_fraction": float(np.mean(fractions)),
  }


def pca_2d(x: np.ndarray) -> np.ndarray:
  """``[N, P]`` -> ``[N, 2]`` projection on the two leading principal components."""
  x = np.asarray(x, np.float64)
  x = x - x.mean(0, keepdims=True)
  _, _, vt = np.linalg.svd(x, full_matrices=False)
  return x @ vt[:2].T


def latent_pca_figure(
  path: str | pathlib.Path,
  panels: Mapping[str, tuple[np.ndarray, Sequence[str], Sequence[int]]],
) -> pathlib.Path:
  """One PCA scatter per method: ``panels[name] = (latents [N, ...], captions, lengths)``."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  path = pathlib.Path(path)
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
  markers = "os^Dvx*"
  for ax, (name, (z, caps, lens)) in zip(axes[0], panels.items(), strict=True):
    p = pca_2d(np.asarray(z).reshape(len(z), -1))
    texts, lengths = sorted(set(caps)), sorted(set(int(n) for n in lens))
    caps, lens = np.asarray(caps, object), np.asarray(lens)
    for ci, text in enumerate(texts):
      for li, n in enumerate(lengths):
        sel = (caps == text) & (lens == n)
        ax.scatter(
          p[sel, 0],
          p[sel, 1],
          s=18,
          color=f"C{ci}",
          marker=markers[li % len(markers)],
          label=f"{text[:28]} / {n}",
        )
    ax.set_title(name)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
  axes[0][-1].legend(fontsize=6, loc="best")
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


__all__ = [
  "FPS",
  "frame_speeds",
  "latent_pca_figure",
  "length_statistics",
  "motion_extent",
  "pca_2d",
]
