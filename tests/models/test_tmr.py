"""Tests of the shared attention blocks, the TMR modules and the TMR losses (tiny configs)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from motion_jax import losses
from motion_jax.models import attention
from motion_jax.models.tmr import TMR, ActorStyleDecoder, ActorStyleEncoder, TMRConfig

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# Shared blocks against torch.nn (an independent implementation)
# ---------------------------------------------------------------------------------------------


def _t(x):
  return jnp.asarray(x.detach().numpy())


def _mha_params(mha, d):
  w, b = mha.in_proj_weight, mha.in_proj_bias
  return {
    "query": {"kernel": _t(w[:d]).T, "bias": _t(b[:d])},
    "key": {"kernel": _t(w[d : 2 * d]).T, "bias": _t(b[d : 2 * d])},
    "value": {"kernel": _t(w[2 * d :]).T, "bias": _t(b[2 * d :])},
    "out": {"kernel": _t(mha.out_proj.weight).T, "bias": _t(mha.out_proj.bias)},
  }


def _ln(ln):
  return {"scale": _t(ln.weight), "bias": _t(ln.bias)}


def _ff(layer):
  return {
    "ff_in": {"kernel": _t(layer.linear1.weight).T, "bias": _t(layer.linear1.bias)},
    "ff_out": {"kernel": _t(layer.linear2.weight).T, "bias": _t(layer.linear2.bias)},
  }


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first):
  torch.manual_seed(0)
  d, heads, ff = 16, 4, 24
  ref = torch.nn.TransformerEncoderLayer(
    d, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first
  ).eval()
  x = torch.randn(3, 7, d)
  mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], dtype=torch.bool)
  with torch.no_grad():
    expected = ref(x, src_key_padding_mask=~mask).numpy()
  params = {
    "self_attention": _mha_params(ref.self_attn, d),
    "ff": _ff(ref),
    "attention_norm": _ln(ref.norm1),
    "ff_norm": _ln(ref.norm2),
  }
  layer = attention.TransformerEncoderLayer(heads, ff, dropout_rate=0.0, norm_first=norm_first)
  got = np.asarray(layer.apply({"params": params}, _t(x), jnp.asarray(mask.numpy())))
  valid = mask.numpy()
  np.testing.assert_allclose(got[valid], expected[valid], atol=2e-5)


def test_decoder_layer_matches_torch():
  torch.manual_seed(1)
  d, heads, ff = 16, 2, 20
  ref = torch.nn.TransformerDecoderLayer(
    d, heads, ff, dropout=0.0, activation="gelu", batch_first=True
  ).eval()
  x, memory = torch.randn(2, 6, d), torch.randn(2, 3, d)
  mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3], dtype=torch.bool)
  mem_mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
  with torch.no_grad():
    expected = ref(x, memory, tgt_key_padding_mask=~mask, memory_key_padding_mask=~mem_mask).numpy()
  params = {
    "self_attention": _mha_params(ref.self_attn, d),
    "attention_norm": _ln(ref.norm1),
    "cross": {
      "cross_attention": _mha_params(ref.multihead_attn, d),
      "cross_attention_norm": _ln(ref.norm2),
    },
    "ff": _ff(ref),
    "ff_norm": _ln(ref.norm3),
  }
  layer = attention.TransformerDecoderLayer(heads, ff, dropout_rate=0.0)
  got = layer.apply(
    {"params": params},
    _t(x),
    _t(memory),
    jnp.asarray(mask.numpy()),
    jnp.asarray(mem_mask.numpy()),
  )
  valid = mask.numpy()
  np.testing.assert_allclose(np.asarray(got)[valid], expected[valid], atol=2e-5)


def test_sinusoidal_positions_formula():
  table = np.asarray(attention.sinusoidal_positions(50, 8))
  pos, i = 37, 3
  w = 10000.0 ** (-(2 * i) / 8)
  assert table.shape == (50, 8)
  np.testing.assert_allclose(table[pos, 2 * i], math.sin(pos * w), atol=1e-5)
  np.testing.assert_allclose(table[pos, 2 * i + 1], math.cos(pos * w), atol=1e-5)
  with pytest.raises(ValueError):
    attention.sinusoidal_positions(4, 5)


def test_fully_masked_attention_is_finite():
  mha = attention.MultiHeadAttention(num_heads=2)
  x = jnp.ones((1, 3, 4))
  params = mha.init(jax.random.PRNGKey(0), x, x)
  out = mha.apply(params, x, x, jnp.zeros((1, 3), bool))
  assert bool(jnp.all(jnp.isfinite(out)))


# ---------------------------------------------------------------------------------------------
# TMR modules
# ---------------------------------------------------------------------------------------------

CFG = TMRConfig.tiny()
W = losses.TMRLossWeights()


def _batch(key, b=4, t=10, n_text=6):
  k1, k2 = jax.random.split(key)
  motion = jax.random.normal(k1, (b, t, CFG.motion_features))
  text = jax.random.normal(k2, (b, n_text, CFG.text_features))
  m_len = jnp.array([10, 7, 5, 9])[:b]
  t_len = jnp.array([6, 3, 4, 2])[:b]
  motion_mask = jnp.arange(t)[None] < m_len[:, None]
  text_mask = jnp.arange(n_text)[None] < t_len[:, None]
  return text, text_mask, motion * motion_mask[..., None], motion_mask


@pytest.fixture(scope="module")
def tmr_setup():
  model = TMR(CFG)
  batch = _batch(jax.random.PRNGKey(0))
  rngs = {"params": jax.random.PRNGKey(1), "sample": jax.random.PRNGKey(2)}
  # One compile gives the params and a sampled forward pass.
  out, variables = jax.jit(model.init_with_output)(rngs, *batch)
  return model, variables, batch, out


def test_tmr_defaults_are_the_papers():
  cfg = TMRConfig()
  sizes = (cfg.latent_dim, cfg.num_layers, cfg.num_heads, cfg.ff_dim, cfg.dropout_rate)
  assert sizes == (256, 6, 4, 1024, 0.1)
  assert cfg.activation == "gelu" and cfg.vae
  w = losses.TMRLossWeights()
  assert (w.contrastive, w.kl, w.latent, w.reconstruction) == (0.1, 1e-5, 1e-5, 1.0)
  assert w.temperature == 0.1 and w.threshold == 0.8


def test_tmr_shapes_and_masking(tmr_setup):
  model, variables, (text, text_mask, motion, motion_mask), out = tmr_setup
  for k in ("text_latent", "motion_latent", "text_mu", "text_logvar", "motion_mu", "motion_logvar"):
    assert out[k].shape == (4, CFG.latent_dim)
  assert out["motion_from_text"].shape == motion.shape
  # Padded frames are zero in the decoded motion.
  padded = jnp.where(motion_mask[..., None], 0.0, out["motion_from_text"])
  assert float(jnp.abs(padded).max()) == 0.0
  # Sampling: latent differs from mu; without sampling it equals mu.
  assert float(jnp.abs(out["text_latent"] - out["text_mu"]).max()) > 1e-3
  encode_text = jax.jit(lambda v, t, m: model.apply(v, t, m, method=TMR.encode_text))
  z, dist = encode_text(variables, text, text_mask)
  np.testing.assert_array_equal(z, dist["mu"])
  np.testing.assert_allclose(dist["mu"], out["text_mu"], atol=1e-6)


def test_encoder_ignores_padded_frames(tmr_setup):
  model, variables, (text, text_mask, motion, motion_mask), _ = tmr_setup

  @jax.jit
  def latents(variables, motion, motion_mask):
    def enc(x, m):
      return model.apply(variables, x, m, method=TMR.encode_motion)[0]

    garbage = jnp.where(motion_mask[..., None], motion, 1e3)
    longer = jnp.pad(motion, ((0, 0), (0, 5), (0, 0)))
    longer_mask = jnp.pad(motion_mask, ((0, 0), (0, 5)))
    return (
      enc(motion, motion_mask),
      enc(garbage, motion_mask),  # padded frames overwritten
      enc(longer, longer_mask),  # extra padding
      enc(motion.at[:, 0].add(1.0), motion_mask),  # a real change in a valid frame
    )

  z, z2, z3, z4 = latents(variables, motion, motion_mask)
  np.testing.assert_allclose(z, z2, atol=1e-5)
  np.testing.assert_allclose(z, z3, atol=1e-5)
  assert float(jnp.abs(z4 - z).max()) > 1e-4


def test_decoder_valid_frames_independent_of_padding(tmr_setup):
  model, variables, _, _ = tmr_setup
  z = jax.random.normal(jax.random.PRNGKey(5), (2, CFG.latent_dim))
  mask_a = jnp.arange(8)[None] < jnp.array([[5], [8]])
  mask_b = jnp.arange(12)[None] < jnp.array([[5], [8]])

  @jax.jit
  def both(variables, z):
    return (
      model.apply(variables, z, mask_a, method=TMR.decode),
      model.apply(variables, z, mask_b, method=TMR.decode),
    )

  a, b = both(variables, z)
  np.testing.assert_allclose(a, b[:, :8], atol=1e-5)


def test_width_mismatch_raises(tmr_setup):
  model, variables, (text, text_mask, _, _), _ = tmr_setup
  with pytest.raises(ValueError, match="width"):
    model.apply(variables, text[..., :3], text_mask, method=TMR.encode_text)


def test_non_vae_variant():
  cfg = TMRConfig(**{**TMRConfig.tiny().__dict__, "vae": False})
  model = TMR(cfg)
  text, text_mask, _, _ = _batch(jax.random.PRNGKey(0))
  (z, dist), variables = jax.jit(
    lambda k: model.init_with_output(k, text, text_mask, sample=True, method=TMR.encode_text)
  )(jax.random.PRNGKey(1))
  assert variables["params"]["text_encoder"]["tokens"].shape == (1, cfg.latent_dim)
  assert float(jnp.abs(dist["logvar"]).max()) == 0.0
  np.testing.assert_array_equal(z, dist["mu"])  # no sampling without a VAE


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def test_smooth_l1_matches_torch():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(3, 5, 4)) * 2, rng.normal(size=(3, 5, 4))
  ref = torch.nn.functional.smooth_l1_loss(torch.tensor(a), torch.tensor(b)).item()
  np.testing.assert_allclose(losses.smooth_l1(jnp.asarray(a), jnp.asarray(b)), ref, rtol=1e-5)
  mask = np.zeros((3, 5), bool)
  mask[0, :2] = mask[2, :4] = True
  ref_m = torch.nn.functional.smooth_l1_loss(torch.tensor(a[mask]), torch.tensor(b[mask])).item()
  got = losses.smooth_l1(jnp.asarray(a), jnp.asarray(b), jnp.asarray(mask))
  np.testing.assert_allclose(got, ref_m, rtol=1e-5)


def test_gaussian_kl_matches_torch():
  rng = np.random.default_rng(1)
  mq, lq, mp, lp = (rng.normal(size=(4, 6)) for _ in range(4))
  q = torch.distributions.Normal(torch.tensor(mq), torch.tensor(np.exp(lq / 2)))
  p = torch.distributions.Normal(torch.tensor(mp), torch.tensor(np.exp(lp / 2)))
  ref = torch.distributions.kl_divergence(q, p).mean().item()
  got = losses.gaussian_kl(*map(jnp.asarray, (mq, lq, mp, lp)))
  np.testing.assert_allclose(got, ref, rtol=1e-5)
  zeros = torch.zeros(4, 6, dtype=torch.float64)
  std = torch.distributions.Normal(zeros, zeros + 1.0)
  ref0 = torch.distributions.kl_divergence(q, std).mean().item()
  got0 = losses.gaussian_kl(jnp.asarray(mq), jnp.asarray(lq))
  np.testing.assert_allclose(got0, ref0, rtol=1e-5)


def _info_nce_reference(x, y, tau, text=None, thr=0.8):
  """Loop-based numpy InfoNCE with explicit negative filtering."""
  x = x / np.linalg.norm(x, axis=1, keepdims=True)
  y = y / np.linalg.norm(y, axis=1, keepdims=True)
  s = x @ y.T / tau
  n = len(x)
  keep = np.ones((n, n), bool)
  if text is not None:
    t = text / np.linalg.norm(text, axis=1, keepdims=True)
    for i in range(n):
      for j in range(n):
        keep[i, j] = i == j or (t[i] @ t[j]) <= thr
  row, col = [], []
  for i in range(n):
    row.append(np.log(sum(np.exp(s[i, j]) for j in range(n) if keep[i, j])) - s[i, i])
    col.append(np.log(sum(np.exp(s[j, i]) for j in range(n) if keep[j, i])) - s[i, i])
  return 0.5 * (np.mean(row) + np.mean(col))


def test_info_nce_against_loop_reference():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
  text = rng.normal(size=(6, 8))
  text[3] = text[1] + 0.01 * rng.normal(size=8)  # near-duplicate captions 1 and 3
  text[5] = text[0] * 2.0  # identical direction
  got = losses.info_nce(jnp.asarray(x), jnp.asarray(y), 0.1)
  np.testing.assert_allclose(got, _info_nce_reference(x, y, 0.1), rtol=1e-5)
  got_f = losses.info_nce(jnp.asarray(x), jnp.asarray(y), 0.1, jnp.asarray(text), 0.8)
  ref_f = _info_nce_reference(x, y, 0.1, text, 0.8)
  np.testing.assert_allclose(got_f, ref_f, rtol=1e-5)
  assert abs(float(got_f) - float(got)) > 1e-4  # filtering really removed something
  keep = np.asarray(losses.filtered_negatives_mask(jnp.asarray(text), 0.8))
  assert not keep[1, 3] and not keep[3, 1] and not keep[0, 5] and keep.diagonal().all()
  # Perfectly aligned, well separated pairs give a loss near zero.
  e = np.eye(6) * 10
  assert float(losses.info_nce(jnp.asarray(e), jnp.asarray(e), 0.01)) < 1e-6


def test_tmr_loss_terms_and_training_reduces_loss(tmr_setup):
  model, variables, batch, out = tmr_setup
  text, text_mask, motion, motion_mask = batch
  caption_emb = jax.random.normal(jax.random.PRNGKey(7), (4, 8))
  total, terms = losses.tmr_loss(out, motion, motion_mask, caption_emb, W)
  w = W
  expected = (
    terms["reconstruction"]
    + w.kl * terms["kl"]
    + w.latent * terms["latent"]
    + w.contrastive * terms["contrastive"]
  )
  np.testing.assert_allclose(total, expected, rtol=1e-6)
  assert all(bool(jnp.isfinite(v)) for v in terms.values())

  opt = optax.adam(3e-3)
  params = variables["params"]
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state, key):
    def loss_fn(p):
      # Latent sampling on; dropout off (its threefry bits double the CPU compile time).
      o = model.apply({"params": p}, *batch, rngs={"sample": key})
      return losses.tmr_loss(o, motion, motion_mask, caption_emb, W)[0]

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  first = None
  for i in range(40):
    params, opt_state, loss = step(params, opt_state, jax.random.PRNGKey(i))
    first = float(loss) if first is None else first
  assert float(loss) < 0.75 * first


def test_encoder_and_decoder_standalone():
  """Output shapes of the building blocks (abstract evaluation only: no compilation)."""
  enc = ActorStyleEncoder(latent_dim=8, ff_dim=16, num_layers=1, num_heads=2, num_tokens=3)
  x, mask = jnp.ones((2, 5, 3)), jnp.ones((2, 5), bool)
  key = jax.random.PRNGKey(0)
  tokens, aux = jax.eval_shape(lambda k: enc.init_with_output(k, x, mask)[0], key)
  assert tokens.shape == (2, 3, 8)
  assert aux["states"].shape == (2, 8, 8) and aux["mask"].shape == (2, 8)
  dec = ActorStyleDecoder(motion_features=3, latent_dim=8, ff_dim=16, num_layers=1, num_heads=2)
  out = jax.eval_shape(lambda k: dec.init_with_output(k, jnp.ones((2, 8)), mask)[0], key)
  assert out.shape == (2, 5, 3)


def test_paper_size_parameter_count():
  """Paper config (latent 256, 6 layers, ff 1024) has the expected size (eval_shape only)."""
  cfg = TMRConfig()
  b = (jnp.ones((1, 4, 384)), jnp.ones((1, 4), bool))  # text tokens
  b += (jnp.ones((1, 6, 263)), jnp.ones((1, 6), bool))  # motion frames
  init = lambda k: TMR(cfg).init({"params": k, "sample": k}, *b)  # noqa: E731
  shapes = jax.eval_shape(init, jax.random.PRNGKey(0))["params"]
  count = {k: sum(x.size for x in jax.tree_util.tree_leaves(v)) for k, v in shapes.items()}
  d, f = 256, 1024
  layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 4 * d  # attention, MLP, two LayerNorms
  assert count["motion_encoder"] == 6 * layer + (263 * d + d) + 2 * d
  assert count["text_encoder"] == 6 * layer + (384 * d + d) + 2 * d
