"""OpenCap / BIGE readers: column mapping by name, units, bad input, session folders."""

import logging

import numpy as np
import pytest

from motion_jax.data.formats import opencap as oc
from motion_jax.data.formats.mot import make_motion, read_mot, write_mot
from motion_jax.paths import opencap_path
from motion_jax.skeletons.opencap import (
  BIGE_ACTIVATION_COLUMNS,
  BIGE_COORDINATES,
  BIGE_MUSCLES,
  SQUATS_MOT,
)


@pytest.fixture(scope="module")
def real():
  return read_mot(opencap_path(SQUATS_MOT))


def _trial_arrays(real, n=60):
  """First n frames of the real trial in BIGE order plus smooth activations in [0, 1]."""
  q = np.stack([real.column(c) for c in BIGE_COORDINATES], axis=1)[:n]
  t = real.times[:n]
  phase = np.linspace(0, np.pi, n)[:, None]
  a = 0.01 + 0.5 * np.sin(phase) * (1 + np.arange(80)[None] / 80) / 2
  return t, q, a


def test_real_ik_trial_maps_by_name(real):
  tr = oc.read_trial(opencap_path(SQUATS_MOT))
  assert tr.coordinates.shape == (801, 33) and tr.activations is None
  assert tr.rate == pytest.approx(100.0)
  # Name mapping (the file has knee *_beta columns and another order).
  for j, name in enumerate(BIGE_COORDINATES):
    np.testing.assert_array_equal(tr.coordinates[:, j], real.column(name))
  assert tr.coordinate("knee_angle_r").max() == pytest.approx(87.4, abs=1.5)


def test_muscle_driven_file_round_trip_and_column_order(real, tmp_path):
  t, q, a = _trial_arrays(real)
  path = (
    tmp_path
    / "s1"
    / "OpenSimData"
    / "Dynamics"
    / "squat1"
    / "kinematics_activations_squat1_muscle_driven.mot"
  )
  oc.write_muscle_driven_mot(path, t, q, a)
  tr = oc.read_trial(path, require_activations=True)
  assert tr.trial == "squat1"
  np.testing.assert_allclose(tr.coordinates, q, atol=1e-12)
  np.testing.assert_allclose(tr.activations, a, atol=1e-12)
  # Shuffled columns (and an extra one) read identically: mapping is by name.
  names = (*BIGE_COORDINATES, *BIGE_ACTIVATION_COLUMNS)
  vals = np.concatenate([q, a], axis=1)
  perm = np.random.default_rng(0).permutation(len(names))
  shuffled = tmp_path / "shuffled.mot"
  write_mot(
    shuffled,
    make_motion(
      [*(names[i] for i in perm), "extra"],
      t,
      np.concatenate([vals[:, perm], np.ones((len(t), 1))], axis=1),
      in_degrees=True,
    ),
  )
  tr2 = oc.read_trial(shuffled)
  np.testing.assert_array_equal(tr2.coordinates, tr.coordinates)
  np.testing.assert_array_equal(tr2.activations, tr.activations)
  assert tr2.activation("vasmed_r")[10] == a[10, BIGE_MUSCLES.index("vasmed_r")]


def test_radians_are_converted_and_radians_as_degrees_rejected(real, tmp_path):
  t, q, _ = _trial_arrays(real)
  rot = np.array([n not in oc.TRANSLATIONS for n in BIGE_COORDINATES])
  q_rad = np.where(rot, np.deg2rad(q), q)
  p = tmp_path / "rad.mot"
  write_mot(p, make_motion(BIGE_COORDINATES, t, q_rad, in_degrees=False))
  np.testing.assert_allclose(oc.read_trial(p).coordinates, q, atol=1e-9)
  # Same numbers declared as degrees: implausible ranges.
  write_mot(p, make_motion(BIGE_COORDINATES, t, q_rad, in_degrees=True))
  with pytest.raises(oc.OpenCapDataError, match="looks like radians") as e:
    oc.read_trial(p)
  assert e.value.reason == "units"


def test_bad_trials_raise_clear_errors(real, tmp_path):
  t, q, a = _trial_arrays(real)
  # Missing muscles.
  cols = [c for c in BIGE_ACTIVATION_COLUMNS if not c.startswith("vasmed")]
  p = tmp_path / "missing.mot"
  write_mot(
    p,
    make_motion(
      [*BIGE_COORDINATES, *cols],
      t,
      np.concatenate([q, a[:, [BIGE_ACTIVATION_COLUMNS.index(c) for c in cols]]], 1),
      True,
    ),
  )
  with pytest.raises(oc.OpenCapDataError, match="vasmed_l") as e:
    oc.read_trial(p)
  assert e.value.reason == "missing"
  # Too short.
  p = tmp_path / "short.mot"
  write_mot(p, make_motion(BIGE_COORDINATES, t[:10], q[:10], True))
  with pytest.raises(oc.OpenCapDataError, match="10 frames") as e:
    oc.read_trial(p)
  assert e.value.reason == "too_short"
  # NaN frames (OpenSim writes `nan`).
  p = tmp_path / "nan.mot"
  oc.write_muscle_driven_mot(p, t, q, a)
  lines = p.read_text().splitlines()
  fields = lines[-5].split("\t")
  fields[3] = "nan"
  lines[-5] = "\t".join(fields)
  p.write_text("\n".join(lines) + "\n")
  with pytest.raises(oc.OpenCapDataError, match="non-finite") as e:
    oc.read_trial(p)
  assert e.value.reason == "nan"
  # Activations outside [0, 1].
  p = tmp_path / "act.mot"
  oc.write_muscle_driven_mot(p, t, q, a * 3)
  with pytest.raises(oc.OpenCapDataError, match=r"outside \[0, 1\]"):
    oc.read_trial(p)


