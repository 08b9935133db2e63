#!/usr/bin/env python
"""Build motion_jax's embedded squat dataset: kinematics + 80 muscle activations per repetition.

    python data/build_squat_dataset.py --out data/squats --subjects 80 --workers 2
    python data/build_squat_dataset.py --out data/squats --check 60:0   # re-run subject 60, rep 0

Every subject is the real OpenCap squat trial (data/opencap/squats1_videoAndMocap.mot)
transformed by `motion_jax.datagen.squat_augment` (parameters drawn from (seed, subject)),
simulated with OpenSim StaticOptimization (`motion_jax.datagen.static_optimization`) one repetition
at a time, and stored at 60 Hz in the BIGE layout. A `real.npz` holds the unmodified real trial
through the same pipeline.

Per repetition: the 100 Hz trial is cut to [start - pad, end + pad] (pad 0.25 s), StaticOptimization
solves every 5th frame (20 Hz, `--so-rate`) with accelerations from the dense data, activations are
interpolated to 60 Hz with PCHIP (shape preserving: stays within the solved values, so in [0.01, 1])
and coordinates with a cubic spline. Frames next to a failed solve are flagged in `ok`.

Output (`--out`): `subject_XXX.npz` (and `real.npz`), deterministic zip bytes, arrays:
  coordinates  float32 [N, 33]  BIGE_COORDINATES, degrees / metres (all repetitions concatenated)
  activations  float16 [N, 80]  BIGE_MUSCLES order, in [0, 1]
  ok           bool    [N]      False next to a failed StaticOptimization frame
  rep_offsets  int32   [R + 1]  repetition r is rows rep_offsets[r]:rep_offsets[r+1]
  rep_peaks    int32   [R]      deepest row of each repetition (absolute row index)
and `manifest.json`: seed, script version, rates, splits (subject ids), parameter table, per-subject
parameters and QA (foot slide/lift, failed frames, knee peaks), per-file sha256 and size.
"""

from __future__ import annotations

import os

# One thread per worker process (2 workers on a 2-core machine); set before jax/numpy start. Forced
# (not defaulted), so a re-run (--check) computes with exactly the flags of the build.
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

SCRIPT_VERSION = "1.0.0"
SIM_RATE = 100.0  # Hz: augmented trials (the real trial's rate)
PAD_S = 0.25


@dataclasses.dataclass(frozen=True)
class BuildConfig:
  seed: int = 0
  subjects: int = 80
  n_test: int = 20
  rate: float = 60.0
  so_rate: float = 20.0
  max_reps: int = 5
  lowpass_hz: float = 6.0

  @property
  def step_interval(self) -> int:
    return max(1, int(round(SIM_RATE / self.so_rate)))

  def split(self, subject: int) -> str:
    return "test" if subject >= self.subjects - self.n_test else "train"


# ----------------------------------------------------------------------------------------------
# Deterministic npz.


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
  """`np.savez_compressed` with fixed zip timestamps, so equal arrays give equal bytes."""
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    for name in sorted(arrays):
      arr = io.BytesIO()
      np.lib.format.write_array(arr, np.ascontiguousarray(arrays[name]), allow_pickle=False)
      info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
      info.compress_type = zipfile.ZIP_DEFLATED
      zf.writestr(info, arr.getvalue())
  path.write_bytes(buf.getvalue())


