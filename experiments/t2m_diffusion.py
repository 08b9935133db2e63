"""Text-to-motion diffusion (StableMoFusion UNet or MDM) trained and evaluated with T2M's protocol.

Trains a denoiser (`motion_jax.stages.diffusion`) on a text-motion dataset (the embedded
procedural one by default; a HumanML3D folder with ``--config.data.root=/path``), then samples a
motion for every evaluation caption at its ground-truth length with the chosen sampler
(``--config.sampler=dpmpp_2m_sde|ddim|ddpm``, ``--config.steps``, ``--config.guidance_scale``) and
scores it with the project's generation evaluator (`motion_jax.stages.evaluator`, trained once and
cached in the workdir): R-precision top-1/2/3, FID, MM-Dist, diversity and multimodality, each the
mean ± 95% interval over ``eval.num_repeats`` seeds. The same evaluation is run for the real
motions ("Real"), for motions paired with shuffled texts (chance R-precision) and for the same
model sampled without guidance (scale 0: the unconditional model), so that the R-precision
top-3 can be read against chance and the FID against the scale-0 sampler. Results go to
``results.md`` / ``results.json`` with the config and seed.

Stages (`motion_jax.train.artifacts.cached_stage`): ``evaluator`` and ``<denoiser>`` (training);
a rerun with the same config only re-evaluates.

MoCLIP's drop-in text encoder (moclip.txt Sec. 4.3): ``--config.text_encoder=moclip:<workdir>``
(a ``moclip`` experiment's workdir; ``@<run>`` picks a run, default lambda 0.4) trains the MiniLM
denoiser above (or reuses it from the same workdir), then fine-tunes it from its weights on the
MoCLIP student's token states (the denoiser's text condition; ``text_finetune``,
`experiments.generation`; stage ``<denoiser>_moclip_<digest>``) and evaluates the fine-tuned
model, labelled ``<denoiser> +MoCLIP``
(``+MoCLIP@<run>`` for a run other than the default).
The student's states must be as wide as MiniLM's (384: a
MoCLIP run with ``model.text_encoder=minilm``), else the run stops naming ``text_encoder``. The
evaluator keeps MiniLM, so its rows compare with the MiniLM run's. Generation only reads the
fine-tuned denoiser.

Presets: default = the papers' sizes and settings (BioVAE Sec. IV-F / StableMoFusion: 50k steps
of 64, DPM-Solver++ 10 steps, CFG 2.5; 20 repeats); ``quick`` = small denoisers and evaluator,
1,200 clips of the single-action procedural build (generator 1.0.0) cropped to 64 frames (3.2 s),
1,000 training steps of 32 (10 min on a quiet 2-core CPU); the 2.0.0 build's multi-action clips
are not cropped short, since a crop would drop actions its caption names; ``tiny`` = a 180-clip
1.0.0 dataset and a few steps (tests). Default: the 10,000-clip 2.0.0 build at 196 frames.
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
  with_captions,
  write_generated,
)
from motion_jax.config import config_dict, to_dict
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.data.text_motion import preparation as prep
from motion_jax.diffusion import SAMPLERS
from motion_jax.io import report
from motion_jax.metrics import generation as gen_lib
from motion_jax.reports import text_motion as text_motion_report
from motion_jax.stages import diffusion as stage
from motion_jax.stages import evaluator as ev_lib
from motion_jax.stages import text_data
from motion_jax.stages.evaluator import EvaluatorConfig
from motion_jax.train import artifacts

FEATURES_FILE = ev_lib.FEATURES_FILE  # one sentence-feature cache shared with the evaluator


@dataclasses.dataclass(frozen=True)
class EvalConfig(ev_lib.GenerationEvalConfig):
  compare_unguided: bool = True  # also evaluate guidance scale 0


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  denoiser: str = "unet"  # 'unet' (StableMoFusion) | 'mdm'
  sampler: str = "dpmpp_2m_sde"  # 'dpmpp_2m_sde' | 'ddim' | 'ddpm'
  steps: int = 10
  guidance_scale: float = 2.5
  eta: float = 0.0  # DDIM only
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  model: stage.DiffusionStageConfig = stage.DiffusionStageConfig()
  evaluator: EvaluatorConfig = EvaluatorConfig()
  eval: EvalConfig = EvalConfig()
  generate: GenerateConfig = GenerateConfig()
  # The denoiser's text encoder (`stages.text_data.text_encoder_choice`): 'minilm' or
  # 'moclip:<moclip workdir>[@<run>]' (then ``text_finetune`` applies; label +MoCLIP[@run]).
  text_encoder: str = "minilm"
  text_finetune: TextFinetuneConfig = TextFinetuneConfig()

  def __post_init__(self):
    check_text_encoder(self.text_encoder, self.text_finetune)
    if self.denoiser not in stage.DENOISERS:
      raise ValueError(f"denoiser must be one of {stage.DENOISERS}, got {self.denoiser!r}")
    if self.sampler not in SAMPLERS:
      raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
    if self.steps < 1:
      raise ValueError(f"steps must be >= 1, got {self.steps}")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  m = presets.diffusion_model(c.model, preset)
  if preset == "quick":
    c = replace(
      c,
      data=presets.generator_data(c.data, preset),
      # CPU-sized MoCLIP fine-tuning, as momask's quick preset: 300 steps at 1e-4 (the paper's
      # 1e-6 over 200 epochs would not move a quick model measurably).
      text_finetune=TextFinetuneConfig(num_steps=300, learning_rate=1e-4),
    )
  elif preset == "tiny":
    c = replace(
      c,
      data=replace(c.data, root="workdir", clips=180, version="1.0.0"),
      steps=3,
      text_finetune=TextFinetuneConfig(num_steps=2, learning_rate=1e-4),
    )
  c = replace(c, eval=presets.generation_eval(c.eval, preset))
  ev = presets.evaluator(preset)
  c = replace(c, model=m, evaluator=replace(ev, data=c.data))
  return config_dict(c)


def _rows(results: dict) -> list[list[str]]:
  return [gen_lib.format_row(label, r) for label, r in results.items()]


def _fingerprint(config: Config, feats) -> dict:
  """What the trained denoiser depends on (the stage's cache key)."""
  return {"data": to_dict(config.data), "model": to_dict(config.model), "seed": config.seed,
          "denoiser": config.denoiser, "features": str(feats.encoder)}  # fmt: skip


def _finetune_stage(config: Config, fp: dict, choice) -> tuple[str, dict]:
  """Name and fingerprint of the denoiser fine-tuned on a non-default text encoder's states."""
  (out,) = finetune_stages(choice, config.text_finetune, {config.denoiser: fp},
                           (config.denoiser,)).values()  # fmt: skip
  return out


def _generator(
  config: Config, workdir, model, params, data, feats, cap_tokens, choice=None
) -> stage.Generator:
  dropin = choice is not None and not choice.is_default
  return stage.Generator(
    model,
    params,
    config.model,
    feats,
    data.mean,
    data.std,
    max_frames=config.data.max_length,
    caption_tokens=cap_tokens,
    chunk=config.eval.chunk,
    features_path=workdir / (choice.filename if dropin else FEATURES_FILE),
    encoder=choice.encoder() if dropin else None,
    encoder_name=choice.name if dropin else tf_lib.MINILM,
  )


def _sample(generator: stage.Generator, config: Config, texts, lengths, scale=None, call=0):
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), call)
  return generator.generate(
    texts,
    lengths,
    key,
    sampler=config.sampler,
    steps=config.steps,
    guidance_scale=config.guidance_scale if scale is None else scale,
    eta=config.eta,
  )


