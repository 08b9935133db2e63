"""Synthetic squat subjects anchored on the real OpenCap squat trial.

Each subject is the real trial (`squats1_videoAndMocap.mot`, 5 repetitions, subject model
`LaiArnoldModified2017_contacts.osim`, 78.2 kg) transformed by the parameters below, all drawn from
one `numpy` generator seeded by (build seed, subject index):

=====================  =====================  ======================================================
parameter              distribution           meaning
=====================  =====================  ======================================================
``height_scale``       U(0.90, 1.10)          every body scaled by this factor (stature ~ +-10 %)
``segment_jitter``     N(0, 0.03) clip +-0.06 per group (pelvis, thigh, shank, foot, torso, arm),
                                              times height_scale, same on both sides, uniform in
                                              x, y, z
``mass_factor``        U(0.80, 1.25)          mass = 78.2 kg * height_scale^2 * factor (BMI spread)
``tempo``              U(0.75, 1.35)          duration factor of every repetition and pause
                                              (>1 slower)
``rep_tempo``          U(0.90, 1.10) per rep  extra duration factor of each repetition
``depth``              U(0.65, 1.10)          amplitude of the sagittal flexion (hip, knee, ankle,
                                              pelvis tilt) about the upright posture; knee peak
                                              ~57-96 degrees
``rep_depth``          U(0.85, 1.10) per rep  extra amplitude factor of each repetition
``asymmetry``          U(-0.08, 0.08)         right amplitude *(1 + a/2), left *(1 - a/2)
``pelvis_tilt_deg``    U(-5, 5)               constant pelvis_tilt offset, hip flexion compensated
                                              (-) so the thighs keep their orientation
``trunk_lean_deg``     U(-8, 8)               lumbar_extension offset, proportional to the depth
                                              signal (0 upright, full at the deepest frame)
``noise_deg``          U(0.0, 0.5)            std of 4 Hz low-passed Gaussian noise on every angle
=====================  =====================  ======================================================

Feet stay planted (`plant_feet`, `pin_feet`, JAX forward kinematics of the scaled model):

1. the pelvis translation is shifted per frame so that the lowest point (contact-sphere bottoms,
   joint centres) is at the real trial's ground height and the midpoint of the four foot origins
   (calcn, toes, both sides) stays at the real trial's mean position (no sliding);
2. leg inverse kinematics (Levenberg-Marquardt, per frame) then holds each calcn at its pose of the
   most upright frame, moving the 12 leg coordinates (and, weakly, the pelvis translation), so
   asymmetry, noise and non-uniform scaling cannot lift or slide one foot;
3. step 1 again. The residual per-foot slide / lift is returned in `AugmentInfo` (about 1-2 mm).

Scaling uses OpenSim's own `Model.scale` for the simulator model and helper-1's `scale_model` (same
semantics, contact spheres scaled with their body) for the JAX kinematics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motion_jax.data.squat.segmentation import Repetition, depth_signal
from motion_jax.skeletons.opencap import BIGE_COORDINATES

#: Real trial and its subject model (data/opencap).
BASE_MODEL = "LaiArnoldModified2017_contacts.osim"
BASE_TRIAL = "squats1_videoAndMocap.mot"
BASE_MASS_KG = 78.2

#: Body groups that share one scale factor.
SEGMENT_GROUPS: dict[str, tuple[str, ...]] = {
  "pelvis": ("pelvis",),
  "thigh": ("femur_r", "femur_l", "patella_r", "patella_l"),
  "shank": ("tibia_r", "tibia_l"),
  "foot": ("talus_r", "talus_l", "calcn_r", "calcn_l", "toes_r", "toes_l"),
  "torso": ("torso",),
  "arm": ("humerus_r", "humerus_l", "ulna_r", "ulna_l", "radius_r", "radius_l", "hand_r", "hand_l"),
}

#: (name, distribution, range, meaning): the table above, machine-readable (goes in manifest.json).
PARAMETER_TABLE: tuple[tuple[str, str, tuple[float, float], str], ...] = (
  ("height_scale", "uniform", (0.90, 1.10), "all bodies scaled by this factor"),
  (
    "segment_jitter",
    "normal(0, 0.03) clipped",
    (-0.06, 0.06),
    "per segment group, relative, times height_scale",
  ),
  ("mass_factor", "uniform", (0.80, 1.25), "mass = 78.2 kg * height_scale^2 * factor"),
  ("tempo", "uniform", (0.75, 1.35), "duration factor of the whole trial"),
  ("rep_tempo", "uniform per repetition", (0.90, 1.10), "extra duration factor per repetition"),
  (
    "depth",
    "uniform",
    (0.65, 1.10),
    "sagittal flexion amplitude factor (hip, knee, ankle, pelvis tilt)",
  ),
  ("rep_depth", "uniform per repetition", (0.85, 1.10), "extra amplitude factor per repetition"),
  ("asymmetry", "uniform", (-0.08, 0.08), "right amplitude *(1+a/2), left *(1-a/2)"),
  ("pelvis_tilt_deg", "uniform", (-5.0, 5.0), "pelvis tilt offset, hip flexion compensated"),
  ("trunk_lean_deg", "uniform", (-8.0, 8.0), "lumbar extension offset times depth signal"),
  ("noise_deg", "uniform", (0.0, 0.5), "std of 4 Hz low-passed noise on every angle"),
)
_RANGES = {name: rng for name, _, rng, _ in PARAMETER_TABLE}

#: Sagittal flexion coordinates scaled by the depth factor; sided ones get the asymmetry.
DEPTH_COORDINATES = ("hip_flexion", "knee_angle", "ankle_angle")
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


@dataclasses.dataclass(frozen=True)
class SubjectParams:
  subject: int
  height_scale: float
  segment_scales: tuple[tuple[str, float], ...]  # (group, factor incl. height_scale)
  mass_kg: float
  tempo: float
  rep_tempo: tuple[float, ...]
  depth: float
  rep_depth: tuple[float, ...]
  asymmetry: float
  pelvis_tilt_deg: float
  trunk_lean_deg: float
  noise_deg: float
  noise_seed: int

  def body_scale_factors(self) -> dict[str, float]:
    out = {}
    for group, f in self.segment_scales:
      for b in SEGMENT_GROUPS[group]:
        out[b] = f
    return out

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    d["segment_scales"] = dict(self.segment_scales)
    return d


def sample_subject(seed: int, subject: int, n_reps: int = 5) -> SubjectParams:
  """Parameters of subject `subject` of a build seeded with `seed` (deterministic)."""
  rng = np.random.default_rng([int(seed), int(subject)])

  def u(name):
    lo, hi = _RANGES[name]
    return float(rng.uniform(lo, hi))

  h = u("height_scale")
  jit_lo, jit_hi = _RANGES["segment_jitter"]
  seg = tuple(
    (g, float(h * (1.0 + np.clip(rng.normal(0.0, 0.03), jit_lo, jit_hi)))) for g in SEGMENT_GROUPS
  )
  mass = BASE_MASS_KG * h * h * u("mass_factor")
  tempo = u("tempo")
  rep_tempo = tuple(u("rep_tempo") for _ in range(n_reps))
  depth = u("depth")
  rep_depth = tuple(u("rep_depth") for _ in range(n_reps))
  return SubjectParams(
    subject=int(subject),
    height_scale=h,
    segment_scales=seg,
    mass_kg=float(mass),
    tempo=tempo,
    rep_tempo=rep_tempo,
    depth=depth,
    rep_depth=rep_depth,
    asymmetry=u("asymmetry"),
    pelvis_tilt_deg=u("pelvis_tilt_deg"),
    trunk_lean_deg=u("trunk_lean_deg"),
    noise_deg=u("noise_deg"),
    noise_seed=int(rng.integers(0, 2**31 - 1)),
  )


def identity_params(n_reps: int = 5) -> SubjectParams:
  """The real subject unchanged (useful to check the pipeline on the real trial)."""
  return SubjectParams(
    subject=-1,
    height_scale=1.0,
    segment_scales=tuple((g, 1.0) for g in SEGMENT_GROUPS),
    mass_kg=BASE_MASS_KG,
    tempo=1.0,
    rep_tempo=(1.0,) * n_reps,
    depth=1.0,
    rep_depth=(1.0,) * n_reps,
    asymmetry=0.0,
    pelvis_tilt_deg=0.0,
    trunk_lean_deg=0.0,
    noise_deg=0.0,
    noise_seed=0,
  )


# ----------------------------------------------------------------------------------------------
# Models.


def scale_osim_file(base_path: str | Path, params: SubjectParams, out_path: str | Path) -> Path:
  """Write the subject's OpenSim model (OpenSim `Model.scale`, mass distribution preserved)."""
  import opensim as osim

  model = osim.Model(str(base_path))
  state = model.initSystem()
  scale_set = osim.ScaleSet()
  for body, f in params.body_scale_factors().items():
    sc = osim.Scale()
    sc.setSegmentName(body)
    sc.setScaleFactors(osim.Vec3(f, f, f))
    sc.setApply(True)
    scale_set.cloneAndAppend(sc)
  if not model.scale(state, scale_set, True, float(params.mass_kg)):
    raise RuntimeError(f"OpenSim could not scale {base_path}")
  model.setName(f"{model.getName()}_subject{params.subject}")
  out_path = Path(out_path)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  model.printToXML(str(out_path))
  return out_path


