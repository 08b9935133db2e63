"""The one train-state pytree every experiment trains.

`TrainState` holds everything a step reads and writes, so a checkpoint of it is a full resume point:
parameters, optimiser state, an EMA copy of the parameters (an empty dict when the run keeps no
EMA, `LoopConfig.ema_decay == 0`), mutable model collections (e.g. VQ codebook statistics), the
step counter and the base RNG key (raw uint32, so it checkpoints as a plain array).
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # [] int32
  params: PyTree
  opt_state: optax.OptState
  ema_params: PyTree  # {} when no EMA is kept
  mutables: PyTree  # flax collections other than 'params', e.g. {'codebook': ...}
  rng: jax.Array  # [2] uint32, base key; per-step keys are fold_in(rng, step)


def create_train_state(
  params: PyTree,
  mutables: PyTree,
  tx: optax.GradientTransformation,
  rng: jax.Array,
  ema: bool = False,
) -> TrainState:
  """Builds a step-0 state; pure, so it can be traced by `jax.eval_shape` and `jax.jit`."""
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    opt_state=tx.init(params),
    ema_params=jax.tree.map(jnp.copy, params) if ema else {},
    mutables=mutables,
    rng=rng,
  )


def eval_params(state: TrainState) -> PyTree:
  """The parameters to evaluate with: the EMA copy when the run keeps one, else the parameters."""
  return state.ema_params if has_ema(state) else state.params


def has_ema(state: TrainState) -> bool:
  return bool(jax.tree.leaves(state.ema_params))


def step_rngs(state: TrainState, *names: str) -> dict[str, jax.Array]:
  """Named per-step RNG streams: fold_in(fold_in(base, step), hash(name))."""
  key = jax.random.fold_in(state.rng, state.step)
  return {name: jax.random.fold_in(key, _stable_hash(name)) for name in names}


def _stable_hash(name: str) -> int:
  # Python's hash() is salted per process; multi-process runs need the same stream on every host.
  return int.from_bytes(name.encode()[:4].ljust(4, b"\0"), "little") % (2**31 - 1)
