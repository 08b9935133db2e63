"""BIGE evaluation metrics (paper Tables 2 and 3), every definition in one place.

Inputs are plain numpy arrays: coordinates `q` [N, T, 33] in BIGE's layout (degrees / metres),
activations `a` [N, T, 80] in BIGE's muscle order, joint centres `joints` [N, T, J, 3] (y up,
metres), at `fps` frames per second. K^trans, the paper's "COM", is the pelvis translation
(pelvis_tx/ty/tz); `translation="whole_body"` uses the model's whole-body centre of mass instead.
Where the paper's definition and the public code's (Rose-STL-Lab/UCSD-OpenCap-Fitness-Dataset)
differ, the paper's is the default and the code's is `form="code"`.

Table 2 (realism and floor; Reference = held-out motions)
  fidelity        BIGE eq. 5, reported squared as the paper's table: W2^2 = (mu_r - mu_g)^2 +
                  (sigma_r - sigma_g)^2 of the one-dimensional distributions of every value of a
                  motion (degrees and metres pooled, as the code does). Per generated sample
                  against the pooled reference set, then mean +- std over samples (the paper
                  prints +-). `fidelity_set` is the same form with the generated set pooled (the
                  code's calculate_wasserstein.py); `fidelity_w2_gauss` is ours, not the paper's:
                  the 2-Wasserstein distance between Gaussian fits of the 33-dim per-frame pose
                  distributions, standardised by the reference's per-coordinate std.
  diversity       the Shannon entropy H (nats) of a sample's 10-bin density histogram of its
                  flattened values, mean +- std over samples: Table 2's column holds H (Reference
                  1.736). `diversity_gap` = |H_real - H_gen|, the text's D.
  penetration_cm, floating_cm
                  per frame h = lowest joint height - ground, ground = the median over the set
                  of the per-frame lowest joint height (the paper); max(-h, 0) and max(h, 0), each
                  zeroed below 1 cm (the code), mean over frames, in cm (the paper's unit).
  sliding         |displacement| of the lowest joint to the next frame x fps on frames in contact
                  (floating below 1 cm), mean over the T-1 transitions, m/s (the paper's unit).
Table 3 (per sample, then mean +- std over samples)
  pelvis_tilt     the signed pelvis tilt (deg) at the frame of peak vastus medialis activation
                  (the side with the higher peak; Table 1 and the code).
  asymmetry       paper: mean over frames of the sum over the hip/knee/ankle flexion pairs of
                  |left - right| (deg); code: RMS of left - right over frames and pairs.
  angular_velocity  paper: mean over frames of the sum over `FLEXIONS` (pelvis tilt and the six
                  leg flexions; Table 1 says "joint angles") of |d theta / dt| (deg/s); code: RMS
                  of fps x the first difference over frames and those angles.
  com_velocity    paper: mean |d K^trans / dt| (m/s); code: RMS of the same speeds.
  com_acceleration  paper: mean |Laplacian K^trans| x fps^2 (kernel [1, -2, 1], m/s^2); code: RMS.
  constraint      mean over the two vastus medialis muscles of max(a_peak - high, low - a_peak,
                  0), a_peak = max over time ([low, high] = [0.35, 0.45] unless set);
                  `constraint_satisfied` = fraction of samples with both muscles in range.
                  Lower is better (`LOWER_IS_BETTER`), not "closer to the reference".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from motion_jax.skeletons.opencap import (
  BIGE_COORDINATES,
  BIGE_FLEXIONS,
  BIGE_LEG_PAIRS,
  BIGE_MUSCLES,
)

FOOT_THRESHOLD = 0.01
ACTIVATION_RANGE = (0.35, 0.45)
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
SYMMETRIC_PAIRS = BIGE_LEG_PAIRS
FLEXIONS = BIGE_FLEXIONS
FORMS = ("paper", "code")
TABLE2 = (
  "fidelity",
  "fidelity_set",
  "fidelity_w2_gauss",
  "diversity",
  "diversity_gap",
  "penetration_cm",
  "floating_cm",
  "sliding",
)
#: Table-3 metrics where lower is better rather than closer to the reference: the reference's
#: own violation of a range set for the generated squats is not a target.
LOWER_IS_BETTER = ("constraint",)
TABLE3 = (
  "pelvis_tilt",
  "asymmetry",
  "angular_velocity",
  "com_velocity",
  "com_acceleration",
  "constraint",
)


def _idx(names: Sequence[str], layout: Sequence[str] = BIGE_COORDINATES) -> list[int]:
  return [layout.index(n) for n in names]


# ------------------------------------------------------------------------------------ Table 2


def fidelity_w2_gauss(real_q: np.ndarray, gen_q: np.ndarray) -> float:
  """Gaussian closed-form 2-Wasserstein between per-frame pose distributions (see module doc)."""
  real = real_q.reshape(-1, real_q.shape[-1]).astype(np.float64)
  gen = gen_q.reshape(-1, gen_q.shape[-1]).astype(np.float64)
  scale = np.maximum(real.std(0), 1e-6)
  real, gen = real / scale, gen / scale
  mu_r, mu_g = real.mean(0), gen.mean(0)
  s_r, s_g = np.cov(real, rowvar=False), np.cov(gen, rowvar=False)

  # tr sqrt(S_r^1/2 S_g S_r^1/2) = nuclear norm of S_g^1/2 S_r^1/2 (its singular values are the
  # square roots of that matrix's eigenvalues). The covariances of squat motions are
  # ill-conditioned; square roots of eigenvalues near zero amplify rounding (sqrtm / eigvalsh gave
  # W2 ~ 5e-4 between a set and itself), whereas SVD gets the singular values to rounding level in
  # absolute terms.
  def psd_root(c):
    lam, vec = np.linalg.eigh(c)
    return (vec * np.sqrt(np.clip(lam, 0.0, None))) @ vec.T

  cross = np.linalg.svd(psd_root(s_g) @ psd_root(s_r), compute_uv=False).sum()
  w2_sq = np.sum((mu_r - mu_g) ** 2) + np.trace(s_r) + np.trace(s_g) - 2.0 * cross
  return float(np.sqrt(max(w2_sq, 0.0)))


def fidelity_pooled(real_q: np.ndarray, gen_q: np.ndarray) -> float:
  """BIGE eq. 5, squared, between every value of `real_q` and every value of `gen_q` pooled."""
  real, gen = np.asarray(real_q, np.float64), np.asarray(gen_q, np.float64)
  return float((real.mean() - gen.mean()) ** 2 + (real.std() - gen.std()) ** 2)


def fidelity_per_sample(real_q: np.ndarray, gen_q: np.ndarray) -> np.ndarray:
  """BIGE eq. 5, squared, of each generated sample [N, ...] against the pooled reference -> [N]."""
  real = np.asarray(real_q, np.float64)
  gen = np.asarray(gen_q, np.float64).reshape(len(gen_q), -1)
  return (real.mean() - gen.mean(1)) ** 2 + (real.std() - gen.std(1)) ** 2


def sample_entropies(x: np.ndarray, bins: int = 10) -> np.ndarray:
  """Shannon entropy (nats) of each sample's 10-bin density histogram. x [N, ...] -> [N]."""
  out = []
  for sample in x.reshape(len(x), -1):
    hist, _ = np.histogram(sample, bins=bins, density=True)
    p = hist + np.finfo(float).eps
    p = p / p.sum()
    out.append(-np.sum(p * np.log(p)))
  return np.asarray(out)


