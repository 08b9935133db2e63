"""End-to-end smoke test of the biovae ablation (tiny preset): pre-train, one fine-tuning stage
per row, every row evaluated with the physics table; a rerun reuses every stage."""

import json

import pytest

from motion_jax.config import from_dict
from tests.conftest import run_python


def test_tiny_ablation_row_trains_evaluates_and_reuses_its_stages(tmp_path):
  """One row (the module with eq. 9's loss) keeps the test short: every train step of the tiny
  UNet takes about a minute to compile on 2 cores; the other rows differ only in the loss."""
  args = [
    "launch.py",
    "--experiment=biovae:tiny",
    f"--workdir={tmp_path}",
    "--config.rows=module_loss",
  ]
  run_python(args, timeout=1200)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["kind"] == "generator" and results["seed"] == 0
  assert set(results["results"]) == {"Real", "Shuffled texts", "biovae module_loss"}
  tops = [
    results["results"]["biovae module_loss"][f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)
  ]
  assert all(0 <= r <= 1 for r in tops) and tops == sorted(tops)
  assert set(results["plausibility"]["rows"]) == {"Real", "biovae module_loss"}
  md = (tmp_path / "results.md").read_text()
  assert "| biovae module_loss |" in md and "not ours" in md
  stages = {p.name for p in tmp_path.iterdir() if p.is_dir()}
  assert {"unet", "biovae_module_loss"} <= stages
  # The rerun trains nothing: every stage marker is unchanged.
  before = {p: p.stat().st_mtime for p in tmp_path.glob("*/stage.json")}
  run_python(args, timeout=900)
  assert {p: p.stat().st_mtime for p in tmp_path.glob("*/stage.json")} == before


def test_unknown_rows_are_refused():
  from experiments import biovae

  cfg = biovae.get_config("tiny")
  cfg.rows = "module,mia"
  with pytest.raises(ValueError, match="choose from no_module, module, module_loss"):
    from_dict(biovae.Config, cfg)
