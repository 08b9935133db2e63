"""Grain text-motion loader: crops, normalisation, seeded captions, padding/masks, bucketing."""

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from motion_jax.data.text_motion import loader as tl
from motion_jax.data.text_motion import tfds as tm
from motion_jax.paths import data_path
from motion_jax.representations.humanml3d import denormalize, load_mean_std
from tests.data.text_motion.test_tfds import make_humanml3d_folder

tfds.disable_progress_bar()

MEAN, STD = load_mean_std()
CLIP = np.load(data_path("humanml3d", "new_joint_vecs", "012314.npy"))  # [170, 263]


def make_examples(lengths=(40, 45, 63, 64, 70, 97, 120, 150, 169, 170, 199)):
  """In-memory examples shaped like the TFDS ones (bytes captions); crops of clip 012314 with
  a per-example offset so that every example is distinguishable."""
  out = []
  for i, n in enumerate(lengths):
    m = np.concatenate([CLIP, CLIP[::-1]])[:n] + np.float32(i)
    caps = [f"caption {i}.{j}".encode() for j in range(1 + i % 3)]
    out.append(
      {
        "example_id": f"e{i}".encode(),
        "motion_id": f"m{i}".encode(),
        "motion": m.astype(np.float32),
        "length": n,
        "captions": caps,
        "tokens": [f"caption/NOUN {i}/NUM".encode() for _ in caps],
      }
    )
  return out


def test_crop_length_units_and_max():
  cfg = tl.LoaderConfig(drop_unit_prob=0.0)
  rng = np.random.default_rng(0)
  assert tl.crop_length(170, cfg, rng) == 168
  assert tl.crop_length(199, cfg, rng) == 196
  assert tl.crop_length(41, cfg, rng) == 40
  cfg = tl.LoaderConfig(drop_unit_prob=1.0)
  assert tl.crop_length(170, cfg, rng) == 164
  got = {tl.crop_length(170, tl.LoaderConfig(), np.random.default_rng(s)) for s in range(60)}
  assert got == {164, 168}
  with pytest.raises(ValueError, match="multiple of unit_length"):
    tl.LoaderConfig(max_length=198)


def test_prepare_example_normalisation_round_trip():
  ex = make_examples()[8]  # 169 frames, 3 captions
  for seed in range(5):
    out = tl.prepare_example(ex, np.random.default_rng(seed), tl.LoaderConfig(), MEAN, STD)
    m, s = int(out["length"]), int(out["crop_start"])
    assert m % 4 == 0 and m in (164, 168) and 0 <= s <= 169 - m
    assert out["motion"].shape == (196, 263) and out["motion"].dtype == np.float32
    back = np.asarray(denormalize(out["motion"][:m], MEAN, STD))
    np.testing.assert_allclose(back, ex["motion"][s : s + m], rtol=1e-5, atol=1e-4)
    assert not out["motion"][m:].any()
    assert out["mask"].sum() == m and out["mask"][:m].all()
    k = int(out["caption_index"])
    assert out["caption"] == ex["captions"][k].decode() and out["num_captions"] == 3
    assert out["tokens"] == "caption/NOUN 8/NUM"
  ev = tl.prepare_example(ex, np.random.default_rng(0), tl.LoaderConfig.eval(), MEAN, STD)
  assert (int(ev["crop_start"]), int(ev["length"])) == (0, 168)


def test_missing_or_bad_stats_raise():
  with pytest.raises(ValueError, match="statistics are missing"):
    tl.TextMotionBatcher(make_examples(), batch_size=2, seed=0, mean=None, std=None)
  with pytest.raises(ValueError, match="std > 0"):
    tl.check_stats(MEAN, np.zeros_like(STD))


def _same(a, b):
  assert a.keys() == b.keys()
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])


def test_batches_deterministic_across_instances_and_resumable():
  exs = make_examples()
  kw = dict(batch_size=4, mean=MEAN, std=STD)
  a = tl.TextMotionBatcher(exs, seed=3, **kw)
  b = tl.TextMotionBatcher(exs, seed=3, **kw)
  steps = [0, 1, 2, 7, 25]
  batches = {s: a(s) for s in steps}
  for s in reversed(steps):  # another instance, another order (a "resumed" run)
    _same(batches[s], b(s))
  c = tl.TextMotionBatcher(exs, seed=4, **kw)
  assert any(not np.array_equal(batches[s]["motion"], c(s)["motion"]) for s in steps)
  ds = a.as_map_dataset()
  _same(ds[7], batches[7])


