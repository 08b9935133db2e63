"""Run records and metric streams: config/commit/seed at start, JSON lines + TensorBoard events.

Only process 0 writes; other processes get no-op writers.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def git_commit() -> dict[str, Any]:
  """The commit of the code that ran, and whether the tree had local changes."""

  def _git(*args: str) -> str | None:
    try:
      out = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
      )
      return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
      return None

  commit = _git("rev-parse", "HEAD")
  status = _git("status", "--porcelain", "--untracked-files=no")
  return {"commit": commit, "dirty": bool(status) if status is not None else None}


def write_run_info(
  workdir: str | pathlib.Path, config: Any, *, seed: int, experiment: str, precision: str = ""
) -> None:
  """Writes config.json (resolved config) and run_info.json (commit, seed, argv, devices, the
  matmul precision policy and JAX's setting of it)."""
  if jax.process_index() != 0:
    return
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  cfg_json = (
    config.to_json_best_effort(indent=2)
    if hasattr(config, "to_json_best_effort")
    else json.dumps(config, indent=2, default=str)
  )
  (workdir / "config.json").write_text(cfg_json + "\n")
  info = {
    "experiment": experiment,
    "seed": seed,
    "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "argv": sys.argv,
    "git": git_commit(),
    "jax_version": jax.__version__,
    "backend": jax.default_backend(),
    "devices": jax.device_count(),
    "processes": jax.process_count(),
    "precision_policy": precision,
    "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
    "hostname": os.uname().nodename,
  }
  history = workdir / "run_info.jsonl"  # one line per (re)start, so resumes are visible
  with history.open("a") as f:
    f.write(json.dumps(info) + "\n")
  (workdir / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")


def to_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
  out = {}
  for k, v in metrics.items():
    arr = np.asarray(v)
    if arr.size == 1:
      out[k] = float(arr.reshape(()))
  return out


class MetricWriter:
  """Appends `{"step": s, **metrics}` lines to <dir>/<name>.jsonl and TensorBoard events."""

  def __init__(
    self, directory: str | pathlib.Path, name: str = "metrics", tensorboard: bool = True
  ):
    self.enabled = jax.process_index() == 0
    self._tb = None
    if not self.enabled:
      return
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    self.path = directory / f"{name}.jsonl"
    self._file = self.path.open("a")
    if tensorboard:
      from tensorboardX import SummaryWriter  # local import: heavy

      self._tb = SummaryWriter(str(directory / "tensorboard" / name))

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    scalars = to_scalars(metrics)
    row = {
      "step": int(step),
      **{k: (v if math.isfinite(v) else str(v)) for k, v in scalars.items()},
    }
    self._file.write(json.dumps(row) + "\n")
    self._file.flush()
    if self._tb is not None:
      for k, v in scalars.items():
        self._tb.add_scalar(k, v, int(step))

  def close(self) -> None:
    if not self.enabled:
      return
    self._file.close()
    if self._tb is not None:
      self._tb.close()


def read_jsonl(path: str | pathlib.Path) -> list[dict]:
  return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