def load_trained(
  config: Config, workdir: str | pathlib.Path, texts: Sequence[str] = ()
) -> tuple[stage.Generator, prep.TextMotionData]:
  """The workdir's trained denoiser as a `Generator` (nothing is trained): FileNotFoundError when
  the run has not trained it, ValueError naming the changed keys when ``config`` differs from the
  one it was trained with. ``texts`` not in the feature cache are encoded first."""
  workdir = pathlib.Path(workdir)
  data = text_data.load(config.data, workdir)
  feats, captions, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  fp = _fingerprint(config, feats)
  arrays = load_trained_stage(workdir, config.denoiser, fp, "t2m_diffusion")
  choice = text_data.text_encoder_choice(config.text_encoder)
  path, encoder = workdir / FEATURES_FILE, None
  if not choice.is_default:  # the denoiser fine-tuned on the MoCLIP student's token states
    path = workdir / choice.filename
    feats, encoder = dropin_features(data, workdir, choice)
    name, tuned_fp = _finetune_stage(config, fp, choice)
    arrays = load_trained_stage(workdir, name, tuned_fp, "t2m_diffusion")
  feats = with_captions(path, feats, texts, encoder, choice.name)
  tokens = prep.token_budget(feats, list(captions) + list(texts))
  model = stage.make_model(config.model, config.denoiser, data.dim)
  generator = _generator(config, workdir, model, arrays["params"], data, feats, tokens, choice)
  return generator, data


