"""Samplers as pure functions: a host-computed `Plan` and one `lax.scan` over its steps.

Every sampler here is one affine update per step,

    x_next = c_x x + c_x0 x0 + c_eps eps + c_d (x0 - x0_prev) + c_z z,      z ~ N(0, I),

where (x0, eps) come from the model's output at the current level (`schedule.to_x0_eps`) and
x0_prev is the previous step's x0. The plan holds the per-step coefficients, computed in float64
on the host from the schedule, and the model's integer time input per step:

* ``ddpm``: ancestral sampling with the posterior q(x_{t'} | x_t, x0) (DDPM, Ho et al. 2020,
  eqs. 6-7; "fixed small" variance beta-tilde, floored at 1e-20), on a ``leading`` timestep
  subset t_i = i * (T // N) when N < T (with N = T it is DDPM's Algorithm 2 exactly).
* ``ddim``: DDIM (Song et al. 2021) eq. 12 with sigma_t(eta) of eq. 16, ``leading`` spacing,
  and a last step to abar = 1 (``final_alpha_one``; False: abar_0).
* ``dpmpp_2m_sde``: SDE-DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2's multistep
  second order with the SDE first-order term of their Sec. 5 / App.; coefficients as in diffusers'
  ``sde-dpmsolver++`` midpoint solver, FACTS.md) on the Karras et al. 2022 eq. 5 noise levels
  (rho = 7, sigma_max = sigma_{T-1}, sigma_min = sigma_0), the model's timestep for each level by
  log-sigma interpolation, rounded, and a final level sigma = 0. First order at the first step (no
  history) and at the last (to sigma = 0), second order in between. The setting of BioVAE Sec.
  IV-F / StableMoFusion: 10 steps.
* ``ddim_inversion``: DDIM run towards noise (Song et al. 2021, Sec. 4.3: eq. 13 integrated the
  other way): from level abar_prev to abar_{t_i} with the model evaluated at the target timestep
  t_i on the current sample (the usual approximation x_{t_i} ~ x_{t_{i-1}}, as diffusers'
  ``DDIMInverseScheduler``); deterministic.
* partial trajectories (`ddim_plan_from`, `ddim_inversion_plan_to`): the same DDIM steps between
  clean and one level abar_t, on `partial_timesteps` (evenly spaced on [0, t]), for refinement
  by inversion then sampling (`refine`).

Noise comes from an explicit key (step i uses ``fold_in(key, i)``), or, for reference comparisons,
from an explicit ``noise [N, *x.shape]`` array.

Inpainting / editing (`Inpaint`): where ``mask`` is 1 the known clean frames are re-imposed on the
sample at every level, noised to that level (x = a known + s z'; clean at the last level), as in
RePaint's known-region step (Lugmayr et al. 2022, eq. 8, without resampling).

Choices the papers leave open, as arguments: timestep spacing ``leading`` (diffusers' default for
DDPM/DDIM), ``final_alpha_one=True``, the DDPM variance floor 1e-20, Karras rho = 7.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion.schedule import Schedule, to_x0_eps

Array = jax.Array
ModelFn = Callable[[Array, Array], Array]  # (x_t [B, ...], t [B] int32) -> output
SAMPLERS = ("ddpm", "ddim", "dpmpp_2m_sde")
KARRAS_RHO = 7.0


@flax.struct.dataclass
class Plan:
  """Per-step arrays ``[N]`` of a sampler (see the module docstring)."""

  timesteps: Array  # int32, the model's time input
  a_cur: Array  # level of the sample the model sees: x = a_cur x0 + s_cur eps
  s_cur: Array
  a_next: Array  # level after the step
  s_next: Array
  c_x: Array
  c_x0: Array
  c_eps: Array
  c_d: Array
  c_z: Array
  name: str = flax.struct.field(pytree_node=False, default="")

  @property
  def num_steps(self) -> int:
    return int(self.timesteps.shape[0])


class Inpaint(NamedTuple):
  """Known clean frames ``known [B, ...]`` and where they hold, ``mask`` (1 = known; broadcastable
  to ``known``, e.g. ``[B, T, 1]``)."""

  known: Array
  mask: Array


def _plan(name: str, timesteps, a_cur, s_cur, a_next, s_next, c_x, c_x0, c_eps, c_d, c_z) -> Plan:
  f = lambda v: jnp.asarray(np.asarray(v, np.float64), jnp.float32)  # noqa: E731
  return Plan(
    jnp.asarray(np.asarray(timesteps), jnp.int32),
    *(f(v) for v in (a_cur, s_cur, a_next, s_next, c_x, c_x0, c_eps, c_d, c_z)),
    name=name,
  )


def leading_timesteps(num_timesteps: int, steps: int) -> np.ndarray:
  """t_i = i * (T // N), descending (diffusers' ``leading`` spacing)."""
  if not 1 <= steps <= num_timesteps:
    raise ValueError(f"steps must be in [1, {num_timesteps}], got {steps}")
  return (np.arange(steps) * (num_timesteps // steps))[::-1].astype(np.int64)


def ddpm_plan(schedule: Schedule, steps: int | None = None) -> Plan:
  """Ancestral DDPM (Ho et al. 2020, eqs. 6-7 with x0 from the model; Algorithm 2 when N = T).

  For a step t -> t' (t' = t - T // N, abar_{t'} = 1 below 0): beta = 1 - abar_t / abar_{t'},
  mean = sqrt(abar_{t'}) beta / (1 - abar_t) x0 + sqrt(1 - beta) (1 - abar_{t'}) / (1 - abar_t) x_t,
  variance beta-tilde = (1 - abar_{t'}) / (1 - abar_t) beta (no noise at t = 0).
  """
  abar = schedule.host_alphas_cumprod()
  steps = steps or len(abar)
  ts = leading_timesteps(len(abar), steps)
  prev = ts - len(abar) // steps
  a_t = abar[ts]
  a_p = np.where(prev >= 0, abar[np.maximum(prev, 0)], 1.0)
  alpha = a_t / a_p
  beta = 1.0 - alpha
  var = np.maximum((1.0 - a_p) / (1.0 - a_t) * beta, 1e-20)
  zeros = np.zeros(steps)
  return _plan(
    "ddpm",
    ts,
    np.sqrt(a_t),
    np.sqrt(1.0 - a_t),
    np.sqrt(a_p),
    np.sqrt(1.0 - a_p),
    np.sqrt(alpha) * (1.0 - a_p) / (1.0 - a_t),
    np.sqrt(a_p) * beta / (1.0 - a_t),
    zeros,
    zeros,
    np.where(ts > 0, np.sqrt(var), 0.0),
  )


def _ddim(ts: np.ndarray, a_t: np.ndarray, a_p: np.ndarray, eta: float) -> Plan:
  """DDIM steps from levels ``a_t`` (the model seeing ``ts``) to ``a_p`` (`ddim_plan`'s eq. 12)."""
  std = eta * np.sqrt((1.0 - a_p) / (1.0 - a_t) * (1.0 - a_t / a_p))
  zeros = np.zeros(len(ts))
  return _plan(
    "ddim",
    ts,
    np.sqrt(a_t),
    np.sqrt(1.0 - a_t),
    np.sqrt(a_p),
    np.sqrt(1.0 - a_p),
    zeros,
    np.sqrt(a_p),
    np.sqrt(np.maximum(1.0 - a_p - std**2, 0.0)),
    zeros,
    std,
  )


def _ddim_inversion(ts: np.ndarray, abar: np.ndarray, first: float) -> Plan:
  """Inversion steps on ascending ``ts``, from level ``first`` then each previous target."""
  a_n = abar[ts]
  a_c = np.concatenate([[first], a_n[:-1]])
  zeros = np.zeros(len(ts))
  return _plan(
    "ddim_inversion",
    ts,
    np.sqrt(a_c),
    np.sqrt(1.0 - a_c),
    np.sqrt(a_n),
    np.sqrt(1.0 - a_n),
    zeros,
    np.sqrt(a_n),
    np.sqrt(1.0 - a_n),
    zeros,
    zeros,
  )


def ddim_plan(
  schedule: Schedule, steps: int, eta: float = 0.0, final_alpha_one: bool = True
) -> Plan:
  """DDIM (Song et al. 2021) eq. 12: x' = sqrt(abar') x0 + sqrt(1 - abar' - sigma^2) eps + sigma z,
  sigma = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar') (eq. 16)."""
  if eta < 0:
    raise ValueError(f"eta must be >= 0, got {eta}")
  abar = schedule.host_alphas_cumprod()
  ts = leading_timesteps(len(abar), steps)
  prev = ts - len(abar) // steps
  final = 1.0 if final_alpha_one else abar[0]
  a_p = np.where(prev >= 0, abar[np.maximum(prev, 0)], final)
  return _ddim(ts, abar[ts], a_p, eta)


def ddim_inversion_plan(schedule: Schedule, steps: int, initial_alpha_one: bool = True) -> Plan:
  """DDIM inversion (Song et al. 2021, Sec. 4.3, eq. 13 towards noise): ascending leading
  timesteps t_i = i (T // N); step i goes from abar_{t_{i-1}} (abar = 1, or abar_0 when
  ``initial_alpha_one`` is False, before the first) to abar_{t_i}, the model seeing t_i."""
  abar = schedule.host_alphas_cumprod()
  ts = leading_timesteps(len(abar), steps)[::-1].copy()
  return _ddim_inversion(ts, abar, 1.0 if initial_alpha_one else abar[0])


def partial_timesteps(t: int, steps: int) -> np.ndarray:
  """``steps`` descending timesteps from ``t``: t_i = round(t (N - i) / N), i = 0..N-1 (the
  partial-trajectory spacing of refinement / editing, SDEdit-style: evenly spaced on [0, t])."""
  if not 1 <= steps <= t:
    raise ValueError(f"steps must be in [1, t={t}], got {steps}")
  return np.round(t * (steps - np.arange(steps)) / steps).astype(np.int64)


def ddim_plan_from(
  schedule: Schedule, t: int, steps: int, eta: float = 0.0, final_alpha_one: bool = True
) -> Plan:
  """DDIM (eq. 12, sigma of eq. 16) from level abar_t down to clean in ``steps`` steps on
  `partial_timesteps` (BioVAE eq. 11's "forward" from an inverted x_t)."""
  if eta < 0:
    raise ValueError(f"eta must be >= 0, got {eta}")
  abar = schedule.host_alphas_cumprod()
  if not 0 < t < len(abar):
    raise ValueError(f"t must be in [1, {len(abar) - 1}], got {t}")
  ts = partial_timesteps(t, steps)
  final = 1.0 if final_alpha_one else abar[0]
  return _ddim(ts, abar[ts], np.concatenate([abar[ts[1:]], [final]]), eta)


def ddim_inversion_plan_to(
  schedule: Schedule, t: int, steps: int, initial_alpha_one: bool = False
) -> Plan:
  """`ddim_inversion_plan` on `partial_timesteps` ascending: clean (abar_0, or 1 when
  ``initial_alpha_one``) up to level abar_t in ``steps`` steps, the model seeing each target."""
  abar = schedule.host_alphas_cumprod()
  if not 0 < t < len(abar):
    raise ValueError(f"t must be in [1, {len(abar) - 1}], got {t}")
  ts = partial_timesteps(t, steps)[::-1].copy()
  return _ddim_inversion(ts, abar, 1.0 if initial_alpha_one else abar[0])


def karras_sigmas(
  sigma_min: float, sigma_max: float, steps: int, rho: float = KARRAS_RHO
) -> np.ndarray:
  """Karras et al. 2022 eq. 5: sigma_i = (smax^(1/rho) + i / (N - 1) (smin^(1/rho) -
  smax^(1/rho)))^rho, i = 0..N-1 (the appended sigma_N = 0 is the caller's)."""
  ramp = np.linspace(0.0, 1.0, steps)
  lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
  return (hi + ramp * (lo - hi)) ** rho


def sigma_to_timestep(sigmas: np.ndarray, train_sigmas: np.ndarray) -> np.ndarray:
  """Continuous timestep of each noise level by linear interpolation in log sigma over the
  training levels (clamped to [0, T-1])."""
  log_train = np.log(train_sigmas)
  return np.interp(np.log(np.maximum(sigmas, 1e-10)), log_train, np.arange(len(train_sigmas)))


def dpmpp_2m_sde_plan(schedule: Schedule, steps: int = 10) -> Plan:
  """SDE-DPM-Solver++(2M) on Karras sigmas (see the module docstring).

  With alpha = 1 / sqrt(sigma^2 + 1), s = sigma alpha, lambda = log(alpha / s), h = lambda_{i+1} -
  lambda_i: x' = (s' / s) e^{-h} x + alpha' (1 - e^{-2h}) x0 + s' sqrt(1 - e^{-2h}) z, plus for
  second-order steps 0.5 alpha' (1 - e^{-2h}) (x0 - x0_prev) / r, r = (lambda_i - lambda_{i-1}) / h.
  """
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}")
  abar = schedule.host_alphas_cumprod()
  train_sigmas = np.sqrt((1.0 - abar) / abar)
  sig = karras_sigmas(train_sigmas[0], train_sigmas[-1], steps)
  ts = np.round(sigma_to_timestep(sig, train_sigmas)).astype(np.int64)
  sig = np.concatenate([sig, [0.0]])
  alpha = 1.0 / np.sqrt(sig**2 + 1.0)
  s = sig * alpha
  with np.errstate(divide="ignore"):
    lam = np.log(alpha) - np.log(s)  # +inf at sigma = 0
  c_x, c_x0, c_d, c_z = (np.zeros(steps) for _ in range(4))
  for i in range(steps):
    if sig[i + 1] == 0.0:  # h = inf: the step returns x0
      c_x0[i] = alpha[i + 1]
      continue
    h = lam[i + 1] - lam[i]
    e1, e2 = np.exp(-h), np.expm1(-2.0 * h)  # e2 = e^{-2h} - 1
    c_x[i] = s[i + 1] / s[i] * e1
    c_x0[i] = -alpha[i + 1] * e2
    c_z[i] = s[i + 1] * np.sqrt(-e2)
    if i > 0:  # second order (the last step, to sigma = 0, stays first order above)
      r = (lam[i] - lam[i - 1]) / h
      c_d[i] = 0.5 * c_x0[i] / r
  return _plan(
    "dpmpp_2m_sde",
    ts,
    alpha[:-1],
    s[:-1],
    alpha[1:],
    s[1:],
    c_x,
    c_x0,
    np.zeros(steps),
    c_d,
    c_z,
  )


def make_plan(schedule: Schedule, sampler: str, steps: int, eta: float = 0.0) -> Plan:
  """The plan of ``sampler`` in `SAMPLERS` with ``steps`` steps (``eta`` for DDIM)."""
  if sampler == "ddpm":
    return ddpm_plan(schedule, steps)
  if sampler == "ddim":
    return ddim_plan(schedule, steps, eta)
  if sampler == "dpmpp_2m_sde":
    return dpmpp_2m_sde_plan(schedule, steps)
  raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


def _impose(x: Array, inpaint: Inpaint | None, a: Array, s: Array, key: Array | None) -> Array:
  """Known frames re-imposed at level (a, s): mask * (a known + s z') + (1 - mask) * x."""
  if inpaint is None:
    return x
  known = inpaint.known.astype(x.dtype)
  noised = a * known
  if key is not None:
    noised = noised + s * jax.random.normal(key, x.shape, x.dtype)
  m = jnp.broadcast_to(inpaint.mask, x.shape).astype(x.dtype)
  return m * noised + (1.0 - m) * x


def run(
  model_fn: ModelFn,
  plan: Plan,
  x_init: Array,
  key: Array | None = None,
  *,
  prediction: str = "x0",
  noise: Array | None = None,
  inpaint: Inpaint | None = None,
  trajectory: bool = False,
) -> tuple[Array, Array | None]:
  """Runs ``plan`` from ``x_init`` (at the plan's first level) with one `lax.scan`.

  Args:
    model_fn: ``(x_t [B, ...], t [B] int32) -> output`` of type ``prediction`` (close over the
      parameters and the condition; wrap with `classifier_free.guided_model_fn` for CFG).
    plan: from `make_plan` / `ddim_inversion_plan`.
    x_init: ``[B, ...]`` the starting sample (N(0, I) noise for sampling; data for inversion).
    key: noise of step i is ``normal(fold_in(key, i))``; may be None for a deterministic plan
      (no c_z > 0) without inpainting, or when ``noise`` is given.
    prediction: the model's output type, 'x0' | 'eps' | 'v'.
    noise: optional ``[N, *x_init.shape]`` step noise (replaces the key's for the steps).
    inpaint: optional known frames re-imposed after every step (and at the start).
    trajectory: also return the sample after every step, ``[N, *x_init.shape]``.
  Returns:
    ``(x_final, trajectory or None)``.
  """
  n = plan.num_steps
  if noise is not None and noise.shape != (n, *x_init.shape):
    raise ValueError(f"noise must have shape {(n, *x_init.shape)}, got {noise.shape}")
  stochastic = bool(np.any(np.asarray(plan.c_z) > 0)) or inpaint is not None
  if key is None and stochastic and (noise is None or inpaint is not None):
    raise ValueError(f"sampler {plan.name!r} needs a key (or explicit noise without inpainting)")
  keys = jax.random.split(key, n + 1) if key is not None else None
  batch = x_init.shape[0]
  x = _impose(x_init, inpaint, plan.a_cur[0], plan.s_cur[0], None if keys is None else keys[n])

  def body(carry, xs):
    x, x0_prev = carry
    i, step_noise = xs
    p = jax.tree.map(lambda a: a[i], plan)
    out = model_fn(x, jnp.full((batch,), p.timesteps, jnp.int32))
    x0, eps = to_x0_eps(prediction, out.astype(x.dtype), x, p.a_cur, p.s_cur)
    if prediction == "x0":  # eps unused where c_eps = 0: keep NaN (s = 0) out of the sum
      eps = jnp.where(p.c_eps != 0, eps, 0.0)
    step_key = imp_key = None
    if keys is not None:
      step_key, imp_key = jax.random.split(keys[i])
    if step_noise is None:
      z = jax.random.normal(step_key, x.shape, x.dtype) if step_key is not None else 0.0
    else:
      z = step_noise
    x_next = p.c_x * x + p.c_x0 * x0 + p.c_eps * eps + p.c_d * (x0 - x0_prev) + p.c_z * z
    x_next = _impose(x_next, inpaint, p.a_next, p.s_next, imp_key)
    return (x_next, x0), (x_next if trajectory else None)

  xs = (jnp.arange(n), noise)
  (x, _), traj = jax.lax.scan(body, (x, jnp.zeros_like(x)), xs)
  return x, traj


def ddim_invert(
  model_fn: ModelFn, plan: Plan, x0: Array, *, prediction: str = "eps", trajectory: bool = False
) -> tuple[Array, Array | None]:
  """DDIM inversion of clean data ``x0`` with a `ddim_inversion_plan` (deterministic).

  With ``prediction='x0'`` the first step needs a noisy starting level (``initial_alpha_one=False``)
  since eps = (x - a x0) / s is undefined at s = 0."""
  if plan.name != "ddim_inversion":
    raise ValueError(f"ddim_invert needs a ddim_inversion_plan, got {plan.name!r}")
  if prediction == "x0" and float(plan.s_cur[0]) == 0.0:
    raise ValueError("x0-prediction inversion needs ddim_inversion_plan(initial_alpha_one=False)")
  return run(model_fn, plan, x0, None, prediction=prediction, trajectory=trajectory)


def make_sample_fn(
  denoise: Callable[[Any, Array, Array, Any], Array],
  plan: Plan,
  *,
  prediction: str = "x0",
) -> Callable[..., Array]:
  """A jitted ``sample(params, cond, x_init, key, inpaint=None) -> x`` for one (sampler, steps)
  plan: ``denoise(params, x_t, t, cond)`` is the (guided) model. The plan is a compile-time
  constant, so each sample function compiles once per input shape."""

  @jax.jit
  def sample(params, cond, x_init, key, inpaint=None):
    fn = functools.partial(_bound, denoise, params, cond)
    return run(fn, plan, x_init, key, prediction=prediction, inpaint=inpaint)[0]

  return sample


def _bound(denoise, params, cond, x, t):
  return denoise(params, x, t, cond)


__all__ = [
  "Inpaint",
  "KARRAS_RHO",
  "ModelFn",
  "Plan",
  "SAMPLERS",
  "ddim_inversion_plan",
  "ddim_inversion_plan_to",
  "ddim_invert",
  "ddim_plan",
  "ddim_plan_from",
  "ddpm_plan",
  "dpmpp_2m_sde_plan",
  "karras_sigmas",
  "leading_timesteps",
  "make_plan",
  "make_sample_fn",
  "partial_timesteps",
  "run",
  "sigma_to_timestep",
]
