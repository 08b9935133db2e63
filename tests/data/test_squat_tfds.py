"""TFDS builder over the embedded files and an OpenCap-layout folder; Grain loader windowing."""

import json

import numpy as np
import pytest

from motion_jax.data import opencap as oc
from motion_jax.data import squat_loader as L
from motion_jax.data import squat_tfds as S
from motion_jax.data.mot import make_motion, write_mot
from motion_jax.data.paths import opencap_path
from motion_jax.skeletons.opencap import BIGE_COORDINATES, SQUATS_MOT


def _write_fake_build(root, n_subjects=3, n_test=1):
  """A folder laid out like data/build_squat_dataset.py output (small random subjects)."""
  rng = np.random.default_rng(0)
  root.mkdir(parents=True, exist_ok=True)
  for s in range(n_subjects):
    lens = [80 + 10 * s, 250]
    arrays = {
      "coordinates": rng.normal(size=(sum(lens), 33)).astype(np.float32),
      "activations": rng.uniform(size=(sum(lens), 80)).astype(np.float16),
      "ok": np.arange(sum(lens)) != (sum(lens) - 1 if s == n_subjects - 1 else -1),
      "rep_offsets": np.array([0, lens[0], sum(lens)], np.int32),
      "rep_peaks": np.array([10, lens[0] + 10], np.int32),
    }
    np.savez(root / f"subject_{s:03d}.npz", **arrays)
  splits = {
    "train": list(range(n_subjects - n_test)),
    "test": list(range(n_subjects - n_test, n_subjects)),
  }
  (root / "manifest.json").write_text(json.dumps({"splits": splits, "script_version": "test"}))


def test_embedded_layout_splits_by_subject(tmp_path):
  _write_fake_build(tmp_path / "squats")
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


def _write_opencap_fixture(root):
  """Sessions laid out like OpenCap output: 3 squat subjects + a bad trial + an empty session +
  an IK-only session; subject_c held out by splits.json."""
  real = oc.read_trial(opencap_path(SQUATS_MOT))
  for k, session in enumerate(["subject_a", "subject_b", "subject_c"]):
    q = real.coordinates.copy()
    q[:, BIGE_COORDINATES.index("pelvis_tx")] += 0.1 * k
    knee = 0.5 * (real.coordinate("knee_angle_r") + real.coordinate("knee_angle_l"))
    act = np.clip(0.01 + np.outer(knee / 100, np.linspace(0.2, 1, 80)), 0, 1)
    path = (
      root
      / session
      / "OpenSimData"
      / "Dynamics"
      / "squats1"
      / "kinematics_activations_squats1_muscle_driven.mot"
    )
    oc.write_muscle_driven_mot(path, real.times, q, act)
  bad = (
    root
    / "subject_a"
    / "OpenSimData"
    / "Dynamics"
    / "bad"
    / "kinematics_activations_bad_muscle_driven.mot"
  )
  bad.parent.mkdir(parents=True)
  write_mot(
    bad, make_motion(BIGE_COORDINATES, real.times[:20], real.coordinates[:20], True)
  )  # short, no muscles
  (root / "no_trials" / "OpenSimData").mkdir(parents=True)
  ik = root / "subject_d" / "OpenSimData" / "Kinematics"  # IK only: no activations
  ik.mkdir(parents=True)
  write_mot(ik / "squats1.mot", make_motion(BIGE_COORDINATES, real.times, real.coordinates, True))
  (root / "splits.json").write_text(json.dumps({"test": ["subject_c"]}))
  return root


def test_opencap_folder_fixture(tmp_path):
  root = _write_opencap_fixture(tmp_path / "opencap")
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


def test_test_sessions_are_stable_and_never_empty():
  names = [f"s{i}" for i in range(8)]
  t = S.test_sessions(names, 0.25)
  assert len(t) == 2 and t == S.test_sessions(list(reversed(names)), 0.25)
  assert S.test_sessions(["only"], 0.25) == set()
  assert len(S.test_sessions(["a", "b"], 0.25)) == 1