def scale_fk_model(base_model, params: SubjectParams):
  """The subject's `OsimModel` for JAX kinematics (helper-1's `scale_model`, spheres scaled)."""
  from motion_jax.skeletons.opensim_model import scale_model

  factors = {
    b: (f, f, f) for b, f in params.body_scale_factors().items() if b in base_model.body_names
  }
  return scale_model(base_model, factors, True, params.mass_kg, scale_contact_spheres=True)


# ----------------------------------------------------------------------------------------------
# Kinematics.


@dataclasses.dataclass(frozen=True)
class AugmentInfo:
  repetitions: tuple[Repetition, ...]  # in the augmented timeline (frames at `rate`)
  knee_peak_deg: tuple[float, ...]  # per repetition, mean of both knees
  max_foot_slide_m: float  # largest horizontal excursion of a foot midpoint from its mean
  max_foot_lift_m: float  # largest height of a foot's lowest point above ground


def _foot_points(fk, model):
  from motion_jax.skeletons import opensim_fk as F

  return F.points_in_ground(fk, model, ["calcn_r", "toes_r", "calcn_l", "toes_l"], np.zeros((4, 3)))


def _foot_lowest(fk, model, side: str):
  """[T] lowest height of one foot (its contact-sphere bottoms, or its joint centres)."""
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk as F

  spheres = [s for s in model.contact_spheres if s.body.endswith(f"_{side}")]
  if spheres:
    c = F.points_in_ground(
      fk, model, [s.body for s in spheres], np.stack([s.location for s in spheres])
    )
    return jnp.min(c[..., 1] - jnp.asarray([s.radius for s in spheres], c.dtype), axis=-1)
  idx = [model.body_index(b) for b in (f"calcn_{side}", f"toes_{side}")]
  return jnp.min(fk.body_positions[..., idx, 1], axis=-1)


