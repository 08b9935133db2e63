"""End-to-end smoke test of the squat_vqvae experiment with the tiny preset, plus resume."""

import json

from tests.conftest import run_python


def test_tiny_run_writes_report_resumes_and_learns(tmp_path):
  run_python(["launch.py", "--experiment=squat_vqvae:tiny", f"--workdir={tmp_path}"])
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["train_repetitions"] == 4 and results["heldout_repetitions"] == 1
  assert 60 <= results["heldout_frames"] <= 200  # one repetition at 60 Hz
  assert (tmp_path / "reconstruction.png").stat().st_size > 10_000
  assert "| RMSE rotational coordinates (deg) |" in (tmp_path / "results.md").read_text()
  assert (tmp_path / "vqvae" / "stage.json").exists()
  # A rerun with more steps resumes from the checkpoint rather than starting again.
  run_python(
    [
      "launch.py",
      "--experiment=squat_vqvae:tiny",
      f"--workdir={tmp_path}",
      "--config.vqvae.loop.num_steps=80",
    ]
  )
  rows = [json.loads(x) for x in (tmp_path / "vqvae" / "vqvae.jsonl").read_text().split("\n") if x]
  steps = [r["step"] for r in rows]
  assert steps[-1] == 80 and steps.count(10) == 1  # steps 1..30 were not redone
  assert len((tmp_path / "run_info.jsonl").read_text().splitlines()) == 2
  # After 80 steps the held-out reconstruction beats the training mean pose (a model that has
  # learnt nothing scores that or worse), and the codebook has not collapsed to one code.
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["rmse_rotational_deg"] < 0.9 * results["mean_pose_rmse_rotational_deg"], results
  assert results["train_code_usage"]["codes_used"] >= 4
  assert results["heldout_code_usage"]["codes_used"] >= 2
