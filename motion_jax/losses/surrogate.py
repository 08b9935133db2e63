"""BIGE muscle-surrogate objective (BIGE Sec. 3.2, the unnumbered L1 equation after eq. 3):

    L = 1/(T M) sum_t sum_m |A_tm - A_hat_tm|

the mean absolute error between simulated activations A and predicted A_hat over T frames and M
muscles. The public code trains with an activation-weighted variant instead
(`weighted=True`: 100 * mean(|A_hat - A| * A)), offered as an option.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def surrogate_loss(
  pred: Array, target: Array, weighted: bool = False
) -> tuple[Array, dict[str, Array]]:
  """Activations pred/target [B, T, M] -> (loss, {'l1': the paper's L1 in every case})."""
  err = jnp.abs(pred - target)
  l1 = jnp.mean(err)
  loss = 100.0 * jnp.mean(err * target) if weighted else l1
  return loss, {"l1": l1}