def test_batch_shapes_masks_and_buckets():
  exs = make_examples()
  lengths = [len(e["motion"]) for e in exs]
  bat = tl.TextMotionBatcher(exs, batch_size=2, seed=0, mean=MEAN, std=STD)
  # edges (64, 96, 128, 160, 196): 40,45,63,64 | 70 | 97,120 | 150 | 169,170,199
  assert bat.bucket_sizes == (4, 1, 2, 1, 3)
  assert bat.steps_per_epoch == 2 + 1 + 1 + 1 + 2
  bucket_of = tl.assign_buckets(lengths, bat.bucket_edges, 196)
  seen = set()
  for step in range(bat.steps_per_epoch):
    batch = bat(step)
    assert batch["motion"].shape == (2, 196, 263) and batch["mask"].shape == (2, 196)
    np.testing.assert_array_equal(batch["mask"].sum(1), batch["length"])
    assert (batch["length"] % 4 == 0).all() and (batch["length"] <= 196).all()
    _, idx = bat.batch_plan(step)
    assert len({int(bucket_of[i]) for i in idx}) == 1  # one bucket per batch
    seen.update(idx)
    assert batch["caption"].shape == (2,) and batch["kinmo_group_texts"].shape == (2, 6)
  assert seen == set(range(len(exs)))  # one schedule epoch covers every example
  padded = tl.TextMotionBatcher(exs, batch_size=2, seed=0, mean=MEAN, std=STD, pad_to_bucket=True)
  shapes = {padded(s)["motion"].shape[1] for s in range(padded.steps_per_epoch)}
  assert shapes == {64, 96, 128, 160, 196}
  single = tl.TextMotionBatcher(exs, batch_size=4, seed=0, mean=MEAN, std=STD, bucket_edges=None)
  assert single.steps_per_epoch == 3


def test_caption_choice_varies_with_step_but_not_with_instance():
  exs = make_examples(lengths=(100,) * 3)  # captions: 1, 2, 3 per example
  kw = dict(batch_size=3, seed=0, mean=MEAN, std=STD, bucket_edges=None)
  bat, again = tl.TextMotionBatcher(exs, **kw), tl.TextMotionBatcher(exs, **kw)
  chosen = set()
  for s in range(20):
    batch = bat(s)
    np.testing.assert_array_equal(batch["caption"], again(s)["caption"])
    chosen.update(zip(batch["motion_id"], batch["caption"]))
  assert {c for m, c in chosen if m == "m2"} == {"caption 2.0", "caption 2.1", "caption 2.2"}
  assert {c for m, c in chosen if m == "m0"} == {"caption 0.0"}


def test_numeric_batches_shard_onto_the_data_mesh():
  from motion_jax.train import sharding

  bat = tl.TextMotionBatcher(
    make_examples(), batch_size=2, seed=0, mean=MEAN, std=STD, postprocess=tl.numeric_only
  )
  batch = bat(0)
  assert "caption" not in batch and "motion" in batch and "mask" in batch
  mesh = sharding.make_mesh(jax.devices()[:1])
  out = sharding.shard_batch(batch, mesh)
  assert out["motion"].shape == (2, 196, 263) and out["mask"].dtype == bool
  with pytest.raises(ValueError, match="does not match mean/std"):
    tl.prepare_example(
      make_examples()[0], np.random.default_rng(0), tl.LoaderConfig(), MEAN[:251], STD[:251]
    )


def test_step_batcher_compatibility():
  exs = make_examples()
  sb = tl.make_step_batcher(exs, batch_size=4, seed=1, mean=MEAN, std=STD)
  b0 = sb(0)
  assert b0["motion"].shape == (4, 196, 263)
  np.testing.assert_array_equal(b0["mask"].sum(1), b0["length"])
  _same(b0, tl.make_step_batcher(exs, batch_size=4, seed=1, mean=MEAN, std=STD)(0))


def test_from_tfds_reads_built_dataset(tmp_path):
  root = make_humanml3d_folder(tmp_path / "HumanML3D")
  tm.prepare(root, tmp_path / "tfds")
  bat = tl.from_tfds(tmp_path / "tfds", split="train", batch_size=2, seed=0)
  assert bat.bucket_sizes == (1, 0, 1, 0, 1)  # lengths 60, 100, 170
  np.testing.assert_array_equal(bat.mean, MEAN)
  seen = set()
  for s in range(bat.steps_per_epoch):
    batch = bat(s)
    assert batch["motion"].shape == (2, 196, 263)
    seen.update(batch["motion_id"])
  assert seen == {"000000", "000001"}
  val = tl.from_tfds(tmp_path / "tfds", split="val", batch_size=1, seed=0)(0)
  assert val["kinmo_present"].all() and val["kinmo_group_mask"].sum() == 2
  assert val["kinmo_interaction_texts"][0, 0] == "the arms swing in opposition"
