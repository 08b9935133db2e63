"""BioVAE's muscle pre-training ("MIA pre-train") on the squat stand-in: the masked loss, a tiny
run that learns held-out activations, and the pre-trained module landing in fine-tuning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax import config
from motion_jax.data.squat import mia
from motion_jax.data.squat.source import SquatDataConfig
from motion_jax.losses import biovae as bio_losses
from motion_jax.models.biovae import MUSCLES, BioVAE
from motion_jax.stages import biovae as bio_stage
from motion_jax.stages import biovae_muscle as stage
from motion_jax.train.loop import LoopConfig
from tests.stages import test_biovae_stage as fine

MODULE = fine.BIO.module  # the fine-tuning test's tiny module: its params drop in there
CFG = stage.MusclePretrainConfig(
  window=16,
  batch_size=8,
  optim=dataclasses.replace(stage.MusclePretrainConfig().optim, learning_rate=3e-3),
  loop=LoopConfig(num_steps=60, log_every=20, checkpoint_every=0),
)
SQUAT = SquatDataConfig(max_train_subjects=2, max_test_subjects=1)


def test_muscle_pretrain_loss_is_the_masked_mse():
  rng = np.random.default_rng(0)
  pred, target = rng.uniform(size=(2, 5, 8)), rng.uniform(size=(2, 5, 8))
  channels = np.array([True] * 6 + [False] * 2)
  frames = np.arange(5)[None] < np.array([[5], [3]])
  total, terms = bio_losses.muscle_pretrain_loss(
    jnp.asarray(pred), jnp.asarray(target), jnp.asarray(channels), jnp.asarray(frames)
  )
  sq = (pred - target) ** 2
  expected = np.concatenate([sq[0, :, :6].ravel(), sq[1, :3, :6].ravel()]).mean()
  assert float(total) == pytest.approx(expected, rel=1e-6)
  assert float(terms["muscle_mse"]) == float(total)
  # the masked channels and frames carry no gradient
  g = jax.grad(lambda p: bio_losses.muscle_pretrain_loss(p, target, channels, frames)[0])(pred)
  assert np.all(np.asarray(g)[..., 6:] == 0) and np.all(np.asarray(g)[1, 3:] == 0)


def test_config_round_trips_and_validates():
  """A plain config: it round-trips through the ConfigDict that launch.py overrides."""
  offsets = list(mia.T2MJointMap().offsets)
  offsets[15] = (0.0, 0.6, 0.0)
  cfg = dataclasses.replace(CFG, joint_map=mia.T2MJointMap(offsets=tuple(offsets)))
  assert config.from_dict(stage.MusclePretrainConfig, config.config_dict(cfg)) == cfg
  with pytest.raises(ValueError, match="window"):
    stage.MusclePretrainConfig(window=0)


@pytest.fixture(scope="module")
def data():
  return stage.prepare(SQUAT, CFG, MODULE.fps)


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory):
  return stage.pretrain(CFG, MODULE, SQUAT, tmp_path_factory.mktemp("mia"), seed=0, data=data)


def test_prepare_gives_joints_and_masked_channels(data):
  train, test = data["train"], data["test"]
  assert len(train.joints) > len(test.joints) > 0
  for j, u in zip(train.joints + test.joints, train.targets + test.targets):
    assert j.shape == (len(u), 22, 3) and u.shape == (len(j), 8)
    assert np.all((u[:, :6] >= 0) & (u[:, :6] <= 1)) and np.all(u[:, 6:] == 0)
  np.testing.assert_array_equal(train.channel_mask, [True] * 6 + [False] * 2)
  batch = stage.make_batch_fn(train, CFG, seed=0)(3)
  assert batch["joints"].shape == (8, 16, 22, 3) and batch["targets"].shape == (8, 16, 8)
  assert batch["mask"].any(1).all()
  np.testing.assert_array_equal(
    batch["joints"], stage.make_batch_fn(train, CFG, seed=0)(3)["joints"]
  )


def test_tiny_pretraining_learns_held_out_activations(pretrained):
  params, metrics = pretrained
  trained, untrained = metrics["trained"], metrics["untrained"]
  # held-out subject: the trained mapping beats its own initialisation on every channel
  assert trained["mse"] < 0.5 * untrained["mse"], (trained["mse"], untrained["mse"])
  for name in MUSCLES[:6]:
    assert trained["channels"][name]["mse"] < untrained["channels"][name]["mse"], name
  assert trained["channels"]["biceps_l"] is None and trained["channels"]["biceps_r"] is None
  # the constant (training-mean) baseline scores R² <= ~0 on held-out data by construction
  assert all(trained["channels"][n]["baseline_r2"] < 0.05 for n in MUSCLES[:6])
  print("\n" + stage.format_metrics(trained))
  # the parameters are the full module's
  fresh = BioVAE(MODULE, stage.FEATURES).init(
    jax.random.PRNGKey(1), jnp.zeros((1, 4, 22, 3)), jnp.zeros((1, 4, stage.FEATURES))
  )["params"]
  assert jax.tree.map(np.shape, fresh) == jax.tree.map(np.shape, params)
  assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(params))


def test_module_init_lands_in_fine_tuning_params(pretrained, tmp_path):
  params, _ = pretrained
  model = bio_stage.make_model(fine.DIFF, fine.BIO, fine.F, fine.MEAN, fine.STD)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), *fine._args(fine._batch(0)))
  unet = jax.tree.map(lambda s: np.full(s.shape, 0.01, s.dtype), shapes["params"]["unet"])
  bio = dataclasses.replace(fine.BIO, loop=dataclasses.replace(fine.BIO.loop, num_steps=0))
  out = bio_stage.train(
    fine.DIFF, bio, fine._batch, model, unet, tmp_path / "a", seed=3, module_init=params
  )
  got = jax.tree_util.tree_leaves_with_path(out["biovae"])
  want = dict(jax.tree_util.tree_leaves_with_path(params))
  assert len(got) == len(want)
  for path, leaf in got:
    np.testing.assert_array_equal(leaf, want[path], err_msg=jax.tree_util.keystr(path))
  # the UNet is still the pre-trained one
  for a, b in zip(jax.tree.leaves(out["unet"]), jax.tree.leaves(unet)):
    np.testing.assert_array_equal(a, b)
  # a module of another size is refused
  other = jax.tree.map(lambda x: x[..., :1], params)
  with pytest.raises(ValueError, match="module_init"):
    bio_stage.train(
      fine.DIFF, bio, fine._batch, model, unet, tmp_path / "c", seed=3, module_init=other
    )
