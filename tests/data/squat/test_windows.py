"""BIGE's windowing (crop / tile), the normaliser and the step batcher."""

import numpy as np
import pytest

from motion_jax.data.squat import loader as L
from motion_jax.data.squat import windows as W


def test_windows_crop_longer_and_tile_shorter_sequences():
  np.testing.assert_array_equal(W.window_indices(5, 12), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
  np.testing.assert_array_equal(W.window_indices(300, 196, "center"), np.arange(52, 248))
  np.testing.assert_array_equal(W.window_indices(300, 196, "start"), np.arange(196))
  starts = {
    int(W.window_indices(300, 196, "random", np.random.default_rng(s))[0]) for s in range(50)
  }
  assert len(starts) > 10 and min(starts) >= 0 and max(starts) <= 104
  with pytest.raises(ValueError, match="needs an rng"):
    W.window_indices(300, 196, "random")
  with pytest.raises(ValueError, match="mode must be one of"):
    W.window_indices(300, 196, "middle")
  with pytest.raises(ValueError, match="empty"):
    W.window_indices(0, 196)
  x = np.arange(10)[:, None] * np.ones((1, 3))
  np.testing.assert_array_equal(W.stack_windows([x, x[:4]], 6)[1, :, 0], [0, 1, 2, 3, 0, 1])


def test_normaliser_statistics_floor_and_inverse():
  rng = np.random.default_rng(0)
  seqs = [rng.normal(3.0, 2.0, size=(50, 4)) for _ in range(3)]
  seqs[1][:, 3] = seqs[0][:, 3] = seqs[2][:, 3] = 7.0  # a constant channel
  norm = W.Normaliser.fit(seqs)
  frames = np.concatenate(seqs)
  np.testing.assert_allclose(norm.mean, frames.mean(0), rtol=1e-6)
  np.testing.assert_allclose(norm.std[:3], frames.std(0)[:3], rtol=1e-6)
  assert norm.std[3] == np.float32(W.STD_FLOOR)
  np.testing.assert_allclose(norm.inverse(norm(frames)), frames, rtol=1e-5, atol=1e-5)
  again = W.Normaliser.from_tree(norm.to_tree())
  np.testing.assert_array_equal(again.mean, norm.mean)


def test_prepared_example_and_reproducible_batches():
  norm = W.Normaliser(np.zeros(33, np.float32), 2 * np.ones(33, np.float32))
  ex = {
    "coordinates": np.arange(90 * 33, dtype=np.float32).reshape(90, 33),
    "activations": np.ones((90, 80)),
  }
  out = L.prepare_example(ex, norm, 196, "center")
  assert out["motion"].shape == (196, 33) and out["activations"].shape == (196, 80)
  np.testing.assert_array_equal(out["motion"][90], ex["coordinates"][0] / 2)  # tiled
  assert out["length"] == 90
  examples = [
    {
      "coordinates": np.full((100 + 10 * i, 33), i, np.float32),
      "activations": np.zeros((100 + 10 * i, 80)),
    }
    for i in range(5)
  ]
  a = L.make_batcher(examples, norm, window=64, batch_size=3, seed=1)
  b = L.make_batcher(examples, norm, window=64, batch_size=3, seed=1)
  for k, v in a(5).items():
    np.testing.assert_array_equal(v, b(5)[k])
  assert a(5)["motion"].shape == (3, 64, 33)
  assert not np.array_equal(a(5)["motion"], a(6)["motion"])  # another step, other rows
