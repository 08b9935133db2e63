"""Motion primitives of the procedural text-motion library (t2m skeleton, 20 fps).

Each action is a function ``(rng, n_frames, fps) -> (BodyPlan, params)``: it samples its
parameters (speed, direction, turning, amplitude, side, repetitions...) from ``rng`` and lays out
where the pelvis and the feet go and what the spine, neck and arms do (see :mod:`.body` for the
conventions). :func:`generate` assembles the plan into joints ``[T, 22, 3]`` with exact t2m bone
lengths, planted feet that cannot slide, and the lowest point of the clip on the floor.

Physical plausibility by construction:
  * feet: a supporting foot is a constant world target (zero slide); swings are smooth
    (smoothstep in the ground plane, a sine lift); heels roll about the ball of the foot;
  * pelvis: clamped so that supporting legs reach their feet (knees never over-straighten); in
    flight phases (run, jump, hop, jumping jacks) the pelvis follows a ballistic parabola with
    g = 9.81 m/s^2 over the flight time, and the flight time follows from the jump height
    (``tau = sqrt(8 H / g)``);
  * joints: angles stay within ordinary ranges of motion (knee 0-150 deg from the IK, shoulders up
    to 165 deg, spine flexion <= 60 deg), velocities are smooth (every profile is a smoothstep or a
    sine).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.interpolate import PchipInterpolator

from motion_jax.datagen.procedural import body as B
from motion_jax.datagen.procedural.body import BodyPlan, UpperBody, heading_vector, left_vector

G = 9.81
SIDES = ("left", "right")
TOE_FWD = float(B.OFFSETS[10, 2])  # the ball of the foot is this far in front of the ankle
H_STAND = B.standing_pelvis_height()


# ------------------------------------------------------------------------------------------------
# Small profile helpers
# ------------------------------------------------------------------------------------------------
def smoothstep(u):
  u = np.clip(u, 0.0, 1.0)
  return u * u * (3.0 - 2.0 * u)


def ramp(t, a, b):
  """0 before ``a``, 1 after ``b``, smoothstep in between."""
  return smoothstep((np.asarray(t) - a) / max(b - a, 1e-6))


def window(t, a, b, rise):
  """1 on [a, b], smooth ramps of length ``rise`` outside, 0 far away."""
  return ramp(t, a - rise, a) * (1.0 - ramp(t, b, b + rise))


def other(side: str) -> str:
  return "right" if side == "left" else "left"


def _times(n, fps):
  return np.arange(n) / fps


def _start(rng):
  """Random heading and origin of a clip (the features are heading/origin invariant)."""
  yaw0 = float(rng.uniform(-np.pi, np.pi))
  origin = np.array([rng.uniform(-1, 1), 0.0, rng.uniform(-1, 1)])
  return yaw0, origin


def _relaxed_arms(up: UpperBody):
  for s in SIDES:
    up.shoulder(s, abd=0.08).elbow(s, flex=0.15)
  return up


def _standing_plan(n, yaw0, origin, width=0.1, stagger=0.0, h=H_STAND):
  """All frames standing still: feet planted ``width`` either side, optional stagger (left
  foot forward by ``stagger``)."""
  yaw = np.full(n, yaw0)
  fwd, lft = heading_vector(yaw0), left_vector(yaw0)
  pelvis = np.tile(origin + np.array([0.0, h, 0.0]), (n, 1))
  toe, fy, fp = {}, {}, {}
  for s in SIDES:
    sign = B.SIDE_SIGN[s]
    p = origin + sign * width * lft + (TOE_FWD + sign * stagger / 2) * fwd
    p[1] = 0.0
    toe[s] = np.tile(p, (n, 1))
    fy[s] = np.full(n, yaw0 + sign * 0.1)
    fp[s] = np.zeros(n)
  return BodyPlan(
    pelvis=pelvis,
    yaw=yaw,
    pitch=np.zeros(n),
    roll=np.zeros(n),
    toe=toe,
    foot_yaw=fy,
    foot_pitch=fp,
    upper=_relaxed_arms(UpperBody(n)),
    airborne=np.zeros(n, bool),
  )


def _shift_pelvis(plan: BodyPlan, forward=0.0, down=0.0):
  """Moves the pelvis ``forward`` along its heading and ``down`` (arrays [T])."""
  plan.pelvis = plan.pelvis + np.asarray(forward)[..., None] * heading_vector(plan.yaw)
  plan.pelvis[:, 1] -= down


def _lift_blend(ground, target, level, clearance=0.06):
  """Foot position moving between a floor position ``ground`` and a ``target`` as ``level``
  goes 0 -> 1: the foot first leaves the floor (to ``clearance``), then travels, so it never
  drags on the floor. Returns the positions and the travel weight."""
  wy = smoothstep(np.clip(2.0 * level, 0, 1))
  wx = smoothstep(np.clip(2.0 * level - 0.5, 0, 1))
  toe = ground + (target - ground) * wx[:, None]
  toe[:, 1] = np.maximum(np.maximum(target[:, 1], 0.0) * wx, clearance * wy)
  return toe, wx


def _arm_swing_from_feet(plan: BodyPlan, gain: float, elbow: float = 0.2):
  """Arms swing opposite to the legs: each shoulder flexes with how far the *other* foot is
  ahead of this side's foot (coupling of walking/running)."""
  fwd = heading_vector(plan.yaw)
  ahead = {s: np.sum((plan.toe[s] - plan.pelvis) * fwd, -1) for s in SIDES}
  for s in SIDES:
    d = ahead[other(s)] - ahead[s]
    plan.upper.shoulder(s, flex=gain * d)
    plan.upper.elbow(s, flex=elbow + 0.5 * gain * np.maximum(d, 0.0))


