"""KinMo's kinematic-group representation (Zhang, Liu, Kim, Garrido, Chaudhuri, "KinMo:
Kinematic-aware Human Motion Understanding and Generation", arXiv:2411.15472 / ICCV 2025, sec. 3).

KinMo describes a motion at three levels: global action, six kinematic groups (torso, head/neck,
left arm, right arm, left leg, right leg) and the 15 pairwise interactions between groups. Per
group it uses a *position*, *limb angles* and a *velocity* (eq. 1); per pair of groups a
*relative position*, the *angle at the connecting joints* and a *relative velocity* (eqs. 2-3).
The positional quantities are linear in the joint-level representation.

What is computed here, precisely (``J`` joints, ``T`` frames, groups in the order of
:data:`GROUP_NAMES`, pairs ``(i, j), i < j`` in lexicographic order):

* **Group position** (eq. 1): ``P_g = mean_{k in g} x_k`` -> ``[..., T, 6, 3]``. Linear:
  ``P = A X`` with the membership-averaging matrix ``A [6, J]`` (:func:`group_matrix`).
* **Group velocity** (eq. 1): ``V_g = A v`` where ``v`` are joint velocities (HumanML3D's
  ``local_velocity`` block, or forward differences ``x[t+1] - x[t]``), in metres *per frame*.
* **Limb angles** (eq. 1): for each group member ``k`` that has a parent ``p`` and a child ``c`` on
  the same kinematic chain, the interior angle ``angle(x_p - x_k, x_c - x_k)`` in radians (pi for
  a straight limb). 16 angles for t2m: torso at spine1/spine2/spine3, head/neck at the neck, each
  arm at collar/shoulder/elbow, each leg at hip/knee/ankle (:data:`T2M_GROUPS.angle_triplets`).
  Not linear (arccos of a normalised dot product).
* **Relative position** (eq. 2): ``P_i - P_j`` -> ``[..., T, 15, 3]``; linear, ``D A X`` with the
  pair incidence matrix ``D [15, 6]`` (:func:`pair_matrix`).
* **Relative velocity** (eq. 3): ``V_i - V_j`` = ``D A v``; linear.
* **Connecting-joint angle** (eq. 2): each limb group hangs from a torso joint (head and arms from
  spine3, legs from the pelvis: :data:`KinematicGroups.attach`). For a pair ``(i, j)`` the angle is
  ``angle(P_i - a_i, P_j - a_j)`` where ``a_g`` is group ``g``'s attachment joint and, for the
  torso, ``a_torso`` is the attachment of the other group. When both groups hang from the same
  joint (arm-arm, arm-head, leg-leg, torso-anything) this is exactly the angle at that connecting
  joint between the two groups; for groups hanging from different torso joints (arm-leg,
  head-leg) it is the angle between the two groups' directions.

Interpretation. Only the paper's abstract and third-party summaries could be consulted when this
was written, not the text of its equations, so the equation numbers above are indicative and the
following are our reading of the paper's description (six groups; per group position, limb
angle, velocity; per pair relative position, connecting-joint angle, relative velocity; the
positional part linear in the joints): the joint membership of each group, interior angles as
"limb angles", the attachment rule for "connecting joints", velocities per frame (not per
second), the group/pair orderings, and which inverse exists (below). Each is stated above; check
them against the paper before relying on exact numbers.

Inverse: the linear part ``X -> (P, P_i - P_j)`` has rank 6 per coordinate, so joints cannot be
recovered from group positions alone. What *is* exactly invertible, and tested:

* pairwise relative positions + the torso position -> all group positions
  (:func:`group_positions_from_interactions`; ``D`` has rank 5 and the torso fixes the common
  translation), likewise for velocities;
* the lifted linear transform ``Z = M X`` with ``M = [A; C]`` (:func:`group_coordinates`), where
  ``C`` gives each non-last member's offset from its group position: 6 group positions + (J - 6)
  intra-group offsets, a square invertible ``[J, J]`` matrix, so
  :func:`joints_from_group_coordinates` recovers the joints exactly. Applied to velocities, the same
  matrices give group velocities + intra-group relative velocities.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from motion_jax.representations import humanml3d
from motion_jax.skeletons.t2m import T2M, SkeletonSpec

GROUP_NAMES = ("torso", "head_neck", "left_arm", "right_arm", "left_leg", "right_leg")
PAIRS = tuple(itertools.combinations(range(len(GROUP_NAMES)), 2))  # 15 pairs, i < j


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
  """KinMo group-level and interaction-level quantities (a pytree)."""

  positions: jnp.ndarray  # [..., T, 6, 3]
  angles: jnp.ndarray  # [..., T, n_angles] radians
  velocities: jnp.ndarray  # [..., Tv, 6, 3] metres per frame
  rel_positions: jnp.ndarray  # [..., T, 15, 3]
  rel_angles: jnp.ndarray  # [..., T, 15] radians
  rel_velocities: jnp.ndarray  # [..., Tv, 15, 3]


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


def kinematic_groups(
  joints: jnp.ndarray, velocities: jnp.ndarray | None = None, groups: KinematicGroups = T2M_GROUPS
) -> GroupFeatures:
  """KinMo group and interaction quantities from joint positions ``[..., T, J, 3]``.

  Args:
    joints: joint positions (any frame; positions and velocities transform with it, angles are
      invariant to rigid motions).
    velocities: joint velocities ``[..., Tv, J, 3]``; default forward differences (``Tv = T-1``).
    groups: the joint partition (default t2m).
  """
  joints = jnp.asarray(joints)
  j = groups.skeleton.n_joints
  if joints.ndim < 3 or joints.shape[-2:] != (j, 3):
    raise humanml3d.MotionShapeError(f"joints must have shape [..., T, {j}, 3]; got {joints.shape}")
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


def kinematic_groups_from_features(
  features: jnp.ndarray, groups: KinematicGroups = T2M_GROUPS
) -> GroupFeatures:
  """Group quantities from HumanML3D features ``[..., T, D]``, in the root's facing frame.

  Joint positions are the ``ric`` block with the root at ``(0, root_y, 0)``; velocities are the
  ``local_velocity`` block (so ``Tv = T``). The linear part equals :func:`feature_matrix` applied
  to the features.
  """
  skel = groups.skeleton
  humanml3d.validate_features(features, skel)
  blocks = humanml3d.split_features(features, skel)
  root = jnp.concatenate(
    [jnp.zeros_like(blocks["root_y"]), blocks["root_y"], jnp.zeros_like(blocks["root_y"])], axis=-1
  )
  joints = jnp.concatenate([root[..., None, :], blocks["ric"]], axis=-2)
  return kinematic_groups(joints, blocks["local_velocity"], groups)


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
