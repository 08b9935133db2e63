"""End-to-end smoke test of the moclip experiment (tiny preset): the shared frozen stage, the
lambda runs and the frozen-text baseline, retrieval + forgetting columns, and a cached rerun."""

import json

import pytest

from tests.conftest import run_python


def test_tiny_run_writes_sweep_and_reruns_from_cache(tmp_path):
  args = ["launch.py", "--experiment=moclip:tiny", f"--workdir={tmp_path}"]
  run_python(args, timeout=900)
  results = json.loads((tmp_path / "results.json").read_text())
  runs = results["runs"]
  assert set(runs) == {"frozen_text", "lambda_0", "lambda_0.4"}
  assert results["schedule"] == {
    "num_steps": 6,
    "unfreeze_step": 4,
    "unfreeze": "all",
    "shared_frozen_stage": True,
  }
  for run in runs.values():
    for protocol in ("all", "small_batches"):
      m = run["retrieval"][protocol]
      for d in ("t2m", "m2t"):
        recalls = [m[f"{d}/R@{k}"] for k in (1, 2, 3)]
        assert all(0 <= r <= 100 for r in recalls) and recalls == sorted(recalls)
  # Student lr 0: the student is the teacher, bit for bit; the unfrozen runs drift from it.
  assert runs["frozen_text"]["forgetting"]["mean_cosine"] == pytest.approx(1.0, abs=1e-6)
  for name in ("lambda_0", "lambda_0.4"):
    assert runs[name]["forgetting"]["mean_cosine"] < 1.0 - 1e-4
  assert runs["lambda_0.4"]["distill_weight"] == 0.4
  md = (tmp_path / "results.md").read_text()
  assert "| lambda = 0.4 | all |" in md and "student-teacher cos" in md
  # Each run resumed from the shared frozen stage: its metrics start after the unfreeze step.
  rows = [
    json.loads(line)
    for line in (tmp_path / "lambda_0" / "lambda_0.jsonl").read_text().splitlines()
    if line
  ]
  assert [r["step"] for r in rows] == [6]
  # A rerun loads every finished run (no step redone) and reproduces the table.
  run_python(args, timeout=900)
  again = json.loads((tmp_path / "results.json").read_text())
  for name, run in runs.items():
    assert again["runs"][name]["retrieval"] == run["retrieval"]
  rows_again = (tmp_path / "lambda_0" / "lambda_0.jsonl").read_text().splitlines()
  assert len([r for r in rows_again if r]) == 1


def test_bad_sweep_is_rejected(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=moclip:tiny",
      f"--workdir={tmp_path}",
      "--config.model.unfreeze=middle",
    ],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "unfreeze" in proc.stderr
