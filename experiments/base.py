"""Shared defaults for every experiment (not runnable itself)."""

from __future__ import annotations

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.batch_size = 32
  c.num_steps = 1000
  c.log_every = 50
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.ema_decay = 0.999
  c.init_from = ""  # resume order: workdir checkpoint -> init_from -> scratch
  c.optim = ml_collections.ConfigDict(
    dict(
      learning_rate=2e-4,
      b1=0.9,
      b2=0.99,
      eps=1e-8,
      weight_decay=0.0,
      warmup_steps=0,
      schedule="constant",
      decay_steps=(),
      decay_factor=0.05,
      total_steps=1000,
      final_lr_fraction=0.0,
      grad_clip_norm=0.0,
      freeze=(),
    )
  )
  return c


def is_quick(arg: str | None) -> bool:
  """`quick` (CPU minutes) and `tiny` (seconds, for tests) shrink everything."""
  if arg not in (None, "", "quick", "tiny"):
    raise ValueError(
      f"unknown preset {arg!r}; valid presets: quick, tiny (or none for the paper's)"
    )
  return arg in ("quick", "tiny")
