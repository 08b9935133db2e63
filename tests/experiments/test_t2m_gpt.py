"""End-to-end smoke test of t2m_gpt (tiny preset): VQ-VAE, GPT, cached sampling, evaluation; then
generation only from that trained workdir with forced lengths, and its refusals."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from experiments import t2m_gpt
from motion_jax.config import from_dict
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.stages import text_data
from tests.conftest import run_python


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A workdir trained and evaluated once with the tiny preset (shared by this file's tests)."""
  workdir = tmp_path_factory.mktemp("t2m_gpt_tiny")
  run_python(["launch.py", "--experiment=t2m_gpt:tiny", f"--workdir={workdir}"], timeout=900)
  return workdir


def _config(**kw) -> t2m_gpt.Config:
  return replace(from_dict(t2m_gpt.Config, t2m_gpt.get_config("tiny")), **kw)


def test_tiny_run_writes_results(trained):
  tmp_path = trained
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["kind"] == "generator" and results["seed"] == 0
  rows = results["results"]
  label = "t2m_gpt T=1 top_k=0"
  assert set(rows) == {"Real", "Shuffled texts", label}
  gen = rows[label]
  assert len(gen["r_precision_top3"]["values"]) == 2
  tops = [gen[f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
  assert all(0 <= r <= 1 for r in tops) and tops == sorted(tops)
  assert rows["Real"]["fid"]["mean"] < 1e-6 < gen["fid"]["mean"]
  assert results["headline"]["r_precision_top3_chance"] == pytest.approx(3 / 32)
  frames = results["headline"]["mean_generated_frames"]
  assert 4 <= frames <= 64  # at least one token, at most max_length
  for name in ("vqvae", "t2m_gpt"):
    assert (tmp_path / name / "stage.json").exists()
  md = (tmp_path / "results.md").read_text()
  assert f"| {label} |" in md and "Physical plausibility" in md
  assert set(results["plausibility"]["rows"]) == {"Real", label}
  entries = json.loads((tmp_path / "samples" / "captions.json").read_text())
  assert len(entries) == 4 and (tmp_path / "samples" / f"{entries[0]['clip']}.gif").exists()


def test_generate_only_with_forced_lengths(trained):
  before = {n: (trained / n / "stage.json").read_text() for n in ("vqvae", "t2m_gpt")}
  g = _config().generate
  # `length` > 0: End forced after 24 / 4 tokens in every clip (below the evaluator's 40 frames,
  # where End alone is never sampled).
  texts = "a person walks forward | a person jumps twice"
  out = t2m_gpt.run(_config(length=24, generate=replace(g, texts=texts, samples=2)), str(trained))
  made = json.loads((trained / "generated" / "captions.json").read_text())
  assert [e["frames"] for e in made] == [24] * 4 == out["lengths"]
  assert [e["caption"] for e in made][1:3] == ["a person walks forward", "a person jumps twice"]
  record = json.loads((trained / "generated" / "generation.json").read_text())
  assert record["config"]["length"] == 24 and record["seed"] == 0 and len(record["texts"]) == 4
  # generate.lengths: per caption, rounded down to whole tokens.
  cfg = _config(generate=replace(g, texts=texts, lengths="8,30", out="per_caption"))
  assert t2m_gpt.run(cfg, str(trained))["lengths"] == [8, 28]
  made = json.loads((trained / "per_caption" / "captions.json").read_text())
  assert [e["frames"] for e in made] == [8, 28]
  # Another config is refused by name; nothing was retrained.
  other = _config(generate=replace(g, texts=texts))
  other = replace(other, model=replace(other.model, pkeep=0.3))
  with pytest.raises(ValueError, match=r"model\.pkeep.*trained with"):
    t2m_gpt.run(other, str(trained))
  with pytest.raises(ValueError, match="length must be 0"):
    _config(length=30)
  assert {n: (trained / n / "stage.json").read_text() for n in before} == before


def test_moclip_student_drops_in(trained, moclip_students, tmp_path):
  """Sec. 4.3: the GPT trained on MiniLM (the module's workdir, copied: its stages are reused) is
  fine-tuned on a MoCLIP student's sentence embeddings and evaluated with them (+MoCLIP row);
  generation only reads the fine-tuned GPT; a student of another width is refused by name."""
  work = tmp_path / "gpt"
  shutil.copytree(trained, work)
  spec = f"moclip:{moclip_students['minilm']}"
  out = t2m_gpt.run(_config(text_encoder=spec), str(work))
  label = "t2m_gpt +MoCLIP T=1 top_k=0"
  assert out["method"] == label and label in out["results"]
  assert f"| {label} |" in (work / "results.md").read_text()
  (tuned,) = work.glob("t2m_gpt_moclip_*")  # fine-tuned from the MiniLM-trained stage
  steps = [
    json.loads(r)["step"] for r in (tuned / f"{tuned.name}.jsonl").read_text().splitlines() if r
  ]
  assert steps[-1] == _config().text_finetune.num_steps
  assert (work / "t2m_gpt" / "stage.json").read_text() == (
    trained / "t2m_gpt" / "stage.json"
  ).read_text()  # the MiniLM GPT was loaded, not retrained
  # The generator reads the student's embeddings (its own cache), not MiniLM's.
  choice = text_data.text_encoder_choice(spec)
  new = "a person waves both hands"  # not a dataset caption: encoded by the student on demand
  generator = t2m_gpt.load_trained(_config(text_encoder=spec), work, [new])
  assert generator.features.encoder == choice.name
  (clip,) = json.loads((work / "samples" / "captions.json").read_text())[:1]
  texts = [new, clip["caption"]]
  used = generator.features.sentence_embeddings(texts)
  np.testing.assert_allclose(used, choice.encoder()(texts)[2], atol=1e-4)
  minilm = tf_lib.load_text_features(work / t2m_gpt.FEATURES_FILE)
  assert tf_lib.sentence_key(new) not in minilm.index
  assert not np.allclose(used[1], minilm.sentence_embeddings(texts[1:])[0], atol=1e-3)
  # A student of another width is refused, naming the field, before any fine-tuning.
  bad = f"moclip:{moclip_students['tiny']}"
  with pytest.raises(ValueError, match=r"text_encoder .*-wide.*GPT read 384"):
    t2m_gpt.run(_config(text_encoder=bad), str(work))
  assert len(list(work.glob("t2m_gpt_moclip_*"))) == 1
  with pytest.raises(ValueError, match="text_encoder: 'minilm' or"):
    _config(text_encoder="clip")
