"""Fixtures shared by the experiment tests: tiny MoCLIP students for the generators' drop-in text
encoder (moclip.txt Sec. 4.3)."""

from dataclasses import replace

import filelock
import pytest

from tests.conftest import run_python

# One lambda run, no baseline, no naive ablation: the least the moclip experiment trains.
_ONE_RUN = [
  "--config.distill_weights=(0.4,)",
  "--config.baseline=False",
  "--config.naive_unfrozen_epochs=()",
]


def _session_root(tmp_path_factory, worker_id: str):
  """The folder every pytest-xdist worker of this session shares (the parent of the workers'
  own base folders); the base folder itself without xdist."""
  base = tmp_path_factory.getbasetemp()
  return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def moclip_students(tmp_path_factory, worker_id) -> dict:
  """Workdirs of two tiny MoCLIP runs (``lambda_0.4``): ``'minilm'``, a student initialised from
  MiniLM (384-wide, what a MiniLM-trained generator reads), and ``'tiny'``, the tiny preset's
  random small text encoder (another width: a drop-in the generators must refuse).

  Trained once per test session: the first worker to get here trains them under a file lock,
  the others wait and reuse them (with ``--dist loadfile`` each test file that asks for them
  runs in its own worker). The tests only read these workdirs."""
  root = _session_root(tmp_path_factory, worker_id) / "moclip_students"
  root.mkdir(exist_ok=True)
  out = {kind: root / kind for kind in ("minilm", "tiny")}
  done = root / "done"
  with filelock.FileLock(str(root) + ".lock"):
    if not done.exists():
      for kind, workdir in out.items():
        args = ["launch.py", "--experiment=moclip:tiny", f"--workdir={workdir}",
                f"--config.model.text_encoder={kind}", *_ONE_RUN]  # fmt: skip
        run_python(args, timeout=900)
      done.touch()
  return out


def assert_other_width_refused(run, config, students: dict, workdir, reader: str, stage: str):
  """``run(config with the tiny student, workdir)`` stops with a ValueError naming
  ``text_encoder`` and the 384 wide ``reader``, after training the MiniLM stage ``stage`` and
  before any ``<stage>_moclip_*`` fine-tuning."""
  with pytest.raises(ValueError, match=rf"text_encoder .*-wide.*{reader} read 384"):
    run(replace(config, text_encoder=f"moclip:{students['tiny']}"), str(workdir))
  assert (workdir / stage / "stage.json").exists()
  assert not list(workdir.glob(f"{stage}_moclip_*"))
