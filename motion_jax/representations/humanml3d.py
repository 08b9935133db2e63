"""HumanML3D motion features <-> joint positions, in JAX (Guo et al. 2022, "Generating Diverse and
Natural 3D Human Motions from Text", sec. 3 / HumanML3D ``motion_representation.ipynb``).

Feature layout per frame (J joints; J = 22 for t2m -> 263 dims, J = 21 for KIT -> 251 dims)::

    [0]             root_rot_velocity    root yaw velocity, stored as a *half* angle (rad/frame)
    [1:3]           root_linear_velocity root xz velocity in the root's facing frame (m/frame)
    [3]             root_y               root height above the floor
    [4 : 4+3(J-1)]  ric                  joints 1..J-1, root-xz-relative, facing-normalised
    [.. : +6(J-1)]  rot                  6D local rotations of joints 1..J-1 (2 matrix columns)
    [.. : +3J]      local_velocity       joint velocities t -> t+1 in the facing frame of frame t
    [-4:]           foot_contact         (left x2, right x2), 1.0 when the foot joint moves less
                                         than sqrt(feet_thre) per frame

``T`` joint frames give ``T - 1`` feature frames (the velocities need the next frame).

What :func:`joints_to_features` computes, step by step (official pipeline, ``process_file``):

1. *Uniform skeleton*: bones are retargeted to the target skeleton. The official code does IK to
   local rotations (shortest arc from each raw offset to the bone direction) then FK with the
   target offsets; the result is, exactly, ``new[c] = new[parent] + |target_offset[c]| * unit(x[c] -
   x[parent])`` with the root scaled by the leg-length ratio, which is what we compute.
2. *Floor*: subtract the minimum height over all frames and joints.
3. *Origin*: subtract the frame-0 root xz.
4. *Face +Z*: rotate so that frame 0's forward ``Y x ((r_hip - l_hip) + (r_sdr - l_sdr))`` is +Z.
5. *Foot contacts*: squared per-frame displacement of each foot joint ``< feet_thre``.
6. *Root rotation*: per-frame forward from the **IK routine's** convention, whose hip term has the
   opposite sign to step 4 (``across = (l_hip - r_hip) + (r_sdr - l_sdr)``:
   ``inverse_kinematics_np`` unpacks the face-joint list as ``l_hip, r_hip, sdr_r, sdr_l``),
   Gaussian-smoothed over time (sigma 20 frames, truncate 4, edge-replicate padding, as
   ``scipy.ndimage.gaussian_filter1d(..., mode="nearest")``) before normalising;
   ``r_rot = quat_between(forward, +Z)``, except frame 0, which the official IK pins to the
   identity (the clip already faces +Z after step 4, with the other hip sign). The shipped
   features are reproduced only with this sign and this frame-0 rule (tests check both).
7. *6D rotations*: IK per kinematic chain starting from ``r_rot`` at every chain's first joint
   (arm chains start from the root rotation, not from spine3): ``q_loc[c] = R^-1 *
   quat_between(raw_offset[c], unit bone)``, ``R <- R * q_loc[c]``.
8. Root velocities, RIC positions (x, z relative to the root, rotated by ``r_rot``), local joint
   velocities (rotated by ``r_rot`` of the earlier frame), concatenated as above.

:func:`recover_from_ric` integrates the root yaw and xz velocity and un-rotates the RIC positions;
it is batched over any leading dims and jit/vmap friendly.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.representations import rotations as rot
from motion_jax.skeletons.t2m import HUMANML3D_DIR, KIT, T2M, SkeletonSpec

_Y = (0.0, 1.0, 0.0)
_Z = (0.0, 0.0, 1.0)
FACING_SMOOTH_SIGMA = 20.0  # frames (official: gaussian_filter1d(forward, 20, mode="nearest"))
_GAUSS_TRUNCATE = 4.0  # scipy's default


class MotionShapeError(ValueError):
  """A motion array has the wrong shape (names the expected and actual shapes)."""


class NonFiniteMotionError(ValueError):
  """A motion array holds NaN/inf (names the first bad frame and feature block)."""


# ------------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FeatureLayout:
  """Half-open index ranges of the feature blocks for a skeleton with ``n_joints`` joints."""

  n_joints: int

  @property
  def blocks(self) -> dict[str, tuple[int, int]]:
    j = self.n_joints
    edges = {
      "root_rot_velocity": 1,
      "root_linear_velocity": 2,
      "root_y": 1,
      "ric": 3 * (j - 1),
      "rot": 6 * (j - 1),
      "local_velocity": 3 * j,
      "foot_contact": 4,
    }
    out, start = {}, 0
    for name, width in edges.items():
      out[name] = (start, start + width)
      start += width
    return out

  @property
  def dim(self) -> int:
    return self.blocks["foot_contact"][1]

  def block_of(self, index: int) -> str:
    for name, (a, b) in self.blocks.items():
      if a <= index < b:
        return name
    raise IndexError(index)


def layout_for(skeleton: SkeletonSpec = T2M) -> FeatureLayout:
  """Feature layout of ``skeleton`` (263 dims for t2m, 251 for KIT)."""
  return FeatureLayout(skeleton.n_joints)


def split_features(features: jnp.ndarray, skeleton: SkeletonSpec = T2M) -> dict[str, jnp.ndarray]:
  """Splits ``[..., D]`` features into named blocks (``ric``/``rot``/``local_velocity`` reshaped
  to ``[..., J-1, 3]`` / ``[..., J-1, 6]`` / ``[..., J, 3]``)."""
  validate_features(features, skeleton, check_finite=False)
  lay = layout_for(skeleton)
  out = {name: features[..., a:b] for name, (a, b) in lay.blocks.items()}
  lead = features.shape[:-1]
  out["ric"] = out["ric"].reshape(lead + (-1, 3))
  out["rot"] = out["rot"].reshape(lead + (-1, 6))
  out["local_velocity"] = out["local_velocity"].reshape(lead + (-1, 3))
  return out


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def validate_features(features, skeleton: SkeletonSpec = T2M, check_finite: bool = True) -> None:
  """Raises :class:`MotionShapeError` / :class:`NonFiniteMotionError` for bad features.

  Shape must be ``[..., T, D]`` with ``D = layout_for(skeleton).dim``. The finiteness check runs
  only on concrete arrays (it is skipped under ``jit`` tracing).
  """
  lay = layout_for(skeleton)
  shape = tuple(np.shape(features))
  if len(shape) < 2 or shape[-1] != lay.dim:
    raise MotionShapeError(
      f"{skeleton.name} features must have shape [..., T, {lay.dim}] "
      f"(root 4 + ric {lay.blocks['ric'][1] - 4} + rot + local_velocity + foot_contact 4); "
      f"got shape {shape}"
    )
  if check_finite and _is_concrete(features):
    arr = np.asarray(features)
    bad = ~np.isfinite(arr)
    if bad.any():
      idx = np.argwhere(bad)[0]
      frame = tuple(int(i) for i in idx[:-1])
      raise NonFiniteMotionError(
        f"{skeleton.name} features of shape {shape} hold {int(bad.sum())} non-finite "
        f"values; first at frame index {frame}, feature {int(idx[-1])} "
        f"(block '{lay.block_of(int(idx[-1]))}')"
      )


def validate_joints(joints, skeleton: SkeletonSpec = T2M, min_frames: int = 2) -> None:
  """Raises for joints not shaped ``[..., T >= min_frames, J, 3]`` or holding NaN/inf."""
  shape = tuple(np.shape(joints))
  j = skeleton.n_joints
  if len(shape) < 3 or shape[-2:] != (j, 3) or shape[-3] < min_frames:
    raise MotionShapeError(
      f"{skeleton.name} joints must have shape [..., T>={min_frames}, {j}, 3]; got {shape}"
    )
  if _is_concrete(joints):
    bad = ~np.isfinite(np.asarray(joints))
    if bad.any():
      idx = np.argwhere(bad)[0]
      raise NonFiniteMotionError(
        f"joints of shape {shape} hold non-finite values; first at frame index "
        f"{tuple(int(i) for i in idx[:-2])}, joint {int(idx[-2])} "
        f"('{skeleton.joint_names[int(idx[-2])]}')"
      )


# ------------------------------------------------------------------------------------------------
# Features -> joints
# ------------------------------------------------------------------------------------------------
def recover_root_rot_pos(features: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Integrates the root: ``[..., T, D]`` -> (yaw quats ``[..., T, 4]``, root ``[..., T, 3]``).

  Frame 0 has zero yaw and root xz at the origin; frame t+1 adds the half-angle yaw velocity and
  the xz velocity (un-rotated from the facing frame) of frame t. Root y is read directly.
  """
  rot_vel = features[..., 0]
  zeros = jnp.zeros_like(rot_vel[..., :1])
  half_angle = jnp.cumsum(jnp.concatenate([zeros, rot_vel[..., :-1]], axis=-1), axis=-1)
  r_rot = rot.yaw_quat(half_angle)
  vxz = features[..., :-1, 1:3]
  step = jnp.stack([vxz[..., 0], jnp.zeros_like(vxz[..., 0]), vxz[..., 1]], axis=-1)
  step = jnp.concatenate([jnp.zeros_like(step[..., :1, :]), step], axis=-2)
  step = rot.quat_rotate(rot.quat_inverse(r_rot), step)
  r_pos = jnp.cumsum(step, axis=-2)
  r_pos = r_pos.at[..., 1].set(features[..., 3])
  return r_rot, r_pos