def generate_only(config: Config, workdir: pathlib.Path) -> dict:
  """Clips for ``config.generate.texts`` from the workdir's trained denoiser (`GenerateConfig`)."""
  t0 = time.perf_counter()
  texts, _ = config.generate.parse(1)
  generator, data = load_trained(config, workdir, texts)
  default_length = int(np.median(data.lengths.get("train") or [config.data.max_length]))
  default_length = min(default_length, config.data.max_length) // config.data.unit_length
  texts, lengths = config.generate.parse(default_length * config.data.unit_length)
  motions = _sample(generator, config, texts, lengths)
  return write_generated(workdir / config.generate.out, texts, lengths, motions, config, t0)


def run(config: Config, workdir: str) -> dict:
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  ev_cfg = replace(config.evaluator, data=config.data)  # the generator's dataset, one source
  timings = {}
  if config.generate.texts:
    return generate_only(config, workdir)
  t0 = time.perf_counter()
  evaluator = ev_lib.ensure_evaluator(workdir, ev_cfg)
  timings["evaluator_s"] = time.perf_counter() - t0
  data = text_data.load(config.data, workdir)
  feats, captions, _ = text_data.text_features(data, workdir / FEATURES_FILE, kinmo=False)
  cap_tokens = prep.token_budget(feats, captions)
  post = prep.make_featurizer(feats, prep.FeaturizeSpec(("global",), "sentence", cap_tokens, 8))
  m = config.model
  batcher = prep.train_batcher(data, config.data, post, batch_size=m.batch_size, seed=config.seed)
  model = stage.make_model(m, config.denoiser, data.dim)

  def train():
    params = stage.train(
      m,
      batcher,
      model,
      workdir / config.denoiser,
      seed=config.seed,
      mean=data.mean,
      std=data.std,
      desc=f"diffusion_{config.denoiser}",
    )
    return {"params": params}, {"denoiser": config.denoiser}

  t0 = time.perf_counter()
  stage_fp = _fingerprint(config, feats)
  params = artifacts.cached_stage(workdir, config.denoiser, train, stage_fp).arrays["params"]
  timings["train_s"] = time.perf_counter() - t0
  choice = text_data.text_encoder_choice(config.text_encoder)
  suffix = ""
  if not choice.is_default:  # MoCLIP drop-in: fine-tune the denoiser on its token states
    t0 = time.perf_counter()
    feats, _ = dropin_features(data, workdir, choice, feats.width, "denoiser")
    cap_tokens = prep.token_budget(feats, captions)
    spec = prep.FeaturizeSpec(("global",), "sentence", cap_tokens, 8)
    tuned_batches = prep.train_batcher(data, config.data, prep.make_featurizer(feats, spec),
                                       batch_size=m.batch_size, seed=config.seed)  # fmt: skip
    name, tuned_fp = _finetune_stage(config, stage_fp, choice)

    def finetune(params=params):
      tuned = stage.train(
        finetune_stage_config(m, config.text_finetune), tuned_batches, model, workdir / name,
        seed=config.seed, mean=data.mean, std=data.std, desc=name, init_params=params,
      )  # fmt: skip
      return {"params": tuned}, {"denoiser": config.denoiser, "from": config.denoiser}

    params = artifacts.cached_stage(workdir, name, finetune, tuned_fp).arrays["params"]
    suffix = choice.label
    timings["text_finetune_s"] = time.perf_counter() - t0
  generator = _generator(config, workdir, model, params, data, feats, cap_tokens, choice)
  pairs = ev_lib.eval_pairs(workdir, ev_cfg, split=config.eval.split)
  e = config.eval
  kw = e.protocol_kwargs(len(pairs), config.seed)

  first_sets: dict[float, list[np.ndarray]] = {}  # repeat 0's clips, for the physics table

  def generate_with(scale: float):
    calls = [0]

    def generate(texts, lengths):
      calls[0] += 1
      out = _sample(generator, config, texts, lengths, scale, calls[0] - 1)
      first_sets.setdefault(scale, out)
      return out

    return generate

  t0 = time.perf_counter()
  sanity = ev_lib.sanity_check(
    evaluator, pairs, num_repeats=e.num_repeats, diversity_pairs=kw["diversity_pairs"],
    seed=config.seed,
  )  # fmt: skip
  timings["reference_rows_s"] = time.perf_counter() - t0
  label = f"{config.denoiser}{suffix} {config.sampler}-{config.steps} s={config.guidance_scale:g}"
  results = {"Real": sanity["real"], "Shuffled texts": sanity["shuffled"]}
  t0 = time.perf_counter()
  results[label] = gen_lib.evaluate_generator(
    evaluator, generate_with(config.guidance_scale), pairs, pass_lengths=True, **kw
  )
  timings["generate_eval_s"] = time.perf_counter() - t0
  if e.compare_unguided and config.guidance_scale != 0.0:
    t0 = time.perf_counter()
    unguided = f"{config.denoiser}{suffix} {config.sampler}-{config.steps} s=0"
    results[unguided] = gen_lib.evaluate_generator(
      evaluator, generate_with(0.0), pairs, pass_lengths=True, **kw
    )
    timings["generate_eval_unguided_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  real = [m[: config.data.max_length] for m in pairs.motions]
  generated = {label: first_sets[config.guidance_scale]}
  if e.compare_unguided and config.guidance_scale != 0.0:
    generated[unguided] = first_sets[0.0]
  physics = text_motion_report.plausibility_table(real, generated)
  timings["plausibility_s"] = time.perf_counter() - t0
  n_export = min(config.generate.export_clips, len(pairs))
  if n_export > 0:
    texts = [pairs.captions[i][0] for i in range(n_export)]
    u = config.data.unit_length
    lengths = [min(len(pairs.motions[i]), config.data.max_length) // u * u for i in range(n_export)]
    text_motion_report.export_clips(
      workdir / "samples", texts, _sample(generator, config, texts, lengths, call=10**6)
    )
    text_motion_report.export_clips(workdir / "samples" / "real", texts,
                 [pairs.motions[i][:n] for i, n in enumerate(lengths)])  # fmt: skip
  timings["total_s"] = time.perf_counter() - t_start
  main = results[label]
  chance3 = sanity["chance_r_precision"][2]
  headline = {
    "r_precision_top3": main["r_precision_top3"]["mean"],
    "r_precision_top3_shuffled": results["Shuffled texts"]["r_precision_top3"]["mean"],
    "r_precision_top3_chance": chance3,
    "fid": main["fid"]["mean"],
  }
  if e.compare_unguided and config.guidance_scale != 0.0:
    headline["fid_scale0"] = results[unguided]["fid"]["mean"]
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
  md = [
    "# t2m_diffusion results\n",
    f"{config.denoiser} denoiser on {data.root} ({len(pairs)} {e.split} pairs), "
    f"{m.loop.num_steps} training steps of batch {m.batch_size}; sampler {config.sampler}, "
    f"{config.steps} steps, guidance scale {config.guidance_scale:g}; seed {config.seed}. "
    f"Metrics in the evaluator's embedding space, mean ± 95% interval over {e.num_repeats} "
    f"repeats (T2M protocol). Total wall time {timings['total_s']:.0f} s.\n",
    report.markdown_table(gen_lib.TABLE_HEADER, _rows(results), "{}") + "\n",
    f"- R-precision top-3: {headline['r_precision_top3']:.3f} vs shuffled texts "
    f"{headline['r_precision_top3_shuffled']:.3f} (chance {chance3:.3f}).",
  ]
  if "fid_scale0" in headline:
    md.append(
      f"- FID: {headline['fid']:.3f} at scale {config.guidance_scale:g} vs "
      f"{headline['fid_scale0']:.3f} at scale 0 (unguided)."
    )
  md.append(f"- FID between two halves of the real motions: {sanity['fid_real_halves']:.3f}.")
  md.append(
    f"\n## Physical plausibility (BioVAE Table II columns; the {len(real)} real {e.split} clips, "
    "the first repeat's generated clips)\n"
  )
  md.append(text_motion_report.plausibility_markdown(physics))
  if n_export > 0:
    md.append(
      f"- {n_export} generated test clips (GIF, BVH, npy) in samples/index.md, the real ones in "
      "samples/real/."
    )
  md.append(f"\nConfig (seed {config.seed}) is in results.json.")
  text = "\n".join(md) + "\n"
  (workdir / "results.md").write_text(text)
  print(text)
  return out
