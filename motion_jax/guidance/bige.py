"""BIGE latent guidance: Adam over decoder latents through the frozen VQ decoder, muscle surrogate
and differentiable OpenSim FK, toward clinician constraints (paper eqs. 2-4, Table 1).

Per candidate z [L, D] (L = T / 4 latent frames):
  z_q = quantize(z) (straight-through) -> x = decoder(z_q) (normalised) -> q = x * std + mean
  (degrees / metres) -> a = surrogate(x) -> FK(q in radians / metres) -> joint centres, COM.
Terms (all per candidate, each a function of `motion_jax.losses.bige_guidance`):
  proximity        min over training latents e_n of ||z - e_n||_F (code: get_proximity_loss)
  pelvis_tilt      pelvis tilt^2 at the peak of vasmed activation (soft arg-max over time)
  symmetry         mean (left - right)^2 of hip flexion, knee angle, ankle angle
  angular_velocity mean (dq/dt)^2 over rotational coordinates
  com_velocity     mean |dCOM/dt|^2 (whole-body COM from FK; `com='pelvis'` uses pelvis_t*)
  com_acceleration mean smooth-L1(beta 0.01) of the Laplacian [1, -2, 1] of COM (code's form)
  foot_sliding     mean over feet joints of contact weight * |horizontal velocity|^2
  ground           (soft lowest point of the body)^2: keeps the feet on the floor (code: "foot")
  constraint       sum over vasmed_l/r of max(a_peak - high, low - a_peak, 0),
                   a_peak = max over time
  temporal         mean (x[t+1] - x[t])^2 of the decoded (normalised) motion (code: "temporal")
Every term is computed on every frame (the public code samples a few random frames for its foot
terms through a non-differentiable C++ call).

Schedules: 'all' (every term from step 0, paper) or 'code' (proximity only for
`proximity_only_steps`, then a linear ramp of the other terms over `ramp_steps`, then everything,
and proximity only again for the final `final_proximity_steps`; LIMO_Surrogate.py).
Initialisation: 'normal' (z ~ N(0, I), paper) or 'train_mean' (mean of the training latents plus
`init_noise` x their per-dimension std x N(0, I); the code's form with a fixed scale).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from motion_jax.losses import bige_guidance as terms_lib
from motion_jax.models.quantizers import quantize
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

TERMS = (
  "proximity",
  "pelvis_tilt",
  "symmetry",
  "angular_velocity",
  "com_velocity",
  "com_acceleration",
  "foot_sliding",
  "ground",
  "constraint",
  "temporal",
)
WEIGHT_SETS = ("paper", "code")
INITS = ("normal", "train_mean")
SCHEDULES = ("all", "code")
COMS = ("whole_body", "pelvis")


@dataclasses.dataclass(frozen=True)
class GuidanceWeights:
  """alpha of eq. 4 and beta of eq. 3, one per term. The paper lists the terms, not their
  weights (its supplement is not available); the defaults are ours, chosen so that each term
  starts at a comparable magnitude on the squat data, with every Table-1 term on."""

  proximity: float = 0.01
  pelvis_tilt: float = 1.0
  symmetry: float = 1.0
  angular_velocity: float = 0.01
  com_velocity: float = 1.0
  com_acceleration: float = 100.0
  foot_sliding: float = 10.0
  ground: float = 10.0
  constraint: float = 10.0
  temporal: float = 0.5

  def vector(self) -> np.ndarray:
    return np.array([float(getattr(self, t)) for t in TERMS], np.float32)


#: LIMO_Surrogate.py's hyper_param_dict (terms it has; 0 where the code disables one).
CODE_WEIGHTS = GuidanceWeights(
  proximity=0.01,
  pelvis_tilt=0.0,
  symmetry=1.0,
  angular_velocity=0.0,
  com_velocity=50.0,
  com_acceleration=100.0,
  foot_sliding=0.1,
  ground=0.1,
  constraint=0.0,
  temporal=0.5,
)


@dataclasses.dataclass(frozen=True)
class GuidanceConfig:
  steps: int = 2000
  learning_rate: float = 0.05
  num_candidates: int = 256
  init: str = "normal"  # 'normal' (paper) | 'train_mean' (code)
  init_noise: float = 1.0
  schedule: str = "all"  # 'all' (paper) | 'code'
  proximity_only_steps: int = 500
  ramp_steps: int = 500
  final_proximity_steps: int = 1000
  activation_low: float = 0.35
  activation_high: float = 0.45
  com: str = "whole_body"  # 'whole_body' | 'pelvis' (the code's "COM")
  contact_height: float = 0.03  # foot joints below this (m) count as in contact
  weight_set: str = "paper"  # 'paper': `weights` (every Table-1 term); 'code': CODE_WEIGHTS
  weights: GuidanceWeights = GuidanceWeights()

  def __post_init__(self):
    for name, value, valid in (
      ("init", self.init, INITS),
      ("schedule", self.schedule, SCHEDULES),
      ("com", self.com, COMS),
      ("weight_set", self.weight_set, WEIGHT_SETS),
    ):
      if value not in valid:
        raise ValueError(f"guidance.{name} must be one of {valid}, got {value!r}")

  @property
  def weight_vector(self) -> np.ndarray:
    return (CODE_WEIGHTS if self.weight_set == "code" else self.weights).vector()


class FrozenModels(NamedTuple):
  """Everything guidance differentiates through, all frozen (closed over, never updated)."""

  decode: Callable[[jax.Array], jax.Array]  # z_q [L, D] -> x [T, 33] normalised
  surrogate: Callable[[jax.Array], jax.Array]  # x [T, 33] -> a [T, 80]
  fk: Callable[[jax.Array], Any]  # q [T, 33] rad/m -> FKResult
  center_of_mass: Callable[[Any], jax.Array]  # FKResult -> [T, 3]
  codebook: jax.Array  # [K, D]
  mean: jax.Array  # [33]
  std: jax.Array  # [33]
  train_latents: jax.Array  # [N, L, D]
  foot_joints: jax.Array  # int indices into joint_centers
  fps: float = 60.0  # frame rate of the decoded motion


_C = {n: i for i, n in enumerate(BIGE_COORDINATES)}
_ROT = np.array([n not in ("pelvis_tx", "pelvis_ty", "pelvis_tz") for n in BIGE_COORDINATES])
_LEFT = np.array([_C[n] for n in ("hip_flexion_l", "knee_angle_l", "ankle_angle_l")])
_RIGHT = np.array([_C[n] for n in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r")])
_VASMED = np.array([BIGE_MUSCLES.index("vasmed_l"), BIGE_MUSCLES.index("vasmed_r")])


def to_radians(q: jax.Array) -> jax.Array:
  """BIGE layout degrees/metres -> radians/metres."""
  return jnp.where(_ROT, jnp.deg2rad(q), q)


def decode_candidate(z: jax.Array, m: FrozenModels):
  """z [L, D] -> (x normalised [T, 33], q degrees/metres [T, 33], activations [T, 80])."""
  z_q, _ = quantize(m.codebook, z)
  x = m.decode(z_q)
  return x, x * m.std + m.mean, m.surrogate(x)


proximity = terms_lib.proximity


def guidance_terms(z: jax.Array, m: FrozenModels, cfg: GuidanceConfig) -> jax.Array:
  """[B, len(TERMS)] unweighted terms for candidates z [B, L, D] (radians, metres, seconds);
  each term is a function of `motion_jax.losses.bige_guidance`.

  Decoder, surrogate and proximity are per-candidate functions batched with `vmap`; FK runs
  batch-native on [B, T, 33] (its own leading batch axes). Putting the FK under vmap inside the
  guidance `scan` trips an XLA CPU HLO-verifier bug in jax 0.10.2 (a batched dot_general layout).
  """
  x, q, a = jax.vmap(lambda zi: decode_candidate(zi, m))(z)  # [B, T, 33/33/80]
  q_rad = to_radians(q)
  fk = m.fk(q_rad)
  com = m.center_of_mass(fk) if cfg.com == "whole_body" else q[..., 3:6]  # [B, T, 3]
  joints = fk.joint_centers  # [B, T, J, 3]
  vasmed = a[..., _VASMED]  # [B, T, 2]
  return jnp.stack(
    [
      jax.vmap(lambda zi: terms_lib.proximity(zi, m.train_latents))(z),
      terms_lib.pelvis_tilt_at_peak(q_rad[..., _C["pelvis_tilt"]], vasmed),
      terms_lib.asymmetry(q_rad[..., _LEFT], q_rad[..., _RIGHT]),
      terms_lib.angular_velocity(q_rad[..., _ROT], m.fps),
      terms_lib.com_velocity(com, m.fps),
      terms_lib.com_acceleration(com),
      terms_lib.foot_sliding(joints[:, :, m.foot_joints], m.fps, cfg.contact_height),
      terms_lib.ground(joints[..., 1]),
      terms_lib.activation_range(vasmed, cfg.activation_low, cfg.activation_high),
      terms_lib.temporal(x),
    ],
    axis=-1,
  )


def schedule_scales(step: jax.Array, cfg: GuidanceConfig) -> jax.Array:
  """[len(TERMS)] multipliers at `step`: proximity always 1; the others follow the schedule."""
  if cfg.schedule == "all":
    others = jnp.ones(())
  else:
    p, r = cfg.proximity_only_steps, max(cfg.ramp_steps, 1)
    ramp = jnp.clip((step - p) / r, 0.0, 1.0)
    others = jnp.where(step >= cfg.steps - cfg.final_proximity_steps, 0.0, ramp)
  is_prox = jnp.asarray([t == "proximity" for t in TERMS])
  return jnp.where(is_prox, 1.0, others)


def initial_latents(key: jax.Array, m: FrozenModels, cfg: GuidanceConfig) -> jax.Array:
  shape = (cfg.num_candidates, *m.train_latents.shape[1:])
  noise = jax.random.normal(key, shape)
  if cfg.init == "normal":
    return noise
  mu, sd = m.train_latents.mean(0), m.train_latents.std(0)
  return mu + cfg.init_noise * sd * noise


def make_guide(m: FrozenModels, cfg: GuidanceConfig):
  """Returns jitted `guide(z0) -> (z, history)`; history [steps, len(TERMS) + 1] holds the
  candidate-mean unweighted terms and the weighted total at each step."""
  weights = jnp.asarray(cfg.weight_vector)
  tx = optax.adam(cfg.learning_rate)

  def objective(z, scales):
    terms = guidance_terms(z, m, cfg)  # [B, n_terms]
    per_candidate = terms @ (weights * scales)  # [B]
    return jnp.sum(per_candidate), (terms.mean(0), per_candidate.mean())

  def step(carry, i):
    z, opt_state = carry
    (_, (terms, total)), g = jax.value_and_grad(objective, has_aux=True)(z, schedule_scales(i, cfg))
    updates, opt_state = tx.update(g, opt_state, z)
    return (optax.apply_updates(z, updates), opt_state), jnp.concatenate([terms, total[None]])

  @jax.jit
  def guide(z0):
    (z, _), history = jax.lax.scan(step, (z0, tx.init(z0)), jnp.arange(cfg.steps))
    return z, history

  return guide
