"""Real motion onto the t2m skeleton: the shipped CMU BVH and DeepMimic clips as a small,
labelled evaluation set in the HumanML3D layout.

Pipeline per clip (:func:`retarget_to_t2m`):

1. **Joint correspondence**: each of the 22 t2m joints is a source joint or a point between two
   source joints (:data:`CMU_MAP`, :data:`DEEPMIMIC_MAP`; the DeepMimic humanoid has no spine
   segments, collars, head or toes, so spine1/spine2/spine3/collars are interpolated on the
   chest/neck/shoulder segments and head/toes are points fixed in the neck/ankle bodies, computed
   by our FK of the DeepMimic frames, :func:`deepmimic_fk`).
2. **Resampling** to 20 fps by linear interpolation of positions at ``k / 20`` s (:func:`resample`).
   DeepMimic clips marked ``Loop: wrap`` are repeated (each repeat shifted by the cycle's root
   displacement in the ground plane) until they reach 2 s; clips still shorter than
   ``MIN_FRAMES`` (40) are skipped with the reason recorded (:class:`ClipTooShortError`).
3. **Bone-length normalisation / uniform skeleton**: :func:`motion_jax.representations.humanml3d.
   uniform_skeleton` keeps every bone direction and sets the t2m target length (root scaled by the
   leg-length ratio).
4. **Canonical frame** (:func:`canonicalize`): floor at the lowest point, frame-0 root at the xz
   origin, frame-0 facing +Z (HumanML3D ``process_file`` steps 2-4).
5. **Features**: ``joints_to_features(..., retarget=False)`` -> ``[T-1, 263]``. As in the real
   HumanML3D files (checked on 012314: ``new_joints == recover_from_ric(new_joint_vecs)`` to
   4e-7 m, both 170 frames), ``new_joints`` holds the same ``T-1`` frames as the features.

:func:`ensure_real_eval` writes ``data/cache/real_eval/`` (``new_joints``, ``new_joint_vecs``,
``texts``, ``all.txt``/``test.txt``, ``labels.json`` with source, label, fps and skip reasons).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from motion_jax.datagen.layout import (
  features_batched,
  read_manifest,
  replace_atomically,
  write_clip,
  write_manifest,
)
from motion_jax.datagen.procedural.captions import caption_line
from motion_jax.paths import DATA_DIR
from motion_jax.skeletons.t2m import T2M

TARGET_FPS = 20.0
MIN_FRAMES = 40
CMU_DIR = DATA_DIR / "cmu_bvh11"
DEEPMIMIC_DIR = DATA_DIR / "deepmimic_humanoid3d"
REAL_EVAL_ROOT = DATA_DIR / "cache" / "real_eval"
REAL_EVAL_VERSION = "1.0.0"


class ClipTooShortError(ValueError):
  """A clip has fewer frames than the minimum after resampling (names the clip)."""


# A t2m joint is a source joint name, or (name_a, name_b, w) = (1 - w) * a + w * b.
CMU_MAP = {
  "pelvis": "Hips",
  "left_hip": "LeftHip",
  "right_hip": "RightHip",
  "spine1": "Chest",
  "left_knee": "LeftKnee",
  "right_knee": "RightKnee",
  "spine2": "Chest2",
  "left_ankle": "LeftAnkle",
  "right_ankle": "RightAnkle",
  "spine3": ("Chest2", "Neck", 0.35),
  "left_foot": "LeftToe",
  "right_foot": "RightToe",
  "neck": "Neck",
  "left_collar": ("Chest2", "LeftShoulder", 0.55),
  "right_collar": ("Chest2", "RightShoulder", 0.55),
  "head": "Head",
  "left_shoulder": "LeftShoulder",
  "right_shoulder": "RightShoulder",
  "left_elbow": "LeftElbow",
  "right_elbow": "RightElbow",
  "left_wrist": "LeftWrist",
  "right_wrist": "RightWrist",
}
DEEPMIMIC_MAP = {
  "pelvis": "root",
  "left_hip": "left_hip",
  "right_hip": "right_hip",
  "spine1": ("root", "chest", 0.5),
  "left_knee": "left_knee",
  "right_knee": "right_knee",
  "spine2": "chest",
  "left_ankle": "left_ankle",
  "right_ankle": "right_ankle",
  "spine3": ("chest", "neck", 0.3),
  "left_foot": "left_toe",
  "right_foot": "right_toe",
  "neck": "neck",
  "left_collar": ("neck", "left_shoulder", 0.5),
  "right_collar": ("neck", "right_shoulder", 0.5),
  "head": "head",
  "left_shoulder": "left_shoulder",
  "right_shoulder": "right_shoulder",
  "left_elbow": "left_elbow",
  "right_elbow": "right_elbow",
  "left_wrist": "left_wrist",
  "right_wrist": "right_wrist",
}
# Points fixed in DeepMimic bodies (metres, body frame; x forward, y up): the ball of the foot
# inside the foot box (box centre (0.045, -0.0225, 0), size 0.177 x 0.055 x 0.09) and the centre
# of the head sphere (attached at (0, 0.175, 0) of the neck body), from humanoid3d_character.json.
DEEPMIMIC_TOE = (0.11, -0.035, 0.0)
DEEPMIMIC_HEAD = (0.0, 0.175, 0.0)


def map_joints(positions: np.ndarray, names: list[str], mapping: dict) -> np.ndarray:
  """``[T, J_src, 3]`` source positions -> ``[T, 22, 3]`` t2m positions via ``mapping``."""
  idx = {n: i for i, n in enumerate(names)}
  out = np.zeros(positions.shape[:1] + (T2M.n_joints, 3))
  for j, name in enumerate(T2M.joint_names):
    src = mapping[name]
    if isinstance(src, str):
      out[:, j] = positions[:, idx[src]]
    else:
      a, b, w = src
      out[:, j] = (1 - w) * positions[:, idx[a]] + w * positions[:, idx[b]]
  return out


def resample(joints: np.ndarray, times: np.ndarray, fps: float = TARGET_FPS) -> np.ndarray:
  """Linear interpolation of ``[T, J, 3]`` sampled at ``times`` (s) onto ``k / fps``."""
  times = np.asarray(times, np.float64) - times[0]
  new_t = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
  flat = joints.reshape(len(joints), -1)
  out = np.stack([np.interp(new_t, times, flat[:, k]) for k in range(flat.shape[1])], -1)
  return out.reshape((len(new_t),) + joints.shape[1:])


def canonicalize(joints: np.ndarray, skeleton=T2M) -> np.ndarray:
  """Floor at the clip's lowest point, frame-0 root xz at the origin, frame-0 facing +Z (the
  forward ``Y x ((r_hip - l_hip) + (r_sdr - l_sdr))`` of ``process_file``)."""
  x = np.asarray(joints, np.float64).copy()
  x[..., 1] -= x[..., 1].min()
  x[..., [0, 2]] -= x[0, 0, [0, 2]]
  r_hip, l_hip, sdr_r, sdr_l = skeleton.face_joint_indx
  across = (x[0, r_hip] - x[0, l_hip]) + (x[0, sdr_r] - x[0, sdr_l])
  fwd = np.cross([0.0, 1.0, 0.0], across)
  ang = np.arctan2(fwd[0], fwd[2])  # heading of fwd; rotate by -ang about +Y
  c, s = np.cos(-ang), np.sin(-ang)
  rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
  return x @ rot.T


def retarget_joints(t2m_joints: np.ndarray, name: str = "clip") -> np.ndarray:
  """Mapped ``[T, 22, 3]`` positions at 20 fps -> ``[T, 22, 3]`` float32 on the t2m target
  skeleton (uniform skeleton) in the canonical frame. Raises :class:`ClipTooShortError` /
  ``ValueError`` (NaN) naming ``name``."""
  import jax.numpy as jnp

  from motion_jax.representations.humanml3d import uniform_skeleton

  t2m_joints = np.asarray(t2m_joints, np.float64)
  if t2m_joints.ndim != 3 or t2m_joints.shape[1:] != (T2M.n_joints, 3):
    raise ValueError(f"{name}: joints must be [T, 22, 3], got {t2m_joints.shape}")
  if len(t2m_joints) < MIN_FRAMES + 1:
    raise ClipTooShortError(
      f"{name}: {len(t2m_joints)} frames at {TARGET_FPS:g} fps, fewer "
      f"than the minimum {MIN_FRAMES + 1} ({MIN_FRAMES} feature "
      "frames)"
    )
  if not np.isfinite(t2m_joints).all():
    bad = ~np.isfinite(t2m_joints).all(axis=(1, 2))
    raise ValueError(
      f"{name}: non-finite joints in {int(bad.sum())} frames, first at frame {int(np.argmax(bad))}"
    )
  uni = np.asarray(uniform_skeleton(jnp.asarray(t2m_joints, jnp.float32)), np.float64)
  return canonicalize(uni).astype(np.float32)


def retarget_to_t2m(t2m_joints: np.ndarray, name: str = "clip") -> tuple[np.ndarray, np.ndarray]:
  """Mapped ``[T, 22, 3]`` positions at 20 fps -> (new_joints ``[T-1, 22, 3]``, features
  ``[T-1, 263]``), float32, on the t2m target skeleton in the canonical frame."""

  canon = retarget_joints(t2m_joints, name)
  (feats,) = features_batched([canon], batch=1, pad_to=_pad_length(len(canon)))
  return canon[:-1], feats


def _pad_length(n: int) -> int:
  """Padding length for batched features: multiples of 128 frames (few compilations)."""
  return int(np.ceil(n / 128.0) * 128)


# ------------------------------------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------------------------------------
def load_cmu(clip: str, root: Path = CMU_DIR) -> tuple[np.ndarray, float]:
  """t2m-mapped positions ``[T, 22, 3]`` (source fps) and the fps of a CMU clip
  (``derived/<clip>_joints.npz``: FK of the BVH in metres, see data/cmu_bvh11/SOURCE.md)."""
  d = np.load(root / "derived" / f"{clip}_joints.npz", allow_pickle=False)
  names = [str(n) for n in d["joint_names"]]
  return map_joints(d["joint_positions"].astype(np.float64), names, CMU_MAP), float(d["fps"])


def _quat_matrix(q: np.ndarray) -> np.ndarray:
  """(w, x, y, z) -> rotation matrix, batched."""
  q = q / np.linalg.norm(q, axis=-1, keepdims=True)
  w, x, y, z = np.moveaxis(q, -1, 0)
  return np.stack(
    [
      np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
      np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
      np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ],
    -2,
  )


def _rot_z(a: np.ndarray) -> np.ndarray:
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def deepmimic_fk(frames: np.ndarray, character: dict) -> tuple[np.ndarray, list[str]]:
  """Positions ``[T, 17, 3]`` of the 15 DeepMimic joints plus ``left_toe``/``right_toe`` and
  ``head`` (points fixed in the ankle/neck bodies), and their names.

  Frame layout (DeepMimic README): duration, root position (3), root rotation (w, x, y, z),
  then per non-fixed joint in skeleton order a quaternion (spherical) or an angle about the local
  z axis (revolute). ``x[c] = x[p] + G[p] attach[c]``, ``G[c] = G[p] R_local[c]``.
  """
  joints = character["Skeleton"]["Joints"]
  t = len(frames)
  pos, glob, names = [], [], []
  col = 1
  for j in joints:
    p = j["Parent"]
    attach = np.array([j["AttachX"], j["AttachY"], j["AttachZ"]])
    if p < 0:
      x = frames[:, col : col + 3]
      g = _quat_matrix(frames[:, col + 3 : col + 7])
      col += 7
    else:
      x = pos[p] + glob[p] @ attach
      kind = j["Type"]
      if kind == "spherical":
        local = _quat_matrix(frames[:, col : col + 4])
        col += 4
      elif kind == "revolute":
        local = _rot_z(frames[:, col])
        col += 1
      else:  # fixed
        local = np.broadcast_to(np.eye(3), (t, 3, 3))
      g = glob[p] @ local
    pos.append(x)
    glob.append(g)
    names.append(j["Name"])
  idx = {n: i for i, n in enumerate(names)}
  extra = {
    "left_toe": ("left_ankle", DEEPMIMIC_TOE),
    "right_toe": ("right_ankle", DEEPMIMIC_TOE),
    "head": ("neck", DEEPMIMIC_HEAD),
  }
  for n, (body, point) in extra.items():
    i = idx[body]
    pos.append(pos[i] + glob[i] @ np.asarray(point))
    names.append(n)
  if col != frames.shape[1]:
    raise ValueError(f"DeepMimic frames have {frames.shape[1]} values, skeleton uses {col}")
  return np.stack(pos, 1), names


def load_deepmimic(
  name: str, root: Path = DEEPMIMIC_DIR, min_seconds: float = 2.0
) -> tuple[np.ndarray, np.ndarray, dict]:
  """t2m-mapped positions ``[T, 22, 3]``, their times (s) and info of ``humanoid3d_<name>``."""
  motion = json.loads((root / "motions" / f"humanoid3d_{name}.txt").read_text())
  character = json.loads((root / "humanoid3d_character.json").read_text())
  frames = np.asarray(motion["Frames"], np.float64)
  pos, names = deepmimic_fk(frames, character)
  mapped = map_joints(pos, names, DEEPMIMIC_MAP)
  dur = frames[:, 0]
  times = np.concatenate([[0.0], np.cumsum(dur[:-1])])
  loop = motion.get("Loop", "none")
  reps = 1
  if loop == "wrap" and times[-1] > 0:
    # The last frame closes the cycle: repeat frames 0..T-2 shifted by the root xz drift.
    cycle = mapped[:-1]
    drift = (mapped[-1, 0] - mapped[0, 0]) * np.array([1.0, 0.0, 1.0])
    period = times[-1]
    reps = int(np.ceil(min_seconds / period))
    mapped = np.concatenate(
      [cycle + k * drift for k in range(reps)] + [mapped[-1:] + (reps - 1) * drift]
    )
    times = np.concatenate([times[:-1] + k * period for k in range(reps)] + [[reps * period]])
  return mapped, times, {"loop": loop, "repeats": reps, "source_frames": len(frames)}


def _labels(csv_path: Path) -> list[dict]:
  with open(csv_path, newline="") as f:
    return list(csv.DictReader(f))


CMU_CAPTIONS = {
  "Start Walk Stop": "a person starts walking and then stops",
  "Start Hop Stop": "a person starts hopping and then stops",
}


def real_clips() -> list[dict]:
  """Every shipped real clip mapped to t2m at 20 fps: dicts with id, source, label, caption,
  joints ``[T, 22, 3]`` (not yet retargeted) and info."""
  out = []
  for row in _labels(CMU_DIR / "labels.csv"):
    clip = row["cmu_trial"]
    mapped, fps = load_cmu(clip)
    times = np.arange(len(mapped)) / fps
    out.append(
      {
        "id": f"cmu_{clip}",
        "source": f"cmu_bvh11/{row['file']}",
        "label": row["text"],
        "caption": CMU_CAPTIONS.get(row["text"], row["text"].lower()),
        "joints": resample(mapped, times),
        "info": {"source_fps": fps},
      }
    )
  for row in _labels(DEEPMIMIC_DIR / "labels.csv"):
    name = Path(row["file"]).stem.replace("humanoid3d_", "")
    mapped, times, info = load_deepmimic(name)
    out.append(
      {
        "id": f"deepmimic_{name}",
        "source": f"deepmimic_humanoid3d/{row['file']}",
        "label": name,
        "caption": row["text"],
        "joints": resample(mapped, times),
        "info": info,
      }
    )
  return out


def build_real_eval(out: str | Path = REAL_EVAL_ROOT) -> Path:
  """Writes the real evaluation set (atomically, like the procedural build)."""

  out = Path(out)
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{time.time_ns()}"
  labels, kept = {}, []
  try:
    tmp.mkdir()
    todo = []
    for clip in real_clips():
      entry = {
        "source": clip["source"],
        "label": clip["label"],
        "caption": clip["caption"],
        "frames_20fps": int(len(clip["joints"])),
        **clip["info"],
      }
      labels[clip["id"]] = entry
      try:
        todo.append((clip, retarget_joints(clip["joints"], clip["id"])))
      except ClipTooShortError as e:
        entry["skipped"] = str(e)
    pad = _pad_length(max(len(c) for _, c in todo))
    feats = features_batched([c for _, c in todo], batch=8, pad_to=pad)
    for (clip, canon), f in zip(todo, feats):
      write_clip(tmp, clip["id"], canon[:-1], f, [caption_line(clip["caption"])])
      kept.append(clip["id"])
    (tmp / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    for split in ("all", "test"):
      (tmp / f"{split}.txt").write_text("".join(i + "\n" for i in sorted(kept)))
    write_manifest(
      tmp,
      {
        "generator": "motion_jax.datagen.retarget",
        "version": REAL_EVAL_VERSION,
        "clips": len(kept),
        "skipped": len(labels) - len(kept),
      },
    )
    replace_atomically(tmp, out)
  finally:
    if tmp.exists():
      shutil.rmtree(tmp, ignore_errors=True)
  return out


def ensure_real_eval(root: str | Path | None = None) -> Path:
  """Path of the real evaluation set, built on first use (or when its version changed)."""

  root = Path(root) if root is not None else REAL_EVAL_ROOT
  m = read_manifest(root)
  if (
    not m
    or m.get("version") != REAL_EVAL_VERSION
    or not all((root / f).is_file() for f in m.get("files", {}))
  ):
    build_real_eval(root)
  return root
