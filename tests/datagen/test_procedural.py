"""Procedural text-motion dataset: determinism, physics, text, layout, caching, bad input."""

import json
import os

import numpy as np
import pytest

from motion_jax.datagen.procedural import actions as A
from motion_jax.datagen.procedural import body as B
from motion_jax.datagen.procedural import build as D
from motion_jax.datagen.procedural import captions as C
from motion_jax.metrics import physics as P
from motion_jax.representations.humanml3d import joints_to_features, recover_from_ric
from motion_jax.representations.kinematic_groups import GROUP_NAMES, PAIRS
from motion_jax.skeletons.t2m import T2M_BONE_LENGTHS

N_CLIPS = 40


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  base = tmp_path_factory.mktemp("proc")
  a = D.build(base / "a", clips=N_CLIPS, seed=0, workers=1, progress=False)
  return a, base


def _ids(root):
  return D.read_split(root, "all")


def test_two_builds_with_the_same_seed_are_bit_identical(built):
  a, base = built
  b = D.build(base / "b", clips=N_CLIPS, seed=0, workers=1, progress=False)
  ma, mb = D.read_manifest(a), D.read_manifest(b)
  assert ma["digest"] == mb["digest"] and ma["files"] == mb["files"]
  assert ma["n_files"] == 4 * N_CLIPS + 4 + 2 + 0  # 4 files per clip, 4 splits, Mean/Std
  c = D.build(base / "c", clips=N_CLIPS, seed=1, workers=1, progress=False)
  assert D.read_manifest(c)["digest"] != ma["digest"]


def test_layout_and_splits(built):
  root, _ = built
  ids = _ids(root)
  assert len(ids) == N_CLIPS
  splits = {s: set(D.read_split(root, s)) for s in ("train", "val", "test")}
  assert set().union(*splits.values()) == set(ids)
  assert sum(map(len, splits.values())) == N_CLIPS
  assert splits["val"] and splits["test"]
  mean, std = np.load(root / "Mean.npy"), np.load(root / "Std.npy")
  assert mean.shape == std.shape == (263,) and (std > 0).all()
  for a, b in D.BLOCKS:  # pooled per block
    assert np.ptp(std[a:b]) == 0
  m = D.read_manifest(root)
  assert m["seed"] == 0 and m["clips"] == N_CLIPS and m["generator_version"]
  assert sum(m["counts"]["per_action"].values()) == N_CLIPS
  for i in ids:
    clip = D.load_clip(root, i)
    assert clip["joints"].dtype == np.float32 and clip["features"].dtype == np.float32
    assert 40 <= len(clip["features"]) < 200  # HumanML3D loader range


def test_bone_lengths_floor_and_supporting_feet(built):
  root, _ = built
  skates = []
  for i in _ids(root):
    x = np.load(root / "new_joints" / f"{i}.npy").astype(np.float64)
    bl = B.bone_lengths(x)
    assert np.abs(bl - np.asarray(T2M_BONE_LENGTHS)).max() < 1e-5, i
    low = x[..., 1].min(-1)
    assert low.min() >= -0.01 and abs(low.min()) < 1e-6, i  # floor at the lowest point
    # A foot joint resting on the floor in two consecutive frames does not move.
    for f in (10, 11):
      on = (x[:-1, f, 1] < 1e-4) & (x[1:, f, 1] < 1e-4)
      slide = np.linalg.norm(x[1:, f, [0, 2]] - x[:-1, f, [0, 2]], axis=-1)[on]
      assert slide.size == 0 or slide.max() < 2e-4, (i, slide.max())
    skates.append(P.foot_skating(x))
  assert np.nanmean(skates) < 0.1


def test_joint_ranges_and_speeds(built):
  root, _ = built
  for i in _ids(root):
    x = np.load(root / "new_joints" / f"{i}.npy").astype(np.float64)
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
      u, v = x[:, hip] - x[:, knee], x[:, ankle] - x[:, knee]
      cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
      ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
      assert ang.min() > 30.0, i  # knee flexion < 150 deg, never hyper-extended (IK)
    speed = np.linalg.norm(np.diff(x, axis=0), axis=-1) * D.FPS
    assert speed.max() < 12.0, (i, speed.max())  # m/s, any joint


def test_features_match_unpadded_and_joints_match_recovery(built):
  root, _ = built
  specs = D.plan_clips(N_CLIPS, 0)
  for spec in specs[:1]:  # (an unpadded call compiles per length: keep it to one)
    clip = D.make_clip(spec)
    ref = np.asarray(joints_to_features(clip["joints"], retarget=False))
    stored = np.load(root / "new_joint_vecs" / f"{spec.clip_id}.npy")
    np.testing.assert_allclose(stored, ref, atol=2e-5)
    rec = np.asarray(recover_from_ric(stored))
    joints = np.load(root / "new_joints" / f"{spec.clip_id}.npy")
    np.testing.assert_allclose(rec, joints, atol=2e-3)


def test_captions_groups_and_interactions(built):
  root, _ = built
  for i in _ids(root):
    texts = D.read_texts(root / "texts" / f"{i}.txt")
    assert len(texts) == D.N_CAPTIONS
    for t in texts:
      assert t["start"] == t["end"] == 0.0
      assert all(tok.split("/")[1] in C._W for tok in t["tokens"])
    k = json.loads((root / "kinmo" / f"{i}.json").read_text())
    assert list(k["groups"]) == sorted(GROUP_NAMES) or set(k["groups"]) == set(GROUP_NAMES)
    assert len(k["interactions"]) == len(PAIRS) == 15
    assert all(s.strip() for s in list(k["groups"].values()) + list(k["interactions"].values()))
    assert k["action"] in A.ACTIONS and isinstance(k["params"], dict)


