"""Token-model decoding cost: MoMask's iterative decode and T2M-GPT with and without a KV cache.

MoMask: tokens/s and clips/s of `motion_jax.diffusion.masked.decode` (``--steps`` base steps with
CFG in one doubled batch, then the Q-1 residual layers) driving a mask and a residual transformer
(``--latent``/``--layers``/``--heads``/``--ff``, random parameters: the cost does not depend on
the weights) on batches of ``--tokens``-token prompts, at each size of ``--batch`` (comma
separated, default 1,8: one interactive prompt and a batch).

T2M-GPT: tokens/s and clips/s of `motion_jax.diffusion.autoregressive` sampling ``--gpt-tokens``
tokens with the key/value cache (`sample_cached`) and by re-running the causal pass every step
(`sample_full`), at ``--gpt-layers``/``--gpt-dim``/``--gpt-heads`` (default: T2M-GPT's 9 x 1024 x
16, block 51); the cache's speed-up is a row of its own at each batch size. Each function is
compiled once per batch size; the time is the best of ``--repeats`` runs. Output: one Markdown
table (model, variant, batch, tokens/s, clips/s, s/batch).

    python benchmarks/token_decoding.py [--batch 1,8] [--gpt-layers 9 --gpt-dim 1024]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from motion_jax.diffusion import autoregressive as ar
from motion_jax.diffusion import masked
from motion_jax.models.momask import MaskTransformer, ResidualTransformer, TokenTransformerConfig
from motion_jax.models.t2m_gpt import T2MGPT, GPTConfig, init_cache


def _best(fn, repeats):
  jax.block_until_ready(fn(0))  # compile
  times = []
  for r in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(r + 1))
    times.append(time.perf_counter() - t0)
  return min(times)


def _rate_row(model: str, variant: str, b: int, tokens: int, s: float) -> list[str]:
  return [model, variant, str(b), f"{b * tokens / s:,.0f}", f"{b / s:,.2f}", f"{s:.3f}"]


def momask(args, batches: list[int]) -> list[list[str]]:
  """Rows of MoMask's decode at each batch size."""
  cfg = TokenTransformerConfig(args.latent, args.layers, args.heads, args.ff, 0.0)
  k, q, n, f = args.codes, args.quantizers, args.tokens, 384
  base, res = MaskTransformer(cfg, k), ResidualTransformer(cfg, k, q)
  one = jnp.ones((1,), bool)
  pb = base.init(jax.random.PRNGKey(0), jnp.zeros((1, n), jnp.int32), jnp.ones((1, f)), one,
                 jnp.ones((1, n), bool))  # fmt: skip
  pr = res.init(jax.random.PRNGKey(1), jnp.zeros((1, n, q), jnp.int32), jnp.ones((1,), jnp.int32),
                jnp.ones((1, f)), one, jnp.ones((1, n), bool))  # fmt: skip
  dcfg = masked.DecodeConfig(steps=args.steps)
  variant = f"decode {args.steps} steps + {q - 1} residual, latent {args.latent} x {args.layers}"
  rows = []
  for b in batches:
    text, valid = jnp.ones((b, f)), jnp.ones((b, n), bool)

    @jax.jit
    def run(key, text=text, valid=valid):
      return masked.decode(
        lambda i, t, kp, v: base.apply(pb, i, t, kp, v),
        lambda c, j, t, kp, v: res.apply(pr, c, j, t, kp, v),
        text, valid, key, dcfg, k, q,
      )  # fmt: skip

    s = _best(lambda r, run=run: run(jax.random.PRNGKey(r)), args.repeats)
    rows.append(_rate_row("MoMask", variant, b, n, s))
  return rows


def gpt(args, batches: list[int]) -> list[list[str]]:
  """Rows of T2M-GPT's sampling with and without the KV cache, and the cache's speed-up, at each
  batch size."""
  cfg = GPTConfig(args.gpt_layers, args.gpt_dim, args.gpt_heads, args.gpt_tokens + 1, 0.0)
  k, n = args.codes, args.gpt_tokens
  model = T2MGPT(cfg, k)
  text1 = jnp.zeros((1, 384))
  params = model.init(jax.random.PRNGKey(0), text1, jnp.zeros((1, n), jnp.int32))["params"]
  sample_cfg = ar.ARConfig(temperature=1.0)
  size = f"{args.gpt_layers} x {args.gpt_dim}, {n} positions"
  rows = []
  for b in batches:
    text = jax.random.normal(jax.random.PRNGKey(0), (b, 384))

    @jax.jit
    def cached(key, text=text, b=b):
      def step_fn(t, prev, cache, pos):
        return model.apply({"params": params}, t, prev, cache, pos, method=T2MGPT.step)

      return ar.sample_cached(step_fn, init_cache(cfg, b), text, key, sample_cfg, k, n - 1)

    @jax.jit
    def full(key, text=text):
      return ar.sample_full(
        lambda t, ids: model.apply({"params": params}, t, ids), text, key, sample_cfg, k, n - 1
      )

    times = {}
    for name, fn in (("KV cache", cached), ("no cache", full)):
      times[name] = _best(lambda r, fn=fn: fn(jax.random.PRNGKey(r)), args.repeats)
      rows.append(_rate_row("T2M-GPT", f"{name}, {size}", b, n, times[name]))
    ratio = times["no cache"] / times["KV cache"]
    rows.append(["T2M-GPT", "KV-cache speed-up (no-cache time / cached time)", str(b),
                 f"{ratio:.2f}x", f"{ratio:.2f}x", ""])  # fmt: skip
  return rows


def _batches(value: str) -> list[int]:
  try:
    out = [int(x) for x in value.split(",") if x.strip()]
  except ValueError:
    out = []
  if not out or min(out) < 1:
    raise argparse.ArgumentTypeError(f"--batch: comma-separated sizes >= 1, got {value!r}")
  return out


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--batch", type=_batches, default=[1, 8], help="batch sizes, e.g. 1,8")
  ap.add_argument("--codes", type=int, default=512)
  ap.add_argument("--tokens", type=int, default=49)  # 196 frames / 4
  ap.add_argument("--quantizers", type=int, default=6)
  ap.add_argument("--steps", type=int, default=10)
  ap.add_argument("--latent", type=int, default=384)
  ap.add_argument("--layers", type=int, default=8)
  ap.add_argument("--heads", type=int, default=6)
  ap.add_argument("--ff", type=int, default=1024)
  ap.add_argument("--gpt-layers", type=int, default=9)
  ap.add_argument("--gpt-dim", type=int, default=1024)
  ap.add_argument("--gpt-heads", type=int, default=16)
  ap.add_argument("--gpt-tokens", type=int, default=50)  # block 51 = text + 50
  ap.add_argument("--repeats", type=int, default=2)
  ap.add_argument("--skip-momask", action="store_true")
  ap.add_argument("--skip-gpt", action="store_true")
  args = ap.parse_args()
  print(f"devices: {jax.devices()}")
  rows = []
  if not args.skip_momask:
    rows += momask(args, args.batch)
  if not args.skip_gpt:
    rows += gpt(args, args.batch)
  print("| model | variant | batch | tokens/s | clips/s | s/batch |")
  print("|---|---|---:|---:|---:|---:|")
  for row in rows:
    print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
  main()