# ------------------------------------------------------------------------------------------------
# Gait: walking, running, sidestepping, turning in place, stepping over
# ------------------------------------------------------------------------------------------------
def _gait(
  n,
  fps,
  yaw0,
  origin,
  *,
  speed,
  turn,
  step_period,
  swing_frac,
  clearance,
  direction="forward",
  start_side="left",
  width=0.1,
  toe_off=0.35,
  high_steps=(),
  high_clearance=0.0,
  h=H_STAND,
):
  """Footstep locomotion.

  The pelvis follows a path whose speed ramps up after 0.25 s and back to zero before the last
  two steps; heading turns by ``turn`` radians in total (spread over the moving part). Steps
  alternate feet every ``step_period`` s, each swing lasts ``swing_frac`` of the gait cycle
  (two step periods; > 0.5 gives flight phases). A step lands where the pelvis will be at the
  middle of that foot's stance, so the last steps bring the feet together.

  Returns the plan and the number of steps taken.
  """
  t = _times(n, fps)
  t_end = t[-1]
  cycle = 2 * step_period
  swing = swing_frac * cycle
  stance = cycle - swing
  t0 = 0.25
  t_stop = max(t0 + 0.4, t_end - 0.25 - 2 * step_period - swing)
  rise = min(0.5, (t_stop - t0) / 2.5)
  env = ramp(t, t0, t0 + rise) * (1.0 - ramp(t, t_stop - rise, t_stop))
  env_int = max(env.sum() / fps, 1e-6)
  omega = turn / env_int * env
  yaw = yaw0 + np.concatenate([[0.0], np.cumsum(omega[:-1]) / fps])
  if direction == "forward":
    dvec = heading_vector(yaw)
  elif direction == "backward":
    dvec = -heading_vector(yaw)
  elif direction in SIDES:
    dvec = B.SIDE_SIGN[direction] * left_vector(yaw)
  else:
    raise ValueError(direction)
  vel = speed * env[:, None] * dvec
  path = origin + np.concatenate([np.zeros((1, 3)), np.cumsum(vel[:-1], 0) / fps])

  plan = _standing_plan(n, yaw0, origin, width=width, h=h)
  plan.pelvis[:, [0, 2]] = path[:, [0, 2]]
  plan.yaw = yaw
  swinging = {s: np.zeros(n, bool) for s in SIDES}
  k, side, n_steps = 0, start_side, 0
  while True:
    lift = t0 + k * step_period
    land = lift + swing
    if lift > t_stop + step_period * 1.01 or land > t_end - 0.1:
      break
    tc = min(land + 0.5 * stance, t_end)
    ic = int(round(tc * fps))
    sign = B.SIDE_SIGN[side]
    target = path[ic] + sign * width * left_vector(yaw[ic]) + TOE_FWD * heading_vector(yaw[ic])
    target[1] = 0.0
    il = int(np.searchsorted(t, lift))
    start = plan.toe[side][il].copy()
    start_yaw = plan.foot_yaw[side][il]
    end_yaw = yaw[ic] + sign * 0.1
    u = np.clip((t - lift) / swing, 0.0, 1.0)
    s_ = smoothstep(u)[:, None]
    after = t >= lift
    clr = high_clearance if k in high_steps else clearance
    traj = start + (target - start) * s_
    traj[:, 1] = clr * np.sin(np.pi * u)
    plan.toe[side][after] = traj[after]
    plan.foot_yaw[side][after] = (start_yaw + (end_yaw - start_yaw) * s_[:, 0])[after]
    # Heel rolls up about the ball of the foot before toe-off, settles during the swing.
    pre = ramp(t, lift - 0.3 * stance, lift)
    roll = np.where(t < lift, toe_off * pre, toe_off * (1.0 - smoothstep(u / 0.6)))
    win = (t >= lift - 0.3 * stance) & (t < land)
    plan.foot_pitch[side][win] = roll[win]
    swinging[side] |= (t > lift) & (t < land)
    side = other(side)
    k += 1
    n_steps += 1
  plan.airborne = swinging["left"] & swinging["right"]
  return plan, n_steps


def walk(rng, n, fps):
  yaw0, origin = _start(rng)
  speed_name = rng.choice(["slowly", "normal", "quickly"], p=[0.3, 0.45, 0.25])
  speed = {"slowly": 0.9, "normal": 1.25, "quickly": 1.6}[speed_name] * rng.uniform(0.9, 1.1)
  direction = "backward" if rng.random() < 0.15 else "forward"
  if direction == "backward":
    speed *= 0.55
  turn_dir = rng.choice(["none", "left", "right"], p=[0.5, 0.25, 0.25])
  turn_deg = 0.0 if turn_dir == "none" else float(rng.choice([45, 90, 135, 180]))
  turn = np.deg2rad(turn_deg) * (1 if turn_dir == "left" else -1)
  period = {"slowly": 0.62, "normal": 0.55, "quickly": 0.48}[speed_name]
  start = str(rng.choice(SIDES))
  plan, steps = _gait(
    n,
    fps,
    yaw0,
    origin,
    speed=speed,
    turn=turn,
    step_period=period,
    swing_frac=0.4,
    clearance=0.06,
    direction=direction,
    start_side=start,
    toe_off=0.35 if direction == "forward" else 0.12,
  )
  _arm_swing_from_feet(plan, gain=0.7 if direction == "forward" else 0.3)
  plan.upper.spine(flex=0.05)
  return plan, dict(
    speed=speed_name,
    speed_mps=round(float(speed), 3),
    direction=direction,
    turn=turn_dir,
    turn_deg=turn_deg,
    start_foot=start,
    steps=steps,
  )


