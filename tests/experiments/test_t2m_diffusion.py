"""End-to-end smoke test of t2m_diffusion (tiny preset): train, sample, evaluate, rerun."""

import json

import numpy as np
import pytest

from motion_jax.data.formats.bvh import read_bvh
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
  physics = results["plausibility"]
  assert set(physics["rows"]) == {"Real", label, f"{denoiser} dpmpp_2m_sde-3 s=0"}
  assert physics["rows"]["Real"]["penetration"]["mean"] == 0.0  # real clips stand on the floor
  assert 0 < physics["config"]["band_low_hz"] < physics["config"]["band_high_hz"]
  assert "Physical plausibility" in md and "Skating" in md
  assert (tmp_path / denoiser / "stage.json").exists()
  # A rerun loads the trained denoiser: no training step is redone.
  log = tmp_path / denoiser / f"diffusion_{denoiser}.jsonl"
  before = log.read_text()
  run_python(args, timeout=900)
  assert log.read_text() == before
  # Exports: the first test captions as npy / joints / BVH / GIF, the real clips beside them.
  index = (tmp_path / "samples" / "index.md").read_text()
  entries = json.loads((tmp_path / "samples" / "captions.json").read_text())
  assert len(entries) == 4 and all(e["caption"] in index for e in entries)
  for e in entries:
    feats = np.load(tmp_path / "samples" / f"{e['clip']}.npy")
    joints = np.load(tmp_path / "samples" / f"{e['clip']}_joints.npy")
    bvh = read_bvh(tmp_path / "samples" / f"{e['clip']}.bvh")
    assert feats.shape == (e["frames"], 263) and joints.shape == (e["frames"], 22, 3)
    assert bvh.frames.shape[0] == e["frames"] and len(bvh.skeleton.names) == 22
    assert (tmp_path / "samples" / f"{e['clip']}.gif").stat().st_size > 0
    assert (tmp_path / "samples" / "real" / f"{e['clip']}.bvh").exists()
  # Generation only, from the trained workdir: two captions x 2 samples, nothing retrained.
  gen_args = args + [
    "--config.generate.texts=a person walks forward | a person jumps twice",
    "--config.generate.lengths=24,32",
    "--config.generate.samples=2",
  ]
  run_python(gen_args, timeout=600)
  assert log.read_text() == before
  made = json.loads((tmp_path / "generated" / "captions.json").read_text())
  assert [e["frames"] for e in made] == [24, 24, 32, 32]
  assert (
    made[0]["caption"] == "a person walks forward" and made[3]["caption"] == "a person jumps twice"
  )
  a, b = (np.load(tmp_path / "generated" / f"clip_00{i}.npy") for i in (0, 1))
  assert not np.allclose(a, b)  # two samples of one caption differ
  # A different model config is refused by name, and nothing is overwritten.
  proc = run_python(gen_args + ["--config.model.batch_size=3"], check=False, timeout=300)
  assert proc.returncode != 0 and "model.batch_size" in proc.stderr
  assert log.read_text() == before


def test_generate_without_training_names_the_folder(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=t2m_diffusion:tiny",
      f"--workdir={tmp_path}",
      "--config.generate.texts=a person waves",
    ],
    check=False,
    timeout=300,
  )
  assert (
    proc.returncode != 0 and "no finished stage" in proc.stderr and "Train first" in proc.stderr
  )


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
