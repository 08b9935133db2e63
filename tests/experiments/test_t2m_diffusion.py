"""End-to-end smoke test of t2m_diffusion (tiny preset): train, sample, evaluate, rerun."""

import json
from dataclasses import replace

import jax
import numpy as np
import pytest

from experiments import t2m_diffusion
from motion_jax.config import from_dict
from motion_jax.data.formats.bvh import read_bvh
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.stages import evaluator as ev_lib
from motion_jax.stages import text_data
from tests.conftest import run_python
from tests.experiments.conftest import assert_other_width_refused


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


def test_moclip_student_drops_in(moclip_students, tmp_path):
  """Sec. 4.3: the MiniLM-trained denoiser is fine-tuned on a MoCLIP student's token states and
  evaluated with them (+MoCLIP row); a student of another width is refused by name before any
  fine-tuning; generation encodes new captions with the student into its own cache."""
  c = from_dict(t2m_diffusion.Config, t2m_diffusion.get_config("tiny"))
  c = replace(c, denoiser="mdm", eval=replace(c.eval, compare_unguided=False),
              generate=replace(c.generate, export_clips=0))  # fmt: skip
  assert_other_width_refused(t2m_diffusion.run, c, moclip_students, tmp_path, "denoiser", "mdm")
  spec = f"moclip:{moclip_students['minilm']}"
  c = replace(c, text_encoder=spec)
  out = t2m_diffusion.run(c, str(tmp_path))  # the MiniLM denoiser is reused, then fine-tuned
  label = "mdm +MoCLIP dpmpp_2m_sde-3 s=2.5"
  assert out["method"] == label and set(out["results"]) == {"Real", "Shuffled texts", label}
  (tuned,) = tmp_path.glob("mdm_moclip_*")
  steps = [
    json.loads(r)["step"] for r in (tuned / f"{tuned.name}.jsonl").read_text().splitlines() if r
  ]
  assert steps[-1] == c.text_finetune.num_steps
  # The denoiser reads the student's token states (its own cache), not MiniLM's.
  choice = text_data.text_encoder_choice(spec)
  generator, _ = t2m_diffusion.load_trained(c, tmp_path)
  assert generator.features.encoder == choice.name
  minilm = tf_lib.load_text_features(tmp_path / t2m_diffusion.FEATURES_FILE)
  pairs = ev_lib.eval_pairs(tmp_path, replace(c.evaluator, data=c.data), split=c.eval.split)
  caption = pairs.captions[0][0]
  used, mask = generator.features.lookup([caption], generator.caption_tokens)
  states, _ = minilm.lookup([caption], generator.caption_tokens)
  assert mask.sum() > 0 and not np.allclose(used, states, atol=1e-2)
  np.testing.assert_allclose(
    generator.features.sentence_embeddings([caption]), choice.encoder()([caption])[2], atol=1e-3
  )
  # A caption outside the dataset is encoded by the student into the student's cache.
  new = "a person waves both hands"
  (clip,) = generator.generate([new], [16], jax.random.PRNGKey(0), steps=2)
  assert clip.shape[0] == 16 and np.isfinite(clip).all()
  assert tf_lib.sentence_key(new) in tf_lib.load_text_features(tmp_path / choice.filename).index
  assert tf_lib.sentence_key(new) not in minilm.index
