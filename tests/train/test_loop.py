"""The training loop: learning, logging, resume, NaN handling, corrupt checkpoints, recompiles."""

import logging
import shutil

import jax
import numpy as np
import pytest

from motion_jax.train import loop, writers
from tests.train import toy


def test_loss_goes_down_and_metrics_are_logged(tmp_path):
  state = toy.run(tmp_path, num_steps=60, checkpoint_every=20)
  rows = writers.read_jsonl(tmp_path / "train.jsonl")
  assert [r["step"] for r in rows] == list(range(1, 61))
  first, last = np.mean([r["mse"] for r in rows[:5]]), np.mean([r["mse"] for r in rows[-5:]])
  assert last < 0.7 * first, (first, last)
  for key in ("loss", "grad_norm", "param_norm", "update_norm", "steps_per_sec"):
    assert np.isfinite(rows[-1][key])
  assert list((tmp_path / "tensorboard" / "train").glob("events.out.tfevents.*"))
  assert int(state.step) == 60
  # EMA params lag the params; mutable collection was updated by the step.
  assert not np.allclose(toy.flat_params(state)[:10], 0)
  assert float(np.abs(jax.device_get(state.mutables["stats"]["input_mean"])).sum()) > 0


def test_resume_in_process_equals_uninterrupted(tmp_path):
  full = toy.flat_params(toy.run(tmp_path / "a", num_steps=30, checkpoint_every=10))
  toy.run(tmp_path / "b", num_steps=20, checkpoint_every=10)  # "stops" at 20
  resumed = toy.flat_params(toy.run(tmp_path / "b", num_steps=30, checkpoint_every=10))
  np.testing.assert_allclose(resumed, full, atol=1e-6, rtol=0)


def test_nan_loss_raises_with_step_and_keeps_last_checkpoint(tmp_path):
  with pytest.raises(loop.NonFiniteLossError, match="train step 12") as err:
    toy.run(tmp_path, num_steps=30, checkpoint_every=5, nan_at_step=12)
  assert err.value.step == 12
  from motion_jax.train.checkpoint import Checkpointer

  ckpt = Checkpointer(tmp_path / "checkpoints")
  assert ckpt.steps()[-1] == 10
  ckpt.close()
  # The run resumes from the last good checkpoint (step 10) and completes once the cause is gone.
  state = toy.run(tmp_path, num_steps=30, checkpoint_every=5)
  assert int(state.step) == 30 and np.all(np.isfinite(toy.flat_params(state)))


def test_nan_between_logs_still_names_its_step_and_is_never_checkpointed(tmp_path):
  """Metrics stay on device between logs; the check before each checkpoint still catches a NaN
  at the step it happened, and nothing after it is saved."""
  with pytest.raises(loop.NonFiniteLossError, match="train step 12") as err:
    toy.run(tmp_path, num_steps=30, checkpoint_every=5, nan_at_step=12, log_every=100)
  assert err.value.step == 12
  from motion_jax.train.checkpoint import Checkpointer

  ckpt = Checkpointer(tmp_path / "checkpoints")
  assert ckpt.steps()[-1] == 10
  ckpt.close()
  with pytest.raises(loop.NonFiniteLossError, match="train step 7"):
    toy.run(tmp_path / "b", num_steps=9, checkpoint_every=0, nan_at_step=7, log_every=100)
  assert (
    not (tmp_path / "b" / "checkpoints").exists()
    or not Checkpointer(tmp_path / "b" / "checkpoints").steps()
  )


def test_corrupt_newest_checkpoint_is_skipped_with_warning(tmp_path, caplog):
  toy.run(tmp_path, num_steps=20, checkpoint_every=10)  # checkpoints 10, 20
  newest = tmp_path / "checkpoints" / "20"
  # Corrupt every array file of the newest checkpoint (truncate to garbage).
  files = [p for p in (newest / "state").rglob("*") if p.is_file()]
  assert files
  for p in files:
    p.write_bytes(b"\x00garbage")
  reference = toy.flat_params(toy.run(tmp_path / "ref", num_steps=25, checkpoint_every=10))
  with caplog.at_level(logging.WARNING):
    state = toy.run(tmp_path, num_steps=25, checkpoint_every=10)
  assert "checkpoints/20 is unreadable" in caplog.text
  # It resumed from 10 (not scratch) and so ends exactly where an uninterrupted run does.
  np.testing.assert_allclose(toy.flat_params(state), reference, atol=1e-6)


