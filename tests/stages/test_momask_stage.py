"""MoMask stage: both transformers learn a text -> token mapping with the shared loop, and the
iterative decoder returns it; the residual layer pick covers 1..Q-1; frame masks become token
masks."""

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion import masked
from motion_jax.models.momask import TokenTransformerConfig
from motion_jax.stages import momask as stage
from motion_jax.train.loop import LoopConfig
from motion_jax.train.optim import OptimConfig

K, Q, N, F = 16, 3, 8, 6


def _task():
  rng = np.random.default_rng(0)
  texts = rng.normal(size=(2, F)).astype(np.float32)
  base = rng.integers(0, K, size=(2, N))
  codes = np.stack([base, (base + 3) % K, (base * 5 + 1) % K], -1).astype(np.int32)  # [2, N, Q]

  def batch_fn(step):
    pick = np.random.default_rng(step).integers(0, 2, size=16)
    return {"codes": codes[pick], "valid": np.ones((16, N), bool), "text": texts[pick]}

  return texts, codes, batch_fn


def test_transformers_learn_and_decoder_returns_the_mapping(tmp_path):
  texts, codes, batch_fn = _task()
  t = TokenTransformerConfig(latent_dim=32, num_layers=1, num_heads=2, ff_dim=64, dropout=0.0)
  cfg = stage.MoMaskStageConfig(
    transformer=t,
    residual=t,
    optim=OptimConfig(learning_rate=3e-3, warmup_steps=5),
    loop=LoopConfig(num_steps=150, log_every=50, checkpoint_every=0),
  )
  pb = stage.train_base(cfg, batch_fn, K, tmp_path / "base", seed=0)
  pr = stage.train_residual(cfg, batch_fn, K, Q, tmp_path / "res", seed=0)
  base, res = stage.make_base_model(cfg, K), stage.make_residual_model(cfg, K, Q)

  def base_fn(ids, text, keep, valid):
    return base.apply({"params": pb}, ids, text, keep, valid)

  def res_fn(c, layer, text, keep, valid):
    return res.apply({"params": pr}, c, layer, text, keep, valid)

  dcfg = masked.DecodeConfig(temperature=0.0)
  out = masked.decode(base_fn, res_fn, jnp.asarray(texts), jnp.ones((2, N), bool),
                      jax.random.PRNGKey(0), dcfg, K, Q)  # fmt: skip
  acc = np.mean(np.asarray(out) == codes, axis=(0, 1))  # per layer
  assert (acc >= 0.9).all(), acc


def test_residual_layer_pick_covers_layers():
  j = np.asarray(stage.residual_layers(jax.random.PRNGKey(0), 5000, 6))
  assert set(j.tolist()) == {1, 2, 3, 4, 5}
  assert np.asarray(stage.residual_layers(jax.random.PRNGKey(0), 100, 2)).tolist() == [1] * 100


def test_frames_to_token_mask():
  frames = np.zeros((1, 10), bool)
  frames[0, :5] = True
  frames[0, 8:] = True
  np.testing.assert_array_equal(stage.frames_to_token_mask(frames), [[True, False, False]])


def test_generator_inpainting_keeps_the_given_tokens_bit_for_bit():
  from motion_jax.data.text_motion import features as tf_lib
  from motion_jax.models.rvq import RVQConfig
  from motion_jax.models.vqvae import VQVAEConfig
  from motion_jax.stages import rvq as rvq_stage

  c = 23  # 12 J - 1 with J = 2
  rvq_cfg = rvq_stage.RVQStageConfig(
    model=RVQConfig(vq=VQVAEConfig(width=8, code_dim=4, num_codes=K, depth=1), num_quantizers=Q)
  )
  rvq_model = rvq_stage.make_model(rvq_cfg, c)
  rvq_vars = rvq_stage.init_variables(rvq_model, 32)
  books = jax.random.normal(jax.random.PRNGKey(3), (Q, K, 4))
  for i in range(Q):  # distinct codes, so that the encoded tokens vary
    rvq_vars["codebook"]["quantizer"][f"layer_{i}"]["codebook"] = books[i]
  t = TokenTransformerConfig(latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, dropout=0.0)
  cfg = stage.MoMaskStageConfig(transformer=t, residual=t)
  base, res = stage.make_base_model(cfg, K), stage.make_residual_model(cfg, K, Q)
  b, n = 1, 8
  text, keep, valid = jnp.ones((b, F)), jnp.ones((b,), bool), jnp.ones((b, n), bool)
  pb = base.init(jax.random.PRNGKey(0), jnp.zeros((b, n), jnp.int32), text, keep, valid)
  layer = jnp.ones((b,), jnp.int32)
  pr = res.init(jax.random.PRNGKey(1), jnp.zeros((b, n, Q), jnp.int32), layer, text, keep, valid)
  pb, pr = pb["params"], pr["params"]
  texts = ["a person walks", "a person jumps"]
  feats = tf_lib.TextFeatures(
    [tf_lib.sentence_key(s) for s in texts], np.zeros((2, 1, F), np.float32), np.ones((2, 1)),
    np.random.default_rng(0).normal(size=(2, F)).astype(np.float32),
  )  # fmt: skip
  gen = stage.Generator(rvq_model, rvq_vars, pb, pr, cfg, feats, np.zeros(c), np.ones(c),
                        max_frames=32, chunk=2)  # fmt: skip
  rng = np.random.default_rng(1)
  motions = [
    rng.normal(size=(32, c)).astype(np.float32),
    rng.normal(size=(24, c)).astype(np.float32),
  ]
  keep = [np.arange(32) < 8, (np.arange(24) < 4) | (np.arange(24) >= 20)]  # prefix; both ends
  out, codes, token_mask = gen.inpaint(texts, motions, keep, jax.random.PRNGKey(0))
  assert [len(o) for o in out] == [32, 24]
  np.testing.assert_array_equal(token_mask[0], np.arange(8) < 2)
  np.testing.assert_array_equal(token_mask[1], (np.arange(8) < 1) | (np.arange(8) == 5))
  padded = np.zeros((2, 32, c), np.float32)
  padded[0], padded[1, :24] = motions[0], motions[1]
  known = gen.encode(padded)
  assert len(np.unique(known[token_mask])) > 1
  np.testing.assert_array_equal(codes[token_mask], known[token_mask])
