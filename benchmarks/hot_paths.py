"""Where the CPU time of BIGE's guidance step goes, and what the obvious rewrites of its hot paths
would buy (issue 20, item 2). Not a target check: it prints milliseconds per call of each part and
of each alternative formulation, all measured in this run, so a change to XLA or to the models can
be judged by rerunning it.

    python benchmarks/hot_paths.py [--candidates 32 --length 64 --repeats 20]

Parts, at the guidance quick sizes (random weights):

- the gradient of the guidance objective's two networks with respect to their input: the VQ
  decoder (width 128, input latents [B, L/4, 64]) and the muscle surrogate (width 33, 11 heads of
  3 dims, ff 256, 3 layers; with its default blockwise attention and with Flax's), with XLA's flop
  count and temporary memory of each;
- the attention core's gradient (11 heads of 3 dims over L frames) in four formulations: blockwise
  with recomputation (`models.attention.blockwise_attention`, the surrogate's default), Flax's
  batched dot, a block-diagonal one (one [H*L, 33] x [33, L] matmul per candidate: 11x the flops
  in 32 dots instead of 352), and a broadcast-multiply-reduce one (no dot at all);
- OpenSim FK's trigonometry: XLA's sin + cos on [66 axes, 8192 frames] against a Cephes-style
  polynomial of the same float32 accuracy written in jnp (vectorised by XLA), and the whole FK
  call for scale.
"""

from __future__ import annotations

import argparse
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from common import xla_flops

from motion_jax.models.attention import blockwise_attention
from motion_jax.models.surrogate import MuscleSurrogate, SurrogateConfig
from motion_jax.models.vqvae import VQVAE, VQVAEConfig

HEADS, HEAD_DIM = 11, 3


def ms_per_call(fn, *args, repeats: int = 20) -> float:
  """Mean wall milliseconds of `fn(*args)` over `repeats` calls after two warm-up calls."""
  for _ in range(2):
    jax.block_until_ready(fn(*args))
  t = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(fn(*args))
  return (time.perf_counter() - t) / repeats * 1e3


def input_grad(apply):
  return jax.jit(jax.grad(lambda x: jnp.sum(apply(x))))


def attention_flax(q, k, v):
  return nn.dot_product_attention(q, k, v)


def attention_blockwise(q, k, v):
  """`blockwise_attention` on [B, T, H, d] (heads moved next to the batch, 64 rows a block)."""
  b, t, h, d = q.shape

  def rows(z):
    return jnp.moveaxis(z, 2, 1).reshape(b * h, t, d)

  o = blockwise_attention(rows(q) / np.sqrt(d), rows(k), rows(v), 64)
  return jnp.moveaxis(o.reshape(b, h, t, d), 1, 2)


def attention_block(q, k, v):
  """Heads folded into one matmul per candidate through a block-diagonal mask (11x the flops)."""
  b, t, h, d = q.shape
  mask = jnp.asarray(np.kron(np.eye(h), np.ones((1, d))), q.dtype)  # [H, H*d]
  qf, kf, vf = (z.reshape(b, t, h * d) for z in (q, k, v))
  qm = (qf[:, None] * mask[None, :, None] / np.sqrt(d)).reshape(b, h * t, h * d)
  p = jax.nn.softmax(jnp.einsum("bmc,bkc->bmk", qm, kf), -1)
  o = jnp.einsum("bmk,bkc->bmc", p, vf).reshape(b, h, t, h * d)
  return jnp.sum(o * mask[None, :, None], 1).reshape(b, t, h, d)


def attention_broadcast(q, k, v):
  """No dot: scores and outputs as broadcast products summed over the head / key axis."""
  d = q.shape[-1]
  s = jnp.sum(q[:, :, None] * k[:, None], -1) / np.sqrt(d)  # [B, Tq, Tk, H]
  p = jax.nn.softmax(s, axis=2)
  return jnp.sum(p[..., None] * v[:, None], 2)


# Cephes sinf / cosf: Cody-Waite reduction by pi/2 and minimax polynomials on [-pi/4, pi/4].
_PIO2 = (1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8)
_SIN = (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)
_COS = (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2)


