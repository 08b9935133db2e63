"""Tests of KinMo's Hierarchical Text-Motion Alignment modules (tiny configs)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.losses import kinmo_loss
from motion_jax.models.attention import CrossAttentionLayer
from motion_jax.models.kinmo_alignment import (
  HierarchicalTextEncoder,
  KinMoAlignment,
  KinMoAlignmentConfig,
  retrieval_similarity,
)

CFG = KinMoAlignmentConfig.tiny()
TAU = 0.1  # KinMo/TMR InfoNCE temperature
B, F = 4, CFG.text_features


def _inputs(key, per_group=False):
  ks = jax.random.split(key, 4)
  g = jax.random.normal(ks[0], (B, 5, F))
  g_mask = jnp.arange(5)[None] < jnp.array([[5], [3], [4], [2]])
  if per_group:
    b = jax.random.normal(ks[1], (B, 6, 3, F))  # 6 kinematic groups, 3 tokens each
    b_mask = jnp.ones((B, 6, 3), bool).at[:, 5, 2].set(False)
  else:
    b = jax.random.normal(ks[1], (B, 7, F))
    b_mask = jnp.arange(7)[None] < jnp.array([[7], [6], [2], [5]])
  i = jax.random.normal(ks[2], (B, 4, F))
  i_mask = jnp.arange(4)[None] < jnp.array([[4], [1], [3], [4]])
  motion = jax.random.normal(ks[3], (B, 9, CFG.motion_features))
  m_mask = jnp.arange(9)[None] < jnp.array([[9], [8], [5], [7]])
  return (g, g_mask, b, b_mask, i, i_mask), (motion, m_mask)


@pytest.fixture(scope="module")
def text_setup():
  enc = HierarchicalTextEncoder(CFG)
  text, _ = _inputs(jax.random.PRNGKey(0))
  params = jax.jit(enc.init)(jax.random.PRNGKey(1), *text)
  return jax.jit(enc.apply), params, text  # one compile shared by the same-shape calls below


def test_levels_and_shapes(text_setup):
  apply, params, text = text_setup
  out = apply(params, *text)
  assert set(out) == {"global", "group", "interaction"}
  assert all(v.shape == (B, CFG.latent_dim) for v in out.values())
  assert {"group_cross_attention", "interaction_cross_attention"} <= set(params["params"])


def test_hierarchy_dependencies(text_setup):
  """Group depends on global (eq. 5), interaction on group and through it on global (eq. 6)."""
  apply, params, text = text_setup
  g, g_mask, b, b_mask, i, i_mask = text
  base = apply(params, *text)
  g2 = g.at[:, 0].add(3.0)  # change a real global token
  out_g = apply(params, g2, g_mask, b, b_mask, i, i_mask)
  assert float(jnp.abs(out_g["group"] - base["group"]).max()) > 1e-4
  assert float(jnp.abs(out_g["interaction"] - base["interaction"]).max()) > 1e-4
  b2 = b.at[:, 0].add(3.0)
  out_b = apply(params, g, g_mask, b2, b_mask, i, i_mask)
  np.testing.assert_allclose(out_b["global"], base["global"], atol=1e-6)  # coarse level untouched
  assert float(jnp.abs(out_b["interaction"] - base["interaction"]).max()) > 1e-4
  # Padded global tokens are masked out of the cross-attention memory.
  g_pad = jnp.where(g_mask[..., None], g, 100.0)
  out_pad = apply(params, g_pad, g_mask, b, b_mask, i, i_mask)
  for level in base:
    np.testing.assert_allclose(out_pad[level], base[level], atol=1e-5)


def test_ablation_without_cross_attention():
  cfg = KinMoAlignmentConfig.tiny(use_cross_attention=False)
  enc = HierarchicalTextEncoder(cfg)
  text, _ = _inputs(jax.random.PRNGKey(0))
  params = jax.jit(enc.init)(jax.random.PRNGKey(1), *text)
  assert not any("cross" in k for k in params["params"])
  g, g_mask, b, b_mask, i, i_mask = text
  apply = jax.jit(enc.apply)
  base = apply(params, *text)
  out = apply(params, g + 3.0, g_mask, b, b_mask, i, i_mask)
  np.testing.assert_allclose(out["group"], base["group"], atol=1e-6)
  np.testing.assert_allclose(out["interaction"], base["interaction"], atol=1e-6)
  assert float(jnp.abs(out["global"] - base["global"]).max()) > 1e-4


def test_cross_attention_layer_is_residual():
  """Zero output projection: the branch vanishes, x (pre-LN) or LN(x) (post-LN) remains."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 8))
  mem = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 8))
  for norm_first in (True, False):
    layer = CrossAttentionLayer(num_heads=2, dropout_rate=0.0, norm_first=norm_first)
    params = layer.init(jax.random.PRNGKey(2), x, mem)
    params = jax.tree_util.tree_map_with_path(
      lambda p, v: jnp.zeros_like(v) if "out" in jax.tree_util.keystr(p) else v, params
    )
    y = layer.apply(params, x, mem)
    if norm_first:
      np.testing.assert_allclose(y, x, atol=1e-6)
    else:
      ref = (x - x.mean(-1, keepdims=True)) / jnp.sqrt(x.var(-1, keepdims=True) + 1e-5)
      np.testing.assert_allclose(y, ref, atol=1e-5)


