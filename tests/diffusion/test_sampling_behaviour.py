"""Behaviour of the samplers beyond step-by-step agreement: DDIM inversion round trips, the
sampled distribution, inpainting, guidance, condition dropout, keys and compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.diffusion import classifier_free as cfg_lib
from motion_jax.diffusion import make_schedule, samplers

SCHEDULE = make_schedule("linear")


def _eps_of_t(x, t):
  """An eps-model that ignores x: DDIM (eta 0) is then exactly invertible step by step."""
  tf = t.astype(jnp.float32)[:, None, None]
  return jnp.sin(tf / 50.0 + jnp.arange(x.shape[-1], dtype=jnp.float32)) * jnp.ones_like(x)


def _eps_smooth(x, t):
  """An x-dependent eps-model (Lipschitz 0.3 in x)."""
  tf = t.astype(jnp.float32)[:, None, None]
  return 0.3 * jnp.tanh(x) + 0.2 * jnp.cos(tf / 80.0)


def _round_trip(model, steps, x_t):
  x0, _ = samplers.run(model, samplers.ddim_plan(SCHEDULE, steps, 0.0), x_t, prediction="eps")
  back, _ = samplers.ddim_invert(model, samplers.ddim_inversion_plan(SCHEDULE, steps), x0)
  return float(jnp.abs(back - x_t).max())


def test_ddim_then_inversion_returns_the_start():
  x_t = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 4))
  # Exact when the model does not depend on x: both directions use eps(t_i); what is left is
  # float32 rounding through 50 affine steps whose coefficients reach 1 / sqrt(abar_999) ~ 160.
  assert _round_trip(_eps_of_t, 50, x_t) < 1e-3
  # With an x-dependent model the inversion evaluates the model at x_{t_{i-1}} instead of x_{t_i}:
  # a first-order error in the step size, so 10x more steps must shrink it several-fold.
  e20, e200 = _round_trip(_eps_smooth, 20, x_t), _round_trip(_eps_smooth, 200, x_t)
  assert e200 < e20 / 4, (e20, e200)
  assert e200 < 0.05


def _gaussian_posterior_mean(sigma_data, plan):
  """Exact x0-denoiser for data ~ N(0, sd^2) at the plan's level (a, s) of timestep t:
  E[x0 | x_t] = a sd^2 / (a^2 sd^2 + s^2) x_t (levels looked up, so t's rounding plays no part)."""

  def model(x, t):
    i = jnp.argmax(plan.timesteps == t[0])
    a, s = plan.a_cur[i], plan.s_cur[i]
    return a * sigma_data**2 / (a * a * sigma_data**2 + s * s) * x

  return model


# Discretisation error on this problem, measured: DDIM (eta 0) 50 steps -> std 0.476 (each DDIM
# step shrinks a Gaussian by the cosine of the angle between (a sd, s) and (a' sd, s')),
# DPM-Solver++
# SDE 10 steps -> 0.537, 100 steps -> 0.503, DDPM 1000 steps -> 0.493. Fine settings must be close
# to sd; the 10-step setting within its measured error.
@pytest.mark.parametrize(
  "sampler,steps,eta,tol",
  [
    ("ddpm", 1000, 0.0, 0.03),
    ("ddim", 1000, 0.0, 0.02),
    ("ddim", 1000, 1.0, 0.03),
    ("dpmpp_2m_sde", 100, 0.0, 0.02),
    ("dpmpp_2m_sde", 10, 0.0, 0.1),
  ],
)
def test_samplers_draw_the_data_distribution(sampler, steps, eta, tol):
  """With the exact denoiser of Gaussian data the samples have the data's spread."""
  sd = 0.5
  key_init, key = jax.random.split(jax.random.PRNGKey(1))
  x_init = jax.random.normal(key_init, (8192, 1, 1))
  plan = samplers.make_plan(SCHEDULE, sampler, steps, eta=eta)
  x, _ = samplers.run(_gaussian_posterior_mean(sd, plan), plan, x_init, key, prediction="x0")
  assert abs(float(x.std()) - sd) < tol * sd, float(x.std())
  assert abs(float(x.mean())) < 4 * sd / np.sqrt(8192)


def test_keys_drive_the_noise():
  plan = samplers.dpmpp_2m_sde_plan(SCHEDULE, 10)
  model = _gaussian_posterior_mean(1.0, plan)
  x_init = jnp.ones((2, 4, 3))
  a, _ = samplers.run(model, plan, x_init, jax.random.PRNGKey(0))
  b, _ = samplers.run(model, plan, x_init, jax.random.PRNGKey(0))
  c, _ = samplers.run(model, plan, x_init, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(a, b)
  assert float(jnp.abs(a - c).max()) > 1e-2
  with pytest.raises(ValueError, match="key"):
    samplers.run(model, plan, x_init, None)


@pytest.mark.parametrize("sampler,steps", [("ddpm", 100), ("ddim", 20), ("dpmpp_2m_sde", 10)])
def test_inpainting_keeps_known_frames_and_informs_the_rest(sampler, steps):
  b, t, f = 2, 12, 3

  def mixing_model(x, tt):  # x0-prediction that mixes information across frames
    return 0.5 * jnp.broadcast_to(x.mean(axis=1, keepdims=True), x.shape) + 0.1 * jnp.tanh(x)

  known = jnp.broadcast_to(jnp.linspace(-2.0, 2.0, f), (b, t, f))
  mask = jnp.zeros((b, t, 1)).at[:, :4].set(1.0)  # first 4 frames known
  x_init = jax.random.normal(jax.random.PRNGKey(2), (b, t, f))
  plan = samplers.make_plan(SCHEDULE, sampler, steps)
  key = jax.random.PRNGKey(3)
  x, _ = samplers.run(
    mixing_model, plan, x_init, key, inpaint=samplers.Inpaint(known, mask), prediction="x0"
  )
  free, _ = samplers.run(mixing_model, plan, x_init, key, prediction="x0")
  np.testing.assert_allclose(x[:, :4], known[:, :4], atol=1e-6)  # re-imposed at the clean level
  assert float(jnp.abs(x[:, 4:] - free[:, 4:]).max()) > 1e-2  # the known frames steered the rest


def test_guidance_scale_one_is_the_conditional_prediction():
  calls = []

  def apply(x, t, cond, keep):
    calls.append(x.shape[0])
    c = jnp.where(keep[:, None, None], cond[:, None, :], 0.0)
    return 0.5 * x + c + 0.01 * t[:, None, None]

  x = jax.random.normal(jax.random.PRNGKey(0), (3, 5, 2))
  t = jnp.asarray([10, 500, 900])
  cond = jnp.asarray([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
  keep1, keep0 = jnp.ones(3, bool), jnp.zeros(3, bool)
  c_out, u_out = apply(x, t, cond, keep1), apply(x, t, cond, keep0)
  calls.clear()
  np.testing.assert_allclose(cfg_lib.guided_model_fn(apply, cond, 1.0)(x, t), c_out, atol=1e-6)
  assert calls == [6]  # one batched call with the conditional and unconditional rows
  np.testing.assert_allclose(cfg_lib.guided_model_fn(apply, cond, 0.0)(x, t), u_out, atol=1e-6)
  np.testing.assert_allclose(
    cfg_lib.guided_model_fn(apply, cond, 2.5)(x, t), u_out + 2.5 * (c_out - u_out), atol=1e-5
  )


def test_condition_dropout_rate():
  keys = jax.random.split(jax.random.PRNGKey(0), 200)
  keep = jax.vmap(lambda k: cfg_lib.drop_condition(k, 64, 0.1))(keys)  # 200 batches of 64
  rate = 1.0 - float(keep.mean())
  # 12,800 Bernoulli(0.1) draws: standard error 0.00265; 4 of them
  assert abs(rate - 0.1) < 4 * np.sqrt(0.09 / keep.size), rate
  per_batch = 1.0 - keep.mean(axis=1)
  assert float(per_batch.std()) > 0  # independent per example, not one draw per batch
  assert bool(cfg_lib.drop_condition(jax.random.PRNGKey(1), 64, 0.0).all())
  assert not bool(cfg_lib.drop_condition(jax.random.PRNGKey(1), 64, 1.0).any())


def test_sample_fn_compiles_once_per_plan():
  traces = []

  def denoise(params, x, t, cond):
    traces.append(1)
    return params["w"] * x + cond

  plan = samplers.dpmpp_2m_sde_plan(SCHEDULE, 10)
  sample = samplers.make_sample_fn(denoise, plan, prediction="x0")
  x = jnp.ones((2, 4, 3))
  out1 = sample({"w": jnp.float32(0.5)}, jnp.zeros((2, 1, 3)), x, jax.random.PRNGKey(0))
  out2 = sample({"w": jnp.float32(0.7)}, jnp.ones((2, 1, 3)), x, jax.random.PRNGKey(1))
  assert len(traces) == 1
  assert float(jnp.abs(out1 - out2).max()) > 0