def test_partial_checkpoint_directory_is_ignored(tmp_path):
  toy.run(tmp_path, num_steps=10, checkpoint_every=5)
  # An interrupted save leaves a temporary directory; it must not be mistaken for a checkpoint.
  shutil.copytree(
    tmp_path / "checkpoints" / "10", tmp_path / "checkpoints" / "15.orbax-checkpoint-tmp-1234"
  )
  state = toy.run(tmp_path, num_steps=12, checkpoint_every=5)
  assert int(state.step) == 12


def test_second_call_of_train_step_compiles_nothing():
  from motion_jax.train import optim, sharding
  from motion_jax.train import step as step_lib

  init_fn, loss_fn, examples = toy.make_problem()
  tx = optim.make_optimizer(optim.OptimConfig(learning_rate=1e-3))
  mesh = sharding.make_mesh()
  make_state, _, shardings = loop.init_state(init_fn, tx, 0, mesh, ema=True)
  fn = step_lib.jit_train_step(
    step_lib.make_train_step(loss_fn, tx, ema_decay=0.9), mesh, shardings
  )
  batcher = toy.batch_fn_for(examples, 8, 0)
  state = make_state()
  state, _ = fn(state, sharding.shard_batch(batcher(0), mesh))
  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
    lambda name, *a, **k: compiles.append(name) if "backend_compile" in name else None
  )
  for s in range(1, 4):
    state, m = fn(state, sharding.shard_batch(batcher(s), mesh))
  jax.block_until_ready(m)
  assert compiles == [], compiles
  assert fn._cache_size() == 1


def test_ema_is_kept_only_when_configured_and_then_evaluated(tmp_path):
  from motion_jax.train.state import eval_params

  plain = toy.run(tmp_path / "plain", num_steps=10, ema_decay=0.0)
  assert plain.ema_params == {} and eval_params(plain) is plain.params
  with_ema = toy.run(tmp_path / "ema", num_steps=10, ema_decay=0.9)
  ema, params = jax.device_get(with_ema.ema_params), jax.device_get(with_ema.params)
  lag = max(
    float(np.abs(e - p).max()) for e, p in zip(jax.tree.leaves(ema), jax.tree.leaves(params))
  )
  assert lag > 1e-6  # the EMA lags the parameters...
  assert eval_params(with_ema) is with_ema.ema_params  # ...and evaluation uses it
  # Without EMA the parameters are the same as with it: the EMA never feeds back.
  np.testing.assert_array_equal(
    np.concatenate([np.ravel(x) for x in jax.tree.leaves(jax.device_get(plain.params))]),
    np.concatenate([np.ravel(x) for x in jax.tree.leaves(params)]),
  )


def test_checkpoints_of_a_differently_shaped_model_are_moved_aside(tmp_path, caplog):
  toy.run(tmp_path, num_steps=10, checkpoint_every=5, hidden=32)
  with caplog.at_level(logging.WARNING):
    state = toy.run(tmp_path, num_steps=6, checkpoint_every=5, hidden=8)  # another model
  assert "differently shaped state" in caplog.text
  aside = [p for p in tmp_path.iterdir() if p.name.startswith("checkpoints.")]
  assert len(aside) == 1 and sorted(p.name for p in aside[0].iterdir() if p.name.isdigit()) == [
    "10",
    "5",
  ]
  assert int(state.step) == 6  # trained from scratch, not resumed from step 10
  rows = writers.read_jsonl(tmp_path / "train.jsonl")
  assert [r["step"] for r in rows][-6:] == list(range(1, 7))
