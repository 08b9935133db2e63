import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.train import optim


def test_warmup_then_multistep_decay_matches_torch_multisteplr_convention():
  cfg = optim.OptimConfig(
    learning_rate=2e-4,
    warmup_steps=10,
    schedule="multistep",
    decay_steps=(50, 80),
    decay_factor=0.05,
  )
  lr = optim.make_schedule(cfg)
  assert float(lr(0)) == 0.0
  np.testing.assert_allclose(float(lr(5)), 1e-4, rtol=1e-6)
  np.testing.assert_allclose(float(lr(49)), 2e-4, rtol=1e-6)
  np.testing.assert_allclose(float(lr(50)), 2e-4 * 0.05, rtol=1e-6)
  np.testing.assert_allclose(float(lr(80)), 2e-4 * 0.05**2, rtol=1e-6)


def test_cosine_reaches_final_fraction():
  cfg = optim.OptimConfig(
    learning_rate=1.0, warmup_steps=0, schedule="cosine", final_lr_fraction=0.1
  )
  lr = optim.make_schedule(cfg, total_steps=100)
  np.testing.assert_allclose(float(lr(0)), 1.0)
  np.testing.assert_allclose(float(lr(50)), 0.55, rtol=1e-5)
  np.testing.assert_allclose(float(lr(100)), 0.1, rtol=1e-5)


def test_unknown_schedule_is_a_clear_error():
  with pytest.raises(ValueError, match="optim.schedule"):
    optim.make_schedule(optim.OptimConfig(schedule="linear-ish"))


def test_freeze_by_path_pattern_gives_zero_updates_only_there():
  params = {"decoder": {"w": jnp.ones(3)}, "encoder": {"w": jnp.ones(3)}}
  tx = optim.make_optimizer(optim.OptimConfig(learning_rate=0.1, freeze=("^decoder/",)))
  state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, state, params)
  assert np.all(np.asarray(updates["decoder"]["w"]) == 0)
  assert np.all(np.asarray(updates["encoder"]["w"]) != 0)
  labels = optim.freeze_labels(params, ("^decoder/",))
  assert labels == {"decoder": {"w": "frozen"}, "encoder": {"w": "trainable"}}


def test_config_with_an_unknown_key_is_rejected_with_the_valid_keys():
  from motion_jax.config import ConfigError, from_dict

  cfg = from_dict(optim.OptimConfig, {"learning_rate": 1e-3, "decay_steps": [5]}, "optim")
  assert cfg.learning_rate == 1e-3 and cfg.decay_steps == (5,)
  with pytest.raises(ConfigError, match=r"optim\.other.*valid keys of optim: learning_rate"):
    from_dict(optim.OptimConfig, {"learning_rate": 1e-3, "other": 1}, "optim")
