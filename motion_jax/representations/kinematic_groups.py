"""KinMo's kinematic-group representation (Zhang, Liu, Kim, Garrido, Chaudhuri, "KinMo:
Kinematic-aware Human Motion Understanding and Generation", arXiv:2411.15472 / ICCV 2025, sec. 3.1,
eqs. 1-3; the paper text is in ``shared/papers/kinmo.txt``).

KinMo describes a motion at three levels: global action, six kinematic groups (torso, head/neck,
left arm, right arm, left leg, right leg) and the 15 pairwise interactions between groups. Two
representations are implemented, chosen by :class:`GroupRepresentationConfig.representation`:

``"rotations"`` (default, the paper's eqs. 1-3): :func:`rotation_groups`
--------------------------------------------------------------------------
``J`` joints, ``T`` frames, groups in the order of :data:`GROUP_NAMES`, pairs ``(g, h), g < h``
in lexicographic order (:data:`PAIRS`).

* **Group position** (eq. 1): ``P_g = mean_{j in g} p_j`` -> ``[..., T, 6, 3]`` (linear:
  :func:`group_matrix`).
* **Limb angles** (eq. 2): ``Theta_g = {r_j | j in g}``, ``r_j`` the axis-angle vector (radians,
  ``angle * axis``) of joint ``j``'s rotation relative to its parent ->
  ``rotations [..., T, J, 3]`` indexed by joint (``Theta_g = rotations[..., members[g], :]``).
* **Group velocity** (eq. 2): ``V_g = mean_{j in g} v_j`` with ``v_j`` the relative angular
  velocity of joint ``j`` (rad/s) -> ``angular_velocities [..., T-1, J, 3]`` and
  ``velocities [..., T-1, 6, 3]``.
* **Interactions** (eq. 3), per pair ``(g, h)``: ``rel_positions = P_g - P_h`` ``[..., T, 15, 3]``
  (the sign of :func:`pair_matrix`; the paper writes ``P_h - P_g``, an immaterial sign);
  ``rel_rotations`` ``[..., T, 15, 3]`` the axis-angle of the rotation at the joint the two
  groups share; ``rel_velocities`` ``[..., T-1, 15, 6]`` = ``[V_g - V_h ; w_gh]`` with ``w_gh``
  the angular velocity of that shared-joint rotation.

What the features hold (checked in :mod:`motion_jax.representations.humanml3d`, step 7): the
``rot`` block of the 263-dim t2m features stores, for joint ``c = 1..21``, the 6D form of an
inverse-kinematics rotation ``q[c] = R^-1 quat_between(raw_offset[c], bone(parent(c) -> c))``,
where ``R`` is the orientation of the previous bone *of the same kinematic chain*, or the root's
facing rotation at a chain's first bone. Bone orientations are shortest arcs from the rest
direction, so they carry no twist about the bone. Two consequences, both handled here:

1. The stored rotation at index ``c`` is the rotation of bone ``parent(c) -> c`` relative to the
   bone that ends at ``parent(c)``: it is the bend *at* ``parent(c)`` toward ``c``. We keep that
   indexing: ``r_c`` is "joint ``c``'s rotation relative to its parent" in the sense that joint
   ``c``'s frame is the orientation of the bone that ends at ``c``.
2. The arm chains start at spine3 *from the root's facing rotation*, so the stored collar
   rotations (joints 13, 14) are not relative to spine3. And HumanML3D's forward kinematics
   starts every chain from ``r_rot`` while its positions are un-rotated by ``r_rot^-1``: the
   world orientation of bone ``c`` is ``G[c] = r_rot q[chain start] ... q[c]``, whereas the body
   (root) frame is ``r_rot^-1``. So the stored hip and spine1 rotations are relative to a frame
   turned by twice the facing yaw, not to the root. We recompose the chains in the world
   (:func:`bone_orientations`; tested: ``G[c] raw_offset[c]`` is the bone direction of the
   shipped joints) and take ``r_j = G[parent(j)]^-1 G[j]`` with ``G[0] = r_rot^-1``, so every
   ``r_j`` is relative to its kinematic parent. HumanML3D's root has yaw only, so pelvis tilt
   appears in the hip and spine1 rotations.

The root ``r_0`` is the root's facing (yaw) orientation ``r_rot^-1``, integrated from
``root_rot_velocity`` (relative to frame 0) on the features path; on the joints path ``r_rot``
comes from :func:`motion_jax.representations.humanml3d.facing_rotation` (smoothed, frame 0 pinned
to the identity), as in the features' IK.

Choices the paper leaves open (config fields of :class:`GroupRepresentationConfig`):

* ``fps``: the data's frame rate for angular velocities (default: the skeleton's, 20 for t2m).
* ``angular_velocity_frame``: ``v_j(t) = log(r_j(t+1) r_j(t)^-1) * fps`` expressed in the parent
  frame (``"parent"``, default), or ``log(r_j(t)^-1 r_j(t+1)) * fps`` in the joint's own frame
  (``"child"``). Forward differences: ``T - 1`` velocity frames.
* Shared joint of a pair (:func:`pair_frames`). Each limb group hangs from a torso joint
  (:attr:`KinematicGroups.attach`: head and arms from spine3, legs from the pelvis) through its
  first member (its *entry* joint). The shared-joint rotation of ``(g, h)`` is
  ``G[a]^-1 G[b]`` for two frames ``a, b``:

  - torso with a limb: ``a`` = the limb's attachment joint (the torso's frame there), ``b`` = the
    limb's entry joint, so the rotation is exactly ``r_entry`` (e.g. ``r_13``, the rotation at
    spine3 toward the left collar);
  - two limbs hanging from the same joint (head-arm, arm-arm, leg-leg): ``a, b`` = the two entry
    joints: the rotation between the two bones leaving the shared joint (identity in the rest
    pose);
  - limbs with no shared joint (arm-leg, head-leg: 6 of the 15 pairs), ``unshared_pairs``:
    ``"entry_frames"`` (default) uses the same formula (relative rotation between the groups'
    entry-bone frames), ``"identity"`` sets the rotation and its velocity to zero (no shared
    joint, nothing to describe). :data:`SHARED` marks which pairs share a joint.

``"angles"`` (the earlier reading, kept as a named option): :func:`angle_groups`
--------------------------------------------------------------------------------
Scalar interior angles from positions and linear velocities (written before the paper's text
was available):

* **Group velocity**: ``V_g = A v`` with ``v`` linear joint velocities (HumanML3D's
  ``local_velocity`` block, or forward differences), metres *per frame*.
* **Limb angles**: for each group member ``k`` with a parent ``p`` and a chain child ``c``, the
  interior angle ``angle(x_p - x_k, x_c - x_k)`` (pi for a straight limb): 16 angles for t2m
  (:attr:`KinematicGroups.angle_triplets`).
* **Connecting-joint angle**: ``angle(P_i - a_i, P_j - a_j)`` with ``a_g`` group ``g``'s
  attachment joint (for the torso: the other group's), for all 15 pairs.
* **Relative velocity**: ``V_i - V_j``; no shared-joint velocity.

Inverse (positional part, both representations): ``X -> (P, P_i - P_j)`` has rank 6 per
coordinate, so joints cannot be recovered from group positions alone. What *is* exactly
invertible, and tested:

* pairwise relative positions + the torso position -> all group positions
  (:func:`group_positions_from_interactions`; ``D`` has rank 5 and the torso fixes the common
  translation), likewise for (linear or angular) group velocities;
* the lifted linear transform ``Z = M X`` with ``M = [A; C]`` (:func:`group_coordinates`), where
  ``C`` gives each non-last member's offset from its group position: 6 group positions + (J - 6)
  intra-group offsets, a square invertible ``[J, J]`` matrix, so
  :func:`joints_from_group_coordinates` recovers the joints exactly;
* the rotations: ``r_j`` for all joints recompose the bone orientations by FK
  (:func:`bone_orientations` inverted by the chain products), so ``Theta`` for all groups is the
  features' ``rot`` block up to the 6D <-> rotation map.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.representations import humanml3d
from motion_jax.representations import rotations as rot
from motion_jax.skeletons.t2m import T2M, SkeletonSpec

GROUP_NAMES = ("torso", "head_neck", "left_arm", "right_arm", "left_leg", "right_leg")
PAIRS = tuple(itertools.combinations(range(len(GROUP_NAMES)), 2))  # 15 pairs, i < j
REPRESENTATIONS = ("rotations", "angles")
ANGULAR_VELOCITY_FRAMES = ("parent", "child")
UNSHARED_PAIRS = ("entry_frames", "identity")


@dataclasses.dataclass(frozen=True)
class GroupRepresentationConfig:
  """Which KinMo group representation, and the choices the paper leaves open (module docstring).

  Attributes:
    representation: ``"rotations"`` (eqs. 1-3: axis-angle joint rotations and relative angular
      velocities) or ``"angles"`` (scalar interior angles and linear velocities, the earlier
      reading).
    fps: frame rate for angular velocities (rad/s); ``None``: the skeleton's.
    angular_velocity_frame: ``"parent"`` or ``"child"`` (rotations only).
    unshared_pairs: ``"entry_frames"`` or ``"identity"`` for pairs without a shared joint.
  """

  representation: str = "rotations"
  fps: float | None = None
  angular_velocity_frame: str = "parent"
  unshared_pairs: str = "entry_frames"

  def __post_init__(self):
    for name, valid in (
      ("representation", REPRESENTATIONS),
      ("angular_velocity_frame", ANGULAR_VELOCITY_FRAMES),
      ("unshared_pairs", UNSHARED_PAIRS),
    ):
      if getattr(self, name) not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {getattr(self, name)!r}")
    if self.fps is not None and not self.fps > 0:
      raise ValueError(f"fps must be positive, got {self.fps}")


@dataclasses.dataclass(frozen=True)
class KinematicGroups:
  """Partition of a skeleton's joints into KinMo's six groups.

  Attributes:
    skeleton: the joint-level skeleton.
    members: joint indices of each group (chain order), a partition of all joints.
    attach: for each group, the torso joint it hangs from (torso: the root).
  """

  skeleton: SkeletonSpec
  members: tuple[tuple[int, ...], ...] = dataclasses.field(repr=False)
  attach: tuple[int, ...]

  def __post_init__(self):
    flat = sorted(k for m in self.members for k in m)
    if flat != list(range(self.skeleton.n_joints)) or len(self.members) != len(GROUP_NAMES):
      raise ValueError("groups must partition the skeleton's joints into 6 groups")

  @property
  def angle_triplets(self) -> tuple[tuple[int, int, int], ...]:
    """``(parent, joint, child)`` for every group member with a parent and a chain child, in
    group order (the joint belongs to the group; parent/child may belong to a neighbour)."""
    nxt = {}
    for chain in self.skeleton.kinematic_chain:
      for a, b in zip(chain[:-1], chain[1:]):
        nxt.setdefault(a, b)  # first chain through a joint continues it
    par = self.skeleton.parents
    out = []
    for group in self.members:
      for k in group:
        if par[k] >= 0 and k in nxt:
          out.append((par[k], k, nxt[k]))
    return tuple(out)

  @property
  def angle_group(self) -> tuple[int, ...]:
    """Group index of each limb angle in :attr:`angle_triplets`."""
    owner = {k: g for g, m in enumerate(self.members) for k in m}
    return tuple(owner[k] for _, k, _ in self.angle_triplets)

  @property
  def entry(self) -> tuple[int, ...]:
    """First member of each group: the joint through which a limb hangs from the torso."""
    return tuple(m[0] for m in self.members)


# SMPL/t2m joint indices (see skeletons.t2m.T2M_JOINT_NAMES).
T2M_GROUPS = KinematicGroups(
  skeleton=T2M,
  members=(
    (0, 3, 6, 9),  # pelvis, spine1, spine2, spine3
    (12, 15),  # neck, head
    (13, 16, 18, 20),  # left collar, shoulder, elbow, wrist
    (14, 17, 19, 21),  # right collar, shoulder, elbow, wrist
    (1, 4, 7, 10),  # left hip, knee, ankle, foot
    (2, 5, 8, 11),  # right hip, knee, ankle, foot
  ),
  attach=(0, 9, 9, 9, 0, 0),
)


class GroupFeatures(NamedTuple):
  """Group and interaction quantities of the ``"angles"`` representation (a pytree)."""

  positions: jnp.ndarray  # [..., T, 6, 3]
  angles: jnp.ndarray  # [..., T, n_angles] radians
  velocities: jnp.ndarray  # [..., Tv, 6, 3] metres per frame
  rel_positions: jnp.ndarray  # [..., T, 15, 3]
  rel_angles: jnp.ndarray  # [..., T, 15] radians
  rel_velocities: jnp.ndarray  # [..., Tv, 15, 3]


class RotationGroupFeatures(NamedTuple):
  """Group and interaction quantities of the ``"rotations"`` representation (eqs. 1-3)."""

  positions: jnp.ndarray  # [..., T, 6, 3] P_g (eq. 1)
  rotations: jnp.ndarray  # [..., T, J, 3] r_j axis-angle rel. to parent; Theta_g = [members[g]]
  angular_velocities: jnp.ndarray  # [..., T-1, J, 3] v_j, rad/s
  velocities: jnp.ndarray  # [..., T-1, 6, 3] V_g = mean of v_j (eq. 2)
  rel_positions: jnp.ndarray  # [..., T, 15, 3] P_g - P_h (eq. 3)
  rel_rotations: jnp.ndarray  # [..., T, 15, 3] rotation at the shared joint (eq. 3)
  rel_velocities: jnp.ndarray  # [..., T-1, 15, 6] [V_g - V_h ; shared-joint velocity] (eq. 3)


# ------------------------------------------------------------------------------------------------
# Linear operators
# ------------------------------------------------------------------------------------------------
def group_matrix(groups: KinematicGroups = T2M_GROUPS) -> np.ndarray:
  """``A [6, J]``: ``A[g, k] = 1/|g|`` for members ``k`` of group ``g`` (eq. 1 positions)."""
  a = np.zeros((len(groups.members), groups.skeleton.n_joints))
  for g, m in enumerate(groups.members):
    a[g, list(m)] = 1.0 / len(m)
  return a


def pair_matrix(n_groups: int = len(GROUP_NAMES)) -> np.ndarray:
  """``D [15, 6]``: row ``(i, j)`` is ``e_i - e_j`` (eqs. 2-3 relative quantities)."""
  pairs = list(itertools.combinations(range(n_groups), 2))
  d = np.zeros((len(pairs), n_groups))
  for r, (i, j) in enumerate(pairs):
    d[r, i], d[r, j] = 1.0, -1.0
  return d


def linear_operator(groups: KinematicGroups = T2M_GROUPS) -> np.ndarray:
  """``W [21, J] = [A; D A]``: joints -> (6 group positions, 15 relative positions), per axis.

  The same ``W`` maps joint velocities to (group velocities, relative velocities).
  """
  a = group_matrix(groups)
  return np.concatenate([a, pair_matrix(a.shape[0]) @ a], axis=0)


def feature_matrix(groups: KinematicGroups = T2M_GROUPS) -> np.ndarray:
  """The linear part as one matrix on HumanML3D feature vectors: ``[126, D]`` for t2m.

  This is the whole linear part of the ``"angles"`` representation; in ``"rotations"`` only the
  position rows (the first 63) apply, its velocities being angular.

  Output per frame (flattened, xyz fastest): 6x3 group positions, 15x3 relative positions,
  6x3 group velocities, 15x3 relative velocities, all in the root's facing frame. Joint
  positions come from the root height (root at ``(0, root_y, 0)``) and the ``ric`` block; joint
  velocities from the ``local_velocity`` block.
  """
  skel = groups.skeleton
  lay = humanml3d.layout_for(skel)
  j = skel.n_joints
  w = linear_operator(groups)  # [21, J]
  n = w.shape[0]
  pos_sel = np.zeros((j, 3, lay.dim))  # joints (facing frame) from features
  pos_sel[0, 1, lay.blocks["root_y"][0]] = 1.0
  r0 = lay.blocks["ric"][0]
  for k in range(1, j):
    for d in range(3):
      pos_sel[k, d, r0 + 3 * (k - 1) + d] = 1.0
  vel_sel = np.zeros((j, 3, lay.dim))
  v0 = lay.blocks["local_velocity"][0]
  for k in range(j):
    for d in range(3):
      vel_sel[k, d, v0 + 3 * k + d] = 1.0
  pos = np.einsum("gk,kdf->gdf", w, pos_sel).reshape(n * 3, lay.dim)
  vel = np.einsum("gk,kdf->gdf", w, vel_sel).reshape(n * 3, lay.dim)
  return np.concatenate([pos, vel], axis=0)


# ------------------------------------------------------------------------------------------------
# Forward
# ------------------------------------------------------------------------------------------------
def _angle(u: jnp.ndarray, v: jnp.ndarray) -> jnp.ndarray:
  """Unsigned angle between vectors (radians), via atan2 (accurate near 0 and pi)."""
  cross = jnp.linalg.norm(jnp.cross(u, v), axis=-1)
  return jnp.arctan2(cross, jnp.sum(u * v, axis=-1))


def limb_angles(joints: jnp.ndarray, groups: KinematicGroups = T2M_GROUPS) -> jnp.ndarray:
  """Interior angles at the joints of :attr:`KinematicGroups.angle_triplets`: ``[..., T, n]``."""
  p, k, c = (np.asarray(t) for t in zip(*groups.angle_triplets))
  xk = joints[..., k, :]
  return _angle(joints[..., p, :] - xk, joints[..., c, :] - xk)


def connecting_angles(
  joints: jnp.ndarray, positions: jnp.ndarray, groups: KinematicGroups = T2M_GROUPS
) -> jnp.ndarray:
  """Angle between each pair's groups as seen from their attachment joints: ``[..., T, 15]``."""
  att_i, att_j = [], []
  for i, j in PAIRS:
    # The torso has no attachment of its own in a pair: use the other group's.
    att_i.append(groups.attach[j] if i == 0 else groups.attach[i])
    att_j.append(groups.attach[j])
  gi, gj = (np.asarray(t) for t in zip(*PAIRS))
  u = positions[..., gi, :] - joints[..., np.asarray(att_i), :]
  v = positions[..., gj, :] - joints[..., np.asarray(att_j), :]
  return _angle(u, v)


