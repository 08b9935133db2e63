"""LADiff (length-aware latent diffusion) next to an MLD-style fixed-latent baseline.

Trains, on a text-motion dataset (the embedded procedural one by default), LADiff's
length-aware VAE and its latent denoiser (`motion_jax.stages.ladiff`), and the same two stages
with ``length_aware=False`` (the baseline: one fixed K x D latent, all tokens active at every
length). Both sample with DDIM (``steps``, eta) and classifier-free guidance
(``guidance_scale``); LADiff's noise has k = ceil(f / r) tokens for a requested length f, and
both decode exactly f frames. Results (``results.md`` / ``results.json``):

* the generation table (`motion_jax.metrics.generation`, the project's evaluator
  `motion_jax.stages.evaluator`): Real, Shuffled texts, LADiff, baseline, at the ground-truth
  lengths;
* the length table: for each requested length L of ``lengths.lengths``, the evaluation clips
  (``lengths.splits``) whose length is nearest to L form its bucket; each method generates the
  bucket's captions at L frames; reported: the decoded length error (0 by construction), the
  motion's own duration error and moving fraction (`motion_jax.reports.ladiff`; the real bucket
  clips give the reference), and the bucket's FID and R-precision top-1/3 (batches of
  min(32, bucket size): chance top-1 = 1 / that);
* ``latents_pca.png``: sampled latents of 3 actions' captions at ``latents.lengths`` frames, one
  PCA panel per method (the lecture's t-SNE figure).

Stages (`cached_stage`): ``evaluator``, ``lavae``, ``latent_diffusion``, ``baseline_vae``,
``baseline_diffusion``; a rerun with the same config only re-evaluates. After the tables, the first
``generate.export_clips`` test captions are generated at their lengths by ``generate_method``
(``ladiff`` or ``baseline``) and exported with the real clips to ``samples/`` (features, joints,
BVH, GIF). Generation only: ``--config.generate.texts='a caption|another'`` with
``--config.generate.lengths=40,120`` (frames, one per caption or one for all; default the median
training length) samples the workdir's trained ``generate_method`` into ``<workdir>/generated/``
and trains nothing; a config other than the training run's is refused naming the changed keys.

Presets: default = LADiff's code sizes (K = 5, D = 256, r = 48; VAE and denoiser 9 layers,
4 heads, ff 1024; DDPM 1000 scaled-linear, DDIM 20, CFG 7.5) on the 10,000-clip 2.0.0 build at
196 frames; ``quick`` = the 1,200-clip single-action (1.0.0) build cropped to 120 frames (its
clips have 40-199; not the 64-frame crop of the other generators' quick presets, since lengths are
the point here: its rows are not comparable with theirs), so r = 48 gives k = 1..3; requested
lengths 40/80/120 and latent lengths 24/72/120 (the lecture's 30/96/144 scaled to the crop);
D = 64, 2-layer models, 300 + 300 steps of 32 per method (23 min with the evaluator cached on
a 2-core CPU shared with two other jobs), latents normalised by their std;
``tiny`` = a 180-clip 1.0.0 build cut to 64 frames with
r = 16 (so k still ranges over 1..4), a few steps (tests).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from dataclasses import replace

import jax
import ml_collections
import numpy as np

from experiments import presets
from experiments.generation import (
  GenerateConfig,
  load_trained_result,
  with_captions,
  write_generated,
)
from motion_jax.config import config_dict, to_dict
from motion_jax.data.text_motion import preparation as prep
from motion_jax.io import report
from motion_jax.metrics import generation as gen_lib
from motion_jax.models.denoiser_common import TextConditionerConfig
from motion_jax.models.ladiff import LAVAE, LatentDenoiser, active_subspaces
from motion_jax.reports import ladiff as ladiff_report
from motion_jax.reports import text_motion as text_motion_report
from motion_jax.stages import evaluator as ev_lib
from motion_jax.stages import ladiff as stage
from motion_jax.stages import text_data
from motion_jax.stages.evaluator import EvaluatorConfig, GenerationEvalConfig
from motion_jax.train import artifacts

FEATURES_FILE = ev_lib.FEATURES_FILE
METHODS = {"LADiff": True, "MLD-style fixed latent": False}  # label -> length_aware
GENERATE_METHODS = {"ladiff": "LADiff", "baseline": "MLD-style fixed latent"}  # name -> label


@dataclasses.dataclass(frozen=True)
class LengthEvalConfig:
  lengths: tuple[int, ...] = (40, 80, 120, 160, 196)
  splits: tuple[str, ...] = ("test", "val")
  rest_speed: float = 0.1  # m/s: a frame moves when some joint is at least this fast
  min_bucket: int = 8  # buckets with fewer real clips are reported empty


@dataclasses.dataclass(frozen=True)
class LatentFigureConfig:
  actions: tuple[str, ...] = ("kick", "walk", "jump")  # a caption with a word starting so, each
  lengths: tuple[int, ...] = (30, 96, 144)  # the lecture's
  samples: int = 8


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  steps: int = stage.DEFAULT_STEPS
  guidance_scale: float = stage.DEFAULT_SCALE
  eta: float = 0.0
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  vae: stage.LAVAEStageConfig = stage.LAVAEStageConfig()
  diffusion: stage.LatentDiffusionStageConfig = stage.LatentDiffusionStageConfig()
  evaluator: EvaluatorConfig = EvaluatorConfig()
  eval: GenerationEvalConfig = GenerationEvalConfig()
  lengths: LengthEvalConfig = LengthEvalConfig()
  latents: LatentFigureConfig = LatentFigureConfig()
  generate: GenerateConfig = GenerateConfig()
  # Which method generation only (``generate.texts``) and the exported samples use.
  generate_method: str = "ladiff"  # 'ladiff' | 'baseline'

  def __post_init__(self):
    if self.generate_method not in GENERATE_METHODS:
      raise ValueError(
        f"generate_method: one of {', '.join(GENERATE_METHODS)}, got {self.generate_method!r}"
      )
    too_long = [n for n in self.lengths.lengths + self.latents.lengths if n > self.data.max_length]
    if too_long:
      raise ValueError(f"lengths {too_long} exceed data.max_length={self.data.max_length}")
    if self.steps < 1:
      raise ValueError(f"steps must be >= 1, got {self.steps}")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  if preset == "quick":
    text = TextConditionerConfig(width=64, num_layers=1, num_heads=4, ff_dim=128)
    c = replace(
      c,
      data=replace(c.data, clips=1200, version="1.0.0", max_length=120),
      vae=replace(
        c.vae,
        model=replace(c.vae.model, latent_dim=64, num_layers=2, num_heads=4, ff_dim=128),
        optim=replace(c.vae.optim, learning_rate=5e-4),
        loop=replace(c.vae.loop, num_steps=300, log_every=100, checkpoint_every=500),
        batch_size=32,
      ),
      diffusion=replace(
        c.diffusion,
        denoiser=replace(c.diffusion.denoiser, num_layers=2, ff_dim=128, text=text),
        normalize_latents=True,
        optim=replace(c.diffusion.optim, learning_rate=5e-4),
        loop=replace(c.diffusion.loop, num_steps=300, log_every=100, checkpoint_every=500),
        batch_size=32,
      ),
      lengths=replace(c.lengths, lengths=(40, 80, 120)),
      latents=replace(c.latents, lengths=(24, 72, 120)),
    )
  elif preset == "tiny":
    text = TextConditionerConfig(width=16, num_layers=1, num_heads=2, ff_dim=32)
    c = replace(
      c,
      data=replace(c.data, root="workdir", clips=180, version="1.0.0", max_length=64),
      steps=3,
      vae=replace(
        c.vae,
        model=replace(
          c.vae.model, latent_dim=16, frames_per_subspace=16, num_layers=1, num_heads=2, ff_dim=32
        ),
        optim=replace(c.vae.optim, learning_rate=1e-3),
        loop=replace(c.vae.loop, num_steps=4, log_every=2, checkpoint_every=0),
        batch_size=8,
      ),
      diffusion=replace(
        c.diffusion,
        denoiser=replace(c.diffusion.denoiser, num_layers=1, num_heads=2, ff_dim=32, text=text),
        normalize_latents=True,
        scale_batches=2,
        optim=replace(c.diffusion.optim, learning_rate=1e-3),
        loop=replace(c.diffusion.loop, num_steps=4, log_every=2, checkpoint_every=0),
        batch_size=8,
      ),
      lengths=replace(c.lengths, lengths=(40, 48, 64), splits=("train",), min_bucket=4),
      latents=replace(c.latents, lengths=(8, 24, 48), samples=2),
    )
  ev = presets.evaluator(preset)
  c = replace(c, eval=presets.generation_eval(c.eval, preset), evaluator=replace(ev, data=c.data))
  return config_dict(c)


def _stage_configs(config: Config, length_aware: bool):
  vae = replace(config.vae, model=replace(config.vae.model, length_aware=length_aware))
  return vae, config.diffusion


def _train_method(
  config: Config, workdir: pathlib.Path, data, feats, cap_tokens: int, batchers, length_aware: bool
):
  """The VAE and the latent denoiser of one method (cached stages): a `stage.Generator`.
  ``batchers``: (the VAE's, the latent diffusion's) training batches; None loads the trained
  stages and never trains (FileNotFoundError / ValueError as `load_trained_result`)."""

  def cached(name, fn, fp):
    if batchers is None:
      return load_trained_result(workdir, name, fp, "ladiff")
    return artifacts.cached_stage(workdir, name, fn, fp)

  vae_cfg, dif_cfg = _stage_configs(config, length_aware)
  vae_batcher, dif_batcher = batchers or (None, None)
  vae_name = "lavae" if length_aware else "baseline_vae"
  dif_name = "latent_diffusion" if length_aware else "baseline_diffusion"
  vae = LAVAE(vae_cfg.model, data.dim)
  denoiser = LatentDenoiser(dif_cfg.denoiser)
  common = {"data": to_dict(config.data), "seed": config.seed, "features": str(feats.encoder)}

  def train_vae():
    params = stage.train_vae(
      vae_cfg, vae_batcher, vae, workdir / vae_name, seed=config.seed, desc=vae_name
    )
    return {"params": params}, {"length_aware": length_aware}

  vae_res = cached(vae_name, train_vae, {**common, "vae": to_dict(vae_cfg)})
  vae_params = vae_res.arrays["params"]

  def train_diffusion():
    scale = stage.latent_scale(vae, vae_params, dif_batcher, dif_cfg)
    params = stage.train_diffusion(
      dif_cfg,
      dif_batcher,
      vae,
      vae_params,
      denoiser,
      workdir / dif_name,
      seed=config.seed,
      scale=scale,
      desc=dif_name,
    )
    return {"params": params, "scale": np.float32(scale)}, {"scale": scale}

  fp = {**common, "diffusion": to_dict(dif_cfg), "vae": vae_res.fingerprint}
  dif = cached(dif_name, train_diffusion, fp).arrays
  return stage.Generator(
    vae,
    vae_params,
    denoiser,
    dif["params"],
    dif_cfg,
    float(dif["scale"]),
    feats,
    data.mean,
    data.std,
    max_frames=config.data.max_length,
    caption_tokens=cap_tokens,
    chunk=config.eval.chunk,
  )


def _pairs(workdir, ev_cfg, splits) -> gen_lib.TextMotionPairs:
  parts = [ev_lib.eval_pairs(workdir, ev_cfg, split=s) for s in splits]
  return gen_lib.TextMotionPairs(
    tuple(m for p in parts for m in p.motions), tuple(c for p in parts for c in p.captions)
  )


def _buckets(pairs, lengths: tuple[int, ...], max_length: int) -> dict[int, np.ndarray]:
  """Indices of the clips whose (cropped) length is nearest to each requested length."""
  real = np.asarray([min(len(m), max_length) for m in pairs.motions])
  nearest = np.argmin(np.abs(real[:, None] - np.asarray(lengths)[None]), axis=1)
  return {n: np.flatnonzero(nearest == i) for i, n in enumerate(lengths)}


def _bucket_scores(evaluator, texts, real_emb, motions) -> dict[str, float]:
  gen_emb = evaluator.embed_motions(motions)
  text_emb = evaluator.embed_texts(texts)
  batch = min(gen_lib.R_PRECISION_BATCH, len(texts))
  top, _ = gen_lib.r_precision(text_emb, gen_emb, batch, 3)
  return {
    "fid": gen_lib.fid(real_emb, gen_emb),
    "r_top1": float(top[0]),
    "r_top3": float(top[2]),
    "r_batch": batch,
  }


def _length_table(config: Config, evaluator, generators, pairs, key) -> dict:
  lc = config.lengths
  out: dict = {}
  for n, idx in _buckets(pairs, lc.lengths, config.data.max_length).items():
    if len(idx) < lc.min_bucket:
      out[n] = {"clips": int(len(idx))}
      continue
    texts = [pairs.captions[i][0] for i in idx]
    real = [pairs.motions[i][: config.data.max_length] for i in idx]
    real_emb = evaluator.embed_motions(real)
    row = {
      "clips": int(len(idx)),
      "Real": {
        **ladiff_report.length_statistics(real, [len(m) for m in real], lc.rest_speed),
        **_bucket_scores(evaluator, texts, real_emb, real),
      },
    }
    for label, gen in generators.items():
      motions = gen.generate(
        texts,
        [n] * len(texts),
        jax.random.fold_in(key, n),
        steps=config.steps,
        guidance_scale=config.guidance_scale,
        eta=config.eta,
      )
      row[label] = {
        **ladiff_report.length_statistics(motions, [n] * len(texts), lc.rest_speed),
        **_bucket_scores(evaluator, texts, real_emb, motions),
      }
    out[n] = row
  return out


def _action_captions(data, actions: tuple[str, ...]) -> list[str]:
  captions = prep.collect_sentences(data)[0]
  out = []
  for a in actions:
    hits = sorted(c for c in captions if any(w.startswith(a) for w in c.lower().split()))
    if not hits:
      raise ValueError(f"latents.actions: no caption contains {a!r}")
    out.append(hits[0])
  return out


def _latent_figure(config: Config, workdir, data, generators, key) -> tuple[str, dict]:
  lf = config.latents
  captions = _action_captions(data, lf.actions)
  texts = [c for c in captions for _ in lf.lengths for _ in range(lf.samples)]
  lens = [n for _ in captions for n in lf.lengths for _ in range(lf.samples)]
  panels, used = {}, {}
  for label, gen in generators.items():
    _, z = gen.generate(
      texts,
      lens,
      key,
      steps=config.steps,
      guidance_scale=config.guidance_scale,
      eta=config.eta,
      return_latents=True,
    )
    panels[label] = (z, texts, lens)
    used[label] = sorted({int(k) for k in active_subspaces(np.asarray(lens), gen.vae.config)})
  path = ladiff_report.latent_pca_figure(workdir / "latents_pca.png", panels)
  return str(path), {"captions": captions, "active_tokens": used}


LENGTH_HEADER = [
  "L",
  "clips",
  "method",
  "decoded len err",
  "duration rel err",
  "moving frac",
  "FID",
  "R top-1",
  "R top-3",
  "R batch",
]


def _length_rows(table: dict) -> list[list]:
  rows = []
  for n, row in table.items():
    if set(row) == {"clips"}:
      rows.append([n, row["clips"], "(too few clips)"] + ["-"] * 7)
      continue
    for label, r in row.items():
      if label == "clips":
        continue
      rows.append(
        [
          n,
          row["clips"],
          label,
          f"{r['decoded_length_error']:.1f}",
          f"{r['duration_rel_error']:.3f}",
          f"{r['moving_fraction']:.3f}",
          f"{r['fid']:.3f}",
          f"{r['r_top1']:.3f}",
          f"{r['r_top3']:.3f}",
          r["r_batch"],
        ]
      )
  return rows


def _sample(generator: stage.Generator, config: Config, texts, lengths, call: int):
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), call)
  return generator.generate(
    texts, lengths, key, steps=config.steps, guidance_scale=config.guidance_scale, eta=config.eta
  )


def load_trained(
  config: Config, workdir: str | pathlib.Path, texts=(), method: str | None = None
) -> tuple[stage.Generator, prep.TextMotionData]:
  """The workdir's trained ``method`` (default ``config.generate_method``) as a `stage.Generator`;
  nothing is trained: FileNotFoundError when the run has not trained it, ValueError naming the
  changed keys when ``config`` differs from its training run's. ``texts`` missing from the
  feature cache are encoded (MiniLM) first."""
  workdir = pathlib.Path(workdir)
  data = text_data.load(config.data, workdir)
  feats, captions, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  feats = with_captions(workdir / FEATURES_FILE, feats, texts)
  tokens = prep.token_budget(feats, list(captions) + list(texts))
  length_aware = METHODS[GENERATE_METHODS[method or config.generate_method]]
  return _train_method(config, workdir, data, feats, tokens, None, length_aware), data


def generate_only(config: Config, workdir: pathlib.Path) -> dict:
  """Clips for ``config.generate.texts`` from the workdir's trained ``generate_method``, each at
  its requested length (default: the median training length), into ``<workdir>/<generate.out>``
  (`GenerateConfig`)."""
  t0 = time.perf_counter()
  texts, _ = config.generate.parse(1)
  generator, data = load_trained(config, workdir, texts)
  default = int(np.median(data.lengths.get("train") or [config.data.max_length]))
  texts, lengths = config.generate.parse(min(default, config.data.max_length))
  bad = sorted({n for n in lengths if not 1 <= n <= config.data.max_length})
  if bad:
    raise ValueError(f"generate.lengths: {bad} outside 1..data.max_length "
                     f"({config.data.max_length})")  # fmt: skip
  motions = _sample(generator, config, texts, lengths, 0)
  return write_generated(workdir / config.generate.out, texts, lengths, motions, config, t0)


def run(config: Config, workdir: str) -> dict:
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  if config.generate.texts:
    return generate_only(config, workdir)
  ev_cfg = replace(config.evaluator, data=config.data)
  timings = {}
  t0 = time.perf_counter()
  evaluator = ev_lib.ensure_evaluator(workdir, ev_cfg)
  timings["evaluator_s"] = time.perf_counter() - t0
  data = text_data.load(config.data, workdir)
  feats, captions, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  cap_tokens = prep.token_budget(feats, captions)
  post = prep.make_featurizer(feats, prep.FeaturizeSpec(("global",), "sentence", cap_tokens, 8))
  batcher = prep.train_batcher(
    data, config.data, post, batch_size=config.vae.batch_size, seed=config.seed
  )
  if config.diffusion.batch_size != config.vae.batch_size:
    dif_batcher = prep.train_batcher(
      data, config.data, post, batch_size=config.diffusion.batch_size, seed=config.seed + 1
    )
  else:
    dif_batcher = batcher
  generators = {}
  for label, length_aware in METHODS.items():
    t0 = time.perf_counter()
    generators[label] = _train_method(
      config, workdir, data, feats, cap_tokens, (batcher, dif_batcher), length_aware
    )
    timings[f"train_{'ladiff' if length_aware else 'baseline'}_s"] = time.perf_counter() - t0
  pairs = ev_lib.eval_pairs(workdir, ev_cfg, split=config.eval.split)
  e = config.eval
  kw = e.protocol_kwargs(len(pairs), config.seed)
  t0 = time.perf_counter()
  sanity = ev_lib.sanity_check(
    evaluator,
    pairs,
    num_repeats=e.num_repeats,
    diversity_pairs=kw["diversity_pairs"],
    seed=config.seed,
  )
  results = {"Real": sanity["real"], "Shuffled texts": sanity["shuffled"]}
  for label, gen in generators.items():
    calls = [0]

    def generate(texts, lengths, gen=gen, calls=calls):
      calls[0] += 1
      return _sample(gen, config, texts, lengths, calls[0])

    results[label] = gen_lib.evaluate_generator(evaluator, generate, pairs, pass_lengths=True, **kw)
  timings["generation_table_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  key = jax.random.PRNGKey(config.seed + 1)
  length_pairs = _pairs(workdir, ev_cfg, config.lengths.splits)
  lengths = _length_table(config, evaluator, generators, length_pairs, key)
  timings["length_table_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  figure, figure_info = _latent_figure(config, workdir, data, generators, key)
  timings["latent_figure_s"] = time.perf_counter() - t0
  n_export = min(config.generate.export_clips, len(pairs))
  if n_export > 0:  # the first test captions at their lengths, generated and real
    texts = [pairs.captions[i][0] for i in range(n_export)]
    clip_lengths = [min(len(pairs.motions[i]), config.data.max_length) for i in range(n_export)]
    gen = generators[GENERATE_METHODS[config.generate_method]]
    samples = workdir / "samples"
    text_motion_report.export_clips(
      samples, texts, _sample(gen, config, texts, clip_lengths, 10**6)
    )
    real = [pairs.motions[i][:n] for i, n in enumerate(clip_lengths)]
    text_motion_report.export_clips(samples / "real", texts, real)
  timings["total_s"] = time.perf_counter() - t_start
  out = {
    "kind": "generator",
    "results": results,
    "length_table": {str(k): v for k, v in lengths.items()},
    "latent_figure": {"path": figure, **figure_info},
    "fid_real_halves": sanity["fid_real_halves"],
    "timings": timings,
    "dataset": {
      "root": str(data.root),
      "split": e.split,
      "pairs": len(pairs),
      "length_splits": list(config.lengths.splits),
    },
    "config": to_dict(config),
    "seed": config.seed,
  }
  report.write_json(workdir / "results.json", out)
  md = [
    "# ladiff results\n",
    f"LADiff and the MLD-style fixed-latent baseline on {data.root}: VAE "
    f"{config.vae.loop.num_steps} steps of {config.vae.batch_size}, latent diffusion "
    f"{config.diffusion.loop.num_steps} steps of {config.diffusion.batch_size} each; "
    f"K = {config.vae.model.num_subspaces}, D = {config.vae.model.latent_dim}, "
    f"r = {config.vae.model.frames_per_subspace}; DDIM {config.steps} steps, eta {config.eta:g}, "
    f"guidance {config.guidance_scale:g}; seed {config.seed}. Total wall time "
    f"{timings['total_s']:.0f} s.\n",
    f"## Generation ({len(pairs)} {e.split} pairs at their lengths, mean ± 95% interval over "
    f"{e.num_repeats} repeats)\n",
    report.markdown_table(
      gen_lib.TABLE_HEADER, [gen_lib.format_row(k, r) for k, r in results.items()], "{}"
    ),
    f"\nFID between two halves of the real motions: {sanity['fid_real_halves']:.3f}.\n",
    f"## Lengths ({len(length_pairs)} clips of {', '.join(config.lengths.splits)}, bucketed by "
    "nearest requested length L; each method generates the bucket's captions at L frames)\n",
    "decoded len err = |decoded frames - L| (0 by construction); duration = first to last frame "
    f"where some joint moves at >= {config.lengths.rest_speed:g} m/s, rel err = |duration - L| / "
    "L (Real: the bucket's clips against their own lengths, which rest at both ends: compare with "
    "the Real row, lower is not better by itself); moving frac = fraction of frames moving; "
    "FID / R-precision within the bucket (R batch = bucket size when < 32; chance top-1 = 1 / "
    "R batch).\n",
    report.markdown_table(LENGTH_HEADER, _length_rows(lengths), "{}"),
    f"\n## Latents\n\n![latents]({pathlib.Path(figure).name}): PCA of sampled latents for "
    f"{', '.join(repr(c) for c in figure_info['captions'])} at {config.latents.lengths} frames "
    f"({config.latents.samples} samples each); active tokens used: "
    f"{figure_info['active_tokens']}.",
    f"\nConfig (seed {config.seed}) is in results.json.",
  ]
  text = "\n".join(md) + "\n"
  (workdir / "results.md").write_text(text)
  print(text)
  return out
