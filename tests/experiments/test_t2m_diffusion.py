"""End-to-end smoke test of t2m_diffusion (tiny preset): train, sample, evaluate, rerun."""

import json

import pytest

from tests.conftest import run_python


@pytest.mark.parametrize("denoiser", ["mdm"])
def test_tiny_run_writes_results_and_resumes(tmp_path, denoiser):
  args = [
    "launch.py",
    "--experiment=t2m_diffusion:tiny",
    f"--workdir={tmp_path}",
    f"--config.denoiser={denoiser}",
  ]
  run_python(args, timeout=900)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["kind"] == "generator" and results["seed"] == 0
  assert results["config"]["denoiser"] == denoiser
  rows = results["results"]
  label = f"{denoiser} dpmpp_2m_sde-3 s=2.5"
  assert set(rows) == {"Real", "Shuffled texts", label, f"{denoiser} dpmpp_2m_sde-3 s=0"}
  gen = rows[label]
  for k in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_dist"):
    assert len(gen[k]["values"]) == 2  # one per repeat
  tops = [gen[f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
  assert all(0 <= r <= 1 for r in tops) and tops == sorted(tops)
  assert rows["Real"]["fid"]["mean"] < 1e-6 < gen["fid"]["mean"]
  assert "multimodality" in gen and "multimodality" not in rows["Real"]
  assert results["headline"]["r_precision_top3_chance"] == pytest.approx(3 / 32)
  md = (tmp_path / "results.md").read_text()
  assert f"| {label} |" in md and "| Real |" in md and "chance 0.094" in md
  assert (tmp_path / denoiser / "stage.json").exists()
  # A rerun loads the trained denoiser: no training step is redone.
  log = tmp_path / denoiser / f"diffusion_{denoiser}.jsonl"
  before = log.read_text()
  run_python(args, timeout=900)
  assert log.read_text() == before


def test_bad_sampler_is_rejected(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=t2m_diffusion:tiny",
      f"--workdir={tmp_path}",
      "--config.sampler=euler",
    ],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "sampler must be one of" in proc.stderr