def _check_joints(joints: jnp.ndarray, groups: KinematicGroups) -> None:
  j = groups.skeleton.n_joints
  if joints.ndim < 3 or joints.shape[-2:] != (j, 3):
    raise humanml3d.MotionShapeError(f"joints must have shape [..., T, {j}, 3]; got {joints.shape}")


def angle_groups(
  joints: jnp.ndarray, velocities: jnp.ndarray | None = None, groups: KinematicGroups = T2M_GROUPS
) -> GroupFeatures:
  """``"angles"`` representation from joint positions ``[..., T, J, 3]``.

  Args:
    joints: joint positions (any frame; positions and velocities transform with it, angles are
      invariant to rigid motions).
    velocities: linear joint velocities ``[..., Tv, J, 3]``; default forward differences
      (``Tv = T-1``).
    groups: the joint partition (default t2m).
  """
  joints = jnp.asarray(joints)
  _check_joints(joints, groups)
  if velocities is None:
    velocities = joints[..., 1:, :, :] - joints[..., :-1, :, :]
  a = jnp.asarray(group_matrix(groups), joints.dtype)
  d = jnp.asarray(pair_matrix(), joints.dtype)
  pos = jnp.einsum("gk,...kc->...gc", a, joints)
  vel = jnp.einsum("gk,...kc->...gc", a, velocities)
  return GroupFeatures(
    positions=pos,
    angles=limb_angles(joints, groups),
    velocities=vel,
    rel_positions=jnp.einsum("pg,...gc->...pc", d, pos),
    rel_angles=connecting_angles(joints, pos, groups),
    rel_velocities=jnp.einsum("pg,...gc->...pc", d, vel),
  )