def run(rng, n, fps):
  yaw0, origin = _start(rng)
  speed_name = rng.choice(["jog", "run", "sprint"], p=[0.4, 0.45, 0.15])
  speed = {"jog": 2.2, "run": 3.0, "sprint": 3.8}[speed_name] * rng.uniform(0.9, 1.1)
  period = {"jog": 0.36, "run": 0.33, "sprint": 0.3}[speed_name]
  turn_dir = rng.choice(["none", "left", "right"], p=[0.6, 0.2, 0.2])
  turn_deg = 0.0 if turn_dir == "none" else float(rng.choice([45, 90, 180]))
  turn = np.deg2rad(turn_deg) * (1 if turn_dir == "left" else -1)
  start = str(rng.choice(SIDES))
  plan, steps = _gait(
    n,
    fps,
    yaw0,
    origin,
    speed=speed,
    turn=turn,
    step_period=period,
    swing_frac=0.62,
    clearance=0.14,
    start_side=start,
    toe_off=0.55,
  )
  _arm_swing_from_feet(plan, gain=0.9, elbow=1.3)
  plan.upper.spine(flex=0.15)
  return plan, dict(
    speed=speed_name,
    speed_mps=round(float(speed), 3),
    turn=turn_dir,
    turn_deg=turn_deg,
    start_foot=start,
    steps=steps,
  )


def sidestep(rng, n, fps):
  yaw0, origin = _start(rng)
  direction = str(rng.choice(SIDES))
  speed = float(rng.uniform(0.35, 0.6))
  plan, steps = _gait(
    n,
    fps,
    yaw0,
    origin,
    speed=speed,
    turn=0.0,
    step_period=0.6,
    swing_frac=0.3,
    clearance=0.05,
    direction=direction,
    start_side=direction,
    width=0.13,
    toe_off=0.05,
  )
  for s in SIDES:
    plan.upper.shoulder(s, abd=0.15)
  return plan, dict(direction=direction, speed_mps=round(speed, 3), steps=steps)


def turn(rng, n, fps):
  yaw0, origin = _start(rng)
  direction = str(rng.choice(SIDES))
  deg = float(rng.choice([90, 180, 270, 360], p=[0.35, 0.35, 0.1, 0.2]))
  # At most ~120 deg/s over the moving part of the clip (a brisk turn on the spot).
  t_move = (n - 1) / fps - 1.2
  while deg > 90 and deg > 120 * t_move:
    deg -= 90
  rad = np.deg2rad(deg) * (1 if direction == "left" else -1)
  plan, steps = _gait(
    n,
    fps,
    yaw0,
    origin,
    speed=0.0,
    turn=rad,
    step_period=0.5,
    swing_frac=0.35,
    clearance=0.05,
    start_side=direction,
    toe_off=0.1,
  )
  return plan, dict(direction=direction, turn_deg=deg, steps=steps)