def foot_metrics(
  joints: np.ndarray, ground: float | None = None, threshold: float = FOOT_THRESHOLD
) -> dict[str, np.ndarray]:
  """Per-sample penetration / floating / sliding, per-frame means in mm. joints [N, T, J, 3]."""
  heights = joints[..., 1]  # [N, T, J]
  lowest = heights.min(-1)  # [N, T]
  ground = float(np.median(lowest)) if ground is None else ground
  h = lowest - ground
  pen = np.maximum(-h, 0.0)
  pen = np.where(pen < threshold, 0.0, pen)
  flo = np.maximum(h, 0.0)
  flo = np.where(flo < threshold, 0.0, flo)
  idx = heights.argmin(-1)  # [N, T]
  n, t = idx.shape
  rows, cols = np.arange(n)[:, None], np.arange(t - 1)[None, :]
  now = joints[rows, cols, idx[:, :-1]]  # [N, T-1, 3]
  nxt = joints[rows, cols + 1, idx[:, :-1]]
  slide = np.linalg.norm(nxt - now, axis=-1)
  contact = flo[:, :-1] < threshold
  slide = np.where(contact, slide, 0.0)
  return {
    "penetration_mm": 1000 * pen.mean(1),
    "floating_mm": 1000 * flo.mean(1),
    "sliding_mm": 1000 * slide.mean(1),
    "ground_m": np.full(n, ground),
  }