def recover_from_ric(
  features: jnp.ndarray, skeleton: SkeletonSpec = T2M, check_finite: bool = True
) -> jnp.ndarray:
  """Joint positions from the root block and the RIC block: ``[..., T, D] -> [..., T, J, 3]``.

  Args:
    features: un-normalised features (any leading batch dims).
    skeleton: :data:`T2M` (263) or :data:`KIT` (251).
    check_finite: scan concrete input for NaN/inf (a host copy; skipped under jit anyway).

  Raises:
    MotionShapeError: the last axis is not the skeleton's feature width.
    NonFiniteMotionError: concrete input with NaN/inf (names the frame and block).
  """
  validate_features(features, skeleton, check_finite=check_finite)
  return _recover_from_ric_jit(jnp.asarray(features), skeleton)


@partial(jax.jit, static_argnums=(1,))
def _recover_from_ric_jit(features: jnp.ndarray, skeleton: SkeletonSpec) -> jnp.ndarray:
  j = skeleton.n_joints
  r_rot, r_pos = recover_root_rot_pos(features)
  ric = features[..., 4 : 4 + 3 * (j - 1)].reshape(features.shape[:-1] + (j - 1, 3))
  pos = rot.quat_rotate(rot.quat_inverse(r_rot)[..., None, :], ric)
  pos = pos + (r_pos * jnp.asarray([1.0, 0.0, 1.0], features.dtype))[..., None, :]
  return jnp.concatenate([r_pos[..., None, :], pos], axis=-2)


