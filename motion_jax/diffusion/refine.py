"""Motion refinement by diffusion inversion then sampling (BioVAE Sec. III-D, eqs. 10-11).

An initial estimate x_0 (normalised HumanML3D features, e.g. a pose estimator's output) is mapped
to a level-t latent x_t ("inversion", eq. 10) and denoised back to clean with the deterministic
DDIM sampler (eq. 11: "run the forward BioVAE-Diffusion from x_t"), so the model's prior pulls
the estimate towards plausible motion while the level t bounds how far it may move.

* **Eq. 10 (``inversion='eq10'``, default: the paper's formula as printed)**, single shot:
  ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps_theta(x_0, t)``, eps evaluated at the clean
  input. For an x0-predicting model f (StableMoFusion's UNet, `BioVAEDenoiser`), eps_theta
  follows from DDPM eq. 4, x = a x0 + s eps, solved for eps at the model's input x_in = x_0 and
  the level it is told, t: ``eps = (x_0 - a_t f(x_0, t)) / s_t`` (`schedule.eps_from_x0`; eps/v
  models convert the same way, `schedule.to_x0_eps`). Substituting,
  ``x_t = x_0 + a_t (x_0 - f(x_0, t))``: with a perfect denoiser (f(x_0, t) = x_0) eq. 10
  returns x_0 itself, and DDIM from it returns x_0 exactly.
* ``inversion='ddim'``: multi-step DDIM inversion (Song et al. 2021 Sec. 4.3, `ddim_invert`) from
  abar_0 to abar_t in ``steps`` steps (`samplers.ddim_inversion_plan_to`; an x0 model needs the
  start at abar_0 < 1, since eps at abar = 1 is undefined).
* **Eq. 11**: DDIM (eta = 0: deterministic, so inversion then sampling is a fixed map) from
  abar_t to clean in ``steps`` steps on `samplers.partial_timesteps`. The paper samples with
  SDE-DPM-Solver++ (Sec. IV-F), whose injected noise would undo the inversion; a deterministic
  sampler is what DDIM inversion presupposes.
* **Condition.** Estimation has no caption: ``text='none'`` runs the unconditional branch
  (keep = False, the null text); ``'caption'`` the conditional one, guided with
  ``guidance_scale`` when it is not 1.

Choices the paper leaves open (`RefineConfig` fields): t in (100, 300) of T = 1000 (abar 0.90 and
0.39: noise std 0.32 and 0.78 of the unit-variance features), 10 DDIM steps (the paper's
sampler's step count), eq. 10 inversion, no text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.diffusion import classifier_free, samplers
from motion_jax.diffusion.schedule import Schedule, to_x0_eps

Array = jax.Array
# apply_fn(params, x_t [B, T, F], t [B], text [B, L, Ft], text_mask [B, L], keep [B], mask [B, T])
ApplyFn = Callable[[Any, Array, Array, Array, Array, Array, Array], Array]
INVERSIONS = ("eq10", "ddim")
TEXTS = ("none", "caption")
MINILM_WIDTH = 384  # the frozen token states' width the denoisers are trained on


@dataclasses.dataclass(frozen=True)
class RefineConfig:
  """Refinement settings (see the module docstring)."""

  ts: tuple[int, ...] = (100, 300)  # inversion levels, of num_timesteps (1000)
  inversion: str = "eq10"  # 'eq10' (single shot, the paper) | 'ddim' (multi-step)
  steps: int = 10  # DDIM steps of eq. 11 (and of the 'ddim' inversion)
  text: str = "none"  # 'none': unconditional (keep = False) | 'caption'
  guidance_scale: float = 1.0  # with text='caption' only; 1 = the conditional branch alone
  eta: float = 0.0  # DDIM eta of eq. 11 (0: deterministic; > 0 uses the key)

  def __post_init__(self):
    if self.inversion not in INVERSIONS:
      raise ValueError(f"inversion must be one of {INVERSIONS}, got {self.inversion!r}")
    if self.text not in TEXTS:
      raise ValueError(f"text must be one of {TEXTS}, got {self.text!r}")
    if not self.ts or any(t < 1 for t in self.ts):
      raise ValueError(f"ts must be positive timesteps, got {self.ts}")
    if self.steps < 1:
      raise ValueError(f"steps must be >= 1, got {self.steps}")


class RefineCond(NamedTuple):
  """The denoiser's condition: token states ``text [B, L, Ft]``, ``text_mask [B, L]`` and the
  frame mask ``mask [B, T]`` (1 = a real frame; padded frames are zeroed in the output)."""

  text: Array
  text_mask: Array
  mask: Array


def model_apply_fn(model) -> ApplyFn:
  """``apply_fn`` of a Flax module with the UNet's signature (`MotionUNet`, `BioVAEDenoiser`)."""

  def apply_fn(params, x, t, text, text_mask, keep, mask):
    return model.apply({"params": params}, x, t, text, text_mask, keep, mask)

  return apply_fn


