"""Shared pieces of the benchmarks: the result row, timing, XLA flop counts, the matmul peak and
the machine description that `run_all.py` prints and writes next to the figures.

Timing is best-of-N wall time after a compile/warm-up call. Where ours and the reference are
compared, their repeats are interleaved (ours, reference, ours, ...) so that a change of load on a
shared machine hits both alike; the ratio of two figures from one run is the number to read.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class Row:
  """One benchmark figure: ours against a reference measured in the same run (higher is better).

  `gflops` is the achieved rate of ours from XLA's own flop count (`xla_flops`); `pct_peak` is it
  as a percentage of the measured matmul peak (`matmul_peak_jax`), filled by `fill_peak`.
  `target_ratio` / `target_pct_peak` are the acceptance targets of issue 20 (None: no target).
  """

  workload: str
  size: str
  ours: float
  unit: str
  reference: str | None = None
  ref_value: float | None = None
  gflops: float | None = None
  pct_peak: float | None = None
  target_ratio: float | None = None
  target_pct_peak: float | None = None
  notes: str = ""

  @property
  def ratio(self) -> float | None:
    if self.ref_value is None or not self.ref_value:
      return None
    return self.ours / self.ref_value

  @property
  def target(self) -> str:
    parts = []
    if self.target_pct_peak is not None:
      parts.append(f">= {self.target_pct_peak:.0f} % peak")
    if self.target_ratio is not None:
      parts.append(f">= {self.target_ratio:g}x")
    return ", ".join(parts)

  def holds(self) -> bool | None:
    """Whether every target of the row is met; None when the row has no target."""
    checks = []
    if self.target_ratio is not None:
      checks.append(self.ratio is not None and self.ratio >= self.target_ratio)
    if self.target_pct_peak is not None:
      checks.append(self.pct_peak is not None and self.pct_peak >= self.target_pct_peak)
    return all(checks) if checks else None

  def to_dict(self) -> dict[str, Any]:
    return {
      **dataclasses.asdict(self),
      "ratio": self.ratio,
      "target": self.target,
      "holds": self.holds(),
    }


# ------------------------------------------------------------------------------------- timing


def best_seconds(fn: Callable[[], Any], repeats: int) -> float:
  """Best wall time of `repeats` calls of fn (which must block until its work is done)."""
  best = float("inf")
  for _ in range(max(1, repeats)):
    t0 = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t0)
  return best


def interleaved_best(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
  """Best wall time of each fn over `repeats` rounds, the fns called in turn within each round."""
  best = dict.fromkeys(fns, float("inf"))
  for _ in range(max(1, repeats)):
    for name, fn in fns.items():
      t0 = time.perf_counter()
      fn()
      best[name] = min(best[name], time.perf_counter() - t0)
  return best


def torch_thread_counts() -> list[int]:
  """PyTorch's default intra-op thread count and 1: on a loaded machine, OpenMP threads that wait
  for a descheduled sibling can make the default several times slower than one thread, so the
  reference runs at whichever of the two is faster."""
  import torch

  return sorted({torch.get_num_threads(), 1}, reverse=True)


def _with_threads(fn: Callable[[], Any], n: int) -> Callable[[], Any]:
  import torch

  def run():
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
      return fn()
    finally:
      torch.set_num_threads(old)

  return run


@dataclasses.dataclass
class Comparison:
  ours: float  # units / s of ours, best call
  ref: float  # units / s of the reference at its faster thread count, best call
  ref_threads: int
  probe: dict[int, float]  # units / s of the reference's probe at each thread count

  def threads_note(self) -> str:
    """Which thread count the reference ran at, and its probe figure at the other(s)."""
    others = ", ".join(f"{v:.3g} at {n}" for n, v in self.probe.items() if n != self.ref_threads)
    return f"PyTorch at {self.ref_threads} thread(s)" + (f" ({others})" if others else "")


def compare_with_torch(
  ours: Callable[[], Any],
  ref: Callable[[], Any],
  repeats: int,
  units: float = 1.0,
  probe: Callable[[], Any] | None = None,
  probe_units: float | None = None,
) -> Comparison:
  """Rates (units per call / best seconds) of ours and of a PyTorch reference over `repeats`
  rounds in which they are timed in turn (`interleaved_best`).

  The reference's thread count is chosen first: `probe` (default `ref`; a shorter run of the same
  work, `probe_units` per call) is timed once at each of `torch_thread_counts()`."""
  probe, probe_units = (ref, units) if probe is None else (probe, probe_units or units)
  probe_s = interleaved_best({n: _with_threads(probe, n) for n in torch_thread_counts()}, 1)
  threads = min(probe_s, key=probe_s.get)
  t = interleaved_best({"ours": ours, "ref": _with_threads(ref, threads)}, repeats)
  return Comparison(
    ours=units / t["ours"],
    ref=units / t["ref"],
    ref_threads=threads,
    probe={n: probe_units / v for n, v in probe_s.items()},
  )


# -------------------------------------------------------------------------- flops and the peak


def _jitted_step(init_fn, loss_fn, tx, seed: int, devices=None):
  from motion_jax.train import loop as loop_lib
  from motion_jax.train import sharding as sharding_lib
  from motion_jax.train import step as step_lib

  mesh = sharding_lib.make_mesh(devices)
  make_state, abstract, shardings = loop_lib.init_state(init_fn, tx, seed, mesh)
  step_fn = step_lib.jit_train_step(
    step_lib.make_train_step(loss_fn, tx, ema_decay=0.0), mesh, shardings
  )
  return mesh, make_state, abstract, step_fn


def cpu_step_flops(init_fn, loss_fn, tx, batch: dict, seed: int = 0) -> float | None:
  """XLA:CPU's flop count of the train step (compiled for the CPU, never run).

  On GPU, XLA's cost analysis leaves out the convolutions and matmuls it hands to cuDNN/cuBLAS as
  library calls (the published VQ-VAE step reads 1.7 GFLOP there against 200 on the CPU), so the
  accelerator figures use this count of the same computation instead."""
  import jax

  from motion_jax.train import sharding as sharding_lib

  mesh, _, abstract, step_fn = _jitted_step(init_fn, loss_fn, tx, seed, jax.devices("cpu")[:1])
  spec = sharding_lib.batch_sharding(mesh)
  abstract_batch = jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=spec), batch
  )
  return xla_flops(step_fn.lower(abstract, abstract_batch).compile())


def train_step_runner(init_fn, loss_fn, tx, batch: dict, seed: int = 0):
  """The project's own jitted, sharded train step (`motion_jax.train`) compiled for ``batch``:
  ``(run(n) doing n steps and returning the last step's metrics, flops per step, compile
  seconds)``; one warm-up step is run. The flop count is XLA's for the backend in use, except on
  accelerators, where it is XLA:CPU's count of the same step (`cpu_step_flops`)."""
  import jax

  from motion_jax.train import sharding as sharding_lib

  mesh, make_state, _, step_fn = _jitted_step(init_fn, loss_fn, tx, seed)
  state = make_state()
  batch = sharding_lib.shard_batch(batch, mesh)
  t0 = time.perf_counter()
  compiled = step_fn.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  holder = [state]

  def run(n: int) -> Any:
    st, metrics = holder[0], None
    for _ in range(n):
      st, metrics = compiled(st, batch)
    jax.block_until_ready(st)
    holder[0] = st
    return metrics

  run(1)  # first step: allocation (and, for the VQ-VAE, the codebook initialisation branch)
  run.compiled = compiled  # for memory_analysis() (benchmarks/scaling.py)
  if jax.default_backend() == "cpu":
    return run, xla_flops(compiled), compile_s
  return run, cpu_step_flops(init_fn, loss_fn, tx, batch, seed), compile_s