def floor_metrics(joints: np.ndarray, fps: float, ground: float | None = None) -> dict:
  """Table 2's floor columns in the paper's units: penetration / floating (cm), sliding (m/s)."""
  mm = foot_metrics(joints, ground)
  return {
    "penetration_cm": mm["penetration_mm"] / 10.0,
    "floating_cm": mm["floating_mm"] / 10.0,
    "sliding": mm["sliding_mm"] / 1000.0 * fps,
  }


# ------------------------------------------------------------------------------------ Table 3


def vasmed_activation(a: np.ndarray) -> np.ndarray:
  """[N, T, 2] vastus medialis activations (left, right)."""
  return a[..., _idx(("vasmed_l", "vasmed_r"), BIGE_MUSCLES)]


def pelvis_tilt(q: np.ndarray, a: np.ndarray) -> np.ndarray:
  """Signed pelvis tilt (deg) at the frame of peak vasmed activation (the side with the higher
  peak) -> [N]."""
  frame = vasmed_activation(a).max(-1).argmax(-1)
  return q[np.arange(len(q)), frame, BIGE_COORDINATES.index("pelvis_tilt")]


def _check_form(form: str) -> None:
  if form not in FORMS:
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def _rms(x: np.ndarray, axes) -> np.ndarray:
  return np.sqrt(np.mean(np.square(x), axes))


def asymmetry(q: np.ndarray, form: str = "paper") -> np.ndarray:
  """Left-right difference of the hip / knee / ankle flexions (deg) -> [N] (module docstring)."""
  _check_form(form)
  d = (
    q[..., _idx([lf for lf, _ in SYMMETRIC_PAIRS])] - q[..., _idx([r for _, r in SYMMETRIC_PAIRS])]
  )
  return np.abs(d).sum(-1).mean(-1) if form == "paper" else _rms(d, (1, 2))


def angular_velocity(q: np.ndarray, fps: float, form: str = "paper") -> np.ndarray:
  """Angular speed of the FLEXIONS (deg/s) -> [N] (module docstring)."""
  _check_form(form)
  w = np.diff(q[..., _idx(FLEXIONS)], axis=1) * fps
  return np.abs(w).sum(-1).mean(-1) if form == "paper" else _rms(w, (1, 2))


def com_velocity(trans: np.ndarray, fps: float, form: str = "paper") -> np.ndarray:
  """Speed of K^trans [N, T, 3] (m/s) -> [N]."""
  _check_form(form)
  v = np.linalg.norm(np.diff(trans, axis=1) * fps, axis=-1)
  return v.mean(1) if form == "paper" else _rms(v, 1)


def com_acceleration(trans: np.ndarray, fps: float, form: str = "paper") -> np.ndarray:
  """|Laplacian of K^trans| x fps^2 (m/s^2) -> [N]."""
  _check_form(form)
  lap = trans[:, 2:] - 2 * trans[:, 1:-1] + trans[:, :-2]
  acc = np.linalg.norm(lap * fps**2, axis=-1)
  return acc.mean(1) if form == "paper" else _rms(acc, 1)


def pelvis_translation(q: np.ndarray) -> np.ndarray:
  """K^trans: the pelvis translation [N, T, 3] (m)."""
  return q[..., _idx(TRANSLATIONS)]


def activation_constraint(
  a: np.ndarray, low: float = ACTIVATION_RANGE[0], high: float = ACTIVATION_RANGE[1]
) -> tuple[np.ndarray, np.ndarray]:
  """(per-sample violation, per-sample satisfied flag) of the peak vasmed activation range."""
  peak = vasmed_activation(a).max(1)  # [N, 2]
  violation = np.maximum(np.maximum(peak - high, low - peak), 0.0)
  return violation.mean(-1), np.all(violation == 0, axis=-1)