def step_over(rng, n, fps):
  yaw0, origin = _start(rng)
  n = max(n, 60)
  start = str(rng.choice(SIDES))
  height = float(rng.uniform(0.2, 0.35))
  t_end = (n - 1) / fps
  n_steps_est = max(2, int((t_end - 1.6) / 0.6))
  k0 = max(1, n_steps_est // 2 - 1)
  plan, steps = _gait(
    n,
    fps,
    yaw0,
    origin,
    speed=1.0,
    turn=0.0,
    step_period=0.6,
    swing_frac=0.4,
    clearance=0.06,
    start_side=start,
    high_steps=(k0, k0 + 1),
    high_clearance=height,
  )
  _arm_swing_from_feet(plan, gain=0.5)
  lead = start if k0 % 2 == 0 else other(start)
  return plan, dict(obstacle_height=round(height, 2), lead_foot=lead, start_foot=start, steps=steps)


# ------------------------------------------------------------------------------------------------
# Jumps: jump, hop, jumping jacks
# ------------------------------------------------------------------------------------------------
def _jump_series(
  n,
  fps,
  yaw0,
  origin,
  *,
  stances,
  flights,
  feet,
  widths,
  advance,
  dip,
  prep_dip,
  tuck=0.08,
  free_foot_rel=None,
):
  """Stance/flight sequence for the feet in ``feet`` (one or both).

  ``stances``: list of (start, end) times; flight k lies between stance k and k+1, with flight
  time from those times. ``widths[k]``: half stance width at stance k; ``advance[k]``: pelvis
  forward displacement during flight k. The pelvis is ballistic in flight, dips by ``dip`` in
  each middle stance (``prep_dip`` before the first take-off and after the last landing).
  """
  t = _times(n, fps)
  fwd, lft = heading_vector(yaw0), left_vector(yaw0)
  centers = [origin.copy()]
  for a in advance:
    centers.append(centers[-1] + a * fwd)
  # Pelvis ground path: rest at stance centres, constant velocity across each flight.
  knots_t, knots_x = [0.0], [centers[0]]
  for k, (e, s_next) in enumerate(flights):
    knots_t += [e, s_next]
    knots_x += [
      centers[k] + 0.15 * (centers[k + 1] - centers[k]),
      centers[k + 1] - 0.15 * (centers[k + 1] - centers[k]),
    ]
  knots_t.append(max(t[-1], knots_t[-1] + 1e-3))
  knots_x.append(centers[-1])
  path = PchipInterpolator(np.asarray(knots_t), np.asarray(knots_x), axis=0)(t)
  plan = _standing_plan(n, yaw0, origin)
  plan.pelvis[:, [0, 2]] = path[:, [0, 2]]
  y_top = H_STAND + 0.03  # heels up at take-off/landing
  y = np.full(n, H_STAND)
  heel = np.zeros(n)
  # Stances.
  for k, (a, b) in enumerate(stances):
    u = np.clip((t - a) / max(b - a, 1e-6), 0, 1)
    m = (t >= a) & (t <= b)
    if k == 0:
      prof = window(t, b - 0.35, b - 0.2, 0.3) if len(stances) > 1 else 0 * t
      yk = H_STAND - prep_dip * prof + (y_top - H_STAND) * ramp(t, b - 0.12, b)
    elif k == len(stances) - 1:
      yk = (
        H_STAND
        - prep_dip * window(t, a + 0.12, a + 0.18, 0.12)
        + (y_top - H_STAND) * (1 - ramp(t, a, a + 0.12))
      )
    else:
      yk = y_top - dip * np.sin(np.pi * u) ** 2
    y[m] = yk[m]
    heel_k = np.maximum(
      ramp(t, b - 0.15, b) if k < len(stances) - 1 else 0 * t,
      1 - ramp(t, a, a + 0.15) if k > 0 else 0 * t,
    )
    heel[m] = 0.5 * heel_k[m]
    for s in feet:
      sign = B.SIDE_SIGN[s]
      p = centers[k] + sign * widths[k] * lft + TOE_FWD * fwd
      p[1] = 0.0
      plan.toe[s][m] = p
  plan.pelvis[:, 1] = y
  # Flights: ballistic pelvis, feet carried by the pelvis, tucked.
  for k, (e, s_next) in enumerate(flights):
    tau = s_next - e
    m = (t > e) & (t < s_next)
    u = np.clip((t - e) / tau, 0, 1)
    plan.pelvis[m, 1] = y_top + 0.5 * G * tau**2 * u[m] * (1 - u[m])
    plan.airborne[m] = True
    heel[m] = 0.5 * (1 - np.sin(np.pi * u[m]))
    for s in feet:
      sign = B.SIDE_SIGN[s]
      p0 = centers[k] + sign * widths[k] * lft + TOE_FWD * fwd
      p1 = centers[k + 1] + sign * widths[k + 1] * lft + TOE_FWD * fwd
      p0[1] = p1[1] = 0.0
      ie, isn = int(np.floor(e * fps)), int(np.ceil(s_next * fps))
      ie, isn = max(ie, 0), min(isn, n - 1)
      r0 = p0 - np.r_[path[ie, 0], y_top, path[ie, 2]]
      r1 = p1 - np.r_[path[isn, 0], y_top, path[isn, 2]]
      rel = r0 + (r1 - r0) * smoothstep(u)[:, None]
      rel[:, 1] += tuck * np.sin(np.pi * u)
      plan.toe[s][m] = (plan.pelvis + rel)[m]
  for s in feet:
    plan.foot_pitch[s] = heel.copy()
  if free_foot_rel is not None:
    s_free, rel = free_foot_rel
    plan.toe[s_free] = plan.pelvis + rel
    plan.foot_pitch[s_free] = np.full(n, 0.9)
  return plan


def _schedule(n, fps, reps, period, flight, first=0.6, last=0.6):
  """Stance/flight times for ``reps`` flights of duration ``flight``, starting after ``first``
  seconds, consecutive flights ``period`` apart; clipped to the clip length."""
  t_end = (n - 1) / fps
  avail = t_end - first - last
  reps = int(max(1, min(reps, np.floor((avail - flight) / period) + 1)))
  takeoffs = [first + k * period for k in range(reps)]
  flights = [(a, a + flight) for a in takeoffs]
  stances = [(0.0, flights[0][0])]
  for k in range(reps - 1):
    stances.append((flights[k][1], flights[k + 1][0]))
  stances.append((flights[-1][1], t_end))
  return stances, flights, reps


def jump(rng, n, fps):
  yaw0, origin = _start(rng)
  height = float(rng.uniform(0.12, 0.4))
  direction = rng.choice(["in place", "forward"], p=[0.5, 0.5])
  dist = 0.0 if direction == "in place" else float(rng.uniform(0.3, 1.0))
  flight = float(np.sqrt(8 * height / G))
  max_reps = 1 if rng.random() < 0.6 else int(rng.integers(2, 5))
  stances, flights, reps = _schedule(n, fps, max_reps, flight + 0.75, flight, first=0.9)
  plan = _jump_series(
    n,
    fps,
    yaw0,
    origin,
    stances=stances,
    flights=flights,
    feet=SIDES,
    widths=[0.1] * (reps + 1),
    advance=[dist] * reps,
    dip=0.2,
    prep_dip=0.2 + 0.3 * height,
  )
  # Arms swing back during the crouch and up through take-off.
  t = _times(n, fps)
  arm = np.zeros(n)
  for (e, _s_next), (_a, _) in zip(flights, stances):
    arm += -0.6 * window(t, e - 0.4, e - 0.3, 0.25) + 1.2 * window(t, e, e + 0.05, 0.3)
  for s in SIDES:
    plan.upper.shoulder(s, flex=arm).elbow(s, flex=0.3)
  plan.upper.spine(flex=0.4 * (H_STAND - plan.pelvis[:, 1]).clip(0) / 0.3)
  return plan, dict(
    height_m=round(height, 2), direction=str(direction), distance_m=round(dist, 2), reps=reps
  )


def hop(rng, n, fps):
  yaw0, origin = _start(rng)
  side = str(rng.choice(SIDES))
  height = float(rng.uniform(0.06, 0.15))
  flight = float(np.sqrt(8 * height / G))
  direction = rng.choice(["in place", "forward"], p=[0.5, 0.5])
  dist = 0.0 if direction == "in place" else float(rng.uniform(0.15, 0.4))
  period = flight + float(rng.uniform(0.3, 0.45))
  stances, flights, reps = _schedule(n, fps, int(rng.integers(2, 9)), period, flight)
  # Free leg: hip flexed a little, knee bent ~90 deg, foot behind and up.
  sign = B.SIDE_SIGN[other(side)]
  rel = sign * 0.11 * left_vector(yaw0) + np.array([0.0, -0.55, 0.0]) - 0.18 * heading_vector(yaw0)
  plan = _jump_series(
    n,
    fps,
    yaw0,
    origin,
    stances=stances,
    flights=flights,
    feet=(side,),
    widths=[0.08] * (reps + 1),
    advance=[dist] * reps,
    dip=0.08,
    prep_dip=0.1,
    tuck=0.05,
    free_foot_rel=(other(side), rel),
  )
  # The free foot hangs from the pelvis: lift it at the start and set it down at the end.
  t = _times(n, fps)
  up = ramp(t, 0.05, 0.55) * (1 - ramp(t, t[-1] - 0.55, t[-1] - 0.05))
  stand = _standing_plan(n, yaw0, origin)
  free = other(side)
  shift = (plan.pelvis - origin) * [1.0, 0.0, 1.0]
  ground = stand.toe[free] + np.where(t[:, None] < t[-1] / 2, shift[0], shift[-1])
  plan.toe[free], wx = _lift_blend(ground, plan.toe[free], up)
  plan.foot_pitch[free] = 0.9 * wx
  for s in SIDES:
    plan.upper.shoulder(s, abd=0.35, flex=0.2).elbow(s, flex=0.5)
  return plan, dict(
    side=side,
    height_m=round(height, 2),
    direction=str(direction),
    distance_m=round(dist, 2),
    reps=reps,
  )


def jumping_jacks(rng, n, fps):
  yaw0, origin = _start(rng)
  n = max(n, 60)
  height = float(rng.uniform(0.05, 0.1))
  flight = float(np.sqrt(8 * height / G))
  period = flight + float(rng.uniform(0.2, 0.3))
  stances, flights, reps = _schedule(
    n, fps, 2 * int(rng.integers(2, 8)), period, flight, first=0.5, last=0.5
  )
  if reps % 2:  # end with the feet together
    reps -= 1 if reps > 1 else -1
    stances, flights, reps = _schedule(n, fps, reps, period, flight, first=0.5, last=0.5)
  widths = [0.1 if k % 2 == 0 else 0.3 for k in range(reps + 1)]
  plan = _jump_series(
    n,
    fps,
    yaw0,
    origin,
    stances=stances,
    flights=flights,
    feet=SIDES,
    widths=widths,
    advance=[0.0] * reps,
    dip=0.06,
    prep_dip=0.08,
    tuck=0.04,
  )
  t = _times(n, fps)
  # Arm abduction follows the stance width: overhead when the feet are apart.
  knots_t = [0.0] + [0.5 * (a + b) for a, b in stances] + [t[-1] + 1e-3]
  knots_v = [0.0] + [0.0 if k % 2 == 0 else 1.0 for k in range(len(stances))] + [0.0]
  order = np.argsort(knots_t)
  arms = PchipInterpolator(np.asarray(knots_t)[order], np.asarray(knots_v)[order])(t)
  for s in SIDES:
    plan.upper.shoulder(s, abd=2.75 * arms).elbow(s, flex=0.15)
  return plan, dict(reps=reps // 2, height_m=round(height, 2))


# ------------------------------------------------------------------------------------------------
# Stationary lower-body actions
# ------------------------------------------------------------------------------------------------
def _reps_profile(t, t0, t1, reps, rise_frac=0.35):
  """Sum of ``reps`` smooth plateaus evenly spread on [t0, t1] (value 1 on each plateau)."""
  dur = (t1 - t0) / reps
  prof = np.zeros_like(t)
  for k in range(reps):
    a = t0 + k * dur
    prof += window(t, a + rise_frac * dur, a + (1 - rise_frac) * dur, rise_frac * dur * 0.95)
  return np.clip(prof, 0, 1)


def squat(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  depth_name = rng.choice(["shallow", "half", "deep"])
  depth = {"shallow": 0.2, "half": 0.32, "deep": 0.45}[depth_name] * rng.uniform(0.9, 1.1)
  reps = int(np.clip(rng.integers(1, 6), 1, max(1, int(t[-1] / 1.3))))
  arms = str(rng.choice(["forward", "down"]))
  plan = _standing_plan(n, yaw0, origin, width=0.14)
  prof = _reps_profile(t, 0.3, t[-1] - 0.3, reps)
  _shift_pelvis(plan, forward=-0.45 * depth * prof, down=depth * prof)
  plan.pitch = 0.5 * depth / 0.45 * prof
  plan.upper.spine(flex=0.2 * prof)
  plan.upper.neck(flex=-0.2 * prof)
  if arms == "forward":
    for s in SIDES:
      plan.upper.shoulder(s, flex=1.45 * prof)
  return plan, dict(depth=str(depth_name), depth_m=round(float(depth), 2), reps=reps, arms=arms)


def crouch(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  depth = float(rng.uniform(0.4, 0.5))
  stand_up = bool(rng.random() < 0.6)
  look = bool(rng.random() < 0.4)
  plan = _standing_plan(n, yaw0, origin, width=0.15)
  down_t = float(rng.uniform(0.3, 0.8))
  prof = ramp(t, down_t, down_t + 0.9)
  if stand_up:
    prof *= 1 - ramp(t, t[-1] - 1.3, t[-1] - 0.3)
  _shift_pelvis(plan, forward=-0.3 * depth * prof, down=depth * prof)
  plan.pitch = 0.6 * prof
  plan.upper.spine(flex=0.35 * prof).neck(flex=-0.45 * prof)
  for s in SIDES:
    plan.upper.shoulder(s, flex=0.9 * prof, abd=0.1 * prof).elbow(s, flex=0.6 * prof)
  if look:
    plan.upper.neck(twist=0.6 * np.sin(2 * np.pi * (t - down_t) / 2.5) * prof)
  return plan, dict(depth_m=round(depth, 2), stand_up=stand_up, look_around=look)


def sit(rng, n, fps):
  yaw0, origin = _start(rng)
  n = max(n, 50)
  t = _times(n, fps)
  variant = str(rng.choice(["sit_down", "stand_up", "sit_down_stand_up"], p=[0.4, 0.3, 0.3]))
  if variant == "sit_down_stand_up" and t[-1] < 3.5:
    variant = "sit_down"
  plan = _standing_plan(n, yaw0, origin, width=0.14)
  dur = 1.2
  if variant == "sit_down":
    a = float(rng.uniform(0.2, max(0.25, t[-1] - dur - 0.3)))
    prof = ramp(t, a, a + dur)
    moving = window(t, a + 0.3 * dur, a + 0.7 * dur, 0.3 * dur)
  elif variant == "stand_up":
    a = float(rng.uniform(0.2, max(0.25, t[-1] - dur - 0.3)))
    prof = 1 - ramp(t, a, a + dur)
    moving = window(t, a + 0.3 * dur, a + 0.7 * dur, 0.3 * dur)
  else:
    a, b = 0.3, t[-1] - dur - 0.3
    prof = ramp(t, a, a + dur) * (1 - ramp(t, b, b + dur))
    moving = window(t, a + 0.3 * dur, a + 0.7 * dur, 0.3 * dur) + window(
      t, b + 0.3 * dur, b + 0.7 * dur, 0.3 * dur
    )
  seat = float(rng.uniform(0.42, 0.5))  # pelvis height when seated
  _shift_pelvis(plan, forward=-0.4 * prof, down=(H_STAND - seat) * prof)
  plan.pitch = 0.55 * moving - 0.1 * prof
  plan.upper.spine(flex=0.35 * moving + 0.05 * prof)
  for s in SIDES:
    plan.upper.shoulder(s, flex=0.5 * prof + 0.4 * moving).elbow(s, flex=0.6 * prof)
  return plan, dict(variant=variant, seat_height_m=round(seat, 2))


def lunge(rng, n, fps):
  yaw0, origin = _start(rng)
  n = max(n, 50)
  t = _times(n, fps)
  side = str(rng.choice(SIDES))
  alternate = bool(rng.random() < 0.5)
  reps = int(np.clip(rng.integers(1, 5), 1, max(1, int((t[-1] - 0.4) / 2.0))))
  step = float(rng.uniform(0.55, 0.8))
  depth = float(rng.uniform(0.2, 0.32))
  plan = _standing_plan(n, yaw0, origin, width=0.11)
  fwd = heading_vector(yaw0)
  dur = (t[-1] - 0.4) / reps
  hands = str(rng.choice(["bent", "relaxed"]))
  for k in range(reps):
    s = side if not alternate or k % 2 == 0 else other(side)
    a = 0.2 + k * dur
    out_u = np.clip((t - a) / (0.25 * dur), 0, 1)
    back_u = np.clip((t - a - 0.7 * dur) / (0.25 * dur), 0, 1)
    offset = step * (smoothstep(out_u) - smoothstep(back_u))
    lift = 0.07 * (np.sin(np.pi * out_u) + np.sin(np.pi * back_u))
    m = (t >= a) & (t < a + dur)
    plan.toe[s][m] = (plan.toe[s] + offset[:, None] * fwd)[m]
    plan.toe[s][m, 1] = lift[m]
    low = window(t, a + 0.45 * dur, a + 0.5 * dur, 0.18 * dur)
    over = window(t, a + 0.3 * dur, a + 0.65 * dur, 0.25 * dur)
    _shift_pelvis(plan, forward=0.45 * step * over, down=depth * low)
    plan.foot_pitch[other(s)] += 0.8 * over
    plan.upper.spine(flex=0.05 * low)
  if hands == "bent":  # forearms held in front, elbows bent
    for s in SIDES:
      plan.upper.shoulder(s, abd=0.45, flex=-0.2, twist=-0.3).elbow(s, flex=1.6)
  return plan, dict(
    side=side,
    alternate=alternate,
    reps=reps,
    step_m=round(step, 2),
    depth_m=round(depth, 2),
    hands=hands,
  )


def kick(rng, n, fps):
  yaw0, origin = _start(rng)
  n = max(n, 40)
  t = _times(n, fps)
  side = str(rng.choice(SIDES))
  height = str(rng.choice(["low", "middle", "high"]))
  peak = {"low": 0.75, "middle": 1.15, "high": 1.45}[height]
  reps = int(np.clip(rng.integers(1, 4), 1, max(1, int((t[-1] - 0.4) / 1.1))))
  plan = _standing_plan(n, yaw0, origin, width=0.1)
  dur = (t[-1] - 0.4) / reps
  hip_flex = np.zeros(n)
  knee_flex = np.zeros(n)
  lifted = np.zeros(n)
  for k in range(reps):
    a = 0.2 + k * dur + 0.1 * dur
    d = 0.8 * dur
    chamber = window(t, a + 0.3 * d, a + 0.6 * d, 0.3 * d)
    extend = window(t, a + 0.42 * d, a + 0.5 * d, 0.1 * d)
    hip_flex += peak * chamber
    knee_flex += 1.4 * chamber * (1 - extend)
    lifted += window(t, a + 0.1 * d, a + 0.9 * d, 0.1 * d)
  lifted = np.clip(lifted, 0, 1)
  # Kicking foot from a sagittal two-segment FK in the heading frame.
  yaw = np.full(n, yaw0)
  r = B.rot_y(yaw)
  hip = plan.pelvis + r @ B.OFFSETS[1 if side == "left" else 2]
  thigh = r @ (B.rot_x(-hip_flex) @ np.array([0, -B.THIGH[0], 0]))[..., None]
  shank = r @ (B.rot_x(-(hip_flex - knee_flex)) @ np.array([0, -B.SHANK[0], 0]))[..., None]
  ankle = hip + thigh[..., 0] + shank[..., 0]
  pitch = -(hip_flex - knee_flex) + 0.7 * lifted
  fv = B.rot_y(yaw) @ B.rot_x(pitch) @ B.OFFSETS[10]
  kick_toe = ankle + fv
  plan.toe[side], wx = _lift_blend(plan.toe[side], kick_toe, lifted)
  plan.foot_pitch[side] = pitch * wx
  plan.pitch = -0.15 * hip_flex / peak
  _shift_pelvis(plan, forward=-0.04 * hip_flex / peak, down=0.03 * lifted)
  for s in SIDES:
    plan.upper.shoulder(s, flex=0.5, abd=0.25).elbow(s, flex=1.8)
  plan.upper.shoulder(other(side), flex=0.3 * hip_flex / peak)
  return plan, dict(side=side, height=height, reps=reps)


# ------------------------------------------------------------------------------------------------
# Upper-body actions (feet planted)
# ------------------------------------------------------------------------------------------------
def punch(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  mode = str(rng.choice(["left", "right", "alternating"], p=[0.25, 0.25, 0.5]))
  reps = int(np.clip(rng.integers(2, 9), 1, max(1, int((t[-1] - 0.8) / 0.45))))
  plan = _standing_plan(n, yaw0, origin, width=0.14, stagger=0.25)
  guard = ramp(t, 0.1, 0.5) * (1 - ramp(t, t[-1] - 0.5, t[-1] - 0.1))
  for s in SIDES:
    plan.upper.shoulder(s, flex=0.6 * guard, abd=0.2 * guard).elbow(s, flex=2.1 * guard)
  dur = (t[-1] - 1.0) / reps
  for k in range(reps):
    s = mode if mode != "alternating" else ("left", "right")[k % 2]
    a = 0.5 + k * dur
    p = window(t, a + 0.35 * dur, a + 0.45 * dur, 0.3 * dur)
    plan.upper.shoulder(s, flex=0.85 * p, abd=-0.15 * p).elbow(s, flex=-2.0 * p)
    plan.upper.spine(twist=-B.SIDE_SIGN[s] * 0.3 * p)
  plan.upper.spine(flex=0.1 * guard)
  return plan, dict(mode=mode, reps=reps)


def wave(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  side = str(rng.choice(["left", "right", "both"], p=[0.35, 0.45, 0.2]))
  freq = float(rng.uniform(1.5, 2.5))
  plan = _standing_plan(n, yaw0, origin)
  up = ramp(t, 0.2, 0.7) * (1 - ramp(t, t[-1] - 0.6, t[-1] - 0.1))
  osc = np.sin(2 * np.pi * freq * (t - 0.7)) * ramp(t, 0.6, 0.8) * up
  reps = int(max(1, round(freq * max(t[-1] - 1.4, 0.5))))
  for s in SIDES if side == "both" else (side,):
    plan.upper.shoulder(s, abd=1.75 * up, twist=1.45 * up, flex=0.15 * up)
    plan.upper.elbow(s, flex=1.4 * up + 0.45 * osc)
  return plan, dict(side=side, frequency_hz=round(freq, 2), reps=reps)


def reach(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  side = str(rng.choice(SIDES))
  target = str(rng.choice(["forward", "up", "sideways"]))
  plan = _standing_plan(n, yaw0, origin)
  hold_end = t[-1] - float(rng.uniform(0.4, 1.2))
  prof = ramp(t, 0.3, 1.1) * (1 - ramp(t, hold_end - 0.8, hold_end))
  if target == "forward":
    plan.upper.shoulder(side, flex=1.5 * prof).elbow(side, flex=-0.1 * prof)
    plan.upper.spine(flex=0.3 * prof, twist=-B.SIDE_SIGN[side] * 0.2 * prof)
    plan.upper.collar(side, elevate=0.1 * prof)
  elif target == "up":
    plan.upper.shoulder(side, flex=2.75 * prof).elbow(side, flex=-0.1 * prof)
    plan.upper.spine(lat=-B.SIDE_SIGN[side] * 0.15 * prof)
    plan.upper.collar(side, elevate=0.2 * prof)
    for s in SIDES:
      plan.foot_pitch[s] = 0.35 * prof
    _shift_pelvis(plan, down=-0.04 * prof)
  else:
    plan.upper.shoulder(side, abd=1.45 * prof).elbow(side, flex=-0.1 * prof)
    plan.upper.spine(lat=B.SIDE_SIGN[side] * 0.25 * prof)
  return plan, dict(side=side, target=target)


def raise_arms(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  plane = str(rng.choice(["forward", "sideways"]))
  level = str(rng.choice(["shoulder", "overhead"]))
  angle = {"shoulder": 1.5, "overhead": 2.8}[level]
  reps = int(np.clip(rng.integers(1, 4), 1, max(1, int((t[-1] - 0.4) / 1.6))))
  plan = _standing_plan(n, yaw0, origin)
  prof = _reps_profile(t, 0.2, t[-1] - 0.2, reps, rise_frac=0.3)
  for s in SIDES:
    if plane == "forward":
      plan.upper.shoulder(s, flex=angle * prof)
    else:
      plan.upper.shoulder(s, abd=angle * prof)
  return plan, dict(plane=plane, level=level, reps=reps)


def stretch(rng, n, fps):
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  kind = str(rng.choice(["side_bend", "toe_touch", "torso_twist"]))
  plan = _standing_plan(n, yaw0, origin, width=0.15)
  env = ramp(t, 0.2, 0.8) * (1 - ramp(t, t[-1] - 0.7, t[-1] - 0.1))
  reps = int(max(1, min(int(rng.integers(1, 4)), int((t[-1] - 1.0) / 1.5))))
  prof = _reps_profile(t, 0.6, t[-1] - 0.5, reps, rise_frac=0.3)
  first = str(rng.choice(SIDES))
  if kind == "side_bend":
    for s in SIDES:
      plan.upper.shoulder(s, abd=2.8 * env)
    dur = (t[-1] - 1.1) / (2 * reps)
    lat = np.zeros(n)
    for k in range(2 * reps):
      a = 0.6 + k * dur
      sgn = B.SIDE_SIGN[first] * (1 if k % 2 == 0 else -1)
      lat += sgn * 0.45 * window(t, a + 0.3 * dur, a + 0.7 * dur, 0.3 * dur)
    plan.upper.spine(lat=lat)
  elif kind == "toe_touch":
    plan.pitch = 0.9 * prof
    _shift_pelvis(plan, forward=-0.12 * prof, down=0.02 * prof)
    plan.upper.spine(flex=0.6 * prof).neck(flex=0.2 * prof)
    for s in SIDES:
      plan.upper.shoulder(s, flex=0.35 * prof)
  else:
    for s in SIDES:
      plan.upper.shoulder(s, abd=1.45 * env).elbow(s, flex=0.1 * env)
    dur = (t[-1] - 1.1) / (2 * reps)
    tw = np.zeros(n)
    for k in range(2 * reps):
      a = 0.6 + k * dur
      sgn = B.SIDE_SIGN[first] * (1 if k % 2 == 0 else -1)
      tw += sgn * 0.6 * window(t, a + 0.3 * dur, a + 0.7 * dur, 0.3 * dur)
    plan.upper.spine(twist=tw)
    plan.upper.neck(twist=0.5 * tw)
  return plan, dict(kind=kind, reps=reps, first_side=first)


# ------------------------------------------------------------------------------------------------
# Registry and generation
# ------------------------------------------------------------------------------------------------
ACTIONS: dict[str, Callable] = {
  "walk": walk,
  "run": run,
  "jump": jump,
  "hop": hop,
  "squat": squat,
  "lunge": lunge,
  "kick": kick,
  "punch": punch,
  "wave": wave,
  "reach": reach,
  "raise_arms": raise_arms,
  "turn": turn,
  "sit": sit,
  "crouch": crouch,
  "step_over": step_over,
  "sidestep": sidestep,
  "jumping_jacks": jumping_jacks,
  "stretch": stretch,
}
#: Joint frames of a generated clip: T - 1 feature frames in [40, 199] (2 s to 9.95 s at 20 fps;
#: HumanML3D's loader keeps 40 <= len < 200).
MIN_FRAMES = 40
MAX_FRAMES = 200


def generate(action: str, rng: np.random.Generator, n_frames: int, fps: float = 20.0):
  """Joints ``[T, 22, 3]`` float64 (T may exceed ``n_frames`` for actions that need more),
  the generating parameters and the per-frame airborne mask.

  The clip is dropped on the floor: its lowest joint over the whole clip is at y = 0.
  """
  if action not in ACTIONS:
    raise ValueError(f"unknown action {action!r}; choose one of {sorted(ACTIONS)}")
  if not MIN_FRAMES <= n_frames <= MAX_FRAMES:
    raise ValueError(f"n_frames must be in [{MIN_FRAMES}, {MAX_FRAMES}], got {n_frames}")
  plan, params = ACTIONS[action](rng, n_frames, fps)
  joints = B.assemble(plan)
  joints[..., 1] -= joints[..., 1].min()
  return joints, params, plan.airborne.copy()