def forward_kinematics(
  local_quats: jnp.ndarray,
  root_pos: jnp.ndarray,
  offsets: jnp.ndarray,
  skeleton: SkeletonSpec = T2M,
) -> jnp.ndarray:
  """HumanML3D-convention FK: ``[..., J, 4]`` local quats, ``[..., 3]`` root, ``[J, 3]`` offsets.

  Every kinematic chain starts from the root rotation ``local_quats[..., 0, :]`` (also the arm
  chains that hang from spine3), then accumulates ``R <- R * q[c]`` and places ``x[c] = x[p] +
  R offset[c]``. Returns ``[..., J, 3]``.
  """
  return forward_kinematics_matrices(rot.quat_to_matrix(local_quats), root_pos, offsets, skeleton)


def forward_kinematics_matrices(
  local_mats: jnp.ndarray,
  root_pos: jnp.ndarray,
  offsets: jnp.ndarray,
  skeleton: SkeletonSpec = T2M,
) -> jnp.ndarray:
  """:func:`forward_kinematics` with local rotation matrices ``[..., J, 3, 3]``."""
  offsets = jnp.asarray(offsets, local_mats.dtype)
  joints = [None] * skeleton.n_joints
  joints[0] = root_pos
  for chain in skeleton.kinematic_chain:
    r = local_mats[..., 0, :, :]
    for p, c in zip(chain[:-1], chain[1:]):
      r = r @ local_mats[..., c, :, :]
      joints[c] = joints[p] + r @ offsets[c]
  return jnp.stack(joints, axis=-2)


