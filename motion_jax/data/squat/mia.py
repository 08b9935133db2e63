"""The squat dataset as a stand-in for MIA: t2m joints and MIA's eight muscle channels.

BioVAE pre-trains its muscle mapping u(X) on the MIA dataset (biovae.txt Fig. 2, "MIA pre-train"
in Tables III/IV). MIA is not available, so this module turns the squat repetitions
(`motion_jax.data.squat.source`: OpenSim coordinates and static-optimisation activations of the
80 muscles of the LaiArnold/LaiUhlrich models, 60 Hz) into the module's input and target:

* **Targets** (`group_activations`): MIA's eight EMG channels, in the module's order
  (``models.biovae.MUSCLES``; FACTS.md: R/L quadriceps, R/L hamstrings, R/L gluteus, L/R biceps),
  as groups of Lai muscles (`MIA_GROUPS`):

  - quadriceps = the vasti (``vasmed``, ``vaslat``, ``vasint``) + rectus femoris (``recfem``);
  - hamstrings = biceps femoris long and short head (``bflh``, ``bfsh``) + ``semimem`` +
    ``semiten``;
  - gluteus = gluteus maximus, all three bundles (``glmax1..3``);
  - biceps (brachii): the Lai models have no arm muscles, so the two biceps channels have **no
    target**: value 0 and ``channel_mask`` 0 (the pre-training loss leaves them out).

  A channel's value is the **mean** of its muscles' activations. The paper does not say how EMG
  maps to model muscles; the mean keeps the channel in [0, 1] like an activation (a sum would
  not), and weights the muscles of a group equally.
* **Inputs** (`squat_to_t2m_joints`): the 22 t2m joints (order `skeletons.t2m.T2M_JOINT_NAMES`)
  from differentiable OpenSim forward kinematics (`skeletons.opensim_fk`) of the coordinates,
  resampled to the module's 20 Hz.

Choices (fields of `T2MJointMap` where a value is chosen):

- **Joint map** (`T2MJointMap.bodies` / ``offsets``): each t2m joint is a point fixed in one OpenSim
  body, at an offset in that body's frame (metres; OpenSim body axes: X forward, Y up, Z to the
  body's right). Joints with an OpenSim counterpart are body origins, i.e. joint centres: pelvis ->
  0 (pelvis origin), hips -> 1/2 (femur origins), knees -> 4/5 (tibia origins), ankles -> 7/8
  (talus), feet -> 10/11 (toes origin, the mtp joint), shoulders -> 16/17 (humerus origins, the
  acromial joints), elbows -> 18/19 (ulna origins), wrists -> 20/21 (hand origins). t2m index 1 is
  the LEFT hip (t2m lists left before right). The six t2m joints with no OpenSim counterpart are
  points of the torso body: ``spine1`` is the torso origin, the lumbar joint centre (L5/S1; SMPL's
  spine1 is also the spine's lowest rotation centre, and the pelvis->spine1 bone stays rigid);
  ``neck`` 0.40 m above it (3.4 cm above the acromial joints of the unscaled model, at 0.366 m);
  ``spine2``/``spine3`` at 0.34 / 0.48 of the spine1->neck height (0.14 / 0.19 m), the fractions of
  the t2m rest skeleton (`T2M_BONE_LENGTHS`: spine2, spine3 and neck 0.143, 0.200 and 0.419 m above
  spine1); ``head`` 0.10 m above the neck (t2m's neck->head bone, 0.103 m) and 3 cm forward; the
  ``collars`` at 0.34 m (6 cm below the neck), 7.5 cm either side of the midline (about halfway to
  the acromial joints, as SMPL's collar joints). Every t2m bone is then rigid except hip->knee: the
  Lai knee translates with its angle (about 1.5 cm over a squat).
- **Model**: the caller's OpenSim model (`skeletons.opencap.load_opencap_model`). The squat
  stand-in uses the unscaled base model of the dataset, ``LaiArnoldModified2017_contacts.osim``,
  for every subject: the dataset stores joint angles, not each subject's scaled model, and t2m
  data is itself retargeted to one skeleton.
- **Frame**: t2m's convention: metres, Y up, the body facing +Z at the first frame (so its left
  is +X). OpenSim's ground has Y up and the model facing +X; the map rotates about Y (OpenSim
  (x, y, z) -> (-z, y, x)), then turns about Y so the frame-0 facing (HumanML3D's: up x (right -
  left hips + right - left shoulders)) is +Z, moves the root to x = z = 0 at frame 0 and puts the
  lowest foot point (ankles and feet, over all frames) at y = 0. u(X) sees only root-relative
  pose, so the last two are cosmetic.
- **Resampling**: coordinates by a cubic spline, activations by PCHIP clipped to [0, 1] (as the
  squat source resamples OpenCap trials), on the grid t0 + k / fps_out. No anti-alias filter: the
  squat activations are solved at 20 Hz and the coordinates are low-passed at 6 Hz.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import numpy as np

from motion_jax.skeletons import opensim_fk
from motion_jax.skeletons.opensim_model import OsimModel
from motion_jax.skeletons.t2m import T2M_JOINT_NAMES

#: MIA's channel order (= `motion_jax.models.biovae.MUSCLES`; data may not import models).
MIA_CHANNELS: tuple[str, ...] = (
  "quadriceps_r",
  "quadriceps_l",
  "hamstrings_r",
  "hamstrings_l",
  "gluteus_r",
  "gluteus_l",
  "biceps_l",
  "biceps_r",
)
_GROUP_BASES = {
  "quadriceps": ("vasmed", "vaslat", "vasint", "recfem"),
  "hamstrings": ("bflh", "bfsh", "semimem", "semiten"),
  "gluteus": ("glmax1", "glmax2", "glmax3"),
  "biceps": (),  # no arm muscles in the Lai models: no target, masked out
}
#: (channel, Lai muscle names averaged into it) in `MIA_CHANNELS` order; empty = no target.
MIA_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
  (ch, tuple(f"{m}_{ch[-1]}" for m in _GROUP_BASES[ch[:-2]])) for ch in MIA_CHANNELS
)
T2M_FPS = 20.0  # the module's frame rate (HumanML3D)

_T = "torso"
_NECK_Y = 0.40  # torso-frame height of the neck point (m)
#: Default (body, offset in the body frame in metres) of each of the 22 t2m joints (module doc).
T2M_POINTS: tuple[tuple[str, tuple[float, float, float]], ...] = (
  ("pelvis", (0.0, 0.0, 0.0)),  # 0 pelvis
  ("femur_l", (0.0, 0.0, 0.0)),  # 1 left_hip
  ("femur_r", (0.0, 0.0, 0.0)),  # 2 right_hip
  (_T, (0.0, 0.0, 0.0)),  # 3 spine1: the lumbar joint centre
  ("tibia_l", (0.0, 0.0, 0.0)),  # 4 left_knee
  ("tibia_r", (0.0, 0.0, 0.0)),  # 5 right_knee
  (_T, (0.0, round(0.34 * _NECK_Y, 3), 0.0)),  # 6 spine2
  ("talus_l", (0.0, 0.0, 0.0)),  # 7 left_ankle
  ("talus_r", (0.0, 0.0, 0.0)),  # 8 right_ankle
  (_T, (0.0, round(0.48 * _NECK_Y, 3), 0.0)),  # 9 spine3
  ("toes_l", (0.0, 0.0, 0.0)),  # 10 left_foot
  ("toes_r", (0.0, 0.0, 0.0)),  # 11 right_foot
  (_T, (0.0, _NECK_Y, 0.0)),  # 12 neck
  (_T, (0.0, 0.34, -0.075)),  # 13 left_collar (OpenSim +Z is the body's right)
  (_T, (0.0, 0.34, 0.075)),  # 14 right_collar
  (_T, (0.03, _NECK_Y + 0.10, 0.0)),  # 15 head
  ("humerus_l", (0.0, 0.0, 0.0)),  # 16 left_shoulder
  ("humerus_r", (0.0, 0.0, 0.0)),  # 17 right_shoulder
  ("ulna_l", (0.0, 0.0, 0.0)),  # 18 left_elbow
  ("ulna_r", (0.0, 0.0, 0.0)),  # 19 right_elbow
  ("hand_l", (0.0, 0.0, 0.0)),  # 20 left_wrist
  ("hand_r", (0.0, 0.0, 0.0)),  # 21 right_wrist
)
_FEET = (7, 8, 10, 11)
_FK_BUCKET = 128  # frames are padded to a multiple of this, so FK compiles once per bucket


@dataclasses.dataclass(frozen=True)
class T2MJointMap:
  """Where each t2m joint sits on the OpenSim model (module docstring): joint i is the point
  ``offsets[i]`` (metres, body axes) of body ``bodies[i]``. Defaults: `T2M_POINTS`."""

  bodies: tuple[str, ...] = tuple(b for b, _ in T2M_POINTS)
  offsets: tuple[tuple[float, ...], ...] = tuple(o for _, o in T2M_POINTS)
  floor_at_zero: bool = True  # lowest ankle/foot point over the clip at y = 0
  root_at_origin: bool = True  # root x = z = 0 at frame 0

  def __post_init__(self):
    n = len(T2M_JOINT_NAMES)
    if len(self.bodies) != n or len(self.offsets) != n:
      raise ValueError(
        f"joint_map: {len(self.bodies)} bodies and {len(self.offsets)} offsets, need one per t2m"
        f" joint ({n}: {T2M_JOINT_NAMES})"
      )
    for i, (body, off) in enumerate(self.points):
      if len(off) != 3 or not np.all(np.isfinite(off)):
        raise ValueError(
          f"joint_map.offsets[{i}] ({T2M_JOINT_NAMES[i]}, body {body!r}): 3 finite numbers "
          f"needed, got {off}"
        )

  @property
  def points(self) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """``(body, offset)`` of each t2m joint."""
    return tuple(zip(self.bodies, (tuple(o) for o in self.offsets)))


# ---------------------------------------------------------------------------------------- targets


def group_activations(
  activations: np.ndarray, muscle_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
  """MIA's eight channels from model-muscle activations (`MIA_GROUPS`, module docstring).

  Args:
    activations: ``[T, M]`` activations, one column per name of ``muscle_names``.
    muscle_names: the M muscle names (e.g. `skeletons.opencap.BIGE_MUSCLES`).
  Returns:
    ``(u [T, 8] float32, channel_mask [8] bool)``: the mean activation of each group, and which
    channels have a target (False for the biceps: value 0).
  Raises:
    ValueError naming the field: ``activations`` not ``[T, len(muscle_names)]`` or non-finite,
    duplicate names, or a muscle of a group missing from ``muscle_names``.
  """
  a = np.asarray(activations)
  names = list(muscle_names)
  if a.ndim != 2 or a.shape[1] != len(names):
    raise ValueError(
      f"activations must be [T, {len(names)}] (one column per muscle name), got {a.shape}"
    )
  if not np.all(np.isfinite(a)):
    raise ValueError(f"activations: {int((~np.isfinite(a)).sum())} non-finite values")
  if len(set(names)) != len(names):
    raise ValueError("muscle_names: duplicate names")
  col = {n: i for i, n in enumerate(names)}
  u = np.zeros((len(a), len(MIA_GROUPS)), np.float32)
  mask = np.zeros(len(MIA_GROUPS), bool)
  for c, (channel, group) in enumerate(MIA_GROUPS):
    if not group:
      continue
    missing = [m for m in group if m not in col]
    if missing:
      raise ValueError(
        f"muscle_names: MIA channel {channel!r} needs muscles {list(group)}; missing {missing}"
      )
    u[:, c] = a[:, [col[m] for m in group]].astype(np.float32).mean(1)
    mask[c] = True
  return u, mask


# ----------------------------------------------------------------------------------------- inputs


def resample(x: np.ndarray, fps_in: float, fps_out: float, *, kind: str = "cubic") -> np.ndarray:
  """``x [T, ...]`` sampled at ``fps_in`` on the grid k / fps_out (k = 0 .. floor((T-1) fps_out /
  fps_in)): a cubic spline (``kind='cubic'``) or PCHIP clipped to [0, 1] (``'activation'``)."""
  from scipy.interpolate import CubicSpline, PchipInterpolator

  x = np.asarray(x, np.float64)
  t = np.arange(len(x)) / fps_in
  n = int(np.floor((len(x) - 1) * fps_out / fps_in + 1e-9)) + 1
  grid = np.arange(n) / fps_out
  if abs(fps_in - fps_out) < 1e-9:
    return x
  if len(x) < 2:
    return x[:1]
  if kind == "activation":
    return np.clip(PchipInterpolator(t, x, axis=0)(grid), 0.0, 1.0)
  return CubicSpline(t, x, axis=0)(grid)


@functools.lru_cache(maxsize=8)
def _points_fn(model: OsimModel, names: tuple[str, ...], points: tuple):
  """Jitted ``q [N, n] (radians / metres) -> [N, 22, 3]`` ground positions of the map's points."""
  fk = opensim_fk.make_fk(model, names)
  bodies = [b for b, _ in points]
  offsets = np.array([o for _, o in points], np.float64)

  @jax.jit
  def f(q):
    return opensim_fk.points_in_ground(fk(q), model, bodies, offsets)

  return f


