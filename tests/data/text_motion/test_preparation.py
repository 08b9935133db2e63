"""Text-motion preparation: the sentence-feature cache and the featurizer of every alignment
variant (fake encoder, no model)."""

import numpy as np
import pytest

from motion_jax.data.text_motion import features as tf_lib
from motion_jax.data.text_motion import preparation as prep


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
  with pytest.raises(ValueError, match="no encoder was given"):
    tf_lib.ensure_text_features(path, ["brand new"], encoder_name="fake")
  with pytest.raises(ValueError, match="made by encoder 'fake'"):
    tf_lib.ensure_text_features(path, ["zz"], encoder=_fake_encoder(calls))


def test_featurizer_shapes_for_each_variant():
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
  glob = prep.make_featurizer(feats, prep.FeaturizeSpec(("global",), "sentence", 8, 8, 2))(batch)
  assert glob["global_tokens"].shape == (b, 8, 4) and glob["motion"].shape == (b, 4, 5)
  assert glob["group_tokens"].shape == (b, 1, 4) and not glob["group_mask"].any()
  assert all(v.dtype.kind in "fb" for v in glob.values())  # numbers only
  full = prep.make_featurizer(
    feats, prep.FeaturizeSpec(("global", "group", "interaction"), "sentence", 8, 8)
  )(batch)
  assert full["group_tokens"].shape == (b, 6, 1, 4)
  assert full["group_mask"][:, :, 0].tolist() == [[True, True] + [False] * 4] * b
  assert full["interaction_tokens"].shape == (b, 15, 1, 4)
  tok = prep.make_featurizer(feats, prep.FeaturizeSpec(("global", "group"), "tokens", 8, 16))(batch)
  assert tok["group_tokens"].shape == (b, 6, 16, 4) and tok["interaction_tokens"].shape == (b, 1, 4)
  with pytest.raises(ValueError, match="needs KinMo descriptions"):
    prep.make_featurizer(feats, prep.FeaturizeSpec(("global", "group"), "sentence", 8, 8))(
      {**batch, "kinmo_present": np.array([True, False])}
    )
  with pytest.raises(ValueError, match="kinmo_text_tokens"):
    prep.FeaturizeSpec(("global",), "words", 8, 8)
  with pytest.raises(ValueError, match="levels must include 'global'"):
    prep.FeaturizeSpec(("group",), "sentence", 8, 8)
