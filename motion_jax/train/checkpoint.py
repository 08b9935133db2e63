"""Orbax checkpointing with automatic resume.

Resume order (the one place it is decided, `restore_or_init`):
  1. the newest readable checkpoint in `<workdir>/checkpoints` (a corrupt or partial newest
     checkpoint is skipped with a warning and the one before it is used);
  2. otherwise `init_from`, a directory holding checkpoints of another run: its params, EMA params
     and mutable collections are loaded, while step, optimiser state and RNG start fresh;
  3. otherwise a fresh initialisation from the seed.

A checkpoint directory records the signature of the state it holds (tree paths, shapes, dtypes) in
`state_signature.json`. When a run starts with a state of another signature (the model or the
optimiser changed), `set_aside_if_incompatible` moves the old directory to
`checkpoints.<old signature>` instead of mixing incompatible steps; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import orbax.checkpoint as ocp

from motion_jax.train.state import TrainState

log = logging.getLogger(__name__)


SIGNATURE_FILE = "state_signature.json"


def state_signature(abstract_state: Any) -> str:
  """sha256 of the state's tree paths, shapes and dtypes (not its values)."""
  flat, _ = jax.tree_util.tree_flatten_with_path(abstract_state)
  desc = [(jax.tree_util.keystr(p), tuple(x.shape), str(x.dtype)) for p, x in flat]
  return hashlib.sha256(repr(desc).encode()).hexdigest()


def set_aside_if_incompatible(directory: str | pathlib.Path, signature: str) -> pathlib.Path | None:
  """Moves `directory` to `<directory>.<old signature[:12]>` when it holds checkpoints of a state
  with another signature; returns the new location, or None when nothing was moved."""
  directory = pathlib.Path(directory)
  file = directory / SIGNATURE_FILE
  if not file.exists() or jax.process_index() != 0:
    return None
  stored = json.loads(file.read_text()).get("signature", "")
  if stored == signature:
    return None
  aside = directory.with_name(f"{directory.name}.{stored[:12] or 'unknown'}")
  n = 1
  while aside.exists():
    aside = directory.with_name(f"{directory.name}.{stored[:12] or 'unknown'}-{n}")
    n += 1
  directory.rename(aside)
  log.warning(
    "%s holds checkpoints of a differently shaped state (model or optimiser changed); moved them "
    "to %s and starting afresh",
    directory,
    aside,
  )
  return aside


class Checkpointer:
  """Periodic saves of a `TrainState` (+ a small JSON record) with keep-N retention."""

  def __init__(
    self, directory: str | pathlib.Path, *, max_to_keep: int = 3, signature: str | None = None
  ):
    self.directory = pathlib.Path(directory).absolute()
    self.signature = signature
    self._manager = ocp.CheckpointManager(
      self.directory,
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
      item_names=("state", "meta"),
    )

  def steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: TrainState, meta: dict | None = None) -> None:
    if self.signature is not None and jax.process_index() == 0:
      file = self.directory / SIGNATURE_FILE
      if not file.exists():
        file.write_text(json.dumps({"signature": self.signature}) + "\n")
    self._manager.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {})
      ),
    )

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()

  def restore_latest(self, abstract_state: TrainState) -> tuple[TrainState, int] | None:
    """Newest checkpoint that restores cleanly, or None when there is none."""
    for step in reversed(self.steps()):
      try:
        restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
        )
        return restored["state"], step
      except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is skipped, not fatal
        log.warning(
          "checkpoint %s/%d is unreadable (%s: %s); trying the previous one",
          self.directory,
          step,
          type(err).__name__,
          str(err).splitlines()[0][:200],
        )
    return None


def abstract_with_shardings(abstract: Any, shardings: Any) -> Any:
  return jax.tree.map(
    lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings
  )


def restore_or_init(
  checkpointer: Checkpointer,
  init_state: Callable[[], TrainState],
  abstract_state: TrainState,
  init_from: str | None = None,
) -> tuple[TrainState, str]:
  """Applies the resume order documented at the top of this module.

  Returns the state and a one-line description of where it came from.
  """
  restored = checkpointer.restore_latest(abstract_state)
  if restored is not None:
    state, step = restored
    return state, f"resumed from {checkpointer.directory}/{step}"
  state = init_state()
  if init_from:
    source = Checkpointer(
      pathlib.Path(init_from) / "checkpoints"
      if (pathlib.Path(init_from) / "checkpoints").is_dir()
      else init_from
    )
    loaded = source.restore_latest(abstract_state)
    source.close()
    if loaded is None:
      raise FileNotFoundError(f"config.init_from={init_from!r}: no readable checkpoint there")
    other, step = loaded
    state = state.replace(params=other.params, ema_params=other.ema_params, mutables=other.mutables)
    return state, f"initialised from {init_from} step {step}"
  return state, "initialised from scratch"
