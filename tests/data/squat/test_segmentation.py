"""Repetition segmentation on the real squat trial and on edge cases."""

import numpy as np

from motion_jax.data.formats.opencap import read_trial
from motion_jax.data.squat.segmentation import segment_repetitions
from motion_jax.paths import opencap_path
from motion_jax.skeletons.opencap import BIGE_COORDINATES, SQUATS_MOT


def test_five_repetitions_on_the_real_trial():
  tr = read_trial(opencap_path(SQUATS_MOT))
  reps = segment_repetitions(tr.coordinates, BIGE_COORDINATES, tr.rate)
  assert len(reps) == 5
  np.testing.assert_allclose([r.peak for r in reps], [95, 246, 397, 556, 718], atol=4)
  knee = tr.coordinate("knee_angle_r")
  for r in reps:
    assert r.start < r.peak < r.end
    assert knee[r.peak] > 70  # deep frame
    assert knee[r.start] < 25 and knee[r.end - 1] < 25  # upright at both ends
  for a, b in zip(reps[:-1], reps[1:]):
    assert a.end <= b.start  # no overlap


def test_resampled_and_time_shifted_trial_gives_same_peaks():
  tr = read_trial(opencap_path(SQUATS_MOT))
  t60 = np.arange(0, tr.times[-1], 1 / 60)
  q60 = np.stack([np.interp(t60, tr.times, c) for c in tr.coordinates.T], 1)
  reps = segment_repetitions(q60, BIGE_COORDINATES, 60.0)
  np.testing.assert_allclose([r.peak / 60 for r in reps], [0.95, 2.46, 3.97, 5.56, 7.18], atol=0.05)


def test_no_squat_no_repetitions():
  tr = read_trial(opencap_path(SQUATS_MOT))
  still = np.repeat(tr.coordinates[:1], 300, axis=0)
  assert segment_repetitions(still, BIGE_COORDINATES, 100.0) == []
  # A shallow knee bend (< 20 degrees) is not a squat.
  shallow = still.copy()
  shallow[:, BIGE_COORDINATES.index("knee_angle_r")] += 10 * np.sin(np.linspace(0, np.pi, 300))
  shallow[:, BIGE_COORDINATES.index("knee_angle_l")] += 10 * np.sin(np.linspace(0, np.pi, 300))
  assert segment_repetitions(shallow, BIGE_COORDINATES, 100.0) == []
