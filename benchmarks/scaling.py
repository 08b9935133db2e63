"""Scaling curves (issue 20, item 5): guidance throughput against the number of candidates, the
VQ-VAE train step against the batch size, and the memory of each compiled executable.

- Guidance: the objective of `guidance_throughput.py` (decoder + surrogate, no FK), Adam steps in
  one jitted `lax.scan`, at 16..1024 candidates: candidate-steps/s.
- VQ-VAE: the project's jitted train step (`vqvae_step.jax_runner`) at batch 8..512: steps/s and
  samples/s.
- Memory: XLA's `memory_analysis()` of each executable (arguments + outputs + temporaries, i.e.
  what the run needs on the device), in MiB.

Sizes default to the quick presets' (guidance: VQ width 128, 64 frames; VQ-VAE: width 128, 33 x 64)
with few steps per call so that the largest points finish on a 2-core CPU; `--published` uses the
papers' sizes (GPU). Writes a JSON and a two-panel PNG.

    python benchmarks/scaling.py [--published] [--candidates 16,64,256,1024]
                                 [--batches 8,32,128,512] [--out benchmarks/results/scaling]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import guidance_throughput as gt
import jax
import numpy as np
import vqvae_step
from common import best_seconds, machine, machine_line

from motion_jax.train import precision

REPO = pathlib.Path(__file__).resolve().parent.parent


def memory_mib(compiled) -> float | None:
  """Arguments + outputs + temporaries of a compiled executable, MiB (None if not reported)."""
  try:
    m = compiled.memory_analysis()
  except Exception:  # noqa: BLE001 - not every backend reports it
    return None
  if m is None:
    return None
  return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes) / 2**20


def guidance_curve(base: gt.Size, candidates, repeats: int) -> list[dict]:
  models = gt.random_models(base)[2:]  # vq, vq_vars, sur, sur_vars, codebook, train_latents
  rows = []
  for n in candidates:
    s = dataclasses.replace(base, candidates=n)
    z0 = gt.initial_latents(s)
    t0 = time.perf_counter()
    guide = gt.compile_guide(s.steps, *models, z0)
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(guide(z0))
    sec = best_seconds(lambda g=guide, z=z0: jax.block_until_ready(g(z)), repeats)
    rows.append({"candidates": n, "cand_step_per_s": n * s.steps / sec, "seconds_per_call": sec,
                 "memory_mib": memory_mib(guide), "compile_s": compile_s})  # fmt: skip
    print(json.dumps({"guidance": rows[-1]}), flush=True)
  return rows


def vqvae_curve(base: vqvae_step.Size, batches, repeats: int) -> list[dict]:
  rows = []
  for b in batches:
    s = dataclasses.replace(base, batch=b)
    x = np.random.default_rng(0).standard_normal((b, s.frames, s.features), np.float32)
    run, _, compile_s = vqvae_step.jax_runner(s, x)
    sec = best_seconds(lambda r=run, k=s.steps: r(k), repeats) / s.steps
    rows.append({"batch": b, "step_per_s": 1 / sec, "samples_per_s": b / sec,
                 "memory_mib": memory_mib(run.compiled), "compile_s": compile_s})  # fmt: skip
    print(json.dumps({"vqvae": rows[-1]}), flush=True)
  return rows


def plot(result: dict, path: pathlib.Path) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, key, x, y, xlabel, ylabel in (
    (axes[0], "guidance", "candidates", "cand_step_per_s", "candidates", "candidate-steps / s"),
    (axes[1], "vqvae", "batch", "samples_per_s", "batch", "samples / s (train)"),
  ):
    rows = result[key]
    xs = [r[x] for r in rows]
    ax.plot(xs, [r[y] for r in rows], "o-", color="C0")
    ax.set_ylim(bottom=0)  # throughput from zero: flat curves look flat
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel, color="C0")
    mem = [r["memory_mib"] for r in rows]
    if all(m is not None for m in mem):
      twin = ax.twinx()
      twin.plot(xs, mem, "s--", color="C1")
      twin.set_ylabel("executable memory (MiB)", color="C1")
    ax.set_title(result["titles"][key], fontsize=9)
  fig.suptitle(result["machine_line"], fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  ap.add_argument("--published", action="store_true", help="the papers' sizes (GPU)")
  ap.add_argument("--candidates", default="16,64,256,1024")
  ap.add_argument("--batches", default="8,32,128,512")
  ap.add_argument("--repeats", type=int, default=2)
  ap.add_argument("--precision", default="auto", choices=precision.POLICIES)
  ap.add_argument("--out", type=pathlib.Path, default=REPO / "benchmarks/results/scaling")
  ap.add_argument("--replot", type=pathlib.Path, help="redraw the PNG of a saved JSON and exit")
  args = ap.parse_args()
  if args.replot:
    plot(json.loads(args.replot.read_text()), args.replot.with_suffix(".png"))
    return
  cands = [int(c) for c in args.candidates.split(",")]
  batches = [int(b) for b in args.batches.split(",")]
  if args.published:
    g_base = dataclasses.replace(gt.SIZES["published"], steps=10)
    v_base = dataclasses.replace(vqvae_step.SIZES["published"], steps=3)
  else:
    g_base = dataclasses.replace(gt.SIZES["quick"], steps=5)
    v_base = dataclasses.replace(vqvae_step.SIZES["quick"], steps=2)
  mach = machine()
  print(machine_line(mach), flush=True)
  with precision.scope(args.precision):
    result = {
      "machine": mach,
      "machine_line": machine_line(mach),
      "precision": precision.resolve(args.precision),
      "guidance": guidance_curve(g_base, cands, args.repeats),
      "vqvae": vqvae_curve(v_base, batches, args.repeats),
    }
  result["titles"] = {
    "guidance": f"guidance objective: {g_base.length} frames, VQ width {g_base.width}, "
    f"{g_base.steps} Adam steps per call",
    "vqvae": f"VQ-VAE train step: width {v_base.width}, {v_base.features} x {v_base.frames}",
  }
  args.out.parent.mkdir(parents=True, exist_ok=True)
  json_path, png_path = args.out.with_suffix(".json"), args.out.with_suffix(".png")
  json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
  plot(result, png_path)
  print(f"wrote {json_path} and {png_path}")


if __name__ == "__main__":
  main()
