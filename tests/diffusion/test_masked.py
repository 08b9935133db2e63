"""MoMask's masking and iterative decoding (motion_jax.diffusion.masked), measured on batches."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion import masked
from motion_jax.models.momask import MaskTransformer, ResidualTransformer, TokenTransformerConfig

K, Q = 1024, 3


def test_corruption_follows_cosine_schedule_and_10_88_rule():
  b, n = 4000, 200
  tokens = jax.random.randint(jax.random.PRNGKey(0), (b, n), 0, K)
  lengths = jnp.concatenate([jnp.full((b // 2,), n), jnp.full((b // 2,), 150)])
  valid = jnp.arange(n)[None] < lengths[:, None]
  inputs, corrupted = masked.corrupt(jax.random.PRNGKey(1), tokens, valid, K)
  inputs, corrupted, tokens, valid = map(np.asarray, (inputs, corrupted, tokens, valid))
  assert not corrupted[~valid].any() and (inputs[~valid] == K + 1).all()
  assert (inputs[valid & ~corrupted] == tokens[valid & ~corrupted]).all()
  ratio = corrupted.sum(1) / valid.sum(1)
  assert ratio.min() > 0  # at least one token per sequence
  # ratio = cos(pi tau / 2), tau ~ U(0, 1): its q-quantile is cos(pi (1 - q) / 2).
  q = (np.arange(b) + 0.5) / b
  assert np.max(np.abs(np.sort(ratio) - np.cos(np.pi * (1 - q) / 2))) < 0.02
  assert abs(ratio.mean() - 2 / np.pi) < 0.01
  c = corrupted
  is_mask = c & (inputs == K)
  is_random = c & (inputs != K) & (inputs != tokens)
  is_same = c & (inputs == tokens)
  total = c.sum()
  assert abs(is_random.sum() / total - 0.1 * (1 - 1 / K)) < 0.005
  assert abs(is_mask.sum() / total - 0.9 * 0.88) < 0.005
  assert abs(is_same.sum() / total - (0.9 * 0.12 + 0.1 / K)) < 0.005


def test_top_k_keeps_ten_percent():
  logits = jax.random.normal(jax.random.PRNGKey(0), (3, 5, 100))
  kept = np.isfinite(np.asarray(masked.top_k_filter(logits, 0.9))).sum(-1)
  assert (kept == math.ceil(0.1 * 100)).all()


def _models(key=0):
  cfg = TokenTransformerConfig(latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, dropout=0.0)
  base, res = MaskTransformer(cfg, K), ResidualTransformer(cfg, K, Q)
  b, n, f = 3, 6, 8
  ids = jnp.zeros((b, n), jnp.int32)
  text, keep, valid = jnp.ones((b, f)), jnp.ones((b,), bool), jnp.ones((b, n), bool)
  pb = base.init(jax.random.PRNGKey(key), ids, text, keep, valid)
  pr = res.init(jax.random.PRNGKey(key + 1), jnp.zeros((b, n, Q), jnp.int32), jnp.ones((b,),
                jnp.int32), text, keep, valid)  # fmt: skip

  def base_fn(ids, text, keep, valid):
    return base.apply(pb, ids, text, keep, valid)

  def res_fn(codes, layer, text, keep, valid):
    return res.apply(pr, codes, layer, text, keep, valid)

  return base_fn, res_fn


def test_cfg_scale_one_is_conditional_and_zero_unconditional():
  base_fn, _ = _models()
  b, n = 3, 6
  ids = jax.random.randint(jax.random.PRNGKey(2), (b, n), 0, K)
  text = jax.random.normal(jax.random.PRNGKey(3), (b, 8))
  valid = jnp.ones((b, n), bool)

  def both(keep):
    return base_fn(jnp.concatenate([ids, ids]), jnp.concatenate([text, text]), keep,
                   jnp.concatenate([valid, valid]))  # fmt: skip

  cond = base_fn(ids, text, jnp.ones((b,), bool), valid)
  uncond = base_fn(ids, text, jnp.zeros((b,), bool), valid)
  assert float(jnp.max(jnp.abs(cond - uncond))) > 1e-3  # the text matters
  np.testing.assert_allclose(masked.guided_logits(both, b, 1.0), cond, atol=1e-5)
  np.testing.assert_allclose(masked.guided_logits(both, b, 0.0), uncond, atol=1e-5)
  g4 = masked.guided_logits(both, b, 4.0)
  np.testing.assert_allclose(g4, uncond + 4 * (cond - uncond), atol=1e-4)


def test_all_known_tokens_come_back_unchanged_and_inpainting_is_exact():
  base_fn, res_fn = _models()
  b, n = 3, 6
  text = jax.random.normal(jax.random.PRNGKey(3), (b, 8))
  valid = jnp.arange(n)[None] < jnp.array([6, 4, 5])[:, None]
  known = jax.random.randint(jax.random.PRNGKey(4), (b, n, Q), 0, K)
  cfg = masked.DecodeConfig()
  codes = masked.decode(base_fn, res_fn, text, valid, jax.random.PRNGKey(5), cfg, K, Q, known,
                        jnp.ones((b, n), bool))  # fmt: skip
  v = np.asarray(valid)
  np.testing.assert_array_equal(np.asarray(codes)[v], np.asarray(known)[v])
  # Inpainting: prefix and suffix given, the middle regenerated.
  given = jnp.zeros((b, n), bool).at[:, :2].set(True).at[:, -1].set(True)
  codes = np.asarray(masked.decode(base_fn, res_fn, text, valid, jax.random.PRNGKey(6), cfg, K,
                                   Q, known, given))  # fmt: skip
  g = np.asarray(given) & v
  np.testing.assert_array_equal(codes[g], np.asarray(known)[g])
  free = v & ~np.asarray(given)
  assert (codes[free] != np.asarray(known)[free]).any()  # the rest was generated
  assert ((codes >= 0) & (codes < K)).all()


def test_decoding_recovers_what_a_confident_model_predicts():
  """A 'model' whose logits point at a target sequence: every unknown token ends at the target,
  positions past the length are [PAD]."""
  b, n = 4, 8
  target = jax.random.randint(jax.random.PRNGKey(7), (b, n), 0, K)
  traces = []

  def base_fn(ids, text, keep, valid):
    traces.append(1)
    t = jnp.concatenate([target, target])
    return 10.0 * jax.nn.one_hot(t, K) * keep[:, None, None]

  valid = jnp.arange(n)[None] < jnp.array([8, 5, 1, 3])[:, None]
  fn = jax.jit(lambda text, key: masked.decode_base(base_fn, text, valid, key,
                                                    masked.DecodeConfig(), K))  # fmt: skip
  ids = np.asarray(fn(jnp.ones((b, 4)), jax.random.PRNGKey(0)))
  v = np.asarray(valid)
  np.testing.assert_array_equal(ids[v], np.asarray(target)[v])
  assert (ids[~v] == K + 1).all()
  # No recompile for new prompts and keys of the same shapes.
  fn(jnp.zeros((b, 4)), jax.random.PRNGKey(1))
  assert len(traces) == 1
