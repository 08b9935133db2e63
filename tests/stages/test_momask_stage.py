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
