"""Presets shared by the experiments: `quick` (CPU minutes), `tiny` (seconds, for tests) or none
(the papers' sizes, for GPU/TPU).

Each function takes the library's default config of a stage (the paper's settings) and returns it
shrunk for the preset; experiments call them from `get_config`.
"""

from __future__ import annotations

from dataclasses import replace

from motion_jax.data.text_motion.preparation import TextMotionDataConfig
from motion_jax.models.denoiser_common import TextConditionerConfig
from motion_jax.stages.diffusion import DiffusionStageConfig
from motion_jax.stages.evaluator import EvaluatorConfig, GenerationEvalConfig
from motion_jax.stages.surrogate import SurrogateStageConfig
from motion_jax.stages.vqvae import VQStageConfig

PRESETS = ("quick", "tiny")


def check(preset: str | None) -> str | None:
  """The preset name (None for the paper's sizes); an unknown one raises with the valid ones."""
  if preset in (None, ""):
    return None
  if preset not in PRESETS:
    raise ValueError(
      f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)} (or none for the paper's)"
    )
  return preset


def vqvae(cfg: VQStageConfig, preset: str | None) -> VQStageConfig:
  """Motion VQ-VAE: quick = width 128, 128 codes x 64, 1500 steps of 32; tiny = 30 steps."""
  if preset == "quick":
    return replace(
      cfg,
      model=replace(cfg.model, width=128, code_dim=64, num_codes=128),
      optim=replace(cfg.optim, warmup_steps=100, decay_steps=(1000,)),
      loop=replace(cfg.loop, num_steps=1500, log_every=100, checkpoint_every=500),
      batch_size=32,
    )
  if preset == "tiny":
    return replace(
      cfg,
      model=replace(cfg.model, width=32, code_dim=16, num_codes=32),
      optim=replace(cfg.optim, warmup_steps=5, decay_steps=(1000,)),
      loop=replace(cfg.loop, num_steps=30, log_every=10, checkpoint_every=20),
      batch_size=8,
    )
  return cfg


def surrogate(cfg: SurrogateStageConfig, preset: str | None) -> SurrogateStageConfig:
  """Muscle surrogate: quick = 1500 steps; tiny = 1 layer, ff 32, 20 steps of 8."""
  if preset == "quick":
    return replace(cfg, loop=replace(cfg.loop, num_steps=1500, log_every=100, checkpoint_every=500))
  if preset == "tiny":
    return replace(
      cfg,
      model=replace(cfg.model, num_layers=1, ff_dim=32),
      loop=replace(cfg.loop, num_steps=20, log_every=10, checkpoint_every=20),
      batch_size=8,
    )
  return cfg


def evaluator(preset: str | None) -> EvaluatorConfig:
  """The generation evaluator (`motion_jax.stages.evaluator`): default TMR's sizes and objective;
  quick = a contrastive-only latent-64 model, 600 steps; tiny = a 180-clip generator-1.0.0 dataset
  (single actions: learnable in a few steps), 6 steps."""
  cfg = EvaluatorConfig()
  if preset == "quick":
    return replace(
      cfg,
      latent_dim=64,
      ff_dim=128,
      num_layers=1,
      num_heads=4,
      objective="contrastive",
      optim=replace(cfg.optim, learning_rate=5e-4),
      loop=replace(cfg.loop, num_steps=600, log_every=25, checkpoint_every=300),
    )
  if preset == "tiny":
    return replace(
      cfg,
      data=replace(cfg.data, root="workdir", clips=180, version="1.0.0"),
      latent_dim=16,
      ff_dim=32,
      num_layers=1,
      num_heads=2,
      objective="contrastive",
      optim=replace(cfg.optim, learning_rate=1e-3),
      loop=replace(cfg.loop, num_steps=6, log_every=3, checkpoint_every=0),
      batch_size=8,
    )
  return cfg


__all__ = ["PRESETS", "check", "evaluator", "surrogate", "vqvae"]


def diffusion_model(cfg: DiffusionStageConfig, preset: str | None) -> DiffusionStageConfig:
  """The denoisers' quick (small UNet / MDM, 1,000 steps of 32) and tiny sizes, shared by
  t2m_diffusion and biovae (whose UNet stage is t2m_diffusion's, same fingerprint)."""
  if preset == "quick":
    text = TextConditionerConfig(width=64, num_layers=1, num_heads=4, ff_dim=128)
    return replace(
      cfg,
      unet=replace(cfg.unet, base_dim=32, dim_mults=(1, 2, 2), attention_heads=4, text=text),
      mdm=replace(cfg.mdm, latent_dim=128, num_layers=3, num_heads=4, ff_dim=256, text=text),
      optim=replace(cfg.optim, learning_rate=1e-3),
      loop=replace(cfg.loop, num_steps=1000, log_every=50, checkpoint_every=500, ema_decay=0.99),
      batch_size=32,
    )
  if preset == "tiny":
    text = TextConditionerConfig(width=16, num_layers=1, num_heads=2, ff_dim=32)
    return replace(
      cfg,
      unet=replace(cfg.unet, base_dim=8, dim_mults=(1, 2), groups=4, attention_heads=2, text=text),
      mdm=replace(cfg.mdm, latent_dim=16, num_layers=1, num_heads=2, ff_dim=32, text=text),
      optim=replace(cfg.optim, learning_rate=1e-3),
      loop=replace(cfg.loop, num_steps=4, log_every=2, checkpoint_every=0, ema_decay=0.5),
      batch_size=8,
    )
  return cfg


def generator_data(cfg: TextMotionDataConfig, preset: str | None) -> TextMotionDataConfig:
  """The text-motion data of the generators' quick presets (t2m_diffusion, momask, t2m_gpt): one
  1,200-clip single-action (1.0.0) build cropped to 64 frames, so their rows share a dataset and
  an evaluator (a crop of a 2.0.0 sequence would drop actions its caption names). Other presets:
  unchanged (the experiments set their own tiny data)."""
  if preset == "quick":
    return replace(cfg, clips=1200, version="1.0.0", max_length=64)
  return cfg


def generation_eval(cfg: GenerationEvalConfig, preset: str | None):
  """The generators' evaluation protocol: quick = 3 repeats, multimodality over 8 texts x 10;
  tiny = the train split, 2 repeats and a few pairs (tests); default = T2M's."""
  if preset == "quick":
    return replace(cfg, num_repeats=3, mm_texts=8, mm_repeats=10)
  if preset == "tiny":
    return replace(
      cfg, split="train", num_repeats=2, diversity_pairs=16, mm_texts=2, mm_repeats=2, mm_pairs=2,
      chunk=16,
    )  # fmt: skip
  return cfg
