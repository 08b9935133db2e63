"""Refinement by inversion then DDIM (BioVAE eqs. 10-11) against hand computations, an oracle
denoiser, jit, and the two real denoisers (tiny `MotionUNet` and `BioVAEDenoiser`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax import diffusion
from motion_jax.diffusion import refine, samplers
from motion_jax.diffusion.schedule import alphas_cumprod_f64
from motion_jax.models.biovae import BioVAEConfig
from motion_jax.models.denoiser_common import TextConditionerConfig
from motion_jax.stages import biovae as bio_stage
from motion_jax.stages import diffusion as diff_stage

B, T, F, NT = 3, 16, 6, 100
SCHED = diffusion.make_schedule("linear", NT)
ABAR = alphas_cumprod_f64("linear", NT)
RNG = np.random.default_rng(0)
X0 = RNG.normal(size=(B, T, F)).astype(np.float32)
K_COND, K_UNCOND = (RNG.normal(size=(B, T, F)).astype(np.float32) for _ in range(2))


def _cond(b=B, t=T, mask=None):
  mask = np.ones((b, t), bool) if mask is None else mask
  return refine.RefineCond(jnp.zeros((b, 2, 4)), jnp.ones((b, 2), bool), jnp.asarray(mask))


def stub_apply(params, x, t, text, text_mask, keep, mask):
  """A known x̂0 independent of x: K_cond / K_uncond by branch, times (1 + t / 1000)."""
  del params, text, text_mask, mask
  reps = (x.shape[0] // B, 1, 1)  # guidance stacks both branches on the batch axis
  k = jnp.where(keep[:, None, None], jnp.tile(K_COND, reps), jnp.tile(K_UNCOND, reps))
  return k * (1.0 + t[:, None, None] / 1000.0)


@pytest.mark.parametrize(
  "text, scale, k",
  [("none", 1.0, K_UNCOND), ("caption", 1.0, K_COND), ("caption", 2.0, 2 * K_COND - K_UNCOND)],
)
def test_eq10_matches_the_hand_computation(text, scale, k):
  t = 30
  cfg = refine.RefineConfig(text=text, guidance_scale=scale)
  fn = refine._model_fn(stub_apply, None, _cond(), cfg)
  got = refine.invert_eq10(fn, SCHED, jnp.asarray(X0), t)
  a, s = np.sqrt(ABAR[t]), np.sqrt(1 - ABAR[t])
  x0_hat = k * (1 + t / 1000)
  eps = (X0 - a * x0_hat) / s  # eps of the x0 model at x_in = x_0, level t
  np.testing.assert_allclose(got, a * X0 + s * eps, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got, X0 + a * (X0 - x0_hat), rtol=1e-5, atol=1e-5)


def linear_apply(params, x, t, text, text_mask, keep, mask):
  del params, text, text_mask, keep, mask
  return 0.5 * x + 0.001 * t[:, None, None]


@pytest.mark.parametrize("inversion", refine.INVERSIONS)
def test_refine_matches_a_hand_rolled_ddim_loop(inversion):
  t, steps = 40, 4
  cfg = refine.RefineConfig(inversion=inversion, steps=steps)
  got = refine.refine(linear_apply, None, SCHED, jnp.asarray(X0), _cond(), t, cfg)
  f = lambda x, tt: 0.5 * x + 0.001 * tt  # noqa: E731
  x = X0.astype(np.float64)
  if inversion == "eq10":
    a = np.sqrt(ABAR[t])
    x = x + a * (x - f(x, t))
  else:  # DDIM inversion from abar_0 through 10, 20, 30, 40
    levels = [0, 10, 20, 30, 40]
    for lo, hi in zip(levels[:-1], levels[1:], strict=True):
      x0h = f(x, hi)
      eps = (x - np.sqrt(ABAR[lo]) * x0h) / np.sqrt(1 - ABAR[lo])
      x = np.sqrt(ABAR[hi]) * x0h + np.sqrt(1 - ABAR[hi]) * eps
  for cur, nxt in zip([40, 30, 20, 10], [30, 20, 10, None], strict=True):  # DDIM down to clean
    x0h = f(x, cur)
    if nxt is None:
      x = x0h
      break
    eps = (x - np.sqrt(ABAR[cur]) * x0h) / np.sqrt(1 - ABAR[cur])
    x = np.sqrt(ABAR[nxt]) * x0h + np.sqrt(1 - ABAR[nxt]) * eps
  np.testing.assert_allclose(got, x, rtol=2e-4, atol=2e-4)
  np.testing.assert_array_equal(samplers.partial_timesteps(40, 4), [40, 30, 20, 10])


@pytest.mark.parametrize("inversion", refine.INVERSIONS)
def test_oracle_denoiser_returns_the_clean_clip_and_zero_padding(inversion):
  clean = RNG.normal(size=(B, T, F)).astype(np.float32)
  noisy = clean + 0.1 * RNG.normal(size=clean.shape).astype(np.float32)
  mask = np.arange(T)[None] < np.array([T, 10, 12])[:, None]

  def oracle(params, x, t, text, text_mask, keep, m):
    return jnp.asarray(clean) * m[..., None]

  cfg = refine.RefineConfig(inversion=inversion)
  for t in (10, 60):
    out = refine.refine(oracle, None, SCHED, jnp.asarray(noisy), _cond(mask=mask), t, cfg)
    np.testing.assert_allclose(out, clean * mask[..., None], atol=1e-5)


def test_refine_jits_and_equals_the_eager_call():
  cfg = refine.RefineConfig(steps=3)
  jitted = jax.jit(refine.refine, static_argnums=(0, 5, 6), static_argnames="prediction")
  a = jitted(linear_apply, None, SCHED, jnp.asarray(X0), _cond(), 30, cfg)
  b = refine.refine(linear_apply, None, SCHED, jnp.asarray(X0), _cond(), 30, cfg)
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  fn = refine.make_refine_fn(linear_apply, SCHED, 30, cfg)
  np.testing.assert_allclose(fn(None, jnp.asarray(X0), _cond(), None), b, rtol=1e-5, atol=1e-5)


def test_config_is_validated():
  with pytest.raises(ValueError, match="inversion"):
    refine.RefineConfig(inversion="null_text")
  with pytest.raises(ValueError, match="text"):
    refine.RefineConfig(text="tokens")


# ---- the real denoisers, tiny ----------------------------------------------------------------
FM, FT = 263, refine.MINILM_WIDTH
TEXT = TextConditionerConfig(width=16, num_layers=1, num_heads=2, ff_dim=32)
DIFF = diff_stage.DiffusionStageConfig(
  unet=diff_stage.UNetConfig(base_dim=8, dim_mults=(1, 2), groups=4, attention_heads=2, text=TEXT),
  num_timesteps=NT,
)
BIO = bio_stage.BioVAEStageConfig(
  module=BioVAEConfig(latent=16, hidden=16, muscle_dim=8, muscle_heads=2, decoder_hidden=16)
)


def _init(model, seed):
  """Random parameters of the right shapes (``model.init`` itself runs eagerly for ~60 s)."""
  x = jnp.zeros((1, T, FM))
  c = refine.null_cond(jnp.ones((1, T), bool))
  shapes = jax.eval_shape(
    model.init,
    jax.random.PRNGKey(seed),
    x,
    jnp.zeros(1, jnp.int32),
    c.text,
    c.text_mask,
    jnp.ones(1, bool),
    c.mask,
  )["params"]
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)


@pytest.mark.parametrize("denoiser", ["unet", "biovae"])
def test_tiny_denoisers_run_through_the_refiner(denoiser):
  mean = np.zeros(FM, np.float32)
  mean[3] = 0.9  # root height
  std = np.full(FM, 0.1, np.float32)
  if denoiser == "unet":
    model = diff_stage.make_model(DIFF, "unet", FM)
  else:
    model = bio_stage.make_model(DIFF, BIO, FM, tuple(mean), tuple(std))
  params = _init(model, 0)
  cfg = refine.RefineConfig(ts=(20,), steps=2)
  refiner = refine.make_refiner(
    model, params, diff_stage.make_schedule(DIFF), mean, std, T, cfg, chunk=2
  )
  clips = [mean + 0.05 * RNG.normal(size=(n, FM)).astype(np.float32) for n in (T, 10, 12)]
  out = refiner(clips, 20)
  assert [o.shape for o in out] == [(T, FM), (10, FM), (12, FM)]
  assert all(np.isfinite(o).all() for o in out)
  assert not np.allclose(out[1], clips[1])  # the model changed the clip
  with pytest.raises(ValueError, match="clip lengths"):
    refiner([np.zeros((T + 1, FM), np.float32)], 20)
