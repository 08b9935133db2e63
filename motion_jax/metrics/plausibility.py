"""Physical-plausibility metrics of generated motion as BioVAE reports them (Sec. IV-B, Table II).

Input: joints ``[T, J, 3]`` in metres, +Y up, floor at ``y = 0`` (HumanML3D's convention; the
t2m joints from ``recover_from_ric``), frame rate ``fps`` (HumanML3D 20, so Delta_t = 0.05 s).
Every column is "closer to the real data is better" (BioVAE: "as close as possible to the data
set"), so a table reports the real clips' row beside each generator's.

What the paper prints and what we compute. The per-frame formulas (eqs. 13-16) are written as
``exp(-||.||)``, which is 1 for a perfect frame, yet the paper's real-motion row reports
penetration 0.000 and smoothness 2.60: the tables cannot come from the printed forms. We compute
the per-frame quantities and report **frame ratios** (the share of frames with the artefact, as
ReinDiffuse and GMD count them) for skating, floating, penetration and clipping; the printed
``exp(-.)`` forms are available as ``*_exp`` keys. Choices (function arguments, listed in
`PlausibilityConfig`):

* **VC / AC (eq. 12)** per clip on Phi = the joint coordinates ``[T, 3J]``: the finite-difference
  velocity (AC: acceleration) of every coordinate, its real FFT over time, and the energy
  fractions ``e_low`` below ``band_low_hz`` and ``e_high`` at or above ``band_high_hz`` of the total
  spectral energy (summed over coordinates). ``VC = (1 - e_low - e_high) / (e_low + e_high)``: the
  printed formula with the norms read as energy fractions (with raw norms, ``1 - ||lo|| - ||hi||``
  has no scale), i.e. in-band over out-of-band energy. The band edges are in Hz (clips differ in
  length); the paper gives none. `band_edges` picks them from real clips' velocity spectrum: the
  frequencies below which ``low_q`` (0.5) and ``high_q`` (0.95) of the energy lies; experiments
  compute them from their own real evaluation clips and record them.
* **Speed (eq. 17)**: ``||X^i||_2 / Delta_t`` read as the displacement of each joint between
  consecutive frames over Delta_t (a position norm over a time step is not a speed), averaged over
  joints and frames, m/s.
* **Smoothness (eq. 18)**: ``|Xddot^i - Xddot^(i-1)| / Delta_t``, finite differences with
  Delta_t = 1/fps, the norm per joint, averaged over joints and frames: mean jerk, m/s^3.
* **Skating (eq. 13, GMD's thresholds)**: a foot joint (t2m ankles and feet, 7/10/8/11) skates at
  frame ``t`` when it is below ``contact_height`` (5 cm) at ``t`` and ``t+1``, its horizontal speed
  exceeds ``skate_speed`` (0.5 m/s) and so does its mean horizontal speed over a ``window``-frame
  (5) window centred on ``t``; the frame skates when any foot does; ratio over ``T-1`` frames.
* **Floating (eq. 14)**: the lowest joint above ``h_ground`` (5 cm): ratio of frames.
* **Ground penetration (eq. 15)**: the printed flag (lowest joint below ``h_ground``) holds on
  every standing frame, so we count frames whose lowest joint is below the floor by more than
  ``penetration_tolerance`` (default 1 mm, above float32 rounding of features -> joints: the real
  clips' floor is their lowest point, so their ratio is 0 as in the paper's HumanML3D row);
  ``penetration_depth_cm`` is the mean depth.
* **Foot clipping (eq. 16)**: the printed flag (feet *more* than 5 cm apart) contradicts the
  text ("the two feet are too close together"); we count frames where the left and right foot
  joints (and, separately, the ankles) come closer than ``clip_distance`` (5 cm).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from motion_jax.skeletons.t2m import T2M

LEFT_FOOT, RIGHT_FOOT = (T2M.fid_l[1], T2M.fid_r[1])  # 10, 11 (t2m L_Foot, R_Foot)
LEFT_ANKLE, RIGHT_ANKLE = (T2M.fid_l[0], T2M.fid_r[0])  # 7, 8
FOOT_JOINTS = tuple(T2M.fid_l) + tuple(T2M.fid_r)

#: Column order of the plausibility table (BioVAE Table II) and the keys of `clip_metrics`.
COLUMNS = ("vc", "ac", "speed", "smoothness", "float", "skating", "penetration", "clip")
LABELS = {
  "vc": "VC",
  "ac": "AC",
  "speed": "Speed (m/s)",
  "smoothness": "Smooth (m/s³)",
  "float": "Float",
  "skating": "Skating",
  "penetration": "Penetrate",
  "clip": "Clip",
}


@dataclasses.dataclass(frozen=True)
class PlausibilityConfig:
  """Thresholds of the metrics (module docstring). BioVAE: h_ground 5 cm, clip 5 cm; GMD:
  contact height 5 cm, 0.5 m/s, 5-frame window. Band edges: ours (`band_edges`)."""

  fps: float = 20.0
  h_ground: float = 0.05
  contact_height: float = 0.05
  skate_speed: float = 0.5
  window: int = 5
  penetration_tolerance: float = 0.001
  clip_distance: float = 0.05
  band_low_hz: float = 1.0
  band_high_hz: float = 4.0

  def __post_init__(self):
    if not 0 < self.band_low_hz < self.band_high_hz:
      raise ValueError(
        f"band edges must satisfy 0 < low < high, got {self.band_low_hz}, {self.band_high_hz}"
      )
    if self.fps <= 0 or self.window < 1:
      raise ValueError(f"fps must be > 0 and window >= 1, got {self.fps}, {self.window}")


def _check(joints, min_frames: int = 4) -> np.ndarray:
  x = np.asarray(joints, np.float64)
  if x.ndim != 3 or x.shape[-1] != 3 or x.shape[0] < min_frames:
    raise ValueError(f"joints must be [T>={min_frames}, J, 3], got {x.shape}")
  if not np.isfinite(x).all():
    raise ValueError("joints hold NaN/inf")
  return x


def _spectrum(signal: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
  """(frequencies in Hz, energy per frequency summed over channels) of ``signal [T, C]``."""
  f = np.fft.rfftfreq(signal.shape[0], d=1.0 / fps)
  e = (np.abs(np.fft.rfft(signal, axis=0)) ** 2).sum(-1)
  return f, e


def spectral_consistency(signal, fps: float, low_hz: float, high_hz: float) -> float:
  """BioVAE eq. 12 on ``signal [T, C]`` (velocity: VC, acceleration: AC): in-band over
  out-of-band spectral energy (module docstring). NaN for a signal with no energy."""
  f, e = _spectrum(np.asarray(signal, np.float64), fps)
  total = e.sum()
  if total <= 0:
    return float("nan")
  out = (e[f < low_hz].sum() + e[f >= high_hz].sum()) / total
  return float((1.0 - out) / out) if out > 0 else float("inf")


def band_edges(
  clips: Sequence[np.ndarray], fps: float = 20.0, low_q: float = 0.5, high_q: float = 0.95
) -> tuple[float, float]:
  """Band edges (Hz) from real clips: the frequencies below which ``low_q`` and ``high_q`` of
  the pooled velocity energy lies (each clip's spectrum on its own frequency grid, pooled by
  frequency)."""
  freqs, energy = [], []
  for j in clips:
    x = _check(j)
    v = np.diff(x.reshape(len(x), -1), axis=0) * fps
    f, e = _spectrum(v, fps)
    freqs.append(f)
    energy.append(e / e.sum() if e.sum() > 0 else e)
  f, e = np.concatenate(freqs), np.concatenate(energy)
  order = np.argsort(f, kind="stable")
  f, c = f[order], np.cumsum(e[order]) / e.sum()
  low = float(f[np.searchsorted(c, low_q)])
  high = float(f[np.searchsorted(c, high_q)])
  nyquist = fps / 2
  low = min(max(low, fps / 64), nyquist / 2)
  high = min(max(high, low * 1.5), nyquist)
  return low, high


def skating_frames(joints, cfg: PlausibilityConfig = PlausibilityConfig()) -> np.ndarray:
  """``[T-1]`` bool: a foot joint skates at t (module docstring; GMD's rule)."""
  x = _check(joints)[:, list(FOOT_JOINTS)]
  low = x[..., 1] < cfg.contact_height
  contact = low[:-1] & low[1:]  # [T-1, F]
  speed = np.linalg.norm((x[1:] - x[:-1])[..., [0, 2]], axis=-1) * cfg.fps  # [T-1, F]
  k = np.ones(cfg.window) / cfg.window
  avg = np.stack([np.convolve(speed[:, i], k, mode="same") for i in range(speed.shape[1])], -1)
  return (contact & (speed > cfg.skate_speed) & (avg > cfg.skate_speed)).any(-1)


def clip_metrics(joints, cfg: PlausibilityConfig = PlausibilityConfig()) -> dict[str, float]:
  """Every column of one clip (BioVAE eqs. 12-18 in the forms of the module docstring), with the
  per-frame means behind the ratios and the printed exp(-.) forms."""
  x = _check(joints)
  dt = 1.0 / cfg.fps
  flat = x.reshape(len(x), -1)
  vel = np.diff(flat, axis=0) / dt
  acc = np.diff(flat, n=2, axis=0) / dt**2
  v_j = np.diff(x, axis=0) / dt  # [T-1, J, 3]
  a_j = np.diff(x, n=2, axis=0) / dt**2
  jerk = np.linalg.norm(np.diff(a_j, axis=0), axis=-1) / dt  # eq. 18
  low = x[..., 1].min(-1)  # lowest joint per frame
  above = low - cfg.h_ground
  depth = np.maximum(-low, 0.0)
  pen = depth > cfg.penetration_tolerance
  feet = np.linalg.norm(x[:, LEFT_FOOT] - x[:, RIGHT_FOOT], axis=-1)
  ankles = np.linalg.norm(x[:, LEFT_ANKLE] - x[:, RIGHT_ANKLE], axis=-1)
  clip = (feet < cfg.clip_distance) | (ankles < cfg.clip_distance)
  skate = skating_frames(x, cfg)
  foot_v = np.linalg.norm(np.diff(x[:, list(FOOT_JOINTS)], axis=0), axis=-1).max(-1) / dt
  return {
    "vc": spectral_consistency(vel, cfg.fps, cfg.band_low_hz, cfg.band_high_hz),
    "ac": spectral_consistency(acc, cfg.fps, cfg.band_low_hz, cfg.band_high_hz),
    "speed": float(np.linalg.norm(v_j, axis=-1).mean()),
    "smoothness": float(jerk.mean()),
    "float": float((above > 0).mean()),
    "skating": float(skate.mean()),
    "penetration": float(pen.mean()),
    "clip": float(clip.mean()),
    "float_height_cm": float(100 * np.maximum(above, 0).mean()),
    "penetration_depth_cm": float(100 * depth.mean()),
    "float_exp": float(np.exp(-np.maximum(above, 0)).mean()),  # eq. 14 as printed
    "penetration_exp": float(np.exp(-np.maximum(-above, 0)).mean()),  # eq. 15 as printed
    "skating_exp": float(np.exp(-foot_v * skate).mean()),  # eq. 13 as printed
    "clip_exp": float(np.exp(-feet * (feet > cfg.clip_distance)).mean()),  # eq. 16 as printed
  }


def set_metrics(
  clips: Sequence[np.ndarray], cfg: PlausibilityConfig = PlausibilityConfig()
) -> dict[str, dict[str, float]]:
  """Mean ± std over clips of each `clip_metrics` key: ``{key: {"mean", "std"}}`` (NaN-skipping;
  ``clips`` counts them)."""
  rows = [clip_metrics(j, cfg) for j in clips]
  out = {}
  for k in rows[0]:
    v = np.asarray([r[k] for r in rows], np.float64)
    v = v[np.isfinite(v)]
    out[k] = {
      "mean": float(v.mean()) if len(v) else float("nan"),
      "std": float(v.std()) if len(v) else float("nan"),
    }
  out["clips"] = {"mean": float(len(rows)), "std": 0.0}
  return out


def gap_to_real(row: dict, real: dict, key: str) -> float:
  """|row - real| of one column's mean ("closer to the real data is better")."""
  return abs(row[key]["mean"] - real[key]["mean"])


__all__ = [
  "COLUMNS",
  "LABELS",
  "PlausibilityConfig",
  "band_edges",
  "clip_metrics",
  "gap_to_real",
  "set_metrics",
  "skating_frames",
  "spectral_consistency",
]
