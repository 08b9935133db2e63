"""BIGE evaluation metrics (paper Tables 2 and 3), defined in one place.

Inputs are plain numpy arrays: coordinates `q` [N, T, 33] in BIGE's layout (degrees / metres),
activations `a` [N, T, 80] in BIGE's muscle order, joint centres `joints` [N, T, J, 3] (y up,
metres) and whole-body centre of mass `com` [N, T, 3], all at `fps` frames per second.

Table 2 (distribution-level; Reference = held-out real/simulated motions)
  fidelity_w2          2-Wasserstein distance between Gaussian fits of the per-frame pose
                       distributions (33-dim, standardised by the reference's per-coordinate std):
                       W2^2 = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2).
                       This is our reading of the paper's closed-form Gaussian W2.
  fidelity_w2_pooled   the public code's variant (calculate_wasserstein.py): every value of every
                       sample pooled into one scalar distribution, reported *squared*:
                       (mu_r - mu_g)^2 + (sigma_r - sigma_g)^2 (raw units, degrees and metres
                       mixed).
  diversity            |H_real - H_gen|, H = mean over samples of the Shannon entropy (nats) of a
                       10-bin density histogram of the sample's flattened values (paper); the code
                       reports H_gen alone, also returned as `entropy_gen`.
  penetration, floating, sliding
                       per frame: h = lowest joint height - ground, ground = median over the set of
                       the per-frame minimum joint height (the paper's choice; the code's default
                       is 0). penetration = max(-h, 0), floating = max(h, 0), each zeroed below the
                       0.01 m threshold; sliding = displacement of the lowest joint to the next
                       frame on frames in contact (floating < threshold). We report per-frame means
                       in mm (the code sums over frames and averages over samples: ours x T / 1000).
Table 3 (per sample, then mean +- std over samples)
  pelvis_tilt_at_peak  |pelvis_tilt| (deg) at the frame of peak vastus medialis activation
                       (mean of left and right)
  asymmetry            mean |left - right| (deg) of hip flexion, knee angle and ankle angle
  angular_velocity     mean |dq/dt| (deg/s) over the rotational coordinates
  com_velocity         mean |d COM/dt| (m/s)
  com_acceleration     mean |Laplacian of COM| * fps^2 (m/s^2), Laplacian kernel [1, -2, 1]
  constraint           mean over the two vasmed muscles of max(a_peak - high, low - a_peak, 0),
                       a_peak = max over time, [low, high] = [0.35, 0.45]; `constraint_satisfied`
                       is the fraction of samples with both muscles inside the range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES

FOOT_THRESHOLD = 0.01
ACTIVATION_RANGE = (0.35, 0.45)
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
SYMMETRIC_PAIRS = (
  ("hip_flexion_l", "hip_flexion_r"),
  ("knee_angle_l", "knee_angle_r"),
  ("ankle_angle_l", "ankle_angle_r"),
)
TABLE2 = (
  "fidelity_w2",
  "fidelity_w2_pooled",
  "diversity",
  "entropy_gen",
  "penetration_mm",
  "floating_mm",
  "sliding_mm",
)
TABLE3 = (
  "pelvis_tilt_at_peak",
  "asymmetry",
  "angular_velocity",
  "com_velocity",
  "com_acceleration",
  "constraint",
)


def _idx(names: Sequence[str], layout: Sequence[str] = BIGE_COORDINATES) -> list[int]:
  return [layout.index(n) for n in names]


# ------------------------------------------------------------------------------------ Table 2


def fidelity_w2(real_q: np.ndarray, gen_q: np.ndarray) -> float:
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


def fidelity_w2_pooled(real_q: np.ndarray, gen_q: np.ndarray) -> float:
  """The public code's pooled, squared variant (see module doc)."""
  return float((real_q.mean() - gen_q.mean()) ** 2 + (real_q.std() - gen_q.std()) ** 2)


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


# ------------------------------------------------------------------------------------ Table 3


def vasmed_activation(a: np.ndarray) -> np.ndarray:
  """[N, T, 2] vastus medialis activations (left, right)."""
  return a[..., _idx(("vasmed_l", "vasmed_r"), BIGE_MUSCLES)]