def xla_flops(compiled: Any) -> float | None:
  """XLA's flop count of a compiled computation (`jax.jit(f).lower(...).compile()`).

  `cost_analysis()` is best effort: a dict in current JAX, a list with one dict per computation
  in older versions, None (or no 'flops') on backends without it; all are handled.
  """
  try:
    cost = compiled.cost_analysis()
  except Exception:  # noqa: BLE001 - unimplemented on some backends
    return None
  if isinstance(cost, list | tuple):
    cost = cost[0] if cost else None
  if not cost or "flops" not in cost:
    return None
  flops = float(cost["flops"])
  return flops if flops > 0 else None


def gflops_rate(flops_per_call: float | None, calls_per_s: float) -> float | None:
  return None if flops_per_call is None else flops_per_call * calls_per_s / 1e9


def matmul_peak_jax(n: int = 2048, repeats: int = 10) -> float:
  """GFLOP/s of a jitted float32 n x n matmul on JAX's default device, best of `repeats`."""
  import jax
  import jax.numpy as jnp

  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
  mm = jax.jit(jnp.matmul)
  mm(a, b).block_until_ready()
  return 2 * n**3 / best_seconds(lambda: mm(a, b).block_until_ready(), repeats) / 1e9


def matmul_peak_torch(n: int = 2048, repeats: int = 10) -> float | None:
  """GFLOP/s of a float32 n x n torch.mm on the CPU, best of `repeats` (None without torch)."""
  try:
    import torch
  except ImportError:
    return None
  g = torch.Generator().manual_seed(0)
  a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
  torch.mm(a, b)
  return 2 * n**3 / best_seconds(lambda: torch.mm(a, b), repeats) / 1e9