def test_per_group_input_and_segment_embedding():
  enc = HierarchicalTextEncoder(CFG)
  text, _ = _inputs(jax.random.PRNGKey(0), per_group=True)
  params = jax.jit(enc.init)(jax.random.PRNGKey(1), *text)
  apply = jax.jit(enc.apply)
  segment = params["params"]["group_encoder"]["segment_embedding"]["embedding"]
  assert segment.shape == (CFG.max_segments, F)
  out = apply(params, *text)
  assert out["group"].shape == (B, CFG.latent_dim)
  # Swapping two groups' captions changes the embedding (group identity matters).
  g, g_mask, b, b_mask, i, i_mask = text
  swapped = b[:, jnp.array([1, 0, 2, 3, 4, 5])]
  out2 = apply(params, g, g_mask, swapped, b_mask, i, i_mask)
  assert float(jnp.abs(out2["group"] - out["group"]).max()) > 1e-4


def test_full_model_loss_and_gradients():
  model = KinMoAlignment(CFG)
  text, motion = _inputs(jax.random.PRNGKey(3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(4), *text, *motion)

  # One compile for forward, loss and gradients. (Deterministic: dropout's threefry bits more
  # than double XLA's CPU compile time; dropout itself is exercised in the text-encoder tests.)
  def loss_fn(p):
    o = model.apply({"params": p}, *text, *motion)
    total, terms = kinmo_loss(o["motion"], o["text"], TAU)
    return total, (o, terms)

  value_and_grad = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  (total, (out, terms)), grads = value_and_grad(variables["params"])
  assert out["motion"].shape == (B, CFG.latent_dim)
  assert set(terms) == {"global", "group", "interaction"}

  # Independent numpy InfoNCE per level (eq. 7 with unit weights).
  def nce(t, m, tau=TAU):
    t = np.asarray(t, np.float64)
    m = np.asarray(m, np.float64)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    s = t @ m.T / tau
    lse_r = np.log(np.exp(s).sum(1))
    lse_c = np.log(np.exp(s).sum(0))
    return 0.5 * (np.mean(lse_r - np.diag(s)) + np.mean(lse_c - np.diag(s)))

  expected = sum(nce(out["text"][lvl], out["motion"]) for lvl in terms)
  np.testing.assert_allclose(total, expected, rtol=1e-5)

  weights = {"global": 1.0, "group": 0.5, "interaction": 2.0}
  total_w, _ = kinmo_loss(out["motion"], out["text"], TAU, weights)
  expected_w = terms["global"] + 0.5 * terms["group"] + 2.0 * terms["interaction"]
  np.testing.assert_allclose(total_w, expected_w, rtol=1e-6)

  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
  for name in ("group_cross_attention", "interaction_cross_attention"):
    k = grads["text_encoder"][name]["cross_attention"]["query"]["kernel"]
    assert float(jnp.abs(k).sum()) > 0
  assert float(jnp.abs(grads["motion_encoder"]["projection"]["kernel"]).sum()) > 0

  sim = retrieval_similarity(out["text"][CFG.retrieval_level], out["motion"])
  assert sim.shape == (B, B) and np.all(np.abs(sim) <= 1 + 1e-9)
  method = KinMoAlignment.encode_motion
  encode_motion = jax.jit(lambda v, m, mm: model.apply(v, m, mm, method=method))
  z_m = encode_motion(variables, *motion)
  np.testing.assert_allclose(z_m, out["motion"], atol=1e-5)


def test_config_validation():
  with pytest.raises(ValueError, match="retrieval_level"):
    KinMoAlignmentConfig(retrieval_level="body")
  cfg = KinMoAlignmentConfig()
  assert cfg.use_cross_attention
  assert (cfg.latent_dim, cfg.num_layers, cfg.num_heads) == (256, 6, 4)
