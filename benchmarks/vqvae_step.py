"""VQ-VAE train step: the project's jitted step vs a PyTorch CPU reference of the same architecture.

Ours: `motion_jax.stages.vqvae` (model, BIGE eq. 1 loss through `make_loss_fn`, the stage's AdamW)
through the shared train step (`motion_jax.train.step`, donated state, sharded over the 'data'
mesh), so the figure is the one training sees. Reference: the same T2M-GPT encoder / EMA-reset
quantiser / decoder in PyTorch eager (NCL convolutions, the same widths, kernels, strides,
dilations 9-3-1 and codebook; smooth-L1 + 0.02 commitment + 2.0 temporal loss; AdamW with no weight
decay), forward + backward + optimiser step. Random data and weights; the quantiser's codebook is
initialised from the first batch in both. Achieved GFLOP/s uses XLA's flop count of our step.

Sizes: quick (the `quick` preset: width 128, 128 codes x 64, 33 coordinates x 64 frames, batch 32)
and published (T2M-GPT / BIGE: width 512, 512 codes x 512, 263 HumanML3D features x 64 frames,
batch 64; slow on a 2-core CPU).

    python benchmarks/vqvae_step.py [--sizes quick|published|all] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from common import (
  Row,
  compare_with_torch,
  fill_peak,
  gflops_rate,
  matmul_peak_jax,
  parse_sizes,
  print_rows,
  train_step_runner,
)

from motion_jax.models.vqvae import VQVAEConfig
from motion_jax.stages import vqvae as vq_stage
from motion_jax.train import optim


@dataclasses.dataclass(frozen=True)
class Size:
  width: int
  code_dim: int
  num_codes: int
  features: int
  frames: int
  batch: int
  steps: int  # train steps per timed call

  def label(self, name: str) -> str:
    return (
      f"{name}: w{self.width}, {self.num_codes}x{self.code_dim} codes, "
      f"{self.features}x{self.frames}, batch {self.batch}"
    )


SIZES = {
  "quick": Size(width=128, code_dim=64, num_codes=128, features=33, frames=64, batch=32, steps=4),
  "published": Size(
    width=512, code_dim=512, num_codes=512, features=263, frames=64, batch=64, steps=1
  ),
}


def stage_config(s: Size) -> vq_stage.VQStageConfig:
  cfg = vq_stage.VQStageConfig()
  model = VQVAEConfig(width=s.width, code_dim=s.code_dim, num_codes=s.num_codes)
  return dataclasses.replace(cfg, model=model, batch_size=s.batch, window=s.frames)


def jax_runner(s: Size, x: np.ndarray, seed: int = 0):
  """(run(n) doing n train steps, XLA flops per step, compile seconds) for our jitted step."""
  cfg = stage_config(s)
  model = vq_stage.make_model(cfg, s.features)
  tx = optim.make_optimizer(cfg.optim, cfg.loop.num_steps)
  init_fn = vq_stage.make_init_fn(model, s.frames)
  loss_fn = vq_stage.make_loss_fn(model, cfg.loss)
  return train_step_runner(init_fn, loss_fn, tx, {"motion": x}, seed)


def torch_runner(s: Size, x: np.ndarray, seed: int = 0, device: str = "cpu", autocast=None):
  """run(n) doing n PyTorch eager train steps of the same architecture and loss on ``device``
  (``autocast``: a torch dtype for `torch.autocast`, e.g. torch.bfloat16; None = float32)."""
  import contextlib

  import torch
  import torch.nn.functional as F
  from torch import nn

  torch.manual_seed(seed)
  c = stage_config(s)
  m, lc = c.model, c.loss

  class Res(nn.Module):
    def __init__(self, w, d):
      super().__init__()
      self.c1 = nn.Conv1d(w, w, 3, padding=d, dilation=d)
      self.c2 = nn.Conv1d(w, w, 1)

    def forward(self, h):
      return h + self.c2(torch.relu(self.c1(torch.relu(h))))

  def stack(w):
    return [Res(w, m.dilation_growth**i) for i in reversed(range(m.depth))]

  w = m.width
  enc = [nn.Conv1d(s.features, w, 3, padding=1), nn.ReLU()]
  for _ in range(m.down_t):
    enc += [nn.Conv1d(w, w, 4, stride=2, padding=1), *stack(w)]
  enc += [nn.Conv1d(w, m.code_dim, 3, padding=1)]
  dec = [nn.Conv1d(m.code_dim, w, 3, padding=1), nn.ReLU()]
  for _ in range(m.down_t):
    dec += [*stack(w), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(w, w, 3, padding=1)]
  dec += [nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, s.features, 3, padding=1)]
  encoder, decoder = nn.Sequential(*enc).to(device), nn.Sequential(*dec).to(device)

  k, d, mu = m.num_codes, m.code_dim, m.mu
  codebook, code_sum = torch.zeros(k, d, device=device), torch.zeros(k, d, device=device)
  code_count, initted = torch.zeros(k, device=device), [False]

  def random_rows(flat):
    reps = -(-k // len(flat))
    if reps > 1:
      flat = flat.repeat(reps, 1)
      flat = flat + 0.01 / d**0.5 * torch.randn_like(flat)
    return flat[torch.randperm(len(flat))[:k]]

  def loss_fn(xb):  # xb [B, T, C]
    z_e = encoder(xb.transpose(1, 2))  # [B, D, T']
    flat = z_e.transpose(1, 2).reshape(-1, d).float()
    with torch.no_grad():
      sg = flat.detach()
      if not initted[0]:
        rows = random_rows(sg)
        codebook.copy_(rows), code_sum.copy_(rows), code_count.fill_(1.0)
        initted[0] = True
      dist = (sg**2).sum(-1, keepdim=True) - 2 * sg @ codebook.T + (codebook**2).sum(-1)
      idx = dist.argmin(-1)
      z_q = codebook[idx]
      onehot = F.one_hot(idx, k).float()
      code_sum.mul_(mu).add_((1 - mu) * (onehot.T @ sg))
      code_count.mul_(mu).add_((1 - mu) * onehot.sum(0))
      reset = random_rows(sg)
      used = (code_count >= 1.0)[:, None]
      codebook.copy_(torch.where(used, code_sum / code_count.clamp_min(1e-6)[:, None], reset))
    zq_st = flat + (z_q - flat).detach()
    x_hat = decoder(zq_st.reshape(len(xb), -1, d).transpose(1, 2)).transpose(1, 2).float()
    rec = F.smooth_l1_loss(x_hat, xb)
    commit = F.mse_loss(flat, z_q)
    temporal = ((x_hat[:, 1:] - x_hat[:, :-1]) ** 2).mean()
    return rec + lc.commit * commit + lc.temporal * temporal

  params = [*encoder.parameters(), *decoder.parameters()]
  opt = torch.optim.AdamW(
    params, lr=c.optim.learning_rate, betas=(c.optim.b1, c.optim.b2), weight_decay=0.0
  )
  xb = torch.from_numpy(x).to(device)

  def cast():
    if autocast is None:
      return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=autocast)

  def run(n: int) -> None:
    for _ in range(n):
      opt.zero_grad(set_to_none=True)
      with cast():
        loss = loss_fn(xb)
      loss.backward()
      opt.step()
    if device != "cpu":
      torch.cuda.synchronize()

  run(1)
  return run


def measure(
  sizes: tuple[str, ...] = ("quick", "published"),
  repeats: int = 3,
  peak_gflops: float | None = None,
) -> list[Row]:
  """One row per size: our steps/s, PyTorch's, the ratio, XLA GFLOP/s (and % of `peak_gflops`)."""
  rows = []
  for name in sizes:
    s = SIZES[name]
    x = np.random.default_rng(0).standard_normal((s.batch, s.frames, s.features), np.float32)
    ours, flops, compile_s = jax_runner(s, x)
    ref = torch_runner(s, x)
    n = s.steps
    c = compare_with_torch(
      lambda o=ours, n=n: o(n), lambda r=ref, n=n: r(n), repeats, units=n,
      probe=lambda r=ref: r(1), probe_units=1,
    )  # fmt: skip
    ours_rate, ref_rate = c.ours, c.ref
    gf = gflops_rate(flops, ours_rate)
    notes = f"{c.threads_note()}; compile {compile_s:.0f} s"
    if flops:
      notes = (
        f"{flops / 1e9:.1f} GFLOP/step (XLA); PyTorch at "
        f"{gflops_rate(flops, ref_rate):.1f} GFLOP/s; {notes}"
      )
    published = name == "published"
    rows.append(
      Row(
        workload="VQ-VAE train step",
        size=s.label(name),
        ours=ours_rate,
        unit="step/s",
        reference="PyTorch eager",
        ref_value=ref_rate,
        gflops=gf,
        target_ratio=1.1 if published else None,
        target_pct_peak=80.0 if published else None,
        notes=notes,
      )
    )
  return fill_peak(rows, peak_gflops)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--sizes", default="all", help="quick | published | all")
  ap.add_argument("--repeats", type=int, default=3)
  args = ap.parse_args()
  peak = matmul_peak_jax()
  print_rows(measure(parse_sizes(args.sizes), args.repeats, peak), peak)


if __name__ == "__main__":
  main()
