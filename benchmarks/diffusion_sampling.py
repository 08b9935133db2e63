"""Sampler cost and accuracy: DDPM-1000 vs DDIM-50 vs SDE-DPM-Solver++(2M)-10.

Throughput: clips/s of each sampler driving a StableMoFusion UNet (``--base-dim``, random
parameters; the cost is the denoiser's, so the weights do not matter) with classifier-free guidance
(one doubled batch per step) on ``--batch`` clips of ``--frames`` x 263 features, compiled once,
best of ``--repeats``.

Accuracy: each sampler driven by the exact denoiser of Gaussian data N(0, 0.5^2) (no training
needed): the relative error of the sampled standard deviation over 16,384 draws (0 = exact
distribution; the statistical floor is ~0.6%).

    python benchmarks/diffusion_sampling.py [--base-dim 32] [--batch 8] [--frames 64]

`measure()` gives these figures as `common.Row`s (speed-up against DDPM-1000) for `run_all.py`.

Trained model (``--workdir`` of a finished ``t2m_diffusion`` run, such as
``runs/t2m_diffusion_quick``): the same denoiser sampled on every evaluation caption at its
length with each sampler (same guidance scale, same seed), timed end to end after one compile
call, and scored by the run's evaluator (FID and R-precision top-3, mean over ``--repeats``
repeats, no multimodality). One table with the speed and FID ratios against DDPM-1000, also
written to ``<workdir>/sampler_benchmark.json``.

    python benchmarks/diffusion_sampling.py --workdir runs/t2m_diffusion_quick [--repeats 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
from common import Row

from motion_jax import diffusion
from motion_jax.models.denoiser_common import TextConditionerConfig
from motion_jax.models.motion_unet import MotionUNet, UNetConfig

SETTINGS = (("ddpm", 1000), ("ddim", 50), ("dpmpp_2m_sde", 10))


def _gaussian_std_error(schedule, sampler: str, steps: int, sd: float = 0.5) -> float:
  plan = diffusion.make_plan(schedule, sampler, steps)

  def model(x, t):
    i = jnp.argmax(plan.timesteps == t[0])
    a, s = plan.a_cur[i], plan.s_cur[i]
    return a * sd**2 / (a * a * sd**2 + s * s) * x

  k0, k1 = jax.random.split(jax.random.PRNGKey(0))
  x, _ = diffusion.run(model, plan, jax.random.normal(k0, (16384, 1, 1)), k1, prediction="x0")
  return abs(float(x.std()) - sd) / sd


def trained_table(workdir: pathlib.Path, repeats: int) -> list[dict]:
  """Speed and quality of each sampler with the trained model of ``workdir`` (module docstring)."""
  from experiments import t2m_diffusion as exp
  from motion_jax.config import from_dict, to_dict
  from motion_jax.io import report
  from motion_jax.metrics import generation as gen_lib
  from motion_jax.stages import evaluator as ev_lib

  results = workdir / "results.json"
  if not results.exists():
    raise FileNotFoundError(f"{results}: not a finished t2m_diffusion run")
  config = from_dict(exp.Config, json.loads(results.read_text())["config"])
  generator, _ = exp.load_trained(config, workdir)
  evaluator = ev_lib.load_evaluator(workdir)
  ev_cfg = dataclasses.replace(config.evaluator, data=config.data)
  pairs = ev_lib.eval_pairs(workdir, ev_cfg, split=config.eval.split)
  used = (len(pairs) // gen_lib.R_PRECISION_BATCH) * gen_lib.R_PRECISION_BATCH
  print(f"{workdir}: {config.denoiser}, {len(pairs)} {config.eval.split} captions, CFG "
        f"{config.guidance_scale:g}, {repeats} repeat(s)")  # fmt: skip
  rows = []
  for sampler, steps in SETTINGS:
    cfg = dataclasses.replace(config, sampler=sampler, steps=steps)
    seconds, clips = [0.0], [0]

    def generate(texts, lengths, cfg=cfg, seconds=seconds, clips=clips):
      t0 = time.perf_counter()
      out = exp._sample(generator, cfg, texts, lengths, call=clips[0])
      seconds[0] += time.perf_counter() - t0
      clips[0] += len(texts)
      return out

    u = config.data.unit_length
    exp._sample(generator, cfg, [pairs.captions[0][0]], [u])  # compile
    res = gen_lib.evaluate_generator(
      evaluator, generate, pairs, pass_lengths=True, num_repeats=repeats,
      diversity_pairs=min(config.eval.diversity_pairs, used), multimodality_eval=False,
      seed=config.seed,
    )  # fmt: skip
    rows.append({"sampler": sampler, "steps": steps, "clips_per_s": clips[0] / seconds[0],
                 "fid": res["fid"], "r_precision_top3": res["r_precision_top3"]})  # fmt: skip
    print(f"  {sampler}-{steps}: {clips[0]} clips in {seconds[0]:.0f} s, FID "
          f"{res['fid']['mean']:.3f}")  # fmt: skip
  ddpm = rows[0]
  print(f"{'sampler':>16} {'steps':>6} {'clips/s':>9} {'speed-up':>9} {'FID':>8} "
        f"{'FID/DDPM':>9} {'R@3':>6}")  # fmt: skip
  for r in rows:
    r["speedup_vs_ddpm"] = r["clips_per_s"] / ddpm["clips_per_s"]
    r["fid_ratio_vs_ddpm"] = r["fid"]["mean"] / ddpm["fid"]["mean"]
    print(f"{r['sampler']:>16} {r['steps']:>6} {r['clips_per_s']:>9.2f} "
          f"{r['speedup_vs_ddpm']:>8.1f}x {r['fid']['mean']:>8.3f} {r['fid_ratio_vs_ddpm']:>9.2f} "
          f"{r['r_precision_top3']['mean']:>6.3f}")  # fmt: skip
  out = {"rows": rows, "repeats": repeats, "pairs": len(pairs), "config": to_dict(config)}
  report.write_json(workdir / "sampler_benchmark.json", out)
  return rows


def sampler_figures(
  base_dim: int = 32, batch: int = 8, frames: int = 64, repeats: int = 2, scale: float = 2.5
) -> list[dict]:
  """For each sampler of SETTINGS: clips/s and seconds per batch of the random-weight UNet
  (best of `repeats` calls of the compiled sampler), and the Gaussian std error (module
  docstring)."""
  schedule = diffusion.make_schedule()
  text_cfg = TextConditionerConfig(width=64, num_layers=1, num_heads=4, ff_dim=128)
  model = MotionUNet(
    UNetConfig(base_dim=base_dim, dim_mults=(1, 2, 2), attention_heads=4, text=text_cfg), 263
  )
  b, n = batch, frames
  x = jnp.zeros((b, n, 263))
  tokens, tmask = jnp.zeros((b, 16, 384)), jnp.ones((b, 16), bool)
  mask = jnp.ones((b, n), bool)
  params = model.init(
    jax.random.PRNGKey(0), x, jnp.zeros((b,), jnp.int32), tokens, tmask, mask[:, 0], mask
  )["params"]

  def denoise(p, x, t, cond):
    def apply(x, t, c, keep):
      return model.apply({"params": p}, x, t, c[0], c[1], keep, c[2])

    return diffusion.guided_model_fn(apply, cond, scale)(x, t)

  out = []
  for sampler, steps in SETTINGS:
    fn = diffusion.make_sample_fn(
      denoise, diffusion.make_plan(schedule, sampler, steps), prediction="x0"
    )
    cond = (tokens, tmask, mask)
    key = jax.random.PRNGKey(1)
    fn = fn.lower(params, cond, jax.random.normal(key, x.shape), key).compile()  # compile only
    best = float("inf")
    for r in range(repeats):
      k = jax.random.PRNGKey(r + 2)
      t0 = time.perf_counter()
      jax.block_until_ready(fn(params, cond, jax.random.normal(k, x.shape), k))
      best = min(best, time.perf_counter() - t0)
    err = _gaussian_std_error(schedule, sampler, steps)
    out.append({"sampler": sampler, "steps": steps, "clips_per_s": b / best, "s_per_batch": best,
                "gaussian_std_error": err})  # fmt: skip
  return out


def measure(
  base_dim: int = 32, batch: int = 8, frames: int = 64, repeats: int = 2, scale: float = 2.5
) -> list[Row]:
  """One row per sampler: clips/s against DDPM-1000 with the same UNet (the ratio is the
  speed-up; there is no PyTorch reference), the Gaussian std error in the notes."""
  figs = sampler_figures(base_dim, batch, frames, repeats, scale)
  ddpm = figs[0]
  return [
    Row(
      workload=f"diffusion sampling, {f['sampler']}-{f['steps']}",
      size=f"UNet base {base_dim}, batch {batch}x{frames}x263, CFG {scale:g}",
      ours=f["clips_per_s"],
      unit="clip/s",
      reference=f"{ddpm['sampler']}-{ddpm['steps']} (ours)",
      ref_value=ddpm["clips_per_s"],
      notes=f"Gaussian std error {100 * f['gaussian_std_error']:.1f} %",
    )
    for f in figs
  ]


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--workdir", type=pathlib.Path, default=None)
  ap.add_argument("--base-dim", type=int, default=32)
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--frames", type=int, default=64)
  ap.add_argument("--repeats", type=int, default=2)
  ap.add_argument("--scale", type=float, default=2.5)
  args = ap.parse_args()
  if args.workdir is not None:
    trained_table(args.workdir, args.repeats)
    return
  b, n = args.batch, args.frames
  print(f"UNet base {args.base_dim}, batch {b} x {n} frames x 263, CFG {args.scale} (2x batch)")
  print(f"{'sampler':>16} {'steps':>6} {'clips/s':>9} {'s/batch':>8} {'Gaussian std err':>17}")
  for f in sampler_figures(args.base_dim, b, n, args.repeats, args.scale):
    print(f"{f['sampler']:>16} {f['steps']:>6} {f['clips_per_s']:>9.2f} {f['s_per_batch']:>8.2f} "
          f"{100 * f['gaussian_std_error']:>16.1f}%")  # fmt: skip


if __name__ == "__main__":
  main()
