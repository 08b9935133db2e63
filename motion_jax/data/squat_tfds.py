"""TFDS builder (ArrayRecord, read without TensorFlow) for squat repetitions with muscle
activations.

Two sources, one example per squat repetition, split by subject (never a subject in both splits):

* ``embedded`` (default): the shipped dataset built by ``data/build_squat_dataset.py``
  (``data/squats``: ``manifest.json`` + ``subject_XXX.npz``; splits from the manifest, subjects
  ``>= subjects - n_test`` held out). ``manual_dir`` may point at another build.
* ``opencap``: a user's OpenCap folder (``manual_dir``) with sessions laid out as
  ``<session>/OpenSimData/Dynamics/<trial>/kinematics_activations_<trial>_muscle_driven.mot``
  (or IK-only ``<session>/OpenSimData/Kinematics/<trial>.mot``, then ``has_activations`` is False
  and the activations are zeros). A session is a subject. Test sessions: those listed in
  ``<manual_dir>/splits.json`` (``{"train": [...], "test": [...]}``) if present, else the
  ``round(test_fraction * n)`` sessions (at least one when there are two or more) with the smallest
  sha256 of their name (stable under adding sessions elsewhere in the order). Trials are resampled
  to 60 Hz (coordinates cubic, activations PCHIP, clipped to [0, 1]) and cut into repetitions with
  `motion_jax.data.squat_segmentation`; a trial with no detected repetition is one example.

Bad trials are skipped and counted (`motion_jax.data.opencap.REASONS`, plus ``short_repetition``
for repetitions under `min_frames`); the counts are logged in one summary line and stored in
``info.metadata["summary"]``. No example at all raises ValueError.

``flagged_frames`` counts the frames of a repetition next to a failed StaticOptimization solve
(embedded source; filter on it to drop such repetitions).

Metadata: ``rate``, ``coordinate_names``, ``muscle_names``, ``splits`` (subjects per split),
``stats`` (mean / std of coordinates and activations over the train split's frames, the
normalisation statistics of `motion_jax.data.squat_loader`) and ``summary``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from motion_jax.data import opencap as oc
from motion_jax.data.paths import DATA_DIR
from motion_jax.data.squat_segmentation import segment_repetitions
from motion_jax.data.tfds_base import ArrayRecordBuilder
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

log = logging.getLogger(__name__)

EMBEDDED_DIR = DATA_DIR / "squats"
RATE = 60.0


@dataclasses.dataclass(eq=False)
class SquatConfig(tfds.core.BuilderConfig):
  source: str = "embedded"  # "embedded" | "opencap"
  rate: float = RATE
  min_frames: int = 30  # shortest repetition kept (0.5 s)
  test_fraction: float = 0.25


CONFIGS = (
  SquatConfig(
    name="embedded",
    source="embedded",
    description="Shipped synthetic subjects: real squat trial + OpenSim StaticOptimization.",
  ),
  SquatConfig(
    name="opencap",
    source="opencap",
    description="A user's OpenCap sessions (muscle-driven or IK .mot files) as manual_dir.",
  ),
)


@dataclasses.dataclass
class _Rep:
  example_id: str
  subject: str
  rep_index: int
  coordinates: np.ndarray  # [T, 33]
  activations: np.ndarray | None  # [T, 80]
  flagged_frames: int = 0  # frames next to a failed StaticOptimization solve (embedded only)


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
  a = (
    None
    if trial.activations is None
    else np.clip(PchipInterpolator(t, trial.activations, axis=0)(grid), 0, 1)
  )
  return q, a


def embedded_repetitions(root: Path) -> tuple[dict[str, list[_Rep]], dict]:
  """{'train'|'test': repetitions} of a `data/build_squat_dataset.py` folder, and a summary."""
  manifest_path = root / "manifest.json"
  if not manifest_path.exists():
    raise FileNotFoundError(
      f"{manifest_path} is missing (build it with data/build_squat_dataset.py)"
    )
  manifest = json.loads(manifest_path.read_text())
  out: dict[str, list[_Rep]] = {}
  for split in ("train", "test"):
    reps = []
    for s in manifest["splits"][split]:
      name = f"subject_{s:03d}"
      if not (root / f"{name}.npz").exists():
        raise FileNotFoundError(
          f"{root / name}.npz: listed in {manifest_path} (splits.{split}) but missing"
        )
      with np.load(root / f"{name}.npz") as z:
        off = z["rep_offsets"]
        ok = z["ok"] if "ok" in z else np.ones(off[-1], bool)
        for r in range(len(off) - 1):
          reps.append(
            _Rep(
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


def opencap_repetitions(root: Path, cfg: SquatConfig) -> tuple[dict[str, list[_Rep]], dict]:
  """{'train'|'test': repetitions} of an OpenCap folder (module docstring), and a summary."""
  summary = oc.ReadSummary()
  trials = oc.read_opencap_root(root, summary=summary)
  sessions = sorted({t.session for t in trials})
  split_file = root / "splits.json"
  if split_file.exists():
    listed = json.loads(split_file.read_text())
    test = set(listed.get("test", []))
  else:
    test = test_sessions(sessions, cfg.test_fraction)
  out: dict[str, list[_Rep]] = {"train": [], "test": []}
  short = 0
  for tr in trials:
    q, a = _resample(tr, cfg.rate)
    reps = segment_repetitions(q, BIGE_COORDINATES, cfg.rate)
    windows = [(r.start, r.end, i) for i, r in enumerate(reps)] or [(0, len(q), -1)]
    split = "test" if tr.session in test else "train"
    for s, e, i in windows:
      if e - s < cfg.min_frames:
        short += 1
        continue
      out[split].append(
        _Rep(
          f"{tr.session}/{tr.trial}/rep{i}",
          tr.session,
          i,
          q[s:e].astype(np.float32),
          None if a is None else a[s:e].astype(np.float32),
        )
      )
  skipped = dict(summary.skipped)
  if short:
    skipped["short_repetition"] = short
  line = summary.line() + (
    f"; {short} repetition(s) under {cfg.min_frames} frames skipped" if short else ""
  )
  log.warning("squat_motion/opencap: %s", line)
  return out, {
    "source": str(root),
    "sessions": summary.sessions,
    "trials": summary.trials,
    "skipped": skipped,
    "errors": summary.errors[:20],
    "summary_line": line,
    "test_sessions": sorted(test),
  }


def _stats(reps: list[_Rep]) -> dict:
  q = np.concatenate([r.coordinates for r in reps]).astype(np.float64)
  acts = [r.activations for r in reps if r.activations is not None]
  out = {
    "coordinates_mean": q.mean(0).tolist(),
    "coordinates_std": np.maximum(q.std(0), 1e-6).tolist(),
  }
  if acts:
    a = np.concatenate(acts).astype(np.float64)
    out.update(
      activations_mean=a.mean(0).tolist(), activations_std=np.maximum(a.std(0), 1e-6).tolist()
    )
  else:
    out.update(activations_mean=None, activations_std=None)
  return out


class SquatMotion(ArrayRecordBuilder):
  """Squat repetitions (BIGE layout) with muscle activations; see the module docstring.

  Read with ``builder.as_data_source()[split]`` (ArrayRecord; no TensorFlow needed).
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(CONFIGS)
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "embedded: optional, a folder written by data/build_squat_dataset.py (default data/squats). "
    "opencap: a folder of OpenCap sessions, <session>/OpenSimData/Dynamics/<trial>/"
    "kinematics_activations_<trial>_muscle_driven.mot (or OpenSimData/Kinematics/<trial>.mot)."
  )

  def _info(self) -> tfds.core.DatasetInfo:
    f32 = np.float32
    return tfds.core.DatasetInfo(
      builder=self,
      description="One example per squat repetition: 33 OpenSim coordinates (degrees / metres, "
      "BIGE order) and 80 muscle activations (BIGE order) at 60 Hz.",
      features=tfds.features.FeaturesDict(
        {
          "example_id": tfds.features.Text(),
          "subject": tfds.features.Text(),
          "rep_index": tfds.features.Scalar(dtype=np.int32),
          "length": tfds.features.Scalar(dtype=np.int32),
          "coordinates": tfds.features.Tensor(
            shape=(None, len(BIGE_COORDINATES)), dtype=f32, encoding=tfds.features.Encoding.BYTES
          ),
          "activations": tfds.features.Tensor(
            shape=(None, len(BIGE_MUSCLES)), dtype=f32, encoding=tfds.features.Encoding.BYTES
          ),
          "has_activations": tfds.features.Scalar(dtype=np.bool_),
          "knee_peak_deg": tfds.features.Scalar(dtype=f32),
          "flagged_frames": tfds.features.Scalar(dtype=np.int32),
        }
      ),
      metadata=tfds.core.MetadataDict(),
      disable_shuffling=True,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg: SquatConfig = self.builder_config
    try:
      root = Path(dl_manager.manual_dir)
    except Exception:  # no manual_dir given: the shipped data
      if cfg.source != "embedded":
        raise
      root = EMBEDDED_DIR
    if cfg.source == "embedded":
      reps, summary = embedded_repetitions(root)
    elif cfg.source == "opencap":
      reps, summary = opencap_repetitions(root, cfg)
    else:
      raise ValueError(f"unknown source {cfg.source!r}")
    if not any(reps.values()):
      raise ValueError(f"squat_motion/{cfg.name}: no repetitions in {root}; summary: {summary}")
    md = self.info.metadata
    md["rate"] = cfg.rate
    md["coordinate_names"] = list(BIGE_COORDINATES)
    md["muscle_names"] = list(BIGE_MUSCLES)
    md["splits"] = {s: sorted({r.subject for r in v}) for s, v in reps.items()}
    md["examples"] = {s: len(v) for s, v in reps.items()}
    md["stats"] = _stats(reps["train"] or reps["test"])
    md["summary"] = summary
    return {s: self._generate_examples(v) for s, v in reps.items() if v}

  def _generate_examples(self, reps: list[_Rep]) -> Iterator[tuple[str, dict]]:
    knee = [BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")]
    for r in reps:
      has = r.activations is not None
      acts = r.activations if has else np.zeros((len(r.coordinates), len(BIGE_MUSCLES)), np.float32)
      yield (
        r.example_id,
        {
          "example_id": r.example_id,
          "subject": r.subject,
          "rep_index": r.rep_index,
          "length": len(r.coordinates),
          "coordinates": np.ascontiguousarray(r.coordinates, np.float32),
          "activations": np.ascontiguousarray(acts, np.float32),
          "has_activations": has,
          "knee_peak_deg": float(r.coordinates[:, knee].mean(1).max()),
          "flagged_frames": r.flagged_frames,
        },
      )


def prepare(
  data_dir: str | Path,
  config: str = "embedded",
  source_dir: str | Path | None = None,
  *,
  overwrite: bool = False,
) -> SquatMotion:
  """Build (or reuse) ``squat_motion/<config>`` under `data_dir` from `source_dir` (manual_dir).

  `source_dir` defaults to the shipped ``data/squats`` for ``embedded``. With `overwrite` the new
  build is staged and swapped in only after it succeeded.
  """
  if source_dir is None:
    if config != "embedded":
      raise ValueError("config 'opencap' needs source_dir (the OpenCap folder)")
    source_dir = EMBEDDED_DIR
  return SquatMotion.prepare_from(data_dir, config, source_dir, overwrite=overwrite)


def load_data_source(data_dir: str | Path, config: str = "embedded", split: str = "train"):
  """(random-access examples, metadata) of a built dataset."""
  builder = SquatMotion(data_dir=str(data_dir), config=config)
  return builder.as_data_source(split=split), builder.info.metadata


__all__ = [
  "CONFIGS",
  "SquatConfig",
  "SquatMotion",
  "embedded_repetitions",
  "load_data_source",
  "opencap_repetitions",
  "prepare",
  "test_sessions",
]
