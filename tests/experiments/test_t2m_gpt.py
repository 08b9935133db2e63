"""End-to-end smoke test of t2m_gpt (tiny preset): VQ-VAE, GPT, cached sampling, evaluation; then
generation only from that trained workdir with forced lengths, and its refusals."""

import json
from dataclasses import replace

import pytest

from experiments import t2m_gpt
from motion_jax.config import from_dict
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