def full_coordinates_deg(model, q_deg: np.ndarray, names: Sequence[str] = BIGE_COORDINATES):
  """All model coordinates (couplers applied) in the `.mot` convention: (names, [T, n] values)."""
  import jax
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk as F

  rot = np.array([model.is_rotational(n) for n in names])
  q_rad = np.where(rot[None], np.deg2rad(q_deg), q_deg)
  with jax.enable_x64(True):
    full = np.asarray(F.full_coordinates(model, jnp.asarray(q_rad, jnp.float64), tuple(names)))
  rot_all = np.array([model.is_rotational(n) for n in model.coordinate_names])
  return model.coordinate_names, np.where(rot_all[None], np.rad2deg(full), full)


def ground_reference(
  model, q_deg: np.ndarray, names: Sequence[str] = BIGE_COORDINATES
) -> tuple[float, np.ndarray]:
  """(ground height, mean horizontal foot midpoint [x, z]) of a trial (the real trial's frame)."""
  import jax
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk as F

  rot = np.array([model.is_rotational(n) for n in names])
  q = np.where(rot[None], np.deg2rad(q_deg), q_deg)
  with jax.enable_x64(True):
    fk = F.forward_kinematics(model, jnp.asarray(q, jnp.float64), tuple(names))
    low = np.asarray(F.lowest_point(fk, model))
    mid = np.asarray(_foot_points(fk, model)).mean(axis=1)
  return float(np.median(low)), mid[:, [0, 2]].mean(axis=0)


