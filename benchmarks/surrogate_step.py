"""Muscle-surrogate train step: the project's jitted step vs a PyTorch reference of the same model.

Ours: `motion_jax.stages.surrogate` (BIGE's post-LN transformer over time at the input width 33:
11 heads of 3 dims, ff 256, 3 layers, dropout 0.1, learnable positions, linear head to 80
activations and a sigmoid; L1 loss; Adam 2e-4) through the shared train step
(`motion_jax.train.step`), batch 40 x 64 frames. The quick preset and the paper use the same
architecture and batch (only the number of steps differs), so there is one size. Reference:
`torch.nn.TransformerEncoder` of post-LN layers with the same widths, heads, dropout and head,
eager forward + backward + AdamW (no weight decay). torch's layer also drops out inside the
feed-forward (one extra dropout per layer); the work is otherwise the same. Random data.

    python benchmarks/surrogate_step.py [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from common import Row, compare_with_torch, gflops_rate, print_rows, train_step_runner

from motion_jax.stages import surrogate as sur_stage
from motion_jax.train import optim

N_COORDS, N_MUSCLES, MAX_LEN = 33, 80, 128  # BIGE quick: max(window 64, sample_len 128)


def _data(cfg: sur_stage.SurrogateStageConfig) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  return {
    "motion": rng.standard_normal((cfg.batch_size, cfg.window, N_COORDS), np.float32),
    "activations": rng.uniform(size=(cfg.batch_size, cfg.window, N_MUSCLES)).astype(np.float32),
  }


def jax_runner(cfg: sur_stage.SurrogateStageConfig, data: dict, seed: int = 0):
  """(run(n) doing n train steps, XLA flops per step, compile seconds) for our jitted step."""
  import jax.numpy as jnp

  model = sur_stage.make_model(cfg, N_MUSCLES, MAX_LEN)
  tx = optim.make_optimizer(cfg.optim, cfg.loop.num_steps)

  def init_fn(key):
    return model.init(key, jnp.zeros((1, cfg.window, N_COORDS)))["params"], {}

  loss_fn = sur_stage.make_loss_fn(model, cfg.weighted_loss)
  return train_step_runner(init_fn, loss_fn, tx, data, seed)


def torch_runner(cfg: sur_stage.SurrogateStageConfig, data: dict, seed: int = 0):
  """run(n) doing n PyTorch eager train steps of the same architecture and loss."""
  import torch
  from torch import nn

  torch.manual_seed(seed)
  m = cfg.model

  class Surrogate(nn.Module):
    def __init__(self):
      super().__init__()
      self.pos = nn.Parameter(torch.zeros(MAX_LEN, N_COORDS))
      layer = nn.TransformerEncoderLayer(
        N_COORDS, m.num_heads, m.ff_dim, dropout=m.dropout, batch_first=True, norm_first=False
      )
      self.encoder = nn.TransformerEncoder(layer, m.num_layers, enable_nested_tensor=False)
      self.head = nn.Linear(N_COORDS, N_MUSCLES)

    def forward(self, x):  # [B, T, 33]
      h = self.encoder(x + self.pos[: x.shape[1]])
      return torch.sigmoid(self.head(h))

  model = Surrogate().train()
  o = cfg.optim
  opt = torch.optim.AdamW(model.parameters(), lr=o.learning_rate, betas=(o.b1, o.b2), eps=o.eps,
                          weight_decay=0.0)  # fmt: skip
  x, y = torch.from_numpy(data["motion"]), torch.from_numpy(data["activations"])

  def run(n: int) -> None:
    for _ in range(n):
      opt.zero_grad(set_to_none=True)
      torch.mean(torch.abs(model(x) - y)).backward()
      opt.step()

  run(1)
  return run


def measure(steps: int = 5, repeats: int = 3, peak_gflops: float | None = None) -> list[Row]:
  """One row: our train steps/s at the quick (= paper) size, PyTorch's, the ratio, XLA GFLOP/s."""
  cfg = sur_stage.SurrogateStageConfig()
  m = cfg.model
  data = _data(cfg)
  ours, flops, compile_s = jax_runner(cfg, data)
  ref = torch_runner(cfg, data)
  c = compare_with_torch(
    lambda: ours(steps), lambda: ref(steps), repeats, units=steps,
    probe=lambda: ref(1), probe_units=1,
  )  # fmt: skip
  ours_rate, ref_rate = c.ours, c.ref
  notes = f"{c.threads_note()}; compile {compile_s:.0f} s"
  if flops:
    notes = f"{flops / 1e6:.0f} MFLOP/step (XLA); {notes}"
  row = Row(
    workload="muscle surrogate train step",
    size=(
      f"quick = paper: w{N_COORDS}, {m.num_heads} heads x {N_COORDS // m.num_heads}, "
      f"ff {m.ff_dim}, {m.num_layers} layers, batch {cfg.batch_size}x{cfg.window}"
    ),
    ours=ours_rate,
    unit="step/s",
    reference="PyTorch eager",
    ref_value=ref_rate,
    gflops=gflops_rate(flops, ours_rate),
    target_ratio=2.0,
    notes=notes,
  )
  if peak_gflops and row.gflops is not None:
    row.pct_peak = 100.0 * row.gflops / peak_gflops
  return [row]


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--steps", type=int, default=5, help="train steps per timed call")
  ap.add_argument("--repeats", type=int, default=3)
  args = ap.parse_args()
  print_rows(measure(args.steps, args.repeats))


if __name__ == "__main__":
  main()
