"""Squat repetitions, split by subject: the one source of every squat experiment and TFDS build.

Three kinds of source (`SquatDataConfig.source`), all returning the same examples: one per squat
repetition, 33 BIGE coordinates (degrees / metres) and 80 activations (BIGE order) at 60 Hz.

* ``embedded`` (default): a dataset written by ``data/build_squat_dataset.py`` (``path``, default
  the shipped ``data/squats``: ``manifest.json`` + ``subject_XXX.npz``); the manifest's subject
  split. ``flagged_frames`` counts frames next to a failed StaticOptimization solve.
* ``opencap``: a user's OpenCap folder (``path``) of sessions laid out as
  ``<session>/OpenSimData/Dynamics/<trial>/kinematics_activations_<trial>_muscle_driven.mot``
  (or IK-only ``<session>/OpenSimData/Kinematics/<trial>.mot``: ``has_activations`` False, zero
  activations). A session is a subject. Held-out sessions: those listed in
  ``<path>/splits.json`` (``{"train": [...], "test": [...]}``) if present, else the
  ``round(test_fraction * n)`` sessions (at least one when there are two or more) with the
  smallest sha256 of their name (stable when sessions are added).
* ``trial``: one ``.mot`` file (``path``, default the shipped real OpenCap squat trial
  ``data/opencap/squats1_videoAndMocap.mot``); its repetitions in time order, the last
  ``round(test_fraction * n)`` (at least one) held out.

OpenCap and trial sources are resampled to 60 Hz (coordinates cubic, activations PCHIP clipped to
[0, 1]) and cut into repetitions by `motion_jax.data.squat.segmentation` (a trial without a
detected repetition is one example); repetitions under ``min_frames`` are skipped and counted.
Bad trials are skipped and counted (`motion_jax.data.formats.opencap.REASONS`).

`load_splits` is what experiments call: the examples of both splits after `select` (at most
``max_*_subjects`` subjects, repetitions with more than ``max_failed_fraction`` flagged frames
dropped, those without activations dropped when the experiment needs them). A TFDS data source of
`motion_jax.data.squat.tfds` holds the unselected examples; `select` on it gives the same examples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motion_jax.data.formats import opencap as oc
from motion_jax.data.squat.segmentation import segment_repetitions
from motion_jax.paths import DATA_DIR, OPENCAP_DIR
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES, SQUATS_MOT

log = logging.getLogger(__name__)

RATE = 60.0  # BIGE's frame rate (Hz)
EMBEDDED_DIR = DATA_DIR / "squats"
DEFAULT_TRIAL = OPENCAP_DIR / SQUATS_MOT
SOURCES = ("embedded", "opencap", "trial")
SPLITS = ("train", "test")


class SquatDataError(ValueError):
  """Missing or unusable squat data; the message names the file or folder."""


@dataclasses.dataclass(frozen=True)
class SquatDataConfig:
  source: str = "embedded"  # 'embedded' | 'opencap' | 'trial' (module docstring)
  path: str = ""  # dataset folder / OpenCap folder / .mot file; "" = the shipped default
  test_fraction: float = 0.25  # opencap: share of sessions held out; trial: of repetitions
  min_frames: int = 30  # shortest repetition kept (0.5 s at 60 Hz)
  max_train_subjects: int = 0  # keep the first N subjects of a split; 0 = all
  max_test_subjects: int = 0
  max_failed_fraction: float = 0.05  # drop repetitions with more flagged frames than this share

  def __post_init__(self):
    if self.source not in SOURCES:
      raise ValueError(f"data.source must be one of {SOURCES}, got {self.source!r}")
    if self.source == "opencap" and not self.path:
      raise ValueError("data.source='opencap' needs data.path (the OpenCap folder)")
    if not 0.0 <= self.test_fraction < 1.0:
      raise ValueError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")

  @property
  def resolved_path(self) -> Path:
    if self.path:
      return Path(self.path)
    return EMBEDDED_DIR if self.source == "embedded" else DEFAULT_TRIAL


@dataclasses.dataclass(frozen=True, eq=False)
class Repetition:
  example_id: str
  subject: str
  rep_index: int  # -1: a trial without a detected repetition, kept whole
  coordinates: np.ndarray  # [T, 33] degrees / metres
  activations: np.ndarray | None  # [T, 80] in [0, 1], None without activations
  flagged_frames: int = 0


def to_example(rep: Repetition) -> dict[str, Any]:
  """The example layout shared by the in-memory path and the TFDS builder."""
  q = np.ascontiguousarray(rep.coordinates, np.float32)
  has = rep.activations is not None
  a = rep.activations if has else np.zeros((len(q), len(BIGE_MUSCLES)), np.float32)
  knee = [BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")]
  return {
    "example_id": rep.example_id,
    "subject": rep.subject,
    "rep_index": np.int32(rep.rep_index),
    "length": np.int32(len(q)),
    "coordinates": q,
    "activations": np.ascontiguousarray(a, np.float32),
    "has_activations": np.bool_(has),
    "knee_peak_deg": np.float32(q[:, knee].mean(1).max()),
    "flagged_frames": np.int32(rep.flagged_frames),
  }


def text(x: Any) -> str:
  """A TFDS text feature (bytes) or a str, as str."""
  return x.decode("utf-8") if isinstance(x, bytes | np.bytes_) else str(x)


# ---------------------------------------------------------------------------------------- sources


def test_sessions(sessions: list[str], fraction: float) -> set[str]:
  """Held-out sessions: the round(fraction * n) (>= 1 if n >= 2) with the smallest name hash."""
  n = len(sessions)
  k = 0 if n < 2 else min(n - 1, max(1, int(round(fraction * n))))
  ranked = sorted(sessions, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
  return set(ranked[:k])


def _resample(trial: oc.OpenCapTrial, rate: float) -> tuple[np.ndarray, np.ndarray | None]:
  from scipy.interpolate import CubicSpline, PchipInterpolator

  t = trial.times
  n = int(np.floor((t[-1] - t[0]) * rate + 1e-9)) + 1
  grid = t[0] + np.arange(n) / rate
  if abs(trial.rate - rate) < 1e-6 and n == len(t):
    return trial.coordinates, trial.activations
  q = CubicSpline(t, trial.coordinates, axis=0)(grid)
  a = None
  if trial.activations is not None:
    a = np.clip(PchipInterpolator(t, trial.activations, axis=0)(grid), 0, 1)
  return q, a


def _trial_repetitions(
  tr: oc.OpenCapTrial, min_frames: int, rate: float = RATE
) -> tuple[list[Repetition], int]:
  """The repetitions of one trial and the number of too-short ones skipped."""
  q, a = _resample(tr, rate)
  reps = segment_repetitions(q, BIGE_COORDINATES, rate)
  windows = [(r.start, r.end, i) for i, r in enumerate(reps)] or [(0, len(q), -1)]
  out, short = [], 0
  for s, e, i in windows:
    if e - s < min_frames:
      short += 1
      continue
    out.append(
      Repetition(
        f"{tr.session}/{tr.trial}/rep{i}",
        tr.session,
        i,
        q[s:e].astype(np.float32),
        None if a is None else a[s:e].astype(np.float32),
      )
    )
  return out, short


def embedded_repetitions(root: Path) -> tuple[dict[str, list[Repetition]], dict]:
  """{'train'|'test': repetitions} of a `data/build_squat_dataset.py` folder, and a summary."""
  manifest_path = Path(root) / "manifest.json"
  if not manifest_path.exists():
    raise SquatDataError(f"{manifest_path} is missing (build it with data/build_squat_dataset.py)")
  manifest = json.loads(manifest_path.read_text())
  out: dict[str, list[Repetition]] = {}
  for split in SPLITS:
    reps = []
    for s in manifest["splits"][split]:
      name = f"subject_{s:03d}"
      path = Path(root) / f"{name}.npz"
      if not path.exists():
        raise SquatDataError(f"{path}: listed in {manifest_path} (splits.{split}) but missing")
      with np.load(path) as z:
        off = z["rep_offsets"]
        ok = z["ok"] if "ok" in z else np.ones(off[-1], bool)
        for r in range(len(off) - 1):
          reps.append(
            Repetition(
              f"{name}/rep{r}",
              name,
              r,
              z["coordinates"][off[r] : off[r + 1]].astype(np.float32),
              z["activations"][off[r] : off[r + 1]].astype(np.float32),
              int((~ok[off[r] : off[r + 1]]).sum()),
            )
          )
    out[split] = reps
  return out, {"source": str(root), "manifest_script_version": manifest.get("script_version")}


def opencap_repetitions(
  root: Path, test_fraction: float = 0.25, min_frames: int = 30
) -> tuple[dict[str, list[Repetition]], dict]:
  """{'train'|'test': repetitions} of an OpenCap folder (module docstring), and a summary."""
  summary = oc.ReadSummary()
  trials = oc.read_opencap_root(root, summary=summary)
  sessions = sorted({t.session for t in trials})
  split_file = Path(root) / "splits.json"
  if split_file.exists():
    test = set(json.loads(split_file.read_text()).get("test", []))
  else:
    test = test_sessions(sessions, test_fraction)
  out: dict[str, list[Repetition]] = {"train": [], "test": []}
  short = 0
  for tr in trials:
    reps, n_short = _trial_repetitions(tr, min_frames)
    short += n_short
    out["test" if tr.session in test else "train"].extend(reps)
  skipped = dict(summary.skipped)
  if short:
    skipped["short_repetition"] = short
  line = summary.line() + (
    f"; {short} repetition(s) under {min_frames} frames skipped" if short else ""
  )
  log.warning("squat data %s: %s", root, line)
  return out, {
    "source": str(root),
    "sessions": summary.sessions,
    "trials": summary.trials,
    "skipped": skipped,
    "errors": summary.errors[:20],
    "summary_line": line,
    "test_sessions": sorted(test),
  }


def trial_repetitions(
  path: Path, test_fraction: float = 0.25, min_frames: int = 30
) -> tuple[dict[str, list[Repetition]], dict]:
  """{'train'|'test': repetitions} of one `.mot` trial, the last ones held out (module doc)."""
  path = Path(path)
  try:
    tr = oc.read_trial(path, session=path.stem, min_frames=min_frames)
  except oc.OpenCapDataError as e:
    raise SquatDataError(str(e)) from e
  reps, short = _trial_repetitions(tr, min_frames)
  if len(reps) < 2:
    raise SquatDataError(
      f"{path}: {len(reps)} squat repetition(s) found ({short} too short); the trial source "
      "needs at least two (one to train on, one held out)"
    )
  n_test = min(len(reps) - 1, max(1, int(round(test_fraction * len(reps)))))
  return {"train": reps[:-n_test], "test": reps[-n_test:]}, {
    "source": str(path),
    "repetitions": len(reps),
    "short_repetitions": short,
  }


def repetitions(cfg: SquatDataConfig) -> tuple[dict[str, list[Repetition]], dict]:
  """Every repetition of the configured source, by split (unselected), and a summary."""
  path = cfg.resolved_path
  try:
    if cfg.source == "embedded":
      return embedded_repetitions(path)
    if cfg.source == "opencap":
      return opencap_repetitions(path, cfg.test_fraction, cfg.min_frames)
    return trial_repetitions(path, cfg.test_fraction, cfg.min_frames)
  except FileNotFoundError as e:
    raise SquatDataError(str(e)) from e


# -------------------------------------------------------------------------------------- selection


def select(
  examples: Sequence[Mapping[str, Any]],
  cfg: SquatDataConfig,
  split: str,
  *,
  require_activations: bool,
) -> tuple[list[Mapping[str, Any]], dict[str, int]]:
  """The examples an experiment uses (module docstring) and counts of those left out."""
  limit = cfg.max_train_subjects if split == "train" else cfg.max_test_subjects
  subjects = list(dict.fromkeys(text(e["subject"]) for e in examples))
  allowed = set(subjects[:limit] if limit else subjects)
  keep, dropped = [], {"flagged": 0, "no_activations": 0}
  for e in examples:
    if text(e["subject"]) not in allowed:
      continue
    if require_activations and not bool(e["has_activations"]):
      dropped["no_activations"] += 1
      continue
    if int(e["flagged_frames"]) > cfg.max_failed_fraction * int(e["length"]):
      dropped["flagged"] += 1
      continue
    keep.append(e)
  return keep, dropped


@dataclasses.dataclass(frozen=True)
class SquatSplits:
  train: list[Mapping[str, Any]]
  test: list[Mapping[str, Any]]
  summary: dict[str, Any]

  def __getitem__(self, split: str) -> list[Mapping[str, Any]]:
    return {"train": self.train, "test": self.test}[split]


def load_splits(cfg: SquatDataConfig, *, require_activations: bool) -> SquatSplits:
  """The selected examples of both splits (what squat experiments train and evaluate on)."""
  reps, summary = repetitions(cfg)
  out, dropped = {}, {"flagged": 0, "no_activations": 0}
  for split in SPLITS:
    out[split], d = select(
      [to_example(r) for r in reps.get(split, [])],
      cfg,
      split,
      require_activations=require_activations,
    )
    dropped = {k: dropped[k] + d[k] for k in dropped}
  line = (
    f"squat data {cfg.resolved_path}: {len(out['train'])} train / {len(out['test'])} test "
    f"repetitions; {dropped['flagged']} dropped (> {100 * cfg.max_failed_fraction:g} % frames "
    f"next to failed SO solves), {dropped['no_activations']} without activations skipped"
  )
  if summary.get("summary_line"):
    line += f"; {summary['summary_line']}"
  log.info(line)
  if not out["train"] or not out["test"]:
    raise SquatDataError(
      f"{cfg.resolved_path}: no usable repetitions in one of the splits ({line})"
    )
  return SquatSplits(out["train"], out["test"], {**summary, "dropped": dropped, "line": line})


__all__ = [
  "EMBEDDED_DIR",
  "RATE",
  "Repetition",
  "SquatDataConfig",
  "SquatDataError",
  "SquatSplits",
  "embedded_repetitions",
  "load_splits",
  "opencap_repetitions",
  "repetitions",
  "select",
  "test_sessions",
  "to_example",
  "trial_repetitions",
]