def recover_from_rot(
  features: jnp.ndarray, offsets: jnp.ndarray | None = None, skeleton: SkeletonSpec = T2M
) -> jnp.ndarray:
  """Joints by FK of the 6D ``rot`` block on the integrated root: ``[..., T, D]`` to
  ``[..., T, J, 3]`` (orientation-only reconstruction; bone lengths from ``offsets``).

  As in the official ``recover_from_rot``, the root quaternion is the integrated facing
  quaternion and the chains are composed from it (:func:`forward_kinematics`). Bone lengths come
  from ``offsets`` (default: the skeleton's target offsets). Note: the 6D rotations of
  HumanML3D are not invariant to the global heading (shortest-arc IK), so this reconstruction
  agrees with :func:`recover_from_ric` only up to a yaw about each chain start when the clip's
  heading differs from the one it was processed in.
  """
  validate_features(features, skeleton)
  if offsets is None:
    offsets = _require_target_offsets(skeleton)
  features = jnp.asarray(features)
  return _recover_from_rot_jit(features, jnp.asarray(offsets, features.dtype), skeleton)


@partial(jax.jit, static_argnums=(2,))
def _recover_from_rot_jit(features, offsets, skeleton: SkeletonSpec):
  lay = layout_for(skeleton)
  a, b = lay.blocks["rot"]
  d6 = features[..., a:b].reshape(features.shape[:-1] + (skeleton.n_joints - 1, 6))
  r_rot, r_pos = recover_root_rot_pos(features)
  mats = jnp.concatenate(
    [rot.quat_to_matrix(r_rot)[..., None, :, :], rot.cont6d_to_matrix(d6)], axis=-3
  )
  return forward_kinematics_matrices(mats, r_pos, offsets, skeleton)


# ------------------------------------------------------------------------------------------------
# Joints -> features
# ------------------------------------------------------------------------------------------------
def gaussian_smooth(x: jnp.ndarray, sigma: float, truncate: float = _GAUSS_TRUNCATE) -> jnp.ndarray:
  """Gaussian filter along axis 0, edge-replicate padding (``gaussian_filter1d``, ``nearest``).

  The kernel has radius ``int(truncate * sigma + 0.5)`` and is normalised to sum to 1.
  """
  radius = int(truncate * float(sigma) + 0.5)
  k = np.arange(-radius, radius + 1, dtype=np.float64)
  w = np.exp(-0.5 * (k / float(sigma)) ** 2)
  w = jnp.asarray(w / w.sum(), x.dtype)
  flat = x.reshape(x.shape[0], -1)
  padded = jnp.pad(flat, ((radius, radius), (0, 0)), mode="edge")
  out = jax.vmap(lambda col: jnp.convolve(col, w, mode="valid"), in_axes=1, out_axes=1)(padded)
  return out.reshape(x.shape)


def _normalize(v: jnp.ndarray) -> jnp.ndarray:
  return v / jnp.sqrt(jnp.sum(v * v, axis=-1, keepdims=True))


