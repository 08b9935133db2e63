"""On a GPU (or TPU): the dtype policy's effect, PyTorch on the same device, guidance scaling.

`run_all.py` compares our CPU figures with PyTorch on the CPU. On an accelerator the questions are
different, and this script answers them in one run (issue 20, items 5 and 6):

1. Matmul peaks on the device for each policy of `motion_jax.train.precision` (float32, JAX's
   default = TF32 on NVIDIA, bfloat16 x bfloat16 -> float32).
2. The VQ-VAE train step at the published size (and a larger batch) under each policy: step/s,
   XLA's flop count as TFLOP/s and as a share of the same policy's matmul peak, the executable's
   memory (`memory_analysis`), and PyTorch eager on the same device at the matching precision
   (float32 with TF32 off, TF32 on, bfloat16 autocast). The loss after a few steps under bfloat16
   vs float32 from the same start shows what the policy costs in numerics.
3. Guidance objective (decoder + surrogate, published sizes: VQ width 512, 196 frames) for 16..1024
   candidates: candidate-steps/s and executable memory, and PyTorch eager at 32 candidates.

It runs on a CPU too (tiny sizes with --smoke, as the test suite does), which is how it is checked
without an accelerator.

    python benchmarks/accelerator.py [--smoke] [--out results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import guidance_throughput as gt
import jax
import jax.numpy as jnp
import numpy as np
import vqvae_step
from common import best_seconds, machine, machine_line

from motion_jax.train import precision

POLICIES = ("float32", "default", "bfloat16")
# PyTorch at the matching precision: (TF32 allowed, autocast dtype name)
TORCH_MATCH = {"float32": (False, None), "default": (True, None), "bfloat16": (False, "bfloat16")}


def matmul_peak(policy: str, n: int, repeats: int = 10) -> float:
  """GFLOP/s of a jitted float32 n x n matmul under ``policy``."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
  with precision.scope(policy):
    mm = jax.jit(jnp.matmul).lower(a, b).compile()
  mm(a, b).block_until_ready()
  return 2 * n**3 / best_seconds(lambda: mm(a, b).block_until_ready(), repeats) / 1e9


def device_peak_mib() -> float | None:
  """The device's running peak of allocated memory, MiB (GPU/TPU; None on CPU)."""
  try:
    stats = jax.devices()[0].memory_stats() or {}
  except Exception:  # noqa: BLE001 - not every backend reports it
    return None
  peak = stats.get("peak_bytes_in_use")
  return None if peak is None else peak / 2**20


def vq_rows(sizes, policies, torch_device: str | None, repeats: int, peaks: dict) -> list[dict]:
  rows = []
  for label, s in sizes:
    x = np.random.default_rng(0).standard_normal((s.batch, s.frames, s.features), np.float32)
    for policy in policies:
      try:
        rows.append(vq_row(label, s, x, policy, torch_device, repeats, peaks))
      except Exception as e:  # noqa: BLE001 - one policy failing on a backend is a finding
        rows.append({"workload": "VQ-VAE train step", "size": label, "policy": policy,
                     "error": f"{type(e).__name__}: {e}"[:500]})  # fmt: skip
      print(json.dumps(rows[-1]), flush=True)
  return rows


def vq_row(label, s, x, policy, torch_device, repeats, peaks) -> dict:
  """One VQ-VAE step figure under ``policy`` (and PyTorch at the matching precision)."""
  with precision.scope(policy):
    run, flops, compile_s = vqvae_step.jax_runner(s, x)
    rate = s.steps / best_seconds(lambda: run(s.steps), repeats)
    loss = float(run(1)["loss"])  # same step count under every policy: compare the losses
  gflops = None if flops is None else flops * rate / 1e9
  row = {
    "workload": "VQ-VAE train step", "size": label, "policy": policy, "step_per_s": rate,
    "gflop_per_step": None if flops is None else flops / 1e9,
    "tflops": None if gflops is None else gflops / 1e3,
    "pct_peak": None if not (gflops and peaks.get(policy)) else 100 * gflops / peaks[policy],
    "compile_s": compile_s, "loss_after": loss, "steps_done": 2 + repeats * s.steps,
    "device_peak_mib_so_far": device_peak_mib(),
  }  # fmt: skip
  if torch_device:
    import torch

    tf32, cast = TORCH_MATCH[policy]
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    ref = vqvae_step.torch_runner(
      s, x, device=torch_device, autocast=getattr(torch, cast) if cast else None
    )
    row["torch_step_per_s"] = s.steps / best_seconds(lambda: ref(s.steps), repeats)
    row["ratio_vs_torch"] = rate / row["torch_step_per_s"]
  return row