# ------------------------------------------------------------------------------------------------
# Rotations (eqs. 1-3)
# ------------------------------------------------------------------------------------------------
def bone_orientations(local_quats: jnp.ndarray, skeleton: SkeletonSpec = T2M) -> jnp.ndarray:
  """World orientation of each joint's frame, ``[..., J, 4]``, from HumanML3D IK rotations.

  ``local_quats [..., J, 4]`` as HumanML3D stores them: index 0 is the facing rotation ``r_rot``
  (world -> facing), index ``c`` the rotation of bone ``parent(c) -> c`` relative to the previous
  bone of its chain (or, at a chain's first bone, to the chain's start frame). HumanML3D's FK
  starts every chain from ``r_rot``: ``G[chain[k]] = G[chain[k-1]] q[chain[k]]`` with
  ``G = r_rot`` before a chain's first bone, so that ``G[c] raw_offset[c]`` is the world bone
  direction (tested against the shipped joints). The root's own frame, ``G[0]``, is the body's
  facing orientation ``r_rot^-1`` (facing -> world, the convention of its positions:
  :func:`motion_jax.representations.humanml3d.recover_from_ric`).
  """
  g = [None] * skeleton.n_joints
  start = local_quats[..., 0, :]
  g[0] = rot.quat_inverse(start)
  for chain in skeleton.kinematic_chain:
    frame = start
    for c in chain[1:]:
      frame = rot.quat_multiply(frame, local_quats[..., c, :])
      g[c] = frame
  return jnp.stack(g, axis=-2)


