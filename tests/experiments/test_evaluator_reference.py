"""End-to-end smoke test of evaluator_reference (tiny preset; the 18-clip test split is smaller than
one R-precision batch, so the train split is scored)."""

import json

from tests.conftest import run_python


def test_tiny_run_prints_the_three_reference_rows(tmp_path):
  args = [
    "launch.py",
    "--experiment=evaluator_reference:tiny",
    f"--workdir={tmp_path}",
    "--config.split=train",
  ]
  proc = run_python(args, timeout=900)
  assert "| Real |" in proc.stdout and "| nearest training clip" in proc.stdout
  res = json.loads((tmp_path / "results.json").read_text())
  rows = res["rows"]
  assert len(rows) == 3
  real = rows["Real"]
  nearest = rows["nearest training clip (retrieved by caption)"]
  assert abs(real["fid"]["mean"]) < 1e-4
  # On its own training split the nearest caption is the clip itself (or a clip with the same
  # caption), so the retrieval row scores at least about as well as Real there.
  assert nearest["r_precision_top3"]["mean"] >= real["r_precision_top3"]["mean"] - 0.1
  shuffled = rows["shuffled captions (random test motion per text)"]
  assert abs(shuffled["r_precision_top3"]["mean"] - 3 / 32) < 0.06
  assert "Evaluator reference rows on the train split" in (tmp_path / "results.md").read_text()
