"""Readers for OpenCap / BIGE squat data: muscle-driven `.mot` files and plain IK `.mot` files.

Layout of an OpenCap session folder (what BIGE trains on)::

    <session>/OpenSimData/Dynamics/<trial>/kinematics_activations_<trial>_muscle_driven.mot
    <session>/OpenSimData/Kinematics/<trial>.mot          (IK only, no activations)

A muscle-driven file holds `time`, the 33 BIGE coordinates (degrees / metres) and 80
`<muscle>/activation` columns (40 left then 40 right). Every column is mapped by *name*
(`motion_jax.skeletons.opencap.BIGE_COORDINATES` / `BIGE_ACTIVATION_COLUMNS`), never by position, so
files with extra columns (e.g. the knee `*_beta` of IK output) or another column order read the
same.

Bad input raises `OpenCapDataError` with the file and the reason (`.reason` is one of `REASONS`);
`read_opencap_root` skips such trials, counts them by reason, and logs one summary line:

=================  ================================================================================
reason             when
=================  ================================================================================
``format``         the file is not a readable `.mot` (helper `read_mot` error, e.g. wrong row
                   length)
``nan``            a value is NaN / inf (OpenSim writes `nan` for failed frames)
``missing``        a BIGE coordinate, or (when activations are required) a muscle column, is absent
``units``          rotational columns implausible for the declared unit (`inDegrees`): the general
                   check of `mot.check_coordinate_units` against the BIGE model's coordinate ranges
                   (`BIGE_UNIT_LIMITS`, LaiUhlrich2022) fails; or, BIGE-specific, declared degrees
                   but every rotational value within +-`RADIAN_LIMIT` (3.3) and knee flexion peak
                   < 3.3 (i.e. radians written as degrees), or declared radians with |value| > 2 pi
``activations``    an activation outside [0, 1] (+-1e-3 tolerance)
``too_short``      fewer than `min_frames` frames (default 30, 0.5 s at 60 Hz)
``no_trials``      (sessions) a session folder without any trial file
=================  ================================================================================
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motion_jax.data.formats.mot import (
  MotFormatError,
  Motion,
  UnitLimits,
  find_unit_mismatch,
  read_mot,
)
from motion_jax.skeletons.opencap import BIGE_ACTIVATION_COLUMNS, BIGE_COORDINATES, BIGE_MUSCLES

log = logging.getLogger(__name__)

REASONS = ("format", "nan", "missing", "units", "activations", "too_short", "no_trials")
#: BIGE coordinates that are translations (metres); every other one is an angle.
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
#: Largest |angle| (in the file's numbers) still taken as radians when degrees are declared.
RADIAN_LIMIT = 3.3
MIN_FRAMES = 30
#: What `mot.check_coordinate_units` needs from the BIGE model (LaiUhlrich2022.osim, whose
#: independent coordinates are BIGE_COORDINATES): the rotational coordinates and the ranges
#: (radians) of the range-checked ones (pelvis rotations and the +-10 rad arm ranges carry no unit
#: information). Copied here so that reading trials needs neither the model file nor JAX; equal to
#: `mot.unit_limits(load_opencap_model())` (tests/data/formats/test_opencap.py checks).
BIGE_UNIT_LIMITS = UnitLimits(
  model_name="LaiUhlrich2022",
  rotational=frozenset(n for n in BIGE_COORDINATES if n not in TRANSLATIONS),
  ranges=types.MappingProxyType(
    {
      "hip_flexion_l": (-0.52359878, 2.0943951),
      "hip_adduction_l": (-0.87266463, 0.52359878),
      "hip_rotation_l": (-0.6981317, 0.6981317),
      "hip_flexion_r": (-0.52359878, 2.0943951),
      "hip_adduction_r": (-0.87266463, 0.52359878),
      "hip_rotation_r": (-0.6981317, 0.6981317),
      "knee_angle_l": (0.0, 2.44346095279206),
      "knee_angle_r": (0.0, 2.44346095279206),
      "ankle_angle_l": (-0.8726646259971648, 0.8726646259971648),
      "ankle_angle_r": (-0.8726646259971648, 0.8726646259971648),
      "subtalar_angle_l": (-0.610865238198015, 0.610865238198015),
      "subtalar_angle_r": (-0.610865238198015, 0.610865238198015),
      "mtp_angle_l": (-0.7853981633974483, 0.52359878),
      "mtp_angle_r": (-0.7853981633974483, 0.52359878),
      "lumbar_extension": (-1.57079633, 1.57079633),
      "lumbar_bending": (-1.57079633, 1.57079633),
      "lumbar_rotation": (-1.57079633, 1.57079633),
      "elbow_flex_l": (0.0, 2.618),
      "elbow_flex_r": (0.0, 2.618),
      "pro_sup_l": (0.0, 2.09),
      "pro_sup_r": (0.0, 2.09),
    }
  ),
)

_MUSCLE_DRIVEN = re.compile(r"kinematics_activations_(.+)_muscle_driven\.mot\Z")


class OpenCapDataError(ValueError):
  """A trial or session that cannot be used; `reason` is one of `REASONS`."""

  def __init__(self, message: str, reason: str):
    super().__init__(message)
    self.reason = reason


@dataclasses.dataclass(frozen=True, eq=False)
class OpenCapTrial:
  """One trial in the BIGE layout.

  `coordinates[t, j]` is `BIGE_COORDINATES[j]` in degrees (angles) / metres (pelvis translations);
  `activations[t, m]` is `BIGE_MUSCLES[m]` in [0, 1], or None for an IK-only trial.
  """

  session: str
  trial: str
  times: np.ndarray  # [T] s
  coordinates: np.ndarray  # [T, 33]
  activations: np.ndarray | None  # [T, 80] or None
  source: str = ""

  @property
  def rate(self) -> float:
    return float(1.0 / np.median(np.diff(self.times))) if len(self.times) > 1 else float("nan")

  @property
  def n_frames(self) -> int:
    return int(self.times.shape[0])

  def coordinate(self, name: str) -> np.ndarray:
    return self.coordinates[:, BIGE_COORDINATES.index(name)]

  def activation(self, muscle: str) -> np.ndarray:
    if self.activations is None:
      raise KeyError(f"trial {self.trial!r} has no activations")
    return self.activations[:, BIGE_MUSCLES.index(muscle)]


def _rotational_mask() -> np.ndarray:
  return np.array([n not in TRANSLATIONS for n in BIGE_COORDINATES])


def check_units(coordinates_deg: np.ndarray, source: str = "<trial>") -> None:
  """Raise `OpenCapDataError(reason="units")` when angles in degrees look like radians."""
  rot = coordinates_deg[:, _rotational_mask()]
  knee = np.concatenate(
    [coordinates_deg[:, BIGE_COORDINATES.index(k)] for k in ("knee_angle_r", "knee_angle_l")]
  )
  if np.max(np.abs(rot)) < RADIAN_LIMIT and np.max(knee) < RADIAN_LIMIT:
    raise OpenCapDataError(
      f"{source}: inDegrees=yes but every angle is within +-{RADIAN_LIMIT} (knee peak "
      f"{np.max(knee):.2f}): looks like radians written as degrees",
      "units",
    )


def trial_from_motion(
  motion: Motion,
  session: str = "",
  trial: str = "",
  require_activations: bool = False,
  min_frames: int = MIN_FRAMES,
) -> OpenCapTrial:
  """BIGE-layout trial from a read `.mot` (see module docstring for the checks)."""
  src = motion.source or trial or "<motion>"
  missing = [n for n in BIGE_COORDINATES if n not in motion.names]
  if missing:
    raise OpenCapDataError(f"{src}: missing coordinate column(s) {missing}", "missing")
  act_present = [c for c in BIGE_ACTIVATION_COLUMNS if c in motion.names]
  if require_activations or act_present:
    missing = [c.split("/")[0] for c in BIGE_ACTIVATION_COLUMNS if c not in motion.names]
    if missing:
      raise OpenCapDataError(
        f"{src}: {len(missing)} of 80 muscle activation column(s) missing: {missing[:8]}"
        f"{' ...' if len(missing) > 8 else ''}",
        "missing",
      )
  if motion.n_frames < min_frames:
    raise OpenCapDataError(
      f"{src}: {motion.n_frames} frames, need at least {min_frames}", "too_short"
    )
  idx = [motion.names.index(n) for n in BIGE_COORDINATES]
  q = np.array(motion.values[:, idx], dtype=np.float64)
  if not np.all(np.isfinite(q)):
    raise OpenCapDataError(f"{src}: non-finite coordinate values", "nan")
  found = find_unit_mismatch(
    q,
    BIGE_COORDINATES,
    motion.in_degrees,
    BIGE_UNIT_LIMITS,
    src,
    motion.times,
    has_unit_header=motion.in_degrees or "inDegrees" in motion.metadata,
    hint="",  # the reader has no on_mismatch: the header is the fix
  )
  if found is not None:
    raise OpenCapDataError(found.message, "units")
  rot = _rotational_mask()
  if motion.in_degrees:
    check_units(q, src)
  else:
    if np.max(np.abs(q[:, rot])) > 2 * np.pi:
      raise OpenCapDataError(
        f"{src}: inDegrees=no but an angle exceeds 2 pi: looks like degrees", "units"
      )
    q[:, rot] = np.rad2deg(q[:, rot])
  acts = None
  if act_present:
    acts = np.array(motion.values[:, [motion.names.index(c) for c in BIGE_ACTIVATION_COLUMNS]])
    if not np.all(np.isfinite(acts)):
      raise OpenCapDataError(f"{src}: non-finite activation values", "nan")
    if acts.min() < -1e-3 or acts.max() > 1 + 1e-3:
      raise OpenCapDataError(
        f"{src}: activations outside [0, 1] (min {acts.min():.3g}, max {acts.max():.3g})",
        "activations",
      )
    acts = np.clip(acts, 0.0, 1.0)
  return OpenCapTrial(
    session=session,
    trial=trial,
    times=np.array(motion.times),
    coordinates=q,
    activations=acts,
    source=src,
  )


def read_trial(
  path: str | Path,
  session: str = "",
  trial: str | None = None,
  require_activations: bool = False,
  min_frames: int = MIN_FRAMES,
) -> OpenCapTrial:
  """Read one muscle-driven or IK `.mot` into the BIGE layout (raises `OpenCapDataError`)."""
  path = Path(path)
  if trial is None:
    m = _MUSCLE_DRIVEN.match(path.name)
    trial = m.group(1) if m else path.stem
  try:
    motion = read_mot(path)
  except MotFormatError as e:
    text = str(e)
    reason = "nan" if "non-finite" in text else "format"
    raise OpenCapDataError(text, reason) from None
  return trial_from_motion(motion, session, trial, require_activations, min_frames)


def find_trials(session_dir: str | Path, include_ik: bool = True) -> list[tuple[str, Path, bool]]:
  """(trial name, file, has activations) for every trial of one session, sorted by name.

  A trial with both a muscle-driven and an IK file is listed once, with the muscle-driven file.
  """
  session_dir = Path(session_dir)
  out: dict[str, tuple[Path, bool]] = {}
  for f in sorted(
    (session_dir / "OpenSimData" / "Dynamics").glob("*/kinematics_activations_*_muscle_driven.mot")
  ):
    m = _MUSCLE_DRIVEN.match(f.name)
    if m:
      out[m.group(1)] = (f, True)
  if include_ik:
    for f in sorted((session_dir / "OpenSimData" / "Kinematics").glob("*.mot")):
      out.setdefault(f.stem, (f, False))
  return [(k, *out[k]) for k in sorted(out)]


@dataclasses.dataclass
class ReadSummary:
  sessions: int = 0
  trials: int = 0
  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  errors: list[str] = dataclasses.field(default_factory=list)

  def line(self) -> str:
    sk = sum(self.skipped.values())
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
    return f"opencap: read {self.trials} trial(s) from {self.sessions} session(s); skipped {sk}" + (
      f" ({detail})" if detail else ""
    )


def list_sessions(root: str | Path) -> list[Path]:
  """Session folders under `root` (folders holding `OpenSimData`, or `root` itself if it is one)."""
  root = Path(root)
  if not root.is_dir():
    raise FileNotFoundError(f"OpenCap folder not found: {root}")
  if (root / "OpenSimData").is_dir():
    return [root]
  return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_opencap_root(
  root: str | Path,
  require_activations: bool = False,
  include_ik: bool = True,
  min_frames: int = MIN_FRAMES,
  strict: bool = False,
  summary: ReadSummary | None = None,
) -> list[OpenCapTrial]:
  """Every readable trial of every session under `root`; bad ones skipped and counted.

  With `strict=True` the first bad trial or empty session raises instead. The summary line is
  logged (INFO) and available through the `summary` object passed in.
  """
  summary = ReadSummary() if summary is None else summary
  trials = []
  for sdir in list_sessions(root):
    found = find_trials(sdir, include_ik=include_ik and not require_activations)
    summary.sessions += 1
    if not found:
      err = OpenCapDataError(
        f"{sdir}: no trials (expected OpenSimData/Dynamics/<trial>/"
        "kinematics_activations_<trial>_muscle_driven.mot or OpenSimData/"
        "Kinematics/<trial>.mot)",
        "no_trials",
      )
      if strict:
        raise err
      summary.skipped["no_trials"] += 1
      summary.errors.append(str(err))
      continue
    for name, path, _ in found:
      try:
        trials.append(
          read_trial(
            path,
            session=sdir.name,
            trial=name,
            require_activations=require_activations,
            min_frames=min_frames,
          )
        )
        summary.trials += 1
      except OpenCapDataError as e:
        if strict:
          raise
        summary.skipped[e.reason] += 1
        summary.errors.append(str(e))
  log.info(summary.line())
  return trials


def write_muscle_driven_mot(
  path: str | Path,
  times: np.ndarray,
  coordinates: np.ndarray,
  activations: np.ndarray,
  coordinate_names: Sequence[str] = BIGE_COORDINATES,
  activation_columns: Sequence[str] = BIGE_ACTIVATION_COLUMNS,
) -> None:
  """Write a file in the OpenCap muscle-driven layout (degrees / metres, inDegrees=yes)."""
  from motion_jax.data.formats.mot import make_motion, write_mot

  names = (*coordinate_names, *activation_columns)
  values = np.concatenate([np.asarray(coordinates), np.asarray(activations)], axis=1)
  Path(path).parent.mkdir(parents=True, exist_ok=True)
  write_mot(
    path, make_motion(names, times, values, in_degrees=True, name="Kinematics and activations")
  )