def fill_peak(rows: list[Row], peak_gflops: float | None) -> list[Row]:
  """Sets each row's `pct_peak` from its `gflops` and the measured matmul peak."""
  for r in rows:
    if r.gflops is not None and peak_gflops:
      r.pct_peak = 100.0 * r.gflops / peak_gflops
  return rows


# ----------------------------------------------------------------------------------- machine


def _cpu_model() -> str:
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("flags"):
        have = set(line.split(":", 1)[1].split())
        return [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in have]
  except OSError:
    pass
  return []


def _memory_gib() -> float | None:
  try:
    for line in open("/proc/meminfo"):
      if line.startswith("MemTotal"):
        return round(int(line.split()[1]) / 2**20, 1)
  except OSError:
    pass
  return None


def _version(module: str) -> str | None:
  try:
    return __import__(module).__version__
  except Exception:  # noqa: BLE001 - absent or broken optional package
    return None


def machine() -> dict[str, Any]:
  """What the figures were measured on: CPU, cores, memory, load, library versions, devices."""
  import jax

  try:
    usable = len(os.sched_getaffinity(0))
  except AttributeError:
    usable = os.cpu_count()
  try:
    load = [round(x, 2) for x in os.getloadavg()]
  except OSError:
    load = None
  torch_threads = None
  if _version("torch"):
    import torch

    torch_threads = torch.get_num_threads()
  return {
    "cpu": _cpu_model(),
    "cpu_flags": _cpu_flags(),
    "cores": os.cpu_count(),
    "usable_cores": usable,
    "memory_gib": _memory_gib(),
    "load_average_1_5_15": load,
    "python": platform.python_version(),
    "jax": jax.__version__,
    "jaxlib": _version("jaxlib"),
    "flax": _version("flax"),
    "optax": _version("optax"),
    "torch": _version("torch"),
    "torch_threads": torch_threads,
    "backend": jax.default_backend(),
    "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
  }


def machine_line(m: dict[str, Any]) -> str:
  flags = "+".join(m["cpu_flags"]) or "-"
  return (
    f"{m['cpu']} ({flags}), {m['usable_cores']}/{m['cores']} cores, {m['memory_gib']} GiB, "
    f"load {m['load_average_1_5_15']}; jax {m['jax']} ({m['backend']}: "
    f"{', '.join(m['devices'])}), torch {m['torch']} ({m['torch_threads']} threads)"
  )


# ------------------------------------------------------------------------------------ output


def _fmt(x: float | None) -> str:
  if x is None:
    return "-"
  if x >= 1000:
    return f"{x:,.0f}"
  if x >= 10:
    return f"{x:.1f}"
  return f"{x:.3g}"


def markdown_table(rows: list[Row]) -> str:
  head = (
    "| workload | size | ours | reference | ratio | target | holds | GFLOP/s | % peak | notes |\n"
    "|---|---|---:|---:|---:|---|---|---:|---:|---|"
  )
  lines = [head]
  for r in rows:
    ref = "-" if r.reference is None else f"{r.reference}: {_fmt(r.ref_value)}"
    ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
    holds = {None: "", True: "yes", False: "**no**"}[r.holds()]
    pct = "-" if r.pct_peak is None else f"{r.pct_peak:.0f} %"
    lines.append(
      f"| {r.workload} | {r.size} | {_fmt(r.ours)} {r.unit} | {ref} | {ratio} | {r.target} | "
      f"{holds} | {_fmt(r.gflops)} | {pct} | {r.notes} |"
    )
  return "\n".join(lines)


def print_rows(rows: list[Row], peak_gflops: float | None = None) -> None:
  """A benchmark's own `main()` output: its rows as a table (and the peak they refer to)."""
  print(markdown_table(rows))
  if peak_gflops:
    print(f"matmul peak (JAX float32 2048^2): {peak_gflops:.1f} GFLOP/s")


# -------------------------------------------------------------------------------------- sizes

SIZE_CHOICES = ("quick", "published", "all")


def parse_sizes(value: str) -> tuple[str, ...]:
  """'quick' | 'published' | 'all' (both) -> the size names a benchmark runs."""
  if value not in SIZE_CHOICES:
    raise ValueError(f"--sizes must be one of {', '.join(SIZE_CHOICES)}, got {value!r}")
  return ("quick", "published") if value == "all" else (value,)
