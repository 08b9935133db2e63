"""Data-parallel sharding over a one-axis `Mesh` named 'data'.

The batch is split along its leading axis over every device of every process; parameters and
optimiser state are replicated. The same code runs on 1..N devices and across processes started
with `jax.distributed.initialize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  devices = list(jax.devices()) if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """Rows this process feeds; the global batch must divide over every device."""
  n = mesh.devices.size
  if global_batch_size % n:
    raise ValueError(
      f"batch_size={global_batch_size} is not divisible by the {n} devices of the "
      f"'{DATA_AXIS}' mesh axis; choose a multiple of {n}"
    )
  return global_batch_size // jax.process_count()


def shard_batch(local_batch: Any, mesh: Mesh) -> Any:
  """Turns this process's numpy slice of the batch into global arrays sharded over 'data'."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(
    lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
  )


def process_slice(global_batch_size: int) -> slice:
  """The rows of a global batch that this process loads."""
  per = global_batch_size // jax.process_count()
  start = jax.process_index() * per
  return slice(start, start + per)
