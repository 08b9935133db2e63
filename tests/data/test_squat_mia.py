"""The squat stand-in for MIA: muscle groups -> MIA's 8 channels, OpenSim FK -> t2m joints."""

import numpy as np
import pytest

from motion_jax.data.squat import mia, source
from motion_jax.models.biovae import MUSCLES
from motion_jax.skeletons.opencap import (
  BIGE_COORDINATES,
  BIGE_MUSCLES,
  LAI_ARNOLD_2017_CONTACTS,
  load_opencap_model,
)
from motion_jax.skeletons.t2m import T2M, T2M_JOINT_NAMES

J = {n: i for i, n in enumerate(T2M_JOINT_NAMES)}


@pytest.fixture(scope="module")
def model():
  return load_opencap_model(LAI_ARNOLD_2017_CONTACTS)


@pytest.fixture(scope="module")
def rep():
  """A real squat repetition of a held-out subject (60 Hz)."""
  reps, _ = source.embedded_repetitions(source.EMBEDDED_DIR)
  return reps["test"][0]


@pytest.fixture(scope="module")
def converted(rep, model):
  return mia.squat_to_t2m_joints(
    rep.coordinates, BIGE_COORDINATES, model, source.RATE, activations=rep.activations
  )


def test_channels_are_the_modules_and_groups_are_lai_muscles(model):
  assert mia.MIA_CHANNELS == MUSCLES
  names = set(model.muscle_names)
  for channel, group in mia.MIA_GROUPS:
    assert set(group) <= names, channel
    assert all(m.endswith(channel[-2:]) for m in group)
  groups = dict(mia.MIA_GROUPS)
  assert groups["biceps_l"] == groups["biceps_r"] == ()
  assert set(groups["quadriceps_l"]) == {"vasmed_l", "vaslat_l", "vasint_l", "recfem_l"}
  assert set(groups["hamstrings_r"]) == {"bflh_r", "bfsh_r", "semimem_r", "semiten_r"}
  assert set(groups["gluteus_r"]) == {"glmax1_r", "glmax2_r", "glmax3_r"}


def test_group_activations_mean_of_the_right_columns():
  t = 7
  # column k holds k / 100 + frame / 1000: every column distinct and known
  a = np.arange(80)[None] / 100 + np.arange(t)[:, None] / 1000
  u, mask = mia.group_activations(a, BIGE_MUSCLES)
  assert u.shape == (t, 8) and u.dtype == np.float32
  col = {n: i for i, n in enumerate(BIGE_MUSCLES)}
  quad_r = np.mean([col[m] for m in ("vasmed_r", "vaslat_r", "vasint_r", "recfem_r")]) / 100
  glute_l = np.mean([col[m] for m in ("glmax1_l", "glmax2_l", "glmax3_l")]) / 100
  ham_l = np.mean([col[m] for m in ("bflh_l", "bfsh_l", "semimem_l", "semiten_l")]) / 100
  frames = np.arange(t) / 1000
  np.testing.assert_allclose(u[:, 0], quad_r + frames, rtol=1e-6)
  np.testing.assert_allclose(u[:, 3], ham_l + frames, rtol=1e-6)
  np.testing.assert_allclose(u[:, 5], glute_l + frames, rtol=1e-6)
  np.testing.assert_array_equal(mask, [True] * 6 + [False] * 2)
  np.testing.assert_array_equal(u[:, 6:], 0.0)
  # the order of the input columns does not matter
  perm = np.random.default_rng(0).permutation(80)
  u2, _ = mia.group_activations(a[:, perm], [BIGE_MUSCLES[i] for i in perm])
  np.testing.assert_allclose(u2, u, rtol=1e-6)


def test_group_activations_errors():
  a = np.full((5, 80), 0.5)
  names = list(BIGE_MUSCLES)
  with pytest.raises(ValueError, match="vasint_r"):
    mia.group_activations(a[:, 1:], [n for n in names if n != "vasint_r"] + [])
  with pytest.raises(ValueError, match=r"activations must be \[T, 80\]"):
    mia.group_activations(a[:, :79], names)
  bad = a.copy()
  bad[2, 3] = np.nan
  with pytest.raises(ValueError, match="activations: 1 non-finite"):
    mia.group_activations(bad, names)


def test_real_squat_gives_anatomical_t2m_joints(rep, converted):
  joints, acts = converted
  n = int(np.floor((len(rep.coordinates) - 1) / 3)) + 1  # 60 -> 20 Hz
  assert joints.shape == (n, 22, 3) and acts.shape == (n, 80)
  assert np.all(np.isfinite(joints))
  np.testing.assert_allclose(acts, rep.activations[::3], atol=1e-6)  # 60 -> 20 Hz hits samples
  y = joints[..., 1]
  for side in ("left", "right"):
    hip, knee, ankle = y[:, J[f"{side}_hip"]], y[:, J[f"{side}_knee"]], y[:, J[f"{side}_ankle"]]
    assert np.all(hip > knee) and np.all(knee > ankle)
    assert np.all(y[:, J[f"{side}_shoulder"]] > hip)
  # up the spine, away from the pelvis (the trunk leans far forward at the bottom of a squat)
  spine = ["spine1", "spine2", "spine3", "neck", "head"]
  reach = np.linalg.norm(joints[:, [J[n] for n in spine]] - joints[:, :1], axis=-1)
  assert np.all(np.diff(reach, axis=1) > 0)
  assert y[0, J["head"]] > y[0, J["neck"]] > y[0, J["spine3"]]  # standing at frame 0
  # t2m faces +Z: its left is +X (t2m index 1 is the LEFT hip)
  for part in ("hip", "knee", "ankle", "foot", "collar", "shoulder"):
    assert np.all(joints[:, J[f"left_{part}"], 0] > joints[:, J[f"right_{part}"], 0]), part
  # toes in front of the ankles (+Z), feet on the floor, root over the origin at frame 0
  assert np.all(joints[:, [10, 11], 2] > joints[:, [7, 8], 2])
  assert y[:, [7, 8, 10, 11]].min() == pytest.approx(0.0, abs=1e-6)
  np.testing.assert_allclose(joints[0, 0, [0, 2]], 0.0, atol=1e-6)
  # the squat: the pelvis goes down by more than 10 cm and comes back up
  assert y[:, 0].max() - y[:, 0].min() > 0.1
  # bone lengths constant: rigid bones to 1 mm; hip->knee to 2 cm (the Lai knee translates)
  par = np.array(T2M.parents[1:])
  length = np.linalg.norm(joints[:, 1:] - joints[:, par], axis=-1)
  spread = np.ptp(length, axis=0)
  knees = [J["left_knee"] - 1, J["right_knee"] - 1]
  assert np.all(np.delete(spread, knees) < 1e-3), spread
  assert np.all(spread[knees] < 0.02), spread[knees]
  assert np.all(length.mean(0) > 0.03)  # no two joints on top of each other