def sha256(path: Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------
# One subject.

_CACHE: dict = {}


def _base():
  """Real trial, its repetitions, base model and ground frame (cached per process)."""
  if not _CACHE:
    from motion_jax.data.formats.opencap import read_trial
    from motion_jax.data.squat.segmentation import segment_repetitions
    from motion_jax.datagen import squat_augment as A
    from motion_jax.paths import opencap_path
    from motion_jax.skeletons.opencap import BIGE_COORDINATES
    from motion_jax.skeletons.opensim_model import load_osim

    trial = read_trial(opencap_path(A.BASE_TRIAL))
    reps = segment_repetitions(trial.coordinates, BIGE_COORDINATES, trial.rate)
    model = load_osim(opencap_path(A.BASE_MODEL))
    ground_y, anchor = A.ground_reference(model, trial.coordinates)
    _CACHE.update(
      trial=trial,
      reps=reps,
      model=model,
      ground_y=ground_y,
      anchor=anchor,
      model_path=opencap_path(A.BASE_MODEL),
    )
  return _CACHE


def simulate_repetition(model_path, fk_model, times, q_deg, rep, cfg: BuildConfig):
  """(coordinates [n, 33] float32, activations [n, 80] float16, ok [n], n_failed) at cfg.rate."""
  from scipy.interpolate import CubicSpline, PchipInterpolator

  from motion_jax.datagen import squat_augment as A
  from motion_jax.datagen.static_optimization import SOConfig, run_static_optimization
  from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

  pad = int(round(PAD_S * SIM_RATE))
  lo, hi = max(0, rep.start - pad), min(len(times), rep.end + pad)
  names, full = A.full_coordinates_deg(fk_model, q_deg[lo:hi])
  t0, t1 = times[rep.start], times[rep.end - 1]
  # Solve from the repetition's first frame to one solve step past its last; the padding only
  # feeds the filter and the derivatives.
  t_end = min(times[hi - 1], t1 + cfg.step_interval / SIM_RATE)
  res = run_static_optimization(
    model_path,
    times[lo:hi],
    full,
    names,
    SOConfig(step_interval=cfg.step_interval, lowpass_hz=cfg.lowpass_hz),
    fk_model=fk_model,
    solve_range=(t0, t_end + 1e-6),
  )
  n = int(np.floor((t1 - t0) * cfg.rate + 1e-9)) + 1
  grid = t0 + np.arange(n) / cfg.rate
  coords = CubicSpline(times[lo:hi], q_deg[lo:hi], axis=0)(grid)
  idx = [res.muscle_names.index(m) for m in BIGE_MUSCLES]
  acts = PchipInterpolator(res.times, res.activations[:, idx], axis=0)(grid)
  acts = np.clip(acts, 0.0, 1.0)
  k = np.clip(np.searchsorted(res.times, grid), 1, len(res.times) - 1)
  ok = res.ok[k] & res.ok[k - 1]
  assert len(BIGE_COORDINATES) == coords.shape[1]
  return coords.astype(np.float32), acts.astype(np.float16), ok, res.n_failed, res.wall_s


def build_subject(subject: int, cfg: BuildConfig, reps_only: tuple[int, ...] | None = None):
  """Arrays and metadata of one subject (subject -1: the real trial, unmodified)."""
  from motion_jax.datagen import squat_augment as A

  t_start = time.perf_counter()
  base = _base()
  n_reps = min(cfg.max_reps, len(base["reps"]))
  params = (
    A.identity_params(len(base["reps"]))
    if subject < 0
    else A.sample_subject(cfg.seed, subject, len(base["reps"]))
  )
  fk_model = A.scale_fk_model(base["model"], params)
  times, q, info = A.augment_trial(
    base["trial"].times,
    base["trial"].coordinates,
    base["reps"],
    params,
    fk_model,
    base["ground_y"],
    base["anchor"],
    rate=SIM_RATE,
  )
  coords, acts, oks, offsets, peaks, failed, so_s = [], [], [], [0], [], 0, 0.0
  with tempfile.TemporaryDirectory(prefix="squat_subject_") as tmp:
    model_path = A.scale_osim_file(base["model_path"], params, Path(tmp) / "model.osim")
    for r, rep in enumerate(info.repetitions[:n_reps]):
      if reps_only is not None and r not in reps_only:
        continue
      c, a, ok, nf, wall = simulate_repetition(model_path, fk_model, times, q, rep, cfg)
      coords.append(c)
      acts.append(a)
      oks.append(ok)
      failed += nf
      so_s += wall
      knee = 0.5 * (c[:, 12].astype(np.float64) + c[:, 13])  # knee_angle_l, knee_angle_r
      peaks.append(offsets[-1] + int(np.argmax(knee)))
      offsets.append(offsets[-1] + len(c))
  arrays = {
    "coordinates": np.concatenate(coords),
    "activations": np.concatenate(acts),
    "ok": np.concatenate(oks),
    "rep_offsets": np.asarray(offsets, np.int32),
    "rep_peaks": np.asarray(peaks, np.int32),
  }
  meta = {
    "subject": subject,
    "split": "reference" if subject < 0 else cfg.split(subject),
    "params": params.to_json(),
    "n_frames": int(offsets[-1]),
    "n_reps": len(peaks),
    "failed_so_frames": int(failed),
    "flagged_frames": int((~arrays["ok"]).sum()),
    "max_foot_slide_m": round(info.max_foot_slide_m, 5),
    "max_foot_lift_m": round(info.max_foot_lift_m, 5),
    "knee_peak_deg": [round(x, 2) for x in info.knee_peak_deg[:n_reps]],
    "so_wall_s": round(so_s, 1),
    "wall_s": round(time.perf_counter() - t_start, 1),
  }
  return arrays, meta


def file_name(subject: int) -> str:
  return "real.npz" if subject < 0 else f"subject_{subject:03d}.npz"


def _worker_init(log_dir: str):
  # OpenSim prints to the console; keep the progress bar readable.
  Path(log_dir).mkdir(parents=True, exist_ok=True)
  fd = os.open(
    os.path.join(log_dir, f"worker_{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
  )
  os.dup2(fd, 1)
  os.dup2(fd, 2)


def _job(args):
  subject, cfg, out = args
  try:
    arrays, meta = build_subject(subject, cfg)
  except Exception as e:  # reported and counted by the parent
    return subject, None, f"{type(e).__name__}: {e}"
  finally:
    import jax

    jax.clear_caches()  # every subject compiles its own model's kinematics: free them
  path = Path(out) / file_name(subject)
  save_npz(path, arrays)
  return subject, meta, None


def reusable(out: Path, cfg: BuildConfig) -> dict[int, dict]:
  """Subjects of an earlier build in `out` that this build may keep: {subject: manifest entry}.

  A file is kept only when the earlier manifest was written by the same script version with the
  same per-subject settings (seed, rates, repetitions, filter; the subject count and split do not
  change a subject's data) and the file's sha256 still matches that manifest.
  """
  path = out / "manifest.json"
  if not path.exists():
    return {}
  old = json.loads(path.read_text())
  per_subject = ("seed", "rate", "so_rate", "max_reps", "lowpass_hz")
  if old.get("script_version") != SCRIPT_VERSION or any(
    old.get("config", {}).get(k) != getattr(cfg, k) for k in per_subject
  ):
    return {}
  keep = {}
  for name, entry in old.get("files", {}).items():
    f = out / name
    if f.exists() and sha256(f) == entry["sha256"]:
      keep[int(entry["subject"])] = {k: v for k, v in entry.items() if k not in ("sha256", "bytes")}
  return keep


def build(
  out: Path, cfg: BuildConfig, workers: int, reference: bool = True, resume: bool = False
) -> dict:
  from tqdm import tqdm

  from motion_jax.datagen import squat_augment as A

  out.mkdir(parents=True, exist_ok=True)
  subjects = [-1, *range(cfg.subjects)] if reference else list(range(cfg.subjects))
  started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
  t0 = time.perf_counter()
  metas, errors = {}, {}
  kept = {s: m for s, m in reusable(out, cfg).items() if s in subjects} if resume else {}
  for s, m in kept.items():
    metas[s] = {**m, "split": "reference" if s < 0 else cfg.split(s)}
  if kept:
    print(
      f"--resume: keeping {len(kept)} file(s) of the earlier build (same settings, checksums match)"
    )
  ctx = mp.get_context("spawn")
  jobs = [(s, cfg, str(out)) for s in subjects if s not in kept]
  log_dir = (
    Path(tempfile.gettempdir()) / f"squat_build_logs_{os.getpid()}"
  )  # OpenSim console output
  print(f"worker logs: {log_dir}", flush=True)
  with ctx.Pool(
    workers, initializer=_worker_init, initargs=(str(log_dir),), maxtasksperchild=20
  ) as pool:
    for subject, meta, err in tqdm(
      pool.imap_unordered(_job, jobs), total=len(jobs), desc="subjects"
    ):
      if err:
        errors[subject] = err
        tqdm.write(f"subject {subject} failed: {err}")
      else:
        metas[subject] = meta
  files = {}
  for s in sorted(metas):
    p = out / file_name(s)
    files[p.name] = {"sha256": sha256(p), "bytes": p.stat().st_size, **metas[s]}
  manifest = {
    "name": "motion_jax squats (OpenSim StaticOptimization stand-in for BIGE's OpenCap squat data)",
    "script": "data/build_squat_dataset.py",
    "script_version": SCRIPT_VERSION,
    "config": dataclasses.asdict(cfg),
    "sim_rate": SIM_RATE,
    "pad_s": PAD_S,
    "started_utc": started,
    "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "wall_s": round(time.perf_counter() - t0, 1),
    "workers": workers,
    "resumed_subjects": sorted(kept),
    # Sum over files of each file's own wall time (one worker each): the cost of a build from
    # scratch.
    "subject_wall_s_total": round(sum(m["wall_s"] for m in metas.values()), 1),
    "splits": {
      "train": [s for s in sorted(metas) if s >= 0 and cfg.split(s) == "train"],
      "test": [s for s in sorted(metas) if s >= 0 and cfg.split(s) == "test"],
    },
    "layout": {
      "coordinates": "BIGE_COORDINATES (degrees / metres), float32",
      "activations": "BIGE_MUSCLES, float16 in [0, 1]",
      "rate_hz": cfg.rate,
    },
    "parameter_table": [
      {"name": n, "distribution": d, "range": list(r), "meaning": m}
      for n, d, r, m in A.PARAMETER_TABLE
    ],
    "errors": {str(k): v for k, v in errors.items()},
    "files": files,
  }
  refresh_qa(out, manifest)
  total = sum(f["bytes"] for f in files.values())
  print(
    f"built {len(metas)} file(s), {len(errors)} failed, {total / 1e6:.2f} MB in {out} "
    f"({manifest['wall_s']:.0f} s)"
  )
  return manifest


def repetition_table(path: Path) -> dict[str, np.ndarray]:
  """Per repetition of one file: knee peak (deg, mean of both knees), vasmed peak (mean of both)."""
  from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

  kr, kl = BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")
  vr, vl = BIGE_MUSCLES.index("vasmed_r"), BIGE_MUSCLES.index("vasmed_l")
  with np.load(path) as z:
    q, a, o = (
      z["coordinates"].astype(np.float64),
      z["activations"].astype(np.float64),
      z["rep_offsets"],
    )
  knee = 0.5 * (q[:, kr] + q[:, kl])
  vas = 0.5 * (a[:, vr] + a[:, vl])
  return {
    "knee_peak": np.array([knee[o[r] : o[r + 1]].max() for r in range(len(o) - 1)]),
    "vasmed_peak": np.array([vas[o[r] : o[r + 1]].max() for r in range(len(o) - 1)]),
    "act_min": float(a.min()),
    "act_max": float(a.max()),
  }


def quality_summary(out: Path, manifest: dict) -> dict:
  """Vasmed-depth correlation per held-out subject and over all repetitions; activation range."""
  per, knees, vas, lo, hi = {}, [], [], 1.0, 0.0
  for s in manifest["splits"]["test"]:
    t = repetition_table(out / file_name(s))
    lo, hi = min(lo, t["act_min"]), max(hi, t["act_max"])
    knees += list(t["knee_peak"])
    vas += list(t["vasmed_peak"])
    if len(t["knee_peak"]) >= 3 and np.std(t["knee_peak"]) > 0 and np.std(t["vasmed_peak"]) > 0:
      per[s] = float(np.corrcoef(t["knee_peak"], t["vasmed_peak"])[0, 1])
  r = np.array(list(per.values()))
  return {
    "vasmed_depth_r_per_test_subject": {str(k): round(v, 3) for k, v in per.items()},
    "vasmed_depth_r_median": float(np.median(r)) if len(r) else None,
    "vasmed_depth_r_min": float(r.min()) if len(r) else None,
    "vasmed_depth_r_positive_fraction": float((r > 0).mean()) if len(r) else None,
    "vasmed_depth_r_pooled_test": float(np.corrcoef(knees, vas)[0, 1]) if len(knees) > 2 else None,
    "test_activation_range": [lo, hi],
  }


def refresh_qa(out: Path, manifest: dict) -> dict:
  """QA numbers (vasmed-depth correlation, floor and pelvis metrics vs the real trial) into the
  manifest, then the figure and the README; returns the manifest (also written to `out`)."""
  from motion_jax.datagen import squat_qa

  manifest["qa"] = quality_summary(out, manifest)
  if "real.npz" in manifest["files"]:
    floor = squat_qa.floor_qa(out, manifest)
    manifest["qa"]["floor"] = floor["summary"]
    for name, per_rep in floor["per_file"].items():
      manifest["files"][name]["floor_qa"] = per_rep
  (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
  make_figure(out, manifest)
  write_readme(out, manifest)
  return manifest


def make_figure(out: Path, manifest: dict, n_synthetic: int = 8) -> Path:
  """Knee angle and vasmed activation over the squat cycle: real trial vs synthetic subjects."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

  kr, kl = BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")
  vr, vl = BIGE_MUSCLES.index("vasmed_r"), BIGE_MUSCLES.index("vasmed_l")
  cycle = np.linspace(0, 100, 101)
  fig, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
  subjects = manifest["splits"]["train"] + manifest["splits"]["test"]
  pick = subjects[:: max(1, len(subjects) // n_synthetic)][:n_synthetic]
  colors = plt.cm.viridis(np.linspace(0, 0.9, max(1, len(pick))))
  for s, color in [*zip(pick, colors), (-1, "k")]:
    path = out / file_name(s)
    if not path.exists():
      continue
    with np.load(path) as z:
      q, a, o = (
        z["coordinates"].astype(np.float64),
        z["activations"].astype(np.float64),
        z["rep_offsets"],
      )
    for r in range(len(o) - 1):
      seg = slice(o[r], o[r + 1])
      x = np.linspace(0, 100, o[r + 1] - o[r])
      knee = np.interp(cycle, x, 0.5 * (q[seg, kr] + q[seg, kl]))
      vas = np.interp(cycle, x, 0.5 * (a[seg, vr] + a[seg, vl]))
      kw = dict(
        color=color, lw=2.2 if s < 0 else 0.8, alpha=1.0 if s < 0 else 0.7, zorder=3 if s < 0 else 1
      )
      label = (
        ("real trial (OpenCap squats1)" if s < 0 else f"synthetic subject {s}") if r == 0 else None
      )
      axes[0].plot(cycle, knee, label=label, **kw)
      axes[1].plot(cycle, vas, **kw)
  axes[0].set_ylabel("knee flexion (deg)\nmean of left/right")
  axes[1].set_ylabel("vastus medialis activation\nmean of left/right")
  axes[1].set_xlabel("squat cycle (% of repetition)")
  axes[0].legend(fontsize=7, ncol=2)
  axes[0].set_title("Squat repetitions: OpenSim StaticOptimization activations (5 per subject)")
  for ax in axes:
    ax.grid(alpha=0.3)
  fig.tight_layout()
  png = out / "squat_cycle.png"
  fig.savefig(png, dpi=110)
  plt.close(fig)
  return png


def _shown(path: Path) -> str:
  """`path` relative to the repository when inside it (for the README)."""
  try:
    return str(path.resolve().relative_to(REPO))
  except ValueError:
    return str(path)


def build_cost(manifest: dict) -> str:
  """README phrase for a resumed build: what this run built and what a build from scratch costs."""
  kept = manifest.get("resumed_subjects") or []
  if not kept:
    return ""
  total = manifest.get("subject_wall_s_total", 0.0)
  return (
    f" for the {len(manifest['files']) - len(kept)} files not kept from an earlier build with the "
    f"same settings (`--resume`); the per-file build times add up to {total:.0f} s, i.e. about "
    f"{total / manifest['workers'] / 60:.0f} min from scratch on {manifest['workers']} workers"
  )


def floor_table(floor: dict | None) -> str:
  """README section: BIGE floor metrics and pelvis heights, real trial vs synthetic subjects."""
  if not floor:
    return "(floor QA not computed: no real.npz)\n"
  from motion_jax.datagen.squat_qa import TOLERANCE

  rows = []
  for k, v in floor.items():
    kind, tol = TOLERANCE[k]
    band = f"+-{tol:g} mm" if kind == "abs" else f"+-{100 * tol:g} %"
    rows.append(
      f"| {k} | {v['real_min']:.3f} .. {v['real_max']:.3f} | {v['synthetic_p5']:.3f} .. "
      f"{v['synthetic_median']:.3f} .. {v['synthetic_p95']:.3f} | {band} | "
      f"{100 * v['in_band_fraction']:.0f} % |"
    )
  deep = floor["pelvis_deepest_m"]
  return (
    """
### Floor contact and pelvis height vs the real trial

BIGE's floor metrics (`motion_jax.metrics.bige.foot_metrics`: lowest joint centre, per-frame means,
1 cm dead band) per repetition, each subject through its own scaled model with its own ground \
(median
lowest joint-centre height); pelvis height = pelvis origin above that ground, standing / deepest
per repetition (`motion_jax/datagen/squat_qa.py`). "In band": share of synthetic repetitions \
within the
real trial's min..max widened by the tolerance. The squat depth varies by design (`depth` factor
0.65 .. 1.1 of the real flexion amplitude), so most synthetic squats are shallower than the real
one and the deepest pelvis height is in band for fewer repetitions; the synthetic range
({floor_range}) contains the real trial's.

| metric | real trial (5 reps) min .. max | synthetic p5 .. median .. p95 | tolerance | \
synthetic in band |
|---|---|---|---|---|
""".replace("{floor_range}", f"{deep['synthetic_min']:.3f} .. {deep['synthetic_max']:.3f} m")
    + "\n".join(rows)
    + "\n"
  )


def write_readme(out: Path, manifest: dict) -> Path:
  """data/squats/README.md from the manifest (layout, parameter table, QA numbers, figure)."""
  files = manifest["files"]
  total = sum(f["bytes"] for f in files.values())
  qa = manifest.get("qa", {})
  cfg = manifest["config"]
  subj = [f for f in files.values() if f["subject"] >= 0]
  rows = "\n".join(
    f"| `{p['name']}` | {p['distribution']} | {p['range'][0]} .. {p['range'][1]} | {p['meaning']} |"
    for p in manifest["parameter_table"]
  )

  def fmt(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"

  text = f"""# Squat dataset with muscle activations (embedded default)

Stand-in for BIGE's UCSD OpenCap squat data (not public), generated by
`python data/build_squat_dataset.py --out {_shown(out)} --subjects {cfg["subjects"]} \
--test-subjects {cfg["n_test"]} --workers {manifest["workers"]}`
(script version {manifest["script_version"]}, seed {cfg["seed"]}, \
built {manifest["finished_utc"]}, {manifest["wall_s"]:.0f} s{build_cost(manifest)}).

* **Kinematics**: the real OpenCap squat trial `data/opencap/squats1_videoAndMocap.mot` \
(5 repetitions,
  subject model `LaiArnoldModified2017_contacts.osim`, 78.2 kg) transformed per subject by
  `motion_jax/datagen/squat_augment.py` (parameter table below), feet kept planted \
(pelvis translation
  correction + leg inverse kinematics with the JAX forward kinematics of the scaled model).
* **Activations**: OpenSim 4.6 StaticOptimization (`motion_jax/datagen/static_optimization.py`) \
on the
  subject's scaled model (OpenSim `Model.scale`), synthesized ground reactions (one force per foot,
  m (a_com - g) / 2, i.e. vertical m (g + a_com,y) / 2, at the calcn-toes midpoint of each frame),
  reserves on unactuated coordinates (pelvis 1000 N m / 10000 N, hip rotation 30 N m, other leg
  coordinates 1 N m), activation exponent 2, muscle physiology on, coordinates low-pass 6 Hz.
  Solved at {cfg["so_rate"]:g} Hz on the 100 Hz trial, interpolated to {cfg["rate"]:g} Hz with \
