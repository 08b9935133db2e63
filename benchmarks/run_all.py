"""Every benchmark in one run (`make bench`): one Markdown table, the matmul peak, the machine.

Runs each benchmark's `measure()` (FK, guidance, muscle-surrogate step, VQ-VAE step, diffusion
samplers), prints one table of our figure, the reference's figure measured in the same run, their
ratio, the issue-20 acceptance target and whether it holds, and for the train steps the achieved
GFLOP/s (XLA's flop count) as a share of the measured float32 matmul peak. The same goes to a JSON
file with the machine's description, the commit and the command.

    python benchmarks/run_all.py [--sizes default|quick|published|all] [--only vqvae,fk]
                                 [--out benchmarks/results/latest.json]

Sizes: `quick` runs every benchmark at the quick preset's sizes; `published` the papers' sizes
where a benchmark has them (VQ-VAE width 512 on 263 x 64 motions; guidance with the 512-wide
decoder on 196 frames; FK and the surrogate have one size); `default` is quick plus the published
VQ-VAE step (the compute-bound acceptance figure); `all` is both. The default took 11.5 minutes
on a contended 2-core CPU (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import subprocess
import sys
import time
import traceback

import diffusion_sampling
import fk_throughput
import guidance_throughput
import surrogate_step
import vqvae_step
from common import (
  Row,
  fill_peak,
  machine,
  machine_line,
  markdown_table,
  matmul_peak_jax,
  matmul_peak_torch,
)

REPO = pathlib.Path(__file__).resolve().parent.parent
BENCHMARKS = ("fk", "guidance", "surrogate", "vqvae", "diffusion")
SIZES = ("default", "quick", "published", "all")
FLOP_COUNTED = ("surrogate", "vqvae")  # benchmarks whose rows carry GFLOP/s


def plan(sizes: str) -> dict[str, dict]:
  """Benchmark name -> keyword arguments of its measure() for a --sizes choice."""
  quick = sizes in ("default", "quick", "all")
  published = sizes in ("published", "all")
  out = {"fk": {"repeats": 10}}
  guide = (("quick",) if quick else ()) + (("published",) if published else ())
  out["guidance"] = {"sizes": guide, "repeats": 1}
  out["surrogate"] = {}
  vq = (("quick",) if quick else ()) + (("published",) if published or sizes == "default" else ())
  out["vqvae"] = {"sizes": vq}
  if quick:
    out["diffusion"] = {"repeats": 1}  # DDPM-1000 alone takes about a minute on 2 cores
  return out


def run_one(name: str, kwargs: dict, peak: float | None) -> list[Row]:
  if name == "fk":
    return fk_throughput.measure(**kwargs)
  if name == "guidance":
    return guidance_throughput.measure(**kwargs)
  if name == "surrogate":
    return surrogate_step.measure(peak_gflops=peak, **kwargs)
  if name == "vqvae":
    return vqvae_step.measure(peak_gflops=peak, **kwargs)
  if name == "diffusion":
    return diffusion_sampling.measure(**kwargs)
  raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")


def git_commit() -> str:
  try:
    head = subprocess.run(
      ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
      ["git", "status", "--porcelain", "--untracked-files=no"],
      cwd=REPO,
      capture_output=True,
      text=True,
      check=True,
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  ap.add_argument("--sizes", choices=SIZES, default="default")
  ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
  ap.add_argument("--out", type=pathlib.Path, default=REPO / "benchmarks/results/latest.json")
  args = ap.parse_args()
  only = [s.strip() for s in args.only.split(",") if s.strip()]
  unknown = sorted(set(only) - set(BENCHMARKS))
  if unknown:
    ap.error(f"--only: unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
  todo = {k: v for k, v in plan(args.sizes).items() if not only or k in only}

  started = datetime.datetime.now(datetime.UTC)
  mach = machine()
  # The matmul peak is a best-of figure; on a shared machine it is measured before every benchmark
  # that reports GFLOP/s and at both ends of the run, and the best of these is the peak used.
  jax_peaks = {"start": matmul_peak_jax()}
  torch_peak = matmul_peak_torch()
  print(f"machine: {machine_line(mach)}", flush=True)
  rows: list[Row] = []
  seconds, errors = {}, {}
  for name, kwargs in todo.items():
    print(f"running {name} {kwargs or ''} ...", file=sys.stderr, flush=True)
    if name in FLOP_COUNTED:
      jax_peaks[f"before {name}"] = matmul_peak_jax()
    t0 = time.perf_counter()
    try:
      new = run_one(name, kwargs, max(jax_peaks.values()))
      rows += new
      for r in new:  # as each benchmark ends, so that a run cut short still shows its figures
        print(json.dumps(r.to_dict(), default=str), file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - report every benchmark, fail at the end
      errors[name] = traceback.format_exc()
      print(errors[name], file=sys.stderr, flush=True)
    seconds[name] = round(time.perf_counter() - t0, 1)
  jax_peaks["end"] = matmul_peak_jax()
  peak = max(jax_peaks.values())
  fill_peak(rows, peak)

  commit = git_commit()
  print()
  print(
    f"# motion_jax benchmarks, {started:%Y-%m-%d %H:%M} UTC, commit {commit}, --sizes {args.sizes}"
  )
  print()
  print(markdown_table(rows))
  print()
  each = ", ".join(f"{k} {v:.1f}" for k, v in jax_peaks.items())
  torch_txt = "-" if torch_peak is None else f"{torch_peak:.1f}"
  print(
    f"matmul peak (float32 2048^2, best of 10): JAX {peak:.1f} GFLOP/s (best of: {each}), "
    f"PyTorch {torch_txt} GFLOP/s (start); % peak = achieved GFLOP/s / JAX peak"
  )
  print(f"machine: {machine_line(mach)}")
  held = [r for r in rows if r.holds() is not None]
  print(
    "targets: "
    + "; ".join(
      f"{r.workload} [{r.size.split(':')[0]}] {r.target}: {'holds' if r.holds() else 'FAILS'}"
      for r in held
    )
  )
  print(f"seconds per benchmark: {seconds}")
  if errors:
    print(f"FAILED: {', '.join(errors)} (tracebacks above and in the JSON)")

  record = {
    "date_utc": started.isoformat(timespec="seconds"),
    "commit": commit,
    "command": " ".join([pathlib.Path(sys.executable).name, *sys.argv]),
    "sizes": args.sizes,
    "machine": mach,
    "matmul_peak_gflops": {"jax": jax_peaks, "jax_used": peak, "torch": torch_peak},
    "rows": [r.to_dict() for r in rows],
    "seconds": seconds,
    "errors": errors,
  }
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps(record, indent=2) + "\n")
  print(f"wrote {args.out}")
  return 1 if errors else 0


if __name__ == "__main__":
  sys.exit(main())
