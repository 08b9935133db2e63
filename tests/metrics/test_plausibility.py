"""BioVAE's physical-plausibility metrics on analytic motions with known answers."""

import numpy as np
import pytest

from motion_jax.metrics import plausibility as P

FPS = 20.0


def _standing(frames: int = 40, feet_apart: float = 0.3) -> np.ndarray:
  """22 t2m joints: feet/ankles on the floor (y = 0.0 / 0.08), the rest stacked above."""
  x = np.zeros((frames, 22, 3))
  x[..., 1] = np.linspace(0.2, 1.7, 22)  # every non-foot joint well above the floor
  for j, side in ((P.LEFT_FOOT, 1), (P.RIGHT_FOOT, -1), (P.LEFT_ANKLE, 1), (P.RIGHT_ANKLE, -1)):
    x[:, j, 0] = side * feet_apart / 2
  x[:, [P.LEFT_FOOT, P.RIGHT_FOOT], 1] = 0.0
  x[:, [P.LEFT_ANKLE, P.RIGHT_ANKLE], 1] = 0.08
  return x


def test_a_standing_body_has_no_artefact():
  m = P.clip_metrics(_standing())
  for k in ("float", "skating", "penetration", "clip", "speed", "smoothness"):
    assert m[k] == 0.0, k
  assert m["penetration_exp"] < 1.0  # the printed eq. 15 flags every standing frame


def test_a_body_sinking_into_the_floor():
  x = _standing(40)
  x[20:, :, 1] -= 0.03  # second half: 3 cm under the floor
  m = P.clip_metrics(x)
  assert m["penetration"] == pytest.approx(0.5)
  assert m["penetration_depth_cm"] == pytest.approx(1.5)
  tolerant = P.clip_metrics(x, P.PlausibilityConfig(penetration_tolerance=0.05))
  assert tolerant["penetration"] == 0.0


@pytest.mark.parametrize("height,expected", [(0.10, 1.0), (0.03, 0.0)])
def test_a_hovering_body(height, expected):
  x = _standing(30)
  x[..., 1] += height
  m = P.clip_metrics(x)
  assert m["float"] == expected
  assert m["float_height_cm"] == pytest.approx(100 * max(height - 0.05, 0))


@pytest.mark.parametrize("speed,lift,expected", [(1.0, 0.0, 1.0), (0.3, 0.0, 0.0), (1.0, 0.2, 0.0)])
def test_a_sliding_planted_foot(speed, lift, expected):
  x = _standing(40)
  t = np.arange(40) / FPS
  for j in (P.LEFT_FOOT, P.LEFT_ANKLE):
    x[:, j, 2] = speed * t
    x[:, j, 1] = 0.01 + lift
  m = P.clip_metrics(x)
  assert m["skating"] == pytest.approx(expected)


def test_feet_too_close_clip():
  assert P.clip_metrics(_standing(feet_apart=0.03))["clip"] == 1.0
  assert P.clip_metrics(_standing(feet_apart=0.20))["clip"] == 0.0


def test_speed_and_jerk_of_known_trajectories():
  t = np.arange(60) / FPS
  x = _standing(60)
  x[..., 0] += 1.5 * t[:, None]  # the whole body walks at 1.5 m/s
  m = P.clip_metrics(x)
  assert m["speed"] == pytest.approx(1.5) and m["smoothness"] == pytest.approx(0, abs=1e-6)
  x = _standing(60)
  x[..., 0] += 0.7 * t[:, None] ** 3  # third derivative 4.2 m/s^3, exact for finite differences
  assert P.clip_metrics(x)["smoothness"] == pytest.approx(4.2, rel=1e-6)


def test_spectral_consistency_of_sinusoids_on_exact_bins():
  t = np.arange(100) / FPS  # 0.2 Hz bins
  inside = np.sin(2 * np.pi * 2.0 * t)[:, None]  # 2 Hz: inside [1, 4)
  below = np.sin(2 * np.pi * 0.4 * t)[:, None]  # 0.4 Hz: below the band
  assert P.spectral_consistency(below, FPS, 1.0, 4.0) == pytest.approx(0.0, abs=1e-12)
  assert P.spectral_consistency(inside, FPS, 1.0, 4.0) > 1e12
  assert P.spectral_consistency(inside + below, FPS, 1.0, 4.0) == pytest.approx(1.0)
  assert P.spectral_consistency(inside + 2 * below, FPS, 1.0, 4.0) == pytest.approx(0.25)


def test_band_edges_follow_the_energy():
  t = np.arange(100) / FPS
  x = _standing(100)
  x[:, :, 0] += 0.1 * np.sin(2 * np.pi * 2.0 * t)[:, None]
  low, high = P.band_edges([x], FPS)
  assert low == pytest.approx(2.0, abs=0.25) and high > low


def test_set_metrics_and_bad_input():
  out = P.set_metrics([_standing(), _standing(feet_apart=0.03)])
  assert out["clip"]["mean"] == pytest.approx(0.5) and out["clips"]["mean"] == 2
  with pytest.raises(ValueError, match="joints must be"):
    P.clip_metrics(np.zeros((10, 22)))
  with pytest.raises(ValueError, match="band edges"):
    P.PlausibilityConfig(band_low_hz=5.0, band_high_hz=2.0)