def _require_target_offsets(skeleton: SkeletonSpec) -> np.ndarray:
  tgt = skeleton.target_offsets_array()
  if tgt is None:
    raise ValueError(
      f"skeleton {skeleton.name!r} has no target offsets (its official target clip is not "
      "shipped); pass target_offsets=[J, 3] (see skeletons.t2m.offsets_from_joints)"
    )
  return tgt


def _ancestor_matrix(skeleton: SkeletonSpec) -> np.ndarray:
  """``A [J, J]``: ``A[c, k] = 1`` when bone ``k`` (parent(k) -> k) is on the root->c path."""
  par = skeleton.parents
  a = np.zeros((skeleton.n_joints, skeleton.n_joints))
  for c in range(skeleton.n_joints):
    k = c
    while par[k] >= 0:
      a[c, k] = 1.0
      k = par[k]
  return a


def uniform_skeleton(
  joints: jnp.ndarray, skeleton: SkeletonSpec = T2M, target_offsets: np.ndarray | None = None
) -> jnp.ndarray:
  """Retargets ``[T, J, 3]`` joints to the target bone lengths (official IK -> FK, closed form).

  Root positions are scaled by ``tgt_leg / src_leg`` (sum of the two ``leg_indices`` bone
  lengths; source lengths measured on frame 0); each bone keeps its direction and takes the
  target length, accumulated from the root along the tree.
  """
  if target_offsets is None:
    target_offsets = _require_target_offsets(skeleton)
  tgt = np.asarray(target_offsets, np.float64)
  tgt_len = np.linalg.norm(tgt, axis=-1)
  l1, l2 = skeleton.leg_indices
  par = np.asarray(skeleton.parents)
  par0 = np.maximum(par, 0)
  src_leg = sum(jnp.linalg.norm(joints[0, i] - joints[0, par[i]]) for i in (l1, l2))
  scale = (tgt_len[l1] + tgt_len[l2]) / src_leg
  bones = joints - joints[:, par0]  # [T, J, 3]; bone 0 is zero
  unit = bones / jnp.sqrt(jnp.maximum(jnp.sum(bones * bones, -1, keepdims=True), 1e-30))
  scaled = unit * jnp.asarray(tgt_len, joints.dtype)[:, None]  # tgt_len[0] = 0
  anc = jnp.asarray(_ancestor_matrix(skeleton), joints.dtype)
  return (joints[:, :1] * scale) + jnp.einsum("ck,tkd->tcd", anc, scaled)


def facing_rotation(
  joints: jnp.ndarray,
  skeleton: SkeletonSpec = T2M,
  smooth: bool = True,
  first_frame_identity: bool = True,
) -> jnp.ndarray:
  """Per-frame root (facing) quaternion ``[T, 4]`` of the IK routine (see module docstring, 6).

  ``r_rot`` rotates the smoothed forward direction onto +Z (world -> facing frame); frame 0 is
  set to the identity as in the official IK (``first_frame_identity``).
  """
  r_hip, l_hip, sdr_r, sdr_l = skeleton.face_joint_indx
  # The IK routine unpacks the list as (l_hip, r_hip, sdr_r, sdr_l): hip term sign-flipped.
  across = (joints[:, l_hip] - joints[:, r_hip]) + (joints[:, sdr_r] - joints[:, sdr_l])
  across = _normalize(across)
  forward = jnp.cross(jnp.asarray(_Y, joints.dtype), across)
  if smooth:
    forward = gaussian_smooth(forward, FACING_SMOOTH_SIGMA)
  forward = _normalize(forward)
  # A body facing exactly -Z is a half turn about the up axis (the generic antiparallel fallback
  # could pick a horizontal axis and turn the frame upside down).
  r_rot = rot.quat_between(forward, jnp.asarray(_Z, joints.dtype), fallback_axis=_Y)
  if first_frame_identity:
    # The official IK pins frame 0 to the identity (the clip was already turned to face +Z).
    r_rot = r_rot.at[0].set(rot.quat_identity((), joints.dtype))
  return r_rot


