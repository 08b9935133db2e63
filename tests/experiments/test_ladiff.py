"""End-to-end smoke test of ladiff (tiny preset): both methods trained, tables written, rerun."""

import json

import numpy as np

from tests.conftest import run_python


def test_tiny_run_writes_tables_and_resumes(tmp_path):
  args = ["launch.py", "--experiment=ladiff:tiny", f"--workdir={tmp_path}"]
  run_python(args, timeout=600)
  results = json.loads((tmp_path / "results.json").read_text())
  rows = results["results"]
  assert set(rows) == {"Real", "Shuffled texts", "LADiff", "MLD-style fixed latent"}
  for label in ("LADiff", "MLD-style fixed latent"):
    assert len(rows[label]["fid"]["values"]) == 2 and rows[label]["fid"]["mean"] > 1e-6
  table = results["length_table"]
  assert set(table) == {"40", "48", "64"}
  filled = [row for row in table.values() if "Real" in row]
  assert filled, table
  for row in filled:
    for label in ("LADiff", "MLD-style fixed latent"):
      assert row[label]["decoded_length_error"] == 0.0  # decoded at the requested length
      assert 0.0 <= row[label]["moving_fraction"] <= 1.0
      assert 0.0 <= row[label]["r_top1"] <= row[label]["r_top3"] <= 1.0
  # r = 16: LADiff's 8/24/48-frame latents use 1, 2 and 3 tokens; the baseline always all 5.
  assert results["latent_figure"]["active_tokens"] == {
    "LADiff": [1, 2, 3],
    "MLD-style fixed latent": [5],
  }
  assert (tmp_path / "latents_pca.png").stat().st_size > 0
  md = (tmp_path / "results.md").read_text()
  assert "| LADiff |" in md and "| MLD-style fixed latent |" in md and "## Lengths" in md
  for stage in ("lavae", "latent_diffusion", "baseline_vae", "baseline_diffusion"):
    assert (tmp_path / stage / "stage.json").exists()
  # A rerun loads every trained stage: no training step is redone.
  logs = {p: p.read_text() for p in tmp_path.glob("*/*.jsonl")}
  assert len(logs) == 5  # the evaluator and the four stages
  run_python(args, timeout=600)
  assert {p: p.read_text() for p in tmp_path.glob("*/*.jsonl")} == logs
  # The first test captions were exported (LADiff's clips and the real ones).
  entries = json.loads((tmp_path / "samples" / "captions.json").read_text())
  assert len(entries) == 4 and (tmp_path / "samples" / "real" / "clip_000.bvh").exists()
  for e in entries:
    assert np.load(tmp_path / "samples" / f"{e['clip']}.npy").shape == (e["frames"], 263)
  # Generation only: new captions at requested lengths from the trained LADiff, nothing trained.
  gen_args = args + ["--config.generate.texts=a person waves|a figure jumps forward",
                     "--config.generate.lengths=40,24", "--config.generate.out=gen"]  # fmt: skip
  run_python(gen_args, timeout=600)
  out = json.loads((tmp_path / "gen" / "generation.json").read_text())
  assert out["texts"] == ["a person waves", "a figure jumps forward"] and out["lengths"] == [40, 24]
  made = json.loads((tmp_path / "gen" / "captions.json").read_text())
  assert [np.load(tmp_path / "gen" / f"{e['clip']}.npy").shape for e in made] == [
    (40, 263),
    (24, 263),
  ]
  assert {p: p.read_text() for p in logs} == logs  # no stage trained again
  # A config that differs from the training run's is refused, naming the changed key.
  bad = run_python(gen_args + ["--config.vae.model.latent_dim=8"], timeout=600, check=False)
  assert bad.returncode != 0 and "latent_dim" in bad.stderr
