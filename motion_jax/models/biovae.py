"""BioVAE's Euler-Lagrange residual module (Kang, Wang, Mu; biovae.txt Sec. III-A/B, eqs. 1-5).

From joint coordinates X [B, T, J, 3] (the t2m joints that `recover_from_ric` gives for the
UNet's prediction), the module predicts the joint accelerations by the Euler-Lagrange form the
paper prints (eq. 3 / eq. 5):

    Ẍ_t = M⁻¹(X_{:t}) · ( E(X_{:t}) + C(X_{:t}) + R(X_{:t})·A(u) )

where all four terms are small networks over a causal motion latent:

* **M⁻¹**, the inverse inertia: symmetric positive definite by construction. It depends on
  position only (paper: "M only on position"). ``inertia="per_joint"`` (the default) uses one
  3 x 3 block per joint, L Lᵀ + εI with L lower-triangular and a softplus diagonal.
  ``"low_rank"`` uses a full 3J x 3J matrix diag(softplus) + U Uᵀ + εI of rank ``inertia_rank``,
  which couples the joints.
* **E**, the external contact force: a function of position and velocity (eq. 5: "elastic +
  resistive").
* **C**, the Coriolis and gravity term: a function of pose and velocity (eq. 4).
* **R·A(u)**, the muscle-driven internal force: u ∈ (0, 1)^8 are the activations of MIA's eight
  muscles (R/L quadriceps, hamstrings, gluteus, biceps), predicted from pose (u = u(X_{:t})).
  The paper models R·A(u) "using cross-attention". Here each joint's pose token queries eight
  muscle tokens, each scaled by its activation; the attended value gives the joint's force.

The **autoregressive residual decoder** turns Ẍ into a residual on the UNet's x̂₀ in feature
space (paper: "iteratively generates residuals from the acceleration information to guide the
UNet's generation"). It is a GRU over time whose input at frame t is Ẍ_t, the UNet's prediction
at t and its own residual at t-1. Its output layer starts at zero, so an untrained module leaves
the UNet's prediction unchanged and fine-tuning starts from the pre-trained UNet exactly.

**Acceleration editing** (Tab. VI): ``accel_scale`` s (a scalar, one factor per joint [J], or one
per example and joint [B, J]) scales Ẍ. The paper says only that "the acceleration values in
BioVAE" are multiplied; how the edited Ẍ reaches the motion is `AccelEditConfig.mechanism`:

- ``"kinematic"`` (the default): the edit becomes a residual on the corrected x̂₀. The edited
  joints X' are the motion whose acceleration is s·Ẍ_ref with the clip's first and last valid
  frames kept: the two-point boundary-value solution of D²X' = s·Ẍ_ref, which is
  X' = X + (s − 1)·B(Ẍ_ref), B(a) = ΣΣa minus its chord between the end frames
  (`boundary_double_integral`). With Ẍ_ref = Ẍ(X) (``reference="motion"``, the motion's own
  acceleration) this is X' = X̄ + s(X − X̄), X̄ the chord: the straight, constant-velocity part
  (which has no acceleration) is kept and the rest is scaled, so each joint's mean speed is
  convex in s with its minimum at s = 0, i.e. it rises with s. That default does not use the
  module's prediction: it shows that an edit reaches the sample, not that BioVAE's Ẍ controls
  it. ``reference="module"`` uses the module's Ẍ instead; in the quick run its double integral
  was far from the motion, and speed came out U-shaped around s = 1 (docs/biovae.md).
  ΔX = X' − X goes into the features exactly, for the root's yaw of x̂₀
  (`joint_delta_to_features`: root xz velocity, root height, RIC positions and local velocities;
  the 6D rotations and foot contacts are left as they are; bone lengths are not kept). At s = 1
  the branch is skipped (`lax.cond`), so the output is x̂₀ bit for bit. The residual decoder
  reads Ẍ at factor 1.
  ``max_timestep`` says at which sampler steps: an edited x̂₀ goes back into x_t, and at low
  noise the UNet's next x̂₀ copies it, so edits at several steps compound. In the quick run
  (docs/biovae.md) editing every step took the jerk ×9.6 and R-precision from 0.94 to 0.73 at
  s = 2; the default edits the last call only, whose x̂₀ is the sample, so the sample's Ẍ is
  s times the unedited one's (exactly with one CFG branch; with CFG both branches are edited and
  then mixed, which is close: the quick run's jerk at s = 2 was 1.99999 times factor 1's).
- ``"decoder"``: s multiplies Ẍ before the residual decoder (the behaviour up to 2026-11-30).
  How the decoder learns to act on an edited Ẍ is `stages.biovae`'s edit-aware training; in the
  quick run the speed moved by 0.01 % from s = 0.5 to 2 (docs/biovae.md).

Why not gradient steps on ‖Ẍ(recover(x̂₀)) − s·Ẍ‖²: the second difference has gain (2 − 2cos ω)²,
about 1e-2 at 1 Hz and 20 fps against 16 at the Nyquist frequency, so plain gradient steps move the
jitter and leave the speed where it was. The step above is that objective's exact minimiser (the
steps preconditioned by (D²ᵀD²)⁻¹) under the two end-frame constraints, with no step size.

Choices the paper leaves open, all fields of `BioVAEConfig`:

- latent and head widths;
- a causal temporal convolution encoder (kernel 3, two layers), so the terms depend on X_{:t};
- velocity by a backward difference at ``fps`` (zero at the first frame);
- X relative to the root joint for the pose-only terms (M⁻¹, u, R); absolute height and
  velocity for E and C, which need the floor and gravity;
- the inertia parameterisation and ε;
- the muscle cross-attention width and heads;
- the GRU width, and what it reads of Ẍ (``decoder_input``): Ẍ itself (the default) or
  Ẍ − Ẍ(x̂₀), the module's acceleration minus that of the UNet's prediction, times
  ``decoder_accel_gain``. In the quick run the discrepancy made the motion rougher (docs/biovae.md);
  the default stays Ẍ;
- how an acceleration edit reaches the sample: mechanism, Ẍ reference and the sampler steps it
  acts at (`AccelEditConfig`, above; not a `BioVAEConfig` field, so it is no part of training);
- the sign of C. It is ``c_sign = +1`` as printed in eq. 3. The textbook Lagrangian M Ẍ = F − C
  is ``c_sign = -1``. Because C is learned, the sign only fixes the convention.

`BioVAEDenoiser` puts the module on the UNet (Fig. 2): the UNet predicts x̂₀ (StableMoFusion
predicts x₀), joints come from the de-normalised x̂₀ by `recover_from_ric`, and the module's
residual corrects x̂₀. The module reads the UNet's x̂₀ rather than the noisy Θᵗ that eq. 7 names,
because joints recovered from a noisy state carry no usable physics. It has the UNet's call
signature, so samplers and `stages.diffusion.Generator` use it unchanged. Its parameters are
``{"unet": ..., "biovae": ...}``, so a pre-trained UNet's parameters drop in as ``"unet"``.
The losses of eqs. 6-9 are in `motion_jax.losses.biovae`.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.motion_unet import MotionUNet, UNetConfig
from motion_jax.representations import humanml3d
from motion_jax.representations import rotations as rot

Array = jax.Array
INERTIA = ("per_joint", "low_rank")
DECODER_INPUTS = ("discrepancy", "accel")
EDIT_MECHANISMS = ("kinematic", "decoder")
EDIT_REFERENCES = ("motion", "module")
MUSCLES = ("quadriceps_r", "quadriceps_l", "hamstrings_r", "hamstrings_l", "gluteus_r",
           "gluteus_l", "biceps_l", "biceps_r")  # fmt: skip  # MIA's channel order (FACTS.md)


@dataclasses.dataclass(frozen=True)
class BioVAEConfig:
  latent: int = 128  # motion-encoder width
  encoder_kernel: int = 3  # causal temporal conv kernel (frames)
  hidden: int = 256  # width of the M⁻¹ / E / C / u heads
  inertia: str = "per_joint"  # 'per_joint' (3x3 SPD blocks) | 'low_rank' (diag + U Uᵀ, 3J x 3J)
  inertia_rank: int = 8
  inertia_eps: float = 1e-3
  muscles: int = len(MUSCLES)
  muscle_dim: int = 32  # cross-attention width of R·A(u)
  muscle_heads: int = 4
  decoder_hidden: int = 256  # GRU width of the autoregressive residual decoder
  fps: float = 20.0
  c_sign: float = 1.0  # eq. 3 as printed: Ẍ = M⁻¹(E + C + RA); -1: the textbook M Ẍ = F − C
  # What the residual decoder reads of Ẍ: 'discrepancy' = Ẍ − Ẍ(x̂₀), the module's acceleration
  # minus the one the UNet's prediction has; 'accel' = Ẍ alone.
  decoder_input: str = "accel"
  # Ẍ's difference rate: 1 = m/frame² (`losses.biovae` accel_unit 'frame'), fps = m/s² ('second').
  accel_rate: float = 1.0
  decoder_accel_gain: float = 1.0  # multiplies the decoder's Ẍ input

  def __post_init__(self):
    if self.inertia not in INERTIA:
      raise ValueError(f"inertia must be one of {INERTIA}, got {self.inertia!r}")
    if self.muscle_dim % self.muscle_heads:
      raise ValueError(
        f"muscle_dim {self.muscle_dim} is not divisible by muscle_heads {self.muscle_heads}"
      )
    if self.decoder_input not in DECODER_INPUTS:
      raise ValueError(f"decoder_input must be one of {DECODER_INPUTS}, got {self.decoder_input!r}")
    if self.inertia_eps <= 0:
      raise ValueError(f"inertia_eps must be > 0 (M⁻¹ positive definite), got {self.inertia_eps}")


@dataclasses.dataclass(frozen=True)
class AccelEditConfig:
  """How the Tab. VI factor reaches the sample (the paper is silent; see the module docstring)."""

  mechanism: str = "kinematic"  # 'kinematic': residual on x̂₀ | 'decoder': scale the decoder's Ẍ
  reference: str = "motion"  # kinematic: Ẍ_ref = the motion's own Ẍ ('motion') or the module's
  # kinematic: edit x̂₀ only at diffusion timesteps t <= max_timestep; -1 = at every sampler step.
  # 0 (the default): the sampler's last call only (t = 0 in `diffusion.make_plan`'s plans).
  max_timestep: int = 0

  def __post_init__(self):
    if self.mechanism not in EDIT_MECHANISMS:
      raise ValueError(f"mechanism must be one of {EDIT_MECHANISMS}, got {self.mechanism!r}")
    if self.reference not in EDIT_REFERENCES:
      raise ValueError(f"reference must be one of {EDIT_REFERENCES}, got {self.reference!r}")


class BioVAEOutput(NamedTuple):
  accel: Array  # [B, T, J, 3] Ẍ after accel_scale (eq. 3)
  residual: Array  # [B, T, D] added to the UNet's x̂₀ (normalised features)
  activations: Array  # [B, T, muscles] u
  force: Array  # [B, T, J, 3] E + c_sign C + R·A(u), the bracket of eq. 3
  minv_factor: Array  # per_joint: L [B, T, J, 3, 3]; low_rank: U [B, T, 3J, r]
  minv_diag: Array  # low_rank: softplus diagonal [B, T, 3J]; per_joint: empty [B, T, 0]


def finite_velocity(x: Array, fps: float) -> Array:
  """Backward difference over time (axis 1), zero at the first frame: Ẋ_t = (X_t − X_{t−1}) fps."""
  v = (x[:, 1:] - x[:, :-1]) * fps
  return jnp.concatenate([jnp.zeros_like(x[:, :1]), v], axis=1)


def kinematic_acceleration(x: Array, rate: float) -> Array:
  """Backward second difference over time (axis 1), zero at the first two frames:
  Ẍ_t = (X_t − 2 X_{t−1} + X_{t−2}) rate² (the form of `losses.biovae.finite_acceleration`)."""
  a = (x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2]) * rate**2
  return jnp.concatenate([jnp.zeros_like(x[:, :2]), a], axis=1)


def broadcast_scale(scale: Array, ndim: int) -> Array:
  """The editing factor (scalar, [J] or [B, J]) shaped to broadcast against [B, T, J, 3]."""
  if scale.ndim == 1:  # one factor per joint [J]
    return scale[:, None]
  if scale.ndim == 2:  # per example and joint [B, J]
    return scale[:, None, :, None]
  return scale


def chord_deviation(x: Array, mask: Array) -> Array:
  """``x [B, T, J, 3]`` minus its chord, the straight line from frame 0 to the last valid frame of
  ``mask [B, T]``; zero at both end frames and after the last one (Tab. VI editing, ours)."""
  t = x.shape[1]
  last = jnp.maximum(mask.sum(1).astype(jnp.int32) - 1, 1)  # [B]
  end = jnp.take_along_axis(x, last[:, None, None, None], axis=1)  # [B, 1, J, 3]
  frac = jnp.arange(t)[None] / last[:, None]  # [B, T]
  chord = x[:, :1] + frac[..., None, None].astype(x.dtype) * (end - x[:, :1])
  keep = (jnp.arange(t)[None] <= last[:, None])[..., None, None]
  return jnp.where(keep, x - chord, 0.0)


def boundary_double_integral(accel: Array, mask: Array) -> Array:
  """B(a): the displacement ``[B, T, J, 3]`` whose backward second difference is ``accel`` (from
  frame 2 on, frame units) and which is zero at frame 0 and at the last valid frame of ``mask``:
  ΣΣa minus its chord (Tab. VI editing as a two-point boundary-value problem, ours)."""
  a = accel * mask[..., None, None].astype(accel.dtype)
  a = a.at[:, :2].set(0.0)  # the backward difference starts at frame 2
  return chord_deviation(jnp.cumsum(jnp.cumsum(a, axis=1), axis=1), mask)


def edit_displacement(
  joints: Array, module_accel: Array, scale: Array, mask: Array, cfg: AccelEditConfig, rate: float
) -> Array:
  """ΔX = X' − X = (s − 1)·B(Ẍ_ref) [B, T, J, 3] (Tab. VI edit, the ``kinematic`` mechanism):
  Ẍ_ref is the joints' own acceleration (``reference="motion"``, then B(Ẍ_ref) = X − chord) or the
  module's ``module_accel`` at difference rate ``rate`` (``"module"``), without gradient."""
  if cfg.reference == "motion":
    base = chord_deviation(joints, mask)
  else:
    base = boundary_double_integral(module_accel / rate**2, mask)
  return (broadcast_scale(scale, joints.ndim) - 1.0) * jax.lax.stop_gradient(base)


