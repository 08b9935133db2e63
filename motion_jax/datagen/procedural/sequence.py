"""Compositional clips of generator version 2: 1-4 actions in sequence, smooth transitions, style.

* :func:`plan_sequence` draws the actions (no action twice in a row; sitting down / staying in a
  crouch only last, standing up from a chair only first), the transition lengths and the
  segment lengths, so that the whole clip has 41-200 joint frames (2-10 s at 20 fps).
* :func:`generate_sequence` makes each segment with its primitive
  (:data:`motion_jax.datagen.procedural.moves.ACTIONS_V2`), moves it rigidly (heading and ground
  position) so that it starts where the previous one ended, and inserts a transition between
  consecutive segments: pelvis, orientation and upper-body angles blend with a smoothstep, and a
  foot that must change place steps there (lift, travel, set down: no sliding; one foot after the
  other). Clip-level style: posture (``hunched`` adds spine flexion with the head kept level);
  segment-level style: ``arm_swing`` (``big`` adds arm swing to walking and running).

Segment parameters gain ``duration_s`` (the segment's length, for duration phrases); each
segment records its start/end time in the clip (seconds).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from motion_jax.datagen.procedural import actions as A
from motion_jax.datagen.procedural import body as B
from motion_jax.datagen.procedural import moves as M
from motion_jax.datagen.procedural.body import BodyPlan, UpperBody

SEGMENT_COUNTS = (1, 2, 3, 4)
SEGMENT_PROBS = (0.25, 0.35, 0.25, 0.15)
TRANSITION_FRAMES = (6, 12)  # inclusive range, 0.3-0.6 s at 20 fps
ONLY_LAST = ("sit", "crouch")  # may end seated / crouched
POSTURES = ("normal", "hunched")
POSTURE_PROBS = (0.8, 0.2)


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
  actions: tuple[str, ...]
  lengths: tuple[int, ...]  # requested joint frames per segment
  gaps: tuple[int, ...]  # transition frames between consecutive segments


def plan_sequence(rng: np.random.Generator, max_frames: int = A.MAX_FRAMES) -> SequenceSpec:
  """Actions, segment lengths and transitions of one clip (see module docstring)."""
  names = sorted(M.ACTIONS_V2)
  k = int(rng.choice(SEGMENT_COUNTS, p=SEGMENT_PROBS))
  actions: list[str] = []
  for j in range(k):
    allowed = [a for a in names if not actions or a != actions[-1]]
    if j < k - 1 and j > 0:
      allowed = [a for a in allowed if a not in ONLY_LAST]
    if j == 0 and k > 1:
      allowed = [a for a in allowed if a != "crouch"]
    actions.append(str(allowed[int(rng.integers(len(allowed)))]))
  gaps = [int(rng.integers(TRANSITION_FRAMES[0], TRANSITION_FRAMES[1] + 1)) for _ in range(k - 1)]
  mins = [M.MIN_SEGMENT[a] for a in actions]
  while sum(mins) + sum(gaps) > max_frames:  # too long: drop the last action
    actions, mins, gaps = actions[:-1], mins[:-1], gaps[:-1]
  k = len(actions)
  lo = max(sum(mins) + sum(gaps), A.MIN_FRAMES + 1)
  total = int(rng.integers(lo, max_frames + 1))
  extra = total - sum(mins) - sum(gaps)
  share = rng.dirichlet(np.full(k, 2.0)) if k > 1 else np.ones(1)
  add = np.floor(share * extra).astype(int)
  add[-1] += extra - add.sum()
  lengths = tuple(int(m + a) for m, a in zip(mins, add))
  return SequenceSpec(tuple(actions), lengths, tuple(gaps))


def _fits(action: str, params: dict, j: int, k: int) -> bool:
  if k == 1:
    return True
  if action == "sit":
    v = params["variant"]
    return (v != "sit_down" or j == k - 1) and (v != "stand_up" or j == 0)
  if action == "crouch":
    return bool(params["stand_up"]) or j == k - 1
  return True


def _move_plan(plan: BodyPlan, yaw_from: float, origin_from, yaw_to: float, origin_to) -> BodyPlan:
  """The plan rotated about +Y by ``yaw_to - yaw_from`` around ``origin_from`` and moved to
  ``origin_to`` (ground positions; pelvis pitch/roll and joint angles are local, unchanged)."""
  d = yaw_to - yaw_from
  r = B.rot_y(d)
  o0, o1 = np.asarray(origin_from, float), np.asarray(origin_to, float)

  def tf(x):
    return o1 + (x - o0) @ r.T

  return dataclasses.replace(
    plan,
    pelvis=tf(plan.pelvis),
    yaw=plan.yaw + d,
    toe={s: tf(v) for s, v in plan.toe.items()},
    foot_yaw={s: v + d for s, v in plan.foot_yaw.items()},
  )


def _transition(a: BodyPlan, b: BodyPlan, m: int) -> BodyPlan:
  """``m`` frames from the last frame of ``a`` to the first of ``b`` (module docstring)."""
  u = (np.arange(m) + 1) / (m + 1)
  w = A.smoothstep(u)

  def lerp(x0, x1):
    x0, x1 = np.asarray(x0, float), np.asarray(x1, float)
    return x0 + (x1 - x0) * w.reshape((-1,) + (1,) * x0.ndim)

  upper = UpperBody(m)
  upper.angles = lerp(a.upper.angles[-1], b.upper.angles[0])
  toe, fyaw, fpitch = {}, {}, {}
  movers = [
    s for s in A.SIDES if np.linalg.norm(b.toe[s][0] - a.toe[s][-1]) > 1e-4
  ]  # feet that change place step one after the other
  movers.sort(key=lambda s: -np.linalg.norm(b.toe[s][0] - a.toe[s][-1]))
  half = max(1, m // max(1, len(movers)))
  for s in A.SIDES:
    p0, p1 = a.toe[s][-1], b.toe[s][0]
    if s in movers:
      i = movers.index(s)
      v = np.clip((np.arange(m) + 1 - i * half) / (half + 1), 0, 1)
      tw = A.smoothstep(np.clip(1.5 * v - 0.25, 0, 1))
      pos = p0 + (p1 - p0) * tw[:, None]
      pos[:, 1] = p0[1] + (p1[1] - p0[1]) * tw + 0.05 * np.sin(np.pi * v)
      toe[s] = pos
      fyaw[s] = a.foot_yaw[s][-1] + (b.foot_yaw[s][0] - a.foot_yaw[s][-1]) * tw
    else:
      toe[s] = np.tile(p0, (m, 1))
      fyaw[s] = np.full(m, a.foot_yaw[s][-1])
    fpitch[s] = lerp(a.foot_pitch[s][-1], b.foot_pitch[s][0])
  return BodyPlan(
    pelvis=lerp(a.pelvis[-1], b.pelvis[0]),
    yaw=lerp(a.yaw[-1], b.yaw[0]),
    pitch=lerp(a.pitch[-1], b.pitch[0]),
    roll=lerp(a.roll[-1], b.roll[0]),
    toe=toe,
    foot_yaw=fyaw,
    foot_pitch=fpitch,
    upper=upper,
    airborne=np.zeros(m, bool),
  )


def _concat(plans: list[BodyPlan]) -> BodyPlan:
  upper = UpperBody(0)
  upper.angles = np.concatenate([p.upper.angles for p in plans])
  cat = np.concatenate
  return BodyPlan(
    pelvis=cat([p.pelvis for p in plans]),
    yaw=cat([p.yaw for p in plans]),
    pitch=cat([np.broadcast_to(p.pitch, p.yaw.shape) for p in plans]),
    roll=cat([np.broadcast_to(p.roll, p.yaw.shape) for p in plans]),
    toe={s: cat([p.toe[s] for p in plans]) for s in A.SIDES},
    foot_yaw={s: cat([p.foot_yaw[s] for p in plans]) for s in A.SIDES},
    foot_pitch={s: cat([p.foot_pitch[s] for p in plans]) for s in A.SIDES},
    upper=upper,
    airborne=cat([p.airborne for p in plans]),
  )


def _segment(action, n, j, k, entropy, fps, attempts=64):
  for attempt in range(attempts):
    key = [*entropy, 10 + j, attempt]
    yaw0, origin = A._start(np.random.default_rng(key))  # what the primitive draws first
    plan, params = M.ACTIONS_V2[action](np.random.default_rng(key), n, fps)
    if _fits(action, params, j, k):
      return plan, params, yaw0, origin
  raise RuntimeError(f"no {action} variant fits position {j} of {k} in {attempts} attempts")


def generate_sequence(spec: SequenceSpec, entropy, fps: float = 20.0):
  """Joints ``[T, 22, 3]`` (float64, lowest point on the floor), segments and style.

  Args:
    spec: from :func:`plan_sequence`.
    entropy: integers seeding this clip (segment ``j``'s primitive uses ``[*entropy, 10 + j,
      attempt]``; the style ``[*entropy, 9]``).
  Returns:
    ``joints, {"segments": [{action, params, start_s, end_s, start_frame, end_frame}], "style":
    {...}}, airborne [T]``.
  """
  entropy = [int(e) for e in entropy]
  style_rng = np.random.default_rng([*entropy, 9])
  posture = str(style_rng.choice(POSTURES, p=POSTURE_PROBS))
  k = len(spec.actions)
  parts, segments = [], []
  prev = None
  frame = 0
  for j, (action, n) in enumerate(zip(spec.actions, spec.lengths)):
    plan, params, yaw0, origin = _segment(action, n, j, k, entropy, fps)
    params = {key: (v.item() if isinstance(v, np.generic) else v) for key, v in params.items()}
    if action in ("walk", "run"):
      params["arm_swing"] = "big" if style_rng.random() < 0.25 else "normal"
      if params["arm_swing"] == "big":
        A._arm_swing_from_feet(plan, gain=0.8, elbow=0.0)
    if prev is not None:
      end = prev.pelvis[-1].copy()
      end[1] = 0.0
      plan = _move_plan(plan, yaw0, origin, float(prev.yaw[-1]), end)
      gap = _transition(prev, plan, spec.gaps[j - 1])
      parts.append(gap)
      frame += len(gap.yaw)
    m = len(plan.yaw)
    params["duration_s"] = round((m - 1) / fps, 1)
    segments.append(
      {
        "action": action,
        "params": params,
        "start_frame": frame,
        "end_frame": frame + m,
        "start_s": round(frame / fps, 2),
        "end_s": round((frame + m - 1) / fps, 2),
      }
    )
    parts.append(plan)
    frame += m
    prev = plan
  plan = _concat(parts)
  if posture == "hunched":
    plan.upper.spine(flex=0.4)
    plan.upper.neck(flex=-0.3)
    for s in A.SIDES:
      plan.upper.collar(s, elevate=0.1)
  joints = B.assemble(plan)
  joints[..., 1] -= joints[..., 1].min()
  return joints, {"segments": segments, "style": {"posture": posture}}, plan.airborne.copy()
