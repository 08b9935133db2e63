"""Squat sources (embedded build, OpenCap folder, one trial), selection and their errors."""

import numpy as np
import pytest

from motion_jax.data.squat import source as src
from tests.data.squat.fixtures import write_fake_build, write_opencap_fixture


def test_embedded_build_split_selection_and_errors(tmp_path):
  write_fake_build(tmp_path / "squats", n_subjects=4, n_test=2)
  cfg = src.SquatDataConfig(path=str(tmp_path / "squats"), max_train_subjects=1)
  data = src.load_splits(cfg, require_activations=True)
  assert [e["subject"] for e in data.train] == ["subject_000"] * 2
  assert [e["subject"] for e in data.test] == ["subject_002"] * 2 + ["subject_003"] * 2
  with np.load(tmp_path / "squats" / "subject_003.npz") as z:
    np.testing.assert_array_equal(data.test[3]["coordinates"], z["coordinates"][110:])
  strict = src.load_splits(
    src.SquatDataConfig(path=str(tmp_path / "squats"), max_failed_fraction=0.0),
    require_activations=True,
  )
  assert len(strict.test) == 3  # subject 3's second repetition has a flagged frame
  assert strict.summary["dropped"] == {"flagged": 1, "no_activations": 0}
  (tmp_path / "squats" / "subject_001.npz").unlink()
  with pytest.raises(
    src.SquatDataError, match=r"subject_001.npz: listed in .*manifest.json \(splits.train\)"
  ):
    src.load_splits(cfg, require_activations=True)
  with pytest.raises(src.SquatDataError, match="manifest.json is missing"):
    src.load_splits(src.SquatDataConfig(path=str(tmp_path / "nothing")), require_activations=True)


def test_opencap_folder_selection_counts_what_it_leaves_out(tmp_path, caplog):
  root = write_opencap_fixture(tmp_path / "opencap")
  cfg = src.SquatDataConfig(source="opencap", path=str(root))
  with caplog.at_level("INFO", logger="motion_jax.data.squat.source"):
    data = src.load_splits(cfg, require_activations=True)
  assert "5 without activations skipped" in caplog.text and "too_short" in caplog.text
  assert {e["subject"] for e in data.train} == {"subject_a", "subject_b"}
  assert {e["subject"] for e in data.test} == {"subject_c"} and len(data.test) == 5
  ik_too = src.load_splits(cfg, require_activations=False)
  assert {e["subject"] for e in ik_too.train} == {"subject_a", "subject_b", "subject_d"}
  with pytest.raises(ValueError, match="needs data.path"):
    src.SquatDataConfig(source="opencap")
  with pytest.raises(src.SquatDataError, match="OpenCap folder not found"):
    src.load_splits(
      src.SquatDataConfig(source="opencap", path=str(tmp_path / "nope")), require_activations=False
    )


def test_trial_source_holds_out_the_last_repetitions(tmp_path):
  data = src.load_splits(src.SquatDataConfig(source="trial", test_fraction=0.2),
                         require_activations=False)  # fmt: skip
  assert len(data.train) == 4 and len(data.test) == 1
  ids = [e["example_id"] for e in data.train + data.test]
  assert ids == [f"squats1_videoAndMocap/squats1_videoAndMocap/rep{i}" for i in range(5)]
  assert all(60 <= len(e["coordinates"]) <= 200 for e in data.train + data.test)
  with pytest.raises(src.SquatDataError, match="needs activations|no usable repetitions"):
    src.load_splits(src.SquatDataConfig(source="trial"), require_activations=True)
  with pytest.raises(src.SquatDataError, match="nothing.mot"):
    src.load_splits(
      src.SquatDataConfig(source="trial", path=str(tmp_path / "nothing.mot")),
      require_activations=False,
    )


def test_test_sessions_are_stable_and_never_empty():
  names = [f"s{i}" for i in range(8)]
  t = src.test_sessions(names, 0.25)
  assert len(t) == 2 and t == src.test_sessions(list(reversed(names)), 0.25)
  assert src.test_sessions(["only"], 0.25) == set()
  assert len(src.test_sessions(["a", "b"], 0.25)) == 1


def test_unknown_source_is_a_config_error():
  with pytest.raises(ValueError, match="data.source must be one of"):
    src.SquatDataConfig(source="mocap")
