"""XLA compilation: JAX's persistent compilation cache for runs, and compile time per function.

* `enable_cache(directory)`: turns on JAX's persistent compilation cache in `directory` (created if
  missing), so a second run of the same experiment loads its XLA executables instead of compiling
  them again. Entries are keyed by the computation, jax/jaxlib version, backend and flags, so a
  stale one is never used. Without a directory: JAX's own `JAX_COMPILATION_CACHE_DIR` if set (the
  test suite sets it), else `default_cache_dir()` = `$MOTION_JAX_COMPILATION_CACHE`, else
  `$XDG_CACHE_HOME/motion_jax/jax_compilation` (`~/.cache/...`). An empty string switches it off.
* `CompileTimer`: records XLA backend-compile seconds per jitted function (JAX's monitoring event
  `/jax/core/compile/backend_compile_duration`) while it is active; `summary()` gives the total
  and the slowest functions, which launch.py writes to `<workdir>/compile.json`.
"""

from __future__ import annotations

import collections
import os
import pathlib
from typing import Any

import jax

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
#: Cache every compilation. With JAX's default threshold (1 s) or 0.5 s, a second bige quick run
#: still spent 6.3 s of the first run's 30.7 s compiling (20 %), in dozens of sub-second functions;
#: with 0: 3.8 of 46.6 s (8 %), 53 entries, 20 MB (2026-12-02).
MIN_COMPILE_SECONDS = 0.0


def default_cache_dir() -> str:
  if "MOTION_JAX_COMPILATION_CACHE" in os.environ:
    return os.environ["MOTION_JAX_COMPILATION_CACHE"]
  base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
  return str(pathlib.Path(base) / "motion_jax" / "jax_compilation")


def enable_cache(directory: str | None = None) -> str:
  """Enables the persistent cache in `directory` ('' = off; None = `JAX_COMPILATION_CACHE_DIR`
  if set, else `default_cache_dir()`); returns the folder in use ('' if none)."""
  if directory is None:
    if os.environ.get("JAX_COMPILATION_CACHE_DIR") is not None:
      return os.environ["JAX_COMPILATION_CACHE_DIR"]
    directory = default_cache_dir()
  if not directory:
    jax.config.update("jax_compilation_cache_dir", None)
    return ""
  path = pathlib.Path(directory).expanduser()
  path.mkdir(parents=True, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", str(path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  return str(path)


class CompileTimer:
  """Accumulates backend-compile seconds per function name while registered (a context manager)."""

  def __init__(self):
    self.seconds: dict[str, float] = collections.defaultdict(float)
    self.count: dict[str, int] = collections.defaultdict(int)

  def _listener(self, event: str, duration: float, **kwargs: Any) -> None:
    if event == COMPILE_EVENT:
      name = str(kwargs.get("fun_name", "?"))
      self.seconds[name] += duration
      self.count[name] += 1

  def __enter__(self) -> CompileTimer:
    jax.monitoring.register_event_duration_secs_listener(self._listener)
    return self

  def __exit__(self, *exc) -> None:
    from jax._src import monitoring  # no public unregister in jax 0.10

    monitoring.unregister_event_duration_listener(self._listener)

  def summary(self, top: int = 15) -> dict[str, Any]:
    by = sorted(self.seconds.items(), key=lambda kv: -kv[1])
    return {
      "compile_seconds_total": float(sum(self.seconds.values())),
      "compilations": int(sum(self.count.values())),
      "slowest": [
        {"function": k, "seconds": round(v, 3), "compilations": self.count[k]} for k, v in by[:top]
      ],
    }


__all__ = ["CompileTimer", "default_cache_dir", "enable_cache"]