def local_rotations(joints: jnp.ndarray, r_rot: jnp.ndarray, skeleton: SkeletonSpec = T2M):
  """IK of the official pipeline: local quaternions ``[T, J, 4]`` (joint 0 holds ``r_rot``).

  Per chain the official loop sets ``q[c] = R^-1 * q_uv[c]`` and ``R <- R * q[c]`` (which is
  ``q_uv[c]``), with ``R = r_rot`` at each chain start and ``q_uv[c] = quat_between(raw_offset[c],
  unit bone c)``. Vectorised: ``q[c] = prev[c]^-1 * q_uv[c]`` with ``prev[c] = r_rot`` for chain
  starts and ``q_uv[parent(c)]`` otherwise.
  """
  par = np.asarray(skeleton.parents)
  par0 = np.maximum(par, 0)
  raw = jnp.asarray(skeleton.raw_offsets_array(), joints.dtype)
  chain_start = np.zeros(skeleton.n_joints, bool)
  for chain in skeleton.kinematic_chain:
    chain_start[chain[1]] = True
  bones = _normalize(joints[:, 1:] - joints[:, par0[1:]])  # [T, J-1, 3]
  q_uv = rot.quat_between(raw[1:], bones)
  q_uv = jnp.concatenate([r_rot[:, None], q_uv], axis=1)  # index = joint
  prev = jnp.where(chain_start[None, :, None], r_rot[:, None], q_uv[:, par0])
  q = rot.quat_multiply(rot.quat_inverse(prev), q_uv)
  return q.at[:, 0].set(r_rot)


def _features_single(joints: jnp.ndarray, skeleton: SkeletonSpec, tgt, retarget: bool):
  x = joints
  t = x.shape[0]
  if retarget:
    x = uniform_skeleton(x, skeleton, tgt)
  # Floor, origin, face +Z at frame 0 (process_file convention).
  x = x.at[..., 1].add(-jnp.min(x[..., 1]))
  x = x - x[0, 0] * jnp.asarray([1.0, 0.0, 1.0], x.dtype)
  r_hip, l_hip, sdr_r, sdr_l = skeleton.face_joint_indx
  across = (x[0, r_hip] - x[0, l_hip]) + (x[0, sdr_r] - x[0, sdr_l])
  forward0 = _normalize(jnp.cross(jnp.asarray(_Y, x.dtype), _normalize(across)))
  q0 = rot.quat_between(forward0, jnp.asarray(_Z, x.dtype))
  x = rot.quat_rotate(q0, x)
  # Foot contacts from squared per-frame displacement.
  disp2 = jnp.sum((x[1:] - x[:-1]) ** 2, axis=-1)  # [T-1, J]
  thre = jnp.asarray(skeleton.feet_thre, x.dtype)
  feet_l = (disp2[:, list(skeleton.fid_l)] < thre).astype(x.dtype)
  feet_r = (disp2[:, list(skeleton.fid_r)] < thre).astype(x.dtype)
  # Facing rotation and local 6D rotations.
  r_rot = facing_rotation(x, skeleton, smooth=True)
  cont6d = rot.quat_to_cont6d(local_rotations(x, r_rot, skeleton))
  # Root velocities.
  vel = rot.quat_rotate(r_rot[1:], x[1:, 0] - x[:-1, 0])
  dq = rot.quat_multiply(r_rot[1:], rot.quat_inverse(r_rot[:-1]))
  rot_vel = jnp.arcsin(jnp.clip(dq[:, 2], -1.0, 1.0))
  # RIC positions and local velocities.
  ric = x - x[:, :1] * jnp.asarray([1.0, 0.0, 1.0], x.dtype)
  ric = rot.quat_rotate(r_rot[:, None], ric)
  local_vel = rot.quat_rotate(r_rot[:-1, None], x[1:] - x[:-1])
  return jnp.concatenate(
    [
      rot_vel[:, None],
      vel[:, 0::2],
      ric[:-1, 0, 1:2],
      ric[:-1, 1:].reshape(t - 1, -1),
      cont6d[:-1, 1:].reshape(t - 1, -1),
      local_vel.reshape(t - 1, -1),
      feet_l,
      feet_r,
    ],
    axis=-1,
  )