def null_cond(mask: Array, text_dim: int = MINILM_WIDTH) -> RefineCond:
  """A placeholder caption (one zero token) for ``text='none'``: the branch keep = False ignores
  the tokens, and one valid token keeps the attention finite."""
  b = mask.shape[0]
  return RefineCond(jnp.zeros((b, 1, text_dim)), jnp.ones((b, 1), bool), mask)


def _model_fn(apply_fn: ApplyFn, params, cond: RefineCond, cfg: RefineConfig):
  """``(x, t) -> output`` with the condition and the branch of ``cfg.text``."""

  def apply(x, t, c, keep):
    return apply_fn(params, x, t, c.text, c.text_mask, keep, c.mask)

  if cfg.text == "caption" and cfg.guidance_scale != 1.0:
    return classifier_free.guided_model_fn(apply, cond, cfg.guidance_scale)
  keep_value = cfg.text == "caption"
  return lambda x, t: apply(x, t, cond, jnp.full((x.shape[0],), keep_value))


def invert_eq10(
  model_fn: samplers.ModelFn, schedule: Schedule, x0: Array, t: int, prediction: str = "x0"
) -> Array:
  """BioVAE eq. 10: ``x_t = a_t x_0 + s_t eps_theta(x_0, t)`` (module docstring)."""
  abar = float(schedule.host_alphas_cumprod()[t])
  a, s = jnp.float32(np.sqrt(abar)), jnp.float32(np.sqrt(1.0 - abar))
  out = model_fn(x0, jnp.full((x0.shape[0],), t, jnp.int32))
  _, eps = to_x0_eps(prediction, out.astype(x0.dtype), x0, a, s)
  return a * x0 + s * eps


def refine(
  apply_fn: ApplyFn,
  params,
  schedule: Schedule,
  x0_norm: Array,
  cond: RefineCond,
  t: int,
  cfg: RefineConfig,
  key: Array | None = None,
  *,
  prediction: str = "x0",
) -> Array:
  """Inversion to level ``t`` then DDIM to clean (eqs. 10-11): ``[B, T, F] -> [B, T, F]``.

  Args:
    apply_fn: the denoiser, `model_apply_fn(model)` (any model with the UNet's signature).
    params: its (EMA) parameters.
    schedule: the training schedule.
    x0_norm: normalised features ``[B, T, F]``, padded frames anywhere (zeroed in the output).
    cond: `RefineCond` (`null_cond(mask)` for ``text='none'``).
    t: the inversion timestep, a Python int (static under jit).
    cfg: `RefineConfig` (static under jit).
    key: DDIM noise when ``cfg.eta > 0``; unused otherwise (may be None).
    prediction: the model's output type, 'x0' | 'eps' | 'v'.
  Returns:
    The refined normalised features, zero at padded frames.
  """
  model_fn = _model_fn(apply_fn, params, cond, cfg)
  steps = min(cfg.steps, t)
  if cfg.inversion == "eq10":
    x_t = invert_eq10(model_fn, schedule, x0_norm, t, prediction)
  else:
    with jax.ensure_compile_time_eval():  # host plans stay constants under jit
      inv_plan = samplers.ddim_inversion_plan_to(schedule, t, steps)
    x_t, _ = samplers.ddim_invert(model_fn, inv_plan, x0_norm, prediction=prediction)
  with jax.ensure_compile_time_eval():
    plan = samplers.ddim_plan_from(schedule, t, steps, cfg.eta)
  x, _ = samplers.run(model_fn, plan, x_t, key if cfg.eta > 0 else None, prediction=prediction)
  return x * cond.mask[..., None].astype(x.dtype)