PCHIP. Cost of
  the low solve rate, measured on the real trial against solving all 801 frames at 100 Hz: RMSE
  0.016 over all 80 activations (99th percentile of the error 0.066; worst single error 0.89 on
  the on/off piriformis), vasmed RMSE 0.006, r = 0.999 (10 Hz: RMSE 0.043, p99 0.19).
* **Layout**: {len(subj)} subjects ({len(manifest["splits"]["train"])} train, \
{len(manifest["splits"]["test"])} held out:
  subjects >= {cfg["subjects"] - cfg["n_test"]}), one `subject_XXX.npz` each, plus `real.npz` \
(the unmodified
  real trial through the same pipeline). Arrays: `coordinates` float32 [N, 33] (BIGE order, \
degrees /
  metres), `activations` float16 [N, 80] (BIGE order), `ok` bool [N], `rep_offsets` int32 [R+1],
  `rep_peaks` int32 [R]. `manifest.json` holds sha256 and size per file, the parameters and QA of
  every subject. Total size {total / 1e6:.2f} MB.

## Subject parameters

| parameter | distribution | range | meaning |
|---|---|---|---|
{rows}

## Quality

* vasmed peak vs knee-flexion peak across the repetitions of each held-out subject: median
  r = {fmt(qa.get("vasmed_depth_r_median"))}, min r = {fmt(qa.get("vasmed_depth_r_min"))}, \
