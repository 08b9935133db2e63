"""BIGE stage 1 on the real OpenCap squat trial: VQ-VAE over 33 OpenSim coordinates.

Trains the T2M-GPT/BIGE VQ-VAE on 60 Hz windows of the first 80 % of squats1_videoAndMocap.mot and
reports reconstruction error on the held-out last 20 % (degrees for rotational coordinates, mm for
pelvis translations), codebook usage, and a figure of knee/hip angles against their reconstruction.
"""

from __future__ import annotations

import pathlib

import ml_collections
import numpy as np

from experiments import base
from motion_jax.data import mot
from motion_jax.io import report
from motion_jax.skeletons import opencap
from motion_jax.stages import vqvae as vq_stage

TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  base.is_quick(arg)  # validates the preset name
  c = base.get_config()
  c.seed = 123  # BIGE option_vq.py default seed
  c.data = ml_collections.ConfigDict(dict(rate=60.0, window=64, test_fraction=0.2))
  v = vq_stage.default_config(arg)
  c.vqvae = v
  return c


def load_trial(rate: float) -> tuple[np.ndarray, np.ndarray]:
  """The real squat trial as [T, 33] in BIGE's layout (degrees / metres) at `rate` Hz."""
  motion = mot.read_mot(opencap.opencap_path(opencap.SQUATS_MOT))
  motion = mot.resample(mot.select_columns(motion, opencap.BIGE_COORDINATES), rate)
  return motion.times, motion.values.astype(np.float32)


def windows_of(x: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
  return np.stack([x[s : s + window] for s in range(0, len(x) - window + 1, stride)])


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  workdir = pathlib.Path(workdir)
  times, x = load_trial(config.data.rate)
  split = int(round(len(x) * (1 - config.data.test_fraction)))
  train_x, test_x = x[:split], x[split:]
  mean, std = train_x.mean(0), np.maximum(train_x.std(0), 1e-3)

  def norm(a):
    return (a - mean) / std

  window = config.data.window
  model, variables = vq_stage.train(
    config.vqvae, windows_of(norm(train_x), window), workdir / "vqvae", seed=config.seed
  )
  # Held-out reconstruction: the whole test segment, cropped to a multiple of the downsampling.
  n = (len(test_x) // model.cfg.downsample) * model.cfg.downsample
  recon, codes = vq_stage.reconstruct(model, variables, norm(test_x[:n])[None])
  recon = recon[0] * std + mean
  err = recon - test_x[:n]
  rot = [i for i, name in enumerate(opencap.BIGE_COORDINATES) if name not in TRANSLATIONS]
  trans = [opencap.BIGE_COORDINATES.index(t) for t in TRANSLATIONS]
  per_coord = {
    name: float(np.sqrt(np.mean(err[:, i] ** 2))) for i, name in enumerate(opencap.BIGE_COORDINATES)
  }
  train_codes = vq_stage.reconstruct(model, variables, windows_of(norm(train_x), window, 16))[1]
  results = {
    "heldout_frames": int(n),
    "rmse_rotational_deg": float(np.sqrt(np.mean(err[:, rot] ** 2))),
    "rmse_translation_mm": 1000 * float(np.sqrt(np.mean(err[:, trans] ** 2))),
    "rmse_per_coordinate": per_coord,
    "train_code_usage": vq_stage.code_usage(train_codes, model.cfg.num_codes),
    "heldout_code_usage": vq_stage.code_usage(codes, model.cfg.num_codes),
    "config": config.to_dict(),
  }
  report.write_json(workdir / "results.json", results)
  key = ["knee_angle_r", "knee_angle_l", "hip_flexion_r", "ankle_angle_r"]
  t = times[split : split + n]
  series = {}
  for k in key:
    i = opencap.BIGE_COORDINATES.index(k)
    series[f"{k} (real)"], series[f"{k} (VQ-VAE)"] = test_x[:n, i], recon[:, i]
  report.plot_series(
    workdir / "reconstruction.png",
    t,
    series,
    title="Held-out squat: real vs VQ-VAE reconstruction",
    xlabel="time (s)",
    ylabel="angle (deg)",
    panels=[[f"{k} (real)", f"{k} (VQ-VAE)"] for k in key],
  )
  table = report.markdown_table(
    ["metric", "value"],
    [
      ["held-out frames (60 Hz)", n],
      ["RMSE rotational coordinates (deg)", results["rmse_rotational_deg"]],
      ["RMSE pelvis translation (mm)", results["rmse_translation_mm"]],
      ["code perplexity (train windows)", results["train_code_usage"]["perplexity"]],
      [
        "codes used (train windows)",
        f"{results['train_code_usage']['codes_used']} / {model.cfg.num_codes}",
      ],
    ],
  )
  worst = sorted(per_coord.items(), key=lambda kv: -kv[1])[:5]
  md = (
    f"# squat_vqvae results\n\n{table}\n\nLargest per-coordinate RMSE: "
    + ", ".join(f"{k} {v:.3g}" for k, v in worst)
    + "\n\n![reconstruction](reconstruction.png)\n"
  )
  (workdir / "results.md").write_text(md)
  print(md)
  return results
