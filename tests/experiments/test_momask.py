"""End-to-end smoke test of momask (tiny preset): RVQ, transformers, generation, evaluation, the
editing demo; then generation only from that trained workdir (lengths, the `length` override,
refusals)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from experiments import momask
from motion_jax.config import from_dict
from tests.conftest import run_python


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A workdir trained and evaluated once with the tiny preset (shared by this file's tests)."""
  workdir = tmp_path_factory.mktemp("momask_tiny")
  run_python(["launch.py", "--experiment=momask:tiny", f"--workdir={workdir}"], timeout=900)
  return workdir


def _config(**kw) -> momask.Config:
  c = from_dict(momask.Config, momask.get_config("tiny"))
  return replace(c, **kw)


def _stage_markers(workdir) -> dict:
  names = ("rvq", "momask_base", "momask_residual", "momask_length")
  return {n: (workdir / n / "stage.json").read_text() for n in names}


def test_tiny_run_writes_results(trained):
  tmp_path = trained
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["kind"] == "generator" and results["seed"] == 0
  rows = results["results"]
  label = "momask rvq3 steps3 s=4/5"
  assert set(rows) == {"Real", "Shuffled texts", label, "momask rvq3 steps3 s=0/0"}
  gen = rows[label]
  for k in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_dist"):
    assert len(gen[k]["values"]) == 2  # one per repeat
  tops = [gen[f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
  assert all(0 <= r <= 1 for r in tops) and tops == sorted(tops)
  assert rows["Real"]["fid"]["mean"] < 1e-6 < gen["fid"]["mean"]
  assert "multimodality" in gen and "multimodality" not in rows["Real"]
  assert results["headline"]["r_precision_top3_chance"] == pytest.approx(3 / 32)
  mpjpe = results["rvq_mpjpe_mm"]
  assert len(mpjpe) == 3 and all(math.isfinite(v) and v > 0 for v in mpjpe)
  md = (tmp_path / "results.md").read_text()
  assert f"| {label} |" in md and "| Real |" in md and "MPJPE" in md
  le = results["length_estimator"]
  assert 0 <= le["exact"] <= le["within_one"] <= 1 and le["mae_frames"] >= 0
  for name in ("rvq", "momask_base", "momask_residual", "momask_length"):
    assert (tmp_path / name / "stage.json").exists()
  assert (tmp_path / "rvq" / "rvq.jsonl").exists()
  logged = [json.loads(line) for line in (tmp_path / "rvq" / "rvq.jsonl").read_text().splitlines()]
  assert any("perplexity_2" in r and "codes_used_0" in r for r in logged)
  assert set(results["plausibility"]["rows"]) == {"Real", label, "momask rvq3 steps3 s=0/0"}
  assert "Physical plausibility" in md
  entries = json.loads((tmp_path / "samples" / "captions.json").read_text())
  assert len(entries) == 4 and (tmp_path / "samples" / f"{entries[0]['clip']}.bvh").exists()


def test_editing_demo_keeps_the_source_frames_and_is_linked(trained):
  edit_dir = trained / "samples" / "editing"
  edits = json.loads((edit_dir / "edits.json").read_text())
  n = edits["frames"]
  assert n % 4 == 0 and n >= 16 and edits["edit_caption"] != edits["source_caption"]
  kept = edits["kept_frames"]
  assert kept == {
    "first half kept": [[0, n // 2]],
    "second half kept": [[n // 2, n]],
    "middle regenerated": [[0, n // 4], [n - n // 4, n]],
  }
  entries = json.loads((edit_dir / "captions.json").read_text())
  assert [e["frames"] for e in entries] == [n] * 4
  assert entries[0]["caption"] == f"source: {edits['source_caption']}"
  assert all(e["caption"].endswith(edits["edit_caption"]) for e in entries[1:])
  for e in entries:
    assert (edit_dir / f"{e['clip']}.gif").stat().st_size > 0
    assert (edit_dir / f"{e['clip']}.bvh").exists()
  src, first, second = (np.load(edit_dir / f"clip_00{i}.npy") for i in range(3))
  # Edited frames differ from the source where they were regenerated.
  assert not np.allclose(first[n // 2 :], src[n // 2 :])
  assert not np.allclose(second[: n // 2], src[: n // 2])
  assert "samples/editing/index.md" in (trained / "results.md").read_text()
  assert json.loads((trained / "results.json").read_text())["edits"]["frames"] == n


def test_generate_only_from_the_trained_workdir(trained):
  before = _stage_markers(trained)
  results_before = (trained / "results.json").read_text()
  # The command line: two captions x 2 samples at given lengths (30 -> 28: whole 4-frame tokens).
  run_python(
    [
      "launch.py",
      "--experiment=momask:tiny",
      f"--workdir={trained}",
      "--config.generate.texts=a person walks forward | a person jumps twice",
      "--config.generate.lengths=24,30",
      "--config.generate.samples=2",
    ],
    timeout=600,
  )
  made = json.loads((trained / "generated" / "captions.json").read_text())
  assert [e["frames"] for e in made] == [24, 24, 28, 28]
  assert made[0]["caption"] == "a person walks forward"
  assert made[3]["caption"] == "a person jumps twice"
  assert all((trained / "generated" / f"{e['clip']}.gif").exists() for e in made)
  record = json.loads((trained / "generated" / "generation.json").read_text())
  assert record["lengths"] == [24, 24, 28, 28] and record["seed"] == 0
  assert record["texts"][1] == "a person walks forward" and record["seconds"] > 0
  assert record["config"]["generate"]["samples"] == 2
  # launch.py records the generation's config beside the clips; the training config is kept.
  assert json.loads((trained / "config.json").read_text())["generate"]["texts"] == ""
  assert json.loads((trained / "generated" / "config.json").read_text())["generate"]["samples"] == 2
  a, b = (np.load(trained / "generated" / f"clip_00{i}.npy") for i in (0, 1))
  assert not np.allclose(a[:24], b[:24])  # two samples of one caption differ
  # `length` > 0: every clip has that many frames.
  g = _config().generate
  out = momask.run(
    _config(length=32, generate=replace(g, texts="a person waves", samples=3, out="fixed")),
    str(trained),
  )
  assert out["lengths"] == [32, 32, 32]
  made = json.loads((trained / "fixed" / "captions.json").read_text())
  assert [e["frames"] for e in made] == [32, 32, 32]
  # No lengths and length 0: the length estimator's, whole tokens within max_length.
  out = momask.run(_config(generate=replace(g, texts="a person waves", samples=4, out="est")),
                   str(trained))  # fmt: skip
  made = json.loads((trained / "est" / "captions.json").read_text())
  assert [e["frames"] for e in made] == out["lengths"]
  assert all(n % 4 == 0 and 4 <= n <= 64 for n in out["lengths"])
  with pytest.raises(ValueError, match="shorter than one token"):
    momask.run(_config(generate=replace(g, texts="a person waves", lengths="2")), str(trained))
  # Another model config is refused by name; nothing was retrained or re-evaluated.
  other = _config(generate=replace(g, texts="a person waves"))
  other = replace(other, model=replace(other.model, batch_size=3))
  with pytest.raises(ValueError, match=r"model\.batch_size.*trained with"):
    momask.run(other, str(trained))
  assert _stage_markers(trained) == before
  assert (trained / "results.json").read_text() == results_before


def test_generate_without_training_says_train_first(tmp_path):
  g = _config().generate
  with pytest.raises(FileNotFoundError, match="no finished stage.*Train first"):
    momask.run(_config(generate=replace(g, texts="a person waves")), str(tmp_path))
  assert not (tmp_path / "dataset").exists()  # refused before building any data


def test_length_override_and_length_sources():
  def predict():
    return np.array([3, 20, 5])  # token counts

  true = [40, 100, 12]
  assert momask.clip_lengths(_config(), 3, true, predict).tolist() == [40, 64, 12]
  assert momask.clip_lengths(_config(), 3, None, predict).tolist() == [12, 64, 20]
  predicted = _config(length_source="predicted")
  assert momask.clip_lengths(predicted, 3, true, predict).tolist() == [12, 64, 20]
  for c in (_config(length=32), replace(predicted, length=32)):
    assert momask.clip_lengths(c, 3, true, predict).tolist() == [32, 32, 32]
  for bad in (30, 2, 68, -4):
    with pytest.raises(ValueError, match="length must be 0"):
      _config(length=bad)


def test_bad_length_source_is_rejected(tmp_path):
  args = ["launch.py", "--experiment=momask:tiny", f"--workdir={tmp_path}",
          "--config.length_source=oracle"]  # fmt: skip
  proc = run_python(args, check=False, timeout=300)
  assert proc.returncode != 0 and "length_source must be one of" in proc.stderr
