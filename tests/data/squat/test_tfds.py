"""TFDS builder over the embedded files, an OpenCap-layout folder and one trial."""

import numpy as np

from motion_jax.data.squat import source as src
from motion_jax.data.squat import tfds as S
from tests.data.squat.fixtures import write_fake_build, write_opencap_fixture


def test_embedded_layout_splits_by_subject(tmp_path):
  write_fake_build(tmp_path / "squats")
  b = S.prepare(tmp_path / "tfds", "embedded", tmp_path / "squats")
  ds = b.as_data_source()
  md = b.info.metadata
  assert {k: len(v) for k, v in ds.items()} == {"train": 4, "test": 2}
  assert md["splits"] == {"train": ["subject_000", "subject_001"], "test": ["subject_002"]}
  ex = ds["train"][0]
  assert ex["coordinates"].shape == (80, 33) and ex["activations"].shape == (80, 80)
  with np.load(tmp_path / "squats" / "subject_000.npz") as z:
    np.testing.assert_array_equal(ex["coordinates"], z["coordinates"][:80])
    np.testing.assert_array_equal(ex["activations"], z["activations"][:80].astype(np.float32))
  assert len(md["stats"]["coordinates_mean"]) == 33 and len(md["stats"]["activations_std"]) == 80
  assert ex["flagged_frames"] == 0 and ds["test"][1]["flagged_frames"] == 1  # subject 2, rep 1
  # The stored statistics are the loader's normaliser of the train split.
  norm = S.normaliser_from_metadata(md)
  frames = np.concatenate([ds["train"][i]["coordinates"] for i in range(4)]).astype(np.float64)
  np.testing.assert_allclose(norm.mean, frames.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(norm.std, frames.std(0), rtol=1e-5)


def test_opencap_folder_fixture(tmp_path):
  root = write_opencap_fixture(tmp_path / "opencap")
  b = S.prepare(tmp_path / "tfds", "opencap", root)
  ds = b.as_data_source()
  md = b.info.metadata
  assert md["splits"] == {"train": ["subject_a", "subject_b", "subject_d"], "test": ["subject_c"]}
  assert {k: len(v) for k, v in ds.items()} == {"train": 15, "test": 5}  # 5 repetitions per trial
  has = {ds["train"][i]["subject"]: bool(ds["train"][i]["has_activations"]) for i in range(15)}
  assert has == {b"subject_a": True, b"subject_b": True, b"subject_d": False}
  assert md["summary"]["skipped"] == {"too_short": 1, "no_trials": 1}
  ex = ds["test"][2]
  assert ex["subject"] == b"subject_c" and ex["has_activations"]
  assert 60 <= ex["length"] <= 200  # one repetition at 60 Hz
  assert 70 < ex["knee_peak_deg"] < 90
  assert 0 <= ex["activations"].min() and ex["activations"].max() <= 1


def test_trial_config_reads_one_mot_file(tmp_path):
  b = S.prepare(tmp_path / "tfds", "trial")  # the shipped real squat trial
  ds = b.as_data_source()
  assert {k: len(v) for k, v in ds.items()} == {"train": 4, "test": 1}
  assert not ds["train"][0]["has_activations"]
  reps, _ = src.repetitions(src.SquatDataConfig(source="trial"))
  np.testing.assert_array_equal(ds["test"][0]["coordinates"], reps["test"][0].coordinates)
