"""KinMo kinematic-group representation: shapes, linearity, inverses, hand-built poses; the
"rotations" representation (eqs. 1-3, default) against scipy and the shipped joints, the
"angles" representation (named option) against hand-computed angles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motion_jax.representations import kinematic_groups as kg
from motion_jax.representations import rotations as rot
from motion_jax.skeletons import t2m as sk

ANGLES = kg.GroupRepresentationConfig(representation="angles")


@pytest.fixture(scope="module")
def clip():
  feats = np.load(sk.HUMANML3D_DIR / "new_joint_vecs" / "012314.npy").astype(np.float64)
  joints = np.load(sk.HUMANML3D_DIR / "new_joints" / "012314.npy").astype(np.float64)
  return feats, joints


def test_groups_partition_and_angles():
  g = kg.T2M_GROUPS
  assert sorted(k for m in g.members for k in m) == list(range(22))
  names = sk.T2M_JOINT_NAMES
  assert [names[k] for k in g.members[2]] == [
    "left_collar",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
  ]
  assert len(g.angle_triplets) == 16
  assert [names[k] for _, k, _ in g.angle_triplets] == [
    "spine1",
    "spine2",
    "spine3",
    "neck",
    "left_collar",
    "left_shoulder",
    "left_elbow",
    "right_collar",
    "right_shoulder",
    "right_elbow",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_hip",
    "right_knee",
    "right_ankle",
  ]
  assert len(kg.PAIRS) == 15
  with pytest.raises(ValueError, match="partition"):
    kg.KinematicGroups(sk.T2M, g.members[:5] + ((12,),), g.attach)


def test_shapes(clip):
  _, joints = clip
  out = kg.kinematic_groups(jnp.asarray(joints[None, :20]), config=ANGLES)
  assert out.positions.shape == (1, 20, 6, 3)
  assert out.angles.shape == (1, 20, 16)
  assert out.velocities.shape == (1, 19, 6, 3)
  assert out.rel_positions.shape == (1, 20, 15, 3)
  assert out.rel_angles.shape == (1, 20, 15)
  assert out.rel_velocities.shape == (1, 19, 15, 3)
  assert all(bool(jnp.isfinite(x).all()) for x in out)
  with pytest.raises(ValueError, match=r"\[\.\.\., T, 22, 3\]"):
    kg.kinematic_groups(jnp.zeros((5, 21, 3)), config=ANGLES)


def test_linear_part_is_linear_and_matches_feature_matrix(clip):
  feats, _ = clip
  rng = np.random.default_rng(0)
  with jax.enable_x64(True):
    x, y = jnp.asarray(feats[:10]), jnp.asarray(rng.normal(size=(10, 263)))
    w = jnp.asarray(kg.feature_matrix())
    assert w.shape == (126, 263)

    def lin(f):
      o = kg.kinematic_groups_from_features(f, config=ANGLES)
      n = f.shape[0]
      parts = (o.positions, o.rel_positions, o.velocities, o.rel_velocities)
      return jnp.concatenate([p.reshape(n, -1) for p in parts], -1)

    np.testing.assert_allclose(lin(x), x @ w.T, atol=1e-12)
    np.testing.assert_allclose(lin(2.5 * x - 0.7 * y), 2.5 * lin(x) - 0.7 * lin(y), atol=1e-12)


def test_features_path_agrees_with_joint_path(clip):
  """Group quantities from features (facing frame) equal those of the recovered joints rotated
  into the facing frame; angles are frame-invariant."""
  feats, joints = clip
  with jax.enable_x64(True):
    from_feats = kg.kinematic_groups_from_features(jnp.asarray(feats), config=ANGLES)
    from_joints = kg.kinematic_groups(jnp.asarray(joints), config=ANGLES)
  np.testing.assert_allclose(from_feats.angles, from_joints.angles, atol=1e-4)
  np.testing.assert_allclose(from_feats.rel_angles, from_joints.rel_angles, atol=1e-4)
  np.testing.assert_allclose(
    np.linalg.norm(from_feats.rel_positions, axis=-1),
    np.linalg.norm(from_joints.rel_positions, axis=-1),
    atol=1e-5,
  )


def test_interactions_inverse(clip):
  _, joints = clip
  with jax.enable_x64(True):
    out = kg.kinematic_groups(jnp.asarray(joints), config=ANGLES)
    pos = kg.group_positions_from_interactions(out.rel_positions, out.positions[..., 0, :])
    vel = kg.group_positions_from_interactions(out.rel_velocities, out.velocities[..., 0, :])
  np.testing.assert_allclose(pos, out.positions, atol=1e-12)
  np.testing.assert_allclose(vel, out.velocities, atol=1e-12)


def test_group_coordinates_inverse(clip):
  _, joints = clip
  m = kg.coordinates_matrix()
  assert m.shape == (22, 22) and np.linalg.matrix_rank(m) == 22
  with jax.enable_x64(True):
    z = kg.group_coordinates(jnp.asarray(joints))
    means = kg.kinematic_groups(jnp.asarray(joints)).positions  # default: rotations
    np.testing.assert_allclose(z[..., :6, :], means, atol=1e-12)
    back = kg.joints_from_group_coordinates(z)
  np.testing.assert_allclose(back, joints, atol=1e-12)


def _hand_pose():
  """A T-pose-like skeleton built by hand (metres, +Y up, facing +Z).

  Spine and head straight up; left arm straight out along +x; right arm out along -x with the
  elbow bent 90 degrees (forearm along +z); legs straight down with the feet directly below the
  ankles except the right knee, bent to a 60-degree interior angle.
  """
  x = np.zeros((22, 3))
  up, down = np.array([0, 1.0, 0]), np.array([0, -1.0, 0])
  x[0] = [0, 1.0, 0]
  x[3] = x[0] + 0.1 * up
  x[6] = x[3] + 0.1 * up
  x[9] = x[6] + 0.1 * up
  x[12] = x[9] + 0.1 * up
  x[15] = x[12] + 0.1 * up
  for side, s in ((0, 1.0), (1, -1.0)):  # left (+x), right (-x)
    collar, shoulder, elbow, wrist = (13, 16, 18, 20) if side == 0 else (14, 17, 19, 21)
    x[collar] = x[9] + [0.1 * s, 0, 0]
    x[shoulder] = x[collar] + [0.1 * s, 0, 0]
    x[elbow] = x[shoulder] + [0.25 * s, 0, 0]
    x[wrist] = x[elbow] + ([0.25 * s, 0, 0] if side == 0 else [0, 0, 0.25])
    hip, knee, ankle, foot = (1, 4, 7, 10) if side == 0 else (2, 5, 8, 11)
    x[hip] = x[0] + [0.1 * s, 0, 0]
    x[knee] = x[hip] + 0.4 * down
    if side == 0:
      x[ankle] = x[knee] + 0.4 * down
    else:  # interior angle 60 degrees at the knee: shank 60 deg away from the thigh's up-vector
      x[ankle] = x[knee] + 0.4 * np.array([0, np.cos(np.pi / 3), np.sin(np.pi / 3)])
    x[foot] = x[ankle] + 0.05 * down
  return x


def test_hand_built_pose_known_angles():
  x = _hand_pose()
  with jax.enable_x64(True):
    out = kg.kinematic_groups(jnp.asarray(x[None]), config=ANGLES)
  names = [sk.T2M_JOINT_NAMES[k] for _, k, _ in kg.T2M_GROUPS.angle_triplets]
  ang = dict(zip(names, np.degrees(np.asarray(out.angles[0]))))
  expected = {
    "spine1": 180,
    "spine2": 180,
    "spine3": 180,
    "neck": 180,
    "left_collar": 180,
    "left_shoulder": 180,
    "left_elbow": 180,
    "right_collar": 180,
    "right_shoulder": 180,
    "right_elbow": 90,
    "left_hip": 90,
    "left_knee": 180,
    "left_ankle": 180,
    "right_hip": 90,
    "right_knee": 60,
  }
  for name, deg in expected.items():
    assert ang[name] == pytest.approx(deg, abs=1e-9), name
  # Right ankle: shank direction (0, cos60, sin60) from the knee, foot straight down.
  assert ang["right_ankle"] == pytest.approx(np.degrees(np.arccos(np.cos(np.pi / 3))), abs=1e-9)
  pair = {
    tuple(kg.GROUP_NAMES[i] for i in p): float(np.degrees(a))
    for p, a in zip(kg.PAIRS, np.asarray(out.rel_angles[0]))
  }
  # Head (straight up from spine3) vs left arm (straight out along +x from spine3): 90 degrees.
  assert pair[("head_neck", "left_arm")] == pytest.approx(90.0, abs=1e-9)
  # Torso vs head as seen from spine3: torso mean below, head above -> 180 degrees.
  assert pair[("torso", "head_neck")] == pytest.approx(180.0, abs=1e-9)
  # Legs as seen from the pelvis: angle between the two leg means (pelvis-relative).
  lleg = np.mean(x[[1, 4, 7, 10]], axis=0) - x[0]
  rleg = np.mean(x[[2, 5, 8, 11]], axis=0) - x[0]
  want = np.degrees(np.arccos(lleg @ rleg / np.linalg.norm(lleg) / np.linalg.norm(rleg)))
  assert pair[("left_leg", "right_leg")] == pytest.approx(want, abs=1e-9)
  # Group positions are member means (left arm on the +x axis at spine3 height y = 1.3).
  np.testing.assert_allclose(
    out.positions[0, 2], [(0.1 + 0.2 + 0.45 + 0.7) / 4, 1.3, 0.0], atol=1e-12
  )


# ------------------------------------------------------------------------------------------------
# "rotations" representation (eqs. 1-3)
# ------------------------------------------------------------------------------------------------
def _quat(r: Rotation) -> np.ndarray:
  return r.as_quat(scalar_first=True)


def _local_from_world(world: list, r_rot: Rotation) -> np.ndarray:
  """HumanML3D IK convention (humanml3d.local_rotations): each chain starts from ``r_rot`` and
  ``q[c] = prev^-1 W[c]``; index 0 holds ``r_rot``. ``world``: one scipy Rotation per joint."""
  q = np.zeros((22, 4))
  q[0] = _quat(r_rot)
  for chain in sk.T2M.kinematic_chain:
    prev = r_rot
    for c in chain[1:]:
      q[c] = _quat(prev.inv() * world[c])
      prev = world[c]
  return q


def test_bone_orientations_match_the_shipped_joints(clip):
  """The features' 6D rotations, recomposed, point each rest offset along the shipped joints'
  bones (world frame): what the ``rot`` block holds, checked against independent data."""
  feats, joints = clip
  with jax.enable_x64(True):
    blocks = kg.humanml3d.split_features(jnp.asarray(feats))
    r_rot, _ = kg.humanml3d.recover_root_rot_pos(jnp.asarray(feats))
    local = jnp.concatenate([r_rot[:, None], rot.cont6d_to_quat(blocks["rot"])], axis=1)
    g = kg.bone_orientations(local)
    raw = sk.T2M.raw_offsets_array()
    pred = np.asarray(rot.quat_rotate(g[:, 1:], jnp.asarray(raw[1:])))
  par = np.asarray(sk.T2M.parents)[1:]
  bone = joints[: len(feats), 1:] - joints[: len(feats), par]
  bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
  np.testing.assert_allclose(pred, bone, atol=1e-4)


def test_joint_rotations_are_parent_relative_axis_angle():
  """Random world orientations -> HumanML3D local quats -> our r_j equals scipy's
  ``(W[parent]^-1 W[j]).as_rotvec()`` (root: the body frame ``r_rot^-1``)."""
  world = list(Rotation.random(22, random_state=3))
  r_rot = Rotation.random(random_state=4)
  world[0] = r_rot.inv()
  local = _local_from_world(world, r_rot)
  par = sk.T2M.parents
  want = np.stack(
    [r_rot.inv().as_rotvec()] + [(world[par[j]].inv() * world[j]).as_rotvec() for j in range(1, 22)]
  )
  with jax.enable_x64(True):
    q = kg.joint_rotations(jnp.asarray(local))
    np.testing.assert_allclose(rot.quat_to_axis_angle(q), want, atol=1e-10)
    # Shared-joint rotations of pairs: G[a]^-1 G[b].
    fa, fb, _ = kg.pair_frames()
    out = kg.rotation_groups(jnp.zeros((2, 22, 3)), jnp.asarray(np.stack([local, local])))
  pair_want = np.stack([(world[a].inv() * world[b]).as_rotvec() for a, b in zip(fa, fb)])
  np.testing.assert_allclose(out.rel_rotations[0], pair_want, atol=1e-10)
  np.testing.assert_allclose(out.rotations[0], want, atol=1e-10)
  np.testing.assert_allclose(out.angular_velocities, 0.0, atol=1e-9)  # constant pose


def test_spinning_joint_has_the_known_angular_velocity():
  """The left elbow (bone shoulder -> elbow, t2m joint 18) turns at 1.5 rad/s about a fixed axis
  relative to its parent; everything else is still."""
  fps, rate, t = 20.0, 1.5, 6
  axis = np.array([1.0, 2.0, -2.0]) / 3.0
  r0 = Rotation.from_rotvec([0.3, -0.2, 0.5])
  local = np.tile(np.array([1.0, 0, 0, 0]), (t, 22, 1))
  for k in range(t):
    local[k, 18] = _quat(Rotation.from_rotvec(axis * rate * k / fps) * r0)
  for frame, want in (("parent", axis * rate), ("child", r0.inv().apply(axis) * rate)):
    cfg = kg.GroupRepresentationConfig(fps=fps, angular_velocity_frame=frame)
    with jax.enable_x64(True):
      out = kg.rotation_groups(jnp.zeros((t, 22, 3)), jnp.asarray(local), config=cfg)
    assert out.angular_velocities.shape == (t - 1, 22, 3)
    np.testing.assert_allclose(out.angular_velocities[:, 18], np.tile(want, (t - 1, 1)), atol=1e-9)
    others = np.delete(np.asarray(out.angular_velocities), 18, axis=1)
    np.testing.assert_allclose(others, 0.0, atol=1e-12)
    # Eq. 2: the left arm's group velocity is the mean over its 4 joints.
    np.testing.assert_allclose(out.velocities[:, 2], np.tile(want / 4, (t - 1, 1)), atol=1e-9)
    np.testing.assert_allclose(np.delete(np.asarray(out.velocities), 2, axis=1), 0.0, atol=1e-12)
  # Default fps is the skeleton's (20 for t2m); another fps scales the velocity.
  with jax.enable_x64(True):
    default = kg.rotation_groups(jnp.zeros((t, 22, 3)), jnp.asarray(local))
    slow = kg.rotation_groups(
      jnp.zeros((t, 22, 3)), jnp.asarray(local), config=kg.GroupRepresentationConfig(fps=10.0)
    )
  np.testing.assert_allclose(
    default.angular_velocities[:, 18], np.tile(axis * rate, (t - 1, 1)), atol=1e-9
  )
  np.testing.assert_allclose(
    slow.angular_velocities[:, 18], np.tile(axis * rate / 2, (t - 1, 1)), atol=1e-9
  )


def _pair(name_a, name_b):
  return kg.PAIRS.index((kg.GROUP_NAMES.index(name_a), kg.GROUP_NAMES.index(name_b)))


def test_shared_joint_interactions_on_a_hand_built_pose():
  """T-pose with the left collar raised 30 degrees about +z (the rest of the arm rigidly
  following), from joint positions through HumanML3D's IK."""
  x = _hand_pose()
  up = np.radians(30.0)
  r = Rotation.from_rotvec([0, 0, up])
  for k in (13, 16, 18, 20):  # left arm: rotate about spine3
    x[k] = x[9] + r.apply(x[k] - x[9])
  with jax.enable_x64(True):
    out = kg.kinematic_groups(jnp.asarray(x[None]))
  rr = np.asarray(out.rel_rotations[0])
  z = np.array([0, 0, up])
  np.testing.assert_allclose(out.rotations[0, 13], z, atol=1e-9)  # bend at spine3 toward collar
  # t2m's rest pose hangs the arms down (raw offsets -y): a horizontal upper arm is a 90-degree
  # abduction about +z (left) / -z (right) relative to the collar; the left elbow is straight.
  np.testing.assert_allclose(out.rotations[0, 16], [0, 0, np.pi / 2], atol=1e-9)
  np.testing.assert_allclose(out.rotations[0, 17], [0, 0, -np.pi / 2], atol=1e-9)
  np.testing.assert_allclose(out.rotations[0, 18], 0.0, atol=1e-9)
  # Torso-left arm: the rotation at spine3 toward the left arm, = r_13.
  np.testing.assert_allclose(rr[_pair("torso", "left_arm")], z, atol=1e-9)
  # Siblings at spine3: the rotation between the two bones leaving it.
  np.testing.assert_allclose(rr[_pair("left_arm", "right_arm")], -z, atol=1e-9)
  np.testing.assert_allclose(rr[_pair("head_neck", "left_arm")], z, atol=1e-9)
  np.testing.assert_allclose(rr[_pair("torso", "right_arm")], 0.0, atol=1e-9)
  # Right elbow bent 90 degrees: the forearm's rotation relative to the upper arm is 90 degrees.
  fore = Rotation.from_rotvec(np.array(out.rotations[0, 21]))
  # In the upper-arm frame the upper arm is the rest direction -y; the forearm points along +z.
  np.testing.assert_allclose(fore.apply([0, -1.0, 0]), [0, 0, 1.0], atol=1e-9)
  # Right knee: shank from straight down to (0, cos60, sin60), 120 degrees about -x.
  np.testing.assert_allclose(out.rotations[0, 8], [-2 * np.pi / 3, 0, 0], atol=1e-9)
  np.testing.assert_allclose(rr[_pair("left_leg", "right_leg")], 0.0, atol=1e-9)
  # Unshared pair (left arm, left leg), default "entry_frames": collar frame vs hip frame.
  np.testing.assert_allclose(rr[_pair("left_arm", "left_leg")], -z, atol=1e-9)
  assert not kg.SHARED[_pair("left_arm", "left_leg")] and kg.SHARED[_pair("left_arm", "right_arm")]
  assert sum(kg.SHARED) == 9
  # Group positions are the same as in the angles representation (eq. 1).
  with jax.enable_x64(True):
    ang = kg.kinematic_groups(jnp.asarray(x[None]), config=ANGLES)
  np.testing.assert_allclose(out.positions, ang.positions, atol=1e-12)


