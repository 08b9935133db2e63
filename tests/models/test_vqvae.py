"""Tests of the 1D-convolutional motion VQ-VAE (T2M-GPT / BIGE), tiny configs.

Parameters are drawn in numpy from the shapes `jax.eval_shape` gives for `model.init` (LeCun
normal kernels, zero biases): XLA's compilation of flax's random initialisers costs more on this
CPU than everything else in the file, and the tests are about the model, not its initialiser.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from motion_jax import losses
from motion_jax.models.vqvae import VQVAE, VQVAEConfig

C = 6  # motion channels


def _cfg(down_t, **kw):
  base = {"width": 32, "code_dim": 16, "num_codes": 8, "depth": 2, "dilation_growth": 2}
  return VQVAEConfig(down_t=down_t, **{**base, **kw})


def _keys(seed=0):
  return {"params": jax.random.PRNGKey(seed), "sample": jax.random.PRNGKey(seed + 1)}


def _variables(model, x, seed=0):
  """Variables with the structure of `model.init`: LeCun-normal kernels, zero biases and state."""
  shapes = jax.eval_shape(functools.partial(model.init, train=False), _keys(), x)
  rng = np.random.default_rng(seed)

  def make(path, s):
    if path[-1].key == "kernel":
      fan_in = np.prod(s.shape[:-1])
      return jnp.asarray(rng.normal(size=s.shape) / np.sqrt(fan_in), s.dtype)
    return jnp.zeros(s.shape, s.dtype)

  return jax.tree_util.tree_map_with_path(make, shapes)


def _smooth_motion(batch, frames, channels, seed=0):
  """Sums of slow sinusoids [B, T, C]: smooth, so the temporal term does not fight the fit."""
  rng = np.random.default_rng(seed)
  t = np.arange(frames)[None, :, None]
  freq = rng.uniform(0.05, 0.25, size=(batch, 1, channels))
  phase = rng.uniform(0, 2 * np.pi, size=(batch, 1, channels))
  amp = rng.uniform(0.5, 1.5, size=(batch, 1, channels))
  return jnp.asarray(amp * np.sin(freq * t + phase), jnp.float32)


@pytest.mark.parametrize("down_t", [1, 2])
def test_shapes(down_t):
  cfg = _cfg(down_t)
  assert cfg.downsample == 2**down_t
  model = VQVAE(cfg, C)
  x = jnp.zeros((3, 16, C))
  variables = jax.eval_shape(functools.partial(model.init, train=False), _keys(), x)
  assert set(variables) == {"params", "codebook"}
  cb = variables["codebook"]["quantizer"]
  assert cb["codebook"].shape == (8, 16) and cb["code_count"].shape == (8,)
  out = jax.eval_shape(
    lambda v, x: model.apply(
      v, x, train=True, mutable=["codebook"], rngs={"sample": _keys()["sample"]}
    ),
    variables,
    x,
  )
  (x_hat, aux), _ = out
  latent = 16 // 2**down_t
  assert x_hat.shape == (3, 16, C)
  assert aux["z_e"].shape == aux["z_q"].shape == (3, latent, 16)
  assert aux["indices"].shape == (3, latent)
  assert aux["perplexity"].shape == aux["dead_codes"].shape == ()
  z = jax.eval_shape(functools.partial(model.apply, method=VQVAE.encode), variables, x)
  assert z.shape == (3, latent, 16)
  y = jax.eval_shape(functools.partial(model.apply, method=VQVAE.decode), variables, z)
  assert y.shape == (3, 16, C)


@pytest.mark.parametrize("down_t,frames", [(1, 15), (2, 18), (2, 6)])
def test_length_not_a_multiple_of_the_downsampling_raises(down_t, frames):
  model = VQVAE(_cfg(down_t), C)
  with pytest.raises(ValueError, match="multiple"):
    jax.eval_shape(functools.partial(model.init, train=False), _keys(), jnp.zeros((1, frames, C)))


def test_wrong_channel_count_raises():
  model = VQVAE(_cfg(1), C)
  with pytest.raises(ValueError, match="channels"):
    jax.eval_shape(functools.partial(model.init, train=False), _keys(), jnp.zeros((1, 8, C + 1)))


@pytest.mark.parametrize("down_t", [1, 2])
def test_decoder_upsamples_each_latent_frame_onto_its_own_output_frames(down_t):
  """Nearest-neighbour upsampling keeps time aligned: latent frame j drives output frames around
  [s j, s j + s - 1] (s = 2**down_t), symmetrically, and leaves distant frames exactly alone."""
  s = 2**down_t
  model = VQVAE(_cfg(down_t, depth=1), C)
  latent = 24
  x = jnp.zeros((1, latent * s, C))
  variables = _variables(model, x)
  decode = jax.jit(functools.partial(model.apply, method=VQVAE.decode))
  z = jnp.asarray(np.random.default_rng(1).normal(size=(1, latent, 16)), jnp.float32)
  j = latent // 2
  base = np.asarray(decode(variables, z))
  moved = np.asarray(decode(variables, z.at[0, j].add(1.0)))
  changed = np.flatnonzero(np.abs(moved - base)[0].max(-1) > 0)
  assert changed.size
  assert (changed.min() + changed.max()) / 2 == pytest.approx(s * j + (s - 1) / 2)
  assert changed.min() > 0 and changed.max() < latent * s - 1  # local, not the whole sequence
  assert base.shape == (1, latent * s, C)


def _with_codebook(model, variables, x):
  """Variables whose codebook (initialised) holds every second encoding of x [2, 16, C]."""
  z_e = np.asarray(jax.jit(functools.partial(model.apply, method=VQVAE.encode))(variables, x))
  codebook = z_e[:, ::2].reshape(-1, z_e.shape[-1])
  state = {
    **variables["codebook"]["quantizer"],
    "codebook": jnp.asarray(codebook),
    "initted": jnp.array(True),
  }
  return {**variables, "codebook": {"quantizer": state}}, z_e, codebook


def test_eval_call_is_encode_quantize_decode():
  model = VQVAE(_cfg(1), C)
  x = _smooth_motion(2, 16, C)
  variables, z_e, codebook = _with_codebook(model, _variables(model, x), x)

  @jax.jit
  def run(variables, x):
    x_hat, aux = model.apply(variables, x, train=False)
    return x_hat, aux, model.apply(variables, aux["z_q"], method=VQVAE.decode)

  x_hat, aux, decoded = run(variables, x)
  np.testing.assert_allclose(np.asarray(aux["z_e"]), z_e, atol=1e-5)
  d = np.linalg.norm(z_e[..., None, :] - codebook, axis=-1)
  np.testing.assert_array_equal(np.asarray(aux["indices"]), d.argmin(-1))
  np.testing.assert_allclose(np.asarray(aux["z_q"]), codebook[d.argmin(-1)], atol=1e-6)
  np.testing.assert_allclose(np.asarray(x_hat), np.asarray(decoded), atol=1e-5)


def test_reconstruction_gradient_reaches_the_encoder_straight_through():
  """d L_rec / d theta_enc = (d z_e / d theta_enc)^T g, g = d L_rec(decode(z)) / dz at z = z_q:
  the quantiser passes the decoder's input gradient unchanged to the encoder outputs."""
  model = VQVAE(_cfg(1, depth=1), C)
  x = _smooth_motion(2, 16, C)
  variables, _, _ = _with_codebook(model, _variables(model, x), x)
  params = variables["params"]

  def rec(params):
    x_hat, _ = model.apply({**variables, "params": params}, x, train=False)
    return losses.reconstruction_loss(x_hat, x)

  def rec_of_latents(z):
    return losses.reconstruction_loss(model.apply(variables, z, method=VQVAE.decode), x)

  def encode(enc_params):
    p = {**params, "encoder": enc_params}
    return model.apply({**variables, "params": p}, x, method=VQVAE.encode)

  @jax.jit
  def both():
    grads = jax.grad(rec)(params)
    _, vjp = jax.vjp(encode, params["encoder"])
    z_q = variables["codebook"]["quantizer"]["codebook"][
      model.apply(variables, x, train=False)[1]["indices"]
    ]
    return grads, vjp(jax.grad(rec_of_latents)(z_q))[0]

  grads, expected = both()
  exp_leaves = jax.tree.leaves(expected)
  assert sum(float(jnp.abs(g).sum()) for g in exp_leaves) > 0
  for got, exp in zip(jax.tree.leaves(grads["encoder"]), exp_leaves, strict=True):
    np.testing.assert_allclose(np.asarray(got), np.asarray(exp), rtol=1e-4, atol=1e-7)
  assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads["decoder"])) > 0


