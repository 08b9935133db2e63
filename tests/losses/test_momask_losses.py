"""MoMask's objectives: the RVQ loss's terms read what they should, token CE counts only the
positions it is given."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax import losses


def test_rvq_loss_terms():
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (2, 8, 263))
  res = jax.random.normal(jax.random.PRNGKey(1), (3, 2, 2, 4))
  codes = res + 0.5
  active = jnp.array([True, True, False])
  cfg = losses.RVQLossConfig()
  total, t = losses.rvq_loss(x, x, res, codes, active, (4, 67), cfg)
  assert float(t["recon"]) == 0.0 and float(t["positions"]) == 0.0
  assert float(t["commit"]) == pytest.approx(0.25, rel=1e-6)
  assert float(total) == pytest.approx(0.02 * 0.25, rel=1e-5)
  # Error outside the RIC block moves the feature term only; inside it moves both.
  _, out = losses.rvq_loss(x, x.at[..., 100].add(1.0), res, codes, active, (4, 67), cfg)
  assert float(out["positions"]) == 0.0 and float(out["recon"]) > 0
  _, ins = losses.rvq_loss(x, x.at[..., 10].add(2.0), res, codes, active, (4, 67), cfg)
  assert float(ins["positions"]) == pytest.approx(2.0 / 63, rel=1e-5)  # L1, mean over the block
  # A dropped layer's commitment does not count.
  far = codes.at[2].add(100.0)
  _, t2 = losses.rvq_loss(x, x, res, far, active, (4, 67), cfg)
  assert float(t2["commit"]) == pytest.approx(0.25, rel=1e-6)
  # Padded frames (mask False) are ignored.
  mask = jnp.zeros((2, 8), bool).at[:, :4].set(True)
  _, tm = losses.rvq_loss(x, x.at[:, 4:].add(5.0), res, codes, active, (4, 67), cfg, mask)
  assert float(tm["recon"]) == 0.0


def test_masked_token_loss_counts_only_corrupted_positions():
  logits = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7))
  targets = jnp.zeros((2, 5), jnp.int32)
  sel = jnp.zeros((2, 5), bool).at[0, 1].set(True).at[1, 3].set(True)
  loss, terms = losses.masked_token_loss(logits, targets, sel)
  lp = jax.nn.log_softmax(logits)
  expect = -(lp[0, 1, 0] + lp[1, 3, 0]) / 2
  np.testing.assert_allclose(loss, expect, rtol=1e-5)
  assert 0 <= float(terms["accuracy"]) <= 1
