"""launch.py: experiment discovery, presets, typed configs, overrides and their errors."""

import json

import pytest

import launch
from motion_jax.config import ConfigError, from_dict, leaf_keys, to_dict
from tests.conftest import run_python

EXPERIMENTS = sorted(launch.available_experiments())
PRESETS = (None, "quick", "tiny")


def test_list_shows_experiments_with_descriptions():
  out = run_python(["launch.py", "--list"]).stdout
  assert "squat_vqvae" in out and "VQ-VAE" in out and "bige" in out
  assert "presets" not in out.split() and "base" not in out.split()


def test_unknown_experiment_exits_nonzero_with_choices():
  proc = run_python(["launch.py", "--experiment=does_not_exist"], check=False)
  assert proc.returncode != 0
  assert "unknown experiment 'does_not_exist'" in proc.stderr
  assert "squat_vqvae" in proc.stderr


@pytest.mark.parametrize(
  "key",
  [
    "no_such_key",
    # Keys of the old untyped configs that nothing read: rejected, not silently ignored.
    "num_steps",
    "batch_size",
    "ema_decay",
    "optim.learning_rate",
    "vqvae.num_steps",
  ],
)
def test_a_key_the_experiment_does_not_read_is_rejected(key):
  proc = run_python(
    ["launch.py", "--experiment=squat_vqvae:tiny", f"--config.{key}=1"], check=False
  )
  assert proc.returncode != 0
  assert f"unknown config key {key!r}" in proc.stderr
  assert "vqvae.loop.num_steps" in proc.stderr  # the valid keys are listed


def test_a_bad_value_is_rejected_before_anything_runs(tmp_path):
  proc = run_python(
    [
      "launch.py",
      "--experiment=squat_vqvae:tiny",
      f"--workdir={tmp_path}",
      "--config.vqvae.loss.recon_loss=l3",
    ],
    check=False,
  )
  assert proc.returncode != 0 and "recon_loss must be one of" in proc.stderr
  assert not (tmp_path / "vqvae").exists()


def test_unknown_preset_is_an_error():
  proc = run_python(["launch.py", "--experiment=squat_vqvae:huge"], check=False)
  assert proc.returncode != 0
  assert "valid presets" in proc.stderr


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_config_key_is_a_field_of_the_typed_config(name):
  """Each preset's ConfigDict parses into the experiment's frozen Config without losing a key,
  and a key outside the Config is rejected with the valid keys."""
  module = __import__(f"experiments.{name}", fromlist=["Config"])
  for preset in PRESETS:
    cfg = module.get_config(preset)
    typed = from_dict(module.Config, cfg)
    assert to_dict(typed) == cfg.to_dict()
    assert sorted(leaf_keys(cfg)) == sorted(leaf_keys(to_dict(typed)))
  with pytest.raises(ConfigError, match="unknown config key"):
    from_dict(module.Config, {**module.get_config("tiny").to_dict(), "stale_key": 1})


def test_override_is_applied_and_recorded(tmp_path):
  run_python(
    [
      "launch.py",
      "--experiment=squat_vqvae:tiny",
      f"--workdir={tmp_path}",
      "--config.vqvae.loop.num_steps=12",
      "--config.seed=7",
      "--precision=float32",
    ]
  )
  cfg = json.loads((tmp_path / "config.json").read_text())
  assert cfg["vqvae"]["loop"]["num_steps"] == 12 and cfg["seed"] == 7
  info = json.loads((tmp_path / "run_info.json").read_text())
  assert info["seed"] == 7 and "commit" in info["git"]
  assert info["precision_policy"] == "float32" and info["jax_default_matmul_precision"] == "highest"
  steps = [
    json.loads(line)["step"]
    for line in (tmp_path / "vqvae" / "vqvae.jsonl").read_text().splitlines()
  ]
  assert steps[-1] == 12


def test_a_second_run_loads_its_compilations_from_the_persistent_cache(tmp_path):
  """launch.py's compilation cache: the same tiny run in a fresh workdir spends a fraction of the
  first run's XLA compile time (compile.json records it per function)."""
  cache = tmp_path / "cache"

  def run(workdir):
    run_python(
      [
        "launch.py",
        "--experiment=squat_vqvae:tiny",
        f"--workdir={workdir}",
        f"--compilation_cache={cache}",
        "--config.vqvae.loop.num_steps=4",
      ]
    )
    return json.loads((workdir / "compile.json").read_text())

  first = run(tmp_path / "a")
  second = run(tmp_path / "b")
  assert first["compilation_cache"] == str(cache) and any(cache.iterdir())
  assert first["compile_seconds_total"] > 1.0 and first["slowest"]
  assert second["compile_seconds_total"] < 0.5 * first["compile_seconds_total"]
