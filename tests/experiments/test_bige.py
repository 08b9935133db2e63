"""End-to-end: every BIGE stage with the tiny preset on the embedded squat dataset."""

import json
import os

import numpy as np
import pytest

from motion_jax.train import artifacts
from tests.conftest import REPO, run_python

pytestmark = pytest.mark.skipif(
  not (REPO / "data" / "squats" / "manifest.json").exists(),
  reason="embedded squat dataset not built",
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("bige")
  proc = run_python(["launch.py", "--experiment=bige:tiny", f"--workdir={workdir}"], timeout=900)
  return workdir, proc


def test_all_stages_write_the_report(tiny_run):
  workdir, proc = tiny_run
  for stage in ("train_vqvae", "train_surrogate", "guide", "evaluate"):
    assert (workdir / stage / "stage.json").exists(), stage
  results = json.loads((workdir / "results.json").read_text())["results"]
  for row in ("Reference", "VQ-VAE", "BIGE"):
    for metric in (
      "fidelity_w2",
      "pelvis_tilt_at_peak",
      "asymmetry",
      "angular_velocity",
      "com_velocity",
      "com_acceleration",
      "constraint",
      "penetration_mm",
    ):
      assert np.isfinite(results[row][metric]["mean"]), (row, metric)
  assert results["Reference"]["fidelity_w2"]["mean"] == pytest.approx(0.0, abs=1e-6)
  md = (workdir / "results.md").read_text()
  assert "## Table 2" in md and "## Table 3" in md and "| BIGE |" in md
  for fig in ("squat_cycle.png", "guided_squat.png", "guidance_loss.png"):
    assert (workdir / fig).stat().st_size > 10_000
  history = artifacts.load_tree(workdir / "guide" / "arrays")["history"]
  assert history.shape == (6, 11) and np.all(np.isfinite(history))


def test_guided_mot_opens_in_opensim(tiny_run):
  opensim = pytest.importorskip("opensim")
  workdir, _ = tiny_run
  path = workdir / "mot" / "bige_000.mot"
  table = opensim.TimeSeriesTable(str(path))
  assert table.getNumColumns() == 33
  latents = artifacts.load_tree(workdir / "guide" / "arrays")
  knee = np.array([table.getDependentColumn("knee_angle_r")[i] for i in range(table.getNumRows())])
  expected = latents["bige_q"][0, :, 13]  # knee_angle_r, degrees
  np.testing.assert_allclose(knee, expected, atol=1e-4)


def test_rerun_skips_finished_stages(tiny_run):
  workdir, _ = tiny_run
  stamps = {p.parent.name: p.stat().st_mtime_ns for p in workdir.glob("*/stage.json")}
  assert len(stamps) == 4
  latents_mtime = os.stat(workdir / "guide" / "arrays").st_mtime_ns
  proc = run_python(
    [
      "launch.py",
      "--experiment=bige:tiny",
      f"--workdir={workdir}",
      "--config.stages=guide,evaluate",
    ],
    timeout=600,
  )
  assert {p.parent.name: p.stat().st_mtime_ns for p in workdir.glob("*/stage.json")} == stamps
  assert os.stat(workdir / "guide" / "arrays").st_mtime_ns == latents_mtime
  assert "vqvae:" not in proc.stderr  # no training progress bar: the stage was cached


def test_unknown_stage_is_an_error(tmp_path):
  proc = run_python(
    ["launch.py", "--experiment=bige:tiny", f"--workdir={tmp_path}", "--config.stages=guide,dance"],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "unknown stage" in proc.stderr


def test_a_new_guidance_config_reuses_the_trained_models(tiny_run):
  workdir, _ = tiny_run
  stamps = {p.parent.name: p.stat().st_mtime_ns for p in workdir.glob("*/stage.json")}
  proc = run_python(
    ["launch.py", "--experiment=bige:tiny", f"--workdir={workdir}", "--config.guidance.steps=3"],
    timeout=600,
  )
  now = {p.parent.name: p.stat().st_mtime_ns for p in workdir.glob("*/stage.json")}
  assert now["train_vqvae"] == stamps["train_vqvae"]
  assert now["train_surrogate"] == stamps["train_surrogate"]
  assert now["guide"] != stamps["guide"] and now["evaluate"] != stamps["evaluate"]
  assert artifacts.load_tree(workdir / "guide" / "arrays")["history"].shape == (3, 11)
  assert "made with another config (changed: guidance.steps)" in proc.stderr
