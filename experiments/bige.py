"""BIGE: VQ-VAE + muscle surrogate + latent guidance toward clinician constraints, on squats.

Stages (each cached in the workdir; rerunning skips finished stages, `--config.stages` picks):
  train_vqvae -> train_surrogate -> guide -> evaluate -> report
Data: the embedded squat dataset (data/squats: real OpenCap kinematics augmented into synthetic
subjects, activations from OpenSim static optimisation) or a user's OpenCap folder
(`--config.data.opencap_root=DIR`), split by subject. Rows of the report: Reference (held-out
subjects), VQ-VAE (the guidance's initial latents decoded without guidance) and BIGE (guided).
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import base
from motion_jax.data import squat_reps
from motion_jax.data.windows import fit_length, random_windows
from motion_jax.guidance import bige as guidance
from motion_jax.io import bige_report, report
from motion_jax.metrics import bige as metrics
from motion_jax.skeletons import opensim_fk
from motion_jax.skeletons.opencap import (
  BIGE_COORDINATES,
  LAI_ARNOLD_2017_CONTACTS,
  load_opencap_model,
)
from motion_jax.stages import surrogate as sur_stage
from motion_jax.stages import vqvae as vq_stage

STAGES = ("train_vqvae", "train_surrogate", "guide", "evaluate", "report")
FOOT_JOINTS = ("ankle_r", "mtp_r", "ankle_l", "mtp_l")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  base.is_quick(arg)
  c = base.get_config()
  c.seed = 123
  c.stages = ",".join(STAGES)
  c.data = ml_collections.ConfigDict(
    dict(
      root="",  # a squat dataset built by data/build_squat_dataset.py; "" = data/squats
      opencap_root="",  # a user's OpenCap folder (muscle-driven trials) instead
      rate=60.0,  # BIGE works at 60 Hz
      sample_len=196,  # BIGE's window: crop longer repetitions, tile shorter ones
      max_train_subjects=0,  # 0: all
      max_test_subjects=0,
      # FK model for guidance and metrics: the real subject's scaled model, which the squat dataset
      # was built from (with the generic model the real trial floats ~20 cm above the floor).
      model=LAI_ARNOLD_2017_CONTACTS,
    )
  )
  c.vqvae = vq_stage.default_config(arg)
  c.vqvae.window = 64  # BIGE option_vq.py --window-size
  c.surrogate = sur_stage.default_config(arg)
  g = ml_collections.ConfigDict()
  g.steps, g.learning_rate, g.num_candidates = 2000, 0.05, 256
  g.init, g.init_noise, g.schedule = "normal", 1.0, "all"
  g.proximity_only_steps, g.ramp_steps, g.final_proximity_steps = 500, 500, 1000
  g.activation_low, g.activation_high = 0.35, 0.45
  g.com, g.contact_height = "whole_body", 0.03
  g.weight_set = "paper"  # 'paper' (every Table-1 term) or 'code' (LIMO_Surrogate.py)
  g.weights = ml_collections.ConfigDict(dict(guidance.PAPER_WEIGHTS))  # used when 'paper'
  c.guidance = g
  if arg == "quick":
    c.data.sample_len = 128
    g.steps, g.num_candidates = 300, 48
    g.proximity_only_steps, g.ramp_steps, g.final_proximity_steps = 50, 50, 50
  elif arg == "tiny":
    c.data.sample_len = 96  # longer than the 32-frame training windows, on purpose
    c.data.max_train_subjects, c.data.max_test_subjects = 4, 2
    c.vqvae.window = c.surrogate.window = 32
    g.steps, g.num_candidates = 6, 4
    g.proximity_only_steps, g.ramp_steps, g.final_proximity_steps = 2, 2, 1
  return c


# ----------------------------------------------------------------------------------------- data


def load_data(cfg: Any) -> dict[str, dict[str, Any]]:
  """{'train'|'test': {'q': [reps [T,33] deg/m], 'a': [reps [T,80]], 'subject': [ids]}}."""
  return squat_reps.load_repetitions(
    opencap_root=cfg.opencap_root or None,
    rate=cfg.rate,
    root=pathlib.Path(cfg.root) if cfg.root else squat_reps.EMBEDDED_DIR,
    max_train_subjects=cfg.max_train_subjects or None,
    max_test_subjects=cfg.max_test_subjects or None,
  )


class Normaliser:
  def __init__(self, seqs):
    frames = np.concatenate(seqs)
    self.mean = frames.mean(0).astype(np.float32)
    self.std = np.maximum(frames.std(0), 1e-3).astype(np.float32)

  def __call__(self, x):
    return (x - self.mean) / self.std

  def inverse(self, x):
    return x * self.std + self.mean


# ---------------------------------------------------------------------------------- stage cache


def _done_path(workdir: pathlib.Path, stage: str) -> pathlib.Path:
  return workdir / "stages" / f"{stage}.json"


def _is_done(workdir, stage) -> bool:
  return _done_path(workdir, stage).exists()


def _mark_done(workdir, stage, info: dict) -> None:
  path = _done_path(workdir, stage)
  path.parent.mkdir(parents=True, exist_ok=True)
  report.write_json(path, {"stage": stage, "finished": time.time(), **info})


def _save_tree(path: pathlib.Path, tree) -> None:
  flat = {
    jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]
  }
  tmp = path.with_suffix(".tmp.npz")
  np.savez(tmp, **flat)
  tmp.replace(path)


def _load_tree(path: pathlib.Path, like):
  data = np.load(path)
  leaves = [data[jax.tree_util.keystr(k)] for k, _ in jax.tree_util.tree_flatten_with_path(like)[0]]
  return jax.tree.unflatten(jax.tree.structure(like), leaves)


# ---------------------------------------------------------------------------------------- stages


def build_vq(config, data, norm, workdir: pathlib.Path):
  model = vq_stage.model_from_config(config.vqvae, 33)
  out = workdir / "train_vqvae" / "vqvae_variables.npz"
  if _is_done(workdir, "train_vqvae") and out.exists():
    init = vq_stage.make_init_fn(model, config.vqvae.window, 1)(jax.random.PRNGKey(0))
    variables = _load_tree(out, {"params": init[0], "codebook": init[1]["codebook"]})
    return model, variables
  rng = np.random.default_rng(config.seed)
  train_seqs = [norm(q) for q in data["train"]["q"]]
  windows = random_windows(train_seqs, config.vqvae.window, max(512, 8 * len(train_seqs)), rng)
  model, variables = vq_stage.train(
    config.vqvae, windows, workdir / "train_vqvae", seed=config.seed
  )
  _save_tree(out, variables)
  test = np.stack([fit_length(norm(q), config.data.sample_len) for q in data["test"]["q"]])
  n = test.shape[1] // model.cfg.downsample * model.cfg.downsample
  recon, codes = vq_stage.reconstruct(model, variables, test[:, :n])
  err = norm.inverse(recon) - norm.inverse(test[:, :n])
  rot = [i for i, c in enumerate(BIGE_COORDINATES) if c not in metrics.TRANSLATIONS]
  _mark_done(
    workdir,
    "train_vqvae",
    {
      "heldout_rmse_rotational_deg": float(np.sqrt(np.mean(err[..., rot] ** 2))),
      "heldout_code_usage": vq_stage.code_usage(codes, model.cfg.num_codes),
    },
  )
  return model, variables


def build_surrogate(config, data, norm, workdir: pathlib.Path):
  s = config.surrogate
  model = sur_stage.model_from_config(s, max(s.window, config.data.sample_len))
  out = workdir / "train_surrogate" / "surrogate_params.npz"
  if _is_done(workdir, "train_surrogate") and out.exists():
    like = model.init(jax.random.PRNGKey(0), jnp.zeros((1, s.window, 33)))["params"]
    return model, _load_tree(out, like)
  rng = np.random.default_rng(config.seed + 1)
  pairs = [np.concatenate([norm(q), a], -1) for q, a in zip(data["train"]["q"], data["train"]["a"])]
  windows = random_windows(pairs, s.window, max(512, 8 * len(pairs)), rng)
  model, params = sur_stage.train(
    s,
    windows[..., :33],
    windows[..., 33:],
    workdir / "train_surrogate",
    seed=config.seed,
    max_len=model.cfg.max_len,
  )
  _save_tree(out, params)
  test_q = np.stack([fit_length(norm(q), config.data.sample_len) for q in data["test"]["q"]])
  test_a = np.stack([fit_length(a, config.data.sample_len) for a in data["test"]["a"]])
  evaluation = sur_stage.evaluate(sur_stage.predict(model, params, test_q), test_a)
  report.write_json(workdir / "train_surrogate" / "heldout_evaluation.json", evaluation)
  _mark_done(workdir, "train_surrogate", {k: v for k, v in evaluation.items() if k != "per_muscle"})
  return model, params


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
  )


def guidance_config(config) -> guidance.GuidanceConfig:
  g = config.guidance
  weights = guidance.CODE_WEIGHTS if g.weight_set == "code" else dict(g.weights)
  if g.weight_set not in ("code", "paper"):
    raise ValueError(f"guidance.weight_set must be 'paper' or 'code', got {g.weight_set!r}")
  return guidance.config_from(g, weights)


def run_guidance(config, data, norm, vq, vq_vars, sur, sur_params, osim, workdir):
  out = workdir / "guide" / "latents.npz"
  if _is_done(workdir, "guide") and out.exists():
    return dict(np.load(out))
  train_x = np.stack([fit_length(norm(q), config.data.sample_len) for q in data["train"]["q"]])
  n = train_x.shape[1] // vq.cfg.downsample * vq.cfg.downsample
  encode = jax.jit(lambda v, x: vq.apply(v, x, method=type(vq).encode))
  train_latents = np.concatenate(
    [
      np.asarray(encode(vq_vars, jnp.asarray(train_x[i : i + 64, :n])))
      for i in range(0, len(train_x), 64)
    ]
  )
  frozen = frozen_models(config, vq, vq_vars, sur, sur_params, norm, train_latents, osim)
  gcfg = guidance_config(config)
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
  out.parent.mkdir(parents=True, exist_ok=True)
  np.savez(out, **results)
  _mark_done(
    workdir,
    "guide",
    {
      "seconds": seconds,
      "candidates": gcfg.num_candidates,
      "steps": gcfg.steps,
      "candidate_steps_per_sec": gcfg.num_candidates * gcfg.steps / seconds,
    },
  )
  return results


def evaluate(config, data, guided, osim, workdir):
  out = workdir / "evaluate" / "metrics.json"
  if _is_done(workdir, "evaluate") and out.exists():
    return json.loads(out.read_text())
  fps, length = config.data.rate, guided["bige_q"].shape[1]
  ref_q = np.stack([fit_length(q, length) for q in data["test"]["q"]])
  ref_a = np.stack([fit_length(a, length) for a in data["test"]["a"]])
  sets = {
    "Reference": (ref_q, ref_a),
    "VQ-VAE": (guided["vqvae_q"], guided["vqvae_a"]),
    "BIGE": (guided["bige_q"], guided["bige_a"]),
  }
  results = {}
  for name, (q, a) in sets.items():
    joints, com = metrics.kinematics(osim, q)
    results[name] = metrics.evaluate_set(q, a, joints, com, fps, reference_q=ref_q)
  results["closer_than_vqvae"] = metrics.closer_to_reference(
    results["Reference"], results["BIGE"], results["VQ-VAE"]
  )
  out.parent.mkdir(parents=True, exist_ok=True)
  report.write_json(out, results)
  _mark_done(workdir, "evaluate", {})
  return results


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  workdir = pathlib.Path(workdir)
  wanted = [s.strip() for s in config.stages.split(",") if s.strip()]
  unknown = sorted(set(wanted) - set(STAGES))
  if unknown:
    raise ValueError(f"config.stages: unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
  data = load_data(config.data)
  norm = Normaliser(data["train"]["q"])
  osim = load_opencap_model(config.data.model)
  vq, vq_vars = build_vq(config, data, norm, workdir)
  if wanted == ["train_vqvae"]:
    return {}
  sur, sur_params = build_surrogate(config, data, norm, workdir)
  if "guide" not in wanted and "evaluate" not in wanted and "report" not in wanted:
    return {}
  guided = run_guidance(config, data, norm, vq, vq_vars, sur, sur_params, osim, workdir)
  if "evaluate" not in wanted and "report" not in wanted:
    return {}
  results = evaluate(config, data, guided, osim, workdir)
  if "report" in wanted:
    bige_report.write(config, workdir, data, guided, results, osim)
  return results
