"""BVH reader (vs shipped CMU FK), hand-checkable FK, export round trip, bad input."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motion_jax.data.formats import bvh
from motion_jax.paths import DATA_DIR

DATA = DATA_DIR
CMU = DATA / "cmu_bvh11"
HML = DATA / "humanml3d"


def _t2m():
  consts = json.loads((HML / "skeleton_constants.json").read_text())["t2m"]
  parents = [-1] * consts["joints_num"]
  for chain in consts["kinematic_chain"]:
    for a, b in zip(chain[:-1], chain[1:]):
      parents[b] = a
  return parents, consts["joint_names"], np.asarray(consts["raw_offsets"], float)


@pytest.mark.parametrize("clip", ["131_01", "131_02", "131_03"])
def test_cmu_reader_matches_shipped_joints(clip):
  motion = bvh.read_bvh(CMU / f"{clip}.bvh")
  ref = np.load(CMU / "derived" / f"{clip}_joints.npz", allow_pickle=False)
  assert motion.skeleton.names == tuple(ref["joint_names"])
  assert motion.skeleton.parents == tuple(int(p) for p in ref["parents"])
  assert motion.skeleton.channels[0] == (
    "Xposition",
    "Yposition",
    "Zposition",
    "Zrotation",
    "Yrotation",
    "Xrotation",
  )
  assert abs(motion.fps - float(ref["fps"])) < 0.01
  pos = bvh.bvh_joint_positions(motion, scale=float(ref["source_units_to_m"]))
  err = np.abs(pos - ref["joint_positions"]).max()
  print(f"{clip}: CMU reader max abs error {err:.2e} m over {pos.shape}")
  assert err < 1e-5  # float32 reference, metres
  assert pos.shape == ref["joint_positions"].shape


_TINY = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT a
  {
    OFFSET 0 1 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 2 0 0
    }
  }
  JOINT b
  {
    OFFSET 1 0 0
    CHANNELS 4 Xposition Zrotation Yrotation Xrotation
    JOINT c
    {
      OFFSET 0 0 1
      CHANNELS 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0  0 0 0  0 0 0 0
1 2 3 90 0 0  0 0 0  0.5 0 0 0
"""


def test_hand_checked_fk_and_channel_orders(tmp_path):
  motion = bvh.parse_bvh(_TINY, "tiny.bvh")
  assert motion.skeleton.names == ("root", "a", "b", "c")
  assert motion.skeleton.parents == (-1, 0, 0, 2)
  assert motion.frame_time == 0.5 and len(motion.skeleton.end_sites) == 1
  pos = bvh.bvh_joint_positions(motion)
  # Frame 0: rest pose translated by (1, 2, 3).
  np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 3, 3], [2, 2, 3], [2, 2, 4]], atol=1e-12)
  # Frame 1: root turned +90 deg about z maps x->y, y->-x; b has an extra x translation 0.5.
  np.testing.assert_allclose(pos[1], [[1, 2, 3], [0, 2, 3], [1, 3.5, 3], [1, 3.5, 4]], atol=1e-12)
  # Arbitrary intrinsic orders agree with scipy (upper-case = intrinsic sequence).
  rng = np.random.default_rng(0)
  for order in ["XYZ", "ZYX", "ZXY", "YXZ"]:
    angles = rng.uniform(-170, 170, (5, 3))
    motion = bvh.BVHMotion(
      bvh.BVHSkeleton(("r",), (-1,), np.zeros((1, 3)), (tuple(f"{ax}rotation" for ax in order),)),
      angles,
      1 / 30,
    )
    rot, _ = bvh.bvh_local_transforms(motion)
    ref = Rotation.from_euler(order, angles, degrees=True).as_matrix()
    np.testing.assert_allclose(rot[:, 0], ref, atol=1e-12)


@pytest.mark.parametrize("rest", ["first_frame", "t2m_directions"])
def test_round_trip_real_humanml3d_clip(tmp_path, rest):
  parents, names, raw = _t2m()
  joints = np.load(HML / "new_joints" / "012314.npy")  # [170, 22, 3], metres, y up
  # Rest bone lengths = first frame's (the clip's bone lengths vary by < 2e-6 m). Directions:
  # the first frame's pose, or t2m's raw offsets except at the two multi-child joints.
  offsets = bvh.rest_offsets_from_joints(
    joints, parents, directions=None if rest == "first_frame" else raw
  )
  if rest == "t2m_directions":
    np.testing.assert_allclose(offsets[4] / np.linalg.norm(offsets[4]), [0, -1, 0])
  out = bvh.save_joints_as_bvh(tmp_path / "012314.bvh", joints, parents, names, offsets, fps=20)
  motion = bvh.read_bvh(out)
  assert motion.frames.shape == (170, 6 + 21 * 3)
  assert motion.fps == pytest.approx(20.0)
  text = out.read_text().splitlines()
  assert text[4].strip() == (
    "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
  )
  assert "Frame Time: 0.05000000" in text
  rec = bvh.bvh_joint_positions(motion, names=names)
  err = np.abs(rec - joints).max()
  print(f"012314 BVH round trip ({rest} rest) max abs error {err:.2e} m")
  assert err < 1e-4


