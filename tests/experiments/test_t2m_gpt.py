"""End-to-end smoke test of t2m_gpt (tiny preset): VQ-VAE, GPT, cached sampling, evaluation."""

import json

import pytest

from tests.conftest import run_python


def test_tiny_run_writes_results(tmp_path):
  run_python(["launch.py", "--experiment=t2m_gpt:tiny", f"--workdir={tmp_path}"], timeout=900)
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