def guidance_rows(base, candidates, policy, torch_device, torch_at, repeats) -> list[dict]:
  vq_cfg, sur_cfg, vq, vq_vars, sur, sur_vars, codebook, train_latents = gt.random_models(base)
  rows = []
  for n in candidates:
    s = dataclasses.replace(base, candidates=n)
    z0 = gt.initial_latents(s)
    with precision.scope(policy):
      t0 = time.perf_counter()
      ours = gt.run_jax(s.steps, vq, vq_vars, sur, sur_vars, codebook, train_latents, z0)
      compile_s = time.perf_counter() - t0
      rate = n * s.steps / best_seconds(ours, repeats)
    row = {
      "workload": "guidance objective (decoder + surrogate)", "candidates": n,
      "frames": s.length, "steps": s.steps, "policy": policy, "cand_step_per_s": rate,
      "first_call_s": compile_s, "device_peak_mib_so_far": device_peak_mib(),
    }  # fmt: skip
    if torch_device and n == torch_at:
      ref = gt.run_torch(
        s.steps, s.length, vq_cfg, sur_cfg, codebook, train_latents, z0, device=torch_device
      )
      row["torch_cand_step_per_s"] = n * s.steps / best_seconds(ref, repeats)
      row["ratio_vs_torch"] = rate / row["torch_cand_step_per_s"]
    rows.append(row)
    print(json.dumps(row), flush=True)
  return rows


def markdown(result: dict) -> str:
  out = [f"machine: {machine_line(result['machine'])}", "", "matmul peak (GFLOP/s):"]
  out += [f"- {k}: {v:,.0f} (n={result['matmul_n']})" for k, v in result["peaks"].items()]
  errors = [r for r in result["vqvae"] if "error" in r]
  out += [f"- VQ-VAE {r['size']} under {r['policy']} failed: {r['error']}" for r in errors]
  out += [
    "",
    "| VQ-VAE step | policy | step/s | TFLOP/s | % peak | loss after | PyTorch step/s | ratio |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
  ]
  for r in [r for r in result["vqvae"] if "error" not in r]:

    def f(k, fmt="{:.3g}", r=r):
      return "-" if r.get(k) is None else fmt.format(r[k])

    out.append(
      f"| {r['size']} | {r['policy']} | {f('step_per_s')} | {f('tflops')} | "
      f"{f('pct_peak', '{:.0f} %')} | {f('loss_after', '{:.5f}')} | {f('torch_step_per_s')} | "
      f"{f('ratio_vs_torch', '{:.2f}x')} |"
    )
  out += [
    "",
    "| guidance candidates | policy | cand-step/s | PyTorch | ratio |",
    "|---|---|---:|---:|---:|",
  ]
  for r in result["guidance"]:
    t = r.get("torch_cand_step_per_s")
    out.append(
      f"| {r['candidates']} x {r['frames']} frames | {r['policy']} | {r['cand_step_per_s']:,.0f} | "
      f"{'-' if t is None else f'{t:,.0f}'} | "
      f"{'-' if t is None else '{:.2f}x'.format(r['ratio_vs_torch'])} |"
    )
  return "\n".join(out)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--torch", default="auto", help="PyTorch device: auto | cpu | cuda | none")
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  torch_device = None
  if args.torch != "none":
    try:
      import torch

      torch_device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.torch == "auto" else args.torch
      )
    except ImportError:
      torch_device = None
  if args.smoke:
    n_mm, vq_sizes = 256, [("smoke", vqvae_step.Size(32, 16, 32, 33, 32, 4, 1))]
    g_base, g_cands, torch_at = gt.Size(4, 2, 32, 32, 16, 32), (4, 8), 4
  else:
    pub = vqvae_step.SIZES["published"]
    n_mm = 8192 if jax.default_backend() != "cpu" else 2048
    vq_sizes = [
      ("published (batch 64)", dataclasses.replace(pub, steps=10)),
      ("published, batch 256", dataclasses.replace(pub, batch=256, steps=5)),
    ]
    g_base = dataclasses.replace(gt.SIZES["published"], steps=10)
    g_cands, torch_at = (16, 64, 256, 1024), 32
    g_cands = tuple(sorted({*g_cands, torch_at}))
  m = machine()
  if torch_device and torch_device != "cpu":
    import torch

    m["torch_device"] = torch.cuda.get_device_name()
  print(machine_line(m), flush=True)
  peaks = {}
  for p in POLICIES:
    try:
      peaks[p] = matmul_peak(p, n_mm)
    except Exception as e:  # noqa: BLE001
      print(f"matmul peak under {p}: {type(e).__name__}: {e}", flush=True)
  print(json.dumps({"peaks": peaks}), flush=True)
  result = {"machine": m, "matmul_n": n_mm, "peaks": peaks}
  result["vqvae"] = vq_rows(vq_sizes, POLICIES, torch_device, args.repeats, peaks)
  auto = precision.resolve("auto")
  result["guidance"] = guidance_rows(g_base, g_cands, auto, torch_device, torch_at, args.repeats)
  table = markdown(result)
  print(table, flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump({**result, "table": table}, f, indent=2, default=str)


if __name__ == "__main__":
  main()