def sincos_polynomial(x):
  j = jnp.round(x * np.float32(2 / np.pi))
  r = ((x - j * _PIO2[0]) - j * _PIO2[1]) - j * _PIO2[2]
  z = r * r
  s = ((_SIN[0] * z + _SIN[1]) * z + _SIN[2]) * z * r + r
  c = ((_COS[0] * z + _COS[1]) * z + _COS[2]) * z * z - 0.5 * z + 1.0
  q = j.astype(jnp.int32) & 3
  sin = jnp.where(q == 0, s, jnp.where(q == 1, c, jnp.where(q == 2, -s, -c)))
  cos = jnp.where(q == 0, c, jnp.where(q == 1, -s, jnp.where(q == 2, -c, s)))
  return sin, cos


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--candidates", type=int, default=32)
  p.add_argument("--length", type=int, default=64)
  p.add_argument("--repeats", type=int, default=20)
  args = p.parse_args()
  b, t, r = args.candidates, args.length, args.repeats
  key = jax.random.PRNGKey(0)

  print(f"backend {jax.default_backend()}, {b} candidates x {t} frames, {r} calls each\n")
  print("| part | ms / call | GFLOP / call | GFLOP/s | temp MiB |\n|---|---:|---:|---:|---:|")
  vq = VQVAE(VQVAEConfig(width=128, code_dim=64, num_codes=128), 33)
  vq_vars = vq.init({"params": key, "sample": key}, jnp.zeros((1, t, 33)))
  z = jax.random.normal(key, (b, t // 4, 64))
  sur = MuscleSurrogate(SurrogateConfig(), output_dim=80, max_len=t)
  sur_xla = MuscleSurrogate(SurrogateConfig(attention="xla"), output_dim=80, max_len=t)
  x = jax.random.normal(key, (b, t, 33))
  sur_vars = sur.init(key, x)
  decode = VQVAE.decode
  parts = [
    ("VQ decoder, input gradient", input_grad(lambda z: vq.apply(vq_vars, z, method=decode)), z),
    ("muscle surrogate, input gradient", input_grad(lambda x: sur.apply(sur_vars, x)), x),
    ("muscle surrogate, forward", jax.jit(lambda x: sur.apply(sur_vars, x)), x),
    ("muscle surrogate, Flax attention, input gradient",
     input_grad(lambda x: sur_xla.apply(sur_vars, x)), x),
    ("muscle surrogate, Flax attention, forward", jax.jit(lambda x: sur_xla.apply(sur_vars, x)), x),
  ]  # fmt: skip
  for name, fn, a in parts:
    compiled = fn.lower(a).compile()
    ms, flops = ms_per_call(fn, a, repeats=r), xla_flops(compiled)
    gf = "- | -" if flops is None else f"{flops / 1e9:.3f} | {flops / 1e6 / ms:.1f}"
    temp = compiled.memory_analysis().temp_size_in_bytes / 2**20
    print(f"| {name} | {ms:.2f} | {gf} | {temp:.0f} |")

  print(f"\n| attention core ({HEADS} heads x {HEAD_DIM}), gradient | ms / call | max |diff| |")
  print("|---|---:|---:|")
  q, k, v = (
    jax.random.normal(jax.random.fold_in(key, i), (b, t, HEADS, HEAD_DIM)) for i in range(3)
  )
  ref = attention_flax(q, k, v)
  for name, f in [
    ("blockwise, recomputing (the surrogate's default)", attention_blockwise),
    ("Flax batched dot", attention_flax),
    ("block-diagonal heads, 32 dots", attention_block),
    ("broadcast-multiply-reduce, no dot", attention_broadcast),
  ]:
    g = jax.jit(jax.grad(lambda q, k, v, f=f: jnp.sum(f(q, k, v) ** 2), argnums=(0, 1, 2)))
    err = float(jnp.max(jnp.abs(f(q, k, v) - ref)))
    print(f"| {name} | {ms_per_call(g, q, k, v, repeats=r):.2f} | {err:.1e} |")

  print(
    "\n| trigonometry, [66, 8192] float32 | ms / call | max |error| vs float64 |\n|---|---:|---:|"
  )
  angles = jax.random.uniform(key, (66, 8192), minval=-4.0, maxval=4.0)
  exact = np.asarray(angles, np.float64)
  for name, f in [
    ("XLA sin + cos", jax.jit(lambda a: (jnp.sin(a), jnp.cos(a)))),
    ("polynomial sin + cos (jnp)", jax.jit(sincos_polynomial)),
  ]:
    s, c = f(angles)
    err = max(
      np.abs(np.asarray(s) - np.sin(exact)).max(), np.abs(np.asarray(c) - np.cos(exact)).max()
    )
    print(f"| {name} | {ms_per_call(f, angles, repeats=r):.2f} | {err:.1e} |")


if __name__ == "__main__":
  main()
