"""Shared test settings: quiet logs, repo paths, a subprocess helper."""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_python(args, *, env_extra=None, timeout=300, check=True, **kwargs):
  """Runs `python args...` from the repo root with the repo importable; returns CompletedProcess."""
  env = dict(os.environ)
  env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
  env.setdefault("PYTHONUNBUFFERED", "1")
  env.update(env_extra or {})
  proc = subprocess.run(
    [sys.executable, *map(str, args)],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    **kwargs,
  )
  if check and proc.returncode != 0:
    raise AssertionError(
      f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
      f"stderr:\n{proc.stderr[-3000:]}"
    )
  return proc


@pytest.fixture
def repo_root():
  return REPO
