"""BIGE: VQ-VAE + muscle surrogate + latent guidance toward clinician constraints, on squats.

Stages (each cached in the workdir by `motion_jax.train.artifacts.cached_stage`; rerunning skips
finished stages, a changed config reruns the stages it affects; `--config.stages` names the ones
wanted, their prerequisites run too):
  train_vqvae -> train_surrogate -> guide -> evaluate -> report
Data (`motion_jax.data.squat`): the embedded squat dataset (data/squats: real OpenCap kinematics
augmented into synthetic subjects, activations from OpenSim static optimisation) or a user's
OpenCap folder (`--config.data.source=opencap --config.data.path=DIR`), split by subject. Rows of
the report: Reference (held-out subjects), VQ-VAE (the guidance's initial latents decoded without
guidance) and BIGE (guided).

Choices where the paper is silent (config fields): training windows of 64 frames
(`vqvae.window`, `surrogate.window`; BIGE option_vq.py), evaluation and guidance windows of
`sample_len` = 196 frames (the code's max_motion_length; crop longer repetitions at the centre,
tile shorter ones), the FK model `fk_model` (the real subject's scaled model the squat dataset was
built from; with the generic model the real trial floats ~20 cm above the floor), the surrogate's
training stream seeded with `seed + 1`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import presets
from motion_jax.config import config_dict, to_dict
from motion_jax.data.squat import loader
from motion_jax.data.squat.source import RATE, SquatDataConfig, SquatSplits, load_splits
from motion_jax.data.squat.windows import Normaliser, stack_windows
from motion_jax.guidance import bige as guidance
from motion_jax.metrics import bige as metrics
from motion_jax.reports import bige as bige_report
from motion_jax.skeletons import opensim_fk
from motion_jax.skeletons.opencap import (
  BIGE_COORDINATES,
  BIGE_MUSCLES,
  LAI_ARNOLD_2017_CONTACTS,
  load_opencap_model,
)
from motion_jax.stages import surrogate as sur_stage
from motion_jax.stages import vqvae as vq_stage
from motion_jax.train import artifacts

STAGES = ("train_vqvae", "train_surrogate", "guide", "evaluate", "report")
FOOT_JOINTS = ("ankle_r", "mtp_r", "ankle_l", "mtp_l")
N_COORDS, N_MUSCLES = len(BIGE_COORDINATES), len(BIGE_MUSCLES)


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 123
  stages: str = ",".join(STAGES)
  data: SquatDataConfig = SquatDataConfig()
  sample_len: int = 196  # evaluation / guidance window (frames at 60 Hz)
  fk_model: str = LAI_ARNOLD_2017_CONTACTS  # FK model for guidance and metrics (data/opencap)
  vqvae: vq_stage.VQStageConfig = vq_stage.VQStageConfig()
  surrogate: sur_stage.SurrogateStageConfig = sur_stage.SurrogateStageConfig()
  guidance: guidance.GuidanceConfig = guidance.GuidanceConfig()

  def __post_init__(self):
    wanted = stage_list(self.stages)
    if not wanted:
      raise ValueError(f"stages: name at least one of {', '.join(STAGES)}")
    if self.sample_len % self.vqvae.model.downsample:
      raise ValueError(
        f"sample_len={self.sample_len} must be a multiple of 2**down_t = "
        f"{self.vqvae.model.downsample}"
      )


def stage_list(spec: str) -> list[str]:
  wanted = [s.strip() for s in spec.split(",") if s.strip()]
  unknown = sorted(set(wanted) - set(STAGES))
  if unknown:
    raise ValueError(f"stages: unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
  return wanted


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  g = c.guidance
  if preset == "quick":
    c = dataclasses.replace(c, sample_len=128)
    g = dataclasses.replace(
      g,
      steps=300,
      num_candidates=48,
      proximity_only_steps=50,
      ramp_steps=50,
      final_proximity_steps=50,
    )
  elif preset == "tiny":
    c = dataclasses.replace(
      c,
      sample_len=96,  # longer than the 32-frame training windows, on purpose
      data=dataclasses.replace(c.data, max_train_subjects=4, max_test_subjects=2),
      vqvae=dataclasses.replace(c.vqvae, window=32),
      surrogate=dataclasses.replace(c.surrogate, window=32),
    )
    g = dataclasses.replace(
      g, steps=6, num_candidates=4, proximity_only_steps=2, ramp_steps=2, final_proximity_steps=1
    )
  c = dataclasses.replace(
    c,
    vqvae=presets.vqvae(c.vqvae, preset),
    surrogate=presets.surrogate(c.surrogate, preset),
    guidance=g,
  )
  return config_dict(c)


# ----------------------------------------------------------------------------------------- data


def load_data(cfg: SquatDataConfig) -> SquatSplits:
  """Held-out-by-subject squat repetitions with activations (`motion_jax.data.squat.source`)."""
  return load_splits(cfg, require_activations=True)


def coordinates(examples) -> list[np.ndarray]:
  return [np.asarray(e["coordinates"], np.float32) for e in examples]


def activations(examples) -> list[np.ndarray]:
  return [np.asarray(e["activations"], np.float32) for e in examples]


# --------------------------------------------------------------------------------------- stages


def train_vqvae(config: Config, data: SquatSplits, norm: Normaliser, workdir: pathlib.Path):
  """(model, variables, StageResult) of the VQ-VAE stage."""
  cfg = config.vqvae
  model = vq_stage.make_model(cfg, N_COORDS)

  def fn():
    batcher = loader.make_batcher(
      data.train, norm, window=cfg.window, batch_size=cfg.batch_size, seed=config.seed
    )
    _, variables = vq_stage.train(
      cfg, batcher, N_COORDS, artifacts.stage_dir(workdir, "train_vqvae"), seed=config.seed
    )
    test = stack_windows([norm(q) for q in coordinates(data.test)], config.sample_len)
    recon, codes = vq_stage.reconstruct(model, variables, test)
    err = norm.inverse(recon) - norm.inverse(test)
    rot = [i for i, c in enumerate(BIGE_COORDINATES) if c not in metrics.TRANSLATIONS]
    info = {
      "heldout_rmse_rotational_deg": float(np.sqrt(np.mean(err[..., rot] ** 2))),
      "heldout_code_usage": vq_stage.code_usage(codes, cfg.model.num_codes),
    }
    return {"variables": variables, "normaliser": norm.to_tree()}, info

  fingerprint = {"data": to_dict(config.data), "vqvae": to_dict(cfg), "seed": config.seed,
                 "sample_len": config.sample_len}  # fmt: skip
  result = artifacts.cached_stage(workdir, "train_vqvae", fn, fingerprint)
  return model, result.arrays["variables"], result


def train_surrogate(config: Config, data: SquatSplits, norm: Normaliser, workdir: pathlib.Path):
  """(model, params, StageResult) of the muscle-surrogate stage."""
  cfg = config.surrogate
  max_len = max(cfg.window, config.sample_len)
  model = sur_stage.make_model(cfg, N_MUSCLES, max_len)

  def fn():
    batcher = loader.make_batcher(
      data.train, norm, window=cfg.window, batch_size=cfg.batch_size, seed=config.seed + 1
    )
    _, params = sur_stage.train(
      cfg,
      batcher,
      N_COORDS,
      N_MUSCLES,
      artifacts.stage_dir(workdir, "train_surrogate"),
      seed=config.seed,
      max_len=max_len,
    )
    test_q = stack_windows([norm(q) for q in coordinates(data.test)], config.sample_len)
    test_a = stack_windows(activations(data.test), config.sample_len)
    evaluation = sur_stage.evaluate(sur_stage.predict(model, params, test_q), test_a, BIGE_MUSCLES)
    return {"params": params}, evaluation

  fingerprint = {"data": to_dict(config.data), "surrogate": to_dict(cfg), "seed": config.seed,
                 "sample_len": config.sample_len}  # fmt: skip
  result = artifacts.cached_stage(workdir, "train_surrogate", fn, fingerprint)
  return model, result.arrays["params"], result


def frozen_models(config, vq, vq_vars, sur, sur_params, norm, train_latents, osim):
  fk = opensim_fk.make_fk(osim, BIGE_COORDINATES)
  return guidance.FrozenModels(
    decode=lambda zq: vq.apply(vq_vars, zq[None], method=type(vq).decode)[0],
    surrogate=lambda x: sur.apply({"params": sur_params}, x[None], train=False)[0],
    fk=fk,
    center_of_mass=lambda r: opensim_fk.center_of_mass(r, osim),
    codebook=jnp.asarray(vq_vars["codebook"]["quantizer"]["codebook"]),
    mean=jnp.asarray(norm.mean),
    std=jnp.asarray(norm.std),
    train_latents=jnp.asarray(train_latents),
    foot_joints=jnp.asarray([osim.joint_names.index(j) for j in FOOT_JOINTS]),
    fps=RATE,
  )


def run_guidance(config: Config, data, norm, vq, vq_vars, sur, sur_params, osim, workdir, after):
  """Guided (and unguided) candidates: arrays z0, z, history, {vqvae,bige}_{q,a}."""
  gcfg = config.guidance

  def fn():
    train_x = stack_windows([norm(q) for q in coordinates(data.train)], config.sample_len)
    train_latents = vq_stage.encode(vq, vq_vars, train_x)
    frozen = frozen_models(config, vq, vq_vars, sur, sur_params, norm, train_latents, osim)
    z0 = guidance.initial_latents(jax.random.PRNGKey(config.seed), frozen, gcfg)
    t0 = time.perf_counter()
    z, history = guidance.make_guide(frozen, gcfg)(z0)
    z = jax.block_until_ready(z)
    seconds = time.perf_counter() - t0
    decode = jax.jit(jax.vmap(lambda zi: guidance.decode_candidate(zi, frozen)))
    results = {"z0": np.asarray(z0), "z": np.asarray(z), "history": np.asarray(history)}
    for name, latents in (("vqvae", z0), ("bige", z)):
      _, q, a = decode(latents)
      results[f"{name}_q"], results[f"{name}_a"] = np.asarray(q), np.asarray(a)
    info = {
      "seconds": seconds,
      "candidates": gcfg.num_candidates,
      "steps": gcfg.steps,
      "candidate_steps_per_sec": gcfg.num_candidates * gcfg.steps / seconds,
    }
    return results, info

  fingerprint = {"guidance": to_dict(gcfg), "fk_model": config.fk_model, "after": after,
                 "seed": config.seed}  # fmt: skip
  return artifacts.cached_stage(workdir, "guide", fn, fingerprint)


def reference_sets(data: SquatSplits, guided: dict, length: int) -> dict[str, tuple]:
  ref_q = stack_windows(coordinates(data.test), length)
  ref_a = stack_windows(activations(data.test), length)
  return {
    "Reference": (ref_q, ref_a),
    "VQ-VAE": (guided["vqvae_q"], guided["vqvae_a"]),
    "BIGE": (guided["bige_q"], guided["bige_a"]),
  }


def evaluate(config: Config, data: SquatSplits, guided, osim, workdir, after):
  def fn():
    sets = reference_sets(data, guided, guided["bige_q"].shape[1])
    ref_q = sets["Reference"][0]
    results = {}
    for name, (q, a) in sets.items():
      joints, com = metrics.kinematics(osim, q)
      results[name] = metrics.evaluate_set(q, a, joints, com, RATE, reference_q=ref_q)
    results["closer_than_vqvae"] = metrics.closer_to_reference(
      results["Reference"], results["BIGE"], results["VQ-VAE"]
    )
    return {}, results

  fingerprint = {"after": after, "data": to_dict(config.data), "fk_model": config.fk_model}
  return artifacts.cached_stage(workdir, "evaluate", fn, fingerprint)


def run(config: Config, workdir: str) -> dict[str, Any]:
  workdir = pathlib.Path(workdir)
  last = max(STAGES.index(s) for s in stage_list(config.stages))
  data = load_data(config.data)
  norm = Normaliser.fit(coordinates(data.train))
  osim = load_opencap_model(config.fk_model)
  vq, vq_vars, vq_result = train_vqvae(config, data, norm, workdir)
  if last < STAGES.index("train_surrogate"):
    return vq_result.info
  sur, sur_params, sur_result = train_surrogate(config, data, norm, workdir)
  if last < STAGES.index("guide"):
    return sur_result.info
  after = [vq_result.fingerprint, sur_result.fingerprint]
  guided_result = run_guidance(
    config, data, norm, vq, vq_vars, sur, sur_params, osim, workdir, after
  )
  guided = guided_result.arrays
  if last < STAGES.index("evaluate"):
    return guided_result.info
  results = evaluate(config, data, guided, osim, workdir, [guided_result.fingerprint]).info
  if last >= STAGES.index("report"):
    sets = reference_sets(data, guided, guided["bige_q"].shape[1])
    bige_report.write(to_dict(config), workdir, sets, guided, results, osim, RATE, config.seed)
  return results