def _yaw_to_face_z(joints: np.ndarray) -> np.ndarray:
  """Rotation about Y [3, 3] turning frame 0's facing (HumanML3D's rule) to +Z."""
  j = joints[0]
  across = (j[2] - j[1]) + (j[17] - j[16])  # right - left (hips, shoulders)
  fwd = np.cross([0.0, 1.0, 0.0], across)
  fwd[1] = 0.0
  norm = np.linalg.norm(fwd)
  if norm < 1e-9:
    raise ValueError("coordinates: frame 0 has no horizontal facing (hips/shoulders vertical)")
  fx, fz = fwd[[0, 2]] / norm
  # R_y(a) maps (fx, 0, fz) -> (0, 0, 1) for a = -atan2(fx, fz).
  a = -np.arctan2(fx, fz)
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def squat_to_t2m_joints(
  coordinates: np.ndarray,
  coordinate_names: Sequence[str],
  model: OsimModel,
  fps_in: float,
  fps_out: float = T2M_FPS,
  *,
  activations: np.ndarray | None = None,
  joint_map: T2MJointMap = T2MJointMap(),
) -> tuple[np.ndarray, np.ndarray | None]:
  """The 22 t2m joints of an OpenSim motion, resampled to ``fps_out`` (module docstring).

  Args:
    coordinates: ``[T, n]`` OpenSim coordinates, degrees for rotational ones and metres for
      translations (the squat dataset's / `.mot` convention), sampled at ``fps_in``.
    coordinate_names: the n coordinate names (a subset of the model's; others at their default).
    model: the parsed OpenSim model (`skeletons.opencap.load_opencap_model`).
    fps_in, fps_out: sample rates (Hz); ``fps_out`` defaults to the module's 20 Hz.
    activations: optional ``[T, M]`` activations at ``fps_in``, resampled onto the same grid.
    joint_map: which body point each t2m joint is, and the floor/root placement.
  Returns:
    ``(joints [T', 22, 3] float32, activations [T', M] float32 or None)``, t2m convention (metres,
    Y up, facing +Z at frame 0, left = +X).
  Raises:
    ValueError naming the field: wrong shapes, unknown / duplicate coordinate names, a body of the
    joint map the model lacks, non-finite values, non-positive rates.
  """
  q = np.asarray(coordinates)
  names = tuple(coordinate_names)
  if q.ndim != 2 or q.shape[1] != len(names):
    raise ValueError(
      f"coordinates must be [T, {len(names)}] (one column per coordinate name), got {q.shape}"
    )
  if len(q) < 2:
    raise ValueError(f"coordinates: need at least 2 frames, got {len(q)}")
  if not np.all(np.isfinite(q)):
    raise ValueError(f"coordinates: {int((~np.isfinite(q)).sum())} non-finite values")
  unknown = [n for n in names if n not in model.coordinate_names]
  if unknown:
    raise ValueError(f"coordinate_names: not coordinates of model {model.name!r}: {unknown}")
  if len(set(names)) != len(names):
    raise ValueError("coordinate_names: duplicate names")
  if not (np.isfinite(fps_in) and fps_in > 0 and np.isfinite(fps_out) and fps_out > 0):
    raise ValueError(f"fps_in and fps_out must be > 0, got {fps_in}, {fps_out}")
  missing = sorted({b for b, _ in joint_map.points if b not in model.body_names})
  if missing:
    raise ValueError(f"joint_map.bodies: not bodies of model {model.name!r}: {missing}")
  if activations is not None:
    a = np.asarray(activations)
    if a.ndim != 2 or len(a) != len(q):
      raise ValueError(
        f"activations must be [T, M] with the coordinates' T = {len(q)} frames, got {a.shape}"
      )
    if not np.all(np.isfinite(a)):
      raise ValueError(f"activations: {int((~np.isfinite(a)).sum())} non-finite values")

  rot = np.array([model.is_rotational(n) for n in names])
  q_si = np.where(rot, np.deg2rad(q.astype(np.float64)), q.astype(np.float64))
  q_si = resample(q_si, fps_in, fps_out)
  n = len(q_si)
  padded = -(-n // _FK_BUCKET) * _FK_BUCKET
  q_pad = np.concatenate([q_si, np.repeat(q_si[-1:], padded - n, 0)]).astype(np.float32)
  fn = _points_fn(model, names, joint_map.points)
  ground = np.asarray(fn(q_pad), np.float64)[:n]  # [T', 22, 3] OpenSim ground
  joints = np.stack([-ground[..., 2], ground[..., 1], ground[..., 0]], -1)  # facing +X -> +Z
  joints = joints @ _yaw_to_face_z(joints).T
  if joint_map.root_at_origin:
    joints[..., [0, 2]] -= joints[0, 0, [0, 2]]
  if joint_map.floor_at_zero:
    joints[..., 1] -= joints[:, _FEET, 1].min()
  a_out = None
  if activations is not None:
    a_out = resample(activations, fps_in, fps_out, kind="activation").astype(np.float32)
  return joints.astype(np.float32), a_out


__all__ = [
  "MIA_CHANNELS",
  "MIA_GROUPS",
  "T2MJointMap",
  "T2M_FPS",
  "T2M_POINTS",
  "group_activations",
  "resample",
  "squat_to_t2m_joints",
]