def pair_frames(
  groups: KinematicGroups = T2M_GROUPS,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...]]:
  """Per pair in :data:`PAIRS`: frames ``(a, b)`` (joint indices into :func:`bone_orientations`)
  whose relative rotation ``G[a]^-1 G[b]`` is the pair's shared-joint rotation, and whether the
  two groups share a joint (module docstring)."""
  torso = 0
  fa, fb, shared = [], [], []
  for g, h in PAIRS:
    if g == torso:
      fa.append(groups.attach[h])
      fb.append(groups.entry[h])
      shared.append(True)
    else:
      fa.append(groups.entry[g])
      fb.append(groups.entry[h])
      shared.append(groups.attach[g] == groups.attach[h])
  return tuple(fa), tuple(fb), tuple(shared)


SHARED = pair_frames()[2]  # t2m: which of the 15 pairs share a joint


def joint_rotations(local_quats: jnp.ndarray, skeleton: SkeletonSpec = T2M) -> jnp.ndarray:
  """Joint rotations relative to the kinematic parent, ``[..., J, 4]``: index 0 is the root's
  orientation ``G[0]``, index ``j >= 1`` is ``G[parent(j)]^-1 G[j]`` (:func:`bone_orientations`)."""
  g = bone_orientations(local_quats, skeleton)
  par = np.maximum(np.asarray(skeleton.parents), 0)
  rel = rot.quat_multiply(rot.quat_inverse(g[..., par, :]), g)
  return jnp.concatenate([g[..., :1, :], rel[..., 1:, :]], axis=-2)


