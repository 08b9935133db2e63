"""Tests of KinMo's Hierarchical Text-Motion Alignment modules (tiny configs)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from motion_jax.losses import kinmo_loss
from motion_jax.models.attention import CrossAttentionLayer
from motion_jax.models.kinmo_alignment import (
  LEVELS,
  HierarchicalTextEncoder,
  KinMoAlignment,
  KinMoAlignmentConfig,
  motion_retrieval_embedding,
  retrieval_similarity,
  text_retrieval_embedding,
)
from motion_jax.models.tmr import ActorStyleEncoder

CFG = KinMoAlignmentConfig.tiny()
B, F = 4, CFG.text_features


def _inputs(key, per_group=False, batch=B):
  ks = jax.random.split(key, 4)
  lengths = lambda n, hi: jnp.asarray(np.random.default_rng(n).integers(1, hi + 1, (batch, 1)))  # noqa: E731
  g = jax.random.normal(ks[0], (batch, 5, F))
  g_mask = (jnp.arange(5)[None] < lengths(0, 5)).at[0].set(True)
  if per_group:
    b = jax.random.normal(ks[1], (batch, 6, 3, F))  # 6 kinematic groups, 3 tokens each
    b_mask = jnp.ones((batch, 6, 3), bool).at[:, 5, 2].set(False)
  else:
    b = jax.random.normal(ks[1], (batch, 7, F))
    b_mask = jnp.arange(7)[None] < lengths(1, 7)
  i = jax.random.normal(ks[2], (batch, 4, F))
  i_mask = jnp.arange(4)[None] < lengths(2, 4)
  motion = jax.random.normal(ks[3], (batch, 9, CFG.motion_features))
  m_mask = jnp.arange(9)[None] < lengths(3, 9)
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
  assert set(out) == set(LEVELS)
  for d in out.values():
    assert d["mu"].shape == d["logvar"].shape == (B, CFG.latent_dim)
  p = params["params"]
  # Eqs. 5-6: the cross-attention lives in the group and interaction encoders, before their
  # transformer; the global level (eq. 4) has none.
  assert set(p["group_encoder"]) == {"cross_attention", "encoder"}
  assert set(p["interaction_encoder"]) == {"cross_attention", "encoder"}
  assert set(p["global_encoder"]) == {"encoder"}
  assert p["group_encoder"]["encoder"]["tokens"].shape == (2, CFG.latent_dim)  # mu, logvar
  # Queries are the frozen text features (width F), keys/values the coarser level (width D).
  ca = p["group_encoder"]["cross_attention"]["cross_attention"]
  assert ca["query"]["kernel"].shape[0] == F and ca["key"]["kernel"].shape[0] == CFG.latent_dim


def test_cross_attention_runs_before_the_level_encoder(text_setup):
  """h_g = E_g(CrossAttn(emb(T_g), h_c)) and h_i = E_i(CrossAttn(emb(T_i), h_g)), recomputed
  from the submodules' own parameters."""
  apply, params, text = text_setup
  g, g_mask, b, b_mask, i, i_mask = text
  p = params["params"]
  out = apply(params, *text)
  enc = ActorStyleEncoder(
    latent_dim=CFG.latent_dim,
    ff_dim=CFG.ff_dim,
    num_layers=CFG.num_layers,
    num_heads=CFG.num_heads,
    dropout_rate=CFG.dropout_rate,
    num_tokens=2,
  )
  ca = CrossAttentionLayer(num_heads=CFG.num_heads, dropout_rate=CFG.dropout_rate, norm_first=True)
  h_c, c_aux = enc.apply({"params": p["global_encoder"]["encoder"]}, g, g_mask)  # eq. 4
  np.testing.assert_allclose(out["global"]["mu"], h_c[:, 0], atol=1e-5)
  np.testing.assert_allclose(out["global"]["logvar"], h_c[:, 1], atol=1e-5)
  q = ca.apply({"params": p["group_encoder"]["cross_attention"]}, b, c_aux["states"], c_aux["mask"])
  h_g, g_aux = enc.apply({"params": p["group_encoder"]["encoder"]}, q, b_mask)  # eq. 5
  np.testing.assert_allclose(out["group"]["mu"], h_g[:, 0], atol=1e-5)
  q = ca.apply(
    {"params": p["interaction_encoder"]["cross_attention"]}, i, g_aux["states"], g_aux["mask"]
  )
  h_i, _ = enc.apply({"params": p["interaction_encoder"]["encoder"]}, q, i_mask)  # eq. 6
  np.testing.assert_allclose(out["interaction"]["mu"], h_i[:, 0], atol=1e-5)
  # Not the 'post' order: the group encoder applied to the raw features gives something else.
  raw, _ = enc.apply({"params": p["group_encoder"]["encoder"]}, b, b_mask)
  assert float(jnp.abs(raw[:, 0] - out["group"]["mu"]).max()) > 1e-3