def joint_delta_to_features(delta: Array, features: Array) -> Array:
  """The change of the (un-normalised) HumanML3D ``features [B, T, D]`` that moves the joints of
  `humanml3d.recover_from_ric` by ``delta [B, T, J, 3]``, for the root yaw of ``features`` (kept);
  ``delta``'s root must be zero at frame 0 (the representation's root starts at the origin).
  Root xz velocity, root height, RIC positions and local velocities change; the 6D rotations and
  foot contacts do not (`humanml3d._features_single` is the forward map)."""
  b, t, j, _ = delta.shape
  r_rot, _ = humanml3d.recover_root_rot_pos(features)  # [B, T, 4]
  blocks = humanml3d.layout_for().blocks
  root = delta[:, :, 0]  # [B, T, 3]
  root_xz = root * jnp.asarray([1.0, 0.0, 1.0], delta.dtype)
  step = rot.quat_rotate(r_rot[:, 1:], root_xz[:, 1:] - root_xz[:, :-1])  # feature t: R_{t+1}
  step = jnp.concatenate([step, jnp.zeros_like(step[:, :1])], axis=1)
  ric = rot.quat_rotate(r_rot[:, :, None], delta[:, :, 1:] - root_xz[:, :, None])
  local = rot.quat_rotate(r_rot[:, :-1, None], delta[:, 1:] - delta[:, :-1])
  local = jnp.concatenate([local, jnp.zeros_like(local[:, :1])], axis=1)
  out = jnp.zeros_like(features)
  out = out.at[..., slice(*blocks["root_linear_velocity"])].set(step[..., 0::2])
  out = out.at[..., slice(*blocks["root_y"])].set(root[..., 1:2])
  out = out.at[..., slice(*blocks["ric"])].set(ric.reshape(b, t, -1))
  return out.at[..., slice(*blocks["local_velocity"])].set(local.reshape(b, t, -1))


