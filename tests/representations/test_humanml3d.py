"""HumanML3D features <-> joints against the officially shipped clip 012314 (features, joints)."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from motion_jax.representations import humanml3d as h
from motion_jax.representations import rotations as rot
from motion_jax.skeletons import t2m as sk

CLIP = "012314"
TOL = 1e-5
# Frames whose smoothed facing direction does not reach the clip's last frame: the official
# Gaussian (sigma 20, radius 80) at frame t sees frames t-80..t+80, and the shipped joints lack the
# original last frame (170 feature rows come from 171 joint frames).
N_UNAFFECTED = 170 - 80


@pytest.fixture(scope="module")
def shipped():
  feats = np.load(sk.HUMANML3D_DIR / "new_joint_vecs" / f"{CLIP}.npy")
  joints = np.load(sk.HUMANML3D_DIR / "new_joints" / f"{CLIP}.npy")
  assert feats.shape == (170, 263) and joints.shape == (170, 22, 3)
  return feats, joints


@pytest.fixture(scope="module")
def features_x64(shipped):
  """Features (float64) of the shipped joints, and of the shipped joints plus the original last
  frame rebuilt from the shipped local velocities of row 169."""
  feats, joints = shipped
  with jax.enable_x64(True):
    f64, j64 = jnp.asarray(feats, jnp.float64), jnp.asarray(joints, jnp.float64)
    from_170 = np.asarray(h.joints_to_features(j64))
    r_rot, _ = h.recover_root_rot_pos(f64)
    a, b = h.layout_for().blocks["local_velocity"]
    step = rot.quat_rotate(rot.quat_inverse(r_rot[169]), f64[169, a:b].reshape(22, 3))
    j171 = jnp.concatenate([j64, (j64[169] + step)[None]], axis=0)
    from_171 = np.asarray(h.joints_to_features(j171))
  return from_170, from_171


def test_layout_widths():
  assert h.layout_for(sk.T2M).dim == 263 == sk.T2M.dim_pose
  assert h.layout_for(sk.KIT).dim == 251 == sk.KIT.dim_pose
  consts = sk.load_skeleton_constants()
  for key, skel in (
    ("feature_layout_263_half_open_ranges", sk.T2M),
    ("feature_layout_251_half_open_ranges", sk.KIT),
  ):
    ranges = [tuple(v) for v in consts[key].values()]
    assert ranges == list(h.layout_for(skel).blocks.values())


@pytest.mark.parametrize("x64", [False, True])
def test_recover_from_ric_matches_shipped_joints(shipped, x64):
  feats, joints = shipped
  with jax.enable_x64(x64):
    dtype = jnp.float64 if x64 else jnp.float32
    rec = np.asarray(h.recover_from_ric(jnp.asarray(feats, dtype)))
  assert rec.shape == joints.shape
  assert np.abs(rec - joints).max() < TOL


def test_recover_from_ric_batched_and_jitted(shipped):
  feats, joints = shipped
  batch = jnp.stack([jnp.asarray(feats[:100]), jnp.asarray(feats[50:150])])[None]  # [1, 2, T, D]
  rec = jax.jit(h.recover_from_ric)(batch)
  assert rec.shape == (1, 2, 100, 22, 3)
  single = h.recover_from_ric(jnp.asarray(feats[50:150]))
  np.testing.assert_allclose(rec[0, 1], single, atol=1e-6)
  np.testing.assert_allclose(rec[0, 0], joints[:100], atol=TOL)
  vm = jax.vmap(h.recover_from_ric)(batch[0])
  np.testing.assert_allclose(vm, rec[0], atol=1e-6)


def test_recover_from_rot_matches_shipped_joints(shipped):
  feats, joints = shipped
  with jax.enable_x64(True):
    rec = np.asarray(h.recover_from_rot(jnp.asarray(feats, jnp.float64)))
  assert np.abs(rec - joints).max() < TOL


def test_features_of_shipped_joints_match_shipped_features(shipped, features_x64):
  feats, _ = shipped
  from_170, _ = features_x64
  assert from_170.shape == (169, 263)
  report = {}
  for name, (a, b) in h.layout_for().blocks.items():
    diff = np.abs(from_170[:, a:b] - feats[:169, a:b])
    report[name] = (diff[:N_UNAFFECTED].max(), diff.max())
  print("max |diff| per block (frames < 90, all frames):", report)
  for name, (early, _) in report.items():
    assert early < TOL, (name, early)
  # Blocks that do not depend on the smoothed facing direction match on every frame.
  for name in ("root_y", "foot_contact"):
    assert report[name][1] < TOL, name


def test_features_match_everywhere_once_last_frame_is_restored(shipped, features_x64):
  feats, _ = shipped
  _, from_171 = features_x64
  assert from_171.shape == feats.shape
  for name, (a, b) in h.layout_for().blocks.items():
    assert np.abs(from_171[:, a:b] - feats[:, a:b]).max() < TOL, name


def test_joints_features_joints_round_trip(shipped, features_x64):
  _, joints = shipped
  from_170, _ = features_x64
  with jax.enable_x64(True):
    rec = np.asarray(h.recover_from_ric(jnp.asarray(from_170)))
  assert np.abs(rec - joints[:169]).max() < TOL


def test_round_trip_float32(shipped):
  _, joints = shipped
  feats = h.joints_to_features(jnp.asarray(joints))
  assert feats.dtype == jnp.float32
  rec = np.asarray(h.recover_from_ric(feats))
  assert np.abs(rec - joints[:169]).max() < TOL


def test_features_invariant_to_heading_and_origin(shipped):
  _, joints = shipped
  q = rot.quat_from_axis_angle(jnp.asarray([0.0, 1.0, 0.0]), 2.1)
  moved = rot.quat_rotate(q, jnp.asarray(joints)) + jnp.asarray([3.0, 0.5, -7.0])
  a = h.joints_to_features(jnp.asarray(joints))
  b = h.joints_to_features(moved)
  assert np.abs(np.asarray(a) - np.asarray(b)).max() < 1e-4


def test_official_ik_hip_sign_is_required(shipped):
  """The yaw velocities follow the IK routine's hip sign; ``process_file``'s sign does not fit.

  The shipped joints are in the processed frame (frame-0 yaw is zero in both), so the facing
  rotation computed from them must reproduce the ``root_rot_velocity`` block.
  """
  feats, joints = shipped
  flipped = dataclasses.replace(sk.T2M, face_joint_indx=(1, 2, 17, 16))  # swap the hip labels
  with jax.enable_x64(True):
    j64 = jnp.asarray(joints, jnp.float64)
    errs = []
    for skel in (sk.T2M, flipped):
      r = h.facing_rotation(j64, skel)
      dq = rot.quat_multiply(r[1:], rot.quat_inverse(r[:-1]))
      yaw_vel = np.asarray(jnp.arcsin(dq[:, 2]))
      errs.append(np.abs(yaw_vel[:N_UNAFFECTED] - feats[:N_UNAFFECTED, 0]).max())
  assert errs[0] < TOL
  assert errs[1] > 1e-3


def test_gaussian_smooth_matches_scipy():
  x = np.random.default_rng(0).normal(size=(37, 3))
  with jax.enable_x64(True):
    ours = np.asarray(h.gaussian_smooth(jnp.asarray(x), 20.0))
  ref = gaussian_filter1d(x, 20, axis=0, mode="nearest")
  np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_normalize_round_trip(shipped):
  feats, _ = shipped
  mean, std = h.load_mean_std()
  assert mean.shape == std.shape == (263,) and (std > 0).all()
  z = h.normalize(jnp.asarray(feats), mean, std)
  np.testing.assert_allclose(h.denormalize(z, mean, std), feats, atol=1e-5)
  np.testing.assert_allclose(z, (feats - mean) / std, atol=1e-5)
  with pytest.raises(ValueError, match="mean/std"):
    h.normalize(jnp.asarray(feats[:, :251]), mean, std)


# --- bad input ----------------------------------------------------------------------------------
def test_wrong_feature_width_raises(shipped):
  feats, _ = shipped
  with pytest.raises(h.MotionShapeError, match=r"\[\.\.\., T, 263\].*\(170, 262\)"):
    h.recover_from_ric(jnp.asarray(feats[:, :262]))
  with pytest.raises(ValueError, match="251"):
    h.recover_from_ric(jnp.asarray(feats), skeleton=sk.KIT)
  with pytest.raises(ValueError):
    h.recover_from_ric(jnp.asarray(feats[0]))  # no time axis


def test_nan_frame_raises_naming_frame_and_block(shipped):
  feats, _ = shipped
  bad = feats.copy()
  bad[42, 100] = np.nan  # inside the 6D rotation block
  with pytest.raises(h.NonFiniteMotionError, match=r"frame index \(42,\).*'rot'"):
    h.recover_from_ric(jnp.asarray(bad))
  assert issubclass(h.NonFiniteMotionError, ValueError)


def test_bad_joints_raise(shipped):
  _, joints = shipped
  with pytest.raises(h.MotionShapeError, match=r"\[\.\.\., T>=2, 22, 3\].*\(170, 21, 3\)"):
    h.joints_to_features(jnp.asarray(joints[:, :21]))
  bad = joints.copy()
  bad[7, 20, 1] = np.inf
  with pytest.raises(h.NonFiniteMotionError, match="left_wrist"):
    h.joints_to_features(bad)
  with pytest.raises(ValueError, match="target offsets"):
    h.joints_to_features(np.zeros((4, 21, 3), np.float32), skeleton=sk.KIT)


# --- KIT ----------------------------------------------------------------------------------------
@partial(jax.jit, static_argnums=(0, 2))
def _fk(skeleton, offsets, n_frames, seed_axes, seed_phase):
  t = jnp.linspace(0.0, 1.0, n_frames)[:, None]
  axes = seed_axes / jnp.linalg.norm(seed_axes, axis=-1, keepdims=True)
  local = rot.quat_from_axis_angle(axes[None], 0.4 * jnp.sin(2 * jnp.pi * t + seed_phase[None]))
  yaw = rot.quat_from_axis_angle(jnp.asarray([0.0, 1.0, 0.0]), 1.5 * t[:, 0])
  local = local.at[:, 0].set(yaw)
  root = jnp.concatenate([2.0 * t, 1.0 + 0.0 * t, t], axis=-1)
  return h.forward_kinematics(local, root, offsets, skeleton)


def _synthetic_motion(skeleton, offsets, n_frames, seed):
  """FK of a smooth random motion: small local rotations, a yawing walk of the root."""
  rng = np.random.default_rng(seed)
  axes = jnp.asarray(rng.normal(size=(skeleton.n_joints, 3)))
  phase = jnp.asarray(rng.uniform(0, 6, size=(skeleton.n_joints,)))
  return _fk(skeleton, jnp.asarray(offsets), n_frames, axes, phase)


def _all_distances(x):
  flat = np.asarray(x).reshape(-1, 3)
  return np.linalg.norm(flat[:, None] - flat[None], axis=-1)


def test_kit_features_round_trip_up_to_rigid_motion():
  lengths = np.random.default_rng(1).uniform(0.1, 0.4, size=(21,))
  lengths[0] = 0.0
  offsets = sk.KIT.raw_offsets_array() * lengths[:, None]
  with jax.enable_x64(True):
    joints = _synthetic_motion(sk.KIT, offsets, 12, seed=2)
    feats = h.joints_to_features(joints, skeleton=sk.KIT, target_offsets=offsets)
    assert feats.shape == (11, 251)
    rec = np.asarray(h.recover_from_ric(feats, skeleton=sk.KIT))
  src = np.asarray(joints)[:11]
  # Same point cloud up to a rigid motion (all pairwise distances), same heights above floor.
  np.testing.assert_allclose(_all_distances(rec), _all_distances(src), atol=TOL)
  floor = np.asarray(joints)[..., 1].min()
  np.testing.assert_allclose(rec[..., 1], src[..., 1] - floor, atol=TOL)
  # FK of the 6D block with the same offsets rebuilds the same joints.
  with jax.enable_x64(True):
    rec_rot = np.asarray(h.recover_from_rot(feats, offsets, skeleton=sk.KIT))
  np.testing.assert_allclose(rec_rot, rec, atol=TOL)


def test_official_ik_pins_frame_0_to_identity(shipped):
  """Row 0's yaw velocity is measured from the identity, not from the smoothed frame-0 facing."""
  feats, joints = shipped
  with jax.enable_x64(True):
    r = h.facing_rotation(jnp.asarray(joints, jnp.float64), first_frame_identity=False)
    from_identity = float(jnp.arcsin(r[1, 2]))
    from_smoothed = float(jnp.arcsin(rot.quat_multiply(r[1], rot.quat_inverse(r[0]))[2]))
  assert abs(from_identity - feats[0, 0]) < TOL
  assert abs(from_smoothed - feats[0, 0]) > 1e-2


