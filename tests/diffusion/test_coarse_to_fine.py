"""KinMo's coarse-to-fine re-mask-and-refine decoding (`motion_jax.diffusion.coarse_to_fine`)
with hand-made logits functions."""

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion import coarse_to_fine as c2f
from motion_jax.diffusion import masked

K = 8  # codebook size


def _random_logits(ids, cond, level, keep, valid):
  """Logits that depend on the condition, the level and the visible tokens (so every level and
  every refinement can change the prediction)."""
  b, n = ids.shape
  pos = jnp.arange(n)[None, :, None]
  code = jnp.arange(K)[None, None, :]
  base = jnp.sin(0.7 * pos * (code + 1) + cond[:, :1, None] * 3.0 + level[:, None, None])
  vis = jnp.where(ids < K, ids, 0).sum(-1)[:, None, None].astype(jnp.float32)
  return 4.0 * base * keep[:, None, None] + 0.1 * jnp.cos(vis + code)


def test_keep_most_confident_keeps_exactly_the_most_confident():
  conf = jnp.asarray([[0.9, 0.1, 0.5, 0.7, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
  cand = jnp.asarray([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]], bool)
  keep = np.asarray(c2f.keep_most_confident(conf, cand, 0.5))
  # row 0: 5 candidates -> round(2.5) = 2 (banker's rounding) kept: 0.9 and 0.7
  assert keep[0].tolist() == [True, False, False, True, False, False]
  # row 1: 4 candidates -> 2 kept: the two most confident candidates (0.4, 0.3), never a
  # non-candidate even if more confident
  assert keep[1].tolist() == [False, False, True, True, False, False]
  assert not np.asarray(c2f.keep_most_confident(conf, cand, 0.0)).any()
  assert (np.asarray(c2f.keep_most_confident(conf, cand, 1.0)) == np.asarray(cand)).all()


def _decode(schedule, known=None, known_mask=None, levels=(0, 1, 2)):
  b, n = 3, 12
  lengths = jnp.asarray([12, 9, 5])
  valid = jnp.arange(n)[None] < lengths[:, None]
  conds = [jnp.full((b, 4), 0.3 * (i + 1)) for i in range(len(levels))]
  return c2f.decode(_random_logits, conds, levels, valid, jax.random.PRNGKey(0), schedule, K,
                    known, known_mask), valid  # fmt: skip


def test_each_level_keeps_exactly_the_configured_fraction_bit_for_bit():
  schedule = c2f.LevelSchedule(steps=(4, 3, 2), keep_fraction=(0.0, 0.5, 0.75), guidance_scale=2.0)
  (ids, trace), valid = _decode(schedule)
  valid = np.asarray(valid)
  counts = valid.sum(-1)
  tids, kept = np.asarray(trace.ids), np.asarray(trace.kept)
  assert tids.shape == (3, 3, 12) and (np.asarray(ids) == tids[-1]).all()
  assert not kept[0].any()
  for lv, frac in ((1, 0.5), (2, 0.75)):
    assert kept[lv].sum(-1).tolist() == np.round(frac * counts).astype(int).tolist()
    assert not (kept[lv] & ~valid).any()
    # kept tokens come back bit-identical from the previous level
    assert (tids[lv][kept[lv]] == tids[lv - 1][kept[lv]]).all()
  # codes inside the length, [PAD] past it
  final = np.asarray(ids)
  assert (final[valid] < K).all() and (final[~valid] == K + 1).all()


def test_kept_tokens_are_the_most_confident_of_the_previous_level():
  schedule = c2f.LevelSchedule(steps=(3, 2, 2), keep_fraction=(0.0, 0.4, 0.4), guidance_scale=1.0)
  (_, trace), valid = _decode(schedule, levels=(0, 1))
  # recompute level 0 with its confidence: the same key split as `decode`
  b, n = valid.shape
  _, k = jax.random.split(jax.random.PRNGKey(0))

  def fn(x, text, keep, v):
    return _random_logits(x, text, jnp.zeros((x.shape[0],), jnp.int32), keep, v)

  ids0, conf0 = masked.decode_base(fn, jnp.full((b, 4), 0.3), valid, k, schedule.level_config(0),
                                   K, return_confidence=True)  # fmt: skip
  assert (np.asarray(ids0) == np.asarray(trace.ids[0])).all()
  conf0, kept = np.asarray(conf0), np.asarray(trace.kept[1])
  for row in range(b):
    v = np.asarray(valid[row])
    assert conf0[row][kept[row]].min() >= conf0[row][v & ~kept[row]].max()


def test_full_keep_is_a_no_op_and_known_tokens_survive_every_level():
  (ids, trace), valid = _decode(c2f.LevelSchedule(steps=(3, 2, 2), keep_fraction=(0.0, 1.0, 1.0)))
  assert (np.asarray(trace.ids[0]) == np.asarray(ids)).all()
  known = jnp.full((3, 12), 5, jnp.int32)
  known_mask = jnp.zeros((3, 12), bool).at[:, ::3].set(True)
  (ids, trace), valid = _decode(
    c2f.LevelSchedule(steps=(3, 2, 2), keep_fraction=(0.0, 0.0, 0.5)), known, known_mask
  )
  fixed = np.asarray(known_mask & valid)
  for lv in range(3):
    assert (np.asarray(trace.ids[lv])[fixed] == 5).all()
  # keep_fraction 0 at level 1: nothing from level 0 is kept (only the caller's tokens)
  assert not np.asarray(trace.kept[1]).any()
  # level 2 keeps half of the *free* tokens (known ones are not candidates)
  free = (np.asarray(valid) & ~fixed).sum(-1)
  assert np.asarray(trace.kept[2]).sum(-1).tolist() == np.round(0.5 * free).astype(int).tolist()
