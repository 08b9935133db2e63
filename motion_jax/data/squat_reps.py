"""Squat repetitions for BIGE, split by subject: from the embedded dataset or an OpenCap folder.

Returns {'train'|'test': {'q': [[T_r, 33] deg/m], 'a': [[T_r, 80]], 'subject': [str]}} with one
entry per repetition at 60 Hz (BIGE's rate).

The repetitions, the subject split and the resampling are those of the TFDS builder
(`motion_jax.data.squat_tfds.embedded_repetitions` / `opencap_repetitions`), so BIGE and the
Grain loader see the same examples:

* Embedded (`data/squats`, built by data/build_squat_dataset.py): the manifest's subject split.
  Repetitions with more than `max_failed_fraction` (5 %) of their frames flagged as next to a failed
  StaticOptimization solve are dropped and counted; the flagged frames of the others carry
  interpolated activations.
* OpenCap folder (`opencap_root`): sessions are subjects; `<root>/splits.json` or the sha256 rule of
  `squat_tfds.test_sessions`. BIGE needs activations, so IK-only trials are skipped and counted.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

from motion_jax.data import squat_tfds

log = logging.getLogger(__name__)
EMBEDDED_DIR = squat_tfds.EMBEDDED_DIR
RATE = squat_tfds.RATE


class SquatDataError(ValueError):
  """Missing or unusable squat data; the message names the file or folder."""


def _collect(
  reps: dict[str, list], max_subjects: dict[str, int | None], max_failed_fraction: float
):
  out, dropped, no_acts = {}, 0, 0
  for split in ("train", "test"):
    keep = {"q": [], "a": [], "subject": []}
    limit = max_subjects.get(split)
    allowed = list(dict.fromkeys(r.subject for r in reps.get(split, [])))
    allowed = set(allowed[:limit] if limit else allowed)
    for r in reps.get(split, []):
      if r.subject not in allowed:
        continue
      if r.activations is None:
        no_acts += 1
        continue
      if r.flagged_frames > max_failed_fraction * len(r.coordinates):
        dropped += 1
        continue
      keep["q"].append(r.coordinates)
      keep["a"].append(r.activations)
      keep["subject"].append(r.subject)
    out[split] = keep
  return out, dropped, no_acts


def load_repetitions(
  *,
  opencap_root: str | None = None,
  rate: float = RATE,
  max_train_subjects: int | None = None,
  max_test_subjects: int | None = None,
  root: pathlib.Path = EMBEDDED_DIR,
  test_fraction: float = 0.25,
  max_failed_fraction: float = 0.05,
) -> dict[str, dict[str, Any]]:
  """BIGE's squat repetitions (module docstring); `max_*_subjects` keep the first N subjects."""
  if abs(rate - RATE) > 1e-9:
    raise SquatDataError(f"squat repetitions are served at {RATE:g} Hz (BIGE's rate), not {rate:g}")
  try:
    if opencap_root:
      source = pathlib.Path(opencap_root)
      cfg = squat_tfds.SquatConfig(name="opencap", source="opencap", test_fraction=test_fraction)
      reps, summary = squat_tfds.opencap_repetitions(source, cfg)
    else:
      source = pathlib.Path(root)
      reps, summary = squat_tfds.embedded_repetitions(source)
  except FileNotFoundError as e:
    raise SquatDataError(str(e)) from e
  out, dropped, no_acts = _collect(
    reps, {"train": max_train_subjects, "test": max_test_subjects}, max_failed_fraction
  )
  line = (
    f"squat data {source}: {len(out['train']['q'])} train / {len(out['test']['q'])} test "
    "repetitions; "
    f"{dropped} dropped (> {100 * max_failed_fraction:g} % frames next to failed SO solves), "
    f"{no_acts} without activations skipped"
  )
  if summary.get("summary_line"):
    line += f"; {summary['summary_line']}"
  log.info(line)
  if not out["train"]["q"] or not out["test"]["q"]:
    raise SquatDataError(f"{source}: no usable repetitions in one of the splits ({line})")
  return out
