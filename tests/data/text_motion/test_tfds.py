"""TFDS text-motion builder on a small HumanML3D-layout folder made from the shipped clip 012314."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from motion_jax.data.formats import captions as caps
from motion_jax.data.text_motion import tfds as tm
from motion_jax.paths import data_path
from motion_jax.representations.humanml3d import MotionShapeError

tfds.disable_progress_bar()

KINMO = {
  "groups": {"torso": "the torso stays upright", "left_leg": "the left leg steps forward"},
  "interactions": [{"pair": ["left_arm", "right_arm"], "text": "the arms swing in opposition"}],
}


def clip_012314() -> np.ndarray:
  return np.load(data_path("humanml3d", "new_joint_vecs", "012314.npy"))  # [170, 263]


def make_humanml3d_folder(root: Path) -> Path:
  """A HumanML3D-layout folder: the clip, cropped / perturbed / broken copies, captions, splits.

  Expected (min 40, max 200 frames, 20 fps):
    train: 000000 whole (3 captions) + 000000@20-80 (2 captions; 10-40 too short) + 000001 whole;
           skipped: 000003 clip_too_short, 000004 clip_too_long, 000005 non_finite,
           000006 missing_motion, 000007 missing_texts, 000000 duplicate_id, 000008 no_captions,
           1 segment_too_short.
    val:   000002 whole, with KinMo fields.    test: 000001.
  """
  x = clip_012314()
  rng = np.random.default_rng(0)
  motions = {
    "000000": x,
    "000001": x[:100],
    "000002": x[30:] + 0.01 * rng.standard_normal(x[30:].shape).astype(np.float32),
    "000003": x[:30],
    "000004": np.concatenate([x, x[:50]]),
    "000005": x.copy(),
    "000007": x[:80],
    "000008": x[:90],
  }
  motions["000005"][17, 5] = np.nan
  texts = {
    "000000": [
      "a person walks forward and turns.#a/DET person/NOUN walk/VERB forward/ADV and/CCONJ "
      "turn/VERB#0.0#0.0",
      "someone strolls.#someone/PRON stroll/VERB#0.0#0.0",
      "a person takes steps.#a/DET person/NOUN take/VERB step/NOUN#nan#nan",
      "the person steps ahead.#the/DET person/NOUN step/VERB ahead/ADV#1.0#4.0",
      "a man walks.#a/DET man/NOUN walk/VERB#1.0#4.0",
      "a brief shift.#a/DET brief/ADJ shift/NOUN#0.5#2.0",
    ],
    "000001": ["a short walk.#a/DET short/ADJ walk/NOUN#0.0#0.0"],
    "000002": ["a walk with jitter.#a/DET walk/NOUN with/ADP jitter/NOUN#0.0#0.0"],
    "000003": ["too short.#too/ADV short/ADJ#0.0#0.0"],
    "000004": ["too long.#too/ADV long/ADJ#0.0#0.0"],
    "000005": ["has nan.#have/VERB nan/NOUN#0.0#0.0"],
    "000008": ["", ""],  # blank lines only: no captions
  }
  (root / "new_joint_vecs").mkdir(parents=True)
  (root / "texts").mkdir()
  (root / "kinmo").mkdir()
  for k, v in motions.items():
    np.save(root / "new_joint_vecs" / f"{k}.npy", v.astype(np.float32))
  for k, lines in texts.items():
    (root / "texts" / f"{k}.txt").write_text("\n".join(lines) + "\n")
  (root / "kinmo" / "000002.json").write_text(json.dumps(KINMO))
  (root / "train.txt").write_text(
    "000000\n000001\n000003\n000004\n000005\n000006\n000007\n000000\n000008\n"
  )
  (root / "val.txt").write_text("000002\n")
  (root / "test.txt").write_text("000001\n")
  for name in ("Mean.npy", "Std.npy"):
    shutil.copy(data_path("humanml3d", name), root / name)
  return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  base = tmp_path_factory.mktemp("h3d")
  root = make_humanml3d_folder(base / "HumanML3D")
  builder = tm.prepare(root, base / "tfds")
  return root, base / "tfds", builder


def test_counts_and_summary(built):
  _, _, builder = built
  ds = builder.as_data_source()
  assert {k: len(v) for k, v in ds.items()} == {"train": 3, "val": 1, "test": 1}
  s = builder.info.metadata["summary"]
  assert s["train"]["skipped"] == {
    "missing_motion": 1,
    "missing_texts": 1,
    "non_finite": 1,
    "clip_too_short": 1,
    "clip_too_long": 1,
    "segment_too_short": 1,
    "duplicate_id": 1,
    "no_captions": 1,
  }
  assert s["train"]["captions"] == 3 + 2 + 1
  assert s["train"]["skipped_ids"]["non_finite"] == ["000005 (frame 17)"]
  assert s["train"]["skipped_ids"]["segment_too_short"] == ["000000[10:40]"]
  assert builder.info.metadata["empty_splits"] == []


def test_read_without_tensorflow(built):
  _, data_dir, _ = built
  # A fresh builder reads the finished dataset from disk (no manual_dir needed).
  source, md = tm.load_data_source(data_dir, "humanml3d", "train")
  ex = source[0]
  assert isinstance(ex["motion"], np.ndarray) and ex["motion"].dtype == np.float32
  assert "tensorflow" not in sys.modules
  ds = tfds.data_source("text_motion/humanml3d", data_dir=str(data_dir), split="val")
  assert len(ds) == 1
  assert md["lengths"]["train"] == [int(source[i]["length"]) for i in range(len(source))]


def test_crops_match_caption_timings(built):
  _, _, builder = built
  x = clip_012314()
  train = builder.as_data_source("train")
  by_id = {train[i]["example_id"].decode(): train[i] for i in range(len(train))}
  assert sorted(by_id) == ["000000", "000000@20-80", "000001"]
  whole, seg = by_id["000000"], by_id["000000@20-80"]
  np.testing.assert_array_equal(whole["motion"], x)
  assert whole["whole_clip"] and int(whole["length"]) == 170
  assert [c.decode() for c in whole["captions"]] == [
    "a person walks forward and turns.",
    "someone strolls.",
    "a person takes steps.",
  ]
  assert whole["tokens"][1].decode() == "someone/PRON stroll/VERB"
  # 1.0 s .. 4.0 s at 20 fps -> frames [20, 80)
  np.testing.assert_array_equal(seg["motion"], x[20:80])
  assert (int(seg["start_frame"]), int(seg["end_frame"]), int(seg["length"])) == (20, 80, 60)
  assert not seg["whole_clip"]
  assert [c.decode() for c in seg["captions"]] == ["the person steps ahead.", "a man walks."]
  np.testing.assert_allclose(seg["caption_start"], [1.0, 1.0])
  np.testing.assert_allclose(seg["caption_end"], [4.0, 4.0])
  assert np.isnan(whole["caption_start"]).all()
  np.testing.assert_array_equal(by_id["000001"]["motion"], x[:100])


def test_kinmo_fields_and_stats(built):
  _, _, builder = built
  val = builder.as_data_source("val")[0]
  assert val["kinmo_present"]
  assert [n.decode() for n in val["kinmo_group_names"]] == ["torso", "left_leg"]
  assert val["kinmo_group_texts"][1].decode() == "the left leg steps forward"
  assert [n.decode() for n in val["kinmo_interaction_names"]] == ["left_arm-right_arm"]
  train0 = builder.as_data_source("train")[0]
  assert not train0["kinmo_present"] and len(train0["kinmo_group_texts"]) == 0
  md = builder.info.metadata
  np.testing.assert_array_equal(
    np.asarray(md["mean"], np.float32), np.load(data_path("humanml3d", "Mean.npy"))
  )
  assert md["fps"] == 20.0 and md["dim"] == 263


def _version_dirs(data_dir: Path, config="humanml3d"):
  d = data_dir / "text_motion" / config
  return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.mark.parametrize(
  "breakage, error, match",
  [
    (
      lambda r: np.save(r / "new_joint_vecs" / "000001.npy", np.zeros((60, 251), np.float32)),
      MotionShapeError,
      r"000001\.npy: motion features must have shape \[T, 263\], got \(60, 251\)",
    ),
    (
      lambda r: (r / "texts" / "000001.txt").write_text("ok#ok/ADJ#0#0\nbad#bad/ADJ#2.0#1.0\n"),
      caps.CaptionFormatError,
      r"000001\.txt:2: start 2\.0 s is after end 1\.0 s",
    ),
    (
      lambda r: (r / "texts" / "000001.txt").write_text("a#b#c\n"),
      caps.CaptionFormatError,
      r"000001\.txt:1: expected 4 '#'-separated fields",
    ),
    (
      lambda r: (r / "texts" / "000001.txt").write_text("a#a/DET#zero#1\n"),
      caps.CaptionFormatError,
      r"000001\.txt:1: start time 'zero' is not a number",
    ),
    (lambda r: (r / "val.txt").unlink(), FileNotFoundError, r"split file .*val\.txt is missing"),
    (
      lambda r: (r / "kinmo" / "000002.json").write_text("{broken"),
      caps.CaptionFormatError,
      r"000002\.json: invalid KinMo JSON",
    ),
    (lambda r: np.save(r / "Std.npy", np.zeros(263, np.float32)), ValueError, r"Std\.npy: std"),
    (lambda r: (r / "Mean.npy").unlink(), FileNotFoundError, r"Mean\.npy is missing"),
    (
      lambda r: np.save(r / "Mean.npy", np.zeros(251, np.float32)),
      MotionShapeError,
      r"Mean\.npy: expected shape \(263,\)",
    ),
    (lambda r: shutil.rmtree(r / "texts"), FileNotFoundError, r"texts is missing"),
    (
      lambda r: shutil.rmtree(r / "new_joint_vecs"),
      FileNotFoundError,
      r"new_joint_vecs is missing",
    ),
    (
      lambda r: (r / "new_joint_vecs" / "000001.npy").write_bytes(b"garbage"),
      ValueError,
      r"000001\.npy: unreadable \.npy",
    ),
  ],
)
def test_bad_input_fails_and_leaves_no_dataset(tmp_path, breakage, error, match):
  root = make_humanml3d_folder(tmp_path / "HumanML3D")
  breakage(root)
  with pytest.raises(error, match=match):
    tm.prepare(root, tmp_path / "tfds")
  # TFDS generated into incomplete.XXXX_1.0.0/ and deleted it: no version folder remains.
  assert _version_dirs(tmp_path / "tfds") == []
  fresh = tm.TextMotion(data_dir=str(tmp_path / "tfds"), config="humanml3d")
  assert not fresh.is_prepared()
  with pytest.raises(KeyError, match="not been generated"):
    fresh.as_data_source("train")


def test_failed_rebuild_keeps_the_cached_dataset(tmp_path):
  root = make_humanml3d_folder(tmp_path / "HumanML3D")
  data_dir = tmp_path / "tfds"
  tm.prepare(root, data_dir)
  # A reuse never regenerates, even if the folder has since broken.
  (root / "texts" / "000001.txt").write_text("broken\n")
  assert len(tm.prepare(root, data_dir).as_data_source("train")) == 3
  with pytest.raises(caps.CaptionFormatError):
    tm.prepare(root, data_dir, overwrite=True)
  assert _version_dirs(data_dir) == ["1.0.0"]
  assert not any(p.name.startswith(".staging") for p in data_dir.iterdir())
  source, _ = tm.load_data_source(data_dir, "humanml3d", "train")
  assert len(source) == 3 and source[2]["motion"].shape == (100, 263)
  # A successful overwrite replaces it.
  (root / "texts" / "000001.txt").write_text("new#new/ADJ#0#0\n")
  (root / "train.txt").write_text("000001\n")
  b = tm.prepare(root, data_dir, overwrite=True)
  got = b.as_data_source("train")
  assert len(got) == 1 and got[0]["captions"][0] == b"new"
  assert _version_dirs(data_dir) == ["1.0.0"]


def test_tfds_force_redownload_deletes_before_generating(tmp_path):
  """Documents why `prepare(overwrite=True)` stages: plain TFDS loses the old data on failure."""
  root = make_humanml3d_folder(tmp_path / "HumanML3D")
  data_dir = tmp_path / "tfds"
  tm.prepare(root, data_dir)
  (root / "texts" / "000001.txt").write_text("broken\n")
  b = tm.TextMotion(data_dir=str(data_dir), config="humanml3d")
  with pytest.raises(caps.CaptionFormatError):
    b.download_and_prepare(
      download_config=tfds.download.DownloadConfig(
        manual_dir=str(root), download_mode=tfds.download.GenerateMode.FORCE_REDOWNLOAD
      )
    )
  assert _version_dirs(data_dir) == []


def test_empty_split_is_not_written(tmp_path):
  root = make_humanml3d_folder(tmp_path / "HumanML3D")
  (root / "test.txt").write_text("000003\n")  # too short -> no example
  b = tm.prepare(root, tmp_path / "tfds")
  assert b.info.metadata["empty_splits"] == ["test"]
  assert sorted(b.as_data_source()) == ["train", "val"]
  (root / "train.txt").write_text("000003\n")
  (root / "val.txt").write_text("")
  with pytest.raises(ValueError, match="no examples in any split"):
    tm.prepare(root, tmp_path / "tfds2")


def _kit_motion(seconds: float, fps: float, dim: int, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).standard_normal((int(seconds * fps), dim)).astype(np.float32)


def test_kitml_config_uses_tmr_annotations(tmp_path):
  # KIT-ML motions are not shipped: a fixture folder with random 251-dim features; captions and
  # durations come from the shipped TMR annotations.json.
  root = tmp_path / "KIT-ML"
  (root / "new_joint_vecs").mkdir(parents=True)
  for i, (k, sec) in enumerate([("00001", 3.78), ("00004", 5.66), ("00002", 1.0)]):
    np.save(root / "new_joint_vecs" / f"{k}.npy", _kit_motion(sec, 12.5, 251, i))
  (root / "train.txt").write_text("00001\n00002\n")
  (root / "val.txt").write_text("00004\n")
  (root / "test.txt").write_text("00004\n")
  b = tm.prepare(root, tmp_path / "tfds", config="kitml")
  train = b.as_data_source("train")
  assert len(train) == 1  # 00002 is 12 frames < 24
  assert train[0]["motion"].shape == (47, 251)
  assert train[0]["captions"] == [b"A person is walking forwards."]
  assert train[0]["tokens"] == [b""]
  val = b.as_data_source("val")[0]
  assert [c.decode() for c in val["captions"]] == [
    "A person walks forward at medium speed.",
    "human slowly goes forward",
  ]
  assert b.info.metadata["summary"]["train"]["skipped"] == {"clip_too_short": 1}
  assert b.info.metadata["mean"] is None  # no Mean.npy in the folder, no KIT default


def test_kitml_tmr_layout_and_default_splits(tmp_path):
  # TMR layout: motions at <root>/<annotation path>.npy (263-dim guoh3dfeats at 20 fps);
  # no split files -> the shipped TMR splits (00001 is in train, 00004 in test).
  root = tmp_path / "tmr"
  for i, (path, sec) in enumerate(
    [("KIT/4/WalkingStraightForward01_poses", 3.78), ("KIT/4/WalkingStraightForward04_poses", 5.66)]
  ):
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    np.save(root / f"{path}.npy", _kit_motion(sec, 20.0, 263, i))
  b = tm.prepare(root, tmp_path / "tfds", config="kitml_tmr")
  assert sorted(b.as_data_source()) == ["test", "train"]
  assert b.as_data_source("train")[0]["motion"].shape == (75, 263)
  assert b.info.metadata["summary"]["train"]["skipped"]["missing_motion"] > 4000
  assert len(b.info.metadata["std"]) == 263  # TMR's shipped KIT stats
