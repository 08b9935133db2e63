"""Tests of the EMA-reset vector quantiser (T2M-GPT / BIGE) and its pure helpers.

Expected values are computed by hand in numpy from the T2M-GPT update rule, independently of the
module: code_sum <- mu code_sum + (1 - mu) sum of assigned encodings, code_count <- mu code_count
+ (1 - mu) assignments, codebook <- code_sum / code_count where code_count >= 1, else a row of the
current batch.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models.quantizers import (
  EMAResetQuantizer,
  _random_rows,
  code_perplexity,
  nearest_codes,
  quantize,
  straight_through,
)


def _brute_nearest(codebook, x):
  """Index of the nearest code by explicit Euclidean distances, numpy."""
  flat = np.asarray(x, np.float64).reshape(-1, codebook.shape[1])
  d = np.linalg.norm(flat[:, None, :] - np.asarray(codebook, np.float64)[None], axis=-1)
  return d.argmin(-1).reshape(np.shape(x)[:-1])


def _state(codebook, code_sum, code_count, initted=True):
  return {
    "codebook": jnp.asarray(codebook, jnp.float32),
    "code_sum": jnp.asarray(code_sum, jnp.float32),
    "code_count": jnp.asarray(code_count, jnp.float32),
    "initted": jnp.asarray(initted, jnp.bool_),
  }


def _train_step(q, state, x, seed=0):
  """One training call of the quantiser; returns (x_q, aux, new 'codebook' collection)."""
  apply = jax.jit(functools.partial(q.apply, train=True, mutable=["codebook"]))
  (x_q, aux), new = apply(
    {"codebook": state}, jnp.asarray(x, jnp.float32), rngs={"sample": jax.random.PRNGKey(seed)}
  )
  return x_q, aux, jax.tree.map(np.asarray, new["codebook"])


def _rows_of(rows, x):
  """For each row of `rows`, the index of the identical row of x [N, D] (-1 when none)."""
  rows, x = np.asarray(rows), np.asarray(x)
  hits = np.all(np.isclose(rows[:, None, :], x[None], rtol=0, atol=1e-6), axis=-1)  # [R, N]
  return np.where(hits.any(-1), hits.argmax(-1), -1)


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def test_nearest_codes_matches_brute_force_argmin():
  rng = np.random.default_rng(0)
  codebook = rng.normal(size=(11, 5)).astype(np.float32)
  x = rng.normal(size=(3, 7, 5)).astype(np.float32)
  got = np.asarray(jax.jit(nearest_codes)(jnp.asarray(codebook), jnp.asarray(x)))
  assert got.shape == (3, 7) and got.dtype == np.int32
  np.testing.assert_array_equal(got, _brute_nearest(codebook, x))
  # A vector sitting on a code maps to it, whatever the other codes' norms.
  scaled = codebook * np.arange(1, 12, dtype=np.float32)[:, None]
  got = jax.jit(nearest_codes)(jnp.asarray(scaled), jnp.asarray(scaled))
  np.testing.assert_array_equal(np.asarray(got), range(11))


def test_quantize_forward_is_nearest_code_and_gradient_is_identity():
  rng = np.random.default_rng(1)
  codebook = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
  x = jnp.asarray(rng.normal(size=(2, 5, 4)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(2, 5, 4)), jnp.float32)
  x_q, idx = jax.jit(quantize)(codebook, x)
  expected_idx = _brute_nearest(np.asarray(codebook), np.asarray(x))
  np.testing.assert_array_equal(np.asarray(idx), expected_idx)
  np.testing.assert_allclose(np.asarray(x_q), np.asarray(codebook)[expected_idx], atol=1e-6)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(w * quantize(codebook, x)[0])))(x)
  np.testing.assert_allclose(np.asarray(grad), np.asarray(w), rtol=0, atol=1e-6)
  # straight_through alone: value of its second argument, gradient of the identity.
  y = jnp.asarray(rng.normal(size=(2, 5, 4)), jnp.float32)
  np.testing.assert_allclose(np.asarray(jax.jit(straight_through)(x, y)), np.asarray(y), atol=1e-6)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(w * straight_through(x, y))))(x)
  np.testing.assert_allclose(np.asarray(grad), np.asarray(w), rtol=0, atol=1e-6)


def test_code_perplexity():
  perplexity = jax.jit(code_perplexity)
  assert float(perplexity(jnp.full((8,), 3.0))) == pytest.approx(8.0, rel=1e-5)
  assert float(perplexity(jnp.array([0.0, 5.0, 0.0, 0.0]))) == pytest.approx(1.0, rel=1e-5)
  # p = (1/4, 1/4, 1/2): entropy 1.5 ln 2, perplexity 2**1.5; unused codes do not count.
  got = float(perplexity(jnp.array([1.0, 0.0, 1.0, 2.0])))
  assert got == pytest.approx(2**1.5, rel=1e-5)


def test_random_rows_without_replacement_and_tiled_with_noise():
  x = jnp.asarray(np.arange(30, dtype=np.float32).reshape(10, 3))
  random_rows = jax.jit(_random_rows, static_argnums=1)
  rows = np.asarray(random_rows(x, 6, jax.random.PRNGKey(0)))
  assert rows.shape == (6, 3)
  which = _rows_of(rows, x)
  assert np.all(which >= 0) and len(set(which)) == 6  # distinct rows of x
  # N < k: every row of x appears, the copies within a small noise of an original row.
  rows = np.asarray(random_rows(x[:3], 8, jax.random.PRNGKey(1)))
  assert rows.shape == (8, 3)
  d = np.abs(rows[:, None, :] - np.asarray(x[:3])[None]).max(-1)  # [8, 3]
  assert np.all(d.min(-1) < 0.05)
  assert set(d.argmin(-1)) == {0, 1, 2}
  assert len(np.unique(rows.round(6), axis=0)) == 8  # noise makes the copies differ


# ---------------------------------------------------------------------------------------------
# EMAResetQuantizer
# ---------------------------------------------------------------------------------------------


def test_initial_state_is_zero_and_not_initted():
  q = EMAResetQuantizer(num_codes=4, code_dim=3)
  init = jax.jit(functools.partial(q.init, train=False))
  variables = init({"sample": jax.random.PRNGKey(0)}, jnp.ones((1, 2, 3)))
  cb = variables["codebook"]
  assert set(variables) == {"codebook"}
  assert not bool(cb["initted"])
  for name in ("codebook", "code_sum", "code_count"):
    assert not np.any(np.asarray(cb[name]))


def test_first_training_batch_initialises_the_codebook_from_its_encodings():
  k, d = 6, 3
  # k distinct, well separated encodings: each becomes one code and is quantised to itself.
  points = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 4], [4, 4, 0], [-4, 0, 4]], np.float32)
  x = points.reshape(2, 3, d)
  q = EMAResetQuantizer(num_codes=k, code_dim=d, mu=0.99)
  init = jax.jit(functools.partial(q.init, train=False))
  init = init({"sample": jax.random.PRNGKey(0)}, jnp.asarray(x))["codebook"]
  x_q, aux, state = _train_step(q, init, x)
  assert bool(state["initted"])
  which = _rows_of(state["codebook"], points)
  assert np.all(which >= 0), "codebook rows are not rows of the first batch"
  assert sorted(which) == list(range(k))  # drawn without replacement
  # Initialised statistics: code_sum = codes, code_count = 1 (one EMA step on top keeps both).
  np.testing.assert_allclose(state["code_count"], np.ones(k), atol=1e-6)
  np.testing.assert_allclose(state["code_sum"], state["codebook"], atol=1e-5)
  np.testing.assert_allclose(np.asarray(x_q), x, atol=1e-5)
  np.testing.assert_allclose(np.asarray(aux["z_q"]), x, atol=1e-5)
  assert float(aux["perplexity"]) == pytest.approx(k, rel=1e-4)
  assert int(aux["dead_codes"]) == 0

  # A second batch is an EMA step on the existing codes, not a fresh initialisation.
  eps = np.random.default_rng(0).uniform(-0.1, 0.1, size=x.shape).astype(np.float32)
  _, _, state2 = _train_step(q, state, x + eps, seed=1)
  flat_eps = eps.reshape(-1, d)
  expected = state["codebook"].copy()
  for code, row in enumerate(_rows_of(state["codebook"], points)):
    expected[code] = 0.99 * points[row] + 0.01 * (points[row] + flat_eps[row])
  np.testing.assert_allclose(state2["codebook"], expected, atol=1e-5)


def _ema_by_hand(codebook, code_sum, code_count, x, mu):
  """One EMA update in numpy (no reset): new sum, new count, new codebook, assignments."""
  flat = np.asarray(x, np.float64).reshape(-1, codebook.shape[1])
  idx = _brute_nearest(codebook, flat)
  batch_sum = np.zeros_like(code_sum, dtype=np.float64)
  batch_count = np.zeros(len(code_count))
  for i, row in zip(idx, flat):
    batch_sum[i] += row
    batch_count[i] += 1
  new_sum = mu * code_sum + (1 - mu) * batch_sum
  new_count = mu * code_count + (1 - mu) * batch_count
  return new_sum, new_count, new_sum / new_count[:, None], idx, batch_count


def test_ema_statistics_match_a_hand_computation():
  mu, k, d = 0.9, 5, 3
  rng = np.random.default_rng(2)
  codebook = rng.normal(size=(k, d)) * 2.0
  code_count = np.array([3.0, 5.0, 2.0, 4.0, 6.0])  # all far above 1: no reset this step
  code_sum = codebook * code_count[:, None] + rng.normal(size=(k, d)) * 0.1
  x = rng.normal(size=(2, 6, d)) * 2.0
  q = EMAResetQuantizer(num_codes=k, code_dim=d, mu=mu)
  _, aux, state = _train_step(q, _state(codebook, code_sum, code_count), x)
  new_sum, new_count, new_codebook, idx, batch_count = _ema_by_hand(
    codebook, code_sum, code_count, x, mu
  )
  assert (batch_count > 0).sum() >= 3  # the batch spreads over several codes
  np.testing.assert_array_equal(np.asarray(aux["indices"]), idx.reshape(2, 6))
  np.testing.assert_allclose(state["code_sum"], new_sum, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(state["code_count"], new_count, rtol=1e-6)
  np.testing.assert_allclose(state["codebook"], new_codebook, rtol=1e-5, atol=1e-5)
  assert bool(state["initted"])
  p = batch_count / batch_count.sum()
  nz = p[p > 0]
  assert float(aux["perplexity"]) == pytest.approx(np.exp(-(nz * np.log(nz)).sum()), rel=1e-4)
  assert int(aux["codes_used"]) == (batch_count > 0).sum()


def test_dead_codes_are_reset_to_batch_rows_and_live_codes_are_not():
  mu, d = 0.9, 2
  codebook = np.array(
    [[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [50.0, 50.0], [-50.0, 50.0], [50.0, -50.0]]
  )
  # Codes 0-1 are used by the batch; code 2 is unused but its count stays >= 1 (0.9 * 1.2), so it
  # is live and keeps its value; codes 3-5 are unused and their counts decay below 1 (dead).
  code_count = np.array([4.0, 2.0, 1.2, 1.1, 0.5, 0.3])
  code_sum = codebook * code_count[:, None]
  rng = np.random.default_rng(3)
  centres = np.array([[0.0, 0.0], [5.0, 0.0]])  # the batch sits on codes 0 and 1 only
  x = (centres[rng.integers(0, 2, size=10)] + rng.uniform(-0.5, 0.5, size=(10, 2))).reshape(2, 5, 2)
  q = EMAResetQuantizer(num_codes=6, code_dim=d, mu=mu)
  _, aux, state = _train_step(q, _state(codebook, code_sum, code_count), x)
  new_sum, new_count, new_codebook, idx, _ = _ema_by_hand(codebook, code_sum, code_count, x, mu)
  assert set(idx) == {0, 1}
  live = new_count >= 1.0
  np.testing.assert_array_equal(live, [True, True, True, False, False, False])
  np.testing.assert_allclose(state["code_count"], new_count, rtol=1e-6)
  np.testing.assert_allclose(state["codebook"][live], new_codebook[live], atol=1e-5)
  np.testing.assert_allclose(state["codebook"][2], codebook[2], atol=1e-5)  # unused, live
  which = _rows_of(state["codebook"][~live], x.reshape(-1, d))
  assert np.all(which >= 0), "dead codes were not reset to rows of the current batch"
  assert len(set(which)) == (~live).sum()  # distinct rows (drawn without replacement)
  assert int(aux["dead_codes"]) == (~live).sum()


def test_module_straight_through_gradient_and_codes_without_gradient():
  k, d = 5, 3
  rng = np.random.default_rng(4)
  codebook = rng.normal(size=(k, d))
  state = _state(codebook, codebook * 4.0, np.full(k, 4.0))
  x = jnp.asarray(rng.normal(size=(2, 4, d)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(2, 4, d)), jnp.float32)
  q = EMAResetQuantizer(num_codes=k, code_dim=d, mu=0.99)

  def out(x, train, key):
    kw = {"mutable": ["codebook"], "rngs": {"sample": jax.random.PRNGKey(0)}} if train else {}
    res = q.apply({"codebook": state}, x, train=train, **kw)
    x_q, aux = res[0] if train else res
    return x_q if key is None else aux[key]

  for train in (False, True):
    grad = jax.jit(jax.grad(lambda x, t=train: jnp.sum(w * out(x, t, None))))(x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(w), rtol=0, atol=1e-6)
    grad_zq = jax.jit(jax.grad(lambda x, t=train: jnp.sum(w * out(x, t, "z_q"))))(x)
    np.testing.assert_array_equal(np.asarray(grad_zq), 0.0)
  # Forward value (eval: the codebook is not updated) is the nearest code.
  x_q, aux = jax.jit(functools.partial(q.apply, train=False))({"codebook": state}, x)
  idx = _brute_nearest(codebook, np.asarray(x))
  np.testing.assert_allclose(np.asarray(x_q), codebook[idx], atol=1e-6)
  np.testing.assert_allclose(np.asarray(aux["z_q"]), codebook[idx], atol=1e-6)
  np.testing.assert_array_equal(np.asarray(aux["indices"]), idx)
  assert int(aux["dead_codes"]) == 0


def test_eval_call_leaves_the_codebook_state_alone():
  k, d = 4, 2
  codebook = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [7.0, 7.0]])
  state = _state(codebook, codebook, np.array([1.0, 1.0, 1.0, 0.2]))
  q = EMAResetQuantizer(num_codes=k, code_dim=d)
  apply = jax.jit(functools.partial(q.apply, train=False, mutable=["codebook"]))
  _, new = apply({"codebook": state}, jnp.ones((1, 3, d)))
  for name, value in state.items():
    np.testing.assert_array_equal(np.asarray(new["codebook"][name]), np.asarray(value))


def test_codes_of_a_step_are_looked_up_before_that_steps_update():
  """T2M-GPT dequantises with the codebook as it was before `update_codebook`: a code that this
  batch uses but that the update resets still hands its old value to its encodings."""
  q = EMAResetQuantizer(num_codes=2, code_dim=2, mu=0.99)
  state = _state([[0.0, 0.0], [10.0, 10.0]], [[0.0, 0.0], [5.0, 5.0]], [5.0, 0.5])
  x = np.array([[[0.1, 0.0], [0.0, 0.2], [-0.1, 0.1], [9.0, 9.0]]], np.float32)
  x_q, aux, new = _train_step(q, state, x, seed=1)
  np.testing.assert_allclose(np.asarray(aux["z_q"])[0, 3], [10.0, 10.0])  # the old code
  np.testing.assert_allclose(np.asarray(x_q)[0, 3], [10.0, 10.0], atol=1e-6)
  np.testing.assert_allclose(np.asarray(aux["z_q"])[0, :3], 0.0)
  # ...while the update itself resets that code (EMA count 0.99 * 0.5 + 0.01 < 1) to a batch row.
  assert new["code_count"][1] < 1.0
  assert _rows_of(new["codebook"][1:2], x[0])[0] >= 0
