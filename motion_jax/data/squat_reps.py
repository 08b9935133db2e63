"""Squat repetitions for BIGE, split by subject: from the embedded dataset or an OpenCap folder.

Returns {'train'|'test': {'q': [[T_r, 33] deg/m], 'a': [[T_r, 80]], 'subject': [str]}} with one
entry per repetition at the requested rate (60 Hz, BIGE's).

* Embedded (`data/squats`, built by data/build_squat_dataset.py): subject files and the manifest's
  subject split. Repetitions with more than `max_failed_fraction` (5 %) of their frames flagged as
  next to a failed StaticOptimization solve are dropped and counted; the flagged frames of the
  others carry interpolated activations.
* OpenCap folder (`opencap_root`): every muscle-driven trial (`read_opencap_root`), resampled,
  segmented into repetitions (`segment_repetitions`); sessions are split into train/test by a
  seeded permutation (`test_fraction`), so every repetition of a subject is on one side.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import numpy as np

from motion_jax.data.paths import DATA_DIR
from motion_jax.skeletons.opencap import BIGE_COORDINATES

log = logging.getLogger(__name__)
EMBEDDED_DIR = DATA_DIR / "squats"


class SquatDataError(ValueError):
  """Missing or unusable squat data; the message names the file or folder."""


def _empty() -> dict[str, list]:
  return {"q": [], "a": [], "subject": []}


def _resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
  if abs(rate_in - rate_out) < 1e-9:
    return x
  t_in = np.arange(len(x)) / rate_in
  t_out = np.arange(int(np.floor(t_in[-1] * rate_out + 1e-9)) + 1) / rate_out
  return np.stack([np.interp(t_out, t_in, x[:, c]) for c in range(x.shape[1])], 1).astype(x.dtype)


def load_embedded(root: pathlib.Path = EMBEDDED_DIR, rate: float = 60.0,
                  max_subjects: dict[str, int | None] | None = None,
                  max_failed_fraction: float = 0.05) -> dict[str, dict[str, Any]]:
  manifest_path = root / "manifest.json"
  if not manifest_path.exists():
    raise SquatDataError(f"{manifest_path}: the embedded squat dataset is missing; build it with "
                         "`python data/build_squat_dataset.py --out data/squats`")
  manifest = json.loads(manifest_path.read_text())
  data_rate = float(manifest.get("config", {}).get("rate", manifest.get("rate", 60.0)))
  out, dropped = {"train": _empty(), "test": _empty()}, 0
  for split in ("train", "test"):
    subjects = list(manifest["splits"][split])
    limit = (max_subjects or {}).get(split)
    for s in subjects[:limit] if limit else subjects:
      path = root / f"subject_{int(s):03d}.npz"
      if not path.exists():
        raise SquatDataError(f"{path}: listed in {manifest_path} but missing")
      with np.load(path) as f:
        q, a = f["coordinates"].astype(np.float32), f["activations"].astype(np.float32)
        ok, offsets = f["ok"], f["rep_offsets"]
      for r in range(len(offsets) - 1):
        sl = slice(int(offsets[r]), int(offsets[r + 1]))
        if np.mean(~ok[sl]) > max_failed_fraction:
          dropped += 1
          continue
        out[split]["q"].append(_resample(q[sl], data_rate, rate))
        out[split]["a"].append(_resample(a[sl], data_rate, rate))
        out[split]["subject"].append(str(s))
  log.info("squat data: %d train / %d test repetitions (%d dropped: > 5%% frames next to failed SO solves)",
           len(out["train"]["q"]), len(out["test"]["q"]), dropped)
  if not out["train"]["q"] or not out["test"]["q"]:
    raise SquatDataError(f"{root}: no usable repetitions in one of the splits")
  return out


def load_opencap(root: str | pathlib.Path, rate: float = 60.0, test_fraction: float = 0.2,
                 seed: int = 0) -> dict[str, dict[str, Any]]:
  from motion_jax.data.opencap import ReadSummary, read_opencap_root
  from motion_jax.data.squat_segmentation import segment_repetitions
  summary = ReadSummary()
  trials = read_opencap_root(root, require_activations=True, summary=summary)
  if not trials:
    raise SquatDataError(f"{root}: no muscle-driven trials ({summary.line()})")
  sessions = sorted({t.session for t in trials})
  order = np.random.default_rng(seed).permutation(len(sessions))
  n_test = max(1, int(round(test_fraction * len(sessions)))) if len(sessions) > 1 else 0
  test_sessions = {sessions[i] for i in order[:n_test]}
  out = {"train": _empty(), "test": _empty()}
  for t in trials:
    q = _resample(t.coordinates.astype(np.float32), t.rate, rate)
    a = _resample(t.activations.astype(np.float32), t.rate, rate)
    split = "test" if t.session in test_sessions else "train"
    for rep in segment_repetitions(q, BIGE_COORDINATES, rate):
      out[split]["q"].append(q[rep.start:rep.end])
      out[split]["a"].append(a[rep.start:rep.end])
      out[split]["subject"].append(t.session)
  log.info("%s; %d train / %d test repetitions", summary.line(), len(out["train"]["q"]),
           len(out["test"]["q"]))
  if not out["train"]["q"] or not out["test"]["q"]:
    raise SquatDataError(f"{root}: need repetitions from at least two sessions (train and test)")
  return out


def load_repetitions(*, opencap_root: str | None = None, rate: float = 60.0,
                     max_train_subjects: int | None = None, max_test_subjects: int | None = None,
                     root: pathlib.Path = EMBEDDED_DIR) -> dict[str, dict[str, Any]]:
  if opencap_root:
    return load_opencap(opencap_root, rate)
  return load_embedded(root, rate, {"train": max_train_subjects, "test": max_test_subjects})