def kinematic_edit(
  x0: Array,
  module_accel: Array,
  scale: Array,
  mask: Array,
  mean: Array,
  std: Array,
  cfg: AccelEditConfig,
  rate: float,
) -> Array:
  """Tab. VI editing as a residual on the normalised ``x0 [B, T, D]``: the motion whose Ẍ is
  s·Ẍ_ref with the end frames kept (`edit_displacement`), written into the features
  (`joint_delta_to_features`). Returns ``x0`` itself when every factor is 1 (``lax.cond``)."""

  def edit(x0):
    feats = x0 * std + mean
    joints = humanml3d.recover_from_ric(feats, check_finite=False)
    delta = edit_displacement(joints, module_accel, scale, mask, cfg, rate)
    return x0 + joint_delta_to_features(delta, feats) / std * mask[..., None].astype(x0.dtype)

  return jax.lax.cond(jnp.all(scale == 1.0), lambda x: x, edit, x0)


class CausalEncoder(nn.Module):
  """[B, T, F] -> [B, T, latent]; frame t sees frames <= t only (left-padded convolutions)."""

  latent: int
  kernel: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    for _ in range(2):
      x = jnp.pad(x, ((0, 0), (self.kernel - 1, 0), (0, 0)))
      x = nn.gelu(nn.Conv(self.latent, (self.kernel,), padding="VALID")(x))
    return x


