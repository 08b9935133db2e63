"""MoCLIP losses (eqs. 1-5) against hand computations in numpy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax import losses
from motion_jax.losses import moclip as ml


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _logsumexp(x, axis):
  m = x.max(axis=axis, keepdims=True)
  return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _embeddings(seed=0, n=5, e=7):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=(n, e)).astype(np.float64) for _ in range(3)]


def _np_contrastive(zm, zt, scale):
  logits = scale * _unit(zm) @ _unit(zt).T
  idx = np.arange(len(zm))
  ce_rows = np.mean(_logsumexp(logits, 1) - logits[idx, idx])  # CE(Zm W Zt^T, y), eq. 2
  ce_cols = np.mean(_logsumexp(logits.T, 1) - logits.T[idx, idx])  # CE(Zt W Zm^T, y)
  return 0.5 * (ce_rows + ce_cols)


def test_contrastive_matches_numpy():
  zm, zt, _ = _embeddings()
  got = ml.contrastive_loss(jnp.asarray(zm), jnp.asarray(zt), jnp.log(10.0))
  np.testing.assert_allclose(float(got), _np_contrastive(zm, zt, 10.0), rtol=1e-5)


def test_contrastive_is_symmetric_and_not_one_sided():
  zm, zt, _ = _embeddings(1)
  a = ml.contrastive_loss(jnp.asarray(zm), jnp.asarray(zt), jnp.log(5.0))
  b = ml.contrastive_loss(jnp.asarray(zt), jnp.asarray(zm), jnp.log(5.0))
  np.testing.assert_allclose(float(a), float(b), rtol=1e-6)
  # A one-directional CE differs from the symmetric mean on these inputs.
  logits = 5.0 * _unit(zm) @ _unit(zt).T
  one_sided = np.mean(_logsumexp(logits, 1) - np.diag(logits))
  assert abs(float(a) - one_sided) > 1e-3


def test_logit_scale_is_capped_at_clip_100():
  zm, zt, _ = _embeddings(2)
  capped = ml.contrastive_loss(jnp.asarray(zm), jnp.asarray(zt), jnp.asarray(10.0))
  np.testing.assert_allclose(float(capped), _np_contrastive(zm, zt, 100.0), rtol=1e-5)
  assert float(ml.capped_logit_scale(jnp.asarray(10.0))) == pytest.approx(100.0, rel=1e-6)
  assert float(ml.capped_logit_scale(jnp.asarray(math.log(20.0)))) == pytest.approx(20.0, rel=1e-6)

  def f(s):
    return ml.contrastive_loss(jnp.asarray(zm), jnp.asarray(zt), s)

  assert float(jax.grad(f)(jnp.asarray(6.0))) == 0.0  # above ln(100): no gradient
  assert float(jax.grad(f)(jnp.asarray(1.0))) != 0.0
  custom = ml.contrastive_loss(jnp.asarray(zm), jnp.asarray(zt), jnp.asarray(10.0), 20.0)
  np.testing.assert_allclose(float(custom), _np_contrastive(zm, zt, 20.0), rtol=1e-5)
  with pytest.raises(ValueError, match="max_logit_scale"):
    ml.capped_logit_scale(jnp.asarray(1.0), 0.0)


def test_distill_matches_numpy_and_stops_teacher_gradient():
  _, zs, zteach = _embeddings(3)
  got = ml.distill_loss(jnp.asarray(zs), jnp.asarray(zteach))
  expected = np.mean(np.sum((zs - zteach) ** 2, axis=1))
  np.testing.assert_allclose(float(got), expected, rtol=1e-6)
  g_teacher = jax.grad(lambda t: ml.distill_loss(jnp.asarray(zs), t))(jnp.asarray(zteach))
  assert np.all(np.asarray(g_teacher) == 0.0)
  g_student = jax.grad(lambda s: ml.distill_loss(s, jnp.asarray(zteach)))(jnp.asarray(zs))
  np.testing.assert_allclose(np.asarray(g_student), 2 * (zs - zteach) / len(zs), atol=1e-6)


def test_alignment_matches_numpy():
  zm, zs, _ = _embeddings(4)
  got = ml.alignment_loss(jnp.asarray(zm), jnp.asarray(zs))
  expected = 1.0 - np.mean(np.sum(_unit(zm) * _unit(zs), axis=1))
  np.testing.assert_allclose(float(got), expected, rtol=1e-6)
  assert float(ml.alignment_loss(jnp.asarray(zm), jnp.asarray(3.0 * zm))) == pytest.approx(0.0)


def test_total_is_eq5_with_lambda_04_default():
  zm, zs, zteach = _embeddings(5)
  total, terms = losses.moclip_loss(
    jnp.asarray(zm), jnp.asarray(zs), jnp.asarray(zteach), jnp.log(1 / 0.07)
  )
  con = _np_contrastive(zm, zs, 1 / 0.07)
  dis = np.mean(np.sum((zs - zteach) ** 2, axis=1))
  ali = 1.0 - np.mean(np.sum(_unit(zm) * _unit(zs), axis=1))
  np.testing.assert_allclose(float(total), con + 0.4 * dis + ali, rtol=1e-5)
  np.testing.assert_allclose(float(terms["contrastive"]), con, rtol=1e-5)
  np.testing.assert_allclose(float(terms["distill"]), dis, rtol=1e-5)
  np.testing.assert_allclose(float(terms["alignment"]), ali, rtol=1e-5)
  assert float(terms["logit_scale"]) == pytest.approx(1 / 0.07, rel=1e-5)
  t2, _ = losses.moclip_loss(
    jnp.asarray(zm), jnp.asarray(zs), jnp.asarray(zteach), jnp.log(1 / 0.07),
    distill_weight=1.0, alignment_weight=0.0, contrastive_weight=2.0,
  )  # fmt: skip
  np.testing.assert_allclose(float(t2), 2 * con + dis, rtol=1e-5)


def test_bad_inputs_raise():
  zm, zs, zteach = _embeddings(6)
  with pytest.raises(ValueError, match="shapes differ"):
    losses.moclip_loss(jnp.asarray(zm[:, :3]), jnp.asarray(zs), jnp.asarray(zteach), 0.0)
  with pytest.raises(ValueError, match="distill_weight"):
    losses.moclip_loss(jnp.asarray(zm), jnp.asarray(zs), jnp.asarray(zteach), 0.0,
                       distill_weight=-1.0)  # fmt: skip
