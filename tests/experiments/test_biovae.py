"""End-to-end smoke test of the biovae ablation (tiny preset): pre-train, one fine-tuning stage
per row, every row evaluated with the physics table; a rerun reuses every stage."""

import json
from dataclasses import replace

import numpy as np
import pytest

from motion_jax.config import from_dict
from tests.conftest import run_python
from tests.experiments.conftest import assert_other_width_refused


def test_tiny_ablation_trains_evaluates_edits_refines_and_reuses_its_stages(tmp_path):
  """Two rows keep the test short (each tiny train step takes about a minute to compile on 2
  cores): the baseline and ``all`` (muscle pre-training + eq. 9), which together exercise every
  stage, the editing table and the refinement table; the other rows differ only in switches."""
  args = [
    "launch.py",
    "--experiment=biovae:tiny",
    f"--workdir={tmp_path}",
    "--config.rows=no_module,all",
  ]
  run_python(args, timeout=1500)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["kind"] == "generator" and results["seed"] == 0
  rows = {"biovae no_module", "biovae all"}
  assert set(results["results"]) == {"Real", "Shuffled texts"} | rows
  tops = [results["results"]["biovae all"][f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
  assert all(0 <= r <= 1 for r in tops) and tops == sorted(tops)
  assert set(results["plausibility"]["rows"]) == {"Real"} | rows
  assert set(results["direction"]) == {"biovae all"}
  channels = results["muscle_pretrain"]["trained"]["channels"]
  assert channels["biceps_l"] is None and channels["quadriceps_r"]["mse"] >= 0
  editing = results["editing"]
  assert editing["row"] == "all" and set(editing["scopes"]) == {"all", "right_wrist"}
  assert editing["method"]["mechanism"] == "kinematic"  # the default (models.biovae)
  assert set(editing["scopes"]["all"]) == {"0.5", "1", "2"}
  estimation = results["estimation"]
  assert set(estimation["kinds"]) == {"jitter", "foot_sliding", "floor_offset"}
  methods = {r["method"] for r in estimation["kinds"]["jitter"]}
  assert methods == {"none", "diffusion", "diffusion + BioVAE"}, methods
  md = (tmp_path / "results.md").read_text()
  assert "| biovae all |" in md and "not ours" in md
  assert "Acceleration editing" in md and "Estimation refinement" in md
  stages = {p.name for p in tmp_path.iterdir() if p.is_dir()}
  assert {"unet", "muscle", "biovae_no_module", "biovae_all"} <= stages
  # The rerun trains nothing: every stage marker is unchanged, also with the other editing
  # mechanism (a sampling choice, outside the trained stages' keys). One factor and no
  # refinement keep it short; the editing table is then the decoder mechanism's.
  before = {p: p.stat().st_mtime for p in tmp_path.glob("*/stage.json")}
  rerun = ["--config.edit.method.mechanism=decoder", "--config.edit.factors=(2.0,)",
           "--config.edit.joint=", "--config.estimation.clips=0"]  # fmt: skip
  run_python(args + rerun, timeout=1200)
  assert {p: p.stat().st_mtime for p in tmp_path.glob("*/stage.json")} == before
  editing = json.loads((tmp_path / "results.json").read_text())["editing"]
  assert editing["method"]["mechanism"] == "decoder" and set(editing["scopes"]) == {"all"}


def test_unknown_rows_are_refused():
  from experiments import biovae

  cfg = biovae.get_config("tiny")
  cfg.rows = "module,mia"
  with pytest.raises(
    ValueError, match="choose from no_module, module, module_mia, module_loss, all"
  ):
    from_dict(biovae.Config, cfg)


def test_edit_settings_are_checked():
  from experiments import biovae

  for key, value, match in (
    ("row", "no_module", "edit.row"),
    ("joint", "left_tail", "edit.joint"),
    ("factors", (0.5, -1.0), "edit.factors"),
  ):
    cfg = biovae.get_config("tiny")
    cfg.rows = "no_module,module"
    setattr(cfg.edit, key, value)
    with pytest.raises(ValueError, match=match):
      from_dict(biovae.Config, cfg)
  cfg = biovae.get_config("tiny")
  cfg.edit.method.mechanism = "gradient"
  with pytest.raises(ValueError, match="mechanism"):
    from_dict(biovae.Config, cfg)
  cfg.edit.method.mechanism = "decoder"  # the mechanism before 2026-12-01 stays a choice
  assert from_dict(biovae.Config, cfg).edit.method.mechanism == "decoder"
  cfg = biovae.get_config("tiny")
  cfg.rows = "module,no_module"
  assert from_dict(biovae.Config, cfg).edit_row() == "module"  # auto: the last module row
  cfg.rows = "no_module"
  assert from_dict(biovae.Config, cfg).edit_row() == ""


def test_accel_scales_put_the_factor_on_all_joints_or_one():
  from experiments import biovae

  np.testing.assert_array_equal(biovae.accel_scales(1.5, "all"), np.full(22, 1.5))
  one = biovae.accel_scales(2.0, "right_wrist")
  assert one[21] == 2.0 and np.all(np.delete(one, 21) == 1.0)


def _physics(**rows):
  cols = ("vc", "ac", "skating", "penetration")
  return {"rows": {k: {c: {"mean": v} for c in cols} for k, v in rows.items()}}


def test_direction_compares_each_module_row_with_no_module_against_real():
  from experiments import biovae

  physics = _physics(**{"Real": 0.1, "biovae no_module": 0.5, "biovae module": 0.2})
  physics["rows"]["biovae module"]["ac"]["mean"] = 0.9  # further from Real than no_module
  check = biovae.direction(physics)
  assert check == {"biovae module": {"vc": True, "ac": False, "skating": True, "penetration": True}}
  assert "AC no" in biovae.direction_markdown(physics)
  assert biovae.direction(_physics(Real=0.1, **{"biovae module": 0.2})) == {}


def test_editing_markdown_reports_the_speed_sequence_and_the_paper_rows():
  from experiments import biovae
  from motion_jax.metrics import plausibility

  def row(speed):
    metrics = {k: {"mean": 0.5, "ci95": 0.01} for k in biovae.EDIT_METRICS}
    return {"metrics": metrics,
            "plausibility": {c: {"mean": speed} for c in plausibility.COLUMNS}}  # fmt: skip

  editing = {
    "row": "all",
    "factors": [0.5, 1.0, 2.0],
    "scopes": {
      "all": {"0.5": row(0.2), "1": row(0.3), "2": row(0.4)},
      "right_wrist": {"0.5": row(0.3), "1": row(0.3), "2": row(0.35)},
    },
  }
  assert biovae.speed_sequence(editing, "all") == [0.2, 0.3, 0.4]
  md = biovae.editing_markdown(editing)
  assert (
    "(all): 0.5: 0.20000, 1: 0.30000, 2: 0.40000 m/s — rises monotonically: yes; +100.000 %" in md
  )
  assert "(right_wrist): 0.5: 0.30000, 1: 0.30000, 2: 0.35000 m/s — rises monotonically: no" in md
  assert "| paper (all) | 2 | 0.124 |" in md and "not ours" in md


def test_moclip_student_drops_in(moclip_students, tmp_path):
  """MoCLIP Sec. 4.3 in BioVAE: the MiniLM-pre-trained UNet is fine-tuned on a MoCLIP student's
  token states, the row trains from that UNet on the same states and is labelled +MoCLIP; a
  student of another width is refused by name before any fine-tuning."""
  from experiments import biovae
  from motion_jax.stages import text_data

  c = from_dict(biovae.Config, biovae.get_config("tiny"))
  c = replace(c, rows="module", edit=replace(c.edit, row=""),
              estimation=replace(c.estimation, clips=0))  # fmt: skip
  assert_other_width_refused(biovae.run, c, moclip_students, tmp_path, "UNet", "unet")
  spec = f"moclip:{moclip_students['minilm']}"
  out = biovae.run(replace(c, text_encoder=spec), str(tmp_path))
  label = "biovae module +MoCLIP"
  assert set(out["results"]) == {"Real", "Shuffled texts", label}
  assert set(out["plausibility"]["rows"]) == {"Real", label}
  (tuned,) = tmp_path.glob("unet_moclip_*")
  log = (tuned / f"{tuned.name}.jsonl").read_text().splitlines()
  assert json.loads(log[-1])["step"] == c.text_finetune.num_steps
  # The row's stage trains from the fine-tuned UNet (its fingerprint), next to the MiniLM names.
  (row,) = tmp_path.glob("biovae_module_moclip_*")
  assert row.name == "biovae_module" + tuned.name.removeprefix("unet")
  choice = text_data.text_encoder_choice(spec)
  fp = json.loads((row / "stage.json").read_text())["fingerprint"]
  assert fp["unet"]["text_encoder"] == choice.name
  assert (tmp_path / choice.filename).exists()
