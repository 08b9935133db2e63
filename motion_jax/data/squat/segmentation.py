"""Repetition segmentation of squat trials from knee flexion and pelvis height.

Algorithm (`segment_repetitions`):

1. depth signal d(t) in [0, 1]: the mean of (a) the mean left/right knee flexion and (b) the pelvis
   drop (max pelvis_ty - pelvis_ty), each min-max normalised over the trial and low-pass filtered at
   `cutoff_hz` (zero-lag Butterworth);
2. peaks of d: `scipy.signal.find_peaks` with prominence >= `min_prominence` (0.4 of the trial's
   range) and at least `min_period_s` between peaks; a peak whose raw knee flexion is below
   `min_knee_deg` (20 degrees) is not a squat;
3. boundaries: between two peaks, the frame of minimal d (upright); before the first and after the
   last peak, the trial start / end;
4. each repetition is trimmed to where d exceeds `standing_fraction` (10 %) of its peak height above
   its own upright level, widened by `margin_s` (0.25 s) of standing on each side, and kept within
   its boundaries.

Inputs are named coordinate arrays in degrees / metres (BIGE layout or any `names` list).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Repetition:
  start: int  # first frame (inclusive)
  peak: int  # deepest frame
  end: int  # last frame (exclusive)

  @property
  def n_frames(self) -> int:
    return self.end - self.start


def _normalise(x: np.ndarray) -> np.ndarray:
  lo, hi = np.min(x), np.max(x)
  return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def depth_signal(
  knee_deg: np.ndarray, pelvis_ty: np.ndarray, rate: float, cutoff_hz: float = 3.0
) -> np.ndarray:
  """[T] squat depth in [0, 1] (see module docstring, step 1)."""
  from motion_jax.data.filters import lowpass

  d = 0.5 * _normalise(np.asarray(knee_deg, np.float64)) + 0.5 * _normalise(
    -np.asarray(pelvis_ty, np.float64)
  )
  if len(d) > 15:
    d = lowpass(d, rate, cutoff_hz)
  return d


def segment_repetitions(
  coordinates: np.ndarray,
  names: Sequence[str],
  rate: float,
  cutoff_hz: float = 3.0,
  min_prominence: float = 0.4,
  min_period_s: float = 0.8,
  min_knee_deg: float = 20.0,
  standing_fraction: float = 0.1,
  margin_s: float = 0.25,
) -> list[Repetition]:
  """Start / deepest / end frame of each squat repetition (see module docstring).

  Args:
    coordinates: [T, C] with columns `names` (needs knee_angle_r, knee_angle_l, pelvis_ty), angles
      in degrees.
    rate: frames per second.
  Returns:
    repetitions in time order (empty when the trial holds no squat).
  """
  from scipy.signal import find_peaks

  names = list(names)
  q = np.asarray(coordinates, np.float64)
  knee = 0.5 * (q[:, names.index("knee_angle_r")] + q[:, names.index("knee_angle_l")])
  ty = q[:, names.index("pelvis_ty")]
  if q.shape[0] < 4 or np.ptp(knee) < min_knee_deg:
    return []
  d = depth_signal(knee, ty, rate, cutoff_hz)
  peaks, _ = find_peaks(
    d, prominence=min_prominence, distance=max(1, int(round(min_period_s * rate)))
  )
  peaks = [int(p) for p in peaks if knee[p] - np.min(knee) >= min_knee_deg]
  if not peaks:
    return []
  bounds = [0]
  for a, b in zip(peaks[:-1], peaks[1:]):
    bounds.append(a + int(np.argmin(d[a:b])))
  bounds.append(len(d))
  margin = int(round(margin_s * rate))
  reps = []
  for i, p in enumerate(peaks):
    lo, hi = bounds[i], bounds[i + 1]
    base = min(np.min(d[lo : p + 1]), np.min(d[p:hi]))
    level = base + standing_fraction * (d[p] - base)
    s = p
    while s > lo and d[s - 1] > level:
      s -= 1
    e = p
    while e < hi - 1 and d[e + 1] > level:
      e += 1
    reps.append(Repetition(start=max(lo, s - margin), peak=p, end=min(hi, e + 1 + margin)))
  return reps