def angular_velocity(quats: jnp.ndarray, fps: float, frame: str = "parent") -> jnp.ndarray:
  """Angular velocity (rad/s) of rotations ``[..., T, K, 4]`` over time: ``[..., T-1, K, 3]``.

  ``"parent"``: ``log(q(t+1) q(t)^-1) * fps`` (in the frame the rotation is expressed in);
  ``"child"``: ``log(q(t)^-1 q(t+1)) * fps`` (in the rotated frame).
  """
  if frame not in ANGULAR_VELOCITY_FRAMES:
    raise ValueError(f"frame must be one of {ANGULAR_VELOCITY_FRAMES}, got {frame!r}")
  q0, q1 = quats[..., :-1, :, :], quats[..., 1:, :, :]
  if frame == "parent":
    dq = rot.quat_multiply(q1, rot.quat_inverse(q0))
  else:
    dq = rot.quat_multiply(rot.quat_inverse(q0), q1)
  return rot.quat_to_axis_angle(dq) * fps


def rotation_groups(
  joints: jnp.ndarray,
  local_quats: jnp.ndarray,
  groups: KinematicGroups = T2M_GROUPS,
  config: GroupRepresentationConfig = GroupRepresentationConfig(),
) -> RotationGroupFeatures:
  """``"rotations"`` representation (eqs. 1-3).

  Args:
    joints: joint positions ``[..., T, J, 3]`` (for ``P_g``).
    local_quats: HumanML3D IK rotations ``[..., T, J, 4]``, index 0 the facing rotation
      (:func:`bone_orientations`).
    groups: the joint partition.
    config: fps, angular-velocity frame, unshared-pair rule.
  """
  skel = groups.skeleton
  fps = skel.fps if config.fps is None else config.fps
  a = jnp.asarray(group_matrix(groups), joints.dtype)
  d = jnp.asarray(pair_matrix(), joints.dtype)
  pos = jnp.einsum("gk,...kc->...gc", a, joints)  # eq. 1
  q = joint_rotations(local_quats, skel)  # [..., T, J, 4]
  omega = angular_velocity(q, fps, config.angular_velocity_frame)  # [..., T-1, J, 3]
  vel = jnp.einsum("gk,...kc->...gc", a, omega)  # eq. 2
  g = bone_orientations(local_quats, skel)
  fa, fb, shared = pair_frames(groups)
  pair_q = rot.quat_multiply(
    rot.quat_inverse(g[..., np.asarray(fa), :]), g[..., np.asarray(fb), :]
  )  # [..., T, 15, 4]
  pair_rot = rot.quat_to_axis_angle(pair_q)
  pair_omega = angular_velocity(pair_q, fps, config.angular_velocity_frame)
  if config.unshared_pairs == "identity":
    keep = jnp.asarray(shared)[:, None]
    pair_rot = jnp.where(keep, pair_rot, 0.0)
    pair_omega = jnp.where(keep, pair_omega, 0.0)
  rel_vel = jnp.einsum("pg,...gc->...pc", d, vel)
  return RotationGroupFeatures(
    positions=pos,
    rotations=rot.quat_to_axis_angle(q),
    angular_velocities=omega,
    velocities=vel,
    rel_positions=jnp.einsum("pg,...gc->...pc", d, pos),
    rel_rotations=pair_rot,
    rel_velocities=jnp.concatenate([rel_vel, pair_omega], axis=-1),  # eq. 3
  )


