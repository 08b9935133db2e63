"""The one artifact store: parameter sets and stage results saved with orbax, stage resumption.

* `save_tree(directory, tree)` / `load_tree(directory)`: any pytree of arrays (trained parameters,
  codebooks, latents, normalisation statistics) through orbax's `StandardCheckpointer`. Saving goes
  to a temporary folder that replaces the old one only when complete, so an interrupted save never
  destroys an earlier result. `load_tree` returns nested dicts of numpy arrays; with `like` it
  restores into that structure.
* `cached_stage(workdir, name, fn, fingerprint)`: a multi-stage experiment's resumption. The first
  call runs `fn() -> (arrays, info)` and stores the arrays under `<workdir>/<name>/arrays` and
  `info` (JSON) with the fingerprint in `<workdir>/<name>/stage.json`, written last: it marks the
  stage done. Later calls with the same fingerprint load the stored result without running `fn`.
  When the fingerprint differs (the stage's config changed) the stage runs again, and a warning
  names the keys that changed; training inside `fn` still resumes from its own checkpoints where
  they fit (`motion_jax.train.loop`).

The fingerprint is a JSON-able dict of everything the stage's result depends on: its config
sections and the fingerprints of the stages it consumes (`StageResult.fingerprint`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pathlib
import shutil
import time
import uuid
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from motion_jax.io import report

log = logging.getLogger(__name__)

PyTree = Any
STAGE_FILE = "stage.json"
ARRAYS_DIR = "arrays"
_EMPTY_KEY = "__zero_size_arrays__"


def _to_numpy(tree: PyTree) -> PyTree:
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)


def _split_empty(tree: PyTree) -> tuple[PyTree, dict[str, list]]:
  """Orbax cannot store zero-size arrays: keep their shape/dtype aside (restored as zeros)."""
  empty = {}

  def keep(path, x):
    if np.size(x) == 0:
      empty[jax.tree_util.keystr(path)] = [list(np.shape(x)), str(np.asarray(x).dtype)]
      return None
    return x

  return jax.tree_util.tree_map_with_path(keep, tree), empty


def save_tree(directory: str | pathlib.Path, tree: PyTree) -> None:
  """Saves a pytree of arrays to `directory` with orbax (atomically replacing an older save)."""
  directory = pathlib.Path(directory).absolute()
  directory.parent.mkdir(parents=True, exist_ok=True)
  tree, empty = _split_empty(_to_numpy(tree))
  tmp = directory.with_name(f".{directory.name}.tmp-{uuid.uuid4().hex[:8]}")
  checkpointer = ocp.StandardCheckpointer()
  try:
    checkpointer.save(tmp / "tree", {"tree": tree})
    checkpointer.wait_until_finished()
    (tmp / "empty.json").write_text(json.dumps(empty))
    if directory.exists():
      old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
      directory.rename(old)
      tmp.rename(directory)
      shutil.rmtree(old)
    else:
      tmp.rename(directory)
  finally:
    checkpointer.close()
    shutil.rmtree(tmp, ignore_errors=True)


def load_tree(directory: str | pathlib.Path, like: PyTree | None = None) -> PyTree:
  """The pytree saved by `save_tree` (numpy leaves); with `like`, in that tree's structure."""
  directory = pathlib.Path(directory).absolute()
  if not (directory / "tree").is_dir():
    raise FileNotFoundError(f"{directory}: no saved arrays (expected {directory / 'tree'})")
  checkpointer = ocp.StandardCheckpointer()
  try:
    tree = checkpointer.restore(directory / "tree")["tree"]
  finally:
    checkpointer.close()
  empty = json.loads((directory / "empty.json").read_text())
  if empty:

    def fill(path, x):
      key = jax.tree_util.keystr(path)
      if key in empty:
        shape, dtype = empty[key]
        return np.zeros(shape, dtype)
      return x

    tree = jax.tree_util.tree_map_with_path(fill, tree, is_leaf=lambda x: x is None)
  if like is None:
    return tree
  leaves = jax.tree.leaves(tree)
  treedef = jax.tree.structure(like)
  if treedef.num_leaves != len(leaves):
    raise ValueError(
      f"{directory}: saved tree has {len(leaves)} leaves, expected {treedef.num_leaves}"
    )
  flat_like, _ = jax.tree_util.tree_flatten_with_path(like)
  saved = dict(
    (jax.tree_util.keystr(p), v) for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]
  )
  return jax.tree.unflatten(treedef, [saved[jax.tree_util.keystr(p)] for p, _ in flat_like])


