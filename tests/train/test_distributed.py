"""Resilience and parallelism of the train loop, in real subprocesses.

- A run SIGKILLed part-way and restarted ends with the same parameters as an uninterrupted run.
- The sharded step on 8 (forced host) devices matches 1 device.
- Two local processes (jax.distributed on 127.0.0.1, gloo collectives) agree on parameters, and if
  one dies the other exits with an error in bounded time instead of hanging.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO, run_python

TOY = REPO / "tests" / "train" / "toy.py"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _args(*args):
  return [sys.executable, *map(str, args)]


def _env():
  env = dict(os.environ)
  env["PYTHONPATH"] = str(REPO)
  env["PYTHONUNBUFFERED"] = "1"
  return env


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
  steps = 40
  run_python(
    [
      TOY,
      "--workdir",
      tmp_path / "full",
      "--steps",
      steps,
      "--checkpoint_every",
      5,
      "--out",
      tmp_path / "full.npy",
    ]
  )
  # Same run, slowed down, killed with SIGKILL once it has saved a few checkpoints.
  proc = subprocess.Popen(
    _args(
      TOY,
      "--workdir",
      tmp_path / "killed",
      "--steps",
      steps,
      "--checkpoint_every",
      5,
      "--sleep",
      0.15,
    ),
    cwd=REPO,
    env=_env(),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  ckpt_dir = tmp_path / "killed" / "checkpoints"
  deadline = time.time() + 120
  while time.time() < deadline:
    done = [p for p in ckpt_dir.glob("*") if p.name.isdigit()] if ckpt_dir.exists() else []
    if len(done) >= 2:
      break
    time.sleep(0.1)
  time.sleep(0.4)  # land somewhere between checkpoints
  proc.send_signal(signal.SIGKILL)
  proc.wait(timeout=30)
  assert proc.returncode == -signal.SIGKILL
  saved = sorted(int(p.name) for p in ckpt_dir.glob("*") if p.name.isdigit())
  assert saved and saved[-1] < steps, saved
  run_python(
    [
      TOY,
      "--workdir",
      tmp_path / "killed",
      "--steps",
      steps,
      "--checkpoint_every",
      5,
      "--out",
      tmp_path / "resumed.npy",
    ]
  )
  full, resumed = np.load(tmp_path / "full.npy"), np.load(tmp_path / "resumed.npy")
  np.testing.assert_allclose(resumed, full, atol=1e-6, rtol=0)


def test_eight_devices_match_one_device(tmp_path):
  flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  out8 = run_python(
    [TOY, "--workdir", tmp_path / "d8", "--steps", 20, "--out", tmp_path / "8.npy", "--devices", 8],
    env_extra=flags,
  )
  assert '"devices": 8' in out8.stdout
  run_python(
    [TOY, "--workdir", tmp_path / "d1", "--steps", 20, "--out", tmp_path / "1.npy", "--devices", 1],
    env_extra=flags,
  )
  # Same math, different reduction order across shards: float32 round-off only.
  np.testing.assert_allclose(
    np.load(tmp_path / "8.npy"), np.load(tmp_path / "1.npy"), atol=1e-5, rtol=0
  )


def _launch(tmp_path, pid, port, *extra):
  log = open(tmp_path / f"p{pid}.log", "w")
  return subprocess.Popen(
    _args(
      TOY,
      "--workdir",
      tmp_path / "mp",
      "--coordinator",
      f"127.0.0.1:{port}",
      "--num_processes",
      2,
      "--process_id",
      pid,
      *extra,
    ),
    cwd=REPO,
    env=_env(),
    stdout=log,
    stderr=subprocess.STDOUT,
  )


@pytest.mark.multiprocess
def test_two_processes_agree_on_parameters(tmp_path):
  port = _free_port()
  procs = [
    _launch(tmp_path, i, port, "--steps", 3, "--out", tmp_path / f"p{i}.npy") for i in range(2)
  ]
  for p in procs:
    p.wait(timeout=180)
  logs = [(tmp_path / f"p{i}.log").read_text() for i in range(2)]
  assert [p.returncode for p in procs] == [0, 0], logs
  assert all('"devices": 2' in log for log in logs)
  np.testing.assert_array_equal(np.load(tmp_path / "p0.npy"), np.load(tmp_path / "p1.npy"))
  # And they match a single process on one device training the same global batches.
  run_python([TOY, "--workdir", tmp_path / "single", "--steps", 3, "--out", tmp_path / "s.npy"])
  np.testing.assert_allclose(np.load(tmp_path / "p0.npy"), np.load(tmp_path / "s.npy"), atol=1e-5)


@pytest.mark.multiprocess
def test_when_one_process_dies_the_other_exits_with_an_error(tmp_path):
  port = _free_port()
  survivor = _launch(tmp_path, 0, port, "--steps", 200, "--sleep", 0.5, "--heartbeat", 5)
  dying = _launch(tmp_path, 1, port, "--die_after_init")
  dying.wait(timeout=120)
  t0 = time.time()
  try:
    survivor.wait(timeout=90)
  except subprocess.TimeoutExpired:
    survivor.kill()
    pytest.fail("the surviving process hung after its peer died")
  assert dying.returncode == 3
  assert survivor.returncode != 0
  assert time.time() - t0 < 90
  assert "another task died" in (tmp_path / "p0.log").read_text()