def plant_feet(
  model,
  q_deg: np.ndarray,
  ground_y: float,
  anchor_xz: np.ndarray,
  names: Sequence[str] = BIGE_COORDINATES,
) -> tuple[np.ndarray, float, float]:
  """Correct pelvis_tx/ty/tz so the lowest point is on the ground and the feet do not slide.

  Returns (corrected q_deg [T, C], max per-foot slide (m), max per-foot lift (m)).
  """
  import jax
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk as F

  names = tuple(names)
  rot = np.array([model.is_rotational(n) for n in names])
  q = np.where(rot[None], np.deg2rad(q_deg), q_deg).astype(np.float64)
  ti = [names.index(n) for n in TRANSLATIONS]
  with jax.enable_x64(True):
    fk = F.forward_kinematics(model, jnp.asarray(q), names)
    low = np.asarray(F.lowest_point(fk, model))
    mid = np.asarray(_foot_points(fk, model)).mean(axis=1)
  # The pelvis translations are ground-frame slider axes: shifting them moves every point rigidly.
  q[:, ti[0]] += anchor_xz[0] - mid[:, 0]
  q[:, ti[1]] += ground_y - low
  q[:, ti[2]] += anchor_xz[1] - mid[:, 2]
  with jax.enable_x64(True):
    fk = F.forward_kinematics(model, jnp.asarray(q), names)
    pts = np.asarray(_foot_points(fk, model))
    lifts = [np.asarray(_foot_lowest(fk, model, s)) - ground_y for s in ("r", "l")]
  slide = 0.0
  for k in ((0, 1), (2, 3)):
    fm = pts[:, k, :].mean(axis=1)[:, [0, 2]]
    slide = max(slide, float(np.max(np.linalg.norm(fm - fm.mean(axis=0), axis=1))))
  lift = float(max(np.max(lv) for lv in lifts))
  return np.where(rot[None], np.rad2deg(q), q), slide, lift


LEG_COORDINATES = (
  "hip_flexion",
  "hip_adduction",
  "hip_rotation",
  "knee_angle",
  "ankle_angle",
  "subtalar_angle",
)


def _calcn_points(model, side: str) -> np.ndarray:
  """Three calcn-fixed points spanning the foot: origin, mtp joint centre, a medial-lateral
  offset."""
  mtp = next(j for j in model.joints if j.child_body == f"toes_{side}")
  toe = np.asarray(mtp.parent_frame.translation)
  return np.stack([np.zeros(3), toe, np.array([0.0, 0.0, 0.05])])