def test_hierarchy_dependencies(text_setup):
  """Group depends on global (eq. 5), interaction on group and through it on global (eq. 6)."""
  apply, params, text = text_setup
  g, g_mask, b, b_mask, i, i_mask = text
  base = apply(params, *text)
  g2 = g.at[:, 0].add(3.0)  # change a real global token
  out_g = apply(params, g2, g_mask, b, b_mask, i, i_mask)
  assert float(jnp.abs(out_g["group"]["mu"] - base["group"]["mu"]).max()) > 1e-4
  assert float(jnp.abs(out_g["interaction"]["mu"] - base["interaction"]["mu"]).max()) > 1e-4
  b2 = b.at[:, 0].add(3.0)
  out_b = apply(params, g, g_mask, b2, b_mask, i, i_mask)
  np.testing.assert_allclose(out_b["global"]["mu"], base["global"]["mu"], atol=1e-6)
  assert float(jnp.abs(out_b["interaction"]["mu"] - base["interaction"]["mu"]).max()) > 1e-4
  # Padded global tokens are masked out of the encoder and the cross-attention memory.
  g_pad = jnp.where(g_mask[..., None], g, 100.0)
  out_pad = apply(params, g_pad, g_mask, b, b_mask, i, i_mask)
  for level in base:
    np.testing.assert_allclose(out_pad[level]["mu"], base[level]["mu"], atol=1e-5)


@pytest.mark.parametrize(
  "kw", [dict(use_cross_attention=False), dict(use_cross_attention=False, alignment="post")]
)
def test_ablation_without_cross_attention(kw):
  cfg = KinMoAlignmentConfig.tiny(**kw)
  enc = HierarchicalTextEncoder(cfg)
  text, _ = _inputs(jax.random.PRNGKey(0))
  params = jax.jit(enc.init)(jax.random.PRNGKey(1), *text)
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
  assert paths and not any("cross" in p for p in paths)
  g, g_mask, b, b_mask, i, i_mask = text
  apply = jax.jit(enc.apply)
  base = apply(params, *text)
  out = apply(params, g + 3.0, g_mask, b, b_mask, i, i_mask)
  np.testing.assert_allclose(out["group"]["mu"], base["group"]["mu"], atol=1e-6)
  np.testing.assert_allclose(out["interaction"]["mu"], base["interaction"]["mu"], atol=1e-6)
  assert float(jnp.abs(out["global"]["mu"] - base["global"]["mu"]).max()) > 1e-4


def test_post_alignment_and_latent_memory_options():
  """'post' (encode, then fuse the output sequences) and cross_memory='latent' (h = mu token)."""
  text, _ = _inputs(jax.random.PRNGKey(0))
  g, g_mask, b, b_mask, i, i_mask = text
  for kw, names in (
    (dict(alignment="post"), {"group_cross_attention", "interaction_cross_attention"}),
    (dict(cross_memory="latent"), set()),
  ):
    enc = HierarchicalTextEncoder(KinMoAlignmentConfig.tiny(**kw))
    params = jax.jit(enc.init)(jax.random.PRNGKey(1), *text)
    assert names <= set(params["params"])
    apply = jax.jit(enc.apply)
    base = apply(params, *text)
    out = apply(params, g.at[:, 0].add(3.0), g_mask, b, b_mask, i, i_mask)
    assert float(jnp.abs(out["group"]["mu"] - base["group"]["mu"]).max()) > 1e-4
    assert all(v["mu"].shape == (B, 16) for v in base.values())


def test_per_group_input_and_segment_embedding():
  enc = HierarchicalTextEncoder(CFG)
  text, _ = _inputs(jax.random.PRNGKey(0), per_group=True)
  params = jax.jit(enc.init)(jax.random.PRNGKey(1), *text)
  apply = jax.jit(enc.apply)
  segment = params["params"]["group_encoder"]["segment_embedding"]["embedding"]
  assert segment.shape == (CFG.max_segments, F)
  out = apply(params, *text)
  assert out["group"]["mu"].shape == (B, CFG.latent_dim)
  # Swapping two groups' captions changes the embedding (group identity matters).
  g, g_mask, b, b_mask, i, i_mask = text
  swapped = b[:, jnp.array([1, 0, 2, 3, 4, 5])]
  out2 = apply(params, g, g_mask, swapped, b_mask, i, i_mask)
  assert float(jnp.abs(out2["group"]["mu"] - out["group"]["mu"]).max()) > 1e-4


@pytest.fixture(scope="module")
def model_setup():
  model = KinMoAlignment(CFG)
  text, motion = _inputs(jax.random.PRNGKey(3), batch=8)
  variables = jax.jit(model.init)(jax.random.PRNGKey(4), *text, *motion)

  def loss_fn(p, key, sample):
    o = model.apply({"params": p}, *text, *motion, sample=sample, rngs={"sample": key})
    total, terms = kinmo_loss(o, motion[0], motion[1])
    return total, (o, terms)

  vg = jax.jit(jax.value_and_grad(loss_fn, has_aux=True), static_argnums=2)
  return model, variables, text, motion, vg


