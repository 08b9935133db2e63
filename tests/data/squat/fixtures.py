"""Squat data fixtures written by the tests: a fake embedded build and an OpenCap-layout folder."""

import json

import numpy as np

from motion_jax.data.formats import opencap as oc
from motion_jax.data.formats.mot import make_motion, write_mot
from motion_jax.paths import opencap_path
from motion_jax.skeletons.opencap import BIGE_COORDINATES, SQUATS_MOT


def write_fake_build(root, n_subjects=3, n_test=1):
  """A folder laid out like data/build_squat_dataset.py output (small random subjects)."""
  rng = np.random.default_rng(0)
  root.mkdir(parents=True, exist_ok=True)
  for s in range(n_subjects):
    lens = [80 + 10 * s, 250]
    arrays = {
      "coordinates": rng.normal(size=(sum(lens), 33)).astype(np.float32),
      "activations": rng.uniform(size=(sum(lens), 80)).astype(np.float16),
      "ok": np.arange(sum(lens)) != (sum(lens) - 1 if s == n_subjects - 1 else -1),
      "rep_offsets": np.array([0, lens[0], sum(lens)], np.int32),
      "rep_peaks": np.array([10, lens[0] + 10], np.int32),
    }
    np.savez(root / f"subject_{s:03d}.npz", **arrays)
  splits = {
    "train": list(range(n_subjects - n_test)),
    "test": list(range(n_subjects - n_test, n_subjects)),
  }
  (root / "manifest.json").write_text(json.dumps({"splits": splits, "script_version": "test"}))


def write_opencap_fixture(root):
  """Sessions laid out like OpenCap output: 3 squat subjects + a bad trial + an empty session +
  an IK-only session; subject_c held out by splits.json."""
  real = oc.read_trial(opencap_path(SQUATS_MOT))
  for k, session in enumerate(["subject_a", "subject_b", "subject_c"]):
    q = real.coordinates.copy()
    q[:, BIGE_COORDINATES.index("pelvis_tx")] += 0.1 * k
    knee = 0.5 * (real.coordinate("knee_angle_r") + real.coordinate("knee_angle_l"))
    act = np.clip(0.01 + np.outer(knee / 100, np.linspace(0.2, 1, 80)), 0, 1)
    path = (
      root
      / session
      / "OpenSimData"
      / "Dynamics"
      / "squats1"
      / "kinematics_activations_squats1_muscle_driven.mot"
    )
    oc.write_muscle_driven_mot(path, real.times, q, act)
  bad = (
    root
    / "subject_a"
    / "OpenSimData"
    / "Dynamics"
    / "bad"
    / "kinematics_activations_bad_muscle_driven.mot"
  )
  bad.parent.mkdir(parents=True)
  write_mot(
    bad, make_motion(BIGE_COORDINATES, real.times[:20], real.coordinates[:20], True)
  )  # short, no muscles
  (root / "no_trials" / "OpenSimData").mkdir(parents=True)
  ik = root / "subject_d" / "OpenSimData" / "Kinematics"  # IK only: no activations
  ik.mkdir(parents=True)
  write_mot(ik / "squats1.mot", make_motion(BIGE_COORDINATES, real.times, real.coordinates, True))
  (root / "splits.json").write_text(json.dumps({"test": ["subject_c"]}))
  return root
