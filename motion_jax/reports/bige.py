"""BIGE report: results.json, results.md (our Tables 2 and 3 beside the paper's), constraints.md
(which clinician constraints each exported squat meets), figures, and the kept guided squats as
OpenSim .mot files.

Rows: Reference (held-out motions), MoCap (the real OpenCap trial), VQ-VAE (latents sampled from
the encoder's latent distribution, decoded), Reconstruction (the Reference windows through the
frozen VQ-VAE: what the decoder makes of real squats), BIGE (all) (every guided candidate) and
BIGE (the kept candidates). With several seeds each cell is the mean over seeds of the per-seed
value with a 95 % t-interval over seeds; with one seed, mean +- std over samples.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from motion_jax.data.formats import mot
from motion_jax.io import plots, report
from motion_jax.metrics import bige as metrics
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

ROWS = ("Reference", "MoCap", "VQ-VAE", "Reconstruction", "BIGE (all)", "BIGE")
TABLE2_COLUMNS = {
  "fidelity": "Fidelity W2² (eq. 5) ↓",
  "diversity": "Diversity H →",
  "penetration_cm": "Penetration (cm) ↓",
  "floating_cm": "Floating (cm) ↓",
  "sliding": "Sliding (m/s)",
  "diversity_gap": "|H_real−H| ↓",
  "fidelity_set": "W2² set-pooled (code)",
  "fidelity_w2_gauss": "Gaussian W2 (ours)",
}
TABLE3_COLUMNS = {
  "pelvis_tilt": "Pelvis tilt (deg) →",
  "asymmetry": "Asymmetry (deg) →",
  "angular_velocity": "ω (deg/s) →",
  "com_velocity": "COM vel. (m/s) →",
  "com_acceleration": "COM acc. (m/s²) →",
  "constraint": "Constraint viol. ↓",
  "constraint_satisfied": "In vasmed range (frac.)",
}
#: BIGE paper, Tables 2 and 3 (UCSD OpenCap fitness data: their data, not ours). mean, std.
PAPER_TABLE2 = {
  "Reference": {"diversity": (1.736, None), "penetration_cm": (0.003, 0.057),
                "floating_cm": (0.000, 0.021), "sliding": (0.035, 0.024)},
  "MoCap": {"fidelity": (7.855, 9.902), "diversity": (1.773, 0.015),
            "penetration_cm": (0.501, 0.987), "floating_cm": (0.759, 1.649),
            "sliding": (0.209, 0.161)},
  "MDM": {"fidelity": (257.95, 105.92), "diversity": (1.26, 0.05),
          "penetration_cm": (2.685, 3.840), "floating_cm": (3.216, 4.636),
          "sliding": (1.395, 2.672)},
  "T2M-GPT": {"fidelity": (459.49, 257.30), "diversity": (1.45, 0.05),
              "penetration_cm": (1.997, 2.938), "floating_cm": (2.440, 3.606),
              "sliding": (3.770, 4.758)},
  "VQ-VAE": {"fidelity": (45.99, 4.67), "diversity": (1.82, 0.03),
             "penetration_cm": (2.035, 3.016), "floating_cm": (2.331, 3.506),
             "sliding": (1.351, 0.830)},
  "BIGE": {"fidelity": (6.48, 4.46), "diversity": (1.76, 0.03),
           "penetration_cm": (2.327, 3.659), "floating_cm": (2.379, 3.561),
           "sliding": (0.291, 0.255)},
}  # fmt: skip
PAPER_TABLE3 = {
  "Reference": {"pelvis_tilt": (-23.40, None), "asymmetry": (2.42, None),
                "angular_velocity": (90.04, None), "com_velocity": (0.54, None),
                "com_acceleration": (2.65, None), "constraint": (0.08, None)},
  "MoCap": {"pelvis_tilt": (-28.13, 6.03), "asymmetry": (2.76, 0.59),
            "angular_velocity": (96.24, 13.96), "com_velocity": (0.67, 0.14),
            "com_acceleration": (30.45, 5.55), "constraint": (0.03, 0.03)},
  "MDM": {"pelvis_tilt": (0.42, 1.87), "asymmetry": (2.25, 0.28),
          "angular_velocity": (554.10, 112.77), "com_velocity": (3.39, 0.79),
          "com_acceleration": (335.86, 81.37), "constraint": (0.03, 0.02)},
  "T2M-GPT": {"pelvis_tilt": (4.16, 2.42), "asymmetry": (4.73, 0.29),
              "angular_velocity": (918.14, 42.06), "com_velocity": (6.09, 0.48),
              "com_acceleration": (597.95, 54.60), "constraint": (0.02, 0.01)},
  "VQ-VAE": {"pelvis_tilt": (-20.69, 0.51), "asymmetry": (1.12, 0.03),
             "angular_velocity": (37.78, 0.42), "com_velocity": (1.59, 0.08),
             "com_acceleration": (128.24, 6.49), "constraint": (0.16, 0.01)},
  "BIGE": {"pelvis_tilt": (-23.09, 1.54), "asymmetry": (2.09, 0.14),
           "angular_velocity": (56.95, 1.94), "com_velocity": (0.51, 0.04),
           "com_acceleration": (27.32, 3.88), "constraint": (0.06, 0.01)},
}  # fmt: skip
PAPER_LABEL = "paper, UCSD data"


# ------------------------------------------------------------------------------- aggregation


def interval95(values) -> tuple[float, float, float]:
  """(mean, low, high): a 95 % Student-t interval of the mean of `values` (nan bounds for one)."""
  v = np.asarray(values, np.float64)
  mean = float(v.mean())
  if len(v) < 2:
    return mean, math.nan, math.nan
  from scipy import stats

  half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
  return mean, mean - half, mean + half


def seed_summary(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
  """``{metric: {mean, ci95, values}}`` over seeds for every metric of ``per_seed[0]``: the mean
  and the `interval95` half-width (0 for one seed)."""
  out = {}
  for key in per_seed[0]:
    values = [float(m[key]) for m in per_seed]
    mean, _, high = interval95(values)
    out[key] = {"mean": mean, "ci95": high - mean if len(values) > 1 else 0.0, "values": values}
  return out


def summarise(per_seed: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
  """Seed-level aggregation and the verdicts of one run (all seeds)."""
  seeds = sorted(per_seed)
  first = per_seed[seeds[0]]
  rows = [r for r in ROWS if r in first]
  agg: dict[str, dict[str, dict[str, float]]] = {}
  for row in rows:
    agg[row] = {}
    for metric in first[row]:
      vals = [per_seed[s][row][metric]["mean"] for s in seeds]
      mean, lo, hi = interval95(vals)
      sample_std = float(np.mean([per_seed[s][row][metric]["std"] for s in seeds]))
      agg[row][metric] = {"mean": mean, "lo": lo, "hi": hi, "std": sample_std, "values": vals}
  closer, diff = {}, {}
  for m in metrics.TABLE3:
    ref = [per_seed[s]["Reference"][m]["mean"] for s in seeds]
    vq = [per_seed[s]["VQ-VAE"][m]["mean"] for s in seeds]
    bg = [per_seed[s]["BIGE"][m]["mean"] for s in seeds]
    d = [metrics.gain(r, b, v, m) for r, v, b in zip(ref, vq, bg)]  # > 0: BIGE better
    mean, lo, hi = interval95(d)
    diff[m] = {"mean": mean, "lo": lo, "hi": hi}
    closer[m] = {
      "per_seed": [x > 0 for x in d],
      "bige_closer_on_mean": mean > 0,
      "outside_interval": bool(lo > 0 or hi < 0) if not math.isnan(lo) else None,
    }
  wins = [sum(closer[m]["per_seed"][k] for m in metrics.TABLE3) for k in range(len(seeds))]
  fid_better = [
    per_seed[s]["BIGE"]["fidelity"]["mean"] < per_seed[s]["VQ-VAE"]["fidelity"]["mean"]
    for s in seeds
  ]
  com_ratio = [
    per_seed[s]["BIGE"]["com_acceleration"]["mean"]
    / max(per_seed[s]["Reference"]["com_acceleration"]["mean"], 1e-12)
    for s in seeds
  ]
  in_range = [per_seed[s]["BIGE"]["constraint_satisfied"]["mean"] for s in seeds]
  return {
    "seeds": seeds,
    "rows": agg,
    "closer_than_vqvae": closer,
    "distance_gain": diff,
    "wins_per_seed": wins,
    "fidelity_bige_below_vqvae": fid_better,
    "com_acc_ratio_to_reference": com_ratio,
    "kept_in_vasmed_range": in_range,
    "per_seed": {str(s): per_seed[s] for s in seeds},
  }


# ------------------------------------------------------------------------------------ tables


def _fmt(x: float) -> str:
  return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def _cell(entry: Mapping[str, float] | None, n_seeds: int) -> str:
  if entry is None:
    return "–"
  if n_seeds > 1:
    return f"{_fmt(entry['mean'])} [{_fmt(entry['lo'])}, {_fmt(entry['hi'])}]"
  if entry.get("std"):
    return f"{_fmt(entry['mean'])} ± {entry['std']:.2g}"
  return _fmt(entry["mean"])


def _paper_cell(v: tuple[float, float | None] | None) -> str:
  if v is None:
    return "–"
  return f"{v[0]:.4g}" + (f" ± {v[1]:.3g}" if v[1] is not None else "")


def _table(summary, columns, paper) -> str:
  n = len(summary["seeds"])
  ours = [
    [row, *(_cell(summary["rows"][row].get(k), n) for k in columns)]
    for row in ROWS
    if row in summary["rows"]
  ]
  theirs = [
    [f"*{row} ({PAPER_LABEL})*", *(_paper_cell(vals.get(k)) for k in columns)]
    for row, vals in paper.items()
  ]
  return report.markdown_table(["Method", *columns.values()], ours + theirs)


def tables_markdown(summary: Mapping[str, Any]) -> str:
  seeds = summary["seeds"]
  n = len(seeds)
  closer = summary["closer_than_vqvae"]
  lines = []
  for m, c in closer.items():
    g = summary["distance_gain"][m]
    sig = {True: "outside", False: "inside", None: "one seed, no"}[c["outside_interval"]]
    lines.append(
      f"- {TABLE3_COLUMNS[m]}: BIGE better than VQ-VAE on {sum(c['per_seed'])} of {n} "
      f"seed(s); gain {_fmt(g['mean'])} "
      f"[{_fmt(g['lo'])}, {_fmt(g['hi'])}] ({sig} interval)"
    )
  ratio = summary["com_acc_ratio_to_reference"]
  how = (
    "mean over seeds [95 % t-interval over seeds]" if n > 1 else "mean ± std over samples, one seed"
  )
  return (
    f"Cells: {how}. Rows in *italics* are the paper's (UCSD data, their models): direction and "
    "magnitude only, not comparable number for number.\n\n"
    f"## Table 2: realism and floor\n\n{_table(summary, TABLE2_COLUMNS, PAPER_TABLE2)}\n\n"
    f"## Table 3: clinician constraints\n\n{_table(summary, TABLE3_COLUMNS, PAPER_TABLE3)}\n\n"
    "## Verdict\n\n"
    "Better: closer to Reference (→); for the constraint violation, lower (↓).\n\n"
    f"- BIGE (kept) better than VQ-VAE, per seed: "
    f"{', '.join(f'{w} of 6' for w in summary['wins_per_seed'])} (paper's BIGE: 6 of 6).\n"
    f"- Fidelity (eq. 5) BIGE < VQ-VAE per seed: {summary['fidelity_bige_below_vqvae']}.\n"
    f"- Kept candidates in the vasmed range, per seed: "
    f"{', '.join(f'{100 * v:.0f} %' for v in summary['kept_in_vasmed_range'])}.\n"
    f"- COM acceleration / Reference, per seed: {', '.join(f'{r:.2f}x' for r in ratio)} "
    "(paper's BIGE: 27.32 / 2.65 = 10.3x).\n" + "\n".join(lines) + "\n"
  )


# ---------------------------------------------------------------------------------- exports


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
        BIGE_COORDINATES, times, sample.astype(np.float64), in_degrees=True, name=path.stem
      ),
    )
    paths.append(str(path))
  return paths


def constraint_rows(q, a, low, high, tilt_target, tilt_tolerance) -> list[dict[str, Any]]:
  """Per squat: peak vasmed activations, tilt at peak, and which constraints it meets."""
  peak = metrics.vasmed_activation(a).max(1)  # [N, 2]
  tilt = metrics.pelvis_tilt(q, a)
  out = []
  for i in range(len(q)):
    in_range = bool(np.all((peak[i] >= low) & (peak[i] <= high)))
    tilt_ok = bool(abs(tilt[i] - tilt_target) <= tilt_tolerance)
    out.append(
      {
        "vasmed_l_peak": float(peak[i, 0]),
        "vasmed_r_peak": float(peak[i, 1]),
        "in_activation_range": in_range,
        "pelvis_tilt_deg": float(tilt[i]),
        "tilt_within_tolerance": tilt_ok,
      }
    )
  return out


def constraints_markdown(rows, files, low, high, tilt_target, tilt_tolerance) -> str:
  n = len(rows)
  n_act = sum(r["in_activation_range"] for r in rows)
  n_tilt = sum(r["tilt_within_tolerance"] for r in rows)
  n_both = sum(r["in_activation_range"] and r["tilt_within_tolerance"] for r in rows)
  table = report.markdown_table(
    ["file", "vasmed_l peak", "vasmed_r peak", f"in [{low:g}, {high:g}]", "tilt (deg)",
     f"tilt within {tilt_tolerance:g} of {tilt_target:.1f}"],
    [[pathlib.Path(f).name, f"{r['vasmed_l_peak']:.3f}", f"{r['vasmed_r_peak']:.3f}",
      "yes" if r["in_activation_range"] else "no", f"{r['pelvis_tilt_deg']:.1f}",
      "yes" if r["tilt_within_tolerance"] else "no"] for r, f in zip(rows, files)],
  )  # fmt: skip
  return (
    "# Clinician constraints: the exported squats\n\n"
    f"Constraints: peak vastus medialis activation (left and right) in [{low:g}, {high:g}]; "
    f"signed pelvis tilt at peak activation within {tilt_tolerance:g} deg of "
    f"{tilt_target:.1f} deg. Activations are the surrogate's predictions.\n\n"
    f"**{n_act} of {n}** exported squats meet the activation range, **{n_tilt} of {n}** the "
    f"tilt target, **{n_both} of {n}** both.\n\n{table}\n"
  )


def plot_bands(path, t, groups: Mapping[str, Mapping[str, np.ndarray]], title: str) -> None:
  """One panel per group; each series [N, T] drawn as its mean with a +-1 std band."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.6 * len(groups)), squeeze=False)
  for ax, (label, series) in zip(axes[:, 0], groups.items()):
    for name, x in series.items():
      mu, sd = x.mean(0), x.std(0)
      (line,) = ax.plot(t, mu, label=name, lw=1.4)
      ax.fill_between(t, mu - sd, mu + sd, color=line.get_color(), alpha=0.15)
    ax.set_ylabel(label, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
  axes[-1, 0].set_xlabel("time (s)")
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write(
  config: dict[str, Any],
  workdir: pathlib.Path,
  sets_by_seed: Mapping[int, Mapping[str, tuple[np.ndarray, np.ndarray]]],
  guided_by_seed: Mapping[int, Mapping[str, np.ndarray]],
  per_seed: Mapping[int, Any],
  summary: Mapping[str, Any],
  osim,
  fps: float,
  guide_info: Mapping[int, Mapping[str, Any]] | None = None,
) -> None:
  """results.json / results.md, constraints.md, figures and .mot exports of one run.

  Args:
    config: the run's config (a plain dict, recorded with the results).
    sets_by_seed: per seed {row: (q [N, T, 33] deg/m, activations [N, T, 80])}.
    guided_by_seed: per seed, the guide stage's arrays (history, kept, bige_q, ...).
    per_seed: per seed, the evaluate stage's metrics; summary: `summarise(per_seed)`.
    guide_info: per seed, the guide stage's info (term names, tilt target).
  """
  g = config["guidance"]
  seeds = sorted(sets_by_seed)
  s0 = seeds[0]
  sets, guided = sets_by_seed[s0], guided_by_seed[s0]
  info = (guide_info or {}).get(s0, {})
  length = guided["bige_q"].shape[1]
  t = np.arange(length) / fps
  groups = {}
  shown = [r for r in ("Reference", "VQ-VAE", "BIGE") if r in sets]
  for coord in ("knee_angle_r", "hip_flexion_r", "pelvis_tilt"):
    i = BIGE_COORDINATES.index(coord)
    groups[f"{coord} (deg)"] = {r: sets[r][0][..., i] for r in shown}
  j = BIGE_MUSCLES.index("vasmed_r")
  groups["vasmed_r activation"] = {r: sets[r][1][..., j] for r in shown}
  plot_bands(workdir / "squat_cycle.png", t, groups, f"mean ± std over samples (seed {s0})")
  history = guided["history"]
  names = list(info.get("terms", [f"term {k}" for k in range(history.shape[1] - 1)]))
  names.append("weighted total")
  report.plot_series(
    workdir / "guidance_loss.png",
    np.arange(len(history)),
    {n: np.log10(np.maximum(np.abs(history[:, k]), 1e-12)) for k, n in enumerate(names)},
    title="Guidance terms (candidate mean, unweighted; log10 |value|)",
    xlabel="step",
    ylabel="log10 value",
    panels=[names[:5], names[5:]],
  )
  best_q, best_a = sets["BIGE"]
  if len(best_q):
    from motion_jax.metrics.bige import kinematics

    joints, _ = kinematics(osim, best_q[:1])
    plots.save_keyframe_strip(
      workdir / "guided_squat.png",
      joints[0],
      _osim_chains(osim),
      caption="BIGE guided squat (best kept candidate)",
      fps=fps,
    )
  tilt_target = float(info.get("tilt_target_deg", g.get("tilt_target", 0.0)))
  constraint_pages, mots = [], {}
  for s in seeds:
    q, a = sets_by_seed[s]["BIGE"]
    files = write_mot_files(workdir / "mot" / f"seed_{s}", q, fps, "bige")
    write_mot_files(workdir / "mot" / f"seed_{s}", sets_by_seed[s]["VQ-VAE"][0][:4], fps, "vqvae")
    target = float((guide_info or {}).get(s, {}).get("tilt_target_deg", tilt_target))
    rows = constraint_rows(
      q, a, g["activation_low"], g["activation_high"], target, g["tilt_tolerance"]
    )
    mots[str(s)] = {"files": files, "constraints": rows}
    constraint_pages.append(
      f"## Seed {s}\n\n"
      + constraints_markdown(
        rows, files, g["activation_low"], g["activation_high"], target, g["tilt_tolerance"]
      ).split("\n", 2)[2]
    )
  (workdir / "constraints.md").write_text(
    "# Clinician constraints: the exported squats\n\n" + "\n".join(constraint_pages)
  )
  report.write_json(
    workdir / "results.json",
    {"summary": summary, "exports": mots, "seeds": seeds, "config": config},
  )
  n_ref = len(sets["Reference"][0])
  md = (
    f"# BIGE results (`{workdir.name}`)\n\nReference: {n_ref} held-out repetitions; MoCap: the "
    f"real OpenCap trial's repetitions (activations from the surrogate); VQ-VAE: "
    f"{len(sets['VQ-VAE'][0])} latents sampled from the encoder's latent distribution; "
    + (
      "Reconstruction: the Reference windows encoded, quantised and decoded by the same VQ-VAE "
      "(what the decoder makes of real squats); "
      if "Reconstruction" in sets
      else ""
    )
    + "BIGE "
    f"(all): {len(guided['bige_q'])} guided candidates; BIGE: the {len(best_q)} kept "
    f"(`guidance.selection={g['selection']}`); {length} frames at {fps:g} Hz; seeds "
    f"{', '.join(map(str, seeds))}. Metric definitions: `motion_jax/metrics/bige.py` "
    f"(`metric_form={config.get('metric_form', 'paper')}`). Constraint checks of every exported "
    "squat: [constraints.md](constraints.md).\n\n"
    + tables_markdown(summary)
    + "\n![squat cycle](squat_cycle.png)\n\n![guided squat](guided_squat.png)\n\n"
    "![guidance loss](guidance_loss.png)\n"
  )
  (workdir / "results.md").write_text(md)
  print(md)
