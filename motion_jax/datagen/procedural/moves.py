"""Motion primitives added by generator version 2 (the 1.x primitives of :mod:`.actions` are
unchanged, so a 1.x build stays reproducible).

Same contract as :mod:`.actions`: ``(rng, n_frames, fps) -> (BodyPlan, params)``, the parameters
sampled from ``rng`` after the clip's start heading and origin (``actions._start``). New actions:
throw, pick up, bow, clap, balance on one leg, step-touch dance steps, marching / jogging in place,
side and back kicks. Every foot that moves does so by a lift-then-travel swing
(``actions._lift_blend``), so planted feet never slide.

:data:`ACTIONS_V2` is the version-2 registry (the 18 version-1 primitives plus these).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from motion_jax.datagen.procedural import actions as A
from motion_jax.datagen.procedural import body as B
from motion_jax.datagen.procedural.actions import (
  SIDES,
  _gait,
  _lift_blend,
  _reps_profile,
  _shift_pelvis,
  _standing_plan,
  _start,
  _times,
  other,
  ramp,
  window,
)
from motion_jax.datagen.procedural.body import heading_vector, left_vector


def _cap_reps(want: int, t_end: float, per_rep: float, margin: float = 0.4) -> int:
  return int(np.clip(want, 1, max(1, int((t_end - margin) / per_rep))))


def throw(rng, n, fps):
  """Overhand or underhand throw with one arm: wind-up back, whip forward, torso twist."""
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  side = str(rng.choice(SIDES))
  style = str(rng.choice(["overhand", "underhand"], p=[0.65, 0.35]))
  reps = _cap_reps(int(rng.integers(1, 4)), t[-1], 1.4)
  # Opposite foot forward (stagger > 0 puts the left foot forward).
  stagger = 0.3 if side == "right" else -0.3
  plan = _standing_plan(n, yaw0, origin, width=0.14, stagger=stagger)
  dur = (t[-1] - 0.4) / reps
  s = B.SIDE_SIGN[side]
  for k in range(reps):
    a = 0.2 + k * dur
    wind = window(t, a + 0.25 * dur, a + 0.45 * dur, 0.2 * dur)
    rel = window(t, a + 0.55 * dur, a + 0.6 * dur, 0.12 * dur)
    if style == "overhand":
      plan.upper.shoulder(side, flex=2.3 * wind + 1.4 * rel, abd=0.6 * wind)
      plan.upper.elbow(side, flex=1.6 * wind - 0.1 * rel)
    else:
      plan.upper.shoulder(side, flex=-0.7 * wind + 1.5 * rel)
      plan.upper.elbow(side, flex=0.3 * wind)
    plan.upper.spine(twist=s * 0.35 * wind - s * 0.35 * rel, flex=0.15 * rel)
    plan.upper.shoulder(other(side), flex=0.6 * wind, abd=0.2 * wind)
  return plan, dict(side=side, style=style, reps=reps)


def pick_up(rng, n, fps):
  """Bends (hips) or squats down, reaches the floor with one or both hands, stands up holding it."""
  yaw0, origin = _start(rng)
  n = max(n, 50)
  t = _times(n, fps)
  hands = str(rng.choice(["left", "right", "both"], p=[0.3, 0.35, 0.35]))
  method = str(rng.choice(["bend", "squat"]))
  plan = _standing_plan(n, yaw0, origin, width=0.15)
  a = float(rng.uniform(0.3, 0.6))
  down = ramp(t, a, a + 0.9) * (1 - ramp(t, a + 1.3, a + 2.2))
  held = ramp(t, a + 1.3, a + 2.2)
  if method == "bend":
    plan.pitch = 0.85 * down
    _shift_pelvis(plan, forward=-0.12 * down, down=0.04 * down)
    plan.upper.spine(flex=0.55 * down).neck(flex=-0.1 * down)
    reach = 0.6 * down
  else:
    plan.pitch = 0.45 * down
    _shift_pelvis(plan, forward=-0.2 * down, down=0.42 * down)
    plan.upper.spine(flex=0.45 * down).neck(flex=-0.3 * down)
    reach = 1.1 * down
  for s in SIDES if hands == "both" else (hands,):
    plan.upper.shoulder(s, flex=reach + 0.7 * held, abd=-0.05 * held)
    plan.upper.elbow(s, flex=1.4 * held)
  return plan, dict(hands=hands, method=method)


def bow(rng, n, fps):
  """Bows from the hips, holds, straightens; slight or deep, once or twice."""
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  depth = str(rng.choice(["slight", "deep"]))
  angle = {"slight": 0.45, "deep": 1.0}[depth]
  reps = _cap_reps(int(rng.integers(1, 3)), t[-1], 1.6)
  hand = str(rng.choice(["sides", "chest"], p=[0.7, 0.3]))
  plan = _standing_plan(n, yaw0, origin, width=0.1)
  prof = _reps_profile(t, 0.2, t[-1] - 0.2, reps, rise_frac=0.3)
  plan.pitch = 0.6 * angle * prof
  _shift_pelvis(plan, forward=-0.1 * angle * prof)
  plan.upper.spine(flex=0.4 * angle * prof).neck(flex=0.3 * angle * prof)
  if hand == "chest":
    plan.upper.shoulder("right", flex=0.5, abd=-0.1).elbow("right", flex=2.0)
  return plan, dict(depth=depth, reps=reps, hand=hand)


def clap(rng, n, fps):
  """Claps the hands in front of the chest or over the head, slowly or quickly."""
  yaw0, origin = _start(rng)
  t = _times(n, fps)
  level = str(rng.choice(["chest", "overhead"], p=[0.7, 0.3]))
  tempo = str(rng.choice(["slowly", "quickly"]))
  period = {"slowly": 0.8, "quickly": 0.45}[tempo] * float(rng.uniform(0.9, 1.1))
  up = ramp(t, 0.2, 0.6) * (1 - ramp(t, t[-1] - 0.5, t[-1] - 0.1))
  active = max(t[-1] - 1.3, period)
  reps = int(np.clip(rng.integers(2, 11), 1, max(1, int(active / period))))
  plan = _standing_plan(n, yaw0, origin)
  t0 = 0.7
  phase = np.clip((t - t0) / period, 0, reps)
  closed = 0.5 * (1 - np.cos(2 * np.pi * phase))  # 0 open .. 1 together, reps closings
  closed = np.where(phase >= reps, 0.0, closed)
  closed = closed * ramp(t, t0 - 0.1, t0 + 0.1)
  flex = 1.35 if level == "chest" else 2.7
  for s in SIDES:
    plan.upper.shoulder(s, flex=flex * up, twist=(0.55 - 0.9 * closed) * up)
    plan.upper.elbow(s, flex=0.45 * up)
  return plan, dict(level=level, tempo=tempo, reps=reps, period_s=round(period, 2))


def balance(rng, n, fps):
  """Stands on one leg (the other knee raised in front or foot held behind), arms out, holds."""
  yaw0, origin = _start(rng)
  n = max(n, 50)
  t = _times(n, fps)
  side = str(rng.choice(SIDES))  # the standing leg
  pose = str(rng.choice(["knee_up", "foot_back"]))
  arms = str(rng.choice(["out", "down"], p=[0.7, 0.3]))
  plan = _standing_plan(n, yaw0, origin)
  free = other(side)
  fwd, lft = heading_vector(yaw0), left_vector(yaw0)
  shift = ramp(t, 0.2, 0.6) * (1 - ramp(t, t[-1] - 0.5, t[-1] - 0.15))
  up = ramp(t, 0.5, 1.0) * (1 - ramp(t, t[-1] - 0.9, t[-1] - 0.4))
  plan.pelvis = plan.pelvis + (B.SIDE_SIGN[side] * 0.07 * shift)[:, None] * lft
  sign = B.SIDE_SIGN[free]
  if pose == "knee_up":
    rel = sign * 0.1 * lft + np.array([0.0, -0.5, 0.0]) + 0.3 * fwd
    pitch = -0.3
  else:
    rel = sign * 0.1 * lft + np.array([0.0, -0.55, 0.0]) - 0.25 * fwd
    pitch = 0.9
  target = plan.pelvis + rel
  plan.toe[free], wx = _lift_blend(plan.toe[free].copy(), target, up)
  plan.foot_pitch[free] = pitch * wx
  if arms == "out":
    for s in SIDES:
      plan.upper.shoulder(s, abd=1.4 * shift).elbow(s, flex=-0.1 * shift)
  return plan, dict(side=side, pose=pose, arms=arms, hold_s=round(float(up.sum() / fps), 1))


def _step_moves(plan, moves, fps, clearance=0.05):
  """Feet swings ``(side, t_lift, duration, target)``: lift, travel, set down, then planted."""
  n = len(plan.pelvis)
  t = _times(n, fps)
  for side, a, d, target in moves:
    i = int(np.searchsorted(t, a))
    if i >= n:
      continue
    start = plan.toe[side][i].copy()
    u = np.clip((t - a) / d, 0, 1)
    s = A.smoothstep(u)[:, None]
    traj = start + (np.asarray(target) - start) * s
    traj[:, 1] = clearance * np.sin(np.pi * u)
    after = t >= a
    plan.toe[side][after] = traj[after]


def dance(rng, n, fps):
  """Step-touch dance steps side to side, arms swinging across or raised, optional hip sway."""
  yaw0, origin = _start(rng)
  n = max(n, 50)
  t = _times(n, fps)
  tempo = str(rng.choice(["slowly", "quickly"], p=[0.4, 0.6]))
  beat = {"slowly": 0.6, "quickly": 0.4}[tempo] * float(rng.uniform(0.95, 1.05))
  arms = str(rng.choice(["swinging", "raised"]))
  first = str(rng.choice(SIDES))
  width, step = 0.1, 0.28
  plan = _standing_plan(n, yaw0, origin, width=width)
  lft = left_vector(yaw0)
  avail = t[-1] - 0.6
  cycles = int(np.clip(rng.integers(1, 5), 1, max(1, int(avail / (4 * beat)))))
  moves, pel = [], []
  centre = origin.copy()
  sides = [first, other(first)] * cycles
  t_k = 0.3
  for s in sides:
    sg = B.SIDE_SIGN[s]
    new_centre = centre + sg * step * 0.5 * lft
    lead = new_centre + sg * width * lft
    trail = new_centre - sg * width * lft
    for p in (lead, trail):
      p[1] = 0.0
    fwd_off = A.TOE_FWD * heading_vector(yaw0)
    moves.append((s, t_k, 0.8 * beat, lead + fwd_off))
    moves.append((other(s), t_k + beat, 0.8 * beat, trail + fwd_off))
    pel.append((t_k + 0.4 * beat, new_centre))
    t_k += 2 * beat
    centre = new_centre
  _step_moves(plan, moves, fps)
  kt = [0.0] + [a for a, _ in pel] + [max(t[-1], pel[-1][0] + 1e-3)]
  kx = [origin] + [c for _, c in pel] + [pel[-1][1]]
  path = np.stack([np.interp(t, kt, [x[j] for x in kx]) for j in range(3)], -1)
  plan.pelvis[:, [0, 2]] = path[:, [0, 2]]
  bounce = 0.025 * (0.5 - 0.5 * np.cos(2 * np.pi * (t - 0.3) / beat)) * window(t, 0.3, t_k, 0.2)
  plan.pelvis[:, 1] -= bounce
  env = window(t, 0.4, t_k - 0.2, 0.3)
  osc = np.sin(np.pi * (t - 0.3) / beat)
  for s in SIDES:
    if arms == "swinging":
      plan.upper.shoulder(s, flex=0.5 * env * osc * B.SIDE_SIGN[s], abd=0.2 * env)
      plan.upper.elbow(s, flex=1.0 * env)
    else:
      plan.upper.shoulder(s, abd=2.5 * env + 0.2 * env * osc).elbow(s, flex=0.3 * env)
  plan.upper.spine(lat=0.08 * env * osc)
  return plan, dict(tempo=tempo, arms=arms, first_side=first, cycles=cycles)


def march(rng, n, fps):
  """Marches (high knees) or jogs in place."""
  yaw0, origin = _start(rng)
  kind = str(rng.choice(["march", "jog"]))
  start = str(rng.choice(SIDES))
  if kind == "march":
    period, swing, clear = 0.5 * float(rng.uniform(0.9, 1.1)), 0.38, 0.22
  else:
    period, swing, clear = 0.34 * float(rng.uniform(0.95, 1.05)), 0.62, 0.14
  plan, steps = _gait(
    n,
    fps,
    yaw0,
    origin,
    speed=0.0,
    turn=0.0,
    step_period=period,
    swing_frac=swing,
    clearance=clear,
    start_side=start,
    toe_off=0.3,
  )
  # Arms swing opposite to the raised knee (in place the feet do not move forward).
  gain = 4.0 if kind == "march" else 3.0
  for s in SIDES:
    d = plan.toe[other(s)][:, 1] - plan.toe[s][:, 1]
    plan.upper.shoulder(s, flex=gain * d).elbow(s, flex=(0.3 if kind == "march" else 1.3))
  return plan, dict(kind=kind, start_foot=start, steps=steps)


def _leg_kick(rng, n, fps, kind):
  yaw0, origin = _start(rng)
  n = max(n, 40)
  t = _times(n, fps)
  side = str(rng.choice(SIDES))
  height = str(rng.choice(["low", "high"]))
  reps = _cap_reps(int(rng.integers(1, 4)), t[-1], 1.1)
  plan = _standing_plan(n, yaw0, origin, width=0.1)
  dur = (t[-1] - 0.4) / reps
  lifted = np.zeros(n)
  ext = np.zeros(n)
  for k in range(reps):
    a = 0.2 + k * dur + 0.1 * dur
    d = 0.8 * dur
    lifted += window(t, a + 0.1 * d, a + 0.9 * d, 0.1 * d)
    ext += window(t, a + 0.4 * d, a + 0.55 * d, 0.15 * d)
  lifted, ext = np.clip(lifted, 0, 1), np.clip(ext, 0, 1)
  fwd, lft = heading_vector(yaw0), left_vector(yaw0)
  hip = plan.pelvis + B.rot_y(np.full(n, yaw0)) @ B.OFFSETS[1 if side == "left" else 2]
  leg = B.THIGH[0] + B.SHANK[0]
  ang = {"low": 0.6, "high": 1.1}[height] * ext
  reach = leg * (0.75 + 0.2 * ext)
  if kind == "side":
    direction = (
      np.cos(ang)[:, None] * np.array([0, -1.0, 0])
      + (B.SIDE_SIGN[side] * np.sin(ang))[:, None] * lft
    )
    plan.upper.spine(lat=-B.SIDE_SIGN[side] * 0.35 * ext)
    pitch = 0.2 * lifted
  else:
    direction = np.cos(ang)[:, None] * np.array([0, -1.0, 0]) - np.sin(ang)[:, None] * fwd
    plan.pitch = 0.35 * ext
    plan.upper.spine(flex=0.2 * ext)
    pitch = 0.9 * lifted
  target = hip + reach[:, None] * direction + A.TOE_FWD * fwd
  plan.toe[side], wx = _lift_blend(plan.toe[side].copy(), target, lifted)
  plan.foot_pitch[side] = pitch * wx
  for s in SIDES:
    plan.upper.shoulder(s, flex=0.5, abd=0.25).elbow(s, flex=1.8)
  return plan, dict(side=side, height=height, reps=reps)


def side_kick(rng, n, fps):
  """Kicks out to the side with one leg (torso leans away)."""
  return _leg_kick(rng, n, fps, "side")


def back_kick(rng, n, fps):
  """Kicks backward with one leg (torso tips forward)."""
  return _leg_kick(rng, n, fps, "back")


NEW_ACTIONS: dict[str, Callable] = {
  "throw": throw,
  "pick_up": pick_up,
  "bow": bow,
  "clap": clap,
  "balance": balance,
  "dance": dance,
  "march": march,
  "side_kick": side_kick,
  "back_kick": back_kick,
}
ACTIONS_V2: dict[str, Callable] = {**A.ACTIONS, **NEW_ACTIONS}
#: Shortest joint-frame count each action needs (the primitive pads shorter requests).
MIN_SEGMENT = {a: 40 for a in ACTIONS_V2} | {
  "jumping_jacks": 60,
  "step_over": 60,
  "sit": 50,
  "lunge": 50,
  "pick_up": 50,
  "balance": 50,
  "dance": 50,
}
