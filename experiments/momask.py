"""MoMask (residual VQ-VAE, masked and residual transformers) evaluated with T2M's protocol.

Trains MoMask's three parts (Guo et al., CVPR 2024) on a text-motion dataset (the embedded
procedural one by default; a HumanML3D folder with ``--config.data.root=/path``): the residual
VQ-VAE (`motion_jax.stages.rvq`), then the masked transformer on its base-layer tokens and the
residual transformer on layers 1..Q-1 (`motion_jax.stages.momask`). It then generates a motion for
every evaluation caption at its ground-truth length (tokens = ceil(frames / 4); iterative decoding,
``--config.model.decode.steps``, ``guidance_scale``, ...) and scores it with the project's
generation evaluator (`motion_jax.stages.evaluator`, cached in the workdir): R-precision top-1/2/3,
FID, MM-Dist, diversity, multimodality, mean ± 95% interval over ``eval.num_repeats`` seeds; with
the "Real" and "Shuffled texts" reference rows and the same model decoded without guidance
(scale 0). It also reports the residual VQ-VAE's held-out reconstruction (MPJPE in mm of the joints
recovered by `recover_from_ric`, on the first ``data.max_length`` frames of the evaluation split)
with 1, 2, .., Q layers. Results go to ``results.md`` / ``results.json`` (kind "generator", so
``t2m_table`` lists the rows).

A length estimator (MoMask's) is trained on the same tokens and scored on the evaluation split;
``--config.length_source=predicted`` generates at its sampled lengths instead of the true ones.
``--config.length=N`` (frames, a multiple of 4 up to ``data.max_length``; 0 = off) gives every
generated clip N frames instead, in the evaluation and in generation only (below).

After the evaluation, the first ``generate.export_clips`` test captions are exported (npy, BVH,
GIF) to ``samples/``, and with ``eval.export_edits`` a temporal-editing demo (MoMask Sec. 4.4) of
the first test clip to ``samples/editing/``: its first half kept, its second half kept, and its
two outer quarters kept (middle regenerated), each regenerated part driven by another test
caption, next to the source clip.

Generation only: ``--config.generate.texts="a person walks|a person jumps"`` (with
``generate.samples``, ``generate.lengths``, ``generate.out``; `experiments.generation`) loads the
workdir's trained stages (same preset and overrides as the training run: another config is
refused, naming the changed keys), samples the captions and exports them to
``<workdir>/generated/`` with a ``generation.json``; nothing is trained or evaluated. Lengths:
``generate.lengths`` (frames, rounded down to whole 4-frame tokens, clipped to
``data.max_length``), else ``length`` when > 0, else drawn from the length estimator.

Stages (`motion_jax.train.artifacts.cached_stage`): ``evaluator``, ``rvq``, ``momask_base``,
``momask_residual``, ``momask_length``; a rerun with the same config only re-evaluates.

MoCLIP's drop-in text encoder (moclip.txt Sec. 4.3): ``--config.text_encoder=moclip:<workdir>``
(a ``moclip`` experiment's workdir; ``@<run>`` picks a run, default lambda 0.4) trains the MiniLM
stages above (or reuses them from the same workdir), then fine-tunes the two transformers and the
length estimator from those weights on the MoCLIP student's sentence embeddings
(``text_finetune``; stages ``<part>_moclip_<digest>``) and evaluates the fine-tuned model, labelled
``momask +MoCLIP``
(``+MoCLIP@<run>`` for a run other than the default).
The evaluator keeps MiniLM, so its rows compare with the MiniLM run's.

Presets: default = MoMask's sizes (6 x 512 x 512 RVQ, transformers 384 / 8 layers / 6 heads);
``quick`` = small models on the single-action procedural dataset (generator 1.0.0, whose captions
stay true for 64-frame crops), 1,200 clips at max_length 64 (CPU, <= 25 min on 2 cores); ``tiny``
= a 180-clip dataset and a few steps (tests).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

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
from motion_jax.models.momask import TokenTransformerConfig
from motion_jax.reports import text_motion as text_motion_report
from motion_jax.representations import humanml3d
from motion_jax.stages import evaluator as ev_lib
from motion_jax.stages import momask as stage
from motion_jax.stages import rvq as rvq_stage
from motion_jax.stages import text_data
from motion_jax.stages.evaluator import EvaluatorConfig
from motion_jax.train import artifacts

FEATURES_FILE = ev_lib.FEATURES_FILE  # one sentence-feature cache shared with the evaluator


@dataclasses.dataclass(frozen=True)
class EvalConfig(ev_lib.GenerationEvalConfig):
  compare_unguided: bool = True  # also evaluate guidance scale 0
  export_edits: bool = True  # temporal-editing demo of the first test clip -> samples/editing/


LENGTH_SOURCES = ("ground_truth", "predicted")


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  # Motion lengths for generation: the test motions' ('ground_truth', T2M's protocol) or drawn
  # from the length estimator ('predicted').
  length_source: str = "ground_truth"
  # Frames of every generated clip (evaluation and generation only): 0 = length_source in the
  # evaluation, the length estimator in generation only; > 0 = this many (a multiple of 4).
  length: int = 0
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  rvq: rvq_stage.RVQStageConfig = rvq_stage.RVQStageConfig()
  model: stage.MoMaskStageConfig = stage.MoMaskStageConfig()
  evaluator: EvaluatorConfig = EvaluatorConfig()
  eval: EvalConfig = EvalConfig()
  generate: GenerateConfig = GenerateConfig()
  # The generator's text encoder (`stages.text_data.text_encoder_choice`): 'minilm' or
  # 'moclip:<moclip workdir>[@<run>]' (then ``text_finetune`` applies; label +MoCLIP[@run]).
  text_encoder: str = "minilm"
  text_finetune: TextFinetuneConfig = TextFinetuneConfig()

  def __post_init__(self):
    check_text_encoder(self.text_encoder, self.text_finetune)
    if self.length_source not in LENGTH_SOURCES:
      raise ValueError(f"length_source must be one of {LENGTH_SOURCES}, got {self.length_source!r}")
    down, max_length = self.rvq.model.downsample, self.data.max_length
    if max_length % down:
      raise ValueError(
        f"data.max_length {max_length} must be a multiple of {down} (one token per 2**down_t "
        "frames)"
      )
    if self.length and (self.length % down or not down <= self.length <= max_length):
      raise ValueError(
        f"length must be 0 (lengths from length_source / the estimator) or a multiple of {down} "
        f"in [{down}, {max_length}] (data.max_length), got {self.length}"
      )


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  r, m = c.rvq, c.model
  if preset == "quick":
    r = replace(
      r,
      model=replace(r.model, vq=replace(r.model.vq, width=128, code_dim=64, num_codes=128)),
      optim=replace(r.optim, learning_rate=1e-3, warmup_steps=100, decay_steps=(800,)),
      loop=replace(r.loop, num_steps=1000, log_every=50, checkpoint_every=500),
      batch_size=32,
    )
    t = TokenTransformerConfig(latent_dim=128, num_layers=3, num_heads=4, ff_dim=256, dropout=0.1)
    m = replace(
      m,
      transformer=t,
      residual=t,
      optim=replace(m.optim, learning_rate=1e-3, warmup_steps=100, decay_steps=(1200,)),
      loop=replace(m.loop, num_steps=1500, log_every=50, checkpoint_every=500),
      batch_size=32,
    )
    c = replace(
      c,
      data=presets.generator_data(c.data, preset),
      # CPU-sized MoCLIP fine-tuning: 300 steps at 1e-4 (the paper's 1e-6 over 200 epochs would
      # not move a quick model measurably).
      text_finetune=TextFinetuneConfig(num_steps=300, learning_rate=1e-4),
    )
  elif preset == "tiny":
    r = replace(
      r,
      model=replace(
        r.model,
        vq=replace(r.model.vq, width=16, code_dim=8, num_codes=16, depth=1),
        num_quantizers=3,
      ),  # fmt: skip
      optim=replace(r.optim, learning_rate=1e-3, warmup_steps=2, decay_steps=(1000,)),
      loop=replace(r.loop, num_steps=6, log_every=3, checkpoint_every=0),
      batch_size=8,
      window=32,
    )
    t = TokenTransformerConfig(latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, dropout=0.1)
    m = replace(
      m,
      transformer=t,
      residual=t,
      optim=replace(m.optim, learning_rate=1e-3, warmup_steps=2, decay_steps=(1000,)),
      loop=replace(m.loop, num_steps=4, log_every=2, checkpoint_every=0),
      batch_size=8,
      decode=replace(m.decode, steps=3),
    )
    c = replace(
      c,
      data=replace(c.data, root="workdir", clips=180, version="1.0.0", max_length=64),
      text_finetune=TextFinetuneConfig(num_steps=2, learning_rate=1e-4),
    )
  ev = presets.evaluator(preset)
  c = replace(
    c,
    rvq=r,
    model=m,
    evaluator=replace(ev, data=c.data),
    eval=presets.generation_eval(c.eval, preset),
  )
  return config_dict(c)


def _motion_only(batch):
  return {
    "motion": np.asarray(batch["motion"], np.float32),
    "mask": np.asarray(batch["mask"], bool),
  }


def reconstruction_mpjpe(
  model, variables, data: prep.TextMotionData, split: str, max_length: int
) -> list[float]:
  """MPJPE (mm, joints by `recover_from_ric`, valid frames of the first ``max_length``) of the
  RVQ-VAE's reconstructions of ``split`` with the first 1..Q layers (features in metres)."""
  batch = prep.eval_batch(data.sources[split], _motion_only, data, max_length)
  x, mask = batch["motion"], batch["mask"]
  raw = x * data.std + data.mean
  joints = np.asarray(humanml3d.recover_from_ric(raw, check_finite=False))
  out = []
  for rec in rvq_stage.reconstruct_layers(model, variables, x):
    j_hat = np.asarray(humanml3d.recover_from_ric(rec * data.std + data.mean, check_finite=False))
    err = np.linalg.norm(j_hat - joints, axis=-1).mean(-1)  # [N, T]
    out.append(float(1000.0 * (err * mask).sum() / mask.sum()))
  return out