def pin_feet(
  model,
  q_deg: np.ndarray,
  names: Sequence[str] = BIGE_COORDINATES,
  reference_frame: int = 0,
  iterations: int = 10,
  regularization: float = 0.01,
  translation_regularization: float = 0.1,
  damping: float = 1e-4,
) -> np.ndarray:
  """Leg inverse kinematics that holds each foot (calcn) at its pose in `reference_frame`.

  Per frame, the 12 leg coordinates (hip x3, knee, ankle, subtalar, both sides) and the pelvis
  translation are moved by Levenberg-Marquardt steps to put three calcn-fixed points on their
  reference positions (9 residuals per foot), regularised towards the given values
  (`regularization` metres per radian; `translation_regularization` metres per metre, so the pelvis
  moves mainly where a nearly straight leg cannot reach). Other coordinates are untouched.
  """
  import jax
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk as F

  names = tuple(names)
  rot = np.array([model.is_rotational(n) for n in names])
  q = np.where(rot[None], np.deg2rad(q_deg), q_deg).astype(np.float64)
  legs = [names.index(f"{c}_{s}") for s in ("r", "l") for c in LEG_COORDINATES]
  legs += [names.index(n) for n in TRANSLATIONS]  # the pelvis may move where a leg cannot reach
  weights = np.array([regularization] * 12 + [translation_regularization] * 3)
  pts = {s: _calcn_points(model, s) for s in ("r", "l")}

  with jax.enable_x64(True):

    def feet(qq):  # [..., C] -> [..., 6, 3]
      fk = F.forward_kinematics(model, qq, names)
      return jnp.concatenate(
        [F.points_in_ground(fk, model, [f"calcn_{s}"] * 3, pts[s]) for s in ("r", "l")], axis=-2
      )

    qj = jnp.asarray(q)
    target = feet(qj[reference_frame])
    x_des = qj[:, legs]

    def residual(x, q_row, xd):
      qq = q_row.at[jnp.asarray(legs)].set(x)
      return jnp.concatenate([(feet(qq) - target).reshape(-1), jnp.asarray(weights) * (x - xd)])

    jac = jax.vmap(jax.jacfwd(residual), in_axes=(0, 0, 0))
    res = jax.vmap(residual, in_axes=(0, 0, 0))
    eye = jnp.eye(len(legs))

    @jax.jit
    def solve(x, qq, xd):  # one compile per model; the loop runs inside
      def step(_, x):
        r = res(x, qq, xd)
        j = jac(x, qq, xd)
        jtj = jnp.einsum("tri,trk->tik", j, j)
        jtj = jtj + damping * jnp.trace(jtj, axis1=-2, axis2=-1)[:, None, None] * eye
        return x - jnp.linalg.solve(jtj, jnp.einsum("tri,tr->ti", j, r)[..., None])[..., 0]

      return jax.lax.fori_loop(0, iterations, step, x)

    q[:, legs] = np.asarray(solve(x_des, qj, x_des))
  return np.where(rot[None], np.rad2deg(q), q)