def fingerprint_digest(fingerprint: Any) -> str:
  return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
  if isinstance(old, dict) and isinstance(new, dict):
    out = []
    for k in sorted(set(old) | set(new)):
      out += _changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")
    return out
  return [] if old == new else [prefix.rstrip(".") or "<all>"]


@dataclasses.dataclass(frozen=True)
class StageResult:
  """What `cached_stage` returns: the stage's arrays, its JSON info and its fingerprint digest
  (pass it to the fingerprints of the stages that consume this one)."""

  arrays: PyTree
  info: dict[str, Any]
  fingerprint: str
  cached: bool


def stage_dir(workdir: str | pathlib.Path, name: str) -> pathlib.Path:
  return pathlib.Path(workdir) / name


def cached_stage(
  workdir: str | pathlib.Path,
  name: str,
  fn: Callable[[], tuple[PyTree, dict[str, Any]]],
  fingerprint: Any,
) -> StageResult:
  """Runs `fn` once per fingerprint and stores its `(arrays, info)`; see the module docstring."""
  directory = stage_dir(workdir, name)
  marker = directory / STAGE_FILE
  fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
  digest = fingerprint_digest(fingerprint)
  if marker.exists():
    stored = json.loads(marker.read_text())
    if stored.get("fingerprint_digest") == digest and (directory / ARRAYS_DIR).is_dir():
      return StageResult(load_tree(directory / ARRAYS_DIR), stored.get("info", {}), digest, True)
    changed = _changed_keys(stored.get("fingerprint"), report.jsonable(fingerprint))
    log.warning(
      "stage %s in %s was made with another config (changed: %s); running it again",
      name,
      directory,
      ", ".join(changed[:12]) or "?",
    )
  directory.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  arrays, info = fn()
  seconds = time.perf_counter() - t0
  save_tree(directory / ARRAYS_DIR, arrays)
  if jax.process_index() == 0:
    report.write_json(
      marker,
      {
        "stage": name,
        "finished": time.time(),
        "seconds": seconds,
        "fingerprint_digest": digest,
        "fingerprint": fingerprint,
        "info": info,
      },
    )
  return StageResult(
    _to_numpy(arrays), json.loads(json.dumps(report.jsonable(info))), digest, False
  )


def load_stage(workdir: str | pathlib.Path, name: str) -> tuple[StageResult, dict[str, Any]]:
  """A finished stage of another run, without running anything: (its StageResult, its stored
  fingerprint). Raises FileNotFoundError naming the folder when the stage is not finished there."""
  directory = stage_dir(workdir, name)
  marker = directory / STAGE_FILE
  if not marker.exists() or not (directory / ARRAYS_DIR).is_dir():
    raise FileNotFoundError(
      f"{directory}: no finished stage {name!r} here (expected {marker} and "
      f"{directory / ARRAYS_DIR})"
    )
  stored = json.loads(marker.read_text())
  result = StageResult(
    load_tree(directory / ARRAYS_DIR), stored.get("info", {}), stored["fingerprint_digest"], True
  )
  return result, stored.get("fingerprint", {})


def load_matching_stage(workdir: str | pathlib.Path, name: str, fingerprint: Any) -> StageResult:
  """A finished stage that was made with ``fingerprint`` (the key `cached_stage` would use), for
  entry points that must not train: FileNotFoundError naming the folder when it is not finished,
  ValueError naming the changed config keys when it was made with another config."""
  result, stored = load_stage(workdir, name)
  fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
  if fingerprint_digest(fingerprint) != result.fingerprint:
    changed = _changed_keys(stored, report.jsonable(fingerprint))
    raise ValueError(
      f"{stage_dir(workdir, name)}: stage {name!r} was made with another config (changed: "
      f"{', '.join(changed[:12]) or '?'})"
    )
  return result


__all__ = [
  "StageResult",
  "cached_stage",
  "fingerprint_digest",
  "load_matching_stage",
  "load_stage",
  "load_tree",
  "save_tree",
  "stage_dir",
]
