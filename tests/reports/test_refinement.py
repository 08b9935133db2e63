"""The refinement table: the "none" row is the corruption's own error, an oracle refiner that
returns the clean clip gets zero error, the markdown names the units."""

import numpy as np
import pytest

from motion_jax import paths
from motion_jax.data.text_motion import corruption
from motion_jax.metrics import estimation
from motion_jax.reports import refinement

CFG = corruption.CorruptionConfig()
FRAMES = 30


@pytest.fixture(scope="module")
def setup():
  joints = np.load(paths.data_path("humanml3d", "new_joints", "012314.npy")).astype(np.float64)
  clips = [joints[s : s + FRAMES] for s in (0, 50, 100)]
  clean_feats = [corruption.to_features(c) for c in clips]
  oracle = lambda feats, t: [f.copy() for f in clean_feats]  # noqa: E731
  refiners = {"oracle": oracle, "identity": refinement.identity_refiner}
  table = refinement.refinement_table(clips, CFG, refiners, (100,), seed=7)
  frame0 = refinement.refinement_table(
    clips, CFG, refiners, (100,), seed=7, kinds=("foot_sliding",), anchor="frame0"
  )
  return clips, table, frame0


def _rows(table, kind):
  return {r["method"]: r for r in table["kinds"][kind]}


@pytest.mark.parametrize("kind", corruption.KINDS)
def test_none_row_is_the_corruptions_own_error_in_the_world_frame(setup, kind):
  clips, table, _ = setup
  noisy = corruption.corrupt_clips(clips, kind, CFG, seed=7)
  rows = _rows(table, kind)
  for i, (n, c) in enumerate(zip(noisy, clips, strict=True)):
    own = estimation.estimation_errors(n[:-1], c[:-1], fps=20.0)
    for m in refinement.METRICS:
      assert rows["none"]["per_clip"][m][i] == pytest.approx(own[m], abs=2e-2)
      assert rows["identity"]["per_clip"][m][i] == rows["none"]["per_clip"][m][i]
  if kind == "floor_offset":
    assert rows["none"]["mpjpe_mm"][0] == pytest.approx(50.0, abs=1e-2)
    assert rows["none"]["accel_ms2"][0] == pytest.approx(0.0, abs=1e-2)
  if kind == "jitter":  # E|N(0, s² I3)| = 1.596 s = 24 mm
    assert 20.0 < rows["none"]["mpjpe_mm"][0] < 28.0


def _assert_zero(rows, none_mpjpe_above=10.0):
  assert rows["oracle"]["t"] == 100
  for m in refinement.METRICS:
    assert rows["oracle"][m][0] == pytest.approx(0.0, abs=1e-2)
  assert rows["none"]["mpjpe_mm"][0] > none_mpjpe_above


def test_oracle_refiner_has_zero_error(setup):
  """Floor offset (either placement; the fit leaves heights alone) and foot sliding anchored at
  frame 0 (its drift starts there) leave the clean clip exactly recoverable."""
  _, table, frame0 = setup
  _assert_zero(_rows(table, "floor_offset"))
  _assert_zero(_rows(frame0, "foot_sliding"))
  # the fitted placement puts the oracle on the input's mean drift instead
  fit = _rows(table, "foot_sliding")
  assert 0.0 < fit["oracle"]["mpjpe_mm"][0] < fit["none"]["mpjpe_mm"][0]
  # the unrefined row does not depend on the placement (equal up to float summation order)
  none = _rows(frame0, "foot_sliding")["none"]["mpjpe_mm"]
  assert fit["none"]["mpjpe_mm"] == pytest.approx(none, rel=1e-12, abs=0)


def test_jitter_oracle_is_placed_by_the_fit(setup):
  """The frame-0 anchoring would leave the jittered frame-0 offset and turn in the oracle's clip
  (25 mm, worse than the input's 24); fitted to the input it is within a few mm."""
  rows = _rows(setup[1], "jitter")
  assert rows["oracle"]["pa_mpjpe_mm"][0] == pytest.approx(0.0, abs=1e-2)
  assert rows["oracle"]["mpjpe_mm"][0] < 3.0 < 20.0 < rows["none"]["mpjpe_mm"][0]


def test_fit_to_input_recovers_a_yaw_and_shift(setup):
  clip = setup[0][0]
  th = 0.4
  rot = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]])
  moved = clip @ rot.T + np.array([0.3, 0.0, -0.2])
  np.testing.assert_allclose(refinement.fit_to_input(moved, clip), clip, atol=1e-9)
  with pytest.raises(ValueError, match="anchor"):
    refinement.refinement_table(clip[None], CFG, {}, (), 0, anchor="root")


def test_markdown_names_the_units_and_every_row(setup):
  md = refinement.refinement_markdown(setup[1])
  assert "| method | t | MPJPE (mm) | PA-MPJPE (mm) | Accel (m/s²) |" in md
  assert md.count("| oracle | 100 |") == 3 and md.count("| none | - |") == 3
