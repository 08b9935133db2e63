"""Shared test settings: quiet logs, repo paths, a subprocess helper, a compilation cache.

The suite runs the same experiments several times in fresh processes (a run, then its rerun,
then launch.py checks); JAX's persistent compilation cache lets those reuse each other's XLA
compilations instead of compiling again: `.cache/jax_compilation_tests` in the repository (git
ignores it), shared by the pytest workers and their subprocesses. Its keys include the jax
version, backend and flags, so a stale entry is never used. Set JAX_COMPILATION_CACHE_DIR to
another folder (or to "" to switch the cache off) before running pytest to override it.

Most of the suite's time is XLA compiling tiny models, not running them. The tests therefore
compile with LLVM's backend optimisation level 1 instead of XLA's default 2
(`--xla_backend_optimization_level=1`, appended to XLA_FLAGS unless it sets a level already; a
test's own XLA_FLAGS replaces it). Measured on the 2-core CPU (2026-12-01): the tiny UNet's loss
gradient compiles in 7.7 s instead of 10.2 s and runs as fast (157 vs 154 ms); the biovae tiny run
takes 206 s instead of 234 s. Level 0 compiles faster still but runs up to 4x slower. Level 1
changes no semantics (no fast-math), only LLVM's optimisation of the generated loops; runs outside
the tests keep XLA's default.
"""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Read by jax when it is first imported (after this file) and inherited by `run_python`.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(REPO / ".cache" / "jax_compilation_tests"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault(
  "JAX_COMPILATION_CACHE_MAX_SIZE", str(2**30)
)  # bytes, least recently used out
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1"
  ).strip()


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
