"""Physical-plausibility metrics of joint sequences: foot skating, floor penetration, floating.

Input everywhere: joints ``[T, J, 3]`` in metres with +Y up and the floor at ``y = floor``
(0 for HumanML3D ``new_joints``, which are dropped so that the clip's lowest point is at 0), and
the frame rate. Foot joints are the t2m contact joints ``fid_l + fid_r = (7, 10, 8, 11)``
(ankles and feet) from :data:`motion_jax.skeletons.t2m.T2M`. Pure numpy; no learned parts.

Definitions (frame pairs ``t -> t+1``, ``t = 0 .. T-2``):

* **contact** of foot joint ``f`` at ``t``: ``|x_f[t+1] - x_f[t]|^2 < 0.002 m^2`` (HumanML3D's
  ``feet_thre``: the squared per-frame displacement at 20 fps, i.e. slower than 0.0447 m/frame =
  0.894 m/s) **and** ``y_f[t] - floor < 0.05 m`` (height below 5 cm). The height condition is ours;
  HumanML3D's contact label uses the velocity rule only.
* **foot skating** (m/s): the mean horizontal (xz) speed ``|dxz| * fps`` over all (t, f) in
  contact. NaN when there is no contact.
* **floor penetration** (m): per frame the depth ``max(0, floor - min_j y_j[t])`` of the lowest
  joint below the floor; reported as the mean over frames and the maximum.
* **floating** (m): per frame the height ``max(0, min_j y_j[t] - floor)`` of the lowest joint
  above the floor, mean over frames, and the fraction of frames where it exceeds 5 cm (airborne
  or floating; true flight phases count too, so compare clips of similar actions).
"""

from __future__ import annotations

import numpy as np

from motion_jax.skeletons.t2m import T2M

FOOT_JOINTS = tuple(T2M.fid_l) + tuple(T2M.fid_r)  # (7, 10, 8, 11)
CONTACT_DISP2 = T2M.feet_thre  # 0.002 m^2 per frame (HumanML3D)
CONTACT_HEIGHT = 0.05  # m


def _check(joints) -> np.ndarray:
  joints = np.asarray(joints, np.float64)
  if joints.ndim != 3 or joints.shape[-1] != 3 or joints.shape[0] < 2:
    raise ValueError(f"joints must be [T>=2, J, 3], got {joints.shape}")
  if not np.isfinite(joints).all():
    raise ValueError("joints hold NaN/inf")
  return joints


def foot_contacts(
  joints,
  feet=FOOT_JOINTS,
  disp2_thresh: float = CONTACT_DISP2,
  height_thresh: float = CONTACT_HEIGHT,
  floor: float = 0.0,
) -> np.ndarray:
  """Contact mask ``[T-1, len(feet)]`` (see module docstring)."""
  x = _check(joints)[:, list(feet)]
  disp2 = np.sum((x[1:] - x[:-1]) ** 2, -1)
  return (disp2 < disp2_thresh) & (x[:-1, :, 1] - floor < height_thresh)


def foot_skating(
  joints, fps: float = 20.0, feet=FOOT_JOINTS, floor: float = 0.0, **contact_kwargs
) -> float:
  """Mean horizontal speed (m/s) of foot joints over contact frames; NaN without contact."""
  x = _check(joints)[:, list(feet)]
  c = foot_contacts(joints, feet, floor=floor, **contact_kwargs)
  speed = np.linalg.norm((x[1:] - x[:-1])[..., [0, 2]], axis=-1) * fps
  return float(speed[c].mean()) if c.any() else float("nan")


def floor_penetration(joints, floor: float = 0.0) -> tuple[float, float]:
  """(mean, max) over frames of the lowest joint's depth below the floor (m)."""
  low = _check(joints)[..., 1].min(-1)
  depth = np.maximum(floor - low, 0.0)
  return float(depth.mean()), float(depth.max())


def floating(joints, floor: float = 0.0, thresh: float = CONTACT_HEIGHT) -> tuple[float, float]:
  """(mean height of the lowest joint above the floor in m, fraction of frames above
  ``thresh``)."""
  low = _check(joints)[..., 1].min(-1)
  h = np.maximum(low - floor, 0.0)
  return float(h.mean()), float((h > thresh).mean())


def physics_metrics(joints, fps: float = 20.0, floor: float = 0.0) -> dict[str, float]:
  """All metrics of one clip: ``skate_mps``, ``contact_frac``, ``penetration_mean_m``,
  ``penetration_max_m``, ``float_mean_m``, ``float_frac``."""
  c = foot_contacts(joints, floor=floor)
  pen_mean, pen_max = floor_penetration(joints, floor)
  fl_mean, fl_frac = floating(joints, floor)
  return {
    "skate_mps": foot_skating(joints, fps, floor=floor),
    "contact_frac": float(c.mean()),
    "penetration_mean_m": pen_mean,
    "penetration_max_m": pen_max,
    "float_mean_m": fl_mean,
    "float_frac": fl_frac,
  }


def summarize(metrics: list[dict[str, float]]) -> dict[str, float]:
  """Mean of each metric over clips (NaN-skipping; ``penetration_max_m`` is the max)."""
  out = {}
  for k in metrics[0]:
    v = np.asarray([m[k] for m in metrics], np.float64)
    out[k] = float(np.nanmax(v)) if k.endswith("max_m") else float(np.nanmean(v))
  out["clips"] = len(metrics)
  return out
