"""Static optimisation helpers: reserves, synthesized ground reactions, failure detection."""

import numpy as np
import pytest

from motion_jax.data.formats.opencap import read_trial
from motion_jax.datagen import static_optimization as so
from motion_jax.paths import opencap_path
from motion_jax.skeletons.opencap import BIGE_COORDINATES, LAI_ARNOLD_2017_CONTACTS, SQUATS_MOT
from motion_jax.skeletons.opensim_model import load_osim


def test_reserve_strengths_follow_the_recipe():
  assert so.reserve_strength("pelvis_tilt") == 1000
  assert so.reserve_strength("pelvis_ty") == 10000
  assert so.reserve_strength("hip_rotation_l") == 30
  assert so.reserve_strength("knee_angle_r") == 1
  assert so.reserve_strength("mtp_angle_l") == 1


def test_failed_frames_are_found_in_the_log():
  log = "\n".join(
    [
      "[info] time = 0.1 Performance = 1.5 Constraint violation = 1e-12",
      "[error] OPTIMIZATION FAILED...",
      "[2026-11-21 23:52:53.293] [warning] StaticOptimization.record: "
      "The optimizer could not find a "
      "solution at time = 0.15.",  # the exact OpenSim 4.6 wording
      "[info] AssemblySolver::track() attempt Failed: SimTK Exception thrown at Assembler.cpp:971:",
      "[cout] [info] time = 0.15 Performance = 2048.8 Constraint violation = 12.759",
      "[info] time = 0.2 Performance = nan Constraint violation = 3e-11",
    ]
  )
  viol, failed = so.parse_so_log(log)
  assert viol == {0.1: 1e-12, 0.15: 12.759, 0.2: 3e-11}
  assert failed == {0.15}


def test_ground_reactions_carry_body_weight_between_heel_and_toes():
  model = load_osim(opencap_path(LAI_ARNOLD_2017_CONTACTS))
  tr = read_trial(opencap_path(SQUATS_MOT))
  rot = np.array([model.is_rotational(n) for n in BIGE_COORDINATES])
  q = np.where(rot, np.deg2rad(tr.coordinates), tr.coordinates)
  grf = so.synthesize_grf(model, tr.times, q, BIGE_COORDINATES)
  total = grf["force_r"] + grf["force_l"]
  weight = model.total_mass * 9.80665
  # Mean vertical force = weight (the subject stands still at both ends of the trial); the
  # dynamics of standing up and stopping make it swing between about 0.4 and 1.7 body weights.
  assert total[:, 1].mean() == pytest.approx(weight, rel=0.01)
  assert 0.3 * weight < total[:, 1].min() and total[:, 1].max() < 2.0 * weight
  assert np.abs(total[:, [0, 2]]).max() < 0.5 * weight
  np.testing.assert_allclose(grf["force_r"], grf["force_l"])
  # Application point: between the heel (calcn origin) and the toes, near the floor.
  for side in ("r", "l"):
    p = grf[f"point_{side}"]
    assert np.all(p[:, 1] < 0.1)
  assert np.all(grf["point_r"][:, 2] > grf["point_l"][:, 2])  # right foot at +z


@pytest.mark.slow
def test_failed_frames_are_flagged_in_a_real_opensim_run():
  """With a 1 N m hip-rotation reserve, deep-squat frames fail (the reason for 30 N m)."""
  from motion_jax.data.formats.mot import read_mot

  m = read_mot(opencap_path(SQUATS_MOT))
  sl = slice(60, 140)
  res = so.run_static_optimization(
    opencap_path(LAI_ARNOLD_2017_CONTACTS),
    m.times[sl],
    m.values[sl],
    m.names,
    so.SOConfig(step_interval=2, hip_rotation_reserve=1.0),
    solve_range=(m.times[80], m.times[120]),
  )
  assert len(res.times) == 21 and res.n_failed >= 3
  assert np.all(res.constraint_violation[res.ok] <= 1e-3)
  assert 0.0 <= res.activations.min() and res.activations.max() <= 1.0
