"""Estimation errors against analytic cases and an independent Procrustes (scipy)."""

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from motion_jax.metrics import estimation

T, J = 30, 22


def _clip(seed=0):
  return np.random.default_rng(seed).normal(0.0, 0.3, (T, J, 3))


def test_similarity_copy_has_zero_pa_mpjpe_but_positive_mpjpe():
  gt = _clip()
  rots = Rotation.random(T, random_state=1).as_matrix()  # a different rotation per frame
  pred = 1.3 * np.einsum("tij,tkj->tki", rots, gt) + np.array([0.5, -0.2, 1.0])
  assert estimation.pa_mpjpe(pred, gt) < 1e-6
  assert estimation.mpjpe(pred, gt) > 100.0


def test_mpjpe_of_a_constant_offset_and_root_alignment():
  gt = _clip()
  pred = gt + np.array([0.03, 0.0, 0.04])  # 5 cm
  assert estimation.mpjpe(pred, gt) == pytest.approx(50.0)
  assert estimation.mpjpe(pred, gt, align_root=True) == pytest.approx(0.0, abs=1e-9)
  assert estimation.accel_error(pred, gt, fps=20.0) == pytest.approx(0.0, abs=1e-9)


def test_accel_error_of_a_sinusoid_matches_the_analytic_value():
  """pred - gt = A sin(w t) along x: |Δ²| fps² -> A w² |sin(w t)|, mean over a whole number
  of periods 2 A w² / pi; the central difference gives (2 - 2 cos(w dt)) / dt², which is
  w² (1 - (w dt)² / 12) to leading order."""
  fps, amp, freq = 20.0, 0.02, 1.0  # 2 cm at 1 Hz
  t = np.arange(int(10 * fps) + 2) / fps  # 10 periods and the two end frames
  gt = np.zeros((len(t), J, 3))
  pred = gt.copy()
  pred[..., 0] = amp * np.sin(2 * np.pi * freq * t)[:, None]
  w = 2 * np.pi * freq
  analytic = 2 * amp * w**2 / np.pi  # 0.503 m/s²
  got = estimation.accel_error(pred, gt, fps)
  assert got == pytest.approx(analytic, rel=0.02)  # discretisation: (w dt)² / 12 = 0.8%
  exact_discrete = amp * (2 - 2 * np.cos(w / fps)) * fps**2 * np.abs(np.sin(w * t[1:-1])).mean()
  assert got == pytest.approx(exact_discrete, rel=1e-9)


def test_pa_mpjpe_matches_scipy_orthogonal_procrustes():
  gt = _clip(2)
  rots = Rotation.random(T, random_state=3).as_matrix()
  pred = 0.8 * np.einsum("tij,tkj->tki", rots, gt) + np.random.default_rng(4).normal(
    0, 0.02, gt.shape
  )
  errs = []
  for p, g in zip(pred, gt, strict=True):
    p0, g0 = p - p.mean(0), g - g.mean(0)
    r, sv_sum = orthogonal_procrustes(p0, g0)  # min || p0 r - g0 ||, r orthogonal
    assert np.linalg.det(r) > 0  # near-rotation data: no reflection case
    aligned = sv_sum / (p0**2).sum() * p0 @ r + g.mean(0)
    errs.append(np.linalg.norm(aligned - g, axis=-1).mean())
  assert estimation.pa_mpjpe(pred, gt) == pytest.approx(1000 * np.mean(errs), rel=1e-9)


def test_procrustes_never_reflects():
  gt = _clip(5)
  pred = gt * np.array([-1.0, 1.0, 1.0])  # a mirror image: the best proper rotation is not exact
  aligned = estimation.procrustes_align(pred, gt)
  p0 = pred - pred.mean(1, keepdims=True)
  a0 = aligned - aligned.mean(1, keepdims=True)
  for p, a in zip(p0, a0, strict=True):
    r, *_ = np.linalg.lstsq(p, a, rcond=None)
    assert np.linalg.det(r) > 0
  assert estimation.pa_mpjpe(pred, gt) > 1.0


def test_shapes_are_checked():
  with pytest.raises(ValueError, match="must both be"):
    estimation.mpjpe(np.zeros((3, 22, 3)), np.zeros((4, 22, 3)))