def length_accuracy(model, params, data, feats, config: Config) -> dict:
  """The length estimator's mode vs the true token counts (first caption, lengths cropped to
  ``data.max_length``) on the evaluation split."""
  source = data.sources[config.eval.split]
  down = config.rvq.model.downsample
  captions, true = [], []
  for i in range(len(source)):
    ex = source[i]
    c = ex["captions"][0]
    captions.append(c.decode("utf-8") if isinstance(c, bytes) else str(c))
    frames = min(int(np.asarray(ex["motion"]).shape[0]), config.data.max_length)
    true.append(frames // down)
  pred = stage.sample_lengths(
    model, params, feats.sentence_embeddings(captions), jax.random.PRNGKey(0), greedy=True
  )
  err = np.abs(pred - np.asarray(true))
  return {
    "exact": float(np.mean(err == 0)),
    "within_one": float(np.mean(err <= 1)),
    "mae_frames": float(down * err.mean()),
  }


def _fingerprints(config: Config, encoder: str) -> dict[str, dict]:
  """What each trained stage depends on (its `cached_stage` key); ``encoder`` names the text
  features' encoder."""
  r, m = config.rvq, config.model
  rvq_fp = {"data": to_dict(config.data), "seed": config.seed, "rvq": to_dict(r)}
  transformer_keys = {
    key: val for key, val in to_dict(replace(m, decode=stage.DecodeSettings())).items()
    if not key.startswith("length_")
  }  # fmt: skip
  tf_fp = {**rvq_fp, "model": transformer_keys, "features": encoder}
  length_fp = {**tf_fp, "length": [m.length_width, m.length_dropout]}
  return {"rvq": rvq_fp, "momask_base": tf_fp, "momask_residual": tf_fp,
          "momask_length": length_fp}  # fmt: skip


FINETUNED = ("momask_base", "momask_residual", "momask_length")


def _finetune_stages(config: Config, fps: dict, choice) -> dict[str, tuple[str, dict]]:
  """Stage name and fingerprint of each fine-tuned part for a non-default text encoder."""
  return finetune_stages(choice, config.text_finetune, fps, FINETUNED)


def _generator(config: Config, data, feats, rvq_vars, base_params, res_params) -> stage.Generator:
  return stage.Generator(
    rvq_stage.make_model(config.rvq, data.dim), rvq_vars, base_params, res_params, config.model,
    feats, data.mean, data.std, max_frames=config.data.max_length, chunk=config.eval.chunk,
  )  # fmt: skip


def clip_lengths(
  config: Config,
  count: int,
  true_lengths: Sequence[int] | None,
  predict_tokens: Callable[[], np.ndarray],
) -> np.ndarray:
  """Frames of ``count`` generated clips: ``config.length`` when > 0; else the length
  estimator's token counts (``predict_tokens()``) x 4 when ``length_source`` is 'predicted' or no
  true lengths are given (generation only); else the true lengths; at most ``data.max_length``."""
  max_length = config.data.max_length
  if config.length > 0:
    return np.full(count, config.length)
  if true_lengths is None or config.length_source == "predicted":
    return np.minimum(np.asarray(predict_tokens()) * config.rvq.model.downsample, max_length)
  return np.minimum(np.asarray(true_lengths, int), max_length)


class Trained(NamedTuple):
  """A trained workdir's MoMask: the `Generator` and the length estimator."""

  generator: stage.Generator
  length_model: Any
  length_params: Any
  data: prep.TextMotionData

  def predict_tokens(self, texts: Sequence[str], key: jax.Array) -> np.ndarray:
    text = self.generator.features.sentence_embeddings(list(texts))
    return stage.sample_lengths(self.length_model, self.length_params, text, key)


def _load(workdir: pathlib.Path, name: str, fingerprint: dict):
  return load_trained_stage(workdir, name, fingerprint, "momask")


def load_trained(config: Config, workdir: str | pathlib.Path, texts: Sequence[str] = ()) -> Trained:
  """The workdir's trained stages (nothing is trained): FileNotFoundError when the run has not
  trained them, ValueError naming the changed keys when ``config`` differs from the one they
  were trained with. ``texts`` not in the feature cache are encoded (MiniLM) first."""
  workdir = pathlib.Path(workdir)
  rvq_fp = _fingerprints(config, "")["rvq"]  # needs no data: fails before loading any
  rvq_vars = _load(workdir, "rvq", rvq_fp)["variables"]
  data = text_data.load(config.data, workdir)
  feats, _, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  fps = _fingerprints(config, str(feats.encoder))
  q = config.rvq.model.num_quantizers
  base_params = _load(workdir, "momask_base", fps["momask_base"])["params"]
  res_params = _load(workdir, "momask_residual", fps["momask_residual"])["params"] if q > 1 else {}
  length_params = _load(workdir, "momask_length", fps["momask_length"])["params"]
  choice = text_data.text_encoder_choice(config.text_encoder)
  path, encoder = workdir / FEATURES_FILE, None
  if not choice.is_default:
    path = workdir / choice.filename
    feats, encoder = dropin_features(data, workdir, choice)
    tuned = {n: _load(workdir, name, fp)["params"]
             for n, (name, fp) in _finetune_stages(config, fps, choice).items()}  # fmt: skip
    base_params, length_params = tuned["momask_base"], tuned["momask_length"]
    res_params = tuned["momask_residual"] if q > 1 else {}
  feats = with_captions(path, feats, texts, encoder, choice.name)
  max_tokens = config.data.max_length // config.rvq.model.downsample
  return Trained(
    _generator(config, data, feats, rvq_vars, base_params, res_params),
    stage.make_length_model(config.model, max_tokens),
    length_params,
    data,
  )


def generate_only(config: Config, workdir: pathlib.Path) -> dict:
  """Clips for ``config.generate.texts`` from the workdir's trained stages (module docstring)."""
  t0 = time.perf_counter()
  g = config.generate
  captions = g.captions()
  frames = g.frame_counts(len(captions))
  if frames is not None:
    frames = token_frames(frames, config.rvq.model.downsample, config.data.max_length)
  trained = load_trained(config, workdir, captions)
  texts = g.repeat(captions)
  key = jax.random.PRNGKey(config.seed)
  if frames is not None:
    lengths = np.asarray(g.repeat(frames.tolist()))
  else:
    lengths = clip_lengths(
      config, len(texts), None, lambda: trained.predict_tokens(texts, jax.random.fold_in(key, 7))
    )
  motions = trained.generator.generate(texts, lengths, key)
  return write_generated(workdir / g.out, texts, lengths, motions, config, t0)


def export_edits(generator: stage.Generator, pairs, config: Config, out_dir: pathlib.Path):
  """Temporal editing (MoMask Sec. 4.4) of the first evaluation clip (cropped to whole tokens of
  at most ``data.max_length`` frames): its first half kept, its second half kept, and its outer
  quarters kept (middle regenerated), the rest regenerated from the first other caption of the
  evaluation pairs; `export_clips` writes the source and the three edits to ``out_dir`` with an
  ``edits.json``. None (nothing written) when the clip is shorter than 4 tokens or there is no
  other caption."""
  down = generator.down
  n = min(len(pairs.motions[0]), config.data.max_length) // down * down
  caption = pairs.captions[0][0]
  other = next((c[0] for c in pairs.captions[1:] if c[0] != caption), None)
  if n < 4 * down or other is None:
    return None
  src = np.asarray(pairs.motions[0][:n], np.float32)
  half, quarter = n // 2 // down * down, n // 4 // down * down
  t = np.arange(n)
  keep = {
    "first half kept": t < half,
    "second half kept": t >= half,
    "middle regenerated": (t < quarter) | (t >= n - quarter),
  }
  key = jax.random.PRNGKey(config.seed + 2 * 10**6)
  edited, _, _ = generator.inpaint(
    [other] * len(keep), [src] * len(keep), list(keep.values()), key, settings=config.model.decode
  )
  texts = [f"source: {caption}"] + [f"{name}: {other}" for name in keep]
  index = text_motion_report.export_clips(out_dir, texts, [src, *edited])

  def spans(mask):  # kept frame ranges [start, end)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]

  info = {"source_caption": caption, "edit_caption": other, "frames": int(n), "index": str(index),
          "kept_frames": {name: spans(mask) for name, mask in keep.items()}}  # fmt: skip
  report.write_json(out_dir / "edits.json", info)
  return info


class Stages(NamedTuple):
  """The MiniLM-trained parts of a MoMask workdir (`train_stages`) and the evaluator."""

  evaluator: ev_lib.Evaluator
  data: prep.TextMotionData
  feats: Any  # the text features (`stages.text_data.text_features`)
  rvq_model: Any
  rvq_vars: dict
  base_params: Any
  res_params: Any
  length_model: Any
  length_params: Any
  fingerprints: dict[str, dict]


def train_stages(
  config: Config, workdir: pathlib.Path, timings: dict, length_estimator: bool = True
) -> Stages:
  """The evaluator, the residual VQ-VAE, both transformers and (with ``length_estimator``; else
  its params are None) the length estimator on MiniLM features, each a `cached_stage` of
  ``workdir`` (trained when missing or changed, else loaded); their wall times go to
  ``timings``. Shared with experiments that start from a trained MoMask
  (`experiments.unlearning`, which samples at given lengths), so they reuse a momask workdir of
  the same config."""
  ev_cfg = replace(config.evaluator, data=config.data)  # the generator's dataset, one source
  t0 = time.perf_counter()
  evaluator = ev_lib.ensure_evaluator(workdir, ev_cfg)
  timings["evaluator_s"] = time.perf_counter() - t0
  data = text_data.load(config.data, workdir)
  feats, _, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  r, m = config.rvq, config.model

  # Residual VQ-VAE on windows of the training clips.
  rvq_model = rvq_stage.make_model(r, data.dim)
  rvq_batcher = prep.train_batcher(
    data, replace(config.data, max_length=r.window), _motion_only, batch_size=r.batch_size,
    seed=config.seed,
  )  # fmt: skip

  def train_rvq():
    _, variables = rvq_stage.train(r, rvq_batcher, data.dim, workdir / "rvq", seed=config.seed)
    return {"variables": variables}, {}

  fps = _fingerprints(config, str(feats.encoder))
  t0 = time.perf_counter()
  rvq_vars = artifacts.cached_stage(workdir, "rvq", train_rvq, fps["rvq"]).arrays["variables"]
  timings["rvq_train_s"] = time.perf_counter() - t0

  # The two transformers on tokens of whole (max_length) crops with their captions.
  def post(batch):
    return {**_motion_only(batch), "caption_embedding": feats.sentence_embeddings(batch["caption"])}

  text_batcher = prep.train_batcher(data, config.data, post, batch_size=m.batch_size,
                                    seed=config.seed)  # fmt: skip
  tokens = stage.token_batch_fn(text_batcher, rvq_model, rvq_vars)
  k, q = r.model.vq.num_codes, r.model.num_quantizers

  def train_base():
    params = stage.train_base(m, tokens, k, workdir / "momask_base", seed=config.seed)
    return {"params": params}, {}

  def train_residual():
    params = stage.train_residual(m, tokens, k, q, workdir / "momask_residual", seed=config.seed)
    return {"params": params}, {}

  t0 = time.perf_counter()
  base_params = artifacts.cached_stage(workdir, "momask_base", train_base, fps["momask_base"])
  base_params = base_params.arrays["params"]
  timings["base_train_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  res_params = {}
  if q > 1:
    res_params = artifacts.cached_stage(
      workdir, "momask_residual", train_residual, fps["momask_residual"]
    ).arrays["params"]
  timings["residual_train_s"] = time.perf_counter() - t0

  max_tokens = config.data.max_length // r.model.downsample
  length_model = stage.make_length_model(m, max_tokens)

  def train_length():
    params = stage.train_length(m, tokens, max_tokens, workdir / "momask_length", seed=config.seed)
    return {"params": params}, {}

  length_params = None
  if length_estimator:
    t0 = time.perf_counter()
    length_params = artifacts.cached_stage(workdir, "momask_length", train_length,
                                           fps["momask_length"])  # fmt: skip
    length_params = length_params.arrays["params"]
    timings["length_train_s"] = time.perf_counter() - t0
  return Stages(evaluator, data, feats, rvq_model, rvq_vars, base_params, res_params,
                length_model, length_params, fps)  # fmt: skip


def run(config: Config, workdir: str) -> dict:
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  if config.generate.texts:
    return generate_only(config, workdir)
  ev_cfg = replace(config.evaluator, data=config.data)  # the generator's dataset, one source
  timings = {}
  t = train_stages(config, workdir, timings)
  evaluator, data, feats = t.evaluator, t.data, t.feats
  rvq_model, rvq_vars = t.rvq_model, t.rvq_vars
  base_params, res_params, length_params = t.base_params, t.res_params, t.length_params
  length_model, fps = t.length_model, t.fingerprints
  r, m = config.rvq, config.model
  k, q = r.model.vq.num_codes, r.model.num_quantizers
  max_tokens = config.data.max_length // r.model.downsample
  mpjpe = reconstruction_mpjpe(rvq_model, rvq_vars, data, config.eval.split, config.data.max_length)
  choice = text_data.text_encoder_choice(config.text_encoder)
  suffix = ""
  if not choice.is_default:  # MoCLIP drop-in: fine-tune on its sentence embeddings
    t0 = time.perf_counter()
    feats, _ = dropin_features(data, workdir, choice, feats.width, "transformers")

    def post(batch, feats=feats):  # the new encoder's sentence embeddings
      emb = feats.sentence_embeddings(batch["caption"])
      return {**_motion_only(batch), "caption_embedding": emb}

    tokens = stage.token_batch_fn(
      prep.train_batcher(data, config.data, post, batch_size=m.batch_size, seed=config.seed),
      rvq_model,
      rvq_vars,
    )
    ft = finetune_stage_config(m, config.text_finetune)
    tuned = {"momask_base": base_params, "momask_residual": res_params,
             "momask_length": length_params}  # fmt: skip
    trainers = {
      "momask_base": lambda d, p: stage.train_base(ft, tokens, k, d, seed=config.seed,
                                                   desc=d.name, init_params=p),
      "momask_residual": lambda d, p: stage.train_residual(ft, tokens, k, q, d, seed=config.seed,
                                                           desc=d.name, init_params=p),
      "momask_length": lambda d, p: stage.train_length(ft, tokens, max_tokens, d,
                                                       seed=config.seed, desc=d.name,
                                                       init_params=p),
    }  # fmt: skip
    for part, (name, fp) in _finetune_stages(config, fps, choice).items():
      if part == "momask_residual" and q == 1:
        continue

      def finetune(part=part, name=name):
        return {"params": trainers[part](workdir / name, tuned[part])}, {"from": part}

      tuned[part] = artifacts.cached_stage(workdir, name, finetune, fp).arrays["params"]
    base_params, res_params = tuned["momask_base"], tuned["momask_residual"]
    length_params = tuned["momask_length"]
    suffix = choice.label
    timings["text_finetune_s"] = time.perf_counter() - t0
  length_eval = length_accuracy(length_model, length_params, data, feats, config)

  generator = _generator(config, data, feats, rvq_vars, base_params, res_params)
  pairs = ev_lib.eval_pairs(workdir, ev_cfg, split=config.eval.split)
  e = config.eval
  kw = e.protocol_kwargs(len(pairs), config.seed)

  def generate_with(settings: stage.DecodeSettings):
    calls = [0]

    def generate(texts, lengths):
      key = jax.random.fold_in(jax.random.PRNGKey(config.seed), calls[0])
      calls[0] += 1

      def predict_tokens():
        text = feats.sentence_embeddings(list(texts))
        return stage.sample_lengths(length_model, length_params, text, jax.random.fold_in(key, 7))

      lengths = clip_lengths(config, len(texts), lengths, predict_tokens)
      return generator.generate(texts, lengths, key, settings=settings)

    return generate

  t0 = time.perf_counter()
  sanity = ev_lib.sanity_check(
    evaluator, pairs, num_repeats=e.num_repeats, diversity_pairs=kw["diversity_pairs"],
    seed=config.seed,
  )  # fmt: skip
  timings["reference_rows_s"] = time.perf_counter() - t0
  d = m.decode
  label = (
    f"momask{suffix} rvq{q} steps{d.steps} s={d.guidance_scale:g}/{d.residual_guidance_scale:g}"
  )
  results = {"Real": sanity["real"], "Shuffled texts": sanity["shuffled"]}
  t0 = time.perf_counter()
  first_sets: dict[str, list[np.ndarray]] = {}  # repeat 0's clips, for the physics table
  results[label] = gen_lib.evaluate_generator(
    evaluator,
    text_motion_report.keep_first_call(generate_with(d), first_sets, label),
    pairs,
    pass_lengths=True,
    **kw,
  )
  timings["generate_eval_s"] = time.perf_counter() - t0
  unguided = f"momask{suffix} rvq{q} steps{d.steps} s=0/0"
  if e.compare_unguided:
    t0 = time.perf_counter()
    results[unguided] = gen_lib.evaluate_generator(
      evaluator,
      text_motion_report.keep_first_call(
        generate_with(replace(d, guidance_scale=0.0, residual_guidance_scale=0.0)),
        first_sets,
        unguided,
      ),
      pairs,
      pass_lengths=True,
      **kw,
    )
    timings["generate_eval_unguided_s"] = time.perf_counter() - t0
  real = [x[: config.data.max_length] for x in pairs.motions]
  physics = text_motion_report.plausibility_table(real, first_sets)
  n_export = min(config.generate.export_clips, len(pairs))
  if n_export > 0:
    texts = [pairs.captions[i][0] for i in range(n_export)]
    lengths = [len(real[i]) // r.model.downsample * r.model.downsample for i in range(n_export)]
    if config.length > 0:
      lengths = [config.length] * n_export
    clips = generator.generate(texts, lengths, jax.random.PRNGKey(config.seed + 10**6), settings=d)
    text_motion_report.export_clips(workdir / "samples", texts, clips)
    text_motion_report.export_clips(workdir / "samples" / "real", texts,
                                    [real[i][:n] for i, n in enumerate(lengths)])  # fmt: skip
  edits = None
  if e.export_edits:
    t0 = time.perf_counter()
    edits = export_edits(generator, pairs, config, workdir / "samples" / "editing")
    timings["edits_s"] = time.perf_counter() - t0
  timings["total_s"] = time.perf_counter() - t_start
  main = results[label]
  chance3 = sanity["chance_r_precision"][2]
  headline = {
    "r_precision_top3": main["r_precision_top3"]["mean"],
    "r_precision_top3_shuffled": results["Shuffled texts"]["r_precision_top3"]["mean"],
    "r_precision_top3_chance": chance3,
    "fid": main["fid"]["mean"],
    "rvq_mpjpe_mm_1_layer": mpjpe[0],
    "rvq_mpjpe_mm_all_layers": mpjpe[-1],
  }
  if e.compare_unguided:
    headline["fid_scale0"] = results[unguided]["fid"]["mean"]
  out = {
    "kind": "generator",
    "method": label,
    "results": results,
    "plausibility": physics,
    "headline": headline,
    "rvq_mpjpe_mm": mpjpe,
    "length_estimator": length_eval,
    "edits": edits,
    "fid_real_halves": sanity["fid_real_halves"],
    "timings": timings,
    "dataset": {"root": str(data.root), "split": e.split, "pairs": len(pairs)},
    "config": to_dict(config),
    "seed": config.seed,
  }
  report.write_json(workdir / "results.json", out)
  md = [
    "# momask results\n",
    f"MoMask on {data.root} ({len(pairs)} {e.split} pairs): RVQ-VAE {q} x {k} codes, "
    f"{r.loop.num_steps} steps of {r.batch_size}; transformers {m.loop.num_steps} steps of "
    f"{m.batch_size}; decoding {d.steps} steps, CFG {d.guidance_scale:g} (residual "
    f"{d.residual_guidance_scale:g}), top-k {d.top_k:g}; seed {config.seed}. Metrics in the "
    f"evaluator's embedding space, mean ± 95% interval over {e.num_repeats} repeats (T2M "
    f"protocol). Total wall time {timings['total_s']:.0f} s.\n",
    report.markdown_table(
      gen_lib.TABLE_HEADER, [gen_lib.format_row(n, v) for n, v in results.items()], "{}"
    )
    + "\n",  # fmt: skip
    f"- R-precision top-3: {headline['r_precision_top3']:.3f} vs shuffled texts "
    f"{headline['r_precision_top3_shuffled']:.3f} (chance {chance3:.3f}).",
  ]
  if e.compare_unguided:
    md.append(f"- FID: {headline['fid']:.3f} with guidance vs {headline['fid_scale0']:.3f} at 0.")
  md.append(f"- FID between two halves of the real motions: {sanity['fid_real_halves']:.3f}.")
  md.append(
    f"- RVQ-VAE reconstruction of the {e.split} split (MPJPE, mm) with 1..{q} layers: "
    + ", ".join(f"{v:.1f}" for v in mpjpe)
    + "."
  )
  md.append(
    f"- Length estimator on the {e.split} split (mode of the predicted token count): exact "
    f"{length_eval['exact']:.2f}, within one token {length_eval['within_one']:.2f}, mean absolute "
    f"error {length_eval['mae_frames']:.1f} frames; generation used "
    + (f"{config.length}-frame" if config.length else config.length_source)
    + " lengths."
  )
  md.append(
    f"\n## Physical plausibility (the {len(real)} real {e.split} clips, the first repeat's "
    "generated clips)\n"
  )
  md.append(text_motion_report.plausibility_markdown(physics))
  if n_export > 0:
    md.append(f"- {n_export} generated test clips (GIF, BVH, npy) in samples/index.md.")
  if edits is not None:
    md.append(
      f"- Temporal editing (MoMask Sec. 4.4) of the first {e.split} clip ({edits['frames']} "
      f'frames, "{edits["source_caption"]}"), the regenerated frames driven by '
      f'"{edits["edit_caption"]}": first half kept, second half kept, outer quarters kept '
      "(middle regenerated); GIF and BVH of each in "
      "[samples/editing/index.md](samples/editing/index.md)."
    )
  md.append(f"\nConfig (seed {config.seed}) is in results.json.")
  text = "\n".join(md) + "\n"
  (workdir / "results.md").write_text(text)
  print(text)
  return out
