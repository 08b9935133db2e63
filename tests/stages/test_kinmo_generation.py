"""KinMo generation stage: plain conditions, the level-conditioned loss, the generator's
coarse-to-fine decoding and group editing with a tiny untrained model and RVQ."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.guidance import trajectory
from motion_jax.models.momask import TokenTransformerConfig
from motion_jax.stages import kinmo_generation as stage
from motion_jax.stages import rvq as rvq_stage

T = TokenTransformerConfig(latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, dropout=0.0)


class _Feats:
  """Sentence embeddings keyed by text (zeros for "")."""

  def __init__(self, texts):
    self.table = {t: np.eye(8, dtype=np.float32)[i] for i, t in enumerate(texts)}

  def sentence_embeddings(self, sentences):
    arr = np.asarray(sentences, object)
    out = [self.table.get(s, np.zeros(8, np.float32)) if s else np.zeros(8, np.float32)
           for s in arr.ravel()]  # fmt: skip
    return np.asarray(out).reshape(arr.shape + (8,))


def test_plain_conditions_average_the_present_descriptions():
  feats = _Feats(["cap", "g1", "g2", "i1"])
  batch = stage.text_batch(["cap"], [("g1", "g2", "")], [("i1", "")], motion_dim=4)
  cond = stage.plain_conditions(feats)(batch)
  assert cond.shape == (1, 3, 8)
  np.testing.assert_allclose(cond[0, 0], np.eye(8)[0])
  np.testing.assert_allclose(cond[0, 1], 0.5 * (np.eye(8)[1] + np.eye(8)[2]))  # "" not counted
  np.testing.assert_allclose(cond[0, 2], np.eye(8)[3])


@pytest.mark.parametrize("sampling", ["random", "all"])
def test_loss_is_finite_under_both_level_samplings(sampling):
  cfg = stage.KinMoGenerationStageConfig(transformer=T, level_sampling=sampling)
  model = stage.make_model(cfg, 12)
  b, n = 4, 6
  batch = {
    "codes": jax.random.randint(jax.random.PRNGKey(0), (b, n, 1), 0, 12),
    "valid": jnp.arange(n)[None] < jnp.asarray([6, 5, 3, 2])[:, None],
    "cond": jax.random.normal(jax.random.PRNGKey(1), (b, 3, 8)),
  }
  params = model.init(
    jax.random.PRNGKey(2),
    batch["codes"][..., 0],
    batch["cond"][:, 0],
    jnp.zeros((b,), jnp.int32),
    jnp.ones((b,), bool),
    batch["valid"],
  )["params"]
  rngs = {"sample": jax.random.PRNGKey(3), "dropout": jax.random.PRNGKey(4)}
  for levels in (1, 3):
    total, (terms, _) = stage.make_loss_fn(model, cfg, levels)(params, {}, batch, rngs)
    assert np.isfinite(float(total)) and 0 <= float(terms["accuracy"]) <= 1


def _generator():
  rcfg = rvq_stage.RVQStageConfig()
  rcfg = replace(rcfg, model=replace(
    rcfg.model, vq=replace(rcfg.model.vq, width=16, code_dim=8, num_codes=12, depth=1),
    num_quantizers=2,
  ))  # fmt: skip
  dim = 263
  rvq = rvq_stage.make_model(rcfg, dim)
  variables = rvq_stage.init_variables(rvq, 16)
  cfg = stage.KinMoGenerationStageConfig(
    transformer=T, decode=stage.CoarseToFineSettings(steps=(3, 2, 2), keep_fraction=(0, .5, .25)),
    edit=stage.EditSettings(fraction=0.5, steps=2),
  )  # fmt: skip
  model = stage.make_model(cfg, 12)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 4), jnp.int32), jnp.zeros((1, 8)),
                      jnp.zeros((1,), jnp.int32), jnp.ones((1,), bool),
                      jnp.ones((1, 4), bool))["params"]  # fmt: skip
  gen = stage.CoarseToFineGenerator(rvq, variables, params, cfg, np.zeros(dim), np.ones(dim),
                                    max_frames=32, chunk=4)  # fmt: skip
  return gen, dim


def test_generator_walks_the_levels_and_edits_keep_the_other_tokens():
  gen, dim = _generator()
  conds = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (3, 3, 8)))
  lengths = [32, 20, 9]
  motions, ids, trace = gen.generate(conds, lengths, jax.random.PRNGKey(6))
  assert [m.shape for m in motions] == [(32, dim), (20, dim), (9, dim)]
  ntok = np.asarray([8, 5, 3])
  assert trace.kept.shape == (3, 3, 8)
  assert trace.kept[1].sum(-1).tolist() == np.round(0.5 * ntok).astype(int).tolist()
  assert trace.kept[2].sum(-1).tolist() == np.round(0.25 * ntok).astype(int).tolist()
  edited = conds.copy()
  edited[:, 1] = -edited[:, 1]
  for selection in stage.EDIT_SELECTIONS:
    s = replace(gen.cfg.edit, selection=selection)
    joints = np.zeros((3, 22), bool)
    joints[:, [13, 16, 18, 20]] = True  # left arm
    out, new_ids, regen = gen.edit_group(
      ids, conds, edited, lengths, jax.random.PRNGKey(7), s, joints
    )
    valid = np.arange(8)[None] < ntok[:, None]
    assert regen.sum(-1).tolist() == (ntok - np.round(0.5 * ntok)).astype(int).tolist()
    assert not (regen & ~valid).any()
    np.testing.assert_array_equal(new_ids[~regen], ids[~regen])  # bit-identical (PAD included)
    assert [m.shape[0] for m in out] == lengths


def test_control_signal_is_the_joint_trajectory_per_token():
  from motion_jax.representations import humanml3d

  rng = np.random.default_rng(0)
  raw = rng.normal(0, 0.1, (2, 8, 263)).astype(np.float32)
  frames = np.arange(8)[None] < np.asarray([8, 5])[:, None]
  sig = stage.control_signal(raw, frames, "left_wrist", 4)
  assert sig.shape == (2, 2, 12)
  j = np.asarray(humanml3d.recover_from_ric(raw, check_finite=False))[:, :, 20]
  np.testing.assert_allclose(sig[0].reshape(8, 3), j[0], atol=1e-5)
  assert (sig[1].reshape(8, 3)[5:] == 0).all()


def test_control_branch_trains_and_steers_generation(tmp_path):
  gen, dim = _generator()
  cfg = replace(gen.cfg, loop=replace(gen.cfg.loop, num_steps=2, log_every=1, checkpoint_every=0),
                control=stage.ControlStageConfig(joint="pelvis", num_steps=2, learning_rate=1e-2),
                batch_size=2)  # fmt: skip
  b, n = 2, 8

  def batch_fn(step):
    key = jax.random.PRNGKey(step)
    return {
      "codes": np.asarray(jax.random.randint(key, (b, n, 2), 0, 12)),
      "valid": np.ones((b, n), bool),
      "cond": np.asarray(jax.random.normal(key, (b, 3, 8))),
      "control": np.asarray(jax.random.normal(key, (b, n, 12))),
    }

  ctl = stage.train_control(cfg, batch_fn, 12, 3, gen.params, tmp_path, seed=0)
  assert set(ctl) >= {"control_in", "layer_0", "zero_0"}
  # after training the branch is no longer zero: controlled generation differs
  gen.control_params = ctl
  conds = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (2, 3, 8)))
  _, ids_a, _ = gen.generate(conds, [32, 32], jax.random.PRNGKey(1))
  signal = 5.0 * np.ones((2, 8, 12), np.float32)
  off = trajectory.SpatialGuidanceConfig(steps=0)
  _, ids_b, _ = gen.generate(conds, [32, 32], jax.random.PRNGKey(1), control=signal, spatial=off)
  assert ids_b.shape == ids_a.shape and (ids_a != ids_b).any()


def test_spatial_guidance_moves_the_joint_onto_its_target_and_keeps_the_tokens():
  from motion_jax.representations import humanml3d

  gen, dim = _generator()
  q = gen.rvq_variables["codebook"]["quantizer"]  # untrained codebooks are all zero: fill them
  for i, name in enumerate(sorted(q)):
    q[name]["codebook"] = np.asarray(jax.random.normal(jax.random.PRNGKey(i), (12, 8)))
  gen.mean = np.zeros(dim, np.float32)
  gen.mean[3] = 0.9  # root height
  conds = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (2, 3, 8)))
  lengths = [32, 20]
  # a reachable target: the pelvis trajectory the decoder gives to other tokens
  other = np.asarray(gen.decode_codes(gen.rvq_variables, jnp.asarray([[3] * 8, [7, 1] * 4])))
  other = other * gen.std + gen.mean
  frames = np.arange(32)[None] < np.asarray(lengths)[:, None]
  signal = stage.control_signal(other, frames, "pelvis", 4)
  target = signal.reshape(2, 32, 3)

  def error(motions):
    return [np.linalg.norm(
      np.asarray(humanml3d.recover_from_ric(m, check_finite=False))[:, 0] - target[i, : len(m)],
      axis=-1).mean() for i, m in enumerate(motions)]  # fmt: skip

  key = jax.random.PRNGKey(1)
  free, ids_free, _ = gen.generate(conds, lengths, key)
  assert gen.last_spatial_distance is None
  cfg = trajectory.SpatialGuidanceConfig(steps=60, learning_rate=0.05)
  guided, ids, _ = gen.generate(conds, lengths, key, control=signal, branch=False, spatial=cfg)
  np.testing.assert_array_equal(ids, ids_free)  # guidance acts after the tokens are chosen
  assert [m.shape for m in guided] == [(32, dim), (20, dim)]
  before, after = error(free), error(guided)
  assert all(a < b / 3 for a, b in zip(after, before, strict=True)), (before, after)
  d = gen.last_spatial_distance
  assert d.shape == (61,) and d[-1] < d[0] / 3


def test_group_change_scores_the_tokens_where_only_the_group_moves():
  rng = np.random.default_rng(1)
  before = rng.normal(0, 0.05, (1, 12, 263)).astype(np.float32)
  after = before.copy()
  wrist = 4 + (20 - 1) * 3  # RIC block: joint j at 4 + 3 (j - 1)
  after[0, 4:8, wrist : wrist + 3] += 0.3  # token 1: the left wrist alone moves 0.3 sqrt(3) m
  knee = 4 + (4 - 1) * 3
  after[0, 8:12, knee : knee + 3] += 0.3  # token 2: a joint of another group moves
  g = np.zeros((1, 22), bool)
  g[0, [13, 16, 18, 20]] = True
  score = stage.token_group_change(before, after, g, 4)[0]
  assert score[1] == pytest.approx(0.3 * np.sqrt(3) / 4, rel=1e-4)  # mean over 4 arm joints
  assert abs(score[0]) < 1e-6 and score[2] < 0


def test_preservation_guidance_moves_the_edit_toward_its_composite_target():
  gen, dim = _generator()
  q = gen.rvq_variables["codebook"]["quantizer"]
  for i, name in enumerate(sorted(q)):
    q[name]["codebook"] = np.asarray(jax.random.normal(jax.random.PRNGKey(i), (12, 8)))
  gen.mean = np.zeros(dim, np.float32)
  gen.mean[3] = 0.9
  lengths = np.asarray([32, 24])
  ids = np.asarray([[3] * 8, [7, 1] * 4], np.int32)
  new_ids = ids.copy()
  new_ids[:, 2:5] = [[5, 9, 2], [0, 11, 4]]  # an edit that re-decoded three tokens
  group = np.zeros((2, 22), bool)
  group[:, [13, 16, 18, 20]] = True  # left arm
  before = [x[:n] for x, n in zip(gen.decode_ids(ids), lengths, strict=True)]
  plain = [x[:n] for x, n in zip(gen.decode_ids(new_ids), lengths, strict=True)]
  cfg = trajectory.SpatialGuidanceConfig(steps=200, learning_rate=0.05)
  equal = gen.preserve_others(ids, new_ids, group, lengths, cfg, balance=False)
  balanced = gen.preserve_others(ids, new_ids, group, lengths, cfg)
  assert [k.shape for k in balanced] == [(32, dim), (24, dim)]
  others = [j for j in range(1, 22) if not group[0, j]]
  arm = [13, 16, 18, 20]

  def points(raw):  # pelvis-relative joints and the pelvis' global position [T, 23, 3]
    return np.asarray(trajectory.keep_points(jnp.asarray(raw, jnp.float32)[None]))[0]

  def dist(a, b, idx):
    return np.linalg.norm(points(a)[:, idx] - points(b)[:, idx], axis=-1).mean()

  for b, p, e, k in zip(before, plain, equal, balanced, strict=True):
    # composite target: the other joints and the pelvis as before the edit, the arm as edited
    def composite(x, b=b, p=p):
      return (dist(x, b, [*others, 22]) * 18 + dist(x, p, arm) * 4) / 22

    assert composite(e) < 0.6 * composite(p)
    assert dist(e, b, [*others, 22]) < 0.6 * dist(p, b, [*others, 22])
    # balancing the weights keeps more of the edit on the arm
    assert dist(k, p, arm) < dist(e, p, arm)