positive in {
    fmt(
      100 * qa["vasmed_depth_r_positive_fraction"]
      if qa.get("vasmed_depth_r_positive_fraction") is not None
      else None,
      0,
    )
  } % of
  subjects; pooled over all held-out repetitions r = {fmt(qa.get("vasmed_depth_r_pooled_test"))}
  (per subject: `manifest.json` `qa.vasmed_depth_r_per_test_subject`).
* activations of the held-out subjects in \
[{fmt((qa.get("test_activation_range") or [None, None])[0])}, \
{fmt((qa.get("test_activation_range") or [None, None])[1])}].
* StaticOptimization frames failed: {sum(f["failed_so_frames"] for f in files.values())}; \
frames flagged
  (`ok` False): {sum(f["flagged_frames"] for f in files.values())}; largest foot slide
  {max(f["max_foot_slide_m"] for f in files.values()) * 1000:.1f} mm, \
lift {max(f["max_foot_lift_m"] for f in files.values()) * 1000:.1f} mm.

{floor_table(qa.get("floor"))}
![knee angle and vasmed activation over the squat cycle](squat_cycle.png)

`squat_cycle.png`: every repetition, time-normalised; black: the real trial, colours: a sample of
synthetic subjects.

Reproduce one repetition (coordinates within 1e-4, activations within 1e-3: StaticOptimization's
result depends on the CPU; the sha256 of the stored files is exact): \
`python data/build_squat_dataset.py --out data/squats --check SUBJECT:REP`.
"""
  path = out / "README.md"
  path.write_text(text)
  return path


#: Reproduction tolerances of `check` (absolute). Coordinates come from numpy / JAX arithmetic:
#: 1e-4 deg or m is ~10 float32 steps at 100 deg. Activations come from OpenSim's
#: StaticOptimization, an iterative optimiser (convergence criterion 1e-4) whose result depends on
#: the CPU: the same repetition re-solved on two machines differed by 6.1e-5 (one float16 step at
#: 0.06); 1e-3 is 16x that spread and 0.1 % of the activation range. `ok` flags must match.
CHECK_ATOL = {"coordinates": 1e-4, "activations": 1e-3, "ok": 0.0}


def check(out: Path, subject: int, rep: int) -> bool:
  """Re-run one repetition of one subject with the manifest's config; True if it matches the
  stored one within `CHECK_ATOL` (the manifest's sha256 of the stored files stays exact)."""
  manifest = json.loads((out / "manifest.json").read_text())
  cfg = BuildConfig(**manifest["config"])
  arrays, _ = build_subject(subject, cfg, reps_only=(rep,))
  with np.load(out / file_name(subject)) as stored:
    o = stored["rep_offsets"]
    same = True
    for key, atol in CHECK_ATOL.items():
      want = stored[key][o[rep] : o[rep + 1]]
      got = arrays[key]
      if want.shape != got.shape or want.dtype != got.dtype:
        print(f"{key}: DIFFERENT layout {got.shape} {got.dtype} vs {want.shape} {want.dtype}")
        same = False
        continue
      bitwise = want.tobytes() == got.tobytes()
      diff = float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64)), initial=0.0))
      ok = diff <= atol
      print(
        f"{key}: {'identical' if bitwise else 'within tolerance' if ok else 'DIFFERENT'} "
        f"{got.shape} {got.dtype}, max |diff| {diff:.3g} (tolerance {atol:g})"
      )
      same &= ok
  return same


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--out", type=Path, default=REPO / "data" / "squats")
  ap.add_argument("--subjects", type=int, default=80)
  ap.add_argument(
    "--test-subjects", type=int, default=None, help="held-out subjects (default: a quarter)"
  )
  ap.add_argument("--workers", type=int, default=2)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--rate", type=float, default=60.0)
  ap.add_argument("--so-rate", type=float, default=20.0)
  ap.add_argument("--max-reps", type=int, default=5)
  ap.add_argument(
    "--no-reference", action="store_true", help="skip real.npz (the unmodified real trial)"
  )
  ap.add_argument(
    "--resume",
    action="store_true",
    help="keep files of an earlier build in --out with the same settings and matching checksums",
  )
  ap.add_argument(
    "--report", action="store_true", help="only redo the QA, figure and README of --out"
  )
  ap.add_argument(
    "--check",
    type=str,
    default=None,
    metavar="SUBJECT:REP",
    help="re-run one repetition and compare it with the files in --out",
  )
  args = ap.parse_args(argv)
  if args.report:
    manifest = refresh_qa(args.out, json.loads((args.out / "manifest.json").read_text()))
    print(
      json.dumps(
        {k: v for k, v in manifest["qa"].items() if k != "vasmed_depth_r_per_test_subject"},
        indent=1,
      )
    )
    return 0
  if args.check:
    s, r = (int(x) for x in args.check.split(":"))
    ok = check(args.out, s, r)
    print("reproduced within tolerance" if ok else "NOT reproduced")
    return 0 if ok else 1
  n_test = args.test_subjects if args.test_subjects is not None else max(1, args.subjects // 4)
  if args.subjects < 1 or not 0 <= n_test < args.subjects + 1:
    ap.error("need --subjects >= 1 and 0 <= --test-subjects <= --subjects")
  cfg = BuildConfig(
    seed=args.seed,
    subjects=args.subjects,
    n_test=n_test,
    rate=args.rate,
    so_rate=args.so_rate,
    max_reps=args.max_reps,
  )
  manifest = build(args.out, cfg, args.workers, reference=not args.no_reference, resume=args.resume)
  return 1 if manifest["errors"] else 0


if __name__ == "__main__":
  sys.exit(main())
