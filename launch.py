"""motion_jax launcher: `python launch.py --experiment=NAME[:ARG] [--config.key=value ...]`.

  --experiment=bige:quick      run experiments/bige.py with get_config("quick")
  --config.guidance.steps=500  override any config field (ml_collections config_flags); a key
                               that is not a field of the experiment's typed `Config` is an error
  --workdir=DIR                where results go (default runs/<experiment>[_<arg>]); rerunning with
                               the same workdir resumes
  --list                       list experiments with one-line descriptions
  --compilation_cache=DIR      JAX's persistent compilation cache ('' = off; default
                               ~/.cache/motion_jax/jax_compilation): a rerun skips XLA compiles
  --precision=auto             matmul/conv dtype policy (motion_jax/train/precision.py): auto =
                               bfloat16 inputs with float32 accumulation on GPU/TPU, float32 on
                               CPU; or float32 | bfloat16 | default (JAX's own)
Multi-host: pass --coordinator_address/--num_processes/--process_id (jax.distributed).
"""

from __future__ import annotations

import importlib
import logging
import pathlib
import sys

from absl import app, flags

ROOT = pathlib.Path(__file__).resolve().parent
EXPERIMENTS_DIR = ROOT / "experiments"
NOT_EXPERIMENTS = ("presets", "generation")  # shared helpers in experiments/, not runnable

flags.DEFINE_string("experiment", None, "experiment name, optionally NAME:ARG (e.g. bige:quick)")
flags.DEFINE_string("workdir", None, "output directory (default runs/<experiment>[_<arg>])")
flags.DEFINE_bool("list", False, "list the experiments and exit")
flags.DEFINE_string(
  "compilation_cache",
  None,
  "JAX persistent compilation cache folder ('' = off; default $MOTION_JAX_COMPILATION_CACHE or "
  "~/.cache/motion_jax/jax_compilation)",
)
flags.DEFINE_enum(
  "precision",
  "auto",
  ["auto", "float32", "bfloat16", "default"],
  "matmul/conv dtype policy: auto = bfloat16 x bfloat16 -> float32 on GPU/TPU, float32 on CPU",
)
flags.DEFINE_string("coordinator_address", None, "multi-host: host:port of process 0")
flags.DEFINE_integer("num_processes", None, "multi-host: number of processes")
flags.DEFINE_integer("process_id", None, "multi-host: index of this process")
FLAGS = flags.FLAGS


def available_experiments() -> dict[str, str]:
  """name -> first line of the module docstring, for every runnable experiments/*.py."""
  out = {}
  for path in sorted(EXPERIMENTS_DIR.glob("*.py")):
    if path.stem.startswith("_") or path.stem in NOT_EXPERIMENTS:
      continue
    text = path.read_text()
    doc = ""
    if text.lstrip().startswith('"""'):
      doc = text.lstrip()[3:].split("\n", 1)[0].strip().rstrip('"').strip()
    out[path.stem] = doc
  return out


def _fail(message: str) -> None:
  print(f"launch.py: error: {message}", file=sys.stderr)
  sys.exit(2)


def _format_choices(experiments: dict[str, str]) -> str:
  width = max(map(len, experiments), default=0)
  return "\n".join(f"  {name:<{width}}  {desc}" for name, desc in experiments.items())


def _argv_value(argv: list[str], name: str) -> str | None:
  for i, a in enumerate(argv):
    if a.startswith(f"--{name}="):
      return a.split("=", 1)[1]
    if a == f"--{name}" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _prepare(argv: list[str]):
  """Loads the experiment named on the command line and defines --config from its get_config."""
  experiments = available_experiments()
  if "--list" in argv:
    print(
      "Experiments (run with --experiment=NAME or NAME:quick):\n" + _format_choices(experiments)
    )
    sys.exit(0)
  spec = _argv_value(argv, "experiment")
  if not spec:
    _fail("--experiment is required. Valid experiments:\n" + _format_choices(experiments))
  name, _, arg = spec.partition(":")
  if name not in experiments:
    _fail(f"unknown experiment {name!r}. Valid experiments:\n" + _format_choices(experiments))
  sys.path.insert(0, str(ROOT))
  module = importlib.import_module(f"experiments.{name}")
  from motion_jax.config import leaf_keys

  try:
    config = module.get_config(arg or None)
  except ValueError as e:
    _fail(f"experiment {name!r}: {e}")
  valid = leaf_keys(config)
  for a in argv:
    if a.startswith("--config."):
      key = a[len("--config.") :].split("=", 1)[0]
      if key not in valid:
        _fail(
          f"unknown config key {key!r} for experiment {name!r}. Valid keys:\n  "
          + "\n  ".join(valid)
        )
  from ml_collections import config_flags

  config_flags.DEFINE_config_dict("config", config, "experiment config; override --config.a.b=v")
  return module, name, arg


def main(argv, module, name, arg):
  del argv
  import jax

  if FLAGS.num_processes and FLAGS.num_processes > 1:
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  from absl import logging as absl_logging

  absl_logging.set_verbosity(absl_logging.WARNING)  # orbax/jax INFO chatter off
  ours = logging.getLogger("motion_jax")
  ours.setLevel(logging.INFO)
  if not ours.handlers:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    ours.addHandler(handler)
    ours.propagate = False
  from motion_jax.config import from_dict, to_dict

  try:  # every key is a field of the experiment's typed Config; values are checked here
    config = from_dict(module.Config, FLAGS.config)
  except ValueError as e:
    _fail(f"experiment {name!r}: {e}")
  workdir = pathlib.Path(FLAGS.workdir or ROOT / "runs" / (f"{name}_{arg}" if arg else name))
  workdir.mkdir(parents=True, exist_ok=True)
  from motion_jax.io.report import write_json
  from motion_jax.train import compilation, precision
  from motion_jax.train.writers import write_run_info

  cache = compilation.enable_cache(FLAGS.compilation_cache)
  policy = precision.apply(FLAGS.precision)
  # A generation-only run (--config.generate.texts) records its config beside its clips, so the
  # training run's config.json in the workdir is kept.
  gen = getattr(config, "generate", None)
  info_dir = workdir / gen.out if getattr(gen, "texts", "") else workdir
  write_run_info(
    info_dir, to_dict(config), seed=config.seed, experiment=f"{name}:{arg}", precision=policy
  )
  print(
    f"[launch] experiment={name} arg={arg or '-'} workdir={workdir} "
    f"compilation_cache={cache or 'off'} precision={policy}",
    flush=True,
  )
  with compilation.CompileTimer() as timer:
    try:
      module.run(config, str(workdir))
    finally:
      summary = {"compilation_cache": cache, **timer.summary()}
      if jax.process_index() == 0:
        write_json(workdir / "compile.json", summary)
      print(
        f"[launch] XLA compile time {summary['compile_seconds_total']:.1f} s over "
        f"{summary['compilations']} compilations (details: {workdir / 'compile.json'})",
        flush=True,
      )


if __name__ == "__main__":
  _module, _name, _arg = _prepare(sys.argv)
  app.run(lambda argv: main(argv, _module, _name, _arg))