def test_every_action_at_min_and_max_length_and_full_vocabulary():
  for name in sorted(A.ACTIONS):
    for n in (A.MIN_FRAMES, A.MAX_FRAMES):
      rng = np.random.default_rng(7)
      x, params, _ = A.generate(name, rng, n)
      assert A.MIN_FRAMES <= len(x) <= A.MAX_FRAMES and np.isfinite(x).all(), name
      text = C.describe(name, params, rng, n_captions=10)
      for s in (
        text["captions"] + list(text["groups"].values()) + list(text["interactions"].values())
      ):
        C.tokenize(s)  # raises UnknownWordError for words outside the lexicon
  with pytest.raises(ValueError, match="unknown action"):
    A.generate("moonwalk", np.random.default_rng(0), 50)
  with pytest.raises(ValueError, match="n_frames"):
    A.generate("walk", np.random.default_rng(0), 10)


def test_tokenizer():
  assert C.tokenize("A person walks forward and kicks with the left leg.") == [
    "a/DET",
    "person/NOUN",
    "walk/VERB",
    "forward/ADV",
    "and/CCONJ",
    "kick/VERB",
    "with/ADP",
    "the/DET",
    "left/ADJ",
    "leg/NOUN",
  ]
  assert C.tokenize("someone takes two steps")[-1] == "step/NOUN"
  with pytest.raises(C.UnknownWordError, match="moonwalk"):
    C.tokenize("a person does a moonwalk")


def test_ensure_dataset_reuses_matching_cache_and_failed_build_keeps_it(built, tmp_path):
  root = D.build(tmp_path / "tm", clips=20, seed=3, workers=1, progress=False)
  stamp = (root / "manifest.json").stat().st_mtime_ns
  assert D.ensure_dataset(root, clips=20, seed=3, verify=True) == root
  assert (root / "manifest.json").stat().st_mtime_ns == stamp  # not rebuilt
  digest = D.read_manifest(root)["digest"]
  with pytest.raises(RuntimeError, match="simulated failure"):
    D.build(root, clips=20, seed=4, workers=1, progress=False, _fail_after=3)
  assert D.read_manifest(root)["digest"] == digest
  assert D.manifest_matches(root, 20, 3, verify=True)
  assert sorted(os.listdir(tmp_path)) == ["tm"]  # no temporary folders left behind
  assert not D.manifest_matches(root, 20, 4)


def test_bad_files_give_clear_errors(built, tmp_path):
  root, _ = built
  i = _ids(root)[0]
  bad = tmp_path / "bad"
  for sub in ("new_joints", "new_joint_vecs", "texts"):
    (bad / sub).mkdir(parents=True)
  j = np.load(root / "new_joints" / f"{i}.npy")
  f = np.load(root / "new_joint_vecs" / f"{i}.npy")
  (bad / "texts" / "short.txt").write_text("a person walks#a/DET person/NOUN walk/VERB#0.0#0.0\n")
  np.save(bad / "new_joints" / "short.npy", j[:30])
  np.save(bad / "new_joint_vecs" / "short.npy", f[:30])
  with pytest.raises(D.DatasetError, match=r"short\.npy: 30 frames, fewer than the minimum 40"):
    D.load_clip(bad, "short")
  j2 = j.copy()
  j2[12, 3] = np.nan
  np.save(bad / "new_joints" / "nan.npy", j2)
  np.save(bad / "new_joint_vecs" / "nan.npy", f)
  with pytest.raises(D.DatasetError, match=r"nan\.npy: non-finite joints .* frame 12"):
    D.load_clip(bad, "nan")
  np.save(bad / "new_joints" / "txt.npy", j)
  np.save(bad / "new_joint_vecs" / "txt.npy", f)
  (bad / "texts" / "txt.txt").write_text("ok caption#a/DET#0.0#0.0\nbroken line#no tokens\n")
  with pytest.raises(D.DatasetError, match=r"txt\.txt:2: expected 'caption#tokens#start#end'"):
    D.load_clip(bad, "txt")
  (bad / "texts" / "txt.txt").write_text("caption#a/DET#zero#0.0\n")
  with pytest.raises(D.DatasetError, match=r"txt\.txt:1: start/end must be numbers"):
    D.read_texts(bad / "texts" / "txt.txt")
  with pytest.raises(D.DatasetError, match="missing"):
    D.load_clip(bad, "nope")


def test_parallel_build_equals_serial_and_ensure_rebuilds_on_mismatch(tmp_path):
  one = D.build(tmp_path / "one", clips=12, seed=5, workers=1, progress=False)
  two = D.ensure_dataset(tmp_path / "two", clips=12, seed=5, workers=2, progress=False)
  assert D.read_manifest(one)["digest"] == D.read_manifest(two)["digest"]
  D.ensure_dataset(two, clips=12, seed=6, workers=1, progress=False)  # stale -> rebuilt
  assert D.read_manifest(two)["seed"] == 6 and D.manifest_matches(two, 12, 6, verify=True)