def pelvis_tilt_at_peak(q: np.ndarray, a: np.ndarray) -> np.ndarray:
  peak = vasmed_activation(a).mean(-1).argmax(-1)  # [N]
  tilt = q[..., BIGE_COORDINATES.index("pelvis_tilt")]
  return np.abs(tilt[np.arange(len(q)), peak])


def asymmetry(q: np.ndarray) -> np.ndarray:
  left = q[..., _idx([lf for lf, _ in SYMMETRIC_PAIRS])]
  right = q[..., _idx([r for _, r in SYMMETRIC_PAIRS])]
  return np.abs(left - right).mean((1, 2))


def angular_velocity(q: np.ndarray, fps: float) -> np.ndarray:
  rot = [i for i, n in enumerate(BIGE_COORDINATES) if n not in TRANSLATIONS]
  return np.abs(np.diff(q[..., rot], axis=1) * fps).mean((1, 2))


def com_velocity(com: np.ndarray, fps: float) -> np.ndarray:
  return np.linalg.norm(np.diff(com, axis=1) * fps, axis=-1).mean(1)


def com_acceleration(com: np.ndarray, fps: float) -> np.ndarray:
  lap = com[:, 2:] - 2 * com[:, 1:-1] + com[:, :-2]
  return np.linalg.norm(lap * fps**2, axis=-1).mean(1)


def activation_constraint(
  a: np.ndarray, low: float = ACTIVATION_RANGE[0], high: float = ACTIVATION_RANGE[1]
) -> tuple[np.ndarray, np.ndarray]:
  """(per-sample violation, per-sample satisfied flag) of the peak vasmed activation range."""
  peak = vasmed_activation(a).max(1)  # [N, 2]
  violation = np.maximum(np.maximum(peak - high, low - peak), 0.0)
  return violation.mean(-1), np.all(violation == 0, axis=-1)


# ------------------------------------------------------------------------------------ tables


def per_sample_table3(q, a, com, fps) -> dict[str, np.ndarray]:
  violation, satisfied = activation_constraint(a)
  return {
    "pelvis_tilt_at_peak": pelvis_tilt_at_peak(q, a),
    "asymmetry": asymmetry(q),
    "angular_velocity": angular_velocity(q, fps),
    "com_velocity": com_velocity(com, fps),
    "com_acceleration": com_acceleration(com, fps),
    "constraint": violation,
    "constraint_satisfied": satisfied.astype(np.float64),
  }


def evaluate_set(q, a, joints, com, fps, reference_q=None) -> dict[str, dict[str, float]]:
  """All metrics of one set of motions, as {metric: {'mean', 'std'}}."""
  rows = per_sample_table3(q, a, com, fps)
  rows.update(foot_metrics(joints))
  out = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in rows.items()}
  h_gen = sample_entropies(q)
  out["entropy_gen"] = {"mean": float(h_gen.mean()), "std": float(h_gen.std())}
  if reference_q is not None:
    h_real = sample_entropies(reference_q)
    out["diversity"] = {"mean": float(abs(h_real.mean() - h_gen.mean())), "std": 0.0}
    out["fidelity_w2"] = {"mean": fidelity_w2(reference_q, q), "std": 0.0}
    out["fidelity_w2_pooled"] = {"mean": fidelity_w2_pooled(reference_q, q), "std": 0.0}
  return out


def closer_to_reference(
  reference: Mapping[str, Mapping[str, float]],
  a: Mapping[str, Mapping[str, float]],
  b: Mapping[str, Mapping[str, float]],
  metrics: Sequence[str] = TABLE3,
) -> dict[str, bool]:
  """For each metric: is set `a`'s mean closer to the reference's mean than set `b`'s?"""
  return {
    m: abs(a[m]["mean"] - reference[m]["mean"]) < abs(b[m]["mean"] - reference[m]["mean"])
    for m in metrics
  }


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

  joints, com = [], []
  for i in range(0, len(q_deg), batch):
    j, c = fn(jnp.asarray(q_deg[i : i + batch], jnp.float32))
    joints.append(np.asarray(j))
    com.append(np.asarray(c))
  return np.concatenate(joints), np.concatenate(com)