def _ik(joints: jnp.ndarray, skeleton: SkeletonSpec) -> jnp.ndarray:
  """HumanML3D's IK on ``[T, J, 3]``: local quats ``[T, J, 4]`` (index 0: facing rotation)."""
  r_rot = humanml3d.facing_rotation(joints, skeleton)
  return humanml3d.local_rotations(joints, r_rot, skeleton)


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------
def kinematic_groups(
  joints: jnp.ndarray,
  velocities: jnp.ndarray | None = None,
  groups: KinematicGroups = T2M_GROUPS,
  config: GroupRepresentationConfig = GroupRepresentationConfig(),
) -> RotationGroupFeatures | GroupFeatures:
  """KinMo group and interaction quantities from joint positions ``[..., T, J, 3]``.

  ``"rotations"``: the joint rotations come from HumanML3D's IK (facing rotation, shortest-arc
  bones), as the features' ``rot`` block does; ``velocities`` must be ``None``. ``"angles"``:
  :func:`angle_groups` (``velocities``: linear joint velocities, default forward differences).
  """
  joints = jnp.asarray(joints)
  _check_joints(joints, groups)
  if config.representation == "angles":
    return angle_groups(joints, velocities, groups)
  if velocities is not None:
    raise ValueError("velocities are derived from the rotations in the 'rotations' representation")
  skel = groups.skeleton
  lead, tail = joints.shape[:-3], joints.shape[-3:]
  flat = joints.reshape((-1,) + tail)
  local = jax.vmap(lambda x: _ik(x, skel))(flat)
  local = local.reshape(lead + local.shape[1:])
  return rotation_groups(joints, local, groups, config)


