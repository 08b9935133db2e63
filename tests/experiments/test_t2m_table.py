"""t2m_table collects generator results into one Markdown table with a Real row per evaluator."""

import json

from experiments import t2m_table


def _metrics(v):
  return {"mean": v, "ci95": 0.01, "values": [v]}


def _result(root, label, fid):
  row = {k: _metrics(0.5) for k in ("r_precision_top1", "r_precision_top2", "r_precision_top3")}
  return {
    "kind": "generator",
    "results": {"Real": {**row, "fid": _metrics(0.0)}, label: {**row, "fid": _metrics(fid)}},
    "dataset": {"root": root},
    "config": {"evaluator": {"latent_dim": 16}},
  }


def test_table_groups_runs_by_evaluator(tmp_path):
  runs = tmp_path / "runs"
  for name, root, label, fid in [("u", "/d1", "unet", 1.25), ("m", "/d1", "mdm", 2.5),
                                 ("k", "/d2", "other", 3.75)]:  # fmt: skip
    (runs / name).mkdir(parents=True)
    (runs / name / "results.json").write_text(json.dumps(_result(root, label, fid)))
  (runs / "retrieval").mkdir()
  (runs / "retrieval" / "results.json").write_text(json.dumps({"variants": {}}))  # not a generator
  out = t2m_table.run(t2m_table.Config(runs=str(runs)), str(tmp_path / "table"))
  assert len(out["tables"]) == 2
  by_root = {t["dataset"]: t["rows"] for t in out["tables"]}
  first = by_root["/d1"]
  assert [r[0] for r in first] == ["Real", "m: mdm", "u: unet"]
  assert first[1][4] == "2.500±0.010" and first[1][-1] == "-"
  md = (tmp_path / "table" / "results.md").read_text()
  assert md.count("| Real |") == 2 and "k: other" in md


def test_physics_rows_join_the_table(tmp_path):
  from motion_jax.metrics import plausibility as P

  cfg = {"band_low_hz": 1.0, "band_high_hz": 4.0}
  cell = {k: {"mean": 0.25, "std": 0.0} for k in P.COLUMNS}
  runs = tmp_path / "runs"
  for name, has_physics in (("a", True), ("b", False), ("c", True)):
    res = _result("/d1", name.upper(), 1.0)
    if has_physics:
      res["plausibility"] = {"config": cfg, "rows": {"Real": cell, name.upper(): cell}}
    (runs / name).mkdir(parents=True)
    (runs / name / "results.json").write_text(json.dumps(res))
  out = t2m_table.run(t2m_table.Config(runs=str(runs)), str(tmp_path / "table"))
  physics = out["tables"][0]["physics"]
  assert list(physics["rows"]) == ["Real", "a: A", "c: C"]  # b predates the physics columns
  md = (tmp_path / "table" / "results.md").read_text()
  assert "Physical plausibility" in md and "| c: C | 0.250±0.000" in md
