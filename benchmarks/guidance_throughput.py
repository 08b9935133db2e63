"""Guidance throughput: the jitted JAX loop (one lax.scan) vs a straightforward PyTorch loop.

Both optimise the same objective with Adam over latents z [B, T/4, D]: straight-through
quantisation -> VQ decoder -> muscle surrogate, with proximity, temporal, symmetry and activation-
range terms (the FK terms are left out of both, since the PyTorch side has no OpenSim FK; the JAX
figure with the full objective including FK is printed too). Same sizes, random weights, CPU.

    python benchmarks/guidance_throughput.py [--candidates 32 --steps 50 --length 64]
Prints candidate-steps per second for each and the JAX/PyTorch ratio (PyTorch at the faster of
its default thread count and 1, `common.compare_with_torch`). `measure()` gives the same as
`common.Row`s at the quick and the published (BIGE: VQ width 512, 196 frames) sizes for
`run_all.py`.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import Row, best_seconds, compare_with_torch

from motion_jax.models.quantizers import quantize
from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig
from motion_jax.models.vqvae import VQVAE, VQVAEConfig

VASMED = (39, 79)
LEFT, RIGHT = (6, 12, 14), (9, 13, 15)


def jax_objective_fn(vq, vq_vars, sur, sur_vars, codebook, train_latents):
  def terms(z):  # [B, L, D]
    zq, _ = quantize(codebook, z)
    x = vq.apply(vq_vars, zq, method=VQVAE.decode)  # [B, T, 33]
    a = sur.apply(sur_vars, x)  # [B, T, 80]
    zf, ef = z.reshape(z.shape[0], -1), train_latents.reshape(train_latents.shape[0], -1)
    d2 = jnp.sum(zf**2, -1, keepdims=True) - 2 * zf @ ef.T + jnp.sum(ef**2, -1)
    prox = jnp.sqrt(jnp.maximum(d2.min(-1), 1e-12))
    temporal = jnp.mean(jnp.diff(x, axis=1) ** 2, (1, 2))
    sym = jnp.mean((x[..., LEFT] - x[..., RIGHT]) ** 2, (1, 2))
    peak = a[..., VASMED].max(1)
    cons = jnp.sum(jnp.maximum(jnp.maximum(peak - 0.45, 0.35 - peak), 0), -1)
    return jnp.sum(0.01 * prox + 0.5 * temporal + sym + cons)

  return terms


def compile_guide(steps, vq, vq_vars, sur, sur_vars, codebook, train_latents, z0):
  """`steps` Adam guidance steps over latents shaped like ``z0`` in one jitted lax.scan, compiled
  (a `jax.stages.Compiled`: call it with the latents; `memory_analysis()` gives its memory)."""
  obj = jax_objective_fn(vq, vq_vars, sur, sur_vars, codebook, train_latents)
  tx = optax.adam(0.05)

  def guide(z):
    def step(carry, _):
      z, s = carry
      g = jax.grad(obj)(z)
      u, s = tx.update(g, s, z)
      return (optax.apply_updates(z, u), s), None

    return jax.lax.scan(step, (z, tx.init(z)), None, length=steps)[0][0]

  return jax.jit(guide).lower(z0).compile()


def run_jax(steps, vq, vq_vars, sur, sur_vars, codebook, train_latents, z0):
  """A callable running `steps` guidance steps in one jitted lax.scan (compiled here)."""
  guide = compile_guide(steps, vq, vq_vars, sur, sur_vars, codebook, train_latents, z0)
  jax.block_until_ready(guide(z0))  # first run
  return lambda: jax.block_until_ready(guide(z0))


def run_jax_full(candidates, steps, repeats=1):
  """The full BIGE objective with FK (guidance.make_guide), for reference: candidate-steps/s."""
  from motion_jax.guidance import bige as guidance
  from motion_jax.guidance.random_models import random_frozen_models

  frozen, _ = random_frozen_models(frames=16, code_dim=8)  # tiny random nets + the real FK
  cfg = guidance.GuidanceConfig(steps=steps, num_candidates=candidates, schedule="all")
  z0 = guidance.initial_latents(jax.random.PRNGKey(0), frozen, cfg)
  guide = guidance.make_guide(frozen, cfg, guidance.unit_calibration(cfg))
  jax.block_until_ready(guide(z0))
  return candidates * steps / best_seconds(lambda: jax.block_until_ready(guide(z0)), repeats)


def run_torch(steps, length, vq_cfg, sur_cfg, codebook, train_latents, z0, device="cpu"):
  """A callable run(n=steps) running n steps of the same objective as a PyTorch eager loop on
  ``device``."""
  import torch
  from torch import nn

  torch.manual_seed(0)

  class Res(nn.Module):
    def __init__(self, w, d):
      super().__init__()
      self.c1 = nn.Conv1d(w, w, 3, padding=d, dilation=d)
      self.c2 = nn.Conv1d(w, w, 1)

    def forward(self, x):
      return x + self.c2(torch.relu(self.c1(torch.relu(x))))

  w, c = vq_cfg.width, vq_cfg
  layers = [nn.Conv1d(c.code_dim, w, 3, padding=1), nn.ReLU()]
  for _ in range(c.down_t):
    layers += [Res(w, c.dilation_growth**i) for i in reversed(range(c.depth))]
    layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(w, w, 3, padding=1)]
  layers += [nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, 33, 3, padding=1)]
  decoder = nn.Sequential(*layers).eval().to(device)
  enc_layer = nn.TransformerEncoderLayer(
    33, sur_cfg.num_heads, sur_cfg.ff_dim, dropout=0.0, batch_first=True
  )
  surrogate = nn.TransformerEncoder(enc_layer, sur_cfg.num_layers).eval().to(device)
  head = nn.Linear(33, 80).to(device)
  pos = torch.zeros(1, length, 33, device=device)
  for p in [*decoder.parameters(), *surrogate.parameters(), *head.parameters()]:
    p.requires_grad_(False)
  cb = torch.tensor(np.asarray(codebook), device=device)
  ef = torch.tensor(np.asarray(train_latents), device=device).reshape(len(train_latents), -1)
  z = torch.tensor(np.asarray(z0), device=device, requires_grad=True)
  opt = torch.optim.Adam([z], lr=0.05)

  def step():
    opt.zero_grad()
    d = torch.cdist(z.reshape(-1, z.shape[-1]), cb)
    zq = cb[d.argmin(-1)].reshape(z.shape)
    zq = z + (zq - z).detach()
    x = decoder(zq.transpose(1, 2)).transpose(1, 2)
    a = torch.sigmoid(head(surrogate(x + pos)))
    prox = torch.cdist(z.reshape(z.shape[0], -1), ef).min(-1).values
    temporal = ((x[:, 1:] - x[:, :-1]) ** 2).mean((1, 2))
    sym = ((x[..., list(LEFT)] - x[..., list(RIGHT)]) ** 2).mean((1, 2))
    peak = a[..., list(VASMED)].max(1).values
    cons = torch.clamp(torch.maximum(peak - 0.45, 0.35 - peak), min=0).sum(-1)
    loss = (0.01 * prox + 0.5 * temporal + sym + cons).sum()
    loss.backward()
    opt.step()

  step()

  def run(n=steps):
    for _ in range(n):
      step()
    if device != "cpu":
      torch.cuda.synchronize()

  return run


@dataclasses.dataclass(frozen=True)
class Size:
  candidates: int
  steps: int
  length: int
  width: int
  code_dim: int
  num_codes: int

  def label(self, name: str) -> str:
    return (
      f"{name}: {self.candidates} cand x {self.length} frames, VQ w{self.width}, "
      f"{self.num_codes}x{self.code_dim} codes, {self.steps} steps"
    )


# quick: the benchmark's long-standing defaults (VQ quick preset width); published: BIGE's
# guidance sizes (VQ width 512, 512x512 codes, 196-frame windows, 32 candidates), few steps.
SIZES = {
  "quick": Size(candidates=32, steps=50, length=64, width=128, code_dim=64, num_codes=128),
  "published": Size(candidates=32, steps=3, length=196, width=512, code_dim=512, num_codes=512),
}


def random_models(s: Size):
  """Random-weight decoder and surrogate of size ``s``, a codebook and 200 'training' latents:
  ``(vq_cfg, sur_cfg, vq, vq_vars, sur, sur_vars, codebook, train_latents)``."""
  vq_cfg = VQVAEConfig(width=s.width, code_dim=s.code_dim, num_codes=s.num_codes)
  sur_cfg = SurrogateConfig()
  vq, sur = VQVAE(vq_cfg, 33), MuscleSurrogate(sur_cfg, output_dim=80, max_len=s.length)
  x = jnp.zeros((1, s.length, 33))
  vq_vars = vq.init({"params": jax.random.PRNGKey(0), "sample": jax.random.PRNGKey(1)}, x)
  sur_vars = sur.init(jax.random.PRNGKey(2), x)
  codebook = jax.random.normal(jax.random.PRNGKey(3), (s.num_codes, s.code_dim))
  train_latents = jax.random.normal(jax.random.PRNGKey(4), (200, s.length // 4, s.code_dim))
  return vq_cfg, sur_cfg, vq, vq_vars, sur, sur_vars, codebook, train_latents


def initial_latents(s: Size) -> jax.Array:
  return jax.random.normal(jax.random.PRNGKey(5), (s.candidates, s.length // 4, s.code_dim))


def measure(
  sizes: tuple[str, ...] = ("quick",),
  repeats: int = 2,
  full: bool = True,
  custom: Size | None = None,
) -> list[Row]:
  """Rows: the objective without FK, ours (jit + lax.scan) vs the PyTorch eager loop, per size
  (`custom` replaces the named sizes); with `full`, our full objective with FK (no reference)."""
  rows = []
  named = [("custom", custom)] if custom is not None else [(n, SIZES[n]) for n in sizes]
  for name, s in named:
    vq_cfg, sur_cfg, vq, vq_vars, sur, sur_vars, codebook, train_latents = random_models(s)
    z0 = initial_latents(s)
    ours = run_jax(s.steps, vq, vq_vars, sur, sur_vars, codebook, train_latents, z0)
    ref = run_torch(s.steps, s.length, vq_cfg, sur_cfg, codebook, train_latents, z0)
    work = s.candidates * s.steps
    probe_steps = min(s.steps, 5)
    c = compare_with_torch(
      ours, ref, repeats, units=work, probe=lambda r=ref, k=probe_steps: r(k),
      probe_units=s.candidates * probe_steps,
    )  # fmt: skip
    rows.append(
      Row(
        workload="guidance objective (decoder + surrogate, no FK)",
        size=s.label(name),
        ours=c.ours,
        unit="cand-step/s",
        reference="PyTorch eager",
        ref_value=c.ref,
        target_ratio=3.0 if name == "quick" else None,
        notes=f"jit + lax.scan vs eager loop; {c.threads_note()}",
      )
    )
  if full:
    s = custom or SIZES["quick"]
    rows.append(
      Row(
        workload="guidance, full BIGE objective with OpenSim FK",
        size=f"{s.candidates} cand x 16 frames, tiny random nets, {s.steps} steps",
        ours=run_jax_full(s.candidates, s.steps, repeats),
        unit="cand-step/s",
        notes="guidance.make_guide; no reference (PyTorch has no OpenSim FK)",
      )
    )
  return rows


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--candidates", type=int, default=32)
  p.add_argument("--steps", type=int, default=50)
  p.add_argument("--length", type=int, default=64)
  p.add_argument("--width", type=int, default=128)
  p.add_argument("--code_dim", type=int, default=64)
  p.add_argument("--num_codes", type=int, default=128)
  p.add_argument("--repeats", type=int, default=1)
  p.add_argument("--skip_full", action="store_true")
  args = p.parse_args()
  size = Size(args.candidates, args.steps, args.length, args.width, args.code_dim, args.num_codes)
  rows = measure(repeats=args.repeats, full=not args.skip_full, custom=size)
  r = rows[0]
  print(
    f"sizes: {args.candidates} candidates x {args.length} frames, VQ width {args.width}, "
    f"code dim {args.code_dim}, {args.steps} steps, backend {jax.default_backend()}"
  )
  print(f"JAX (jit + lax.scan):   {r.ours:10.1f} candidate-steps/s")
  print(f"PyTorch (eager loop):   {r.ref_value:10.1f} candidate-steps/s  ({r.notes})")
  print(f"JAX / PyTorch ratio:    {r.ratio:10.2f}x")
  if not args.skip_full:
    print(
      f"JAX full objective with OpenSim FK on every frame (tiny nets, 16 frames): "
      f"{rows[1].ours:.1f} candidate-steps/s"
    )


if __name__ == "__main__":
  main()
