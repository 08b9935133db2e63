"""Synthetic squat subjects: deterministic parameters, consistent scaling, feet planted."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.data.formats.opencap import read_trial
from motion_jax.data.squat.segmentation import segment_repetitions
from motion_jax.datagen import squat_augment as A
from motion_jax.paths import opencap_path
from motion_jax.skeletons import opensim_fk as F
from motion_jax.skeletons.opencap import BIGE_COORDINATES
from motion_jax.skeletons.opensim_model import load_osim


@pytest.fixture(scope="module")
def base():
  trial = read_trial(opencap_path(A.BASE_TRIAL))
  model = load_osim(opencap_path(A.BASE_MODEL))
  reps = segment_repetitions(trial.coordinates, BIGE_COORDINATES, trial.rate)
  ground_y, anchor = A.ground_reference(model, trial.coordinates)
  return trial, model, reps, ground_y, anchor


def test_parameters_are_deterministic_and_in_range():
  p = A.sample_subject(7, 3)
  assert p == A.sample_subject(7, 3)
  assert p != A.sample_subject(7, 4) and p != A.sample_subject(8, 3)
  ranges = {n: r for n, _, r, _ in A.PARAMETER_TABLE}
  for i in range(50):
    p = A.sample_subject(0, i)
    for name in (
      "height_scale",
      "tempo",
      "depth",
      "asymmetry",
      "pelvis_tilt_deg",
      "trunk_lean_deg",
      "noise_deg",
    ):
      lo, hi = ranges[name]
      assert lo <= getattr(p, name) <= hi, name
    for _, f in p.segment_scales:
      assert p.height_scale * 0.94 - 1e-12 <= f <= p.height_scale * 1.06 + 1e-12
    assert 0.8 * 78.2 * p.height_scale**2 <= p.mass_kg <= 1.25 * 78.2 * p.height_scale**2
    assert len(p.rep_depth) == len(p.rep_tempo) == 5


def test_opensim_scaled_model_matches_jax_scaling(base, tmp_path):
  _, model, _, _, _ = base
  p = A.sample_subject(0, 5)
  osim_file = A.scale_osim_file(opencap_path(A.BASE_MODEL), p, tmp_path / "s.osim")
  from_opensim = load_osim(osim_file)
  ours = A.scale_fk_model(model, p)
  assert from_opensim.total_mass == pytest.approx(p.mass_kg, rel=1e-9)
  assert ours.total_mass == pytest.approx(p.mass_kg, rel=1e-9)
  q = np.deg2rad(np.random.default_rng(0).uniform(-30, 30, (4, 33)))
  q[:, 3:6] = 0.1
  with jax.enable_x64(True):
    a = F.forward_kinematics(from_opensim, jnp.asarray(q), BIGE_COORDINATES)
    b = F.forward_kinematics(ours, jnp.asarray(q), BIGE_COORDINATES)
    np.testing.assert_allclose(np.asarray(a.joint_centers), np.asarray(b.joint_centers), atol=1e-9)
    np.testing.assert_allclose(
      np.asarray(F.center_of_mass(a, from_opensim)),
      np.asarray(F.center_of_mass(b, ours)),
      atol=1e-9,
    )


def test_augmented_subject_keeps_feet_planted(base):
  trial, model, reps, ground_y, anchor = base
  p = A.sample_subject(0, 0)
  fk_model = A.scale_fk_model(model, p)
  times, q, info = A.augment_trial(
    trial.times, trial.coordinates, reps, p, fk_model, ground_y, anchor
  )
  assert q.shape == (len(times), 33) and np.all(np.isfinite(q))
  assert times[-1] == pytest.approx(8.0 * p.tempo * np.mean(p.rep_tempo), rel=0.1)
  assert len(info.repetitions) == 5
  # Feet stay within a few millimetres of a fixed pose on the ground.
  assert info.max_foot_slide_m < 0.005
  assert info.max_foot_lift_m < 0.005
  # Depth: the deepest knee angles follow depth * rep_depth of the real repetitions.
  real_knee = 0.5 * (trial.coordinate("knee_angle_r") + trial.coordinate("knee_angle_l"))
  real_peaks = np.array([real_knee[r.start : r.end].max() for r in reps])
  want = real_peaks * p.depth * np.array(p.rep_depth)
  np.testing.assert_allclose(info.knee_peak_deg, want, rtol=0.12)
  # Re-segmenting the synthetic trial finds the same five repetitions.
  found = segment_repetitions(q, BIGE_COORDINATES, 100.0)
  np.testing.assert_allclose([r.peak for r in found], [r.peak for r in info.repetitions], atol=8)


def test_identity_subject_is_the_real_trial_up_to_foot_corrections(base):
  trial, model, reps, ground_y, anchor = base
  p = dataclasses.replace(A.identity_params(), noise_deg=0.0)
  times, q, info = A.augment_trial(trial.times, trial.coordinates, reps, p, model, ground_y, anchor)
  assert len(times) == len(trial.times)
  upper = [BIGE_COORDINATES.index(n) for n in ("lumbar_extension", "arm_flex_r", "elbow_flex_l")]
  np.testing.assert_allclose(q[:, upper], trial.coordinates[:, upper], atol=1e-6)
  knee = BIGE_COORDINATES.index("knee_angle_r")
  assert np.abs(q[:, knee] - trial.coordinates[:, knee]).max() < 5.0  # leg IK: small corrections