def test_full_model_outputs_loss_and_gradients(model_setup):
  model, variables, text, motion, vg = model_setup
  (total, (out, terms)), grads = vg(variables["params"], jax.random.PRNGKey(0), True)
  assert set(out["text"]) == set(LEVELS)
  assert out["motion"]["mu"].shape == (8, CFG.latent_dim)
  for lv in LEVELS:
    assert out["motion_from_text"][lv].shape == motion[0].shape
    assert {f"{lv}/{k}" for k in ("reconstruction", "kl", "latent", "contrastive")} <= set(terms)
    # Training samples the latent around mu (the 'sample' stream).
    assert float(jnp.abs(out["text"][lv]["latent"] - out["text"][lv]["mu"]).max()) > 1e-3
  # Padded frames of the reconstructions are zero.
  assert float(jnp.abs(jnp.where(motion[1][..., None], 0.0, out["motion_from_motion"])).max()) == 0
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
  g = grads["text_encoder"]
  for name in ("group_encoder", "interaction_encoder"):
    k = g[name]["cross_attention"]["cross_attention"]["query"]["kernel"]
    assert float(jnp.abs(k).sum()) > 0
  assert float(jnp.abs(grads["motion_encoder"]["projection"]["kernel"]).sum()) > 0
  assert float(jnp.abs(grads["motion_decoder"]["final"]["kernel"]).sum()) > 0
  # Without sampling the latents are mu, and encode_* give the same mu.
  (_, (det, _)), _ = vg(variables["params"], jax.random.PRNGKey(0), False)
  np.testing.assert_allclose(det["motion"]["latent"], det["motion"]["mu"])
  z_m = model.apply(variables, *motion, method=KinMoAlignment.encode_motion)
  np.testing.assert_allclose(z_m, det["motion"]["mu"], atol=1e-5)
  z_t = model.apply(variables, *text, method=KinMoAlignment.encode_text)
  for lv in LEVELS:
    np.testing.assert_allclose(z_t[lv], det["text"][lv]["mu"], atol=1e-5)


def test_tiny_training_lowers_the_loss(model_setup):
  """A few Adam steps on one batch: the KinMo objective goes down (deterministic evaluation of
  the loss before and after, so sampling noise cannot fake it)."""
  _, variables, _, _, vg = model_setup
  params = variables["params"]
  tx = optax.adam(3e-3)
  opt = tx.init(params)

  @jax.jit
  def update(grads, opt, params):  # the loss and gradients reuse the compiled ``vg``
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt

  (before, (_, terms0)), _ = vg(params, jax.random.PRNGKey(0), False)
  for s in range(25):
    _, grads = vg(params, jax.random.PRNGKey(s), True)
    params, opt = update(grads, opt, params)
  (after, (_, terms1)), _ = vg(params, jax.random.PRNGKey(0), False)
  assert float(after) < 0.8 * float(before)
  for lv in LEVELS:  # every level's contrastive term improves, not only the reconstruction
    assert float(terms1[f"{lv}/contrastive"]) < float(terms0[f"{lv}/contrastive"])


def test_concat_retrieval_embedding_is_mean_of_level_cosines():
  r = np.random.default_rng(0)
  text = {lv: r.normal(size=(5, 6)) for lv in LEVELS}
  motion = r.normal(size=(7, 6))
  t = text_retrieval_embedding(text, LEVELS)
  m = motion_retrieval_embedding(motion, LEVELS)
  assert t.shape == (5, 18) and m.shape == (7, 18)
  sim = retrieval_similarity(t, m)
  want = np.mean([retrieval_similarity(text[lv], motion) for lv in LEVELS], axis=0)
  np.testing.assert_allclose(sim, want, atol=1e-12)
  one = retrieval_similarity(
    text_retrieval_embedding(text, LEVELS, "group"),
    motion_retrieval_embedding(motion, LEVELS, "group"),
  )
  np.testing.assert_allclose(one, retrieval_similarity(text["group"], motion), atol=1e-12)


def test_config_validation():
  with pytest.raises(ValueError, match="retrieval_level"):
    KinMoAlignmentConfig(retrieval_level="body")
  with pytest.raises(ValueError, match="alignment"):
    KinMoAlignmentConfig(alignment="after")
  with pytest.raises(ValueError, match="cross_memory"):
    KinMoAlignmentConfig(cross_memory="tokens")
  with pytest.raises(ValueError, match="num_heads"):
    KinMoAlignmentConfig(text_features=10, num_heads=4)
  with pytest.raises(ValueError, match="unknown level"):
    model = KinMoAlignment(CFG)
    text, motion = _inputs(jax.random.PRNGKey(0))
    model.init(jax.random.PRNGKey(0), *text, *motion, levels=("body",))
  cfg = KinMoAlignmentConfig()
  assert cfg.use_cross_attention and cfg.alignment == "pre" and cfg.vae
  assert cfg.retrieval_level == "concat"
  assert (cfg.latent_dim, cfg.num_layers, cfg.num_heads) == (256, 6, 4)
