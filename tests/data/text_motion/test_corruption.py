"""Corruption amounts, determinism, and the joints -> features -> joints round trip."""

import numpy as np
import pytest

from motion_jax import paths
from motion_jax.data.text_motion import corruption
from motion_jax.representations import humanml3d

CFG = corruption.CorruptionConfig()
FEET = [7, 10, 8, 11]


@pytest.fixture(scope="module")
def clip():
  """The shipped HumanML3D clip (170 frames, t2m joints in metres)."""
  return np.load(paths.data_path("humanml3d", "new_joints", "012314.npy")).astype(np.float64)


def test_jitter_std_matches_sigma(clip):
  noisy = corruption.jitter(clip, np.random.default_rng(0), CFG.jitter_sigma)
  d = (noisy - clip).ravel()  # 170 * 22 * 3 = 11220 samples: std within ~2%
  assert abs(d.std() - CFG.jitter_sigma) < 0.03 * CFG.jitter_sigma
  assert abs(d.mean()) < 3 * CFG.jitter_sigma / np.sqrt(d.size)


def test_floor_offset_is_exact(clip):
  out = corruption.floor_offset(clip, np.random.default_rng(0), CFG.floor_offset)
  np.testing.assert_allclose(out - clip, np.broadcast_to([0.0, -0.05, 0.0], clip.shape), atol=1e-15)


def test_sliding_moves_the_whole_body_horizontally_at_the_documented_speed(clip):
  out = corruption.foot_sliding(clip, np.random.default_rng(0), CFG.slide_speed, fps=CFG.fps)
  drift = out - clip
  np.testing.assert_allclose(drift, np.broadcast_to(drift[:, :1], drift.shape), atol=1e-12)
  np.testing.assert_array_equal(drift[..., 1], 0.0)
  np.testing.assert_allclose(drift[0], 0.0, atol=1e-15)  # frame 0 unmoved
  feet_speed = np.linalg.norm(np.diff(drift[:, FEET], axis=0), axis=-1) * CFG.fps  # m/s
  assert np.sqrt((feet_speed**2).mean()) == pytest.approx(CFG.slide_speed, rel=1e-9)
  # low-passed: frame-to-frame velocity changes are small next to the velocity itself
  vel = np.diff(drift[:, 0, [0, 2]], axis=0)
  assert np.abs(np.diff(vel, axis=0)).mean() < 0.2 * np.abs(vel).mean()


@pytest.mark.parametrize("kind", corruption.KINDS)
def test_corruption_is_deterministic_per_seed(clip, kind):
  a = corruption.corrupt_clips([clip, clip], kind, CFG, seed=3)
  b = corruption.corrupt_clips([clip, clip], kind, CFG, seed=3)
  np.testing.assert_array_equal(a[0], b[0])
  if kind != "floor_offset":
    assert not np.array_equal(a[0], a[1])  # each clip its own stream
    c = corruption.corrupt_clips([clip], kind, CFG, seed=4)
    assert not np.array_equal(a[0], c[0])


def test_round_trip_through_features_is_exact_in_the_canonical_frame(clip):
  """to_features -> from_features reproduces the clip moved to its canonical frame with the
  floor kept (measured 1e-6 m, float32); the shipped clip is already canonical."""
  yaw = 1.1
  rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
  world = clip @ rot.T + np.array([2.0, -0.03, -1.0])  # turned, moved, 3 cm into the floor
  for x in (clip, world, corruption.jitter(world, np.random.default_rng(1))):
    back = corruption.from_features(corruption.to_features(x))
    expected = corruption.in_frame(x, corruption.canonical_frame(x))[:-1]
    assert back.shape == (len(x) - 1, 22, 3)
    assert np.abs(back - expected).max() < 1e-5
  np.testing.assert_allclose(
    corruption.from_features(corruption.to_features(clip)), clip[:-1], atol=1e-5
  )
  # floor kept: the world clip's lowest point is 3 cm below the floor, like its input
  low = corruption.from_features(corruption.to_features(world))[..., 1].min()
  assert low == pytest.approx(world[:-1, :, 1].min(), abs=1e-5)
  # the default (retargeting) features lose it
  plain = humanml3d.recover_from_ric(humanml3d.joints_to_features(world.astype(np.float32)))
  assert float(np.asarray(plain)[..., 1].min()) == pytest.approx(0.0, abs=1e-5)


def test_bad_inputs_raise(clip):
  with pytest.raises(ValueError, match="kind must be one of"):
    corruption.corrupt(clip, "blur", CFG, np.random.default_rng(0))
  with pytest.raises(ValueError, match="joints must be"):
    corruption.jitter(clip[:, :21], np.random.default_rng(0))
