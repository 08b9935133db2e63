"""The hard-coded t2m / KIT constants agree with the shipped official transcription (JSON)."""

from __future__ import annotations

import numpy as np
import pytest

from motion_jax.skeletons import t2m as sk


@pytest.fixture(scope="module")
def consts():
  return sk.load_skeleton_constants()


@pytest.mark.parametrize("name", ["t2m", "kit"])
def test_constants_match_json(consts, name):
  ref = consts[name]
  s = sk.get_skeleton(name)
  assert s.n_joints == ref["joints_num"] and s.dim_pose == ref["dim_pose"]
  assert s.fps == ref["fps"]
  assert [list(c) for c in s.kinematic_chain] == ref["kinematic_chain"]
  np.testing.assert_array_equal(s.raw_offsets_array(), np.asarray(ref["raw_offsets"], float))
  assert list(s.fid_l) == ref["fid_l"] and list(s.fid_r) == ref["fid_r"]
  assert list(s.face_joint_indx) == ref["face_joint_indx_r_hip_l_hip_sdr_r_sdr_l"]
  assert list(s.leg_indices) == ref["l_idx1_l_idx2_lower_legs"]
  assert s.feet_thre == ref["feet_thre"]
  if name == "t2m":
    assert list(s.joint_names) == ref["joint_names"]


def test_target_offsets_fit_shipped_bone_lengths():
  joints = np.load(sk.HUMANML3D_DIR / "new_joints" / "012314.npy").astype(np.float64)
  measured = np.stack([sk.offsets_from_joints(sk.T2M, f) for f in joints[::17]])
  np.testing.assert_allclose(
    measured, np.tile(sk.T2M.target_offsets_array(), (10, 1, 1)), atol=2e-6
  )


def test_parents_and_errors():
  assert sk.T2M.parents == (
    -1,
    0,
    0,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    9,
    9,
    12,
    13,
    14,
    16,
    17,
    18,
    19,
  )
  assert sk.KIT.parents[5] == 3 and sk.KIT.parents[11] == 0
  assert sk.KIT.target_offsets is None
  with pytest.raises(ValueError, match="unknown skeleton"):
    sk.get_skeleton("smplx")
  with pytest.raises(ValueError, match=r"\[21, 3\]"):
    sk.with_target_offsets(sk.KIT, np.zeros((22, 3)))
