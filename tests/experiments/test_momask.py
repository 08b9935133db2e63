"""End-to-end smoke test of momask (tiny preset): RVQ, transformers, generation, evaluation."""

import json
import math

import pytest

from tests.conftest import run_python


def test_tiny_run_writes_results(tmp_path):
  args = ["launch.py", "--experiment=momask:tiny", f"--workdir={tmp_path}"]
  run_python(args, timeout=900)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["kind"] == "generator" and results["seed"] == 0
  rows = results["results"]
  label = "momask rvq3 steps3 s=4/5"
  assert set(rows) == {"Real", "Shuffled texts", label, "momask rvq3 steps3 s=0/0"}
  gen = rows[label]
  for k in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_dist"):
    assert len(gen[k]["values"]) == 2  # one per repeat
  tops = [gen[f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
  assert all(0 <= r <= 1 for r in tops) and tops == sorted(tops)
  assert rows["Real"]["fid"]["mean"] < 1e-6 < gen["fid"]["mean"]
  assert "multimodality" in gen and "multimodality" not in rows["Real"]
  assert results["headline"]["r_precision_top3_chance"] == pytest.approx(3 / 32)
  mpjpe = results["rvq_mpjpe_mm"]
  assert len(mpjpe) == 3 and all(math.isfinite(v) and v > 0 for v in mpjpe)
  md = (tmp_path / "results.md").read_text()
  assert f"| {label} |" in md and "| Real |" in md and "MPJPE" in md
  le = results["length_estimator"]
  assert 0 <= le["exact"] <= le["within_one"] <= 1 and le["mae_frames"] >= 0
  for name in ("rvq", "momask_base", "momask_residual", "momask_length"):
    assert (tmp_path / name / "stage.json").exists()
  assert (tmp_path / "rvq" / "rvq.jsonl").exists()
  logged = [json.loads(line) for line in (tmp_path / "rvq" / "rvq.jsonl").read_text().splitlines()]
  assert any("perplexity_2" in r and "codes_used_0" in r for r in logged)
  assert set(results["plausibility"]["rows"]) == {"Real", label, "momask rvq3 steps3 s=0/0"}
  assert "Physical plausibility" in md
  entries = json.loads((tmp_path / "samples" / "captions.json").read_text())
  assert len(entries) == 4 and (tmp_path / "samples" / f"{entries[0]['clip']}.bvh").exists()


def test_bad_length_source_is_rejected(tmp_path):
  args = ["launch.py", "--experiment=momask:tiny", f"--workdir={tmp_path}",
          "--config.length_source=oracle"]  # fmt: skip
  proc = run_python(args, check=False, timeout=300)
  assert proc.returncode != 0 and "length_source must be one of" in proc.stderr
