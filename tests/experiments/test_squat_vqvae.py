"""End-to-end smoke test of the squat_vqvae experiment with the tiny preset, plus resume."""

import json

from tests.conftest import run_python


def test_tiny_run_writes_report_and_resumes(tmp_path):
  run_python(["launch.py", "--experiment=squat_vqvae:tiny", f"--workdir={tmp_path}"])
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["heldout_frames"] > 0
  assert 0 < results["rmse_rotational_deg"] < 1e3
  assert 1 <= results["train_code_usage"]["codes_used"] <= 32
  assert (tmp_path / "reconstruction.png").stat().st_size > 10_000
  assert "| RMSE rotational coordinates (deg) |" in (tmp_path / "results.md").read_text()
  # A rerun with more steps resumes from the checkpoint rather than starting again.
  run_python(
    [
      "launch.py",
      "--experiment=squat_vqvae:tiny",
      f"--workdir={tmp_path}",
      "--config.vqvae.num_steps=40",
    ]
  )
  rows = [
    json.loads(line)
    for line in (tmp_path / "vqvae" / "vqvae.jsonl").read_text().split("\n")
    if line
  ]
  steps = [r["step"] for r in rows]
  assert steps[-1] == 40 and steps.count(10) == 1  # steps 1..30 were not redone
  assert len((tmp_path / "run_info.jsonl").read_text().splitlines()) == 2
