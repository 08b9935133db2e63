"""The generic training loop: shape-first sharded init, resume, jitted steps, logging, saves.

Experiments supply an init function, a loss function and a step-indexed batch function; this loop
owns everything else, so every experiment resumes, logs and fails on NaN the same way.
"""

from __future__ import annotations

import concurrent.futures
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
  """How long to train and how a run is logged, checkpointed and resumed."""

  num_steps: int = 1000
  log_every: int = 50
  checkpoint_every: int = 500  # 0: only at the end
  keep_checkpoints: int = 3
  # 0: no EMA of the parameters is kept; > 0: the EMA is kept and evaluation uses it
  # (`motion_jax.train.state.eval_params`), for methods whose paper evaluates EMA weights.
  ema_decay: float = 0.0
  init_from: str = ""  # a run's workdir (or its checkpoints/) to initialise from; "" = none

  def __post_init__(self):
    if self.num_steps < 0 or self.log_every < 1 or self.checkpoint_every < 0:
      raise ValueError(
        f"loop: num_steps >= 0, log_every >= 1 and checkpoint_every >= 0 needed, got {self}"
      )
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"loop.ema_decay must be in [0, 1), got {self.ema_decay}")


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
  ema: bool = False,
) -> tuple[Callable[[], TrainState], TrainState, Any]:
  """Shape-first init: abstract state -> replicated shardings -> jitted init placed directly."""
  init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))

  def make(init_key, train_key):
    params, mutables = init_fn(init_key)
    return create_train_state(params, mutables, tx, train_key, ema)

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
  seed: int = 0,
  desc: str = "train",
  mesh: jax.sharding.Mesh | None = None,
  on_log: Callable[[int, dict], None] | None = None,
) -> TrainState:
  """Trains to `loop.num_steps`, resuming from `<workdir>/checkpoints` if present.

  Checkpoints of a state with other shapes (the model or optimiser changed) are not resumed
  from: they are moved aside to `checkpoints.<signature>` with a warning and training starts
  over; a longer `num_steps` resumes and continues.

  Args:
    workdir: where checkpoints/ and metrics (`<desc>.jsonl`, TensorBoard) live.
    loop: length, logging, checkpointing, EMA, init_from.
    init_fn: `init_fn(key) -> (params, mutables)`.
    loss_fn: `loss_fn(params, mutables, batch, rngs) -> (loss, (metrics, new_mutables))`.
    tx: the optax optimiser.
    batch_fn: `batch_fn(step) -> this process's rows of the global batch for that step`.
    seed: initialisation and per-step RNG seed.
    desc: name of the progress bar and of the metrics file.
    on_log: optional callback with (step, scalar metrics) at each log step.
  Returns:
    The final TrainState (replicated global arrays).
  """
  workdir = pathlib.Path(workdir)
  mesh = mesh or sharding_lib.make_mesh()
  make_state, abstract, shardings = init_state(init_fn, tx, seed, mesh, ema=loop.ema_decay > 0)
  signature = ckpt_lib.state_signature(abstract)
  ckpt_lib.set_aside_if_incompatible(workdir / "checkpoints", signature)
  checkpointer = ckpt_lib.Checkpointer(
    workdir / "checkpoints", max_to_keep=loop.keep_checkpoints, signature=signature
  )
  state, origin = ckpt_lib.restore_or_init(
    checkpointer, make_state, abstract, loop.init_from or None
  )
  start = int(state.step)
  log.info("%s: %s (step %d of %d)", desc, origin, start, loop.num_steps)
  if start >= loop.num_steps:
    checkpointer.close()
    return state

  step_fn = step_lib.jit_train_step(
    step_lib.make_train_step(loss_fn, tx, ema_decay=loop.ema_decay), mesh, shardings
  )
  writer = MetricWriter(workdir, name=desc)
  bar = progress(range(start, loop.num_steps), total=loop.num_steps, initial=start, desc=desc)
  t0, last_step = time.perf_counter(), start
  # The host never waits for a step: batches are prepared one step ahead on a worker thread, and
  # the per-step metrics stay on device until the next log or checkpoint, where they are fetched
  # together and checked; a non-finite loss still raises naming the step it happened at, before
  # any later checkpoint is written.
  prefetch = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
  pending: list[tuple[int, Any]] = []

  def check(pending):
    if not pending:
      return None
    fetched = jax.device_get([m for _, m in pending])
    for (s_, _), m in zip(pending, fetched):
      if not math.isfinite(float(m["loss"])):
        raise NonFiniteLossError(s_, to_scalars(m), str(workdir))
    return fetched[-1]

  try:
    nxt = prefetch.submit(batch_fn, start)
    for step in bar:
      batch = sharding_lib.shard_batch(nxt.result(), mesh)
      if step + 1 < loop.num_steps:
        nxt = prefetch.submit(batch_fn, step + 1)
      state, metrics = step_fn(state, batch)
      pending.append((step, metrics))
      done = step + 1
      log_now = done % loop.log_every == 0 or done == loop.num_steps
      save_now = loop.checkpoint_every and done % loop.checkpoint_every == 0
      if log_now or save_now:
        last = check(pending)
        pending = []
      if log_now:
        scalars = to_scalars(last)
        now = time.perf_counter()
        scalars["steps_per_sec"] = (done - last_step) / max(now - t0, 1e-9)
        t0, last_step = now, done
        writer.write(done, scalars)
        bar.set_postfix(loss=f"{scalars['loss']:.4g}", refresh=False)
        if on_log is not None:
          on_log(done, scalars)
      if save_now and done < loop.num_steps:
        checkpointer.save(done, state)
    check(pending)
    checkpointer.save(loop.num_steps, state)
    checkpointer.wait()
  finally:
    prefetch.shutdown(wait=True, cancel_futures=True)
    bar.close()
    writer.close()
    checkpointer.close()
  return state


def to_numpy(tree: Any) -> Any:
  """Host copy of a (replicated) pytree."""
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)
