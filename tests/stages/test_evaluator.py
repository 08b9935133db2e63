"""The frozen evaluator stage: train-if-missing, cache, sanity numbers, bad input.

One tiny evaluator (tiny preset: a 180-clip procedural dataset, 60 steps) is trained per module;
the bad-input checks use an untrained hand-built one.
"""

import dataclasses

import numpy as np
import pytest

from experiments import presets
from motion_jax.metrics import generation as g
from motion_jax.stages import evaluator as ev_lib


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("evaluator")
  cfg = presets.evaluator("tiny")
  cfg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, num_steps=60), batch_size=16)
  evaluator = ev_lib.ensure_evaluator(workdir, cfg)
  pairs = ev_lib.eval_pairs(workdir, cfg, split="train")
  return workdir, cfg, evaluator, pairs


def test_trained_evaluator_is_cached_and_passes_sanity_checks(trained, monkeypatch):
  """One test (not several) so that pytest-xdist does not train the module fixture twice."""
  workdir, cfg, evaluator, pairs = trained
  from motion_jax.train import loop as loop_lib

  # 1. A second ensure_evaluator reloads the cached weights instead of retraining.
  def no_training(**kw):
    raise AssertionError("ensure_evaluator retrained a cached evaluator")

  with monkeypatch.context() as m:
    m.setattr(loop_lib, "train", no_training)
    again = ev_lib.ensure_evaluator(workdir, cfg)
  motions = list(pairs.motions[:5])
  np.testing.assert_allclose(
    again.embed_motions(motions), evaluator.embed_motions(motions), atol=1e-6
  )
  texts = [c[0] for c in pairs.captions[:5]]
  e = again.embed_texts(texts)
  np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
  np.testing.assert_allclose(e, evaluator.embed_texts(texts), atol=1e-6)
  # Another config is another evaluator: it is trained anew (here: stopped at the first call).
  other = dataclasses.replace(cfg, latent_dim=cfg.latent_dim * 2)
  with monkeypatch.context() as m:
    m.setattr(loop_lib, "train", no_training)
    with pytest.raises(AssertionError, match="retrained"):
      ev_lib.ensure_evaluator(workdir, other)

  # 2. Sanity numbers: real-vs-real FID 0, shuffled pairs at chance, real pairs above it.
  real = g.evaluate_generator(evaluator, None, pairs, num_repeats=20, diversity_pairs=100)
  assert abs(real["fid"]["mean"]) < 1e-4  # the same set: FID = 0
  rng = np.random.default_rng(0)

  def shuffled(texts):  # motions unrelated to the texts
    return [pairs.motions[int(i)] for i in rng.integers(len(pairs), size=len(texts))]

  bad = g.evaluate_generator(
    evaluator, shuffled, pairs, num_repeats=20, diversity_pairs=100, multimodality_eval=False
  )
  for k in (1, 2, 3):
    assert abs(bad[f"r_precision_top{k}"]["mean"] - k / 32) < 0.03
  # Even a 60-step evaluator ranks the real pairs far above chance on its training clips.
  assert real["r_precision_top3"]["mean"] > 3 / 32 + 0.15
  assert real["mm_dist"]["mean"] < bad["mm_dist"]["mean"]
  # FID of two disjoint halves of the real motions is small next to that of frozen motions (each
  # clip's first pose held still).
  n = len(pairs) // 2
  emb = evaluator.embed_motions(list(pairs.motions))
  halves = g.fid(emb[:n], emb[n:])
  frozen = evaluator.embed_motions([np.repeat(m[:1], len(m), 0) for m in pairs.motions[n:]])
  assert halves < 0.5 * g.fid(emb[:n], frozen)


def _untrained_evaluator():
  import jax

  from motion_jax.data.text_motion import features as tf_lib
  from motion_jax.models.tmr import TMR, TMRConfig

  model = TMR(TMRConfig.tiny(motion_features=263, text_features=4))
  x, t = np.zeros((1, 8, 263), np.float32), np.zeros((1, 3, 4), np.float32)
  params = model.init(
    {"params": jax.random.PRNGKey(0), "sample": jax.random.PRNGKey(1)},
    t,
    np.ones((1, 3), bool),
    x,
    np.ones((1, 8), bool),
  )["params"]
  feats = tf_lib.TextFeatures(
    [tf_lib.sentence_key("a person walks")],
    np.ones((1, 3, 4)),
    np.ones((1, 3), bool),
    np.ones((1, 4), np.float32) / 2,
  )
  return ev_lib.Evaluator(
    model,
    params,
    np.zeros(263),
    np.ones(263),
    max_length=64,
    min_frames=40,
    caption_tokens=8,
    features=feats,
  )


def test_bad_inputs_raise_clear_errors():
  evaluator = _untrained_evaluator()
  rng = np.random.default_rng(0)
  pairs = g.TextMotionPairs(
    tuple(rng.standard_normal((50, 263)).astype(np.float32) for _ in range(32)),
    (("a person walks",),) * 32,
  )
  m = pairs.motions[0]
  assert evaluator.embed_motions([m, m[:45]]).shape == (2, 16)
  assert evaluator.embed_texts(["a person walks"]).shape == (1, 16)
  with pytest.raises(ValueError, match="fewer than the evaluator's minimum of 40 frames"):
    evaluator.embed_motions([m[:20]])
  with pytest.raises(ValueError, match="empty motion list"):
    evaluator.embed_motions([])
  with pytest.raises(ValueError, match=r"expected shape \[T, 263\]"):
    evaluator.embed_motions([m[:, :100]])
  with pytest.raises(ValueError, match="one \\[T, F\\] array"):
    evaluator.embed_motions(m)
  with pytest.raises(ValueError, match="NaN"):
    evaluator.embed_motions([np.full_like(m, np.nan)])
  with pytest.raises(ValueError, match="empty caption list"):
    evaluator.embed_texts([])
  with pytest.raises(ValueError, match="caption 1 is empty"):
    evaluator.embed_texts(["a person walks", "  "])
  with pytest.raises(KeyError, match="not in the evaluator's text features"):
    evaluator.embed_texts(["an unseen caption"])
  with pytest.raises(ValueError, match="fewer than the evaluator's minimum"):
    g.evaluate_generator(
      evaluator,
      lambda texts: [x[:10] for x in pairs.motions[: len(texts)]],
      pairs,
      num_repeats=1,
      diversity_pairs=10,
      multimodality_eval=False,
    )