def test_bige_windowing_crops_and_tiles():
  np.testing.assert_array_equal(L.window_indices(5, 12), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
  np.testing.assert_array_equal(L.window_indices(300, 196, 50), np.arange(50, 246))
  with pytest.raises(ValueError):
    L.window_indices(300, 196, 200)
  stats = L.SquatStats(np.zeros(33, np.float32), 2 * np.ones(33, np.float32))
  ex = {
    "coordinates": np.arange(90 * 33, dtype=np.float32).reshape(90, 33),
    "activations": np.ones((90, 80)),
  }
  out = L.prepare_example(ex, stats)
  assert out["motion"].shape == (196, 33) and out["activations"].shape == (196, 80)
  np.testing.assert_array_equal(out["motion"][90], ex["coordinates"][0] / 2)  # tiled
  assert out["length"] == 90


def test_step_batches_are_reproducible(tmp_path):
  _write_fake_build(tmp_path / "squats")
  b = S.prepare(tmp_path / "tfds", "embedded", tmp_path / "squats")
  train = b.as_data_source()["train"]
  stats = L.SquatStats.from_metadata(b.info.metadata)
  batcher = L.make_squat_batcher(train, stats, batch_size=3, seed=1)
  x, y = batcher(5), L.make_squat_batcher(train, stats, batch_size=3, seed=1)(5)
  for k in x:
    np.testing.assert_array_equal(x[k], y[k])
  assert x["motion"].shape == (3, 196, 33) and x["activations"].dtype == np.float32
  # Normalised with the train statistics: roughly zero mean, unit variance.
  big = L.make_squat_batcher(train, stats, batch_size=64, seed=0)(0)["motion"]
  assert abs(float(big.mean())) < 0.1 and 0.8 < float(big.std()) < 1.2


def test_bige_repetitions_are_the_builders_examples(tmp_path, caplog):
  """squat_reps (BIGE's in-memory path) serves exactly the TFDS builder's repetitions and split."""
  from motion_jax.data import squat_reps

  root = _write_opencap_fixture(tmp_path / "opencap")
  ds = S.prepare(tmp_path / "tfds", "opencap", root).as_data_source()
  with caplog.at_level("INFO", logger="motion_jax.data.squat_reps"):
    reps = squat_reps.load_repetitions(opencap_root=str(root))
  assert "5 without activations skipped" in caplog.text and "too_short" in caplog.text
  for split in ("train", "test"):
    want = [ds[split][i] for i in range(len(ds[split])) if ds[split][i]["has_activations"]]
    assert [w["subject"].decode() for w in want] == reps[split]["subject"]
    for w, q, a in zip(want, reps[split]["q"], reps[split]["a"]):
      np.testing.assert_array_equal(w["coordinates"], q)
      np.testing.assert_array_equal(w["activations"], a)
  assert set(reps["test"]["subject"]) == {"subject_c"}

  _write_fake_build(tmp_path / "squats", n_subjects=4, n_test=2)
  emb = squat_reps.load_repetitions(
    root=tmp_path / "squats", max_train_subjects=1, max_test_subjects=None
  )
  assert emb["train"]["subject"] == ["subject_000"] * 2
  assert emb["test"]["subject"] == ["subject_002"] * 2 + ["subject_003"] * 2
  strict = squat_reps.load_repetitions(root=tmp_path / "squats", max_failed_fraction=0.0)
  assert len(strict["test"]["q"]) == 3  # subject 3's second repetition has a flagged frame
  (tmp_path / "squats" / "subject_001.npz").unlink()
  with pytest.raises(
    squat_reps.SquatDataError, match=r"subject_001.npz: listed in .*manifest.json \(splits.train\)"
  ):
    squat_reps.load_repetitions(root=tmp_path / "squats")
  with pytest.raises(squat_reps.SquatDataError, match="manifest.json is missing"):
    squat_reps.load_repetitions(root=tmp_path / "nothing_here")