def mlp(x: Array, hidden: int, out: int, name: str) -> Array:
  h = nn.gelu(nn.Dense(hidden, name=f"{name}_in")(x))
  return nn.Dense(out, name=f"{name}_out")(h)


def inverse_inertia_apply(out: BioVAEOutput, force: Array, cfg: BioVAEConfig) -> Array:
  """M⁻¹ f for forces ``force`` [B, T, J, 3] with the factors of ``out`` (eq. 3)."""
  if cfg.inertia == "per_joint":
    low = out.minv_factor  # L
    lt_f = jnp.einsum("btjki,btjk->btji", low, force)  # Lᵀ f
    return jnp.einsum("btjik,btjk->btji", low, lt_f) + cfg.inertia_eps * force
  b, t, j, _ = force.shape
  f = force.reshape(b, t, j * 3)
  u = out.minv_factor
  mf = out.minv_diag * f + jnp.einsum("btir,btr->bti", u, jnp.einsum("btir,bti->btr", u, f))
  return (mf + cfg.inertia_eps * f).reshape(b, t, j, 3)


def inverse_inertia_matrix(out: BioVAEOutput, cfg: BioVAEConfig) -> Array:
  """The dense M⁻¹ [B, T, 3J, 3J] (tests and inspection; the module never forms it)."""
  b, t = out.activations.shape[:2]
  if cfg.inertia == "per_joint":
    low = out.minv_factor
    blocks = jnp.einsum("btjik,btjlk->btjil", low, low)  # L Lᵀ per joint
    j = blocks.shape[2]
    eye_j = jnp.eye(j, dtype=blocks.dtype)
    dense = jnp.einsum("btjil,jm->btjiml", blocks, eye_j).reshape(b, t, 3 * j, 3 * j)
  else:
    u = out.minv_factor
    dense = jnp.einsum("btir,btkr->btik", u, u) + jax.vmap(jax.vmap(jnp.diag))(out.minv_diag)
  n = dense.shape[-1]
  return dense + cfg.inertia_eps * jnp.eye(n, dtype=dense.dtype)


