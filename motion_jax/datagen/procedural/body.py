"""Procedural body on the t2m skeleton: rest pose, rotations, two-bone leg IK, assembly to joints.

A clip is described by a :class:`BodyPlan` (per frame: pelvis position and orientation, the
world position and pitch/yaw of each foot joint (t2m ``left_foot``/``right_foot``, the ball of the
foot), and local Euler angles of the spine, neck and arm joints). :func:`assemble` turns it into
joints ``[T, 22, 3]`` (metres, +Y up, the person faces +Z at yaw 0, left = +X):

* Upper body: forward kinematics from the pelvis, ``x[c] = x[p] + G[p] offset[c]``,
  ``G[c] = G[p] L[c]`` with ``L = Rz(z) Ry(y) Rx(x)`` from the Euler angles of joint ``c``; the
  offsets are :data:`REST_DIRECTIONS` (an anatomical standing pose, arms hanging) scaled to the t2m
  target bone lengths (:data:`motion_jax.skeletons.t2m.T2M_BONE_LENGTHS`), so every bone has its
  exact t2m length.
* Legs: the hips are placed by FK; the foot joint is where the plan puts it (a planted foot is a
  constant target, so it cannot slide); the ankle sits one foot-bone behind/above it at the foot's
  pitch/yaw; the knee is the closed-form two-bone IK solution in the plane spanned by hip->ankle and
  the body's forward direction (knees bend forward, never hyper-extend). Thigh, shank and foot
  lengths are exact.
* The pelvis height is clamped (:func:`clamp_pelvis_height`) so both ankles stay within 99.95 % of
  the leg length: planted feet never have to be pulled off their targets.

Sign conventions of the anatomical helpers in :class:`UpperBody` (all radians):
  shoulder flex > 0 raises the arm forward, abd > 0 raises it sideways (outwards), twist > 0 is
  external rotation; elbow flex > 0 bends the forearm forward/up; spine/neck flex > 0 bends
  forward, lat > 0 bends towards the person's left, twist > 0 turns the chest to the left.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_jax.skeletons.t2m import T2M, T2M_BONE_LENGTHS

N_JOINTS = 22
# Unit rest direction of each bone (parent -> joint), an anatomical standing pose facing +Z.
REST_DIRECTIONS = {
  1: (0.6, -0.8, 0.0),
  2: (-0.6, -0.8, 0.0),  # hips: lateral and below the pelvis
  3: (0.0, 1.0, -0.05),
  6: (0.0, 1.0, 0.0),
  9: (0.0, 1.0, 0.03),  # spine
  4: (0.02, -1.0, 0.0),
  5: (-0.02, -1.0, 0.0),  # thighs
  7: (0.0, -1.0, 0.0),
  8: (0.0, -1.0, 0.0),  # shanks
  10: (0.0, -0.35, 0.94),
  11: (0.0, -0.35, 0.94),  # feet: the ball of the foot is 5 cm down
  12: (0.0, 1.0, 0.0),
  15: (0.0, 1.0, 0.25),  # neck, head
  13: (0.6, 0.8, 0.0),
  14: (-0.6, 0.8, 0.0),  # collars
  16: (0.95, 0.3, 0.0),
  17: (-0.95, 0.3, 0.0),  # shoulders (end of the clavicle)
  18: (0.12, -1.0, 0.0),
  19: (-0.12, -1.0, 0.0),  # upper arms, hanging
  20: (0.03, -1.0, 0.12),
  21: (-0.03, -1.0, 0.12),  # forearms
}
BONE_LENGTHS = np.asarray((0.0,) + T2M_BONE_LENGTHS, np.float64)  # indexed by joint
PARENTS = T2M.parents


def rest_offsets() -> np.ndarray:
  """``[22, 3]`` rest bone vectors: unit :data:`REST_DIRECTIONS` x t2m target bone length."""
  off = np.zeros((N_JOINTS, 3))
  for j, d in REST_DIRECTIONS.items():
    d = np.asarray(d, np.float64)
    off[j] = d / np.linalg.norm(d) * BONE_LENGTHS[j]
  return off


OFFSETS = rest_offsets()
THIGH = (BONE_LENGTHS[4], BONE_LENGTHS[5])  # left, right
SHANK = (BONE_LENGTHS[7], BONE_LENGTHS[8])
LEG_REACH = 0.9995  # fraction of thigh + shank the hip-ankle distance may use


def standing_pelvis_height(reach: float = 0.999) -> float:
  """Pelvis height standing on flat feet (foot joint on the floor) with the hip-ankle distance
  at ``reach`` x leg length (0.999: knees very slightly bent)."""
  leg = min(THIGH[0] + SHANK[0], THIGH[1] + SHANK[1]) * reach
  return float(-OFFSETS[10, 1] + leg - OFFSETS[1, 1])


# ------------------------------------------------------------------------------------------------
# Rotations (batched over frames)
# ------------------------------------------------------------------------------------------------
def rot_x(a) -> np.ndarray:
  a = np.asarray(a, np.float64)
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a) -> np.ndarray:
  a = np.asarray(a, np.float64)
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a) -> np.ndarray:
  a = np.asarray(a, np.float64)
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def euler_matrix(xyz: np.ndarray) -> np.ndarray:
  """``[..., 3]`` Euler angles (x, y, z) -> ``Rz(z) Ry(y) Rx(x)`` ``[..., 3, 3]``."""
  return rot_z(xyz[..., 2]) @ rot_y(xyz[..., 1]) @ rot_x(xyz[..., 0])


def heading_vector(yaw) -> np.ndarray:
  """Facing direction ``(sin yaw, 0, cos yaw)`` for yaw about +Y (yaw > 0 turns left)."""
  yaw = np.asarray(yaw, np.float64)
  return np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], -1)


def left_vector(yaw) -> np.ndarray:
  """The person's left ``(cos yaw, 0, -sin yaw)``."""
  yaw = np.asarray(yaw, np.float64)
  return np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], -1)


