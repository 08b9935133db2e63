"""Step-indexed batching: the batch of step s is a pure function of (seed, s).

Built on Grain's random-access `MapDataset` (seeded global shuffle, repeated epochs, fixed-size
batches), so a resumed run reads exactly the batches an uninterrupted run would, with no iterator
state to checkpoint. Each process loads only its rows of the global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grain
import jax
import numpy as np


class StepBatcher:
  """`batcher(step)` -> this process's rows of global batch `step`, as a dict of numpy arrays."""

  def __init__(
    self,
    examples: Sequence[Any] | Any,
    *,
    batch_size: int,
    seed: int,
    transform: Callable[[Any, np.random.Generator], Any] | None = None,
    shuffle: bool = True,
  ):
    """Args:
    examples: a sequence (random access) of examples, each a dict of arrays (or an array).
    batch_size: the global batch size (all processes together).
    seed: shuffle and per-example transform seed.
    transform: optional `transform(example, rng) -> example`, with an rng derived from
      (seed, position in the stream) so augmentation is reproducible too.
    """
    self.batch_size = batch_size
    self.seed = seed
    n = len(examples)
    if n == 0:
      raise ValueError("StepBatcher: no examples to batch")
    ds = grain.MapDataset.range(n).seed(seed)
    if shuffle:
      ds = ds.shuffle()
    self._index = ds.repeat(None)
    self._examples = examples
    self._transform = transform

  def _example(self, position: int) -> Any:
    ex = self._examples[int(self._index[position])]
    if self._transform is not None:
      ex = self._transform(ex, np.random.default_rng([self.seed, position]))
    return ex

  def global_positions(self, step: int) -> range:
    return range(step * self.batch_size, (step + 1) * self.batch_size)

  def __call__(self, step: int) -> Any:
    per = self.batch_size // jax.process_count()
    first = step * self.batch_size + jax.process_index() * per
    rows = [self._example(p) for p in range(first, first + per)]
    return jax.tree.map(lambda *xs: np.stack(xs), *rows)
