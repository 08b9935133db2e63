"""T2M-GPT (VQ-VAE + autoregressive GPT with a KV cache) evaluated with T2M's protocol.

Trains the single-quantiser motion VQ-VAE (`motion_jax.stages.vqvae`, T2M-GPT's architecture) on
windows of a text-motion dataset (the embedded procedural one by default; a HumanML3D folder with
``--config.data.root=/path``), then the GPT over its tokens (`motion_jax.stages.t2m_gpt`). For
every evaluation caption it samples tokens until End (the motion's length is the model's own,
4 frames a token, End allowed from the evaluator's shortest length on) with a key/value cache,
decodes them and scores them with the project's
generation evaluator (`motion_jax.stages.evaluator`): R-precision top-1/2/3, FID, MM-Dist,
diversity, multimodality, mean ± 95% interval over ``eval.num_repeats`` seeds, next to the "Real"
and "Shuffled texts" rows. Results go to ``results.md`` / ``results.json`` (kind "generator", so
``t2m_table`` lists the rows).

``--config.length=N`` (frames, a multiple of 4 up to ``data.max_length``; 0 = off) forces every
generated clip to N frames instead: End is masked out of the logits before N / 4 tokens and
forced at it, inside the same compiled sampler (a new length does not recompile).

Generation only: ``--config.generate.texts="a person walks|a person jumps"`` (with
``generate.samples``, ``generate.lengths``, ``generate.out``; `experiments.generation`) loads the
workdir's trained VQ-VAE and GPT (same preset and overrides as the training run: another config
is refused, naming the changed keys), samples the captions and exports them to
``<workdir>/generated/`` with a ``generation.json``; nothing is trained or evaluated. Lengths:
``generate.lengths`` (frames, rounded down to whole 4-frame tokens, clipped to
``data.max_length``), else ``length`` when > 0, else the End token (not before
``evaluator.min_frames``, as in the evaluation). After an evaluation run the first
``generate.export_clips`` test captions are exported to ``samples/``.

Stages (`motion_jax.train.artifacts.cached_stage`): ``evaluator``, ``vqvae``, ``t2m_gpt``.

MoCLIP's drop-in text encoder (moclip.txt Sec. 4.3): ``--config.text_encoder=moclip:<workdir>``
(a ``moclip`` experiment's workdir; ``@<run>`` picks a run, default lambda 0.4) trains the MiniLM
stages above (or reuses them from the same workdir), then fine-tunes the GPT from its weights on
the MoCLIP student's sentence embeddings (``text_finetune``, `experiments.generation`; stage
``t2m_gpt_moclip_<digest>``; the VQ-VAE is kept) and evaluates the fine-tuned model, labelled
``t2m_gpt +MoCLIP``
(``+MoCLIP@<run>`` for a run other than the default).
The student's embeddings must be as wide as MiniLM's (384: a MoCLIP run with
``model.text_encoder=minilm``), else the run stops naming ``text_encoder``. The evaluator keeps
MiniLM, so its rows compare with the MiniLM run's. Generation only reads the fine-tuned GPT.

Presets: default = T2M-GPT's sizes (512 x 512 VQ; GPT 9 layers, 1024 dims, 16 heads, block 51);
``quick`` = small models on the single-action procedural dataset (generator 1.0.0), 1,200 clips at
max_length 64 (CPU); ``tiny`` = a 180-clip dataset and a few steps (tests).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Sequence
from dataclasses import replace

import jax
import ml_collections
import numpy as np

from experiments import presets
from experiments.generation import (
  GenerateConfig,
  TextFinetuneConfig,
  check_text_encoder,
  dropin_features,
  finetune_stage_config,
  finetune_stages,
  load_trained_stage,
  token_frames,
  with_captions,
  write_generated,
)
from motion_jax.config import config_dict, to_dict
from motion_jax.data.text_motion import preparation as prep
from motion_jax.io import report
from motion_jax.metrics import generation as gen_lib
from motion_jax.reports import text_motion as text_motion_report
from motion_jax.stages import evaluator as ev_lib
from motion_jax.stages import t2m_gpt as stage
from motion_jax.stages import text_data
from motion_jax.stages import vqvae as vq_stage
from motion_jax.stages.evaluator import EvaluatorConfig
from motion_jax.train import artifacts

FEATURES_FILE = ev_lib.FEATURES_FILE


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  # Frames of every generated clip (evaluation and generation only): 0 = the End token decides;
  # > 0 = End forced after length / 4 tokens (a multiple of 4).
  length: int = 0
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  vqvae: vq_stage.VQStageConfig = vq_stage.VQStageConfig()
  model: stage.T2MGPTStageConfig = stage.T2MGPTStageConfig()
  evaluator: EvaluatorConfig = EvaluatorConfig()
  eval: ev_lib.GenerationEvalConfig = ev_lib.GenerationEvalConfig()
  generate: GenerateConfig = GenerateConfig()
  # The GPT's text encoder (`stages.text_data.text_encoder_choice`): 'minilm' or
  # 'moclip:<moclip workdir>[@<run>]' (then ``text_finetune`` applies; label +MoCLIP[@run]).
  text_encoder: str = "minilm"
  text_finetune: TextFinetuneConfig = TextFinetuneConfig()

  def __post_init__(self):
    check_text_encoder(self.text_encoder, self.text_finetune)
    down, max_length = self.vqvae.model.downsample, self.data.max_length
    if max_length % down:
      raise ValueError(f"data.max_length {max_length} must be a multiple of {down}")
    if self.length and (self.length % down or not down <= self.length <= max_length):
      raise ValueError(
        f"length must be 0 (the End token decides) or a multiple of {down} in [{down}, "
        f"{max_length}] (data.max_length), got {self.length}"
      )
    if self.data.max_length // down + 1 > self.model.gpt.block_size:
      raise ValueError(
        f"data.max_length / {down} tokens + the text token exceed model.gpt.block_size "
        f"{self.model.gpt.block_size}"
      )


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  v, m = presets.vqvae(c.vqvae, preset), c.model
  if preset == "quick":
    v = replace(
      v,
      optim=replace(v.optim, learning_rate=1e-3, decay_steps=(800,)),
      loop=replace(v.loop, num_steps=1000),
    )
    m = replace(
      m,
      gpt=replace(m.gpt, num_layers=3, dim=128, num_heads=4, block_size=17),
      optim=replace(m.optim, learning_rate=1e-3, warmup_steps=100, decay_steps=(1200,)),
      loop=replace(m.loop, num_steps=1500, log_every=50, checkpoint_every=500),
      batch_size=32,
    )
    c = replace(
      c,
      data=presets.generator_data(c.data, preset),
      # CPU-sized MoCLIP fine-tuning, as momask's quick preset: 300 steps at 1e-4 (the paper's
      # 1e-6 over 200 epochs would not move a quick model measurably).
      text_finetune=TextFinetuneConfig(num_steps=300, learning_rate=1e-4),
    )
  elif preset == "tiny":
    v = replace(v, loop=replace(v.loop, num_steps=6, log_every=3, checkpoint_every=0), window=32)
    m = replace(
      m,
      gpt=replace(m.gpt, num_layers=1, dim=16, num_heads=2, block_size=17),
      optim=replace(m.optim, learning_rate=1e-3),
      loop=replace(m.loop, num_steps=4, log_every=2, checkpoint_every=0),
      batch_size=8,
    )
    c = replace(
      c,
      data=replace(c.data, root="workdir", clips=180, version="1.0.0", max_length=64),
      text_finetune=TextFinetuneConfig(num_steps=2, learning_rate=1e-4),
    )  # fmt: skip
  ev = presets.evaluator(preset)
  c = replace(
    c,
    vqvae=v,
    model=m,
    evaluator=replace(ev, data=c.data),
    eval=presets.generation_eval(c.eval, preset),
  )
  return config_dict(c)


def _motion_only(batch):
  return {"motion": np.asarray(batch["motion"], np.float32), "mask": np.asarray(batch["mask"])}


def _fingerprints(config: Config, encoder: str) -> dict[str, dict]:
  """What each trained stage depends on (its `cached_stage` key); ``encoder`` names the text
  features' encoder."""
  vq_fp = {"data": to_dict(config.data), "seed": config.seed, "vqvae": to_dict(config.vqvae)}
  gpt_fp = {**vq_fp, "model": to_dict(replace(config.model, temperature=1.0, top_k=0)),
            "features": encoder}  # fmt: skip
  return {"vqvae": vq_fp, "t2m_gpt": gpt_fp}


