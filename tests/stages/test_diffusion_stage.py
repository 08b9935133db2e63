"""The diffusion stage: its loss trains the denoiser, and the Generator returns raw motions at the
requested lengths, deterministic per key."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.data.text_motion.features import TextFeatures, sentence_key
from motion_jax.models.denoiser_common import TextConditionerConfig
from motion_jax.stages import diffusion as stage
from motion_jax.train.loop import LoopConfig

F, FT, T = 6, 8, 16
TEXT = TextConditionerConfig(width=16, num_layers=1, num_heads=2, ff_dim=32)
CFG = stage.DiffusionStageConfig(
  mdm=dataclasses.replace(
    stage.DiffusionStageConfig().mdm, latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, text=TEXT
  ),
  loop=LoopConfig(num_steps=60, log_every=20, checkpoint_every=0, ema_decay=0.0),
  batch_size=8,
)


def _batch(step, b=8):
  rng = np.random.default_rng(step)
  lengths = rng.integers(8, T + 1, b)
  mask = np.arange(T)[None] < lengths[:, None]
  phase = rng.uniform(0, 2 * np.pi, (b, 1, 1))
  motion = np.sin(np.linspace(0, 3, T)[None, :, None] + phase) * np.ones((1, 1, F))
  return {
    "motion": (motion * mask[..., None]).astype(np.float32),
    "mask": mask,
    "global_tokens": rng.standard_normal((b, 4, FT)).astype(np.float32),
    "global_mask": np.ones((b, 4), bool),
  }


def test_loss_is_finite_and_training_lowers_it(tmp_path):
  model = stage.make_model(CFG, "mdm", F)
  params = stage.train(CFG, _batch, model, tmp_path, seed=0)
  loss_fn = stage.make_loss_fn(model, stage.make_schedule(CFG), CFG)
  init = model.init(
    jax.random.PRNGKey(0),
    jnp.asarray(_batch(0)["motion"]),
    jnp.zeros(8, jnp.int32),
    jnp.asarray(_batch(0)["global_tokens"]),
    jnp.asarray(_batch(0)["global_mask"]),
    jnp.ones(8, bool),
    jnp.asarray(_batch(0)["mask"]),
  )["params"]

  def mean_loss(p):
    out = []
    for i in range(8):
      keys = jax.random.split(jax.random.PRNGKey(100 + i), 3)
      rngs = dict(zip(("dropout", "noise", "sample"), keys))
      loss, (terms, _) = loss_fn(p, {}, jax.tree.map(jnp.asarray, _batch(1000 + i)), rngs)
      assert set(terms) == {"simple", "velocity"} and np.isfinite(float(loss))
      out.append(float(loss))
    return np.mean(out)

  assert mean_loss(params) < 0.7 * mean_loss(init)


def test_bad_denoiser_and_geometric_terms_without_humanml3d():
  with pytest.raises(ValueError, match="denoiser"):
    stage.make_model(CFG, "gan", F)
  cfg = dataclasses.replace(CFG, loss=dataclasses.replace(CFG.loss, positions=1.0))
  with pytest.raises(ValueError, match="263"):
    stage.make_loss_fn(stage.make_model(cfg, "mdm", F), stage.make_schedule(cfg), cfg)


def test_generator_lengths_raw_units_and_keys():
  model = stage.make_model(CFG, "mdm", F)
  b = _batch(0)
  params = model.init(
    jax.random.PRNGKey(0), b["motion"], jnp.zeros(8, jnp.int32), b["global_tokens"],
    b["global_mask"], jnp.ones(8, bool), b["mask"],
  )["params"]  # fmt: skip
  texts = ["a person walks", "someone jumps"]
  rng = np.random.default_rng(0)
  feats = TextFeatures(
    [sentence_key(t) for t in texts],
    rng.standard_normal((2, 4, FT)).astype(np.float32),
    np.ones((2, 4), bool),
    np.zeros((2, FT), np.float32),
  )
  mean, std = np.full(F, 10.0, np.float32), np.full(F, 0.001, np.float32)
  gen = stage.Generator(
    model, params, CFG, feats, mean, std, max_frames=T, caption_tokens=4, chunk=4
  )
  key = jax.random.PRNGKey(3)
  out = gen.generate(texts * 3, [5, 16, 9, 12, 7, 8], key, steps=4)
  assert [len(m) for m in out] == [5, 16, 9, 12, 7, 8] and out[0].shape[1] == F
  assert all(abs(float(m.mean()) - 10.0) < 0.05 for m in out)  # de-normalised
  again = gen.generate(texts * 3, [5, 16, 9, 12, 7, 8], key, steps=4)
  np.testing.assert_array_equal(out[3], again[3])
  other = gen.generate(texts * 3, [5, 16, 9, 12, 7, 8], jax.random.PRNGKey(4), steps=4)
  assert float(np.abs(other[3] - out[3]).max()) > 0
  with pytest.raises(ValueError, match="lengths"):
    gen.generate(texts, [5, T + 1], key)
  with pytest.raises(KeyError):
    gen.generate(["unknown caption"], [5], key)


def test_mdm_geometric_terms_on_humanml3d_features():
  """Positions / foot contact / velocity (MDM eqs. 2-4) on 263-dim features: finite, weighted in."""
  from motion_jax.representations.humanml3d import load_mean_std

  mean, std = load_mean_std()
  cfg = dataclasses.replace(
    CFG, loss=dataclasses.replace(CFG.loss, positions=1.0, foot_contact=1.0, velocity=1.0)
  )
  model = stage.make_model(cfg, "mdm", 263)
  b, t = 2, 12
  rng = np.random.default_rng(0)
  batch = {
    "motion": jnp.asarray(rng.standard_normal((b, t, 263)) * 0.1, jnp.float32),
    "mask": jnp.ones((b, t), bool),
    "global_tokens": jnp.zeros((b, 4, FT)),
    "global_mask": jnp.ones((b, 4), bool),
  }
  params = model.init(
    jax.random.PRNGKey(0), batch["motion"], jnp.zeros(b, jnp.int32), batch["global_tokens"],
    batch["global_mask"], jnp.ones(b, bool), batch["mask"],
  )["params"]  # fmt: skip
  loss_fn = stage.make_loss_fn(
    model, stage.make_schedule(cfg), cfg, jnp.asarray(mean), jnp.asarray(std)
  )
  rngs = dict(zip(("dropout", "noise", "sample"), jax.random.split(jax.random.PRNGKey(1), 3)))
  total, (terms, _) = loss_fn(params, {}, batch, rngs)
  assert set(terms) == {"simple", "velocity", "positions", "foot_contact"}
  assert all(np.isfinite(float(v)) and float(v) >= 0 for v in terms.values())
  assert float(terms["positions"]) > 0
  assert float(total) == pytest.approx(sum(float(v) for v in terms.values()), rel=1e-5)
