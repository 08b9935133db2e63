"""Every sampler step against diffusers with the same fake model outputs and the same noise.

The fake model (`reference.fake_model_*`) depends on x and t, so a wrong timestep, level,
coefficient or solver order changes the trajectory. Noise: diffusers' ``variance_noise`` argument
(DDIM, DPM-Solver++) or its ``randn_tensor`` patched (DDPM), fed the arrays our `run` gets.

Tolerance: with the same abar table in both (ours, float64), every intermediate sample agrees
within 1e-5 times the sample's scale (max(1, max |x|) at that step: eps-parameterised steps divide
by sqrt(abar) ~ 6e-3 at t = 999, so their samples reach |x| ~ 1e3 and float32 rounding scales with
them). With diffusers' own float32 tables (see test_schedule) the differences reach 3e-5; that
case is checked at 1e-4.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.diffusion import make_schedule, samplers
from tests.diffusion.reference import (
  SHAPE,
  diffusers,
  fake_model_jax,
  reference_trajectory,
  torch,
)

PREDICTIONS = [("x0", "sample"), ("eps", "epsilon"), ("v", "v_prediction")]
SCHEDULE = make_schedule("linear")


def _same_tables(scheduler):
  scheduler.alphas_cumprod = torch.from_numpy(SCHEDULE.host_alphas_cumprod())
  return scheduler


def _assert_trajectories_close(ours, ref, tol=1e-5):
  ours = np.asarray(ours)
  assert ours.shape == ref.shape
  for i in range(len(ref)):
    scale = max(1.0, float(np.abs(ref[i]).max()))
    err = float(np.abs(ours[i] - ref[i]).max())
    assert err <= tol * scale, f"step {i}: max |diff| {err:.3g} > {tol} * {scale:.3g}"


def _ours(plan, x_init, noise, prediction):
  _, traj = samplers.run(
    fake_model_jax,
    plan,
    jnp.asarray(x_init),
    prediction=prediction,
    noise=None if noise is None else jnp.asarray(noise),
    trajectory=True,
  )
  return traj


def _inputs(steps, seed=0):
  rng = np.random.default_rng(seed)
  x_init = rng.standard_normal(SHAPE).astype(np.float32)
  noise = rng.standard_normal((steps, *SHAPE)).astype(np.float32)
  return x_init, noise


def _dpm(prediction, same_tables=True):
  s = diffusers.DPMSolverMultistepScheduler(
    num_train_timesteps=1000,
    beta_start=1e-4,
    beta_end=0.02,
    beta_schedule="linear",
    algorithm_type="sde-dpmsolver++",
    use_karras_sigmas=True,
    prediction_type=prediction,
  )
  return _same_tables(s) if same_tables else s


def test_karras_sigmas_and_timesteps_10_steps():
  plan = samplers.dpmpp_2m_sde_plan(SCHEDULE, 10)
  ref = _dpm("sample", same_tables=False)
  ref.set_timesteps(10)
  np.testing.assert_array_equal(plan.timesteps, ref.timesteps.numpy())
  np.testing.assert_array_equal(plan.timesteps, [999, 937, 864, 775, 663, 511, 301, 102, 18, 0])
  sig = np.asarray(plan.s_cur) / np.asarray(plan.a_cur)  # EDM sigma = s / alpha
  np.testing.assert_allclose(sig, ref.sigmas.numpy()[:-1], rtol=2e-4)  # float32 reference tables
  assert float(plan.s_next[-1]) == 0.0 and ref.sigmas.numpy()[-1] == 0.0  # final sigma = 0
  np.testing.assert_allclose(sig[[0, -1]], [157.41, 0.0100], rtol=1e-3)


@pytest.mark.parametrize("prediction,ref_prediction", PREDICTIONS)
def test_dpmpp_2m_sde_matches_diffusers(prediction, ref_prediction):
  x_init, noise = _inputs(10)
  ref = _dpm(ref_prediction)
  ref.set_timesteps(10)
  ts, want = reference_trajectory(ref, x_init, noise)
  plan = samplers.dpmpp_2m_sde_plan(SCHEDULE, 10)
  np.testing.assert_array_equal(plan.timesteps, ts)
  _assert_trajectories_close(_ours(plan, x_init, noise, prediction), want)


def test_dpmpp_2m_sde_matches_diffusers_own_tables():
  x_init, noise = _inputs(10, seed=1)
  ref = _dpm("sample", same_tables=False)
  ref.set_timesteps(10)
  _, want = reference_trajectory(ref, x_init, noise)
  plan = samplers.dpmpp_2m_sde_plan(SCHEDULE, 10)
  _assert_trajectories_close(_ours(plan, x_init, noise, "x0"), want, tol=1e-4)


@pytest.mark.parametrize("steps", [1, 2, 25])
def test_dpmpp_2m_sde_other_step_counts(steps):
  x_init, noise = _inputs(steps, seed=steps)
  ref = _dpm("sample")
  ref.set_timesteps(steps)
  ts, want = reference_trajectory(ref, x_init, noise)
  plan = samplers.dpmpp_2m_sde_plan(SCHEDULE, steps)
  np.testing.assert_array_equal(plan.timesteps, ts)
  _assert_trajectories_close(_ours(plan, x_init, noise, "x0"), want)


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("prediction,ref_prediction", PREDICTIONS)
def test_ddim_matches_diffusers(prediction, ref_prediction, eta):
  steps = 50
  x_init, noise = _inputs(steps, seed=2)
  ref = _same_tables(
    diffusers.DDIMScheduler(
      beta_schedule="linear", clip_sample=False, prediction_type=ref_prediction
    )
  )
  ref.set_timesteps(steps)
  x = torch.from_numpy(x_init)
  want = []
  for i, t in enumerate(ref.timesteps):
    from tests.diffusion.reference import fake_model_torch

    out = fake_model_torch(x, t)
    x = ref.step(out, t, x, eta=eta, variance_noise=torch.from_numpy(noise[i])).prev_sample
    want.append(x.numpy().copy())
  plan = samplers.ddim_plan(SCHEDULE, steps, eta)
  np.testing.assert_array_equal(plan.timesteps, ref.timesteps.numpy())
  _assert_trajectories_close(_ours(plan, x_init, noise, prediction), np.stack(want))


@pytest.mark.parametrize(
  "prediction,ref_prediction,steps",
  [("x0", "sample", 1000), ("eps", "epsilon", 100), ("v", "v_prediction", 50)],
)
def test_ddpm_matches_diffusers(monkeypatch, prediction, ref_prediction, steps):
  from diffusers.schedulers import scheduling_ddpm

  x_init, noise = _inputs(steps, seed=3)
  ref = _same_tables(
    diffusers.DDPMScheduler(
      beta_schedule="linear", clip_sample=False, prediction_type=ref_prediction
    )
  )
  ref.set_timesteps(steps)
  patch = {}
  monkeypatch.setattr(scheduling_ddpm, "randn_tensor", lambda *a, **k: patch["noise"])
  ts, want = reference_trajectory(ref, x_init, noise, ddpm_patch=patch)
  plan = samplers.ddpm_plan(SCHEDULE, steps)
  np.testing.assert_array_equal(plan.timesteps, ts)
  _assert_trajectories_close(_ours(plan, x_init, noise, prediction), want)


@pytest.mark.parametrize("prediction,ref_prediction", PREDICTIONS[1:])
def test_ddim_inversion_matches_diffusers(prediction, ref_prediction):
  steps = 20
  x0, _ = _inputs(steps, seed=4)
  ref = _same_tables(
    diffusers.DDIMInverseScheduler(
      beta_schedule="linear", clip_sample=False, prediction_type=ref_prediction
    )
  )
  ref.set_timesteps(steps)
  ts, want = reference_trajectory(ref, x0, None)
  plan = samplers.ddim_inversion_plan(SCHEDULE, steps)
  np.testing.assert_array_equal(plan.timesteps, ts)
  _, traj = samplers.ddim_invert(
    fake_model_jax, plan, jnp.asarray(x0), prediction=prediction, trajectory=True
  )
  _assert_trajectories_close(traj, want)