def test_tiny_model_overfits_one_batch_with_the_vqvae_objective():
  """300 Adam steps on one fixed batch with `losses.vqvae_loss` (codebook as mutable state, the
  'sample' rng for init/reset, as `motion_jax.stages.vqvae.make_loss_fn`): the reconstruction
  error falls below 10 % of its initial value in training and in eval mode (a working model
  reaches ~1 %).

  Two codes for 32 latent vectors, so that the decoder cannot simply memorise one code per latent
  frame: the fit mostly needs the encoder to learn. Without the straight-through gradient the
  error usually stays at 3-25 % of its start, so not always above 10 %; the exact check of that
  path is `test_reconstruction_gradient_reaches_the_encoder_straight_through`.
  """
  model = VQVAE(_cfg(1, num_codes=2), C)
  x = _smooth_motion(4, 16, C)
  variables = _variables(model, x)
  params, mutables = variables["params"], {"codebook": variables["codebook"]}
  cfg = losses.VQLossConfig()
  tx = optax.adam(3e-3)

  def loss_fn(params, mutables, key):
    (x_hat, aux), new = model.apply(
      {"params": params, **mutables}, x, train=True, mutable=["codebook"], rngs={"sample": key}
    )
    loss, terms = losses.vqvae_loss(x, x_hat, aux["z_e"], aux["z_q"], cfg)
    return loss, (terms, dict(new))

  @jax.jit
  def train(params, mutables):
    def step(carry, key):
      params, opt_state, mutables = carry
      (_, (terms, mutables)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, mutables, key
      )
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, mutables), terms["recon"]

    keys = jax.random.split(jax.random.PRNGKey(0), 300)
    (params, _, mutables), recon = jax.lax.scan(step, (params, tx.init(params), mutables), keys)
    x_hat, _ = model.apply({"params": params, **mutables}, x, train=False)
    return recon, losses.reconstruction_loss(x_hat, x)

  recon, eval_recon = train(params, mutables)
  recon = np.asarray(recon)
  assert np.all(np.isfinite(recon))
  assert recon[0] > 0.1
  assert recon[-1] < 0.1 * recon[0], (recon[0], recon[-1])
  assert float(eval_recon) < 0.1 * recon[0], (recon[0], float(eval_recon))