def test_shared_joint_velocity_and_unshared_option():
  """Eq. 3's velocity block: [V_g - V_h ; angular velocity at the shared joint]. The left collar
  swings about +z at 2 rad/s (its HumanML3D rotation; every other rotation the identity)."""
  fps, rate, t = 20.0, 2.0, 4
  local = np.tile(np.array([1.0, 0, 0, 0]), (t, 22, 1))
  for k in range(t):
    local[k, 13] = _quat(Rotation.from_rotvec([0, 0, 0.4 + rate * k / fps]))
  w = np.array([0, 0, rate])
  res = {}
  for mode in kg.UNSHARED_PAIRS:
    cfg = kg.GroupRepresentationConfig(unshared_pairs=mode)
    with jax.enable_x64(True):
      res[mode] = kg.rotation_groups(jnp.zeros((t, 22, 3)), jnp.asarray(local), config=cfg)
  out = res["entry_frames"]
  assert out.rel_velocities.shape == (t - 1, 15, 6)
  dv = np.asarray(out.rel_velocities)
  np.testing.assert_allclose(
    dv[:, _pair("torso", "left_arm")], [[0, 0, -rate / 4, *w]] * 3, atol=1e-9
  )
  np.testing.assert_allclose(
    dv[:, _pair("left_arm", "right_arm")], [[0, 0, rate / 4, *-w]] * 3, atol=1e-9
  )
  np.testing.assert_allclose(
    dv[:, _pair("left_arm", "left_leg")], [[0, 0, rate / 4, *-w]] * 3, atol=1e-9
  )
  idn = res["identity"]
  unshared = [p for p, s in enumerate(kg.SHARED) if not s]
  np.testing.assert_allclose(idn.rel_rotations[:, unshared], 0.0)
  np.testing.assert_allclose(idn.rel_velocities[:, unshared, 3:], 0.0)
  np.testing.assert_allclose(idn.rel_velocities[:, :, :3], dv[:, :, :3])  # V_g - V_h unchanged
  shared = [p for p, s in enumerate(kg.SHARED) if s]
  np.testing.assert_allclose(idn.rel_rotations[:, shared], out.rel_rotations[:, shared])


