"""Discrete-time Gaussian diffusion: the noise schedule, the forward process and the targets.

The variance-preserving process of DDPM (Ho et al. 2020): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t)
eps, t = 0..T-1. `Schedule` is a small frozen pytree holding, per training timestep, the betas, the
cumulative product abar, the EDM-style noise level sigma = sqrt((1 - abar) / abar) (the sigma of
DPM-Solver++ and of Karras et al.) and the log-SNR lambda = log(abar / (1 - abar)) (Kingma et al.
2021, VDM). Tables are computed in float64 on the host and stored as float32.

Prediction targets (``'x0'``, ``'eps'``, ``'v'``) and the exact conversions between them:
v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022, "Progressive distillation", Sec. 4).

Choices the papers leave open, as arguments with these defaults:
* ``kind='linear'``: betas linear from 1e-4 to 0.02 with T = 1000 (DDPM Sec. 4; BioVAE IV-F,
  StableMoFusion). ``'cosine'``: Nichol & Dhariwal 2021 eq. 17 with offset s = 0.008, the betas
  derived from it clipped at 0.999 (their Sec. 3.2), i.e. diffusers' ``squaredcos_cap_v2``.
  ``'scaled_linear'``: sqrt(beta) linear from sqrt(beta_start) to sqrt(beta_end), squared (Latent
  Diffusion / Stable Diffusion's schedule, diffusers' ``scaled_linear``; MLD and LADiff use it with
  0.00085-0.012).
"""

from __future__ import annotations

import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
SCHEDULES = ("linear", "cosine", "scaled_linear")
PREDICTIONS = ("x0", "eps", "v")


@flax.struct.dataclass
class Schedule:
  """Per-timestep tables of a discrete VP diffusion, each ``[T]`` float32."""

  betas: Array
  alphas_cumprod: Array  # abar_t
  sigmas: Array  # sqrt((1 - abar_t) / abar_t)
  log_snr: Array  # log(abar_t / (1 - abar_t)) = -2 log sigma_t
  kind: str = flax.struct.field(pytree_node=False, default="linear")
  beta_start: float = flax.struct.field(pytree_node=False, default=1e-4)
  beta_end: float = flax.struct.field(pytree_node=False, default=0.02)

  @property
  def num_timesteps(self) -> int:
    return int(self.betas.shape[0])

  @property
  def sqrt_alphas_cumprod(self) -> Array:
    return jnp.sqrt(self.alphas_cumprod)

  @property
  def sqrt_one_minus_alphas_cumprod(self) -> Array:
    return jnp.sqrt(1.0 - self.alphas_cumprod)

  def host_alphas_cumprod(self) -> np.ndarray:
    """abar in float64, recomputed exactly from the definition (for sampler plans)."""
    return alphas_cumprod_f64(self.kind, self.num_timesteps, self.beta_start, self.beta_end)


def _cosine_alpha_bar(t: np.ndarray, s: float = 0.008) -> np.ndarray:
  """Nichol & Dhariwal 2021 eq. 17, unnormalised: f(t) = cos^2((t / T + s) / (1 + s) * pi / 2)."""
  return np.cos((t + s) / (1.0 + s) * math.pi / 2.0) ** 2


def betas_f64(
  kind: str, num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> np.ndarray:
  """The betas in float64: linear (DDPM Sec. 4), scaled-linear (module docstring) or from the
  cosine abar (Nichol & Dhariwal eq. 17, beta_t = 1 - abar_t / abar_{t-1} clipped at 0.999)."""
  if kind == "linear":
    return np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
  if kind == "scaled_linear":
    return np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), num_timesteps) ** 2
  if kind == "cosine":
    i = np.arange(num_timesteps, dtype=np.float64)
    a1 = _cosine_alpha_bar(i / num_timesteps)
    a2 = _cosine_alpha_bar((i + 1) / num_timesteps)
    return np.minimum(1.0 - a2 / a1, 0.999)
  raise ValueError(f"schedule kind must be one of {SCHEDULES}, got {kind!r}")