# ------------------------------------------------------------------------------------ tables


def per_sample_table3(
  q, a, fps, trans=None, form: str = "paper", activation_range=ACTIVATION_RANGE
) -> dict[str, np.ndarray]:
  """Table 3 per sample; `trans` defaults to the pelvis translation of q."""
  trans = pelvis_translation(q) if trans is None else trans
  violation, satisfied = activation_constraint(a, *activation_range)
  return {
    "pelvis_tilt": pelvis_tilt(q, a),
    "asymmetry": asymmetry(q, form),
    "angular_velocity": angular_velocity(q, fps, form),
    "com_velocity": com_velocity(trans, fps, form),
    "com_acceleration": com_acceleration(trans, fps, form),
    "constraint": violation,
    "constraint_satisfied": satisfied.astype(np.float64),
  }


def evaluate_set(
  q,
  a,
  joints,
  fps,
  reference_q=None,
  *,
  com=None,
  translation: str = "pelvis",
  form: str = "paper",
  activation_range=ACTIVATION_RANGE,
  ground: float | None = None,
) -> dict[str, dict[str, float]]:
  """All metrics of one set of motions, as {metric: {'mean', 'std'}} (std over samples; 0 for
  set-level values). `com` [N, T, 3] is needed with translation='whole_body'."""
  if translation not in ("pelvis", "whole_body"):
    raise ValueError(f"translation must be 'pelvis' or 'whole_body', got {translation!r}")
  trans = com if translation == "whole_body" else None
  rows = per_sample_table3(q, a, fps, trans, form, activation_range)
  rows.update(floor_metrics(joints, fps, ground))
  h_gen = sample_entropies(q)
  rows["diversity"] = h_gen
  out = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in rows.items()}
  if reference_q is not None:
    h_real = sample_entropies(reference_q)
    out["diversity_gap"] = {"mean": float(abs(h_real.mean() - h_gen.mean())), "std": 0.0}
    fid = fidelity_per_sample(reference_q, q)
    out["fidelity"] = {"mean": float(fid.mean()), "std": float(fid.std())}
    out["fidelity_set"] = {"mean": fidelity_pooled(reference_q, q), "std": 0.0}
    out["fidelity_w2_gauss"] = {"mean": fidelity_w2_gauss(reference_q, q), "std": 0.0}
  return out


def gain(reference: float, a: float, b: float, metric: str) -> float:
  """How much better set a's value is than set b's on `metric` (> 0: a better): for the
  constraint violation (lower is better, `LOWER_IS_BETTER`) b - a; for every other Table-3 metric
  (closer to the reference is better) |b - ref| - |a - ref|."""
  if metric in LOWER_IS_BETTER:
    return b - a
  return abs(b - reference) - abs(a - reference)


def closer_to_reference(
  reference: Mapping[str, Mapping[str, float]],
  a: Mapping[str, Mapping[str, float]],
  b: Mapping[str, Mapping[str, float]],
  metrics: Sequence[str] = TABLE3,
) -> dict[str, bool]:
  """For each metric: is set `a`'s mean better than set `b`'s (`gain` > 0)?"""
  return {m: gain(reference[m]["mean"], a[m]["mean"], b[m]["mean"], m) > 0 for m in metrics}


def kinematics(osim, q_deg: np.ndarray, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
  """Joint centres [N, T, J, 3] and whole-body COM [N, T, 3] of BIGE-layout motions (deg/m),
  through the model's JAX forward kinematics."""
  import jax
  import jax.numpy as jnp

  from motion_jax.skeletons import opensim_fk

  rot = np.array([n not in TRANSLATIONS for n in BIGE_COORDINATES])
  fk = opensim_fk.make_fk(osim, BIGE_COORDINATES)

  @jax.jit
  def fn(q):
    r = fk(jnp.where(rot, jnp.deg2rad(q), q))
    return r.joint_centers, opensim_fk.center_of_mass(r, osim)

  return opensim_fk.in_batches(fn, q_deg, batch)  # one compiled shape