def test_rotations_features_path_agrees_with_joint_path(clip):
  """Features (6D ``rot`` block) and the shipped joints (through the same IK) give the same
  rotations; joints 0-3 hang from the root frame, integrated from yaw velocities on one path and
  smoothed from positions on the other (a small drift)."""
  feats, joints = clip
  with jax.enable_x64(True):
    f = kg.kinematic_groups_from_features(jnp.asarray(feats))
    j = kg.kinematic_groups(jnp.asarray(joints))
  n = len(feats)
  assert f.rotations.shape == (n, 22, 3) and f.rel_velocities.shape == (n - 1, 15, 6)
  np.testing.assert_allclose(f.rotations[:, 4:], j.rotations[:n, 4:], atol=1e-4)
  np.testing.assert_allclose(f.rotations[:, :4], j.rotations[:n, :4], atol=0.03)
  np.testing.assert_allclose(
    f.angular_velocities[:, 4:], j.angular_velocities[: n - 1, 4:], atol=2e-3
  )
  # Real motion: rotations are not all zero and stay within [0, pi].
  angle = np.linalg.norm(np.asarray(f.rotations), axis=-1)
  assert angle.max() <= np.pi + 1e-9 and angle[:, 4:].mean() > 0.1


def test_representation_config_errors():
  with pytest.raises(ValueError, match="representation"):
    kg.GroupRepresentationConfig(representation="quaternions")
  with pytest.raises(ValueError, match="angular_velocity_frame"):
    kg.GroupRepresentationConfig(angular_velocity_frame="world")
  with pytest.raises(ValueError, match="unshared_pairs"):
    kg.GroupRepresentationConfig(unshared_pairs="none")
  with pytest.raises(ValueError, match="fps"):
    kg.GroupRepresentationConfig(fps=0.0)
  with pytest.raises(ValueError, match="velocities"):
    kg.kinematic_groups(jnp.zeros((3, 22, 3)), jnp.zeros((2, 22, 3)))
  assert kg.GroupRepresentationConfig().representation == "rotations"
