"""BIGE report: results.json, results.md (tables shaped like the paper's Tables 2 and 3),
figures, and the guided motions as OpenSim .mot files."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from motion_jax.data.formats import mot
from motion_jax.guidance import bige as guidance
from motion_jax.io import plots, report
from motion_jax.metrics import bige as metrics
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

ROWS = ("Reference", "VQ-VAE", "BIGE")
TABLE2_COLUMNS = {
  "fidelity_w2": "Fidelity W2 (paper) ↓",
  "fidelity_w2_pooled": "W2 pooled² (code)",
  "diversity": "|H_real−H_gen| ↓",
  "entropy_gen": "H_gen",
  "penetration_mm": "Penetration (mm)",
  "floating_mm": "Floating (mm)",
  "sliding_mm": "Sliding (mm)",
}
TABLE3_COLUMNS = {
  "pelvis_tilt_at_peak": "Pelvis tilt at peak (deg)",
  "asymmetry": "Asymmetry (deg)",
  "angular_velocity": "Angular vel. (deg/s)",
  "com_velocity": "COM vel. (m/s)",
  "com_acceleration": "COM acc. (m/s²)",
  "constraint": "Constraint viol.",
  "constraint_satisfied": "Constraint met (frac.)",
}


def _cell(entry: dict[str, float] | None) -> str:
  if entry is None:
    return "–"
  if entry.get("std", 0.0):
    return f"{entry['mean']:.3g} ± {entry['std']:.2g}"
  return f"{entry['mean']:.3g}"


def tables_markdown(results: dict[str, Any]) -> str:
  t2 = report.markdown_table(
    ["Method", *TABLE2_COLUMNS.values()],
    [[row, *(_cell(results[row].get(k)) for k in TABLE2_COLUMNS)] for row in ROWS],
  )
  t3 = report.markdown_table(
    ["Method", *TABLE3_COLUMNS.values()],
    [[row, *(_cell(results[row].get(k)) for k in TABLE3_COLUMNS)] for row in ROWS],
  )
  closer = results["closer_than_vqvae"]
  wins = sum(closer.values())
  lines = [
    f"- {TABLE3_COLUMNS[k]}: {'BIGE' if v else 'VQ-VAE'} closer to Reference"
    for k, v in closer.items()
  ]
  fidelity_better = (
    results["BIGE"]["fidelity_w2"]["mean"] < results["VQ-VAE"]["fidelity_w2"]["mean"]
  )
  return (
    f"## Table 2: fidelity, diversity, foot contact\n\n{t2}\n\n"
    f"## Table 3: clinician constraints\n\n{t3}\n\n"
    f"BIGE is closer to Reference than VQ-VAE on **{wins} of {len(closer)}** Table-3 "
    f"metrics, and its fidelity W2 is **{'lower' if fidelity_better else 'not lower'}** "
    f"than VQ-VAE's.\n\n" + "\n".join(lines) + "\n"
  )


def _osim_chains(osim) -> list[list[int]]:
  child_of = {j.child_body: i for i, j in enumerate(osim.joints)}
  parents = [child_of.get(j.parent_body, -1) for j in osim.joints]
  return plots.chains_from_parents(parents)


def write_mot_files(directory: pathlib.Path, q: np.ndarray, fps: float, prefix: str) -> list[str]:
  directory.mkdir(parents=True, exist_ok=True)
  times = np.arange(q.shape[1]) / fps
  paths = []
  for i, sample in enumerate(q):
    path = directory / f"{prefix}_{i:03d}.mot"
    mot.write_mot(
      path,
      mot.make_motion(
        BIGE_COORDINATES,
        times,
        sample.astype(np.float64),
        in_degrees=True,
        name=f"{prefix}_{i:03d}",
      ),
    )
    paths.append(str(path))
  return paths


def write(
  config: dict[str, Any],
  workdir: pathlib.Path,
  sets: dict[str, tuple[np.ndarray, np.ndarray]],
  guided: dict[str, np.ndarray],
  results: dict[str, Any],
  osim,
  fps: float,
  seed: int,
) -> None:
  """results.json / results.md, figures and .mot exports of one run.

  Args:
    config: the run's config (a plain dict, recorded with the results).
    sets: {'Reference' | 'VQ-VAE' | 'BIGE': (q [N, T, 33] deg/m, activations [N, T, 80])}.
    guided: the guide stage's arrays (history, bige_q, bige_a, vqvae_q, ...).
    results: the evaluate stage's metrics.
    osim: the FK model; fps: frame rate; seed: the run's seed.
  """
  ref_q = sets["Reference"][0]
  length = guided["bige_q"].shape[1]
  t = np.arange(length) / fps
  series, panels = {}, []
  for coord in ("knee_angle_r", "hip_flexion_r"):
    i = BIGE_COORDINATES.index(coord)
    panels.append([f"{coord} {row}" for row in ROWS])
    for row, (q, _) in sets.items():
      series[f"{coord} {row}"] = q[..., i].mean(0)
  j = BIGE_MUSCLES.index("vasmed_r")
  panels.append([f"vasmed_r activation {row}" for row in ROWS])
  for row, (_, a) in sets.items():
    series[f"vasmed_r activation {row}"] = a[..., j].mean(0)
  report.plot_series(
    workdir / "squat_cycle.png",
    t,
    series,
    title="Mean over samples: knee / hip angle (deg) and vasmed activation",
    xlabel="time (s)",
    ylabel="value",
    panels=panels,
  )
  history = guided["history"]
  names = list(guidance.TERMS) + ["weighted total"]
  report.plot_series(
    workdir / "guidance_loss.png",
    np.arange(len(history)),
    {n: np.log10(np.maximum(history[:, k], 1e-12)) for k, n in enumerate(names)},
    title="Guidance terms (candidate mean, unweighted; log10)",
    xlabel="step",
    ylabel="log10 value",
    panels=[names[:5], names[5:]],
  )
  # A stick-figure strip of the guided squat with the highest peak vasmed activation.
  best = int(np.argmax(guided["bige_a"][..., BIGE_MUSCLES.index("vasmed_r")].max(1)))
  joints, _ = metrics.kinematics(osim, guided["bige_q"][best : best + 1])
  plots.save_keyframe_strip(
    workdir / "guided_squat.png",
    joints[0],
    _osim_chains(osim),
    caption=f"BIGE guided squat #{best}",
    fps=fps,
  )
  mots = write_mot_files(workdir / "mot", guided["bige_q"], fps, "bige")
  write_mot_files(workdir / "mot", guided["vqvae_q"][:4], fps, "vqvae")
  summary = {
    "results": results,
    "mot_files": mots[:3] + ["..."],
    "seed": seed,
    "config": config,
  }
  report.write_json(workdir / "results.json", summary)
  md = (
    f"# BIGE results (`{workdir.name}`)\n\nReference: {len(ref_q)} held-out repetitions; "
    f"VQ-VAE and BIGE: {len(guided['bige_q'])} candidates of {length} frames at {fps:g} Hz "
    f"(VQ-VAE = the same initial latents decoded without guidance). Metric definitions: "
    f"`motion_jax/metrics/bige.py`.\n\n"
    + tables_markdown(results)
    + "\n![squat cycle](squat_cycle.png)\n\n![guided squat](guided_squat.png)\n\n"
    "![guidance loss](guidance_loss.png)\n"
  )
  (workdir / "results.md").write_text(md)
  print(md)
