"""Signal filters shared by data loading and dataset generation."""

from __future__ import annotations

import numpy as np


def lowpass(x: np.ndarray, rate: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
  """Zero-lag Butterworth low-pass along axis 0 (scipy `filtfilt`, padded by reflection)."""
  from scipy.signal import butter, filtfilt

  if cutoff_hz <= 0 or cutoff_hz >= rate / 2:
    return np.array(x, dtype=np.float64)
  b, a = butter(order, cutoff_hz / (rate / 2))
  return filtfilt(
    b,
    a,
    np.asarray(x, dtype=np.float64),
    axis=0,
    padtype="odd",
    padlen=min(3 * max(len(a), len(b)), x.shape[0] - 1),
  )
