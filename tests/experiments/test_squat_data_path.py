"""One squat data path: BIGE, squat_vqvae and the TFDS/Grain loader read one source, normalise
with one normaliser and produce identical windows for the same repetition."""

import numpy as np
import pytest

from experiments import bige, squat_vqvae
from motion_jax.data.squat import loader
from motion_jax.data.squat import source as src
from motion_jax.data.squat import tfds as S
from motion_jax.data.squat.windows import Normaliser, stack_windows
from tests.data.squat.fixtures import write_fake_build


def _tfds_examples(tmp_path, config, cfg, manual_dir, require_activations):
  ds = S.prepare(tmp_path / f"tfds_{config}", config, manual_dir).as_data_source()
  out = {}
  for split in ("train", "test"):
    rows = [ds[split][i] for i in range(len(ds[split]))]
    out[split], _ = src.select(rows, cfg, split, require_activations=require_activations)
  return out


def _assert_same_windows(paths, window):
  ids = {name: [src.text(e["example_id"]) for e in d["train"]] for name, d in paths.items()}
  first = next(iter(ids.values()))
  assert all(v == first for v in ids.values()), ids
  norms = {
    name: Normaliser.fit([e["coordinates"] for e in d["train"]]) for name, d in paths.items()
  }
  ref = next(iter(norms.values()))
  for norm in norms.values():
    np.testing.assert_array_equal(norm.mean, ref.mean)
    np.testing.assert_array_equal(norm.std, ref.std)
  batches = {
    name: [
      loader.make_batcher(d["train"], ref, window=window, batch_size=4, seed=3)(s) for s in range(3)
    ]
    for name, d in paths.items()
  }
  evals = {
    name: stack_windows([ref(e["coordinates"]) for e in d["test"]], 2 * window)
    for name, d in paths.items()
  }
  base = next(iter(paths))
  for name in paths:
    for got, want in zip(batches[name], batches[base]):
      for k in ("motion", "activations", "length"):
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name} vs {base}: {k}")
    np.testing.assert_array_equal(evals[name], evals[base])


def test_embedded_source_gives_identical_windows_on_every_path(tmp_path):
  write_fake_build(tmp_path / "squats", n_subjects=4, n_test=1)
  cfg = src.SquatDataConfig(path=str(tmp_path / "squats"))
  paths = {
    "bige": bige.load_data(cfg),
    "squat_vqvae": squat_vqvae.load_data(cfg),
    "tfds+grain": _tfds_examples(tmp_path, "embedded", cfg, tmp_path / "squats", True),
  }
  _assert_same_windows(paths, window=32)


def test_real_trial_gives_identical_windows_on_every_path(tmp_path):
  cfg = src.SquatDataConfig(source="trial")
  paths = {
    "squat_vqvae": squat_vqvae.load_data(cfg),
    "tfds+grain": _tfds_examples(tmp_path, "trial", cfg, None, False),
  }
  _assert_same_windows(paths, window=64)
  with pytest.raises(src.SquatDataError):  # BIGE needs activations; the raw trial has none
    bige.load_data(cfg)
