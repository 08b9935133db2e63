"""Classifier-free guidance (Ho & Salimans 2022): condition dropout in training and the guided
prediction at sampling, in one batched model call.

* `drop_condition`: keep-mask ``[B]`` with each condition dropped independently with probability
  ``p`` (Ho & Salimans Algorithm 1, p_uncond; 0.1 in StableMoFusion's code and MDM).
* `guide`: uncond + s (cond - uncond) (Ho & Salimans eq. 6 with s = 1 + w). The combination has
  weights summing to 1, so guiding x0-, eps- or v-outputs is the same at a fixed x_t (the
  conversions are affine in the output); StableMoFusion guides its x0 output, scale 2.5.
* `guided_model_fn`: the conditional and unconditional rows stacked on the batch axis and the
  denoiser applied once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
DEFAULT_SCALE = 2.5  # BioVAE Sec. IV-F / StableMoFusion
DEFAULT_DROP_PROB = 0.1  # StableMoFusion code, MDM


def drop_condition(key: Array, batch_size: int, p: float = DEFAULT_DROP_PROB) -> Array:
  """``[B]`` bool, False where the condition is dropped (probability ``p``, independent)."""
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"condition drop probability must be in [0, 1], got {p}")
  return jax.random.uniform(key, (batch_size,)) >= p


def guide(cond_out: Array, uncond_out: Array, scale: float | Array) -> Array:
  """Ho & Salimans 2022 eq. 6 written with s = 1 + w: uncond + s (cond - uncond)."""
  return uncond_out + scale * (cond_out - uncond_out)


def guided_model_fn(
  apply: Callable[[Array, Array, Any, Array], Array], cond: Any, scale: float | Array
) -> Callable[[Array, Array], Array]:
  """A sampler's ``model_fn(x, t)`` from ``apply(x, t, cond, keep [B]) -> output``.

  The batch is doubled (the same x and t, keep = True then False) and ``apply`` called once; the
  condition pytree's leaves are repeated on their batch axis."""

  def model_fn(x: Array, t: Array) -> Array:
    b = x.shape[0]
    x2 = jnp.concatenate([x, x], axis=0)
    t2 = jnp.concatenate([t, t], axis=0)
    c2 = jax.tree.map(lambda c: jnp.concatenate([c, c], axis=0), cond)
    keep = jnp.concatenate([jnp.ones((b,), bool), jnp.zeros((b,), bool)])
    out = apply(x2, t2, c2, keep)
    return guide(out[:b], out[b:], scale)

  return model_fn


__all__ = ["DEFAULT_DROP_PROB", "DEFAULT_SCALE", "drop_condition", "guide", "guided_model_fn"]
