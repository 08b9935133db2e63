"""A tiny regression problem that exercises every part of the train package.

Used in-process by the tests and as a script (`python tests/train/toy.py --workdir ...`) by the
kill/resume, multi-device and multi-process tests.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np


def make_problem(nan_at_step: int = -1, hidden: int = 32):
  import flax.linen as nn
  import jax
  import jax.numpy as jnp

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):  # [B, 4]
      mean = self.variable("stats", "input_mean", jnp.zeros, (x.shape[-1],))
      if not self.is_initializing():
        mean.value = 0.9 * mean.value + 0.1 * x.mean(0)  # a mutable collection, like codebook EMA
      return nn.Dense(1)(nn.gelu(nn.Dense(hidden)(x)))  # [B, 1]

  rng = np.random.default_rng(0)
  x = rng.normal(size=(256, 4)).astype(np.float32)
  y = np.sin(x @ np.array([1.0, -2.0, 0.5, 0.3], np.float32))[:, None]
  examples = [{"x": x[i], "y": y[i]} for i in range(len(x))]
  net = Net()

  def init_fn(key):
    variables = net.init(key, jnp.zeros((1, 4)))
    return variables["params"], {"stats": variables["stats"]}

  def loss_fn(params, mutables, batch, rngs):
    pred, new = net.apply({"params": params, **mutables}, batch["x"], mutable=["stats"])
    noise = 1e-3 * jax.random.normal(rngs["noise"], pred.shape)  # uses the per-step RNG
    loss = jnp.mean((pred + noise - batch["y"]) ** 2)
    if nan_at_step >= 0:
      loss = jnp.where(batch["step"][0] == nan_at_step, jnp.nan, loss)
    return loss, ({"mse": loss}, dict(new))

  def transform(ex, rng):
    return ex

  return init_fn, loss_fn, examples


def batch_fn_for(examples, batch_size, seed, with_step=False):
  from motion_jax.data.batching import StepBatcher

  batcher = StepBatcher(examples, batch_size=batch_size, seed=seed)
  if not with_step:
    return batcher

  def fn(step):
    b = batcher(step)
    b["step"] = np.full((len(b["x"]),), step, np.int32)
    return b

  return fn


def run(
  workdir,
  num_steps,
  checkpoint_every=5,
  sleep=0.0,
  nan_at_step=-1,
  devices=None,
  batch_size=16,
  seed=0,
  ema_decay=0.9,
  hidden=32,
  log_every=1,
):
  import jax

  from motion_jax.train import loop, optim, sharding

  init_fn, loss_fn, examples = make_problem(nan_at_step, hidden)
  batcher = batch_fn_for(examples, batch_size, seed, with_step=nan_at_step >= 0)

  def batch_fn(step):
    if sleep:
      time.sleep(sleep)
    return batcher(step)

  tx = optim.make_optimizer(
    optim.OptimConfig(learning_rate=3e-3, warmup_steps=3, schedule="cosine"), total_steps=100
  )
  mesh = sharding.make_mesh(jax.devices()[:devices] if devices else None)
  cfg = loop.LoopConfig(
    num_steps=num_steps,
    ema_decay=ema_decay,
    log_every=log_every,
    checkpoint_every=checkpoint_every,
    keep_checkpoints=3,
  )
  return loop.train(
    workdir=workdir,
    loop=cfg,
    init_fn=init_fn,
    loss_fn=loss_fn,
    tx=tx,
    batch_fn=batch_fn,
    seed=seed,
    mesh=mesh,
  )


def flat_params(state) -> np.ndarray:
  import jax

  leaves = jax.tree.leaves(
    jax.device_get({"p": state.params, "e": state.ema_params, "m": state.mutables})
  )
  return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--workdir", required=True)
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--checkpoint_every", type=int, default=5)
  p.add_argument("--sleep", type=float, default=0.0)
  p.add_argument("--devices", type=int, default=0)
  p.add_argument("--out", default="")
  p.add_argument("--coordinator", default="")
  p.add_argument("--num_processes", type=int, default=1)
  p.add_argument("--process_id", type=int, default=0)
  p.add_argument("--die_after_init", action="store_true")
  p.add_argument("--heartbeat", type=int, default=10)
  a = p.parse_args()
  import jax

  if a.num_processes > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
      a.coordinator,
      a.num_processes,
      a.process_id,
      heartbeat_timeout_seconds=a.heartbeat,
      initialization_timeout=60,
    )
    if a.die_after_init:
      print("dying on purpose", flush=True)
      os._exit(3)
  state = run(a.workdir, a.steps, a.checkpoint_every, a.sleep, devices=a.devices or None)
  if a.out:
    np.save(a.out, flat_params(state))
  print(
    json.dumps(
      {"step": int(state.step), "process": jax.process_index(), "devices": jax.device_count()}
    ),
    flush=True,
  )


if __name__ == "__main__":
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
  main()