def alphas_cumprod_f64(
  kind: str, num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> np.ndarray:
  """abar_t = prod_{s<=t} (1 - beta_s) (DDPM eq. 4's notation), float64."""
  return np.cumprod(1.0 - betas_f64(kind, num_timesteps, beta_start, beta_end))


def make_schedule(
  kind: str = "linear",
  num_timesteps: int = 1000,
  beta_start: float = 1e-4,
  beta_end: float = 0.02,
) -> Schedule:
  """The schedule's tables (see the module docstring); ``beta_*`` do not matter for ``'cosine'``."""
  if num_timesteps < 2:
    raise ValueError(f"num_timesteps must be >= 2, got {num_timesteps}")
  betas = betas_f64(kind, num_timesteps, beta_start, beta_end)
  abar = np.cumprod(1.0 - betas)
  sigmas = np.sqrt((1.0 - abar) / abar)
  log_snr = np.log(abar) - np.log1p(-abar)
  f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
  return Schedule(
    f32(betas), f32(abar), f32(sigmas), f32(log_snr), kind, float(beta_start), float(beta_end)
  )


def _bcast(coef: Array, x: Array) -> Array:
  """``coef [B]`` reshaped to broadcast against ``x [B, ...]``."""
  return jnp.reshape(coef, coef.shape + (1,) * (x.ndim - coef.ndim))


def alpha_sigma(schedule: Schedule, t: Array) -> tuple[Array, Array]:
  """(sqrt(abar_t), sqrt(1 - abar_t)) for integer timesteps ``t [B]``."""
  abar = schedule.alphas_cumprod[t]
  return jnp.sqrt(abar), jnp.sqrt(1.0 - abar)


def q_sample(schedule: Schedule, x0: Array, t: Array, noise: Array) -> Array:
  """Samples q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) (DDPM eq. 4).

  Args:
    x0: clean data ``[B, ...]``; t: integer timesteps ``[B]``; noise: eps ~ N(0, I) like x0.
  """
  a, s = alpha_sigma(schedule, t)
  return _bcast(a, x0) * x0 + _bcast(s, x0) * noise


def noise_batch(
  schedule: Schedule, x0: Array, key_t: Array, key_noise: Array, noise_mask: Array | None = None
) -> tuple[Array, Array, Array]:
  """A training batch's corruption (DDPM Algorithm 1): t ~ U{0, ..., T-1} per example (``key_t``),
  eps ~ N(0, I) like x0 (``key_noise``; multiplied by ``noise_mask`` when given, so that masked
  entries, e.g. LADiff's inactive latent tokens, stay 0) and x_t = `q_sample`. Returns (t, eps,
  x_t)."""
  t = jax.random.randint(key_t, (x0.shape[0],), 0, schedule.num_timesteps)
  eps = jax.random.normal(key_noise, x0.shape, x0.dtype)
  if noise_mask is not None:
    eps = eps * noise_mask
  return t, eps, q_sample(schedule, x0, t, eps)


# ------------------------------------------------------------------------------------------------
# Prediction targets and conversions. ``a = sqrt(abar)``, ``s = sqrt(1 - abar)``, a^2 + s^2 = 1, and
# x_t = a x0 + s eps; v = a eps - s x0 (Salimans & Ho 2022, Sec. 4 / App. D).
# ------------------------------------------------------------------------------------------------
def velocity(x0: Array, eps: Array, a: Array, s: Array) -> Array:
  """v = a eps - s x0 (Salimans & Ho 2022, Sec. 4)."""
  return _bcast(a, x0) * eps - _bcast(s, x0) * x0


def x0_from_eps(x_t: Array, eps: Array, a: Array, s: Array) -> Array:
  """x0 = (x_t - s eps) / a (DDPM eq. 4 solved for x0; DDIM eq. 12's 'predicted x0')."""
  return (x_t - _bcast(s, x_t) * eps) / _bcast(a, x_t)


def eps_from_x0(x_t: Array, x0: Array, a: Array, s: Array) -> Array:
  """eps = (x_t - a x0) / s (DDPM eq. 4 solved for eps)."""
  return (x_t - _bcast(a, x_t) * x0) / _bcast(s, x_t)


def x0_from_v(x_t: Array, v: Array, a: Array, s: Array) -> Array:
  """x0 = a x_t - s v (Salimans & Ho 2022, Sec. 4, with a^2 + s^2 = 1)."""
  return _bcast(a, x_t) * x_t - _bcast(s, x_t) * v


def eps_from_v(x_t: Array, v: Array, a: Array, s: Array) -> Array:
  """eps = s x_t + a v (Salimans & Ho 2022, Sec. 4, with a^2 + s^2 = 1)."""
  return _bcast(s, x_t) * x_t + _bcast(a, x_t) * v


def training_target(prediction: str, x0: Array, eps: Array, a: Array, s: Array) -> Array:
  """What the denoiser regresses for ``prediction`` in ('x0', 'eps', 'v') at level (a, s)."""
  if prediction == "x0":
    return x0
  if prediction == "eps":
    return eps
  if prediction == "v":
    return velocity(x0, eps, a, s)
  raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


def to_x0_eps(
  prediction: str, output: Array, x_t: Array, a: Array, s: Array
) -> tuple[Array, Array]:
  """(x0, eps) implied by a model ``output`` of type ``prediction`` at ``x_t`` and level (a, s).

  For ``'x0'`` the eps is (x_t - a x0) / s, undefined where s = 0 (a clean level)."""
  if prediction == "x0":
    return output, eps_from_x0(x_t, output, a, s)
  if prediction == "eps":
    return x0_from_eps(x_t, output, a, s), output
  if prediction == "v":
    return x0_from_v(x_t, output, a, s), eps_from_v(x_t, output, a, s)
  raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


__all__ = [
  "PREDICTIONS",
  "SCHEDULES",
  "Schedule",
  "alpha_sigma",
  "alphas_cumprod_f64",
  "betas_f64",
  "eps_from_v",
  "eps_from_x0",
  "make_schedule",
  "q_sample",
  "to_x0_eps",
  "training_target",
  "velocity",
  "x0_from_eps",
  "x0_from_v",
]