class BioVAE(nn.Module):
  """``(joints [B, T, J, 3], x0_pred [B, T, D]) -> BioVAEOutput`` (see the module docstring)."""

  cfg: BioVAEConfig
  features: int  # D, the width of the UNet's (normalised) features

  @nn.compact
  def __call__(self, joints: Array, x0_pred: Array, accel_scale: Array | float = 1.0):
    c = self.cfg
    b, t, j, _ = joints.shape
    rel = joints - joints[:, :, :1]  # pose relative to the root
    vel = finite_velocity(joints, c.fps)
    pose = rel.reshape(b, t, j * 3)
    state = jnp.concatenate([joints.reshape(b, t, j * 3), vel.reshape(b, t, j * 3)], -1)
    z_pose = CausalEncoder(c.latent, c.encoder_kernel, name="pose_encoder")(pose)
    z_state = CausalEncoder(c.latent, c.encoder_kernel, name="state_encoder")(state)

    # M⁻¹ (position only), symmetric positive definite by construction.
    if c.inertia == "per_joint":
      raw = mlp(z_pose, c.hidden, j * 6, "inertia").reshape(b, t, j, 6)
      rows, cols = jnp.tril_indices(3)
      vals = jnp.where(rows == cols, nn.softplus(raw), raw)
      low = jnp.zeros((b, t, j, 3, 3), raw.dtype).at[..., rows, cols].set(vals)
      factor, diag = low, jnp.zeros((b, t, 0), raw.dtype)
    else:
      n = 3 * j
      raw = mlp(z_pose, c.hidden, n * (c.inertia_rank + 1), "inertia")
      diag = nn.softplus(raw[..., :n])
      factor = raw[..., n:].reshape(b, t, n, c.inertia_rank) / jnp.sqrt(c.inertia_rank)

    contact = mlp(z_state, c.hidden, j * 3, "contact").reshape(b, t, j, 3)  # E
    coriolis = mlp(z_state, c.hidden, j * 3, "coriolis").reshape(b, t, j, 3)  # C (eq. 4)
    u = nn.sigmoid(mlp(z_pose, c.hidden, c.muscles, "activation"))  # u(X_{:t}) in (0, 1)
    muscle_force = MuscleForce(c, name="muscle_force")(z_pose, u, j)  # R·A(u) (eq. 2)
    force = contact + c.c_sign * coriolis + muscle_force

    out = BioVAEOutput(None, None, u, force, factor, diag)
    accel = inverse_inertia_apply(out, force, c)  # eq. 3 / eq. 5
    scale = broadcast_scale(jnp.asarray(accel_scale, accel.dtype), accel.ndim)
    accel = accel * scale  # Tab. VI editing (the 'decoder' mechanism)
    heard = accel  # what the decoder reads of Ẍ (decoder_input)
    if c.decoder_input == "discrepancy":
      heard = accel - kinematic_acceleration(joints, c.accel_rate)
    residual = ResidualDecoder(c.decoder_hidden, self.features, name="decoder")(
      c.decoder_accel_gain * heard.reshape(b, t, j * 3), x0_pred
    )
    return out._replace(accel=accel, residual=residual)


