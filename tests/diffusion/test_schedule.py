"""The noise schedule, q_sample and the x0 / eps / v conversions (against diffusers' tables and
closed forms)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.diffusion import schedule as sch_lib

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

# diffusers builds its tables in float32 (betas, then a float32 cumprod); ours are float64 cast to
# float32. Measured: |rel| <= 3.6e-7 on abar (the float32 cumprod's rounding). sigma near t = 0
# is sqrt(1 - abar) with abar ~ 0.9999, so a float32 1 - abar keeps ~3 digits less: rel <= 1e-4.
# The cosine schedule's abar falls to ~2e-9, where the float32 cumprod's relative error grows to
# ~1e-5 at absolute differences ~3e-14; an absolute floor of 1e-7 (float32's step at 1) covers it.
ABAR_RTOL, ABAR_ATOL, SIGMA_RTOL = 2e-6, 1e-7, 2e-4


@pytest.mark.parametrize("kind,ref_kind", [("linear", "linear"), ("cosine", "squaredcos_cap_v2")])
def test_alphas_cumprod_match_diffusers(kind, ref_kind):
  ours = sch_lib.make_schedule(kind)
  ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=ref_kind)
  np.testing.assert_allclose(ours.betas, ref.betas.numpy(), rtol=1e-5)
  np.testing.assert_allclose(
    ours.alphas_cumprod, ref.alphas_cumprod.numpy(), rtol=ABAR_RTOL, atol=ABAR_ATOL
  )


def test_scaled_linear_matches_diffusers():
  """Latent diffusion's schedule with MLD / LADiff's betas (0.00085 - 0.012)."""
  ours = sch_lib.make_schedule("scaled_linear", 1000, 0.00085, 0.012)
  ref = diffusers.DDPMScheduler(
    num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012
  )
  np.testing.assert_allclose(ours.betas, ref.betas.numpy(), rtol=1e-5)
  np.testing.assert_allclose(
    ours.alphas_cumprod, ref.alphas_cumprod.numpy(), rtol=ABAR_RTOL, atol=ABAR_ATOL
  )
  assert not np.allclose(ours.betas, sch_lib.make_schedule("linear", 1000, 0.00085, 0.012).betas)


def test_sigmas_and_log_snr():
  s = sch_lib.make_schedule("linear")
  ref = diffusers.DPMSolverMultistepScheduler(beta_schedule="linear")
  abar = ref.alphas_cumprod.numpy().astype(np.float64)
  np.testing.assert_allclose(s.sigmas, np.sqrt((1 - abar) / abar), rtol=SIGMA_RTOL)
  # sigma_{T-1} and sigma_0 as FACTS.md records them (~157.41, ~0.0100)
  assert abs(float(s.sigmas[-1]) - 157.41) < 0.01 and abs(float(s.sigmas[0]) - 0.0100) < 1e-4
  # log-SNR = log(abar / (1 - abar)) = -2 log sigma, and it decreases with t
  np.testing.assert_allclose(s.log_snr, -2 * np.log(np.asarray(s.sigmas, np.float64)), atol=1e-4)
  assert np.all(np.diff(np.asarray(s.log_snr)) < 0)
  # the linear betas are DDPM's: 1e-4 .. 0.02 over T = 1000
  assert s.num_timesteps == 1000
  np.testing.assert_allclose([s.betas[0], s.betas[-1]], [1e-4, 0.02], rtol=1e-6)


def test_q_sample_is_the_forward_marginal():
  s = sch_lib.make_schedule()
  key_x, key_n = jax.random.split(jax.random.PRNGKey(0))
  x0 = jnp.full((4096, 1), 2.0)
  t = jnp.full((4096,), 500)
  xt = sch_lib.q_sample(s, x0, t, jax.random.normal(key_n, x0.shape))
  a = float(jnp.sqrt(s.alphas_cumprod[500]))
  # mean sqrt(abar) x0, std sqrt(1 - abar); 4096 draws: 5 standard errors
  se = np.sqrt(1 - a * a) / np.sqrt(4096)
  assert abs(float(xt.mean()) - 2 * a) < 5 * se
  assert abs(float(xt.std()) - np.sqrt(1 - a * a)) < 0.05
  # and it matches diffusers' add_noise on the same noise
  ref = diffusers.DDPMScheduler(beta_schedule="linear")
  noise = np.random.default_rng(0).standard_normal((3, 5, 2)).astype(np.float32)
  x0 = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32)
  tt = np.array([0, 499, 999])
  want = ref.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(tt))
  got = sch_lib.q_sample(s, jnp.asarray(x0), jnp.asarray(tt), jnp.asarray(noise))
  np.testing.assert_allclose(got, want.numpy(), atol=2e-6)


def test_noise_batch_draws_t_and_eps_from_their_keys_and_masks_the_noise():
  """The training corruption shared by the diffusion, BioVAE and LADiff stages: t from key_t over
  [0, T), eps from key_noise, x_t = q_sample; masked noise entries are 0, so x_t = a x0 there."""
  s = sch_lib.make_schedule()
  k_t, k_n = jax.random.split(jax.random.PRNGKey(3))
  x0 = jax.random.normal(jax.random.PRNGKey(4), (256, 3, 2))
  t, eps, xt = sch_lib.noise_batch(s, x0, k_t, k_n)
  np.testing.assert_array_equal(t, jax.random.randint(k_t, (256,), 0, 1000))
  np.testing.assert_array_equal(eps, jax.random.normal(k_n, x0.shape))
  np.testing.assert_array_equal(xt, sch_lib.q_sample(s, x0, t, eps))
  assert t.min() >= 0 and t.max() <= 999 and len(np.unique(t)) > 100
  mask = jnp.asarray([1.0, 0.0, 1.0])[None, :, None]
  t2, eps2, xt2 = sch_lib.noise_batch(s, x0, k_t, k_n, mask)
  np.testing.assert_array_equal(t2, t)
  np.testing.assert_array_equal(eps2, eps * mask)
  assert np.all(np.asarray(eps2)[:, 1] == 0) and np.all(np.asarray(eps2)[:, 0] != 0)
  a, _ = sch_lib.alpha_sigma(s, t)
  np.testing.assert_allclose(xt2[:, 1], a[:, None] * x0[:, 1], rtol=1e-6)


@pytest.mark.parametrize("prediction", sch_lib.PREDICTIONS)
def test_targets_and_conversions_are_consistent(prediction):
  s = sch_lib.make_schedule()
  rng = np.random.default_rng(0)
  x0 = jnp.asarray(rng.standard_normal((3, 4, 2)), jnp.float32)
  eps = jnp.asarray(rng.standard_normal((3, 4, 2)), jnp.float32)
  t = jnp.asarray([1, 400, 900])
  a, sg = sch_lib.alpha_sigma(s, t)
  xt = sch_lib.q_sample(s, x0, t, eps)
  target = sch_lib.training_target(prediction, x0, eps, a, sg)
  x0_hat, eps_hat = sch_lib.to_x0_eps(prediction, target, xt, a, sg)
  np.testing.assert_allclose(x0_hat, x0, atol=2e-3 if prediction == "eps" else 1e-5)
  np.testing.assert_allclose(eps_hat, eps, atol=2e-3 if prediction == "x0" else 1e-5)
  if prediction == "v":  # v = a eps - s x0 against diffusers' get_velocity
    ref = diffusers.DDPMScheduler(beta_schedule="linear")
    want = ref.get_velocity(
      torch.from_numpy(np.array(x0)),
      torch.from_numpy(np.array(eps)),
      torch.tensor([1, 400, 900]),
    )
    np.testing.assert_allclose(target, want.numpy(), atol=1e-5)


def test_unknown_kind_and_prediction_raise():
  with pytest.raises(ValueError, match="linear"):
    sch_lib.make_schedule("quadratic")
  x = jnp.zeros((1, 2))
  with pytest.raises(ValueError, match="x0"):
    sch_lib.training_target("score", x, x, jnp.ones(1), jnp.ones(1))