# ------------------------------------------------------------------------------------------------
# Upper-body angles with anatomical names
# ------------------------------------------------------------------------------------------------
SIDE_SIGN = {"left": 1.0, "right": -1.0}
_SHOULDER = {"left": 16, "right": 17}
_ELBOW = {"left": 18, "right": 19}
_COLLAR = {"left": 13, "right": 14}


class UpperBody:
  """Local Euler angles ``[T, 22, 3]`` of the spine, neck and arms, set with anatomical names.

  Every setter *adds* to the current angles, so layers (a base posture, an arm swing, a wave)
  compose. Values are scalars or ``[T]`` arrays (radians).
  """

  def __init__(self, n_frames: int):
    self.angles = np.zeros((n_frames, N_JOINTS, 3))

  def _add(self, joint: int, axis: int, value) -> None:
    self.angles[:, joint, axis] += np.broadcast_to(
      np.asarray(value, np.float64), self.angles.shape[:1]
    )

  def shoulder(self, side: str, flex=0.0, abd=0.0, twist=0.0) -> UpperBody:
    s = SIDE_SIGN[side]
    j = _SHOULDER[side]
    self._add(j, 0, -np.asarray(flex))
    self._add(j, 2, s * np.asarray(abd))
    self._add(j, 1, s * np.asarray(twist))
    return self

  def elbow(self, side: str, flex=0.0) -> UpperBody:
    self._add(_ELBOW[side], 0, -np.asarray(flex))
    return self

  def collar(self, side: str, elevate=0.0) -> UpperBody:
    self._add(_COLLAR[side], 2, SIDE_SIGN[side] * np.asarray(elevate))
    return self

  def spine(self, flex=0.0, lat=0.0, twist=0.0) -> UpperBody:
    """Bend distributed over spine1/spine2/spine3 (40/30/30 %)."""
    for j, w in ((3, 0.4), (6, 0.3), (9, 0.3)):
      self._add(j, 0, w * np.asarray(flex))
      self._add(j, 2, -w * np.asarray(lat))
      self._add(j, 1, w * np.asarray(twist))
    return self

  def neck(self, flex=0.0, lat=0.0, twist=0.0) -> UpperBody:
    self._add(12, 0, flex)
    self._add(12, 2, -np.asarray(lat))
    self._add(12, 1, twist)
    return self


# ------------------------------------------------------------------------------------------------
# Plan -> joints
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class BodyPlan:
  """Everything :func:`assemble` needs, per frame (``T`` frames).

  Attributes:
    pelvis: ``[T, 3]`` pelvis position (its height is clamped for reachability).
    yaw, pitch, roll: ``[T]`` pelvis orientation ``Ry(yaw) Rx(pitch) Rz(roll)`` (pitch > 0
      tips the pelvis forward).
    toe: ``{"left": [T, 3], "right": [T, 3]}`` world position of each foot joint.
    foot_yaw, foot_pitch: ``{"left": [T], ...}`` foot heading and heel raise (pitch > 0 lifts
      the heel about the foot joint).
    upper: :class:`UpperBody` angles.
    airborne: ``[T]`` bool, frames with no foot on the floor (metadata for tests/captions).
  """

  pelvis: np.ndarray
  yaw: np.ndarray
  pitch: np.ndarray
  roll: np.ndarray
  toe: dict
  foot_yaw: dict
  foot_pitch: dict
  upper: UpperBody
  airborne: np.ndarray