def test_round_trip_t_pose_rest_on_rigid_fk_data(tmp_path):
  """Rest offsets along the t2m raw directions; data made by FK with random rotations."""
  parents, names, raw = _t2m()
  rng = np.random.default_rng(1)
  lengths = rng.uniform(0.05, 0.4, (22, 1))
  offsets = raw * lengths
  num_t = 12
  local = Rotation.random(num_t * 22, random_state=2).as_matrix().reshape(num_t, 22, 3, 3)
  trans = np.broadcast_to(offsets, (num_t, 22, 3)).copy()
  trans[:, 0] = rng.normal(0, 1, (num_t, 3))
  _, joints = bvh.forward_kinematics(parents, local, trans)
  out = bvh.save_joints_as_bvh(tmp_path / "fk.bvh", joints, parents, names, offsets, fps=30)
  rec = bvh.bvh_joint_positions(bvh.read_bvh(out), names=names)
  np.testing.assert_allclose(rec, joints, atol=1e-5)
  # Recovered rotations reproduce world orientation of every joint with children.
  root, rot = bvh.joints_to_local_rotations(joints, parents, offsets)
  world, _ = bvh.forward_kinematics(parents, rot, trans)
  world_ref, _ = bvh.forward_kinematics(parents, local, trans)
  for j in (0, 9):  # multi-child joints: full orientation is determined
    np.testing.assert_allclose(world[:, j], world_ref[:, j], atol=1e-9)


def _write(tmp_path, text, name="bad.bvh"):
  p = tmp_path / name
  p.write_text(text)
  return p


def test_malformed_files_name_file_and_line(tmp_path):
  no_motion = _TINY.split("MOTION")[0]
  with pytest.raises(bvh.BVHFormatError, match=r"bad\.bvh:\d+: no MOTION"):
    bvh.read_bvh(_write(tmp_path, no_motion))
  lines = _TINY.splitlines()
  lines[-1] = lines[-1] + " 7"  # one value too many on the last frame (line 30)
  with pytest.raises(bvh.BVHFormatError, match=r"bad\.bvh:30: frame 1 has 14 values.* 13 "):
    bvh.read_bvh(_write(tmp_path, "\n".join(lines)))
  with pytest.raises(bvh.BVHFormatError, match=r":30: 'Frames: 3' but only 2"):
    bvh.read_bvh(_write(tmp_path, _TINY.replace("Frames: 2", "Frames: 3")))
  with pytest.raises(bvh.BVHFormatError, match=r":9: joint .a.: unknown channel 'Wrotation'"):
    bvh.read_bvh(
      _write(
        tmp_path, _TINY.replace("Xrotation Yrotation Zrotation", "Wrotation Yrotation Zrotation")
      )
    )
  with pytest.raises(bvh.BVHFormatError, match=r"unclosed"):
    bvh.read_bvh(_write(tmp_path, _TINY.replace("}\nMOTION", "MOTION")))
  with pytest.raises(bvh.BVHFormatError, match=r":30: frame 1: could not convert"):
    bvh.read_bvh(_write(tmp_path, _TINY[:-2] + "x\n"))
  assert issubclass(bvh.BVHFormatError, ValueError)


def test_bad_joint_arrays(tmp_path):
  parents, names, _ = _t2m()
  joints = np.load(HML / "new_joints" / "012314.npy")[:5].copy()
  with pytest.raises(bvh.InvalidJointsError, match=r"\[T, J, 3\]"):
    bvh.save_joints_as_bvh(tmp_path / "x.bvh", joints[..., :2], parents, names)
  with pytest.raises(bvh.InvalidJointsError, match="21 joints but the skeleton has 22"):
    bvh.save_joints_as_bvh(tmp_path / "x.bvh", joints[:, :21], parents, names)
  joints[3, 4, 1] = np.nan
  with pytest.raises(bvh.InvalidJointsError, match=r"non-finite.*\[3\]"):
    bvh.save_joints_as_bvh(tmp_path / "x.bvh", joints, parents, names)
  with pytest.raises(ValueError, match="distinct joint names"):
    bvh.save_joints_as_bvh(tmp_path / "x.bvh", joints[:2], parents, names[:-1] + ["pelvis"])
  assert issubclass(bvh.InvalidJointsError, ValueError)


def test_round_trip_cmu_skeleton_with_its_own_rest_offsets(tmp_path):
  """Generic tree: 31 joints, zero-length offsets, joints with 2-3 children."""
  motion = bvh.read_bvh(CMU / "131_03.bvh")
  sk = motion.skeleton
  scale = (1 / 0.45) * 2.54 / 100  # CMU units -> metres (SOURCE.md)
  joints = bvh.bvh_joint_positions(motion, scale=scale)[::10]
  out = bvh.save_joints_as_bvh(
    tmp_path / "cmu.bvh", joints, sk.parents, sk.names, offsets=sk.offsets * scale, fps=12
  )
  again = bvh.read_bvh(out)
  assert again.skeleton.names == sk.names  # already depth-first: same order
  np.testing.assert_allclose(again.skeleton.offsets[1:], sk.offsets[1:] * scale, atol=1e-6)
  rec = bvh.bvh_joint_positions(again)
  err = np.abs(rec - joints).max()
  print(f"CMU 131_03 BVH round trip max abs error {err:.2e} m")
  assert err < 1e-4


def test_write_bvh_at_gimbal_lock(tmp_path, recwarn):
  # Local rotations with X = +-90 deg in the Z-X-Y decomposition still round-trip.
  rots = Rotation.from_euler("ZXY", [[30, 90, 0], [-20, -90, 10], [0, 0, 0]], degrees=True)
  local = np.stack([np.eye(3)[None].repeat(3, 0), rots.as_matrix()], axis=1)  # [3, 2, 3, 3]
  offsets = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
  out = bvh.write_bvh(
    tmp_path / "g.bvh", ["root", "tip"], [-1, 0], offsets, np.zeros((3, 3)), local, 1 / 30
  )
  rot, _ = bvh.bvh_local_transforms(bvh.read_bvh(out))
  np.testing.assert_allclose(rot[:, 1], rots.as_matrix(), atol=1e-6)
  assert not [w for w in recwarn if "Gimbal" in str(w.message)]
