"""launch.py: experiment discovery, presets, config overrides and their errors."""

from tests.conftest import run_python


def test_list_shows_experiments_with_descriptions():
  out = run_python(["launch.py", "--list"]).stdout
  assert "squat_vqvae" in out and "VQ-VAE" in out
  assert "base" not in out.split()


def test_unknown_experiment_exits_nonzero_with_choices():
  proc = run_python(["launch.py", "--experiment=does_not_exist"], check=False)
  assert proc.returncode != 0
  assert "unknown experiment 'does_not_exist'" in proc.stderr
  assert "squat_vqvae" in proc.stderr


def test_unknown_config_key_exits_nonzero_with_valid_keys():
  proc = run_python(
    ["launch.py", "--experiment=squat_vqvae:tiny", "--config.no_such_key=1"], check=False
  )
  assert proc.returncode != 0
  assert "unknown config key 'no_such_key'" in proc.stderr
  assert "vqvae.num_steps" in proc.stderr


def test_unknown_preset_is_an_error():
  proc = run_python(["launch.py", "--experiment=squat_vqvae:huge"], check=False)
  assert proc.returncode != 0
  assert "valid presets" in proc.stderr


def test_override_is_applied_and_recorded(tmp_path):
  import json

  run_python(
    [
      "launch.py",
      "--experiment=squat_vqvae:tiny",
      f"--workdir={tmp_path}",
      "--config.vqvae.num_steps=12",
      "--config.seed=7",
    ]
  )
  cfg = json.loads((tmp_path / "config.json").read_text())
  assert cfg["vqvae"]["num_steps"] == 12 and cfg["seed"] == 7
  info = json.loads((tmp_path / "run_info.json").read_text())
  assert info["seed"] == 7 and "commit" in info["git"]
  steps = [
    json.loads(line)["step"]
    for line in (tmp_path / "vqvae" / "vqvae.jsonl").read_text().splitlines()
  ]
  assert steps[-1] == 12