def kinematic_groups_from_features(
  features: jnp.ndarray,
  groups: KinematicGroups = T2M_GROUPS,
  config: GroupRepresentationConfig = GroupRepresentationConfig(),
) -> RotationGroupFeatures | GroupFeatures:
  """Group quantities from HumanML3D features ``[..., T, D]``, in the root's facing frame.

  Joint positions are the ``ric`` block with the root at ``(0, root_y, 0)``. ``"rotations"``:
  joint rotations from the ``rot`` block (6D) and the integrated root yaw. ``"angles"``:
  velocities are the ``local_velocity`` block (so ``Tv = T``); the linear part equals
  :func:`feature_matrix` applied to the features.
  """
  skel = groups.skeleton
  humanml3d.validate_features(features, skel)
  blocks = humanml3d.split_features(features, skel)
  root = jnp.concatenate(
    [jnp.zeros_like(blocks["root_y"]), blocks["root_y"], jnp.zeros_like(blocks["root_y"])], axis=-1
  )
  joints = jnp.concatenate([root[..., None, :], blocks["ric"]], axis=-2)
  if config.representation == "angles":
    return angle_groups(joints, blocks["local_velocity"], groups)
  local = rot.cont6d_to_quat(blocks["rot"])  # [..., T, J-1, 4]
  r_rot, _ = humanml3d.recover_root_rot_pos(features)
  local = jnp.concatenate([r_rot[..., None, :], local], axis=-2)
  return rotation_groups(joints, local, groups, config)