def test_opencap_root_skips_and_counts(real, tmp_path, caplog):
  t, q, a = _trial_arrays(real)
  root = tmp_path / "opencap"
  dyn = root / "subjA" / "OpenSimData" / "Dynamics"
  oc.write_muscle_driven_mot(dyn / "sq1" / "kinematics_activations_sq1_muscle_driven.mot", t, q, a)
  oc.write_muscle_driven_mot(
    dyn / "sq2" / "kinematics_activations_sq2_muscle_driven.mot", t[:5], q[:5], a[:5]
  )
  kin = root / "subjB" / "OpenSimData" / "Kinematics"
  kin.mkdir(parents=True)
  write_mot(kin / "ik1.mot", make_motion(BIGE_COORDINATES, t, q, True))
  (root / "empty" / "OpenSimData").mkdir(parents=True)
  summary = oc.ReadSummary()
  with caplog.at_level(logging.INFO, logger="motion_jax.data.formats.opencap"):
    trials = oc.read_opencap_root(root, summary=summary)
  assert sorted((tr.session, tr.trial, tr.activations is not None) for tr in trials) == [
    ("subjA", "sq1", True),
    ("subjB", "ik1", False),
  ]
  assert summary.sessions == 3 and summary.trials == 2
  assert dict(summary.skipped) == {"too_short": 1, "no_trials": 1}
  assert "read 2 trial(s) from 3 session(s); skipped 2 (no_trials: 1, too_short: 1)" in caplog.text
  with pytest.raises(oc.OpenCapDataError):
    oc.read_opencap_root(root, strict=True)
  # Requiring activations drops the IK-only session's trial (and counts the session as empty).
  s2 = oc.ReadSummary()
  assert [tr.trial for tr in oc.read_opencap_root(root, require_activations=True, summary=s2)] == [
    "sq1"
  ]
  with pytest.raises(FileNotFoundError):
    oc.read_opencap_root(tmp_path / "nope")


def test_other_opencap_model_layout_is_reported_as_missing_columns():
  # The shipped walking session uses the ISB-shoulder model (sh_* instead of arm_*): not BIGE's
  # layout.
  from motion_jax.skeletons.opencap import WALK_MOT

  with pytest.raises(oc.OpenCapDataError, match="arm_flex_l") as e:
    oc.read_trial(opencap_path(WALK_MOT))
  assert e.value.reason == "missing"


def test_bige_unit_limits_match_the_bige_model():
  """The copied ranges equal what the general check derives from LaiUhlrich2022.osim."""
  from motion_jax.data.formats.mot import unit_limits
  from motion_jax.skeletons.opencap import load_opencap_model

  limits = unit_limits(load_opencap_model())
  assert oc.BIGE_UNIT_LIMITS.rotational == limits.rotational & set(BIGE_COORDINATES)
  assert dict(oc.BIGE_UNIT_LIMITS.ranges) == {
    n: r for n, r in limits.ranges.items() if n in BIGE_COORDINATES
  }
  assert (
    len(oc.BIGE_UNIT_LIMITS.ranges) == 21 and "pelvis_rotation" not in oc.BIGE_UNIT_LIMITS.ranges
  )


def test_small_motion_in_degrees_labelled_radians_is_a_units_error(real, tmp_path):
  """Degrees of a small motion (|angle| < 2 pi, which the old BIGE rule let through) written with
  inDegrees=no: the general range check names the coordinate; the folder reader counts it."""
  t, q, _ = _trial_arrays(real)
  rot = np.array([n not in oc.TRANSLATIONS for n in BIGE_COORDINATES])
  small = np.where(rot, 0.06 * q, q)  # hip flexion up to ~5 deg
  assert np.abs(small[:, rot]).max() < 2 * np.pi
  root = tmp_path / "opencap"
  kin = root / "subj" / "OpenSimData" / "Kinematics"
  kin.mkdir(parents=True)
  write_mot(kin / "ok.mot", make_motion(BIGE_COORDINATES, t, small, in_degrees=True))
  write_mot(kin / "bad.mot", make_motion(BIGE_COORDINATES, t, small, in_degrees=False))
  np.testing.assert_allclose(oc.read_trial(kin / "ok.mot").coordinates, small)
  with pytest.raises(oc.OpenCapDataError) as e:
    oc.read_trial(kin / "bad.mot")
  assert e.value.reason == "units"
  msg = str(e.value)
  assert msg.startswith(f"{kin / 'bad.mot'}: coordinate 'pro_sup_r' is far outside its range")
  assert msg.endswith("set inDegrees=yes in its header.")  # read_trial has no on_mismatch
  summary = oc.ReadSummary()
  assert [tr.trial for tr in oc.read_opencap_root(root, summary=summary)] == ["ok"]
  assert dict(summary.skipped) == {"units": 1}