def time_warp(
  times: np.ndarray,
  reps: Sequence[Repetition],
  factors: Sequence[float],
  pause_factor: float,
  rate: float,
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
  """Piecewise-linear time map: repetition k lasts `factors[k]` times longer, pauses `pause_factor`.

  Returns (new uniform times at `rate`, the source time of each new time, new (start, peak, end)
  times of every repetition).
  """
  t = np.asarray(times, np.float64)
  knots_old, fac = [t[0]], []
  for r, f in zip(reps, factors):
    ts, te = t[r.start], t[min(r.end, len(t) - 1)]
    if ts > knots_old[-1] + 1e-9:
      knots_old.append(ts)
      fac.append(pause_factor)
    knots_old.append(te)
    fac.append(f)
  if t[-1] > knots_old[-1] + 1e-9:
    knots_old.append(t[-1])
    fac.append(pause_factor)
  knots_old = np.array(knots_old)
  knots_new = np.concatenate([[t[0]], t[0] + np.cumsum(np.diff(knots_old) * np.array(fac))])
  n = int(np.floor((knots_new[-1] - knots_new[0]) * rate + 1e-9)) + 1
  new_t = knots_new[0] + np.arange(n) / rate
  src_t = np.interp(new_t, knots_new, knots_old)
  new_reps = [
    tuple(
      float(np.interp(t[min(i, len(t) - 1)], knots_old, knots_new))
      for i in (r.start, r.peak, r.end)
    )
    for r in reps
  ]
  return new_t, src_t, new_reps


def augment_trial(
  times: np.ndarray,
  q_deg: np.ndarray,
  reps: Sequence[Repetition],
  params: SubjectParams,
  fk_model,
  ground_y: float,
  anchor_xz: np.ndarray,
  rate: float = 100.0,
  names: Sequence[str] = BIGE_COORDINATES,
) -> tuple[np.ndarray, np.ndarray, AugmentInfo]:
  """The subject's version of a squat trial (see module docstring).

  Args:
    times, q_deg: real trial [T], [T, C] (degrees / metres, columns `names`).
    reps: its repetitions (`segment_repetitions`).
    fk_model: the subject's scaled `OsimModel` (`scale_fk_model`).
    ground_y, anchor_xz: `ground_reference` of the real trial with the real subject's model.
    rate: output frame rate.
  Returns:
    (times [T'], q_deg [T', C], AugmentInfo).
  """
  from scipy.interpolate import CubicSpline

  from motion_jax.data.filters import lowpass

  names = tuple(names)
  col = {n: i for i, n in enumerate(names)}
  if len(params.rep_depth) < len(reps) or len(params.rep_tempo) < len(reps):
    raise ValueError(f"params hold {len(params.rep_depth)} repetitions, trial has {len(reps)}")
  # 1. Tempo.
  new_t, src_t, rep_times = time_warp(
    times, reps, [params.tempo * f for f in params.rep_tempo[: len(reps)]], params.tempo, rate
  )
  q = CubicSpline(times, q_deg, axis=0)(src_t)
  new_reps = tuple(
    Repetition(
      int(round((a - new_t[0]) * rate)),
      int(round((b - new_t[0]) * rate)),
      min(len(new_t), int(round((c - new_t[0]) * rate))),
    )
    for a, b, c in rep_times
  )
  # 2. Depth about the upright posture, per repetition, with left/right asymmetry.
  knee = 0.5 * (q[:, col["knee_angle_r"]] + q[:, col["knee_angle_l"]])
  d = depth_signal(knee, q[:, col["pelvis_ty"]], rate)
  upright = d < 0.1
  q_up = np.median(q[upright], axis=0) if upright.any() else q[0]
  peak_t = [new_t[r.peak] for r in new_reps]
  s = np.interp(new_t, peak_t, [params.depth * f for f in params.rep_depth[: len(new_reps)]])
  side_f = {"r": 1.0 + params.asymmetry / 2, "l": 1.0 - params.asymmetry / 2}
  for base in DEPTH_COORDINATES:
    for side in ("r", "l"):
      j = col[f"{base}_{side}"]
      q[:, j] = q_up[j] + s * side_f[side] * (q[:, j] - q_up[j])
  j = col["pelvis_tilt"]
  q[:, j] = q_up[j] + s * (q[:, j] - q_up[j])
  # 3. Pelvis tilt (thighs kept) and trunk lean.
  q[:, col["pelvis_tilt"]] += params.pelvis_tilt_deg
  for side in ("r", "l"):
    q[:, col[f"hip_flexion_{side}"]] -= params.pelvis_tilt_deg
  knee = 0.5 * (q[:, col["knee_angle_r"]] + q[:, col["knee_angle_l"]])
  d = depth_signal(knee, q[:, col["pelvis_ty"]], rate)
  q[:, col["lumbar_extension"]] += params.trunk_lean_deg * d
  # 4. Smooth noise on the angles.
  if params.noise_deg > 0:
    rng = np.random.default_rng(params.noise_seed)
    noise = lowpass(rng.normal(size=q.shape), rate, 4.0)
    noise *= params.noise_deg / max(float(noise.std()), 1e-12)
    ramp = np.clip(
      np.minimum(np.arange(len(new_t)), np.arange(len(new_t))[::-1]) / (0.5 * rate), 0, 1
    )
    noise *= (0.5 - 0.5 * np.cos(np.pi * ramp))[
      :, None
    ]  # no noise at the trial ends (filter edges)
    rot = np.array([n not in TRANSLATIONS for n in names])
    q[:, rot] += noise[:, rot]
  # 5. Feet on the ground: pelvis translation, then leg IK to the upright foot poses, then again.
  q, _, _ = plant_feet(fk_model, q, ground_y, anchor_xz, names)
  q = pin_feet(fk_model, q, names, reference_frame=int(np.argmin(d)))
  q, slide, lift = plant_feet(fk_model, q, ground_y, anchor_xz, names)
  knee = 0.5 * (q[:, col["knee_angle_r"]] + q[:, col["knee_angle_l"]])
  info = AugmentInfo(
    repetitions=new_reps,
    knee_peak_deg=tuple(float(knee[r.start : r.end].max()) for r in new_reps),
    max_foot_slide_m=slide,
    max_foot_lift_m=lift,
  )
  return new_t, q, info