def _foot_vectors(foot_yaw: np.ndarray, foot_pitch: np.ndarray, side: str) -> np.ndarray:
  j = 10 if side == "left" else 11
  r = rot_y(foot_yaw) @ rot_x(foot_pitch)
  return r @ OFFSETS[j]  # ankle -> foot joint, [T, 3]


def _hip_positions(plan: BodyPlan) -> tuple[np.ndarray, dict]:
  r_p = rot_y(plan.yaw) @ rot_x(plan.pitch) @ rot_z(plan.roll)
  hips = {"left": plan.pelvis + r_p @ OFFSETS[1], "right": plan.pelvis + r_p @ OFFSETS[2]}
  return r_p, hips


def clamp_pelvis_height(plan: BodyPlan, smooth_sigma: float = 1.5) -> np.ndarray:
  """Highest pelvis y (<= the planned one) at which both ankles are within reach; ``[T]``."""
  _, hips = _hip_positions(plan)
  bound = np.full(len(plan.pelvis), np.inf)
  for i, side in enumerate(("left", "right")):
    ankle = plan.toe[side] - _foot_vectors(plan.foot_yaw[side], plan.foot_pitch[side], side)
    reach = LEG_REACH * (THIGH[i] + SHANK[i])
    dxz2 = np.sum((ankle - hips[side])[:, [0, 2]] ** 2, -1)
    dy = np.sqrt(np.maximum(reach**2 - dxz2, 1e-6))
    hip_above_pelvis = hips[side][:, 1] - plan.pelvis[:, 1]
    bound = np.minimum(bound, ankle[:, 1] + dy - hip_above_pelvis)
  y = np.minimum(plan.pelvis[:, 1], bound)
  if smooth_sigma > 0 and len(y) > 3:
    y = gaussian_filter1d(y, smooth_sigma, mode="nearest")
  return np.minimum(y, bound)


def _two_bone_ik(hip, ankle, pole, l1, l2):
  """Knee position ``[T, 3]`` and the (possibly pulled-in) ankle for a two-bone chain."""
  d_vec = ankle - hip
  d = np.linalg.norm(d_vec, axis=-1, keepdims=True)
  d_c = np.clip(d, abs(l1 - l2) + 1e-4, (l1 + l2) * 0.99999)
  u = d_vec / np.maximum(d, 1e-9)
  ankle = hip + u * d_c
  a = (l1**2 - l2**2 + d_c**2) / (2 * d_c)
  h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
  p = pole - np.sum(pole * u, -1, keepdims=True) * u
  p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-9)
  return hip + a * u + h * p, ankle


def assemble(plan: BodyPlan, clamp: bool = True) -> np.ndarray:
  """Joints ``[T, 22, 3]`` (float64) of a :class:`BodyPlan` (see module docstring)."""
  plan = dataclasses.replace(plan, pelvis=plan.pelvis.astype(np.float64).copy())
  if clamp:
    plan.pelvis[:, 1] = clamp_pelvis_height(plan)
  t = len(plan.pelvis)
  x = np.zeros((t, N_JOINTS, 3))
  r_p, hips = _hip_positions(plan)
  x[:, 0] = plan.pelvis
  x[:, 1], x[:, 2] = hips["left"], hips["right"]
  # Upper body FK.
  local = euler_matrix(plan.upper.angles)  # [T, 22, 3, 3]
  glob = {0: r_p}
  for p, c in T2M.bone_order():
    if c in (1, 2, 4, 5, 7, 8, 10, 11):
      continue
    x[:, c] = x[:, p] + glob[p] @ OFFSETS[c]
    glob[c] = glob[p] @ local[:, c]
  # Legs.
  fwd = heading_vector(plan.yaw)
  for i, side in enumerate(("left", "right")):
    knee_j, ankle_j, foot_j = (4, 7, 10) if side == "left" else (5, 8, 11)
    fv = _foot_vectors(plan.foot_yaw[side], plan.foot_pitch[side], side)
    ankle = plan.toe[side] - fv
    pole = fwd + heading_vector(plan.foot_yaw[side])
    knee, ankle = _two_bone_ik(hips[side], ankle, pole, THIGH[i], SHANK[i])
    x[:, knee_j], x[:, ankle_j], x[:, foot_j] = knee, ankle, ankle + fv
  return x


def bone_lengths(joints: np.ndarray) -> np.ndarray:
  """``[..., T, 21]`` lengths of the bones to joints 1..21."""
  par = np.asarray(PARENTS[1:])
  return np.linalg.norm(joints[..., 1:, :] - joints[..., par, :], axis=-1)
