"""One jitted, data-parallel train step shared by every experiment.

An experiment provides a loss function

    loss_fn(params, mutables, batch, rngs) -> (loss, (metrics, new_mutables))

and gets back `train_step(state, batch) -> (state, metrics)` that applies the optimiser, updates the
EMA parameters and the mutable collections, and reports the loss terms together with the l2 norms
of the gradients, parameters and updates (big_vision style).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from motion_jax.train import sharding as sharding_lib
from motion_jax.train.state import TrainState, step_rngs

LossFn = Callable[[Any, Any, Any, dict], tuple[jax.Array, tuple[dict, Any]]]


def ema_update(ema: Any, params: Any, decay: float) -> Any:
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def make_train_step(
  loss_fn: LossFn,
  tx: optax.GradientTransformation,
  *,
  ema_decay: float,
  rng_names: Sequence[str] = ("dropout", "noise", "sample"),
):
  """Returns an un-jitted pure step; see `jit_train_step` for the sharded compiled version.

  `ema_decay > 0` updates `state.ema_params` (which must then hold a copy of the parameters);
  `0` leaves them as they are (an empty dict: no EMA is kept).
  """

  def train_step(state: TrainState, batch: Any) -> tuple[TrainState, dict]:
    rngs = step_rngs(state, *rng_names)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (metrics, new_mutables)), grads = grad_fn(state.params, state.mutables, batch, rngs)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = ema_update(state.ema_params, params, ema_decay) if ema_decay > 0 else state.ema_params
    metrics = dict(metrics)
    metrics.update(
      loss=loss,
      grad_norm=optax.global_norm(grads),
      param_norm=optax.global_norm(params),
      update_norm=optax.global_norm(updates),
    )
    new_state = state.replace(
      step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema, mutables=new_mutables
    )
    return new_state, jax.tree.map(jnp.asarray, metrics)

  return train_step


def jit_train_step(train_step: Callable, mesh: jax.sharding.Mesh, state_shardings: Any):
  """Compiles the step with the state replicated, the batch sharded on 'data', state donated."""
  return jax.jit(
    train_step,
    in_shardings=(state_shardings, sharding_lib.batch_sharding(mesh)),
    out_shardings=(state_shardings, sharding_lib.replicated(mesh)),
    donate_argnums=(0,),
  )
