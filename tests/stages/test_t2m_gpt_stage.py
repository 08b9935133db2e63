"""T2M-GPT stage: training batches carry End at the length and pkeep corruption at its rate; the
GPT learns a text -> token mapping and the cached sampler returns it with its length."""

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion import autoregressive as ar
from motion_jax.models.t2m_gpt import T2MGPT, GPTConfig, init_cache
from motion_jax.models.vqvae import VQVAE, VQVAEConfig
from motion_jax.stages import t2m_gpt as stage
from motion_jax.train.loop import LoopConfig
from motion_jax.train.optim import OptimConfig


def test_gpt_batches_end_token_and_corruption_rate():
  vq = VQVAE(VQVAEConfig(width=8, code_dim=4, num_codes=16, depth=1), 11)
  x = np.random.default_rng(0).normal(size=(64, 32, 11)).astype(np.float32)
  v = vq.init({"params": jax.random.PRNGKey(0), "sample": jax.random.PRNGKey(1)}, x[:1])
  lengths = np.random.default_rng(1).integers(1, 9, size=64) * 4
  mask = np.arange(32)[None] < lengths[:, None]

  def batcher(step):
    return {"motion": x, "mask": mask, "caption_embedding": np.ones((64, 5), np.float32)}

  b = stage.gpt_batch_fn(batcher, vq, v, pkeep=0.5, seed=0)(0)
  tok = lengths // 4
  n = 8
  assert b["targets"].shape == (64, n + 1) and b["inputs"].shape == (64, n)
  codes = np.asarray(stage.make_code_fn(vq)(v, jnp.asarray(x)))
  for i in range(64):
    t = tok[i]
    np.testing.assert_array_equal(b["targets"][i, :t], codes[i, :t])
    assert b["targets"][i, t] == 16 and (b["targets"][i, t + 1 :] == 17).all()
    assert b["weight"][i].sum() == t + 1
  inside = np.arange(n)[None] < tok[:, None]
  changed = (b["inputs"] != b["targets"][:, :n]) & inside
  # Replaced with probability 1 - pkeep = 0.5 by a random code (equal by chance 1/16).
  assert abs(changed.sum() / inside.sum() - 0.5 * 15 / 16) < 0.08
  assert (b["inputs"][~inside] == b["targets"][:, :n][~inside]).all()


def test_gpt_learns_a_mapping_and_cached_sampler_returns_it(tmp_path):
  k, n = 12, 6
  rng = np.random.default_rng(0)
  texts = rng.normal(size=(2, 5)).astype(np.float32)
  seqs = [rng.integers(0, k, size=4), rng.integers(0, k, size=2)]  # lengths 4 and 2
  targets = np.full((2, n + 1), k + 1, np.int32)
  weight = np.zeros((2, n + 1), bool)
  for i, s in enumerate(seqs):
    targets[i, : len(s)], targets[i, len(s)] = s, k
    weight[i, : len(s) + 1] = True

  def batch_fn(step):
    pick = np.random.default_rng(step).integers(0, 2, size=16)
    return {"inputs": targets[pick, :n], "targets": targets[pick], "weight": weight[pick],
            "text": texts[pick]}  # fmt: skip

  cfg = stage.T2MGPTStageConfig(
    gpt=GPTConfig(num_layers=1, dim=32, num_heads=2, block_size=n + 1, dropout=0.0),
    optim=OptimConfig(learning_rate=3e-3),
    loop=LoopConfig(num_steps=120, log_every=40, checkpoint_every=0),
  )
  params = stage.train(cfg, batch_fn, k, tmp_path, seed=0)
  model = T2MGPT(cfg.gpt, k)

  def step_fn(text, prev, cache, pos):
    return model.apply({"params": params}, text, prev, cache, pos, method=T2MGPT.step)

  greedy = ar.ARConfig(temperature=0.0)
  cache = init_cache(cfg.gpt, 2)
  tokens, lengths = ar.sample_cached(
    step_fn, cache, jnp.asarray(texts), jax.random.PRNGKey(0), greedy, k, n
  )
  assert np.asarray(lengths).tolist() == [4, 2]
  for i, s in enumerate(seqs):
    np.testing.assert_array_equal(np.asarray(tokens[i, : len(s)]), s)
