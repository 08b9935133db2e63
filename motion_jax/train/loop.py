"""The generic training loop: shape-first sharded init, resume, jitted steps, logging, saves.

Experiments supply an init function, a loss function and a step-indexed batch function; this loop
owns everything else, so every experiment resumes, logs and fails on NaN the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax
from tqdm.auto import tqdm

from motion_jax.train import checkpoint as ckpt_lib
from motion_jax.train import sharding as sharding_lib
from motion_jax.train import step as step_lib
from motion_jax.train.state import TrainState, create_train_state
from motion_jax.train.writers import MetricWriter, to_scalars

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN/inf. Raised before anything is saved, so checkpoints stay good."""

  def __init__(self, step: int, metrics: dict[str, float], workdir: str):
    self.step = step
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    super().__init__(
      f"non-finite loss at train step {step} (the update computed from batch {step}); "
      f"non-finite terms: {bad}. Nothing was saved for this step; the last good checkpoint in "
      f"{workdir} is intact."
    )


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  num_steps: int
  seed: int = 0
  ema_decay: float = 0.999
  log_every: int = 50
  checkpoint_every: int = 500  # 0: only at the end
  keep_checkpoints: int = 3
  init_from: str | None = None
  desc: str = "train"

  @classmethod
  def from_config(cls, cfg: Any, **overrides) -> LoopConfig:
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in dict(cfg).items() if k in fields}
    values.update(overrides)
    return cls(**values)


def progress(iterable, *, total: int | None = None, desc: str = "", initial: int = 0):
  """A progress bar that shows rate and postfix; quiet on non-zero processes."""
  interactive = sys.stderr.isatty()
  return tqdm(
    iterable,
    total=total,
    desc=desc,
    initial=initial,
    dynamic_ncols=True,
    mininterval=0.5 if interactive else 10.0,
    disable=jax.process_index() != 0,
    file=sys.stderr,
  )


def init_state(
  init_fn: Callable[[jax.Array], tuple[Any, Any]],
  tx: optax.GradientTransformation,
  seed: int,
  mesh: jax.sharding.Mesh,
) -> tuple[Callable[[], TrainState], TrainState, Any]:
  """Shape-first init: abstract state -> replicated shardings -> jitted init placed directly."""
  init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))

  def make(init_key, train_key):
    params, mutables = init_fn(init_key)
    return create_train_state(params, mutables, tx, train_key)

  abstract = jax.eval_shape(make, init_key, train_key)
  shardings = jax.tree.map(lambda _: sharding_lib.replicated(mesh), abstract)
  jitted = jax.jit(make, out_shardings=shardings)
  return (
    lambda: jitted(init_key, train_key),
    ckpt_lib.abstract_with_shardings(abstract, shardings),
    shardings,
  )


def train(
  *,
  workdir: str | pathlib.Path,
  loop: LoopConfig,
  init_fn: Callable[[jax.Array], tuple[Any, Any]],
  loss_fn: step_lib.LossFn,
  tx: optax.GradientTransformation,
  batch_fn: Callable[[int], Any],
  mesh: jax.sharding.Mesh | None = None,
  on_log: Callable[[int, dict], None] | None = None,
) -> TrainState:
  """Trains to `loop.num_steps`, resuming from `<workdir>/checkpoints` if present.

  Args:
    workdir: where checkpoints/ and metrics live.
    init_fn: `init_fn(key) -> (params, mutables)`.
    loss_fn: `loss_fn(params, mutables, batch, rngs) -> (loss, (metrics, new_mutables))`.
    tx: the optax optimiser.
    batch_fn: `batch_fn(step) -> this process's rows of the global batch for that step`.
    on_log: optional callback with (step, scalar metrics) at each log step.
  Returns:
    The final TrainState (replicated global arrays).
  """
  workdir = pathlib.Path(workdir)
  mesh = mesh or sharding_lib.make_mesh()
  make_state, abstract, shardings = init_state(init_fn, tx, loop.seed, mesh)
  checkpointer = ckpt_lib.Checkpointer(workdir / "checkpoints", max_to_keep=loop.keep_checkpoints)
  state, origin = ckpt_lib.restore_or_init(checkpointer, make_state, abstract, loop.init_from)
  start = int(state.step)
  log.info("%s: %s (step %d of %d)", loop.desc, origin, start, loop.num_steps)
  if start >= loop.num_steps:
    checkpointer.close()
    return state

  step_fn = step_lib.jit_train_step(
    step_lib.make_train_step(loss_fn, tx, ema_decay=loop.ema_decay), mesh, shardings
  )
  writer = MetricWriter(workdir, name=loop.desc)
  bar = progress(range(start, loop.num_steps), total=loop.num_steps, initial=start, desc=loop.desc)
  t0, last_step = time.perf_counter(), start
  try:
    for step in bar:
      batch = sharding_lib.shard_batch(batch_fn(step), mesh)
      state, metrics = step_fn(state, batch)
      loss = float(metrics["loss"])
      if not math.isfinite(loss):
        raise NonFiniteLossError(step, to_scalars(metrics), str(workdir))
      done = step + 1
      if done % loop.log_every == 0 or done == loop.num_steps:
        scalars = to_scalars(metrics)
        now = time.perf_counter()
        scalars["steps_per_sec"] = (done - last_step) / max(now - t0, 1e-9)
        t0, last_step = now, done
        writer.write(done, scalars)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if on_log is not None:
          on_log(done, scalars)
      if loop.checkpoint_every and done % loop.checkpoint_every == 0 and done < loop.num_steps:
        checkpointer.save(done, state)
    checkpointer.save(loop.num_steps, state)
    checkpointer.wait()
  finally:
    bar.close()
    writer.close()
    checkpointer.close()
  return state


def to_numpy(tree: Any) -> Any:
  """Host copy of a (replicated) pytree."""
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)
