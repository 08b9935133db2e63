"""Floor / pelvis-height QA of the squat dataset (motion_jax/datagen/squat_qa.py)."""

import json

import numpy as np
import pytest

from motion_jax.datagen import squat_augment as A
from motion_jax.datagen import squat_qa as Q
from motion_jax.paths import opencap_path
from motion_jax.skeletons.opencap import BIGE_COORDINATES
from motion_jax.skeletons.opensim_model import load_osim
from tests.conftest import REPO

DATA = REPO / "data" / "squats"


@pytest.fixture(scope="module")
def base_model():
  return load_osim(opencap_path(A.BASE_MODEL))


def test_summarise_bands_and_fractions():
  real = {k: np.array([1.0, 2.0]) for k in Q.METRICS}
  synth = {k: np.array([0.5, 1.5, 2.5, 3.5]) for k in Q.METRICS}
  out = Q.summarise(real, synth)
  assert out["sliding_mm"]["band"] == [0.0, 3.0]  # +-1 mm
  assert out["sliding_mm"]["in_band_fraction"] == 0.75
  assert out["pelvis_deepest_m"]["band"] == pytest.approx([0.85, 2.3])  # +-15 %
  assert out["pelvis_deepest_m"]["in_band_fraction"] == 0.25  # only 1.5 of 0.5, 1.5, 2.5, 3.5
  assert out["floating_mm"]["synthetic_median"] == 2.0


@pytest.mark.skipif(not (DATA / "real.npz").exists(), reason="data/squats/real.npz not built")
def test_real_trial_is_planted_and_a_lifted_copy_floats(base_model, tmp_path):
  """The real trial through the pipeline sits on its floor; lifting a repetition by 5 cm shows up
  as ~50 mm floating in that repetition only (the metric can fail)."""
  m = Q.file_metrics(DATA / "real.npz", A.scale_fk_model(base_model, A.identity_params(5)))
  assert len(m["sliding_mm"]) == 5
  np.testing.assert_array_equal(m["penetration_mm"], 0.0)
  np.testing.assert_array_equal(m["floating_mm"], 0.0)
  assert (m["sliding_mm"] < 1.0).all()
  assert ((0.55 < m["pelvis_depth_ratio"]) & (m["pelvis_depth_ratio"] < 0.8)).all()

  with np.load(DATA / "real.npz") as z:
    arrays = {k: z[k] for k in z.files}
  o = arrays["rep_offsets"]
  q = arrays["coordinates"].copy()
  q[o[2] : o[3], BIGE_COORDINATES.index("pelvis_ty")] += 0.05
  np.savez(tmp_path / "lifted.npz", **{**arrays, "coordinates": q})
  lifted = Q.file_metrics(
    tmp_path / "lifted.npz", A.scale_fk_model(base_model, A.identity_params(5))
  )
  assert lifted["floating_mm"][2] == pytest.approx(50.0, abs=1.0)
  np.testing.assert_array_equal(np.delete(lifted["floating_mm"], 2), 0.0)
  assert lifted["pelvis_standing_m"][2] == pytest.approx(m["pelvis_standing_m"][2] + 0.05, abs=1e-4)


@pytest.mark.skipif(not (DATA / "manifest.json").exists(), reason="embedded dataset not built")
def test_manifest_floor_qa_is_reproduced_and_in_range(base_model):
  manifest = json.loads((DATA / "manifest.json").read_text())
  floor = manifest["qa"]["floor"]
  s = manifest["splits"]["test"][-1]
  name = f"subject_{s:03d}.npz"
  m = Q.file_metrics(
    DATA / name, A.scale_fk_model(base_model, A.sample_subject(manifest["config"]["seed"], s, 5))
  )
  for k in Q.METRICS:
    np.testing.assert_allclose(m[k], manifest["files"][name]["floor_qa"][k], atol=2e-4, err_msg=k)
  # Feet on the floor and standing height: like the real trial.
  for k in ("penetration_mm", "floating_mm", "sliding_mm", "pelvis_standing_m"):
    assert floor[k]["in_band_fraction"] >= 0.95, (k, floor[k])
  # Depth varies by design (depth factor 0.65..1.1): the synthetic squats cover the real one's
  # depth.
  for k in ("pelvis_deepest_m", "pelvis_depth_ratio"):
    v = floor[k]
    assert v["synthetic_min"] <= v["real_min"] and v["real_max"] <= v["synthetic_max"], (k, v)
    assert v["in_band_fraction"] >= 0.5, (k, v)