def make_refine_fn(
  apply_fn: ApplyFn, schedule: Schedule, t: int, cfg: RefineConfig, *, prediction: str = "x0"
) -> Callable[[Any, Array, RefineCond, Array | None], Array]:
  """Jitted ``fn(params, x0_norm, cond, key) -> refined`` for one level ``t``."""

  @jax.jit
  def fn(params, x0_norm, cond, key):
    return refine(apply_fn, params, schedule, x0_norm, cond, t, cfg, key, prediction=prediction)

  return fn


def make_refiner(
  model,
  params,
  schedule: Schedule,
  mean: np.ndarray,
  std: np.ndarray,
  max_frames: int,
  cfg: RefineConfig = RefineConfig(),
  *,
  prediction: str = "x0",
  text_dim: int = MINILM_WIDTH,
  chunk: int = 16,
  seed: int = 0,
) -> Callable[[Sequence[np.ndarray], int], list[np.ndarray]]:
  """``refiner(features, t) -> features``: raw ``[T_i, F]`` clips (T_i <= ``max_frames``) are
  normalised with the training ``mean``/``std``, padded to ``max_frames`` with a frame mask in
  fixed chunks of ``chunk`` rows (the last chunk wrapped, as `stages.diffusion.Generator` does),
  refined with ``cfg`` at level t without text, de-normalised and cropped. One compilation per t.
  """
  if cfg.text != "none":
    raise ValueError("make_refiner refines without captions: cfg.text must be 'none'")
  mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
  apply_fn = model_apply_fn(model)
  fns: dict[int, Callable] = {}

  def refiner(features: Sequence[np.ndarray], t: int) -> list[np.ndarray]:
    lengths = np.asarray([len(f) for f in features], int)
    if len(features) == 0:
      return []
    if lengths.min() < 1 or lengths.max() > max_frames:
      raise ValueError(f"clip lengths must be in [1, {max_frames}], got {lengths}")
    if t not in fns:
      fns[t] = make_refine_fn(apply_fn, schedule, t, cfg, prediction=prediction)
    x = np.zeros((len(features), max_frames, len(mean)), np.float32)
    for i, f in enumerate(features):
      x[i, : len(f)] = (np.asarray(f, np.float32) - mean) / std
    mask = np.arange(max_frames)[None] < lengths[:, None]
    out = []
    for c, start in enumerate(range(0, len(features), chunk)):
      idx = np.arange(start, start + chunk) % len(features)
      m = jnp.asarray(mask[idx])
      key = jax.random.fold_in(jax.random.PRNGKey(seed), c)
      y = np.asarray(fns[t](params, jnp.asarray(x[idx]), null_cond(m, text_dim), key))
      for j in range(min(chunk, len(features) - start)):
        out.append(y[j, : lengths[idx[j]]] * std + mean)
    return out

  return refiner


__all__ = [
  "INVERSIONS",
  "MINILM_WIDTH",
  "TEXTS",
  "ApplyFn",
  "RefineCond",
  "RefineConfig",
  "invert_eq10",
  "make_refine_fn",
  "make_refiner",
  "model_apply_fn",
  "null_cond",
  "refine",
]
