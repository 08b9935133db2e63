"""Optimisers and learning-rate schedules used by the papers, built from a config.

All optimisers are AdamW with optional warmup, a decay schedule, global-norm clipping and freezing
of parameters whose path matches a regular expression (through `optax.multi_transform`, so frozen
parameters get exactly zero updates and no optimiser moments are spent on them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import jax
import optax

SCHEDULES = ("constant", "multistep", "cosine")


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  learning_rate: float = 2e-4
  b1: float = 0.9
  b2: float = 0.99
  eps: float = 1e-8
  weight_decay: float = 0.0
  warmup_steps: int = 0
  # 'constant', 'multistep' (multiply by `decay_factor` at each of `decay_steps`) or 'cosine'.
  schedule: str = "constant"
  decay_steps: tuple[int, ...] = ()
  decay_factor: float = 0.05
  final_lr_fraction: float = 0.0  # cosine: final lr = fraction * peak
  grad_clip_norm: float = 0.0  # 0 disables
  freeze: tuple[str, ...] = ()  # regexes over '/'-joined parameter paths

  def __post_init__(self):
    if self.schedule not in SCHEDULES:
      raise ValueError(
        f"optim.schedule: unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"
      )


def make_schedule(cfg: OptimConfig, total_steps: int = 1) -> optax.Schedule:
  """Warmup (linear from 0) followed by the configured decay; the cosine decays over
  `total_steps` (the training length, `LoopConfig.num_steps`)."""
  if cfg.schedule == "constant":
    main = optax.constant_schedule(cfg.learning_rate)
  elif cfg.schedule == "multistep":
    # T2M-GPT / BIGE: MultiStepLR(milestones, gamma); boundaries counted from step 0 like torch.
    main = optax.piecewise_constant_schedule(
      cfg.learning_rate, {int(s) - cfg.warmup_steps: cfg.decay_factor for s in cfg.decay_steps}
    )
  elif cfg.schedule == "cosine":
    main = optax.cosine_decay_schedule(
      cfg.learning_rate, max(total_steps - cfg.warmup_steps, 1), alpha=cfg.final_lr_fraction
    )
  else:
    raise ValueError(
      f"optim.schedule: unknown schedule {cfg.schedule!r}; "
      "choose one of 'constant', 'multistep', 'cosine'"
    )
  if cfg.warmup_steps <= 0:
    return main
  warmup = optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps)
  return optax.join_schedules([warmup, main], [cfg.warmup_steps])


def path_str(path: Sequence[Any]) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def freeze_labels(params: Any, patterns: Sequence[str]) -> Any:
  """'frozen' for leaves whose path matches any pattern, else 'trainable'."""
  compiled = [re.compile(p) for p in patterns]
  return jax.tree_util.tree_map_with_path(
    lambda path, _: "frozen" if any(c.search(path_str(path)) for c in compiled) else "trainable",
    params,
  )


def make_optimizer(cfg: OptimConfig, total_steps: int = 1) -> optax.GradientTransformation:
  adamw = optax.adamw(
    make_schedule(cfg, total_steps),
    b1=cfg.b1,
    b2=cfg.b2,
    eps=cfg.eps,
    weight_decay=cfg.weight_decay,
  )
  if cfg.grad_clip_norm > 0:
    adamw = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), adamw)
  if not cfg.freeze:
    return adamw
  return optax.multi_transform(
    {"trainable": adamw, "frozen": optax.set_to_zero()},
    lambda params: freeze_labels(params, cfg.freeze),
  )
