"""Retargeting the shipped real clips (CMU BVH, DeepMimic) onto the t2m skeleton."""

import json

import numpy as np
import pytest

from motion_jax.datagen import retarget as R
from motion_jax.datagen.procedural import build as D
from motion_jax.representations.humanml3d import joints_to_features
from motion_jax.skeletons.t2m import T2M, T2M_BONE_LENGTHS


def _bones(x):
  par = np.asarray(T2M.parents[1:])
  return np.linalg.norm(x[:, 1:] - x[:, par], axis=-1)


@pytest.mark.parametrize("name", ["walk", "backflip", "spinkick", "getup_faceup"])
def test_deepmimic_fk_matches_the_shipped_joint_positions(name):
  motion = json.loads((R.DEEPMIMIC_DIR / "motions" / f"humanoid3d_{name}.txt").read_text())
  char = json.loads((R.DEEPMIMIC_DIR / "humanoid3d_character.json").read_text())
  pos, names = R.deepmimic_fk(np.asarray(motion["Frames"], np.float64), char)
  ref = np.load(R.DEEPMIMIC_DIR / "derived" / f"humanoid3d_{name}_joints.npz")
  assert names[:15] == [str(n) for n in ref["joint_names"]]
  np.testing.assert_allclose(pos[:, :15], ref["joint_positions"], atol=1e-5)
  # Toes sit in front of and below the ankles in the rest-like first frame of the walk.
  if name == "walk":
    ank, toe = pos[0, names.index("left_ankle")], pos[0, names.index("left_toe")]
    assert toe[1] < ank[1]


def test_resample_and_canonicalize():
  t = np.arange(121) / 120.0
  x = np.zeros((121, 22, 3))
  x[..., 0] = 2.0 * t[:, None]
  y = R.resample(x, t, 20.0)
  assert len(y) == 21
  np.testing.assert_allclose(y[:, 0, 0], 2.0 * np.arange(21) / 20.0, atol=1e-12)
  mapped, _ = R.load_cmu("131_01")
  c = R.canonicalize(mapped)
  assert abs(c[..., 1].min()) < 1e-12 and np.allclose(c[0, 0, [0, 2]], 0.0)
  r_hip, l_hip, sdr_r, sdr_l = T2M.face_joint_indx
  across = (c[0, r_hip] - c[0, l_hip]) + (c[0, sdr_r] - c[0, sdr_l])
  fwd = np.cross([0, 1, 0], across)
  assert fwd[2] > 0 and abs(fwd[0]) < 1e-9 * np.linalg.norm(fwd) + 1e-12


def test_cmu_clip_retargets_onto_the_t2m_skeleton():
  mapped, fps = R.load_cmu("131_01")
  assert fps == 120.0
  clip = R.resample(mapped, np.arange(len(mapped)) / fps)
  assert len(clip) == int((len(mapped) - 1) / 6) + 1  # 120 -> 20 fps
  joints, feats = R.retarget_to_t2m(clip, "cmu_131_01")
  assert joints.shape == (len(clip) - 1, 22, 3) and feats.shape == (len(clip) - 1, 263)
  assert np.abs(_bones(joints) - np.asarray(T2M_BONE_LENGTHS)).max() < 1e-5
  ref = np.asarray(joints_to_features(R.retarget_joints(clip), retarget=False))
  np.testing.assert_allclose(feats, ref, atol=2e-5)  # padded batch == unpadded
  # Left stays left: the left hip is on the +X side when facing +Z (t2m convention).
  assert joints[0, 1, 0] > joints[0, 2, 0]


def test_short_and_nan_clips_are_rejected_by_name():
  clip = np.zeros((30, 22, 3))
  with pytest.raises(R.ClipTooShortError, match="tiny: 30 frames"):
    R.retarget_to_t2m(clip, "tiny")
  mapped, fps = R.load_cmu("131_03")
  clip = R.resample(mapped, np.arange(len(mapped)) / fps)
  clip[17, 4] = np.nan
  with pytest.raises(ValueError, match="hopper: non-finite joints .* frame 17"):
    R.retarget_to_t2m(clip, "hopper")


def test_real_eval_set_is_written_in_the_humanml3d_layout(tmp_path):
  root = R.ensure_real_eval(tmp_path / "real_eval")
  labels = json.loads((root / "labels.json").read_text())
  ids = D.read_split(root, "all")
  assert len(labels) == 18  # 3 CMU + 15 DeepMimic
  skipped = {k for k, v in labels.items() if "skipped" in v}
  assert skipped == {"deepmimic_kick"}  # 31 frames at 20 fps, does not loop
  assert sorted(ids) == sorted(set(labels) - skipped)
  for i in ids:
    clip = D.load_clip(root, i)
    assert np.abs(_bones(clip["joints"]) - np.asarray(T2M_BONE_LENGTHS)).max() < 1e-5
    assert clip["texts"][0]["caption"] == labels[i]["caption"]
  assert labels["deepmimic_walk"]["repeats"] >= 2  # looped to 2 s
  stamp = (root / "manifest.json").stat().st_mtime_ns
  R.ensure_real_eval(root)
  assert (root / "manifest.json").stat().st_mtime_ns == stamp