FINETUNED = ("t2m_gpt",)  # the VQ-VAE reads no text: kept as trained


def _generator(config: Config, data, feats, vq_vars, params, min_frames: int) -> stage.Generator:
  return stage.Generator(
    vq_stage.make_model(config.vqvae, data.dim), vq_vars, params, config.model, feats, data.mean,
    data.std, max_frames=config.data.max_length, chunk=config.eval.chunk, min_frames=min_frames,
  )  # fmt: skip


def _load(workdir: pathlib.Path, name: str, fingerprint: dict):
  return load_trained_stage(workdir, name, fingerprint, "t2m_gpt")


def load_trained(
  config: Config, workdir: str | pathlib.Path, texts: Sequence[str] = ()
) -> stage.Generator:
  """The workdir's trained VQ-VAE and GPT as a `Generator` (nothing is trained):
  FileNotFoundError when the run has not trained them, ValueError naming the changed keys when
  ``config`` differs from the one they were trained with. ``texts`` not in the feature cache are
  encoded (MiniLM) first. End is not sampled before ``evaluator.min_frames``, as in the
  evaluation."""
  workdir = pathlib.Path(workdir)
  vq_vars = _load(workdir, "vqvae", _fingerprints(config, "")["vqvae"])["variables"]
  data = text_data.load(config.data, workdir)
  feats, _, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  fps = _fingerprints(config, str(feats.encoder))
  params = _load(workdir, "t2m_gpt", fps["t2m_gpt"])["params"]
  choice = text_data.text_encoder_choice(config.text_encoder)
  path, encoder = workdir / FEATURES_FILE, None
  if not choice.is_default:  # the GPT fine-tuned on the MoCLIP student's embeddings
    path = workdir / choice.filename
    feats, encoder = dropin_features(data, workdir, choice)
    ((name, fp),) = finetune_stages(choice, config.text_finetune, fps, FINETUNED).values()
    params = _load(workdir, name, fp)["params"]
  feats = with_captions(path, feats, texts, encoder, choice.name)
  return _generator(config, data, feats, vq_vars, params, config.evaluator.min_frames)


