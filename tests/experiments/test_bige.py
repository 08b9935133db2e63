"""End-to-end: every BIGE stage with the tiny preset on the embedded squat dataset."""

import json
import os

import jax
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


SEED = 123  # the tiny preset's


def test_all_stages_write_the_report(tiny_run):
  workdir, proc = tiny_run
  for stage in ("train_vqvae", "train_surrogate", f"seed_{SEED}/guide", f"seed_{SEED}/evaluate"):
    assert (workdir / stage / "stage.json").exists(), stage
  summary = json.loads((workdir / "results.json").read_text())["summary"]
  results = summary["per_seed"][str(SEED)]
  for row in ("Reference", "MoCap", "VQ-VAE", "Reconstruction", "BIGE (all)", "BIGE"):
    for metric in (
      "fidelity",
      "diversity",
      "pelvis_tilt",
      "asymmetry",
      "angular_velocity",
      "com_velocity",
      "com_acceleration",
      "constraint",
      "penetration_cm",
      "sliding",
    ):
      assert np.isfinite(results[row][metric]["mean"]), (row, metric)
  assert results["Reference"]["fidelity_set"]["mean"] == pytest.approx(0.0, abs=1e-6)
  assert results["Reference"]["pelvis_tilt"]["mean"] < 0  # signed, as the paper's table
  md = (workdir / "results.md").read_text()
  assert "## Table 2" in md and "## Table 3" in md and "| BIGE |" in md
  assert "| Reconstruction |" in md  # the decoder's floor: held-out squats through the VQ-VAE
  assert "*BIGE (paper, UCSD data)* | 6.48 ± 4.46" in md  # the paper's row beside ours
  for fig in ("squat_cycle.png", "guided_squat.png", "guidance_loss.png"):
    assert (workdir / fig).stat().st_size > 10_000
  arrays = artifacts.load_tree(workdir / f"seed_{SEED}" / "guide" / "arrays")
  assert arrays["history"].shape == (6, 11) and np.all(np.isfinite(arrays["history"]))
  assert list(arrays["kept"]) and len(arrays["kept"]) == 2  # tiny keeps 2 of 4
  assert "exported squats meet the activation range" in (workdir / "constraints.md").read_text()


def test_guided_mot_opens_in_opensim(tiny_run):
  opensim = pytest.importorskip("opensim")
  workdir, _ = tiny_run
  path = workdir / "mot" / f"seed_{SEED}" / "bige_000.mot"
  table = opensim.TimeSeriesTable(str(path))
  assert table.getNumColumns() == 33
  arrays = artifacts.load_tree(workdir / f"seed_{SEED}" / "guide" / "arrays")
  knee = np.array([table.getDependentColumn("knee_angle_r")[i] for i in range(table.getNumRows())])
  expected = arrays["bige_q"][arrays["kept"][0], :, 13]  # the best kept squat, knee_angle_r
  np.testing.assert_allclose(knee, expected, atol=1e-4)


def _stamps(workdir):
  return {str(p.parent.relative_to(workdir)): p.stat().st_mtime_ns
          for p in workdir.glob("**/stage.json")}  # fmt: skip


def test_rerun_skips_finished_stages(tiny_run):
  workdir, _ = tiny_run
  stamps = _stamps(workdir)
  assert len(stamps) == 4
  latents_mtime = os.stat(workdir / f"seed_{SEED}" / "guide" / "arrays").st_mtime_ns
  proc = run_python(
    [
      "launch.py",
      "--experiment=bige:tiny",
      f"--workdir={workdir}",
      "--config.stages=guide,evaluate",
    ],
    timeout=600,
  )
  assert _stamps(workdir) == stamps
  assert os.stat(workdir / f"seed_{SEED}" / "guide" / "arrays").st_mtime_ns == latents_mtime
  assert "vqvae:" not in proc.stderr  # no training progress bar: the stage was cached


