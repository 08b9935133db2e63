"""End-to-end smoke test of the moclip experiment (tiny preset): the shared frozen stage, the
lambda runs and the frozen-text baseline, retrieval + forgetting columns, and a cached rerun."""

import json

import pytest

from tests.conftest import run_python


def test_tiny_run_writes_sweep_and_reruns_from_cache(tmp_path):
  args = ["launch.py", "--experiment=moclip:tiny", f"--workdir={tmp_path}"]
  run_python(args, timeout=900)
  results = json.loads((tmp_path / "results.json").read_text())
  runs = results["runs"]
  assert set(runs) == {"frozen_text", "lambda_0", "lambda_0.4", "naive_10ep"}
  assert results["schedule"] == {
    "num_steps": 6,
    "unfreeze_step": 4,
    "unfreeze": "all",
    "shared_frozen_stage": True,
    "shared_frozen_stages": {"advanced": 4, "naive": 5},
  }
  naive = runs["naive_10ep"]
  assert naive["variant"] == "naive" and naive["unfreeze_step"] == 5
  assert naive["distill_weight"] == 0 and naive["alignment_weight"] == 0
  for run in runs.values():
    for protocol in ("all", "small_batches"):
      m = run["retrieval"][protocol]
      for d in ("t2m", "m2t"):
        recalls = [m[f"{d}/R@{k}"] for k in (1, 2, 3)]
        assert all(0 <= r <= 100 for r in recalls) and recalls == sorted(recalls)
  # Student lr 0: the student is the teacher, bit for bit; the unfrozen runs drift from it.
  assert runs["frozen_text"]["forgetting"]["mean_cosine"] == pytest.approx(1.0, abs=1e-6)
  for name in ("lambda_0", "lambda_0.4"):
    assert runs[name]["forgetting"]["mean_cosine"] < 1.0 - 1e-4
  assert runs["lambda_0.4"]["distill_weight"] == 0.4
  md = (tmp_path / "results.md").read_text()
  assert "| lambda = 0.4 | all |" in md and "student-teacher cos" in md
  # Each run resumed from the shared frozen stage: its metrics start after the unfreeze step.
  rows = [
    json.loads(line)
    for line in (tmp_path / "lambda_0" / "lambda_0.jsonl").read_text().splitlines()
    if line
  ]
  assert [r["step"] for r in rows] == [6]
  # A rerun loads every finished run (no step redone) and reproduces the table.
  run_python(args, timeout=900)
  again = json.loads((tmp_path / "results.json").read_text())
  for name, run in runs.items():
    assert again["runs"][name]["retrieval"] == run["retrieval"]
  rows_again = (tmp_path / "lambda_0" / "lambda_0.jsonl").read_text().splitlines()
  assert len([r for r in rows_again if r]) == 1


def test_student_drops_into_momask(tmp_path):
  """Sec. 4.3: MoMask fine-tuned on a MiniLM student's sentence embeddings (tiny sizes otherwise,
  two training seeds: the drop-in uses the first); a student of another width is refused with the
  reason."""
  moclip = tmp_path / "moclip"
  run_python(
    ["launch.py", "--experiment=moclip:tiny", f"--workdir={moclip}",
     "--config.model.text_encoder=minilm", "--config.distill_weights=(0.4,)",
     "--config.baseline=False", "--config.naive_unfrozen_epochs=()", "--config.seeds=2"],
    timeout=900,
  )  # fmt: skip
  trained = json.loads((moclip / "results.json").read_text())
  assert trained["seeds"] == [0, 1] and (moclip / "lambda_0.4_seed1").is_dir()
  r1 = trained["runs"]["lambda_0.4"]["aggregate"]["retrieval"]["all"]["t2m/R@1"]
  assert len(r1["values"]) == 2 and r1["ci95"] >= 0
  assert " ± " in (moclip / "results.md").read_text()
  gen = tmp_path / "momask"
  spec = f"--config.text_encoder=moclip:{moclip}@lambda_0.4"
  run_python(["launch.py", "--experiment=momask:tiny", f"--workdir={gen}", spec], timeout=900)
  out = json.loads((gen / "results.json").read_text())
  assert out["method"].startswith("momask +MoCLIP")
  tuned = sorted(p.name for p in gen.glob("momask_*_moclip_*"))
  assert [t.split("_moclip_")[0] for t in tuned] == [
    "momask_base",
    "momask_length",
    "momask_residual",
  ]
  for name in tuned:  # fine-tuned from the MiniLM-trained stage, for text_finetune.num_steps
    steps = [
      json.loads(r)["step"] for r in (gen / name / f"{name}.jsonl").read_text().splitlines() if r
    ]
    assert steps[-1] == 2
  # The evaluator's MiniLM cache and the student's cache are separate files.
  assert (gen / "text_features.npz").exists() and list(gen.glob("text_features_moclip_*.npz"))


def test_bad_sweep_is_rejected(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=moclip:tiny",
      f"--workdir={tmp_path}",
      "--config.model.unfreeze=middle",
    ],
    check=False,
    timeout=300,
  )
  assert proc.returncode != 0 and "unfreeze" in proc.stderr
