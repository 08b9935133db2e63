"""The generators' text-encoder spec: MiniLM by default, a MoCLIP run's student on request."""

import json

import pytest

from motion_jax.data.text_motion import features as tf_lib
from motion_jax.stages import text_data


def test_minilm_is_the_default_cache():
  choice = text_data.text_encoder_choice("minilm")
  assert choice.is_default and choice.name == tf_lib.MINILM
  assert choice.filename == text_data.DEFAULT_FEATURES_FILE


def test_bad_specs_and_missing_runs_name_the_problem(tmp_path):
  for bad in ("clip", "moclip:", "MiniLM"):
    with pytest.raises(ValueError, match="text_encoder"):
      text_data.text_encoder_choice(bad)
  (tmp_path / "lambda_0").mkdir()
  (tmp_path / "lambda_0" / "stage.json").write_text(json.dumps({"fingerprint_digest": "ab"}))
  with pytest.raises(FileNotFoundError, match=r"lambda_0\.4.*runs there: lambda_0"):
    text_data.text_encoder_choice(f"moclip:{tmp_path}")


def test_moclip_cache_is_named_by_the_run(tmp_path):
  for run, digest in (("lambda_0.4", "d1"), ("lambda_0", "d2")):
    (tmp_path / run).mkdir()
    (tmp_path / run / "stage.json").write_text(json.dumps({"fingerprint_digest": digest}))
  a = text_data.text_encoder_choice(f"moclip:{tmp_path}")
  b = text_data.text_encoder_choice(f"moclip:{tmp_path}@lambda_0")
  assert not a.is_default and a.name.endswith("@lambda_0.4#" + a.filename[21:33])
  assert a.filename != b.filename and a.filename.startswith("text_features_moclip_")
  # Row labels: the default run is plain +MoCLIP, another run carries its name (rows of several
  # runs in one table stay apart); MiniLM adds nothing.
  assert a.label == " +MoCLIP" and b.label == " +MoCLIP@lambda_0"
  assert text_data.text_encoder_choice("minilm").label == ""
