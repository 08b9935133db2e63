"""KinMo kinematic-group representation: shapes, linearity, inverses, hand-built poses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.representations import kinematic_groups as kg
from motion_jax.skeletons import t2m as sk


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
  out = kg.kinematic_groups(jnp.asarray(joints[None, :20]))
  assert out.positions.shape == (1, 20, 6, 3)
  assert out.angles.shape == (1, 20, 16)
  assert out.velocities.shape == (1, 19, 6, 3)
  assert out.rel_positions.shape == (1, 20, 15, 3)
  assert out.rel_angles.shape == (1, 20, 15)
  assert out.rel_velocities.shape == (1, 19, 15, 3)
  assert all(bool(jnp.isfinite(x).all()) for x in out)
  with pytest.raises(ValueError, match=r"\[\.\.\., T, 22, 3\]"):
    kg.kinematic_groups(jnp.zeros((5, 21, 3)))


def test_linear_part_is_linear_and_matches_feature_matrix(clip):
  feats, _ = clip
  rng = np.random.default_rng(0)
  with jax.enable_x64(True):
    x, y = jnp.asarray(feats[:10]), jnp.asarray(rng.normal(size=(10, 263)))
    w = jnp.asarray(kg.feature_matrix())
    assert w.shape == (126, 263)

    def lin(f):
      o = kg.kinematic_groups_from_features(f)
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
    from_feats = kg.kinematic_groups_from_features(jnp.asarray(feats))
    from_joints = kg.kinematic_groups(jnp.asarray(joints))
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
    out = kg.kinematic_groups(jnp.asarray(joints))
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
    means = kg.kinematic_groups(jnp.asarray(joints)).positions
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
    out = kg.kinematic_groups(jnp.asarray(x[None]))
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