# ------------------------------------------------------------------------------------------------
# Inverses
# ------------------------------------------------------------------------------------------------
def group_positions_from_interactions(rel: jnp.ndarray, torso: jnp.ndarray) -> jnp.ndarray:
  """Group positions ``[..., 6, 3]`` from relative positions ``[..., 15, 3]`` and the torso's.

  Solves ``[e_torso; D] P = [torso; rel]`` in the least-squares sense (exact for consistent
  input: the system has full column rank). Works the same for velocities.
  """
  d = pair_matrix()
  e0 = np.zeros((1, d.shape[1]))
  e0[0, 0] = 1.0
  pinv = jnp.asarray(np.linalg.pinv(np.concatenate([e0, d], axis=0)), rel.dtype)
  rhs = jnp.concatenate([torso[..., None, :], rel], axis=-2)
  return jnp.einsum("gp,...pc->...gc", pinv, rhs)


def coordinates_matrix(groups: KinematicGroups = T2M_GROUPS) -> np.ndarray:
  """``M [J, J] = [A; C]``: 6 group means then, per group, each member but the last minus the
  group mean (J - 6 rows). Square and invertible."""
  a = group_matrix(groups)
  rows = []
  for g, m in enumerate(groups.members):
    for k in m[:-1]:
      r = -a[g].copy()
      r[k] += 1.0
      rows.append(r)
  return np.concatenate([a, np.asarray(rows)], axis=0)


def group_coordinates(joints: jnp.ndarray, groups: KinematicGroups = T2M_GROUPS) -> jnp.ndarray:
  """Lifted linear transform ``[..., J, 3] -> [..., J, 3]``: group positions (first 6 rows) and
  intra-group offsets (the rest); invert with :func:`joints_from_group_coordinates`."""
  m = jnp.asarray(coordinates_matrix(groups), joints.dtype)
  return jnp.einsum("rk,...kc->...rc", m, joints)


def joints_from_group_coordinates(
  z: jnp.ndarray, groups: KinematicGroups = T2M_GROUPS
) -> jnp.ndarray:
  """Exact inverse of :func:`group_coordinates`."""
  minv = jnp.asarray(np.linalg.inv(coordinates_matrix(groups)), z.dtype)
  return jnp.einsum("kr,...rc->...kc", minv, z)
