"""KinMo Table 4 ablation: text-motion retrieval with global / +group / +interaction levels.

Trains four KinMo HTMA variants (Zhang et al., arXiv 2411.15472, Table 4) on the embedded procedural
text-motion dataset (HumanML3D layout with KinMo group / interaction descriptions):

  (1) global         only the global caption (a TMR model: mu/logvar tokens, TMR's losses),
  (2) +group         global + group-level descriptions; the group features attend to the global
                     encoding before the group encoder (eq. 5),
  (3) +interaction   the full hierarchy (eqs. 4-6), TMR's terms + InfoNCE (eq. 7) per level,
  (4) full, no CA    the full hierarchy without the cross-attention fusion,

and, on request (``--config.variants=...,post_alignment``), (5) the earlier encode-then-fuse form
(``alignment='post'``). Retrieval compares ``[mu_c; mu_g; mu_i]`` of the trained levels with the
motion ``mu`` (sec. 4.1; ``model.model.retrieval``).

Test-time group / interaction descriptions (``descriptions``), each variant evaluated on both:
- **oracle**: the dataset's own (ground-truth) KinMo texts of each test clip;
- **reasoner**: the paper derives them from the global caption with its Motion Reasoner (a
  fine-tuned LLaMA-3, not available here); the stand-in `data/text_motion/reasoner.py` takes them
  from the nearest training captions in MiniLM space (``reasoner.*``), from the caption alone.
  results.md states how often its texts equal the oracle ones.

``seeds`` > 1 trains every variant once per seed (``<workdir>/<variant>_seed<s>/`` after the
first) and reports mean ± 95 % Student-t half-width over seeds.

Each variant trains with the shared loop in ``<workdir>/<variant>/``, a cached stage
(`motion_jax.train.artifacts.cached_stage`: rerunning resumes an unfinished variant from its
checkpoints and loads a finished one; a changed config retrains it). The frozen
MiniLM features of every distinct sentence are computed once and cached in
``<workdir>/text_features.npz``. Evaluation on the test split: text->motion and motion->text
R@1/2/3/5/10 and median rank under TMR's four protocols (a) all, (b) caption-similarity threshold,
(c) 100 dissimilar pairs, (d) batches of 32; written to ``results.md`` / ``results.json`` with the
protocol settings, and the training losses to ``losses.png``.

Presets: default = TMR's sizes and optimiser (latent 256, 6 layers, 4 heads, ff 1024, AdamW 1e-4,
batch 32; ~500 epochs); ``quick`` = latent 64, 1 layer, 800 steps, motions subsampled to 10 fps
(10-15 min on a 2-core CPU measured before the eqs. 4-7 model: the motion decoder and the
per-level TMR terms add cost, not re-measured); ``tiny`` = a 180-clip dataset and a few steps
(tests).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from dataclasses import replace

import ml_collections
import numpy as np

from experiments import presets
from motion_jax.config import config_dict, to_dict
from motion_jax.data.text_motion import preparation as prep
from motion_jax.data.text_motion import reasoner as reasoner_lib
from motion_jax.io import report
from motion_jax.reports.bige import seed_summary
from motion_jax.stages import retrieval as stage
from motion_jax.stages import text_data
from motion_jax.train import artifacts

# name -> (row label, levels, use_cross_attention, alignment)
VARIANTS = {
  "global": ("(1) global", "global", True, "pre"),
  "group": ("(2) + group", "global+group", True, "pre"),
  "interaction": ("(3) + interaction (full)", "global+group+interaction", True, "pre"),
  "no_cross_attention": ("(4) full w/o cross-attn", "global+group+interaction", False, "pre"),
  "post_alignment": (
    "(5) full, cross-attn after the encoders",
    "global+group+interaction",
    True,
    "post",
  ),
}
TABLE4 = ("global", "group", "interaction", "no_cross_attention")  # default variants
TABLE_KS = (1, 2, 3, 5, 10)
DESCRIPTIONS = ("oracle", "reasoner")
PROTOCOLS = ("all", "all_threshold", "dissimilar", "small_batches")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """Retrieval protocols (TMR): caption-cosine threshold of (b), size of (c), batches of (d)."""

  threshold: float = 0.8
  dissimilar_size: int = 100
  batch_size: int = 32
  num_repeats: int = 10
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  model: stage.RetrievalStageConfig = stage.RetrievalStageConfig()
  variants: str = ",".join(TABLE4)
  eval: EvalConfig = EvalConfig()
  # Test-time group / interaction texts: the dataset's own ('oracle') and/or the retrieval
  # stand-in for the Motion Reasoner ('reasoner', from the global caption alone).
  descriptions: str = ",".join(DESCRIPTIONS)
  reasoner: reasoner_lib.ReasonerConfig = reasoner_lib.ReasonerConfig()
  seeds: int = 1  # training seeds seed, seed+1, ...: tables show mean ± 95 % t-interval

  def __post_init__(self):
    _parse_variants(self.variants)
    _parse_descriptions(self.descriptions)
    if self.seeds < 1:
      raise ValueError(f"seeds must be >= 1, got {self.seeds}")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  m = c.model
  if preset == "quick":
    m = replace(
      m,
      model=replace(
        m.model,
        latent_dim=64,
        ff_dim=128,
        num_layers=1,
        num_heads=4,
        kinmo_text_tokens="sentence",
        frame_stride=2,
      ),
      optim=replace(m.optim, learning_rate=5e-4),
      loop=replace(m.loop, num_steps=800, log_every=25, checkpoint_every=400),
    )
    # Generator 1.0.0 (its documented quick results and runtime; version 2 has ~80,000 distinct
    # KinMo sentences to encode, too many for a CPU-minutes preset).
    c = replace(c, data=replace(c.data, clips=3000, version="1.0.0"))
  elif preset == "tiny":
    m = replace(
      m,
      model=replace(
        m.model,
        latent_dim=16,
        ff_dim=32,
        num_layers=1,
        num_heads=2,
        kinmo_text_tokens="sentence",
        frame_stride=2,
      ),
      optim=replace(m.optim, learning_rate=1e-3),
      loop=replace(m.loop, num_steps=6, log_every=3, checkpoint_every=0),
      batch_size=8,
    )
    c = replace(
      c,
      data=replace(c.data, root="workdir", clips=180, version="1.0.0"),
      eval=replace(c.eval, batch_size=8, dissimilar_size=16, num_repeats=1),
    )
  return config_dict(replace(c, model=m))


def _parse_list(spec: str, valid, what: str) -> list[str]:
  """The comma-separated names of ``spec``; ValueError naming ``what`` and the valid names."""
  names = [v.strip() for v in spec.split(",") if v.strip()]
  bad = [v for v in names if v not in valid]
  if bad or not names:
    raise ValueError(f"unknown {what} {bad or spec!r}; valid: {', '.join(valid)}")
  return names


def _parse_variants(spec: str) -> list[str]:
  return _parse_list(spec, VARIANTS, "variants")


def _parse_descriptions(spec: str) -> list[str]:
  return _parse_list(spec, DESCRIPTIONS, "descriptions")


def _reasoned_test_source(data, feats, cfg: reasoner_lib.ReasonerConfig) -> tuple[object, dict]:
  """The test split with reasoner-made descriptions (from caption 0, the evaluation query, and
  the train split's bank), and their agreement with the dataset's own."""
  train, test = data.sources["train"], data.sources["test"]
  bank = reasoner_lib.build_bank([train[i] for i in range(len(train))], feats.sentence_embeddings)
  examples = [test[i] for i in range(len(test))]
  queries = [reasoner_lib._str(ex["captions"][0]) for ex in examples]
  groups, inter = reasoner_lib.reason(feats.sentence_embeddings(queries), bank, cfg, queries)

  def oracle(key):
    return [[reasoner_lib._str(t) for t in ex.get(key, [])] for ex in examples]

  agree = {
    "groups": reasoner_lib.agreement(
      groups, oracle("kinmo_group_texts"), feats.sentence_embeddings
    ),
    "interactions": reasoner_lib.agreement(
      inter, oracle("kinmo_interaction_texts"), feats.sentence_embeddings
    ),
    "bank_captions": len(bank.captions),
  }
  return reasoner_lib.WithDescriptions(test, groups, inter), agree


def _read_metrics(path: pathlib.Path) -> dict[int, dict]:
  out = {}
  if path.exists():
    for line in path.read_text().splitlines():
      if line.strip():
        row = json.loads(line)
        out[int(row["step"])] = row  # a resumed run appends; keep the last per step
  return out


def _loss_plot(workdir: pathlib.Path, names: list[str]) -> None:
  curves = {n: _read_metrics(workdir / n / f"align_{n}.jsonl") for n in names}
  steps = sorted(set.intersection(*(set(c) for c in curves.values()))) if curves else []
  if not steps:
    return
  t = np.asarray(steps)
  series, total, glob = {}, [], []
  for n, c in curves.items():
    series[f"{n}: total"] = np.asarray([c[s]["loss"] for s in steps])
    series[f"{n}: global InfoNCE"] = np.asarray(
      [c[s].get("global_contrastive", np.nan) for s in steps]
    )
    total.append(f"{n}: total")
    glob.append(f"{n}: global InfoNCE")
  report.plot_series(
    workdir / "losses.png",
    t,
    series,
    title="KinMo ablation: training losses",
    xlabel="step",
    ylabel="loss",
    panels=[total, glob],
  )


def _row(label: str, metrics: dict) -> list:
  """One table row; ``metrics`` values are numbers or `seed_summary`'s {mean, ci95}."""

  def cell(key):
    m = metrics[key]
    if isinstance(m, dict):
      return f"{m['mean']:.2f} ± {m['ci95']:.2f}" if m["values"][1:] else f"{m['mean']:.2f}"
    return f"{m:.2f}"

  keys = (
    [f"t2m/R@{k}" for k in TABLE_KS]
    + ["t2m/MedR"]
    + [f"m2t/R@{k}" for k in TABLE_KS]
    + ["m2t/MedR"]
  )
  return [label] + [cell(k) for k in keys]


def run(config: Config, workdir: str) -> dict:
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  names = _parse_variants(config.variants)
  timings = {}
  t0 = time.perf_counter()
  data = text_data.load(config.data, workdir)
  for split in ("train", "test"):
    if split not in data.sources:
      raise ValueError(f"the dataset at {data.root} has no {split} examples")
  timings["dataset_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  feats, captions, kinmo = text_data.text_features(data, workdir / "text_features.npz")
  timings["text_features_s"] = time.perf_counter() - t0
  cap_tokens = prep.token_budget(feats, captions)
  kinmo_tokens = prep.token_budget(feats, kinmo)
  m = config.model
  descriptions = _parse_descriptions(config.descriptions)
  test_sources = {"oracle": data.sources["test"]}
  agreement = None
  if "reasoner" in descriptions:
    t0 = time.perf_counter()
    test_sources["reasoner"], agreement = _reasoned_test_source(data, feats, config.reasoner)
    timings["reasoner_s"] = time.perf_counter() - t0
  test_sources = {d: test_sources[d] for d in descriptions}
  seeds = [config.seed + i for i in range(config.seeds)]
  results, queries = {}, []
  rows = {(d, p): [] for d in descriptions for p in PROTOCOLS}
  for name in names:
    label, level_set, cross, alignment = VARIANTS[name]
    levels = stage.LEVEL_SETS[level_set]
    spec = prep.FeaturizeSpec(
      levels, m.model.kinmo_text_tokens, cap_tokens, kinmo_tokens, m.model.frame_stride
    )
    post = prep.make_featurizer(feats, spec)
    model = stage.make_model(
      m.model,
      levels=levels,
      use_cross_attention=cross,
      motion_features=data.dim,
      text_features=feats.width,
      alignment=alignment,
    )
    tests = {
      d: prep.eval_batch(src, post, data, config.data.max_length, config.data.unit_length)
      for d, src in test_sources.items()
    }
    evals = {d: [] for d in descriptions}
    for seed in seeds:
      stage_name = name if seed == config.seed else f"{name}_seed{seed}"
      batcher = prep.train_batcher(data, config.data, post, batch_size=m.batch_size, seed=seed)
      t0 = time.perf_counter()

      def train(stage_name=stage_name, batcher=batcher, model=model, levels=levels, seed=seed):
        params = stage.train_alignment(
          m, batcher, model, levels, workdir / stage_name, seed=seed, desc=f"align_{stage_name}"
        )
        return {"params": params}, {}

      fingerprint = {"data": to_dict(config.data), "model": to_dict(m), "seed": seed,
                     "variant": VARIANTS[name], "features": str(feats.encoder)}  # fmt: skip
      params = artifacts.cached_stage(workdir, stage_name, train, fingerprint).arrays["params"]
      timings[f"{stage_name}_train_s"] = time.perf_counter() - t0
      t0 = time.perf_counter()
      for d, test in tests.items():
        text_emb, motion_emb = stage.embed_split(model, params, test)
        evals[d].append(
          stage.evaluate(
            text_emb,
            motion_emb,
            test["caption_embedding"],
            levels,
            retrieval=m.model.retrieval,
            threshold=config.eval.threshold,
            dissimilar_size=config.eval.dissimilar_size,
            batch_size=config.eval.batch_size,
            seed=config.eval.seed,
            num_repeats=config.eval.num_repeats,
          )
        )
      timings[f"{stage_name}_eval_s"] = time.perf_counter() - t0
    queries = tests[descriptions[0]]["caption"]
    first = evals[descriptions[0]][0]
    results[name] = {
      "label": label,
      "levels": list(levels),
      "cross_attention": cross,
      "alignment": alignment,
      **first,  # the first seed under the first description set
      "descriptions": {d: evals[d][0] for d in descriptions},
      "seeds": {
        d: {p: seed_summary([e["main"][p] for e in evals[d]]) for p in PROTOCOLS}
        for d in descriptions
      },
    }
    for d in descriptions:
      for p in PROTOCOLS:
        rows[d, p].append(_row(label, results[name]["seeds"][d][p]))
    report.write_json(workdir / "results.json", {"variants": results})  # partial progress
  n_test = len(data.sources["test"])
  settings = stage.protocol_settings(
    config.eval.threshold,
    config.eval.dissimilar_size,
    min(config.eval.batch_size, n_test),
    config.eval.seed,
    config.eval.num_repeats,
    n_test,
  )
  timings["total_s"] = time.perf_counter() - t_start
  out = {
    "variants": results,
    "protocols": settings,
    "timings": timings,
    "dataset": {
      "root": str(data.root),
      "examples": {s: len(v) for s, v in data.sources.items()},
      "distinct_sentences": len(feats),
      "distinct_test_queries": len(set(queries)),
    },
    "inputs": {
      "caption_tokens": cap_tokens,
      "kinmo_text_tokens": m.model.kinmo_text_tokens,
      "kinmo_tokens": kinmo_tokens,
    },
    "descriptions": (
      ", ".join(descriptions) + " (oracle: the dataset's ground-truth group / interaction texts "
      "at test time; reasoner: the retrieval stand-in for the Motion Reasoner, from the caption)"
    ),
    "reasoner": {"config": to_dict(config.reasoner), "agreement": agreement},
    "seeds": seeds,
    "config": to_dict(config),
  }
  report.write_json(workdir / "results.json", out)
  _loss_plot(workdir, names)
  header = (
    ["variant"]
    + [f"t2m R@{k}" for k in TABLE_KS]
    + ["t2m MedR"]
    + [f"m2t R@{k}" for k in TABLE_KS]
    + ["m2t MedR"]
  )
  titles = {
    "all": "(a) all test pairs",
    "all_threshold": f"(b) all, caption cosine > {config.eval.threshold} counts as correct",
    "dissimilar": f"(c) {min(config.eval.dissimilar_size, n_test)} dissimilar pairs",
    "small_batches": f"(d) batches of {min(config.eval.batch_size, n_test)}, "
    f"{config.eval.num_repeats} permutation(s)",
  }
  retrieval_text = (
    "[mu_c; mu_g; mu_i] of the trained levels (sec. 4.1)"
    if m.model.retrieval == "concat"
    else "the finest trained level"
  )
  md = [
    "# kinmo_retrieval results\n",
    f"KinMo Table 4 ablation on the procedural dataset ({data.root}): "
    f"{len(data.sources['train'])} train / {n_test} test clips, {len(feats)} distinct "
    f"sentences. Model: latent {m.model.latent_dim}, {m.model.num_layers} layer(s), "
    f"{m.model.num_heads} heads, ff {m.model.ff_dim}; {m.loop.num_steps} steps of batch "
    f"{m.batch_size}, lr {m.optim.learning_rate}. KinMo texts as "
    f"`{m.model.kinmo_text_tokens}` tokens; alignment `{m.model.alignment}` (cross-attention "
    f"{'before' if m.model.alignment == 'pre' else 'after'} each level's encoder), objective "
    f"`{m.loss.objective}`. Retrieval text embedding: {retrieval_text}. "
    f"Recalls in %, MedR = median rank. Total wall time {timings['total_s']:.0f} s.\n",
    "**Oracle descriptions**: the tables so marked read the dataset's own group / interaction "
    "descriptions of each test clip; the paper derives them from the global caption with its "
    "Motion Reasoner (an LLM), so those rows are optimistic for that protocol.\n",
    f"Note: the {n_test} test queries hold only {len(set(queries))} distinct captions "
    "(procedural captions repeat across clips of one action), so under (a) a clip with the "
    "same caption as the query counts as a wrong retrieval; (b) counts it as correct.\n",
  ]
  if agreement is not None:
    r = config.reasoner
    md.append(
      f"**Reasoner descriptions**: the retrieval stand-in for KinMo's Motion Reasoner "
      f"(`data/text_motion/reasoner.py`; rule `{r.rule}`, {r.neighbours} nearest of "
      f"{agreement['bank_captions']} training captions in MiniLM space) makes each test clip's "
      "group / interaction texts from its caption alone. Against the dataset's texts: "
      f"{100 * agreement['groups']['exact']:.1f} % of group and "
      f"{100 * agreement['interactions']['exact']:.1f} % of interaction slots exact, mean MiniLM "
      f"cosine {agreement['groups']['cosine']:.3f} / {agreement['interactions']['cosine']:.3f}.\n"
    )
  if len(seeds) > 1:
    md.append(
      f"Each cell: mean ± 95 % Student-t half-width over {len(seeds)} training seeds {seeds}.\n"
    )
  for d in descriptions:
    for p in PROTOCOLS:
      md.append(
        f"## {titles[p]} ({d} descriptions)\n\n"
        + report.markdown_table(header, rows[d, p], "{}")
        + "\n"
      )
  md.append("## Protocol settings\n\n" + "\n".join(f"- {k}: {v}" for k, v in settings.items()))
  md.append("\n![training losses](losses.png)\n")
  text = "\n".join(md)
  (workdir / "results.md").write_text(text)
  print(text)
  return out
