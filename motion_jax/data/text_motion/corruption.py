"""Pose-estimator failure modes applied to clean joints, and the features a refiner sees.

Corruptions (pure numpy; clean t2m joints ``[T, 22, 3]`` in metres, +Y up, and an
``np.random.Generator`` in, corrupted joints out), amounts in `CorruptionConfig`:

* ``jitter``: i.i.d. Gaussian noise per frame, joint and axis, ``jitter_sigma`` = 1.5 cm
  (per-frame estimators' frame-to-frame noise; 1.5 cm is of the order of their MPJPE spread).
* ``foot_sliding``: the whole body drifts horizontally while the feet should stay planted. The
  drift velocity is white noise low-passed by a Gaussian of ``slide_smooth_frames`` (10 frames,
  0.5 s at 20 fps) per horizontal axis, rescaled so that its RMS speed over the clip is exactly
  ``slide_speed`` (0.10 m/s), and integrated from zero (frame 0 unmoved); y is unchanged.
* ``floor_offset``: the body shifted vertically by ``floor_offset`` (-5 cm: 5 cm into the
  floor). A constant offset leaves every second difference unchanged, so the corrupted input's
  acceleration error is exactly 0 and refinement cannot lower it; its MPJPE is exactly 50 mm.

Features for refinement (`to_features` / `from_features`): `humanml3d.joints_to_features` with
``retarget=False`` (the clips are already on the t2m skeleton, and retargeting would restore the
bone lengths jitter changes, i.e. remove part of the corruption before the refiner) and with its
floor step undone (the clip's minimum height added back to the root height and the RIC heights),
so a clip below the floor stays below it; origin and facing stay canonical (frame-0 root at the
origin facing +Z), the frame every HumanML3D clip lives in. ``T`` joint frames give ``T - 1``
feature frames. The round trip ``from_features(to_features(x))`` reproduces ``x[:-1]`` moved to
that canonical frame to float32 precision (tests/data/test_corruption.py measures < 1e-4 m on the
shipped HumanML3D clip).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from motion_jax.representations import humanml3d
from motion_jax.skeletons.t2m import T2M

KINDS = ("jitter", "foot_sliding", "floor_offset")
JOINTS = 22
RIC_HEIGHTS = slice(5, 4 + 3 * (JOINTS - 1), 3)  # y of joints 1..21 in the RIC block
ROOT_HEIGHT = 3


@dataclasses.dataclass(frozen=True)
class CorruptionConfig:
  """Amounts of the corruptions (see the module docstring)."""

  jitter_sigma: float = 0.015  # m, per frame, joint and axis
  slide_speed: float = 0.10  # m/s, RMS horizontal drift speed
  slide_smooth_frames: float = 10.0  # Gaussian low-pass sigma of the drift velocity, frames
  floor_offset: float = -0.05  # m, vertical shift (negative: into the floor)
  fps: float = 20.0  # HumanML3D

  def __post_init__(self):
    if self.jitter_sigma < 0 or self.slide_speed < 0 or self.slide_smooth_frames <= 0:
      raise ValueError(f"corruption amounts must be non-negative, got {self}")


def _check(joints: np.ndarray) -> np.ndarray:
  joints = np.asarray(joints, np.float64)
  if joints.ndim != 3 or joints.shape[1:] != (JOINTS, 3):
    raise ValueError(f"joints must be [T, {JOINTS}, 3], got {joints.shape}")
  return joints


def jitter(joints: np.ndarray, rng: np.random.Generator, sigma: float = 0.015) -> np.ndarray:
  """Adds i.i.d. N(0, sigma²) per frame, joint and axis (metres)."""
  joints = _check(joints)
  return joints + sigma * rng.standard_normal(joints.shape)


def _gaussian_lowpass(x: np.ndarray, sigma: float) -> np.ndarray:
  """Gaussian filter along axis 0 (truncated at 4 sigma, edge-replicate padding)."""
  r = int(4.0 * sigma + 0.5)
  k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
  k /= k.sum()
  padded = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)], axis=0)
  return np.stack([np.convolve(padded[:, i], k, mode="valid") for i in range(x.shape[1])], -1)


def slide_drift(
  frames: int, rng: np.random.Generator, speed: float, smooth_frames: float, fps: float
) -> np.ndarray:
  """``[T, 3]`` horizontal drift (y = 0) from 0 with RMS speed exactly ``speed`` m/s."""
  vel = _gaussian_lowpass(rng.standard_normal((frames - 1, 2)), smooth_frames)  # [T-1, 2]
  rms = np.sqrt((vel**2).sum(-1).mean())
  vel = vel * (speed / fps / max(rms, 1e-12))  # m/frame
  xz = np.concatenate([np.zeros((1, 2)), np.cumsum(vel, 0)], 0)
  return np.stack([xz[:, 0], np.zeros(frames), xz[:, 1]], -1)


def foot_sliding(
  joints: np.ndarray,
  rng: np.random.Generator,
  speed: float = 0.10,
  smooth_frames: float = 10.0,
  fps: float = 20.0,
) -> np.ndarray:
  """The whole body drifted horizontally by `slide_drift` (see the module docstring)."""
  joints = _check(joints)
  return joints + slide_drift(len(joints), rng, speed, smooth_frames, fps)[:, None]


def floor_offset(joints: np.ndarray, rng: np.random.Generator, offset: float = -0.05) -> np.ndarray:
  """The body shifted vertically by ``offset`` metres (``rng`` unused: deterministic)."""
  del rng
  return _check(joints) + np.asarray([0.0, offset, 0.0])


def corrupt(
  joints: np.ndarray, kind: str, cfg: CorruptionConfig, rng: np.random.Generator
) -> np.ndarray:
  """``joints`` corrupted by ``kind`` in `KINDS` with ``cfg``'s amount."""
  if kind == "jitter":
    return jitter(joints, rng, cfg.jitter_sigma)
  if kind == "foot_sliding":
    return foot_sliding(joints, rng, cfg.slide_speed, cfg.slide_smooth_frames, cfg.fps)
  if kind == "floor_offset":
    return floor_offset(joints, rng, cfg.floor_offset)
  raise ValueError(f"corruption kind must be one of {KINDS}, got {kind!r}")


