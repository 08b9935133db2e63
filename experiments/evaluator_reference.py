"""Generation evaluator reference rows: Real, shuffled captions, nearest training clip.

Trains (or loads) the frozen text-motion evaluator of `motion_jax.stages.evaluator` on the
configured text-motion dataset (by default the procedural generator 2.0.0, 10,000 clips) and
scores three reference "generators" on its test split with Guo et al.'s protocol (R-precision in
batches of 32, FID, MM-Dist, Diversity; 20 repeats with 95 % intervals):

* **Real**: the ground-truth test motions (what a perfect generator scores; FID 0 by construction);
* **shuffled captions**: each text gets a random test motion (R-precision must sit at chance,
  k / 32);
* **nearest training clip**: retrieval, no generation - each test text gets the training motion
  whose caption is closest in MiniLM sentence space (`evaluator.nearest_training_clip`). On a
  dataset whose captions repeat (generator 1.x) it matches Real; on a compositional dataset it
  must stay clearly below it.

Prints the table and writes ``results.md`` / ``results.json``. Presets: ``quick`` (the evaluator's
quick preset: latent 64, 1 layer, 600 steps), ``tiny`` (a 180-clip dataset, a few steps; tests).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from dataclasses import replace

import ml_collections

from experiments import presets
from motion_jax.config import config_dict, to_dict
from motion_jax.io import report
from motion_jax.metrics import generation as gen_lib
from motion_jax.stages import evaluator as ev_lib


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  evaluator: ev_lib.EvaluatorConfig = ev_lib.EvaluatorConfig()
  split: str = "test"
  num_repeats: int = gen_lib.NUM_REPEATS


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config(evaluator=presets.evaluator(preset))
  if preset == "tiny":
    c = replace(c, num_repeats=2)
  return config_dict(c)


def run(config: Config, workdir: str) -> dict:
  workdir = pathlib.Path(workdir)
  t0 = time.perf_counter()
  evaluator = ev_lib.ensure_evaluator(workdir, config.evaluator)
  t_train = time.perf_counter() - t0
  pairs = ev_lib.eval_pairs(workdir, config.evaluator, config.split)
  checks = ev_lib.sanity_check(evaluator, pairs, num_repeats=config.num_repeats, seed=config.seed)
  nearest_fn = ev_lib.nearest_training_clip(workdir, config.evaluator, evaluator)
  used = (len(pairs) // gen_lib.R_PRECISION_BATCH) * gen_lib.R_PRECISION_BATCH
  nearest = gen_lib.evaluate_generator(
    evaluator,
    nearest_fn,
    pairs,
    num_repeats=config.num_repeats,
    diversity_pairs=min(gen_lib.DIVERSITY_PAIRS, used),
    multimodality_eval=False,
    seed=config.seed,
  )
  rows = {
    "Real": checks["real"],
    "shuffled captions (random test motion per text)": checks["shuffled"],
    "nearest training clip (retrieved by caption)": nearest,
  }
  table = report.markdown_table(
    gen_lib.TABLE_HEADER, [gen_lib.format_row(k, v) for k, v in rows.items()]
  )
  head = (
    f"Evaluator reference rows on the {config.split} split ({len(pairs)} pairs, "
    f"{config.num_repeats} repeats, batches of {gen_lib.R_PRECISION_BATCH}; chance top-1/2/3 = "
    + "/".join(f"{c:.3f}" for c in checks["chance_r_precision"])
    + f"; FID between two halves of the real motions: {checks['fid_real_halves']:.3f})"
  )
  text = head + "\n\n" + table + "\n"
  print(text)
  (workdir / "results.md").write_text(text)
  out = {
    "config": to_dict(config),
    "rows": rows,
    "fid_real_halves": checks["fid_real_halves"],
    "pairs": len(pairs),
    "evaluator_seconds": round(t_train, 1),
  }
  report.write_json(workdir / "results.json", out)
  return out
