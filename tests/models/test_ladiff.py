"""LADiff's length-aware VAE and latent denoiser: active sub-spaces, masking, shapes, losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax import losses
from motion_jax.models.denoiser_common import TextConditionerConfig
from motion_jax.models.ladiff import (
  LAVAE,
  LatentDenoiser,
  LatentDenoiserConfig,
  LAVAEConfig,
  active_mask,
  active_subspaces,
)

F = 7
CFG = LAVAEConfig(num_subspaces=5, latent_dim=16, frames_per_subspace=48, num_layers=2,
                  num_heads=2, ff_dim=32)  # fmt: skip
SMALL = LAVAEConfig(
  num_subspaces=5, latent_dim=16, frames_per_subspace=4, num_layers=1, num_heads=2, ff_dim=32
)  # fmt: skip  (r = 4: short clips reach all K)


def _batch(lengths, frames=24, seed=0):
  x = jax.random.normal(jax.random.PRNGKey(seed), (len(lengths), frames, F))
  mask = jnp.arange(frames)[None] < jnp.asarray(lengths)[:, None]
  return x * mask[..., None], mask


@pytest.mark.parametrize("f,k", [(1, 1), (48, 1), (49, 2), (96, 2), (196, 5), (240, 5), (500, 5)])
def test_active_subspaces_ceil(f, k):
  assert int(active_subspaces(np.array([f]), CFG)[0]) == k
  assert int(active_subspaces(jnp.array([f]), CFG)[0]) == k
  fixed = LAVAEConfig(length_aware=False)
  assert int(active_subspaces(np.array([f]), fixed)[0]) == fixed.num_subspaces
  np.testing.assert_array_equal(active_mask(np.array([f]), CFG)[0], np.arange(5) < k)


@pytest.fixture(scope="module")
def vae():
  model = LAVAE(SMALL, F)
  x, mask = _batch([3, 5, 20])
  params = model.init(jax.random.PRNGKey(1), x, mask)["params"]
  return model, params


def test_lavae_shapes_and_zeroed_inactive(vae):
  model, params = vae
  fn = jax.jit(lambda x, m: model.apply({"params": params}, x, m, jax.random.PRNGKey(2)))
  for frames, lengths in ((8, [1, 4, 8]), (24, [5, 13, 20])):
    x, mask = _batch(lengths, frames)
    recon, aux = fn(x, mask)
    assert recon.shape == (3, frames, F) and aux["z"].shape == (3, 5, 16)
    k = active_subspaces(np.asarray(lengths), SMALL)
    for i, ki in enumerate(k):
      for name in ("mu", "logvar", "z"):
        assert np.all(np.asarray(aux[name][i, ki:]) == 0.0)
        assert np.all(np.abs(np.asarray(aux[name][i, :ki])).sum(-1) > 0)
      assert np.all(np.asarray(recon[i, lengths[i] :]) == 0.0)


def test_lavae_decoder_ignores_inactive_latents(vae):
  """Changing the inactive tokens' values leaves the decoded motion unchanged; changing an active
  token changes it (so the check is not vacuous)."""
  model, params = vae
  lengths = jnp.array([1, 4, 5, 20])  # k = 1, 1, 2, 5 (r = 4)
  mask = jnp.arange(24)[None] < lengths[:, None]
  active = active_mask(lengths, SMALL)
  z = jax.random.normal(jax.random.PRNGKey(3), (4, 5, 16))
  junk = 100.0 * jax.random.normal(jax.random.PRNGKey(4), z.shape)
  z2 = jnp.where(active[..., None], z, junk)

  apply = jax.jit(lambda z: model.apply({"params": params}, z, active, mask, method=LAVAE.decode))

  def dec(z):
    return np.asarray(apply(z))

  base = dec(z)
  np.testing.assert_allclose(dec(z2), base, atol=1e-6, rtol=0)
  z3 = z.at[:, 0].add(1.0)  # token 0 is active for every length
  assert np.all(np.abs(dec(z3) - base).max(axis=(1, 2)) > 1e-3)


def test_lavae_encoder_ignores_frames_beyond_length(vae):
  model, params = vae
  x, mask = _batch([5, 13])
  noisy = jnp.where(mask[..., None], x, 50.0)
  enc = jax.jit(lambda x: model.apply({"params": params}, x, mask, method=LAVAE.encode))
  mu1, _, _ = enc(x)
  mu2, _, _ = enc(noisy)
  np.testing.assert_allclose(np.asarray(mu1), np.asarray(mu2), atol=1e-5)


def test_fixed_latent_baseline_uses_all_tokens():
  cfg = LAVAEConfig(num_subspaces=3, latent_dim=8, num_layers=1, num_heads=2, ff_dim=16,
                    length_aware=False)  # fmt: skip
  model = LAVAE(cfg, F)
  x, mask = _batch([2, 20])
  params = model.init(jax.random.PRNGKey(0), x, mask)["params"]
  _, aux = model.apply({"params": params}, x, mask)
  assert np.asarray(aux["active"]).all()
  assert np.all(np.abs(np.asarray(aux["mu"])).sum(-1) > 0)


def test_denoiser_ignores_inactive_tokens():
  text = TextConditionerConfig(width=8, num_layers=1, num_heads=2, ff_dim=16)
  model = LatentDenoiser(LatentDenoiserConfig(num_layers=1, num_heads=2, ff_dim=32, text=text))
  b, kk, d = 3, 5, 16
  active = active_mask(jnp.array([30, 100, 240]), CFG)  # k = 1, 3, 5
  z = jax.random.normal(jax.random.PRNGKey(0), (b, kk, d))
  tokens = jax.random.normal(jax.random.PRNGKey(1), (b, 4, 12))
  tmask = jnp.ones((b, 4), bool)
  t, keep = jnp.array([0, 500, 999]), jnp.array([True, False, True])
  params = model.init(jax.random.PRNGKey(2), z, t, tokens, tmask, keep, active)["params"]

  apply = jax.jit(lambda z: model.apply({"params": params}, z, t, tokens, tmask, keep, active))

  def f(z):
    return np.asarray(apply(z))

  out = f(z)
  assert out.shape == (b, kk, d)
  assert np.all(out[~np.asarray(active)] == 0.0)
  z2 = jnp.where(active[..., None], z, 1e3 * jax.random.normal(jax.random.PRNGKey(5), z.shape))
  np.testing.assert_allclose(f(z2), out, atol=1e-6, rtol=0)
  assert np.abs(f(z.at[:, 0].add(1.0)) - out).max() > 1e-3


def test_losses_only_count_active_and_valid():
  b, t, kk, d = 2, 10, 3, 4
  recon = jnp.zeros((b, t, F))
  target = jnp.ones((b, t, F))
  frame_mask = jnp.arange(t)[None] < jnp.array([[4], [10]])
  target = jnp.where(frame_mask[..., None], target, 1e3)  # padded frames would dominate
  active = jnp.array([[True, False, False], [True, True, False]])
  mu = jnp.where(active[..., None], 0.0, 5.0) * jnp.ones((b, kk, d))
  logvar = jnp.zeros((b, kk, d))
  total, terms = losses.lavae_loss(recon, target, frame_mask, mu, logvar, active)
  assert float(terms["recon"]) == pytest.approx(0.5)  # smooth-L1 of |d| = 1
  assert float(terms["kl"]) == 0.0  # the active posteriors are N(0, 1)
  assert float(total) == pytest.approx(0.5)
  _, t2 = losses.lavae_loss(recon, target, frame_mask, mu + 1.0, logvar, active)
  assert float(t2["kl"]) == pytest.approx(0.5)
  pred = jnp.where(active[..., None], 1.0, 100.0) * jnp.ones((b, kk, d))
  loss, _ = losses.latent_diffusion_loss(pred, jnp.zeros_like(pred), active)
  assert float(loss) == pytest.approx(1.0)
