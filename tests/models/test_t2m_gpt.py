"""T2M-GPT: the key/value cache reproduces the full causal pass (logits, greedy and sampled
tokens), the cached sampler compiles once, End ends the motion."""

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion import autoregressive as ar
from motion_jax.models.t2m_gpt import T2MGPT, GPTConfig, init_cache

K, F, B = 20, 6, 3
CFG = GPTConfig(num_layers=2, dim=32, num_heads=4, block_size=13, dropout=0.1)
MAX = CFG.block_size - 1


def _model():
  m = T2MGPT(CFG, K)
  text = jax.random.normal(jax.random.PRNGKey(1), (B, F))
  ids = jax.random.randint(jax.random.PRNGKey(2), (B, MAX), 0, K)
  params = m.init(jax.random.PRNGKey(0), text, ids)["params"]
  return m, params, text, ids


def _fns(m, params):
  def step_fn(text, prev, cache, pos):
    return m.apply({"params": params}, text, prev, cache, pos, method=T2MGPT.step)

  def full_fn(text, ids):
    return m.apply({"params": params}, text, ids)

  return step_fn, full_fn


def test_cached_steps_equal_the_full_causal_pass():
  m, params, text, ids = _model()
  step_fn, full_fn = _fns(m, params)
  full = full_fn(text, ids)  # [B, MAX + 1, K + 1]
  cache = init_cache(CFG, B)
  prev = jnp.zeros((B,), jnp.int32)
  for t in range(MAX + 1):
    logits, cache = step_fn(text, prev, cache, t)
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-4, atol=1e-4)
    if t < MAX:
      prev = ids[:, t]
  # Causality: changing a later token leaves earlier logits unchanged.
  full2 = full_fn(text, ids.at[:, 5].set((ids[:, 5] + 1) % K))
  np.testing.assert_allclose(full2[:, :6], full[:, :6], rtol=1e-5, atol=1e-5)
  assert float(jnp.max(jnp.abs(full2[:, 6:] - full[:, 6:]))) > 1e-4


def test_kv_cache_tokens_equal_no_cache_tokens_and_compile_once():
  m, params, text, _ = _model()
  step_fn, full_fn = _fns(m, params)
  traces = []

  def counted(*a):
    traces.append(1)
    return step_fn(*a)

  for cfg in (ar.ARConfig(temperature=0.0), ar.ARConfig(temperature=1.0, top_k=5)):
    cached = jax.jit(lambda text, key, cfg=cfg: ar.sample_cached(
      counted, init_cache(CFG, B), text, key, cfg, K, MAX))  # fmt: skip
    full = jax.jit(lambda text, key, cfg=cfg: ar.sample_full(full_fn, text, key, cfg, K, MAX))
    for seed in range(2):
      key = jax.random.PRNGKey(10 + seed)
      t1, l1 = cached(text, key)
      t2, l2 = full(text, key)
      np.testing.assert_array_equal(t1, t2)
      np.testing.assert_array_equal(l1, l2)
      assert t1.shape == (B, MAX + 1)
      for b in range(B):  # End fills everything from the length on, never before it
        assert (np.asarray(t1[b, l1[b] :]) == K).all() and (np.asarray(t1[b, : l1[b]]) < K).all()
      assert (np.asarray(l1) >= 1).all()
  assert len(traces) == 2  # one trace per config, none for new keys / prompts


def test_end_token_sets_the_length():
  def step_fn(text, prev, cache, pos):  # End from position 4 on
    logits = jnp.zeros((B, K + 1)).at[:, 3].set(5.0)
    return jnp.where(pos >= 4, logits.at[:, K].set(10.0), logits), cache

  tokens, lengths = ar.sample_cached(step_fn, (), jnp.zeros((B, F)), jax.random.PRNGKey(0),
                                     ar.ARConfig(temperature=0.0), K, MAX)  # fmt: skip
  assert np.asarray(lengths).tolist() == [4] * B
  assert (np.asarray(tokens[:, :4]) == 3).all() and (np.asarray(tokens[:, 4:]) == K).all()


def test_end_is_not_sampled_before_min_tokens():
  def step_fn(text, prev, cache, pos):  # End always the most likely
    return jnp.zeros((B, K + 1)).at[:, K].set(10.0).at[:, 2].set(1.0), cache

  cfg = ar.ARConfig(temperature=0.0, min_tokens=5)
  tokens, lengths = ar.sample_cached(step_fn, (), jnp.zeros((B, F)), jax.random.PRNGKey(0), cfg,
                                     K, MAX)  # fmt: skip
  assert np.asarray(lengths).tolist() == [5] * B
  assert (np.asarray(tokens[:, :5]) == 2).all()


def test_forced_length_gives_exactly_the_target_token_count_and_compiles_once():
  m, params, text, _ = _model()
  step_fn, full_fn = _fns(m, params)
  traces = []

  def counted(*a):
    traces.append(1)
    return step_fn(*a)

  cfg = ar.ARConfig(temperature=1.0, min_tokens=4)
  cached = jax.jit(lambda text, key, target: ar.sample_cached(
    counted, init_cache(CFG, B), text, key, cfg, K, MAX, target))  # fmt: skip
  full = jax.jit(lambda text, key, target: ar.sample_full(full_fn, text, key, cfg, K, MAX, target))
  key = jax.random.PRNGKey(3)
  free_tokens, free_lengths = ar.sample_cached(step_fn, init_cache(CFG, B), text, key, cfg, K, MAX)
  for target in ([1, 0, MAX], [2, 7, 0], [MAX, 3, 5]):  # below min_tokens, free, the maximum
    target = jnp.asarray(target, jnp.int32)
    tokens, lengths = cached(text, key, target)
    t = np.asarray(target)
    lengths, tokens = np.asarray(lengths), np.asarray(tokens)
    np.testing.assert_array_equal(lengths[t > 0], t[t > 0])
    for b in range(B):
      assert (tokens[b, : lengths[b]] < K).all() and (tokens[b, lengths[b] :] == K).all()
      if t[b] == 0:  # a free row samples as without a target
        assert lengths[b] == free_lengths[b]
        np.testing.assert_array_equal(tokens[b], free_tokens[b])
    t2, l2 = full(text, key, target)
    np.testing.assert_array_equal(t2, tokens)
    np.testing.assert_array_equal(l2, lengths)
  assert len(traces) == 1  # new lengths reuse the compiled sampler


def test_forced_length_overrides_the_model_and_top_k():
  def step_fn(text, prev, cache, pos):  # End always the most likely
    return jnp.zeros((B, K + 1)).at[:, K].set(10.0).at[:, 2].set(1.0), cache

  target = jnp.asarray([6, 1, MAX], jnp.int32)
  for cfg in (ar.ARConfig(temperature=0.0), ar.ARConfig(temperature=1.0, top_k=1)):
    tokens, lengths = ar.sample_cached(step_fn, (), jnp.zeros((B, F)), jax.random.PRNGKey(0),
                                       cfg, K, MAX, target)  # fmt: skip
    assert np.asarray(lengths).tolist() == [6, 1, MAX]
    assert (np.asarray(tokens[0, :6]) == 2).all() and (np.asarray(tokens[0, 6:]) == K).all()