def joints_to_features(
  joints: jnp.ndarray,
  skeleton: SkeletonSpec = T2M,
  target_offsets: np.ndarray | None = None,
  retarget: bool = True,
) -> jnp.ndarray:
  """HumanML3D features from joint positions: ``[..., T, J, 3] -> [..., T-1, D]``.

  Args:
    joints: positions in metres (t2m) with +Y up, any heading/origin.
    skeleton: :data:`T2M` (263 dims) or :data:`KIT` (251 dims).
    target_offsets: ``[J, 3]`` retarget bone vectors; default ``skeleton.target_offsets``
      (required for KIT, whose target clip is not shipped).
    retarget: apply the uniform-skeleton step (disable for joints already on the target).

  Returns:
    Un-normalised features, same dtype as ``joints``.
  """
  validate_joints(joints, skeleton)
  joints = jnp.asarray(joints)
  tgt = None
  if retarget:
    tgt = (
      _require_target_offsets(skeleton)
      if target_offsets is None
      else np.asarray(target_offsets, np.float64)
    )
  tgt_key = None if tgt is None else tuple(map(tuple, np.asarray(tgt, np.float64).tolist()))
  return _joints_to_features_jit(joints, skeleton, tgt_key, retarget)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _joints_to_features_jit(joints, skeleton, tgt_key, retarget):
  tgt = None if tgt_key is None else np.asarray(tgt_key, np.float64)
  lead = joints.shape[:-3]
  flat = joints.reshape((-1,) + joints.shape[-3:])
  out = jax.vmap(lambda x: _features_single(x, skeleton, tgt, retarget))(flat)
  return out.reshape(lead + out.shape[1:])


# ------------------------------------------------------------------------------------------------
# Normalisation
# ------------------------------------------------------------------------------------------------
def load_mean_std(directory: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
  """HumanML3D dataset ``Mean.npy`` / ``Std.npy`` (263,) from ``data/humanml3d``."""
  directory = Path(directory) if directory is not None else HUMANML3D_DIR
  return np.load(directory / "Mean.npy"), np.load(directory / "Std.npy")


def normalize(features: jnp.ndarray, mean: jnp.ndarray, std: jnp.ndarray) -> jnp.ndarray:
  """``(features - mean) / std`` with shape checks (no feature-group weighting)."""
  _check_stats(features, mean, std)
  return (features - mean) / std


def denormalize(features: jnp.ndarray, mean: jnp.ndarray, std: jnp.ndarray) -> jnp.ndarray:
  """Inverse of :func:`normalize`: ``features * std + mean``."""
  _check_stats(features, mean, std)
  return features * std + mean


def _check_stats(features, mean, std) -> None:
  d = np.shape(features)[-1] if np.ndim(features) else None
  if np.shape(mean) != (d,) or np.shape(std) != (d,):
    raise MotionShapeError(
      f"mean/std must have shape ({d},) to match features {tuple(np.shape(features))}; "
      f"got mean {tuple(np.shape(mean))}, std {tuple(np.shape(std))}"
    )


__all__ = [
  "FeatureLayout",
  "MotionShapeError",
  "NonFiniteMotionError",
  "T2M",
  "KIT",
  "layout_for",
  "split_features",
  "validate_features",
  "validate_joints",
  "recover_root_rot_pos",
  "recover_from_ric",
  "recover_from_rot",
  "forward_kinematics",
  "forward_kinematics_matrices",
  "gaussian_smooth",
  "uniform_skeleton",
  "facing_rotation",
  "local_rotations",
  "joints_to_features",
  "load_mean_std",
  "normalize",
  "denormalize",
]