def generate_only(config: Config, workdir: pathlib.Path) -> dict:
  """Clips for ``config.generate.texts`` from the workdir's trained stages (module docstring)."""
  t0 = time.perf_counter()
  g = config.generate
  captions = g.captions()
  frames = g.frame_counts(len(captions))
  if frames is not None:
    frames = token_frames(frames, config.vqvae.model.downsample, config.data.max_length).tolist()
  generator = load_trained(config, workdir, captions)
  texts = g.repeat(captions)
  forced = g.repeat(frames) if frames is not None else [config.length] * len(texts)
  motions = generator.generate(texts, jax.random.PRNGKey(config.seed), forced)
  lengths = [len(x) for x in motions]
  return write_generated(workdir / g.out, texts, lengths, motions, config, t0)


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
  feats, _, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  v, m = config.vqvae, config.model

  vq_batcher = prep.train_batcher(
    data, replace(config.data, max_length=v.window), _motion_only, batch_size=v.batch_size,
    seed=config.seed,
  )  # fmt: skip

  def train_vq():
    _, variables = vq_stage.train(v, vq_batcher, data.dim, workdir / "vqvae", seed=config.seed)
    return {"variables": variables}, {}

  fps = _fingerprints(config, str(feats.encoder))
  t0 = time.perf_counter()
  vq_vars = artifacts.cached_stage(workdir, "vqvae", train_vq, fps["vqvae"]).arrays["variables"]
  timings["vq_train_s"] = time.perf_counter() - t0
  vq = vq_stage.make_model(v, data.dim)

  def post(batch):
    return {**_motion_only(batch), "caption_embedding": feats.sentence_embeddings(batch["caption"])}

  batcher = prep.train_batcher(data, config.data, post, batch_size=m.batch_size, seed=config.seed)
  batch_fn = stage.gpt_batch_fn(batcher, vq, vq_vars, m.pkeep, config.seed)
  k = v.model.num_codes

  def train_gpt():
    return {"params": stage.train(m, batch_fn, k, workdir / "t2m_gpt", seed=config.seed)}, {}

  t0 = time.perf_counter()
  params = artifacts.cached_stage(workdir, "t2m_gpt", train_gpt, fps["t2m_gpt"]).arrays["params"]
  timings["gpt_train_s"] = time.perf_counter() - t0
  choice = text_data.text_encoder_choice(config.text_encoder)
  suffix = ""
  if not choice.is_default:  # MoCLIP drop-in: fine-tune the GPT on its sentence embeddings
    t0 = time.perf_counter()
    feats, _ = dropin_features(data, workdir, choice, feats.width, "GPT")

    def dropin_post(batch, feats=feats):
      emb = feats.sentence_embeddings(batch["caption"])
      return {**_motion_only(batch), "caption_embedding": emb}

    tuned_batches = stage.gpt_batch_fn(
      prep.train_batcher(data, config.data, dropin_post, batch_size=m.batch_size,
                         seed=config.seed),
      vq, vq_vars, m.pkeep, config.seed,
    )  # fmt: skip
    ft = finetune_stage_config(m, config.text_finetune)
    ((name, fp),) = finetune_stages(choice, config.text_finetune, fps, FINETUNED).values()

    def finetune(params=params):
      tuned = stage.train(ft, tuned_batches, k, workdir / name, seed=config.seed, desc=name,
                          init_params=params)  # fmt: skip
      return {"params": tuned}, {"from": "t2m_gpt"}

    params = artifacts.cached_stage(workdir, name, finetune, fp).arrays["params"]
    suffix = choice.label
    timings["text_finetune_s"] = time.perf_counter() - t0
  generator = _generator(config, data, feats, vq_vars, params, evaluator.min_frames)
  pairs = ev_lib.eval_pairs(workdir, ev_cfg, split=config.eval.split)
  e = config.eval
  kw = e.protocol_kwargs(len(pairs), config.seed)
  calls = [0]
  lengths_seen: list[int] = []

  def generate(texts):
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), calls[0])
    calls[0] += 1
    out = generator.generate(texts, key, [config.length] * len(texts))
    lengths_seen.extend(len(x) for x in out)
    return out

  t0 = time.perf_counter()
  sanity = ev_lib.sanity_check(
    evaluator, pairs, num_repeats=e.num_repeats, diversity_pairs=kw["diversity_pairs"],
    seed=config.seed,
  )  # fmt: skip
  timings["reference_rows_s"] = time.perf_counter() - t0
  label = f"t2m_gpt{suffix} T={m.temperature:g} top_k={m.top_k}"
  results = {"Real": sanity["real"], "Shuffled texts": sanity["shuffled"]}
  t0 = time.perf_counter()
  first_sets: dict[str, list[np.ndarray]] = {}  # repeat 0's clips, for the physics table
  results[label] = gen_lib.evaluate_generator(
    evaluator, text_motion_report.keep_first_call(generate, first_sets, label), pairs, **kw
  )
  timings["generate_eval_s"] = time.perf_counter() - t0
  real = [x[: config.data.max_length] for x in pairs.motions]
  physics = text_motion_report.plausibility_table(real, first_sets)
  n_export = min(config.generate.export_clips, len(pairs))
  if n_export > 0:
    texts = [pairs.captions[i][0] for i in range(n_export)]
    clips = generator.generate(
      texts, jax.random.PRNGKey(config.seed + 10**6), [config.length] * n_export
    )
    text_motion_report.export_clips(workdir / "samples", texts, clips)
    text_motion_report.export_clips(workdir / "samples" / "real", texts, real[:n_export])
  timings["total_s"] = time.perf_counter() - t_start
  main = results[label]
  chance3 = sanity["chance_r_precision"][2]
  real_len = float(np.mean([min(len(x), config.data.max_length) for x in pairs.motions]))
  headline = {
    "r_precision_top3": main["r_precision_top3"]["mean"],
    "r_precision_top3_shuffled": results["Shuffled texts"]["r_precision_top3"]["mean"],
    "r_precision_top3_chance": chance3,
    "fid": main["fid"]["mean"],
    "mean_generated_frames": float(np.mean(lengths_seen)),
    "mean_real_frames": real_len,
  }
  out = {
    "kind": "generator",
    "method": label,
    "results": results,
    "plausibility": physics,
    "headline": headline,
    "fid_real_halves": sanity["fid_real_halves"],
    "timings": timings,
    "dataset": {"root": str(data.root), "split": e.split, "pairs": len(pairs)},
    "config": to_dict(config),
    "seed": config.seed,
  }
  report.write_json(workdir / "results.json", out)
  rows = [gen_lib.format_row(n, r) for n, r in results.items()]
  length_note = (
    f"End forced at {config.length} frames" if config.length else "length from the End token"
  )
  md = [
    "# t2m_gpt results\n",
    f"T2M-GPT on {data.root} ({len(pairs)} {e.split} pairs): VQ-VAE {k} codes, "
    f"{v.loop.num_steps} steps of {v.batch_size}; GPT {m.gpt.num_layers} layers x {m.gpt.dim}, "
    f"{m.loop.num_steps} steps of {m.batch_size}, pkeep {m.pkeep:g}; sampling with a KV cache, "
    f"temperature {m.temperature:g}, {length_note}; seed {config.seed}. Mean ± 95% "
    f"interval over {e.num_repeats} repeats. Total wall time {timings['total_s']:.0f} s.\n",
    report.markdown_table(gen_lib.TABLE_HEADER, rows, "{}") + "\n",
    f"- R-precision top-3: {headline['r_precision_top3']:.3f} vs shuffled texts "
    f"{headline['r_precision_top3_shuffled']:.3f} (chance {chance3:.3f}).",
    f"- Generated length {headline['mean_generated_frames']:.1f} frames on average vs "
    f"{real_len:.1f} for the real motions (cropped to {config.data.max_length}).",
    f"- FID between two halves of the real motions: {sanity['fid_real_halves']:.3f}.",
    f"\n## Physical plausibility (the {len(real)} real {e.split} clips, the first repeat's "
    "generated clips)\n",
    text_motion_report.plausibility_markdown(physics),
  ]
  if n_export > 0:
    md.append(f"- {n_export} generated test clips (GIF, BVH, npy) in samples/index.md.")
  md.append(f"\nConfig (seed {config.seed}) is in results.json.")
  text = "\n".join(md) + "\n"
  (workdir / "results.md").write_text(text)
  print(text)
  return out