class MuscleForce(nn.Module):
  """R·A(u): each joint's pose token attends to the muscle tokens (eq. 2, "cross-attention")."""

  cfg: BioVAEConfig

  @nn.compact
  def __call__(self, z_pose: Array, u: Array, joints: int) -> Array:
    c = self.cfg
    b, t, _ = z_pose.shape
    joint_embed = self.param(
      "joint_embedding", nn.initializers.normal(0.02), (joints, c.muscle_dim)
    )
    muscle_embed = self.param(
      "muscle_embedding", nn.initializers.normal(0.02), (c.muscles, c.muscle_dim)
    )
    queries = nn.Dense(c.muscle_dim)(z_pose)[:, :, None, :] + joint_embed  # [B, T, J, dm]
    muscles = u[..., None] * muscle_embed  # A(u): activation-scaled muscle tokens [B, T, M, dm]
    att = nn.MultiHeadDotProductAttention(num_heads=c.muscle_heads, qkv_features=c.muscle_dim)
    h = att(queries.reshape(b * t, joints, -1), muscles.reshape(b * t, c.muscles, -1))
    return nn.Dense(3)(h).reshape(b, t, joints, 3)


class _DecoderStep(nn.Module):
  """One frame of the residual decoder: ((h, r_{t−1}), x_t) -> ((h', r_t), r_t)."""

  hidden: int
  features: int

  @nn.compact
  def __call__(self, carry, x_t):
    h, r_prev = carry
    h, y = nn.GRUCell(self.hidden, name="gru")(h, jnp.concatenate([x_t, r_prev], -1))
    r = nn.Dense(self.features, kernel_init=nn.initializers.zeros, name="out")(y)
    return (h, r), r