def corrupt_clips(
  clips: list[np.ndarray], kind: str, cfg: CorruptionConfig, seed: int
) -> list[np.ndarray]:
  """Each clip ``i`` corrupted with ``default_rng([seed, KINDS.index(kind), i])``."""
  k = KINDS.index(kind) if kind in KINDS else -1
  return [corrupt(c, kind, cfg, np.random.default_rng([seed, k, i])) for i, c in enumerate(clips)]


def to_features(joints: np.ndarray) -> np.ndarray:
  """``[T, 22, 3]`` joints -> ``[T-1, 263]`` raw features, floor kept (module docstring)."""
  joints = _check(joints).astype(np.float32)
  feats = np.array(humanml3d.joints_to_features(joints, retarget=False), np.float32)
  floor = joints[..., 1].min()
  feats[:, ROOT_HEIGHT] += floor
  feats[:, RIC_HEIGHTS] += floor
  return feats


def canonical_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``(rotation [3, 3], origin [3])`` of the frame `to_features` puts ``joints`` in (steps 3-4
  of `humanml3d.joints_to_features`): origin the frame-0 root on the ground plane (x, 0, z), the
  yaw rotation taking the frame-0 forward Y x ((r_hip - l_hip) + (r_sdr - l_sdr)) to +Z."""
  x = _check(joints)
  r_hip, l_hip, sdr_r, sdr_l = T2M.face_joint_indx
  across = (x[0, r_hip] - x[0, l_hip]) + (x[0, sdr_r] - x[0, sdr_l])
  forward = np.cross([0.0, 1.0, 0.0], across / np.linalg.norm(across))
  fx, fz = forward[[0, 2]] / np.linalg.norm(forward[[0, 2]])
  rotation = np.asarray([[fz, 0.0, -fx], [0.0, 1.0, 0.0], [fx, 0.0, fz]])  # yaw: forward -> +Z
  return rotation, x[0, 0] * np.asarray([1.0, 0.0, 1.0])


def in_frame(joints: np.ndarray, frame: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
  """``joints`` expressed in ``frame`` (from `canonical_frame`): ``R (x - origin)``."""
  rotation, origin = frame
  return (_check(joints) - origin) @ rotation.T


def from_features(features: np.ndarray) -> np.ndarray:
  """``[T, 263]`` raw features -> ``[T, 22, 3]`` joints (`humanml3d.recover_from_ric`)."""
  return np.asarray(humanml3d.recover_from_ric(np.asarray(features, np.float32)), np.float64)


__all__ = [
  "KINDS",
  "CorruptionConfig",
  "canonical_frame",
  "corrupt",
  "corrupt_clips",
  "floor_offset",
  "foot_sliding",
  "from_features",
  "in_frame",
  "jitter",
  "slide_drift",
  "to_features",
]
