"""Muscle activations from OpenSim's own StaticOptimization, with synthesized ground reactions.

BIGE pairs squat kinematics with 80 muscle activations from muscle-driven simulation (OpenCap's
OpenSimAD). No such file is public, so motion_jax computes activations with a real simulator:
OpenSim 4.6 `AnalyzeTool` + `StaticOptimization` on one trial, in a fresh temporary folder,
returning numpy arrays (one call per trial; safe to run in worker processes, nothing global but
OpenSim's log).

Recipe (what `run_static_optimization` builds; tried on the real squat trial, all frames solved):

* model: an OpenSim `.osim` with muscles (LaiUhlrich2022 / LaiArnoldModified2017, 80 Millard muscles
  and coordinate actuators on lumbar and arm coordinates); contact forces (smooth sphere-half-space)
  are switched off, the synthesized ground reactions replace them;
* reserves: a `CoordinateActuator` on every coordinate that is not constrained (`isConstrained`, so
  the coupled knee `*_beta` coordinates are left to their coupler constraints) and has no actuator
  yet: pelvis rotations 1000 Nm, pelvis translations 10000 N, hip rotation 30 Nm (at 1 Nm about
  15 % of frames fail), every other leg coordinate 1 Nm; controls unbounded;
* ground reactions: one `ExternalForce` per foot, applied to `calcn_r` / `calcn_l`, force and point
  expressed in ground. The total force is m (a_com - g): vertical m (g + a_com,y), horizontal
  m a_com,xz, split evenly between the feet (a symmetric double-support squat), where a_com is the
  whole-body mass-centre acceleration of the low-pass-filtered coordinates (JAX forward kinematics,
  `opensim_fk.center_of_mass`). The point is the midpoint of the calcn and toes origins, per frame;
* `AnalyzeTool`: coordinates low-pass filtered at `lowpass_hz`; StaticOptimization with activation
  exponent 2, muscle force-length-velocity physiology, solved every `step_interval`-th frame of the
  (dense) coordinate file, so accelerations still come from the dense data;
* failures: StaticOptimization writes a row also when its optimizer failed. Every solved frame's log
  line ("time = ... Performance = ... Constraint violation = ...") and every failure warning are
  parsed from OpenSim's log; a frame is `ok` when it was logged without failure and its constraint
  violation is below `max_constraint_violation`.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time as _time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motion_jax.data.filters import lowpass

#: Reserve strengths (N m for rotations, N for translations).
PELVIS_ROTATION_RESERVE = 1000.0
PELVIS_TRANSLATION_RESERVE = 10000.0
HIP_ROTATION_RESERVE = 30.0
LEG_RESERVE = 1.0


class StaticOptimizationError(RuntimeError):
  """OpenSim could not run, or produced no activation file."""


@dataclasses.dataclass(frozen=True)
class SOConfig:
  lowpass_hz: float = 6.0
  activation_exponent: float = 2.0
  use_muscle_physiology: bool = True
  step_interval: int = 1  # solve every n-th frame of the coordinate file
  convergence_criterion: float = 1e-4
  max_iterations: int = 100
  max_constraint_violation: float = 1e-3  # N / N m: frames above are flagged
  pelvis_rotation_reserve: float = PELVIS_ROTATION_RESERVE
  pelvis_translation_reserve: float = PELVIS_TRANSLATION_RESERVE
  hip_rotation_reserve: float = HIP_ROTATION_RESERVE
  leg_reserve: float = LEG_RESERVE


@dataclasses.dataclass(frozen=True)
class SOResult:
  times: np.ndarray  # [S] solved times (s)
  activations: np.ndarray  # [S, M] in `muscle_names` order
  muscle_names: tuple[str, ...]
  ok: np.ndarray  # [S] bool: solved without failure and small constraint violation
  constraint_violation: np.ndarray  # [S] (nan where the log had no line for the frame)
  reserve_names: tuple[str, ...]
  reserves: np.ndarray  # [S, R] reserve actuator forces (N or N m)
  wall_s: float

  @property
  def n_failed(self) -> int:
    return int((~self.ok).sum())


# ----------------------------------------------------------------------------------------------
# Ground reactions.


def synthesize_grf(
  model, times: np.ndarray, q: np.ndarray, coordinate_names: Sequence[str], lowpass_hz: float = 6.0
) -> dict[str, np.ndarray]:
  """Per-foot ground reaction force and application point for a double-support motion.

  Args:
    model: `OsimModel` (helper-1's `load_osim`) of the simulated subject.
    times: [T] uniform times (s).
    q: [T, C] coordinates in radians / metres, columns `coordinate_names`.
    lowpass_hz: the filter also applied by the AnalyzeTool to the coordinates.
  Returns:
    dict with `force_r`, `force_l` ([T, 3] N, ground) and `point_r`, `point_l` ([T, 3] m, ground).
  """
  import jax
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk as fk_lib

  times = np.asarray(times, np.float64)
  rate = 1.0 / float(np.median(np.diff(times)))
  qf = lowpass(np.asarray(q, np.float64), rate, lowpass_hz)
  with jax.enable_x64(True):
    res = fk_lib.forward_kinematics(model, jnp.asarray(qf, jnp.float64), tuple(coordinate_names))
    com = np.asarray(fk_lib.center_of_mass(res, model), np.float64)
    pts = {}
    for side in ("r", "l"):
      p = np.asarray(
        fk_lib.points_in_ground(res, model, [f"calcn_{side}", f"toes_{side}"], np.zeros((2, 3))),
        np.float64,
      )
      pts[side] = p.mean(axis=1)
  dt = 1.0 / rate
  acc = np.gradient(np.gradient(com, dt, axis=0), dt, axis=0)
  mass = model.total_mass
  g = np.asarray(model.gravity, np.float64)
  total = mass * (acc - g[None, :])  # m (a - g): vertical m (|g| + a_y)
  return {"force_r": total / 2, "force_l": total / 2, "point_r": pts["r"], "point_l": pts["l"]}


def _write_grf_mot(path: Path, times, grf) -> None:
  from motion_jax.data.formats.mot import make_motion, write_mot

  names, cols = [], []
  for side in ("r", "l"):
    for kind, key in (("v", "force"), ("p", "point")):
      for ax, comp in zip("xyz", range(3)):
        names.append(f"ground_force_{side}_{kind}{ax}")
        cols.append(grf[f"{key}_{side}"][:, comp])
  write_mot(path, make_motion(names, times, np.stack(cols, axis=1), in_degrees=False, name="GRF"))


# ----------------------------------------------------------------------------------------------
# OpenSim set-up.


def reserve_strength(coordinate: str, config: SOConfig = SOConfig()) -> float:
  """Optimal force of the reserve actuator added on `coordinate` (see module docstring)."""
  if coordinate in ("pelvis_tilt", "pelvis_list", "pelvis_rotation"):
    return config.pelvis_rotation_reserve
  if coordinate in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
    return config.pelvis_translation_reserve
  if coordinate.startswith("hip_rotation"):
    return config.hip_rotation_reserve
  return config.leg_reserve


def _prepare_model(
  model_path: Path, out_path: Path, config: SOConfig
) -> tuple[list[str], list[str]]:
  """Copy of the model with reserves; returns (muscle names, reserve actuator names)."""
  import opensim as osim

  model = osim.Model(str(model_path))
  state = model.initSystem()
  actuated = set()
  fs = model.getForceSet()
  for i in range(fs.getSize()):
    f = fs.get(i)
    cls = f.getConcreteClassName()
    if cls == "CoordinateActuator":
      actuated.add(osim.CoordinateActuator.safeDownCast(f).get_coordinate())
    elif "Contact" in cls or "HalfSpace" in cls or "HuntCrossley" in cls:
      f.set_appliesForce(False)  # foot-ground contact: replaced by the synthesized GRF
  cs = model.getCoordinateSet()
  free = [
    cs.get(i).getName()
    for i in range(cs.getSize())
    if not (cs.get(i).isConstrained(state) or cs.get(i).get_locked())
  ]
  reserves = []
  for cname in free:  # the system is invalid once a force is added: query first
    if cname in actuated:
      continue
    act = osim.CoordinateActuator(cname)
    name = f"reserve_{cname}"
    act.setName(name)
    act.setOptimalForce(reserve_strength(cname, config))
    act.setMinControl(-np.inf)
    act.setMaxControl(np.inf)
    model.addForce(act)
    reserves.append(name)
  model.finalizeConnections()
  model.printToXML(str(out_path))
  muscles = [model.getMuscles().get(i).getName() for i in range(model.getMuscles().getSize())]
  return muscles, reserves


def _external_loads(path: Path, grf_file: Path) -> None:
  import opensim as osim

  loads = osim.ExternalLoads()
  loads.setName("synthetic_grf")
  loads.setDataFileName(str(grf_file))
  for side in ("r", "l"):
    ef = osim.ExternalForce()
    ef.setName(f"foot_{side}")
    ef.set_applied_to_body(f"calcn_{side}")
    ef.set_force_expressed_in_body("ground")
    ef.set_point_expressed_in_body("ground")
    ef.set_force_identifier(f"ground_force_{side}_v")
    ef.set_point_identifier(f"ground_force_{side}_p")
    loads.cloneAndAppend(ef)
  loads.printToXML(str(path))


_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)"
_LINE = re.compile(
  r"time\s*=\s*"
  + _NUM
  + r"\s+Performance\s*=\s*"
  + _NUM
  + r"\s+Constraint violation\s*=\s*"
  + _NUM,
  re.I,
)
# e.g. "StaticOptimization.record: The optimizer could not find a solution at time = 0.8."
_FAIL = re.compile(r"could not find a solution at time\s*=\s*" + _NUM, re.I)


def parse_so_log(text: str) -> tuple[dict[float, float], set[float]]:
  """(time -> constraint violation, times with a failure warning) from an OpenSim log."""
  viol, failed = {}, set()
  for line in text.splitlines():
    m = _LINE.search(line)
    if m:
      viol[round(float(m.group(1)), 6)] = float(m.group(3))
      continue
    m = _FAIL.search(line)
    if m:
      failed.add(round(float(m.group(1)), 6))
  return viol, failed


def run_static_optimization(
  model_path: str | Path,
  times: np.ndarray,
  q_deg: np.ndarray,
  coordinate_names: Sequence[str],
  config: SOConfig = SOConfig(),
  fk_model=None,
  work_dir: str | Path | None = None,
  solve_range: tuple[float, float] | None = None,
) -> SOResult:
  """Run OpenSim StaticOptimization on one trial and return its activations.

  Args:
    model_path: `.osim` with muscles (any scale); reserves are added to a copy.
    times: [T] uniform times (s).
    q_deg: [T, C] coordinates, rotational ones in degrees (OpenSim `.mot` convention), translations
      in metres. Include the coupled knee `*_beta` columns consistent with their couplers.
    coordinate_names: the C column names.
    config: `SOConfig`.
    fk_model: `OsimModel` of the same `.osim` (parsed when None) for the ground reactions.
    work_dir: where to write; a fresh temporary folder (deleted afterwards) when None.
    solve_range: (t0, t1): solve only there (every `step_interval`-th frame from t0); the frames
      outside still serve the filter and the derivatives. Default: the whole trial.
  Returns:
    `SOResult` with one row per solved frame (every `step_interval`-th time).
  """
  import opensim as osim

  from motion_jax.data.formats.mot import make_motion, read_mot, write_mot
  from motion_jax.skeletons.opensim_model import load_osim

  t_start = _time.perf_counter()
  model_path = Path(model_path)
  times = np.asarray(times, np.float64)
  q_deg = np.asarray(q_deg, np.float64)
  names = tuple(coordinate_names)
  if q_deg.shape != (times.shape[0], len(names)):
    raise ValueError(f"q_deg shape {q_deg.shape} != ({times.shape[0]}, {len(names)})")
  if times.shape[0] < 8:
    raise ValueError(f"need at least 8 frames for static optimization, got {times.shape[0]}")
  fk_model = load_osim(model_path) if fk_model is None else fk_model
  rot = np.array([fk_model.is_rotational(n) for n in names])
  q_rad = np.where(rot[None], np.deg2rad(q_deg), q_deg)

  tmp = tempfile.TemporaryDirectory(prefix="so_") if work_dir is None else None
  wd = Path(tmp.name if tmp else work_dir)
  wd.mkdir(parents=True, exist_ok=True)
  try:
    coords_file = wd / "coordinates.mot"
    write_mot(coords_file, make_motion(names, times, q_deg, in_degrees=True))
    grf = synthesize_grf(fk_model, times, q_rad, names, config.lowpass_hz)
    grf_file = wd / "grf.mot"
    _write_grf_mot(grf_file, times, grf)
    loads_file = wd / "external_loads.xml"
    _external_loads(loads_file, grf_file)
    model_file = wd / "model_reserves.osim"
    muscles, reserves = _prepare_model(model_path, model_file, config)

    tool = osim.AnalyzeTool()
    tool.setName("so")
    tool.setModelFilename(str(model_file))
    tool.setCoordinatesFileName(str(coords_file))
    tool.setLowpassCutoffFrequency(config.lowpass_hz)
    tool.setExternalLoadsFileName(str(loads_file))
    t0, t1 = (float(times[0]), float(times[-1])) if solve_range is None else map(float, solve_range)
    tool.setInitialTime(t0)
    tool.setFinalTime(t1)
    tool.setResultsDir(str(wd / "results"))
    so = osim.StaticOptimization()
    so.setStartTime(t0)
    so.setEndTime(t1)
    so.setStepInterval(int(config.step_interval))
    so.setUseModelForceSet(True)
    so.setActivationExponent(config.activation_exponent)
    so.setUseMusclePhysiology(config.use_muscle_physiology)
    so.setConvergenceCriterion(config.convergence_criterion)
    so.setMaxIterations(config.max_iterations)
    tool.getAnalysisSet().cloneAndAppend(so)
    setup = wd / "setup_analyze.xml"
    tool.printToXML(str(setup))

    log_file = wd / "opensim.log"
    level = osim.Logger.getLevelString()
    if level != "Info":
      osim.Logger.setLevelString("Info")  # the per-frame lines that flag failures are Info
    osim.Logger.removeFileSink()
    osim.Logger.addFileSink(str(log_file))
    try:
      ok_run = osim.AnalyzeTool(str(setup), True).run()
    except Exception as e:  # OpenSim raises RuntimeError subclasses
      raise StaticOptimizationError(f"AnalyzeTool failed: {e}") from e
    finally:
      osim.Logger.removeFileSink()
      if level != "Info":
        osim.Logger.setLevelString(level)
    act_file = wd / "results" / "so_StaticOptimization_activation.sto"
    if not ok_run or not act_file.exists():
      raise StaticOptimizationError(f"StaticOptimization wrote no activations (see {log_file})")
    act = read_mot(act_file)
    force = read_mot(wd / "results" / "so_StaticOptimization_force.sto")
    log_text = log_file.read_text(errors="replace")
  finally:
    if tmp is not None:
      tmp.cleanup()

  viol, failed = parse_so_log(log_text)
  keys = np.round(act.times, 6)
  cv = np.array([viol.get(float(k), np.nan) for k in keys])
  ok = np.array([(float(k) in viol) and (float(k) not in failed) for k in keys])
  ok &= np.nan_to_num(cv, nan=np.inf) <= config.max_constraint_violation
  return SOResult(
    times=act.times.copy(),
    activations=np.stack([act.column(m) for m in muscles], axis=1),
    muscle_names=tuple(muscles),
    ok=ok,
    constraint_violation=cv,
    reserve_names=tuple(reserves),
    reserves=np.stack([force.column(r) for r in reserves], axis=1),
    wall_s=_time.perf_counter() - t_start,
  )