def test_parallel_training_equals_sequential(tiny_run, tmp_path):
  """The fixture trains the VQ-VAE and the surrogate in two threads (the default); one after the
  other gives the same parameters, bit for bit."""
  workdir, _ = tiny_run
  run_python(
    [
      "launch.py",
      "--experiment=bige:tiny",
      f"--workdir={tmp_path}",
      "--config.stages=train_vqvae,train_surrogate",
      "--config.parallel_training=false",
    ],
    timeout=600,
  )
  for stage in ("train_vqvae", "train_surrogate"):
    parallel = artifacts.load_tree(workdir / stage / "arrays")
    sequential = artifacts.load_tree(tmp_path / stage / "arrays")
    flat_p, tree_p = jax.tree.flatten(parallel)
    flat_s, tree_s = jax.tree.flatten(sequential)
    assert tree_p == tree_s, stage
    for a, b in zip(flat_p, flat_s):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=stage)


def test_unknown_stage_is_an_error(tmp_path):
  proc = run_python(
    ["launch.py", "--experiment=bige:tiny", f"--workdir={tmp_path}", "--config.stages=guide,dance"],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "unknown stage" in proc.stderr


def test_a_new_guidance_config_reuses_the_trained_models(tiny_run):
  workdir, _ = tiny_run
  stamps = _stamps(workdir)
  proc = run_python(
    ["launch.py", "--experiment=bige:tiny", f"--workdir={workdir}", "--config.guidance.steps=3"],
    timeout=600,
  )
  now = _stamps(workdir)
  assert now["train_vqvae"] == stamps["train_vqvae"]
  assert now["train_surrogate"] == stamps["train_surrogate"]
  guide, evaluate = f"seed_{SEED}/guide", f"seed_{SEED}/evaluate"
  assert now[guide] != stamps[guide] and now[evaluate] != stamps[evaluate]
  assert artifacts.load_tree(workdir / guide / "arrays")["history"].shape == (3, 11)
  assert "made with another config (changed: guidance.steps)" in proc.stderr


def test_constraints_from_a_previous_workdir_without_retraining(tiny_run, tmp_path):
  """The guide preset: new clinician constraints on the trained models of a finished run, over
  two seeds; the report counts the exported squats that meet the new range."""
  workdir, _ = tiny_run
  before = _stamps(workdir)
  out = tmp_path / "constraints"
  proc = run_python(
    [
      "launch.py",
      "--experiment=bige:guide",
      f"--workdir={out}",
      f"--config.init_from={workdir}",
      "--config.guidance.activation_low=0.5",
      "--config.guidance.activation_high=0.6",
      "--config.guidance.tilt_target=-25",
      "--config.guidance.steps=4",
      "--config.guidance.num_candidates=4",
      "--config.guidance.keep=3",
      "--config.guidance.fk_impl=levels",  # the quick preset's unrolled FK compiles 5x longer
      "--config.seeds=2",
    ],
    timeout=600,
  )
  assert "vqvae:" not in proc.stderr and "surrogate:" not in proc.stderr  # nothing trained
  assert not (out / "train_vqvae").exists() and _stamps(workdir) == before
  page = (out / "constraints.md").read_text()
  for seed in (SEED, SEED + 1):
    assert f"## Seed {seed}" in page
  assert "in [0.5, 0.6]" in page and "of 3** exported squats meet the activation range" in page
  assert "tilt within 5 of -25.0" in page
  summary = json.loads((out / "results.json").read_text())["summary"]
  assert summary["seeds"] == [SEED, SEED + 1]
  row = summary["rows"]["BIGE"]["pelvis_tilt"]
  assert row["lo"] <= row["mean"] <= row["hi"]  # a 95 % interval over the two seeds
  assert len(list((out / "mot" / f"seed_{SEED + 1}").glob("bige_*.mot"))) == 3
  bad = run_python(
    ["launch.py", "--experiment=bige:guide", f"--workdir={tmp_path / 'x'}",
     f"--config.init_from={tmp_path / 'nothing'}"],
    check=False,
    timeout=300,
  )  # fmt: skip
  assert bad.returncode != 0 and "no trained models there" in bad.stderr
