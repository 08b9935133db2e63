"""Skeleton constants of HumanML3D ("t2m", 22 joints) and KIT-ML (21 joints) text-to-motion data.

Sources (facts transcribed, no code copied):

* Raw offsets, kinematic chains, foot indices, face-joint indices, the leg bones used for the
  scale ratio and the foot-contact thresholds: ``paramUtil.py`` and the ``__main__`` blocks of
  ``motion_representation.ipynb`` / ``raw_pose_processing`` in EricGuo5513/HumanML3D
  @9176e8fb (MIT), identical in momask-codes ``utils/paramUtil.py``. The same values are shipped
  as ``data/humanml3d/skeleton_constants.json``; a test checks the two agree.
* t2m joint names: the SMPL body joint names (GuyTevet/motion-diffusion-model
  ``data_loaders/humanml_utils.py``). KIT joint names: the MMM marker-joint names listed as
  ``mmm_joints`` in Mathux/TMR ``src/joints.py`` (MIT).
* t2m target offsets: the official pipeline retargets every clip to the bone lengths of clip
  ``000021`` frame 0 (``tgt_skel_id``), a file we do not ship. Because every HumanML3D joint file
  is already on that skeleton, the bone lengths are recovered from the shipped clip
  ``data/humanml3d/new_joints/012314.npy``: the per-bone mean over its 170 frames (the spread
  over frames is < 2e-6 m, std 2.4e-7: float32 noise), to 1e-9. Offsets = raw offset x length.
* KIT target offsets (clip ``03950``) are not available: :data:`KIT` has ``target_offsets=None``
  and callers must pass target offsets to compute KIT features.

Naming caveat (KIT): HumanML3D's KIT constants use ``face_joint_indx = [11, 16, 5, 8]`` labelled
``r_hip, l_hip, sdr_r, sdr_l`` and ``fid_r = [14, 15]``, ``fid_l = [19, 20]``. With the MMM names,
11/5/14/15 are *left* joints (LH, LS, LMrot, LF). The labels are swapped consistently, so we keep
the official indices (features must match the official ones) and flag it here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

# Single place that locates the repository's data folder (swap for motion_jax.paths when it
# exists).
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
HUMANML3D_DIR = DATA_DIR / "humanml3d"


@dataclasses.dataclass(frozen=True)
class SkeletonSpec:
  """Constants of one text-to-motion skeleton (all tuples, hashable: usable as a jit static arg).

  Attributes:
    name: ``"t2m"`` or ``"kit"``.
    joint_names: one name per joint.
    kinematic_chain: chains of joint indices; each starts at an already-placed joint.
    raw_offsets: unit direction of each joint's bone (from its parent) in the rest pose.
    target_offsets: bone vectors of the retarget skeleton (raw offset x length), or None.
    fid_l, fid_r: the two foot joints of each side used for contacts (official labels).
    face_joint_indx: ``(r_hip, l_hip, r_shoulder, l_shoulder)`` as labelled by ``process_file``.
    leg_indices: the two leg joints whose bone lengths give the retarget scale ratio.
    feet_thre: squared-displacement threshold (per frame) for foot contacts.
    fps: frame rate of the processed data.
  """

  name: str
  joint_names: tuple[str, ...] = dataclasses.field(repr=False)
  kinematic_chain: tuple[tuple[int, ...], ...] = dataclasses.field(repr=False)
  raw_offsets: tuple[tuple[float, float, float], ...] = dataclasses.field(repr=False)
  target_offsets: tuple[tuple[float, float, float], ...] | None = dataclasses.field(repr=False)
  fid_l: tuple[int, int]
  fid_r: tuple[int, int]
  face_joint_indx: tuple[int, int, int, int]
  leg_indices: tuple[int, int]
  feet_thre: float
  fps: float

  @property
  def n_joints(self) -> int:
    return len(self.joint_names)

  @property
  def dim_pose(self) -> int:
    """Feature width: 4 + 3(J-1) + 6(J-1) + 3J + 4 (263 for t2m, 251 for KIT)."""
    j = self.n_joints
    return 4 + 3 * (j - 1) + 6 * (j - 1) + 3 * j + 4

  @property
  def parents(self) -> tuple[int, ...]:
    """Parent of each joint (``-1`` for the root), read off the kinematic chains."""
    par = [-1] * self.n_joints
    for chain in self.kinematic_chain:
      for a, b in zip(chain[:-1], chain[1:]):
        par[b] = a
    return tuple(par)

  def bone_order(self) -> tuple[tuple[int, int], ...]:
    """``(parent, child)`` pairs in chain order (parents always placed before children)."""
    return tuple((a, b) for chain in self.kinematic_chain for a, b in zip(chain[:-1], chain[1:]))

  def raw_offsets_array(self) -> np.ndarray:
    return np.asarray(self.raw_offsets, np.float64)

  def target_offsets_array(self) -> np.ndarray | None:
    return None if self.target_offsets is None else np.asarray(self.target_offsets, np.float64)


# --- t2m / HumanML3D (22 SMPL body joints, 20 fps, 263-dim features) ----------------------------
T2M_JOINT_NAMES = (
  "pelvis",
  "left_hip",
  "right_hip",
  "spine1",
  "left_knee",
  "right_knee",
  "spine2",
  "left_ankle",
  "right_ankle",
  "spine3",
  "left_foot",
  "right_foot",
  "neck",
  "left_collar",
  "right_collar",
  "head",
  "left_shoulder",
  "right_shoulder",
  "left_elbow",
  "right_elbow",
  "left_wrist",
  "right_wrist",
)
T2M_RAW_OFFSETS = (
  (0, 0, 0),
  (1, 0, 0),
  (-1, 0, 0),
  (0, 1, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, 1, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, 1, 0),
  (0, 0, 1),
  (0, 0, 1),
  (0, 1, 0),
  (1, 0, 0),
  (-1, 0, 0),
  (0, 0, 1),
  (0, -1, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, -1, 0),
)
T2M_KINEMATIC_CHAIN = (
  (0, 2, 5, 8, 11),
  (0, 1, 4, 7, 10),
  (0, 3, 6, 9, 12, 15),
  (9, 14, 17, 19, 21),
  (9, 13, 16, 18, 20),
)
# Bone lengths (m) of the HumanML3D target skeleton, joints 1..21, derived from clip 012314 (see
# module docstring).
T2M_BONE_LENGTHS = (
  0.103073967,
  0.109883358,
  0.131568231,
  0.393623193,
  0.390188219,
  0.143190216,
  0.432432996,
  0.425643402,
  0.057364738,
  0.143381787,
  0.149419053,
  0.219360049,
  0.137486794,
  0.143382809,
  0.103039208,
  0.131613955,
  0.122984390,
  0.256839896,
  0.263091858,
  0.266011816,
  0.269876291,
)
T2M_TARGET_OFFSETS = tuple(
  tuple(float(c * length) for c in raw)
  for raw, length in zip(T2M_RAW_OFFSETS, (0.0,) + T2M_BONE_LENGTHS)
)

T2M = SkeletonSpec(
  name="t2m",
  joint_names=T2M_JOINT_NAMES,
  kinematic_chain=T2M_KINEMATIC_CHAIN,
  raw_offsets=tuple(tuple(float(c) for c in o) for o in T2M_RAW_OFFSETS),
  target_offsets=T2M_TARGET_OFFSETS,
  fid_l=(7, 10),
  fid_r=(8, 11),
  face_joint_indx=(2, 1, 17, 16),
  leg_indices=(5, 8),
  feet_thre=0.002,
  fps=20.0,
)

# --- KIT-ML (21 MMM joints, 12.5 fps, 251-dim features) -----------------------------------------
KIT_JOINT_NAMES = (
  "root",
  "BP",
  "BT",
  "BLN",
  "BUN",
  "LS",
  "LE",
  "LW",
  "RS",
  "RE",
  "RW",
  "LH",
  "LK",
  "LA",
  "LMrot",
  "LF",
  "RH",
  "RK",
  "RA",
  "RMrot",
  "RF",
)
KIT_RAW_OFFSETS = (
  (0, 0, 0),
  (0, 1, 0),
  (0, 1, 0),
  (0, 1, 0),
  (0, 1, 0),
  (1, 0, 0),
  (0, -1, 0),
  (0, -1, 0),
  (-1, 0, 0),
  (0, -1, 0),
  (0, -1, 0),
  (1, 0, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, 0, 1),
  (0, 0, 1),
  (-1, 0, 0),
  (0, -1, 0),
  (0, -1, 0),
  (0, 0, 1),
  (0, 0, 1),
)
KIT_KINEMATIC_CHAIN = (
  (0, 11, 12, 13, 14, 15),
  (0, 16, 17, 18, 19, 20),
  (0, 1, 2, 3, 4),
  (3, 5, 6, 7),
  (3, 8, 9, 10),
)

KIT = SkeletonSpec(
  name="kit",
  joint_names=KIT_JOINT_NAMES,
  kinematic_chain=KIT_KINEMATIC_CHAIN,
  raw_offsets=tuple(tuple(float(c) for c in o) for o in KIT_RAW_OFFSETS),
  target_offsets=None,
  fid_l=(19, 20),
  fid_r=(14, 15),
  face_joint_indx=(11, 16, 5, 8),
  leg_indices=(17, 18),
  feet_thre=0.05,
  fps=12.5,
)

SKELETONS = {"t2m": T2M, "humanml3d": T2M, "kit": KIT, "kit-ml": KIT}


def get_skeleton(name: str) -> SkeletonSpec:
  """Returns the skeleton for ``"t2m"``/``"humanml3d"`` or ``"kit"``/``"kit-ml"``."""
  try:
    return SKELETONS[name.lower()]
  except KeyError:
    raise ValueError(f"unknown skeleton {name!r}; choose one of {sorted(SKELETONS)}") from None


def with_target_offsets(skeleton: SkeletonSpec, offsets: np.ndarray) -> SkeletonSpec:
  """Copy of ``skeleton`` with retarget bone vectors ``offsets [J, 3]``."""
  offsets = np.asarray(offsets, np.float64)
  if offsets.shape != (skeleton.n_joints, 3):
    raise ValueError(f"target offsets must be [{skeleton.n_joints}, 3], got {offsets.shape}")
  return dataclasses.replace(skeleton, target_offsets=tuple(map(tuple, offsets.tolist())))


def offsets_from_joints(skeleton: SkeletonSpec, joints: np.ndarray) -> np.ndarray:
  """Target offsets ``[J, 3]`` (raw offset x bone length) measured on one pose ``[J, 3]``.

  This is how the official pipeline builds its target skeleton from an example frame.
  """
  joints = np.asarray(joints, np.float64)
  lengths = np.zeros(skeleton.n_joints)
  for p, c in skeleton.bone_order():
    lengths[c] = np.linalg.norm(joints[c] - joints[p])
  return skeleton.raw_offsets_array() * lengths[:, None]


def load_skeleton_constants(path: str | Path | None = None) -> dict:
  """Reads the shipped ``skeleton_constants.json`` (transcribed official constants)."""
  path = Path(path) if path is not None else HUMANML3D_DIR / "skeleton_constants.json"
  with open(path) as f:
    return json.load(f)
