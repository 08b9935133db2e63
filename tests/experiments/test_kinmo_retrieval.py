"""End-to-end smoke test of kinmo_retrieval (tiny preset, the full-hierarchy variant), plus rerun
and bad input."""

import json

from motion_jax.data.text_motion import features as tf_lib
from tests.conftest import run_python


def test_tiny_run_writes_table_and_resumes(tmp_path):
  args = [
    "launch.py",
    "--experiment=kinmo_retrieval:tiny",
    f"--workdir={tmp_path}",
    "--config.variants=interaction",
  ]
  run_python(args, timeout=600)
  results = json.loads((tmp_path / "results.json").read_text())
  assert set(results["variants"]) == {"interaction"}
  full = results["variants"]["interaction"]
  # Retrieval with [mu_c; mu_g; mu_i] (sec. 4.1); cross-attention before the encoders (eqs. 5-6).
  assert full["main_level"] == "concat" and full["cross_attention"]
  assert full["alignment"] == "pre" and results["descriptions"].startswith("oracle, reasoner")
  # The reasoner stand-in: texts from the training split, scored against the oracle ones.
  agree = results["reasoner"]["agreement"]
  assert 0 <= agree["groups"]["exact"] <= 1 and agree["groups"]["slots"] > 0
  assert set(full["descriptions"]) == {"oracle", "reasoner"}
  assert full["descriptions"]["oracle"]["main"] == full["main"]
  one = full["seeds"]["reasoner"]["all"]["t2m/R@1"]
  assert one["values"] == [full["descriptions"]["reasoner"]["main"]["all"]["t2m/R@1"]]
  assert set(full["per_level"]) == {"global", "group", "interaction"}
  for variant in results["variants"].values():
    for protocol in ("all", "all_threshold", "dissimilar", "small_batches"):
      m = variant["main"][protocol]
      for d in ("t2m", "m2t"):
        recalls = [m[f"{d}/R@{k}"] for k in (1, 2, 3, 5, 10)]
        assert all(0 <= r <= 100 for r in recalls) and recalls == sorted(recalls)
        assert m[f"{d}/MedR"] >= 1
  # threshold protocol counts more candidates as correct: never worse than (a)
  assert full["main"]["all_threshold"]["t2m/R@1"] >= full["main"]["all"]["t2m/R@1"]
  assert results["protocols"]["test_pairs"] == results["dataset"]["examples"]["test"]
  md = (tmp_path / "results.md").read_text()
  assert "| (3) + interaction (full) |" in md and "(a) all test pairs (oracle descriptions)" in md
  assert "**Oracle descriptions**" in md and "**Reasoner descriptions**" in md
  assert "(a) all test pairs (reasoner descriptions)" in md
  assert "(d) batches of 8" in md
  assert (tmp_path / "losses.png").stat().st_size > 5_000
  feats = tf_lib.load_text_features(tmp_path / "text_features.npz")
  assert len(feats) == results["dataset"]["distinct_sentences"] > 50
  assert (tmp_path / "interaction" / "stage.json").exists()
  # A rerun reloads the finished variant (no step redone) and the cached text features.
  mtime = (tmp_path / "text_features.npz").stat().st_mtime_ns
  run_python(args, timeout=600)
  rows = [
    json.loads(line)
    for line in (tmp_path / "interaction" / "align_interaction.jsonl").read_text().splitlines()
    if line
  ]
  assert [r["step"] for r in rows] == [3, 6]
  # Per-level TMR terms are logged (KinMo sec. 3.3): reconstruction, KL, embedding, InfoNCE.
  for lv in ("global", "group", "interaction"):
    for term in ("reconstruction", "kl", "latent", "contrastive"):
      assert f"{lv}_{term}" in rows[-1]
  assert (tmp_path / "text_features.npz").stat().st_mtime_ns == mtime
  again = json.loads((tmp_path / "results.json").read_text())
  assert again["variants"]["interaction"]["main"] == full["main"]


def test_unknown_variant_is_rejected(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=kinmo_retrieval:tiny",
      f"--workdir={tmp_path}",
      "--config.variants=global,bogus",
    ],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "unknown variants" in proc.stderr


def test_seed_aggregate_is_student_t():
  from experiments.kinmo_retrieval import _row
  from motion_jax.reports.bige import seed_summary as _aggregate

  out = _aggregate([{"a": 1.0}, {"a": 3.0}])["a"]
  # n = 2: t(0.975, 1) = 12.706, std(ddof=1) = sqrt(2), half-width = 12.706 * sqrt(2) / sqrt(2).
  assert out["mean"] == 2.0 and abs(out["ci95"] - 12.7062) < 1e-3 and out["values"] == [1.0, 3.0]
  assert _aggregate([{"a": 5.0}])["a"]["ci95"] == 0.0
  keys = [f"{d}/R@{k}" for d in ("t2m", "m2t") for k in (1, 2, 3, 5, 10)]
  metrics = _aggregate([{**{k: 1.0 for k in keys}, "t2m/MedR": 2, "m2t/MedR": 3}] * 2)
  assert _row("x", metrics)[1] == "1.00 ± 0.00"
