"""End-to-end smoke test of kinmo_retrieval (tiny preset, the full-hierarchy variant), plus rerun,
text-feature caching and bad input."""

import json

import numpy as np
import pytest

from motion_jax.data import text_features as tf_lib
from tests.conftest import run_python


def test_tiny_run_writes_table_and_resumes(tmp_path):
  args = [
    "launch.py",
    "--experiment=kinmo_retrieval:tiny",
    f"--workdir={tmp_path}",
    "--config.variants=interaction",
  ]
  run_python(args, timeout=600)
  results = json.loads((tmp_path / "results.json").read_text())
  assert set(results["variants"]) == {"interaction"}
  full = results["variants"]["interaction"]
  assert full["main_level"] == "interaction" and full["cross_attention"]
  assert set(full["per_level"]) == {"global", "group", "interaction"}
  for variant in results["variants"].values():
    for protocol in ("all", "all_threshold", "dissimilar", "small_batches"):
      m = variant["main"][protocol]
      for d in ("t2m", "m2t"):
        recalls = [m[f"{d}/R@{k}"] for k in (1, 2, 3, 5, 10)]
        assert all(0 <= r <= 100 for r in recalls) and recalls == sorted(recalls)
        assert m[f"{d}/MedR"] >= 1
  # threshold protocol counts more candidates as correct: never worse than (a)
  assert full["main"]["all_threshold"]["t2m/R@1"] >= full["main"]["all"]["t2m/R@1"]
  assert results["protocols"]["test_pairs"] == results["dataset"]["examples"]["test"]
  md = (tmp_path / "results.md").read_text()
  assert "| (3) + interaction (full) |" in md and "(a) all test pairs" in md
  assert "(d) batches of 8" in md
  assert (tmp_path / "losses.png").stat().st_size > 5_000
  feats = tf_lib.load_text_features(tmp_path / "text_features.npz")
  assert len(feats) == results["dataset"]["distinct_sentences"] > 50
  # A rerun reloads the finished checkpoints (no step redone) and the cached text features.
  mtime = (tmp_path / "text_features.npz").stat().st_mtime_ns
  run_python(args, timeout=600)
  rows = [
    json.loads(line)
    for line in (tmp_path / "interaction" / "align_interaction.jsonl").read_text().splitlines()
    if line
  ]
  assert [r["step"] for r in rows] == [3, 6]
  assert (tmp_path / "text_features.npz").stat().st_mtime_ns == mtime
  again = json.loads((tmp_path / "results.json").read_text())
  assert again["variants"]["interaction"]["main"] == full["main"]


def test_unknown_variant_is_rejected(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=kinmo_retrieval:tiny",
      f"--workdir={tmp_path}",
      "--config.variants=global,bogus",
    ],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "unknown variants" in proc.stderr


def _fake_encoder(calls):
  def encode(sentences):
    calls.append(list(sentences))
    n = len(sentences)
    states = np.stack([np.full((3, 4), len(s), np.float32) for s in sentences])
    mask = np.ones((n, 3), bool)
    sent = np.eye(4, dtype=np.float32)[[len(s) % 4 for s in sentences]]
    return states, mask, sent

  return encode


def test_text_feature_cache_encodes_each_sentence_once(tmp_path):
  calls = []
  path = tmp_path / "f.npz"
  feats = tf_lib.ensure_text_features(
    path, ["a b", "c", "a b", ""], encoder=_fake_encoder(calls), encoder_name="fake"
  )
  assert len(feats) == 2 and sum(map(len, calls)) == 2
  feats = tf_lib.ensure_text_features(
    path, ["c", "dddd"], encoder=_fake_encoder(calls), encoder_name="fake"
  )
  assert len(feats) == 3 and calls[-1] == ["dddd"]
  states, mask = feats.lookup(np.array([["c", ""], ["dddd", "a b"]], dtype=object))
  assert states.shape == (2, 2, 3, 4) and mask.shape == (2, 2, 3)
  assert states[1, 0, 0, 0] == 4 and not mask[0, 1].any() and (states[0, 1] == 0).all()
  with pytest.raises(KeyError, match="not in the text-feature cache"):
    feats.lookup(["never seen"])
  with pytest.raises(ValueError, match="empty list"):
    tf_lib.ensure_text_features(path, [], encoder=_fake_encoder(calls), encoder_name="fake")
  with pytest.raises(ValueError, match="made by encoder 'fake'"):
    tf_lib.ensure_text_features(path, ["zz"], encoder=_fake_encoder(calls))


def test_featurizer_shapes_for_each_variant():
  from motion_jax.stages import retrieval as stage

  sentences = ["a person walks", "the arms swing", "the legs step", "arms and legs move"]
  calls = []
  feats = tf_lib.TextFeatures(
    [tf_lib.sentence_key(s) for s in sentences], *_fake_encoder(calls)(sentences)
  )
  b = 2
  groups = np.array([["the arms swing", "the legs step"] + [""] * 4] * b, dtype=object)
  inter = np.array([["arms and legs move"] + [""] * 14] * b, dtype=object)
  batch = {
    "caption": np.array(["a person walks"] * b, dtype=object),
    "motion": np.zeros((b, 8, 5), np.float32),
    "mask": np.ones((b, 8), bool),
    "kinmo_present": np.ones(b, bool),
    "kinmo_group_texts": groups,
    "kinmo_group_mask": groups != "",
    "kinmo_interaction_texts": inter,
    "kinmo_interaction_mask": inter != "",
  }
  glob = stage.make_featurizer(feats, stage.FeaturizeSpec(("global",), "sentence", 8, 8, 2))(batch)
  assert glob["global_tokens"].shape == (b, 8, 4) and glob["motion"].shape == (b, 4, 5)
  assert glob["group_tokens"].shape == (b, 1, 4) and not glob["group_mask"].any()
  assert all(v.dtype.kind in "fb" for v in glob.values())  # numbers only
  full = stage.make_featurizer(
    feats, stage.FeaturizeSpec(("global", "group", "interaction"), "sentence", 8, 8)
  )(batch)
  assert full["group_tokens"].shape == (b, 6, 1, 4)
  assert full["group_mask"][:, :, 0].tolist() == [[True, True] + [False] * 4] * b
  assert full["interaction_tokens"].shape == (b, 15, 1, 4)
  tok = stage.make_featurizer(feats, stage.FeaturizeSpec(("global", "group"), "tokens", 8, 16))(
    batch
  )
  assert tok["group_tokens"].shape == (b, 6, 16, 4) and tok["interaction_tokens"].shape == (b, 1, 4)
  with pytest.raises(ValueError, match="needs KinMo descriptions"):
    stage.make_featurizer(feats, stage.FeaturizeSpec(("global", "group"), "sentence", 8, 8))(
      {**batch, "kinmo_present": np.array([True, False])}
    )
  with pytest.raises(ValueError, match="kinmo_text_tokens"):
    stage.FeaturizeSpec(("global",), "words", 8, 8)
  with pytest.raises(ValueError, match="levels must include 'global'"):
    stage.FeaturizeSpec(("group",), "sentence", 8, 8)