class ResidualDecoder(nn.Module):
  """Autoregressive GRU over time: (Ẍ_t, x̂₀_t, r_{t−1}) -> r_t; zero-initialised output."""

  hidden: int
  features: int

  @nn.compact
  def __call__(self, accel: Array, x0_pred: Array) -> Array:
    b = accel.shape[0]
    inputs = jnp.concatenate([accel, x0_pred], -1)  # [B, T, 3J + D]
    scan = nn.scan(
      _DecoderStep,
      variable_broadcast="params",
      split_rngs={"params": False},
      in_axes=1,
      out_axes=1,
    )
    h0 = jnp.zeros((b, self.hidden), accel.dtype)
    r0 = jnp.zeros((b, self.features), accel.dtype)
    _, residual = scan(self.hidden, self.features, name="step")((h0, r0), inputs)
    return residual


class BioVAEDenoiser(nn.Module):
  """StableMoFusion's UNet with the BioVAE residual: ``(x_t, t, text, text_mask, keep, mask) ->
  x̂₀ + residual`` (the UNet's signature); ``physics=True`` also returns the `BioVAEOutput`.

  ``mean`` / ``std`` (tuples, the training normalisation of the 263 features) de-normalise x̂₀
  for `recover_from_ric`; ``accel_scale`` is the Tab. VI editing factor (one or one per joint).
  A variable ``{"edit": {"accel_scale": ...}}`` passed to ``apply`` overrides it; as a traced
  value, it lets one compiled sampler run every factor. ``edit`` chooses how the factor acts
  (`AccelEditConfig`); at factor 1 both mechanisms leave the output as it is.
  """

  unet: UNetConfig
  biovae: BioVAEConfig
  motion_features: int
  mean: tuple[float, ...]
  std: tuple[float, ...]
  accel_scale: float | tuple[float, ...] = 1.0
  edit: AccelEditConfig = AccelEditConfig()

  @nn.compact
  def __call__(self, x, t, text, text_mask, keep, mask, deterministic=True, physics=False):
    x0 = MotionUNet(self.unet, self.motion_features, name="unet")(
      x, t, text, text_mask, keep, mask, deterministic
    )
    mean, std = jnp.asarray(self.mean, x0.dtype), jnp.asarray(self.std, x0.dtype)
    joints = humanml3d.recover_from_ric(x0 * std + mean, check_finite=False)
    scale = self.get_variable("edit", "accel_scale")  # Tab. VI editing without recompiling
    scale = jnp.asarray(self.accel_scale if scale is None else scale, x0.dtype)
    decoder = self.edit.mechanism == "decoder"
    out = BioVAE(self.biovae, self.motion_features, name="biovae")(
      joints, x0, scale if decoder else 1.0
    )
    corrected = x0 + out.residual * mask[..., None].astype(x0.dtype)
    if not decoder:  # Tab. VI editing as a residual on the corrected x̂₀ ('kinematic')
      if self.edit.max_timestep >= 0:  # per example: 1 at the timesteps left unedited
        scale = jnp.broadcast_to(scale, (x0.shape[0], joints.shape[2]))
        scale = jnp.where((t <= self.edit.max_timestep)[:, None], scale, 1.0)
      rate = self.biovae.accel_rate
      corrected = kinematic_edit(corrected, out.accel, scale, mask, mean, std, self.edit, rate)
    return (corrected, out) if physics else corrected


__all__ = [
  "EDIT_MECHANISMS",
  "EDIT_REFERENCES",
  "INERTIA",
  "AccelEditConfig",
  "MUSCLES",
  "BioVAE",
  "BioVAEConfig",
  "BioVAEDenoiser",
  "BioVAEOutput",
  "DECODER_INPUTS",
  "boundary_double_integral",
  "broadcast_scale",
  "chord_deviation",
  "edit_displacement",
  "finite_velocity",
  "joint_delta_to_features",
  "kinematic_edit",
  "kinematic_acceleration",
  "inverse_inertia_apply",
  "inverse_inertia_matrix",
]
