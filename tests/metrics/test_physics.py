"""Physics metrics against hand-made motions whose answers are known."""

import numpy as np
import pytest

from motion_jax.metrics import physics as P
from motion_jax.paths import DATA_DIR


def _standing(t=30, height=0.0):
  x = np.zeros((t, 22, 3))
  x[:, :, 1] = np.linspace(0.0, 1.6, 22)[None] + height  # joint 0 is the lowest
  for f in P.FOOT_JOINTS:
    x[:, f, 1] = height
  return x


def test_still_feet_do_not_skate_and_are_in_contact():
  x = _standing()
  assert P.foot_skating(x) == 0.0
  assert P.foot_contacts(x).all()
  assert P.physics_metrics(x)["contact_frac"] == 1.0


def test_sliding_foot_speed_is_measured_in_metres_per_second():
  x = _standing()
  # 0.025 m/frame at 20 fps = 0.5 m/s; squared displacement 6.25e-4 < 0.002 -> contact.
  x[:, P.FOOT_JOINTS, 0] += 0.025 * np.arange(len(x))[:, None]
  assert P.foot_skating(x, fps=20.0) == pytest.approx(0.5)


def test_fast_or_high_feet_are_not_contacts():
  x = _standing()
  # 0.06 m/frame: squared displacement 3.6e-3 > 0.002 (HumanML3D rule) -> no contact.
  x[:, P.FOOT_JOINTS, 0] += 0.06 * np.arange(len(x))[:, None]
  assert np.isnan(P.foot_skating(x))
  y = _standing()
  y[:, P.FOOT_JOINTS, 1] = 0.08  # above the 5 cm contact height
  y[:, P.FOOT_JOINTS, 0] += 0.01 * np.arange(len(y))[:, None]
  assert not P.foot_contacts(y).any()


def test_penetration_and_floating_depths():
  x = _standing(height=-0.03)
  mean, mx = P.floor_penetration(x)
  assert mean == pytest.approx(0.03) and mx == pytest.approx(0.03)
  assert P.floating(x) == (0.0, 0.0)
  y = _standing(height=0.1)
  fm, ff = P.floating(y)
  assert fm == pytest.approx(0.1) and ff == 1.0
  assert P.floor_penetration(y) == (0.0, 0.0)
  # Half the frames 2 cm under the floor.
  z = _standing()
  z[::2, :, 1] -= 0.02
  assert P.floor_penetration(z)[0] == pytest.approx(0.01)


def test_bad_input_raises():
  with pytest.raises(ValueError, match="T>=2"):
    P.physics_metrics(np.zeros((1, 22, 3)))
  x = _standing()
  x[3, 5, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    P.physics_metrics(x)


def test_real_humanml3d_clip_is_plausible():
  j = np.load(DATA_DIR / "humanml3d" / "new_joints" / "012314.npy")
  m = P.physics_metrics(j)
  assert m["penetration_max_m"] == 0.0  # official clips are floored at their lowest point
  assert 0.0 < m["skate_mps"] < 0.15
  assert 0.2 < m["contact_frac"] < 0.6
  s = P.summarize([m, m])
  assert s["clips"] == 2 and s["skate_mps"] == pytest.approx(m["skate_mps"])
