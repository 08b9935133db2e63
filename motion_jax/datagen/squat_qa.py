"""Floor and pelvis-height QA of the squat dataset: synthetic subjects against the real trial.

BIGE's floor metrics (`motion_jax.metrics.bige.foot_metrics`: penetration, floating and sliding of
the lowest joint centre, per-frame means in mm, 1 cm dead band) are computed for every repetition
with the subject's own scaled model (`squat_augment.scale_fk_model` of its parameters), ground =
the median lowest joint-centre height over all of that subject's frames (BIGE's definition, per
subject because every subject has its own skeleton). Pelvis height = the pelvis origin's height
above that ground: standing (highest) and deepest (lowest) per repetition, and their ratio.

The real trial (`real.npz`: the unmodified OpenCap trial through the same pipeline) is the
reference range; the summary reports, per metric, the real repetitions' min..max, the synthetic
repetitions' min, 5th / 50th / 95th percentiles and max, and the fraction of synthetic repetitions
inside a tolerance band around the real range. The synthetic squats are by design not confined to
the real trial's depth: the `depth` factor (0.65..1.1 of the real flexion amplitude) makes most of
them shallower, so the deepest pelvis height is checked for coverage (the synthetic range contains
the real one), the floor metrics and the standing height for agreement (in band).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

METRICS = (
  "penetration_mm",
  "floating_mm",
  "sliding_mm",
  "pelvis_standing_m",
  "pelvis_deepest_m",
  "pelvis_depth_ratio",
)
#: Width of the band around the real trial's range in which a synthetic repetition counts as "in
#: range": 1 mm for the floor metrics (a tenth of their 10 mm dead band), 15 % for the pelvis
#: heights (the subjects' statures vary by about that much: `height_scale` 0.90..1.10 times a
#: per-segment jitter of up to +-6 %).
TOLERANCE = {
  "penetration_mm": ("abs", 1.0),
  "floating_mm": ("abs", 1.0),
  "sliding_mm": ("abs", 1.0),
  "pelvis_standing_m": ("rel", 0.15),
  "pelvis_deepest_m": ("rel", 0.15),
  "pelvis_depth_ratio": ("rel", 0.15),
}


def file_metrics(path: Path, fk_model) -> dict[str, np.ndarray]:
  """Per repetition of one dataset file: the METRICS, each [R]."""
  from motion_jax.metrics import bige as M

  with np.load(path) as z:
    q = z["coordinates"].astype(np.float64)
    offsets = z["rep_offsets"]
  joints, _ = M.kinematics(fk_model, q[None].astype(np.float32), batch=1)  # [1, N, J, 3]
  joints = joints[0]
  ground = float(np.median(joints[..., 1].min(-1)))
  pelvis = joints[:, fk_model.joint_names.index("ground_pelvis"), 1] - ground
  out = {k: [] for k in METRICS}
  for r in range(len(offsets) - 1):
    sl = slice(int(offsets[r]), int(offsets[r + 1]))
    fm = M.foot_metrics(joints[None, sl], ground=ground)
    for k in ("penetration_mm", "floating_mm", "sliding_mm"):
      out[k].append(float(fm[k][0]))
    out["pelvis_standing_m"].append(float(pelvis[sl].max()))
    out["pelvis_deepest_m"].append(float(pelvis[sl].min()))
    out["pelvis_depth_ratio"].append(float(pelvis[sl].min() / pelvis[sl].max()))
  return {k: np.asarray(v) for k, v in out.items()}


def _band(metric: str, lo: float, hi: float) -> tuple[float, float]:
  kind, tol = TOLERANCE[metric]
  return (lo - tol, hi + tol) if kind == "abs" else (lo * (1 - tol), hi * (1 + tol))


def summarise(real: Mapping[str, np.ndarray], synthetic: Mapping[str, np.ndarray]) -> dict:
  """{metric: real min/max, synthetic p5/median/p95, band, fraction of synthetic reps in band}."""
  out = {}
  for k in METRICS:
    r, s = np.asarray(real[k]), np.asarray(synthetic[k])
    lo, hi = _band(k, float(r.min()), float(r.max()))
    out[k] = {
      "real_min": float(r.min()),
      "real_max": float(r.max()),
      "synthetic_min": float(s.min()),
      "synthetic_max": float(s.max()),
      "synthetic_p5": float(np.percentile(s, 5)),
      "synthetic_median": float(np.median(s)),
      "synthetic_p95": float(np.percentile(s, 95)),
      "band": [lo, hi],
      "in_band_fraction": float(np.mean((s >= lo) & (s <= hi))),
    }
  return out


def floor_qa(out: Path, manifest: Mapping, progress: bool = True) -> dict:
  """The floor / pelvis QA of a built dataset folder (module docstring)."""
  import jax
  from tqdm import tqdm

  from motion_jax.datagen import squat_augment as A
  from motion_jax.paths import opencap_path
  from motion_jax.skeletons.opensim_model import load_osim

  base = load_osim(opencap_path(A.BASE_MODEL))
  seed = int(manifest["config"]["seed"])
  per_file, synthetic = {}, {k: [] for k in METRICS}
  names = sorted(manifest["files"])
  for name in tqdm(names, desc="floor QA", disable=not progress):
    entry = manifest["files"][name]
    s, n_reps = int(entry["subject"]), int(entry["n_reps"])
    params = A.identity_params(5) if s < 0 else A.sample_subject(seed, s, 5)
    m = file_metrics(out / name, A.scale_fk_model(base, params))
    jax.clear_caches()  # one compile per subject model
    per_file[name] = {k: [round(float(x), 4) for x in v] for k, v in m.items()}
    if s >= 0:
      for k in METRICS:
        synthetic[k] += list(m[k])
    assert len(m["sliding_mm"]) == n_reps, name
  if "real.npz" not in per_file:
    raise FileNotFoundError(f"{out / 'real.npz'}: the floor QA compares against the real trial")
  real = {k: np.asarray(v) for k, v in per_file["real.npz"].items()}
  return {"summary": summarise(real, synthetic), "per_file": per_file}
