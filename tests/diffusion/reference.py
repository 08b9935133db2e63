"""Shared pieces of the diffusers comparisons: a fixed fake denoiser written twice (jax, torch)
and the reference loops that record every intermediate sample."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

SHAPE = (2, 8, 3)  # [B, frames, features]


def fake_model_jax(x, t):
  """A deterministic, x- and t-dependent 'denoiser' output (no parameters)."""
  tf = t.astype(jnp.float32)[:, None, None]
  feat = jnp.arange(x.shape[-1], dtype=jnp.float32)
  return 0.7 * jnp.tanh(0.5 * x) * jnp.cos(tf / 300.0) + 0.2 * jnp.sin(tf / 97.0 + feat)


def fake_model_torch(x, t):
  tf = torch.as_tensor(float(t), dtype=torch.float32)
  feat = torch.arange(x.shape[-1], dtype=torch.float32)
  return 0.7 * torch.tanh(0.5 * x) * torch.cos(tf / 300.0) + 0.2 * torch.sin(tf / 97.0 + feat)


def reference_trajectory(scheduler, x_init, noise, *, ddpm_patch=None, inverse=False):
  """Runs a diffusers scheduler with `fake_model_torch` and the given per-step noise; returns
  the timesteps and the samples after every step ``[N, *shape]``."""
  x = torch.from_numpy(np.asarray(x_init, np.float32))
  out = []
  for i, t in enumerate(scheduler.timesteps):
    model_out = fake_model_torch(x, t)
    kwargs = {}
    if noise is not None:
      if ddpm_patch is not None:
        ddpm_patch["noise"] = torch.from_numpy(noise[i])
      else:
        kwargs["variance_noise"] = torch.from_numpy(noise[i])
    x = scheduler.step(model_out, t, x, **kwargs).prev_sample
    out.append(x.numpy().copy())
  return scheduler.timesteps.numpy(), np.stack(out)