def test_recover_from_ric_does_not_recompile(shipped):
  feats, _ = shipped
  x = jnp.asarray(feats[:64])
  h.recover_from_ric(x)
  before = h._recover_from_ric_jit._cache_size()
  h.recover_from_ric(x + 1.0)
  h.recover_from_ric(jnp.asarray(feats[64:128]))
  assert h._recover_from_ric_jit._cache_size() == before


def test_facing_exactly_backwards_is_a_half_turn_about_up():
  """A body facing -Z up to rounding (a turn passing 180 deg, as the procedural full-circle turn
  does) is turned about +Y; the generic antiparallel fallback once turned it upside down."""
  pose = np.zeros((4, 22, 3))
  pose[..., 1] = np.linspace(0.1, 1.7, 22)
  r_hip, l_hip, sdr_r, sdr_l = sk.T2M.face_joint_indx
  # Facing -Z: across = (l_hip - r_hip) + (sdr_r - sdr_l) along +X, with a 1e-17 z rounding error.
  pose[:, r_hip, [0, 2]] = (-0.1, 0.0)
  pose[:, l_hip, [0, 2]] = (0.1, 0.0)
  pose[:, sdr_r, [0, 2]] = (0.2, 1e-17)
  pose[:, sdr_l, [0, 2]] = (-0.2, 0.0)
  r_rot = h.facing_rotation(jnp.asarray(pose), smooth=False, first_frame_identity=False)
  turned = np.asarray(rot.quat_rotate(r_rot[:, None], jnp.asarray(pose)))
  assert np.abs(np.asarray(r_rot)[:, [1, 3]]).max() < 1e-6  # no x / z component: about Y only
  np.testing.assert_allclose(turned[..., 1], pose[..., 1], atol=1e-6)  # up stays up
  np.testing.assert_allclose(turned[:, sdr_r, 0], -0.2, atol=1e-6)  # now facing +Z
