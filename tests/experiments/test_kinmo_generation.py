"""End-to-end smoke test of kinmo_generation (tiny preset): the Table-5 rows with the generation
metrics, the configured kept fraction of coarse-to-fine decoding, group editing that keeps the
unmasked tokens bit-for-bit; and config refusals."""

import json
import math
from dataclasses import replace

import pytest

from experiments import kinmo_generation as kg
from motion_jax.config import from_dict
from tests.conftest import run_python


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("kinmo_generation_tiny")
  run_python(["launch.py", "--experiment=kinmo_generation:tiny", f"--workdir={workdir}"],
             timeout=900)  # fmt: skip
  return workdir, json.loads((workdir / "results.json").read_text())


def test_table_has_every_row_with_finite_metrics(results):
  workdir, out = results
  labels = [kg.ROWS[r][0] for r in kg.ROWS]
  assert list(out["results"]) == ["Real", "Shuffled texts", *labels]
  for label in labels:
    row = out["results"][label]
    for k in ("r_precision_top1", "r_precision_top3", "fid", "mm_dist", "diversity",
              "multimodality"):  # fmt: skip
      assert len(row[k]["values"]) == 2 and all(math.isfinite(v) for v in row[k]["values"])
    tops = [row[f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
    assert tops == sorted(tops) and 0 <= tops[0] and tops[2] <= 1
    assert row["fid"]["mean"] > out["results"]["Real"]["fid"]["mean"]
  md = (workdir / "results.md").read_text()
  assert all(f"| {label} |" in md for label in labels) and "## Group editing" in md
  # the physics columns of every row next to the real clips', and the exported clips
  assert list(out["plausibility"]["rows"]) == ["Real", *labels] and "## Physical plaus" in md
  for folder in ("htma_interaction", "real"):
    assert (workdir / "samples" / folder / "clip_000.gif").exists()
  assert len(list((workdir / "samples" / "editing").glob("clip_*.bvh"))) == 2  # before, after
  assert len(list((workdir / "samples" / "control").glob("clip_*.gif"))) == 3
  # per_embedding: two generators (plain, htma) trained on all three levels, one HTMA model
  assert {r["generator"] for r in out["rows"].values()} == {"kgen_plain", "kgen_htma"}
  for name in ("kgen_plain", "kgen_htma", "interaction", "rvq", "evaluator"):
    assert (workdir / name / "stage.json").exists()


def test_coarse_to_fine_keeps_the_configured_fraction(results):
  _, out = results
  keep = out["config"]["model"]["decode"]["keep_fraction"]
  for name, fractions in out["kept_fraction_first_call"].items():
    assert len(fractions) == kg.ROWS[name][2]
    assert fractions[0] == 0.0  # the global level decodes from scratch
    for lv, f in enumerate(fractions[1:], start=1):
      # round(keep * n) per sequence: the pooled fraction is within half a token of keep
      assert abs(f - keep[lv]) < 0.05, (name, lv, f)


def test_group_editing_keeps_unmasked_tokens_and_regenerates_the_fraction(results):
  _, out = results
  edits = out["edits"]
  frac = out["config"]["model"]["edit"]["fraction"]
  assert set(edits["summary"]) == {
    "group_change", "sensitivity", "random", "group_change + preservation guidance"
  }  # fmt: skip
  for s in edits["summary"].values():
    assert s["unmasked_tokens_identical"] and s["edits"] == 2 and math.isfinite(s["median_ratio"])
  for e in edits["edits"]:
    assert e["group"] == "left_arm" and e["edited_text"]
    assert e["regenerated"] == e["tokens"] - round((1 - frac) * e["tokens"])
    assert e["changed_tokens"] <= e["regenerated"]
    assert e["edited_cm"] >= 0 and e["other_cm"] >= 0


def test_config_refusals():
  c = from_dict(kg.Config, kg.get_config("tiny"))
  with pytest.raises(ValueError, match="unknown rows"):
    replace(c, rows="plain_global,bogus")
  with pytest.raises(ValueError, match="edit.row"):
    replace(c, edit=replace(c.edit, row="htma_global"))
  with pytest.raises(ValueError, match="keep_fraction"):
    replace(c.model.decode, keep_fraction=(0.0, 1.5, 0.5))
  with pytest.raises(ValueError, match="generators"):
    replace(c, generators="shared")


def test_trajectory_control_table(results):
  workdir, out = results
  ctl = out["control"]
  assert ctl["joint"] == "pelvis" and ctl["clips"] == 64
  generated = ("without control", "ControlNet", "spatial guidance", "ControlNet + spatial guidance")
  for name in (*generated, "real clips' base-layer tokens, decoded", "real clips"):
    v = ctl[name]
    assert all(math.isfinite(v[k]) for k in ("control_error_cm", "fid", "mm_dist"))
    assert 0 <= v["r_precision_top1"] <= v["r_precision_top3"] <= 1
    assert (v["control_error_cm"] == 0) == (name == "real clips")
  # the same tokens (same key, no branch), then a few guidance steps: closer to the target
  assert ctl["spatial guidance"]["control_error_cm"] < ctl["without control"]["control_error_cm"]
  assert (workdir / "kcontrol_pelvis_kgen_htma" / "stage.json").exists()
  assert "## Trajectory control (pelvis" in (workdir / "results.md").read_text()
