"""BIGE stage 1 on a real OpenCap squat trial: VQ-VAE over 33 OpenSim coordinates.

Trains the T2M-GPT/BIGE VQ-VAE on 60 Hz windows of the repetitions of one real trial (default the
shipped squats1_videoAndMocap.mot; `--config.data.path=FILE.mot` for another, or any squat source
of `motion_jax.data.squat`) and reports reconstruction error on the held-out last repetition(s)
(degrees for rotational coordinates, mm for pelvis translations), codebook usage, and a figure of
knee/hip angles against their reconstruction.

Data path: `motion_jax.data.squat` (the same source, normaliser, windows and batcher as BIGE):
repetitions found by `motion_jax.data.squat.segmentation`, the last `round(0.2 * n)` held out,
random 64-frame training windows (shorter repetitions tiled). Held-out repetitions are
reconstructed whole (cut to a multiple of 2**down_t frames).
"""

from __future__ import annotations

import dataclasses
import pathlib

import ml_collections
import numpy as np

from experiments import presets
from experiments.bige import BIGE_VQ
from motion_jax.config import config_dict, to_dict
from motion_jax.data.squat import loader
from motion_jax.data.squat.source import RATE, SquatDataConfig, SquatSplits, load_splits
from motion_jax.data.squat.windows import Normaliser
from motion_jax.io import report
from motion_jax.skeletons.opencap import BIGE_COORDINATES
from motion_jax.stages import vqvae as vq_stage
from motion_jax.train import artifacts

TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
N_COORDS = len(BIGE_COORDINATES)


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 123  # BIGE option_vq.py default seed
  data: SquatDataConfig = SquatDataConfig(source="trial", test_fraction=0.2)
  vqvae: vq_stage.VQStageConfig = BIGE_VQ  # eq. 1's L2 (experiments.bige)


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  return config_dict(dataclasses.replace(c, vqvae=presets.vqvae(c.vqvae, preset)))


def load_data(cfg: SquatDataConfig) -> SquatSplits:
  """Squat repetitions split as configured; activations are not needed."""
  return load_splits(cfg, require_activations=False)


def sliding_windows(x: np.ndarray, window: int, stride: int) -> np.ndarray:
  """[N, window, C] windows of x [T, C] every `stride` frames (x tiled first when shorter)."""
  if len(x) < window:
    x = np.concatenate([x] * (-(-window // len(x))))
  return np.stack([x[s : s + window] for s in range(0, len(x) - window + 1, stride)])


def run(config: Config, workdir: str) -> dict:
  workdir = pathlib.Path(workdir)
  cfg = config.vqvae
  data = load_data(config.data)
  train_q = [np.asarray(e["coordinates"], np.float32) for e in data.train]
  test_q = [np.asarray(e["coordinates"], np.float32) for e in data.test]
  norm = Normaliser.fit(train_q)
  model = vq_stage.make_model(cfg, N_COORDS)

  def train():
    batcher = loader.make_batcher(
      data.train, norm, window=cfg.window, batch_size=cfg.batch_size, seed=config.seed
    )
    _, variables = vq_stage.train(
      cfg, batcher, N_COORDS, artifacts.stage_dir(workdir, "vqvae"), seed=config.seed
    )
    return {"variables": variables, "normaliser": norm.to_tree()}, {}

  fingerprint = {"data": to_dict(config.data), "vqvae": to_dict(cfg), "seed": config.seed}
  variables = artifacts.cached_stage(workdir, "vqvae", train, fingerprint).arrays["variables"]

  # Held-out reconstruction: each test repetition whole, cut to a multiple of the downsampling.
  ds = cfg.model.downsample
  recon, target = [], []
  for q in test_q:
    n = len(q) // ds * ds
    y, _ = vq_stage.reconstruct(model, variables, norm(q[:n])[None])
    recon.append(norm.inverse(y[0]))
    target.append(q[:n])
  recon, target = np.concatenate(recon), np.concatenate(target)
  err = recon - target
  mean_pose_err = norm.mean - target  # a model that always outputs the training mean pose
  rot = [i for i, name in enumerate(BIGE_COORDINATES) if name not in TRANSLATIONS]
  trans = [BIGE_COORDINATES.index(t) for t in TRANSLATIONS]
  per_coord = {
    name: float(np.sqrt(np.mean(err[:, i] ** 2))) for i, name in enumerate(BIGE_COORDINATES)
  }
  train_windows = np.concatenate(
    [sliding_windows(norm(q), cfg.window, max(cfg.window // 4, 1)) for q in train_q]
  )
  train_codes = vq_stage.reconstruct(model, variables, train_windows)[1]
  test_codes = np.concatenate(
    [
      vq_stage.reconstruct(model, variables, norm(q[: len(q) // ds * ds])[None])[1].ravel()
      for q in test_q
    ]
  )
  results = {
    "train_repetitions": len(train_q),
    "heldout_repetitions": len(test_q),
    "heldout_frames": int(len(target)),
    "rmse_rotational_deg": float(np.sqrt(np.mean(err[:, rot] ** 2))),
    "rmse_translation_mm": 1000 * float(np.sqrt(np.mean(err[:, trans] ** 2))),
    "mean_pose_rmse_rotational_deg": float(np.sqrt(np.mean(mean_pose_err[:, rot] ** 2))),
    "rmse_per_coordinate": per_coord,
    "train_code_usage": vq_stage.code_usage(train_codes, cfg.model.num_codes),
    "heldout_code_usage": vq_stage.code_usage(test_codes, cfg.model.num_codes),
    "config": to_dict(config),
  }
  report.write_json(workdir / "results.json", results)
  key = ["knee_angle_r", "knee_angle_l", "hip_flexion_r", "ankle_angle_r"]
  t = np.arange(len(target)) / RATE
  series = {}
  for k in key:
    i = BIGE_COORDINATES.index(k)
    series[f"{k} (real)"], series[f"{k} (VQ-VAE)"] = target[:, i], recon[:, i]
  report.plot_series(
    workdir / "reconstruction.png",
    t,
    series,
    title="Held-out squat repetitions: real vs VQ-VAE reconstruction",
    xlabel="time (s)",
    ylabel="angle (deg)",
    panels=[[f"{k} (real)", f"{k} (VQ-VAE)"] for k in key],
  )
  usage = results["train_code_usage"]
  table = report.markdown_table(
    ["metric", "value"],
    [
      ["training / held-out repetitions", f"{len(train_q)} / {len(test_q)}"],
      ["held-out frames (60 Hz)", len(target)],
      ["RMSE rotational coordinates (deg)", results["rmse_rotational_deg"]],
      ["  the training mean pose's (reference)", results["mean_pose_rmse_rotational_deg"]],
      ["RMSE pelvis translation (mm)", results["rmse_translation_mm"]],
      ["code perplexity (train windows)", usage["perplexity"]],
      ["codes used (train windows)", f"{usage['codes_used']} / {cfg.model.num_codes}"],
    ],
  )
  worst = sorted(per_coord.items(), key=lambda kv: -kv[1])[:5]
  md = (
    f"# squat_vqvae results\n\nData: {data.summary['line']}\n\n{table}\n\n"
    "Largest per-coordinate RMSE: "
    + ", ".join(f"{k} {v:.3g}" for k, v in worst)
    + "\n\n![reconstruction](reconstruction.png)\n"
  )
  (workdir / "results.md").write_text(md)
  print(md)
  return results