def test_facing_and_position_normalised(rep, model, converted):
  """A shifted subject gives the same t2m joints (root at 0, floor at 0); a turned one still
  faces +Z at frame 0 (HumanML3D's facing: up x (right - left hips + shoulders))."""
  q = rep.coordinates.copy()
  q[:, BIGE_COORDINATES.index("pelvis_tx")] += 1.5
  q[:, BIGE_COORDINATES.index("pelvis_ty")] += 0.2
  q[:, BIGE_COORDINATES.index("pelvis_tz")] -= 0.7
  joints, _ = mia.squat_to_t2m_joints(q, BIGE_COORDINATES, model, source.RATE)
  np.testing.assert_allclose(joints, converted[0], atol=1e-4)
  q[:, BIGE_COORDINATES.index("pelvis_rotation")] += 60.0
  turned, _ = mia.squat_to_t2m_joints(q, BIGE_COORDINATES, model, source.RATE)
  j0 = turned[0]
  across = j0[2] - j0[1] + j0[17] - j0[16]
  forward = np.cross([0.0, 1.0, 0.0], across)
  assert forward[2] > 0 and abs(forward[0]) < 1e-5 * np.linalg.norm(forward)
  # the same pose up to the turn: pairwise joint distances agree
  dist = np.linalg.norm(converted[0][0, :, None] - converted[0][0, None], axis=-1)
  np.testing.assert_allclose(np.linalg.norm(j0[:, None] - j0[None], axis=-1), dist, atol=2e-3)


def test_joint_map_is_configurable(rep, model, converted):
  offsets = list(mia.T2MJointMap().offsets)
  offsets[J["head"]] = (0.0, 0.6, 0.0)
  moved = mia.T2MJointMap(offsets=tuple(offsets), floor_at_zero=False)
  joints, _ = mia.squat_to_t2m_joints(rep.coordinates[:30], BIGE_COORDINATES, model, 60.0,
                                      joint_map=moved)  # fmt: skip
  neck_head = np.linalg.norm(joints[:, J["head"]] - joints[:, J["neck"]], axis=-1)
  np.testing.assert_allclose(neck_head, 0.2, atol=1e-5)
  with pytest.raises(ValueError, match="22"):
    mia.T2MJointMap(offsets=tuple(offsets[:21]))


def test_bad_input_errors(rep, model):
  q = rep.coordinates
  with pytest.raises(ValueError, match=r"coordinates must be \[T, 33\]"):
    mia.squat_to_t2m_joints(q[:, :32], BIGE_COORDINATES, model, 60.0)
  names = list(BIGE_COORDINATES)
  names[4] = "pelvis_height"
  with pytest.raises(ValueError, match="coordinate_names.*pelvis_height"):
    mia.squat_to_t2m_joints(q, names, model, 60.0)
  bad = q.copy()
  bad[3, 7] = np.inf
  with pytest.raises(ValueError, match="coordinates: 1 non-finite"):
    mia.squat_to_t2m_joints(bad, BIGE_COORDINATES, model, 60.0)
  with pytest.raises(ValueError, match="activations must be"):
    mia.squat_to_t2m_joints(q, BIGE_COORDINATES, model, 60.0, activations=rep.activations[1:])
  with pytest.raises(ValueError, match="fps_in"):
    mia.squat_to_t2m_joints(q, BIGE_COORDINATES, model, 0.0)
  bodies = ("sacrum",) + mia.T2MJointMap().bodies[1:]
  with pytest.raises(ValueError, match="joint_map.bodies.*sacrum"):
    mia.squat_to_t2m_joints(q, BIGE_COORDINATES, model, 60.0,
                            joint_map=mia.T2MJointMap(bodies=bodies))  # fmt: skip


def test_resample_grid():
  x = np.linspace(0, 1, 61)[:, None] * np.array([[2.0, -1.0]])  # 1 s at 60 Hz, linear
  y = mia.resample(x, 60.0, 20.0)
  assert y.shape == (21, 2)
  np.testing.assert_allclose(y, np.linspace(0, 1, 21)[:, None] * [[2.0, -1.0]], atol=1e-12)
  a = mia.resample(np.array([[0.0], [1.0], [1.0], [0.0]]), 3.0, 12.0, kind="activation")
  assert a.shape == (13, 1) and a.min() >= 0.0 and a.max() <= 1.0
