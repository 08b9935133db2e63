"""Gaussian diffusion as pure functions: schedules, targets, samplers, classifier-free guidance.

* `schedule`: the noise schedule struct (linear / cosine), `q_sample`, x0 / eps / v targets.
* `samplers`: DDPM, DDIM (eta), DDIM inversion, SDE-DPM-Solver++(2M) on Karras sigmas, as a
  host-computed plan and one `lax.scan`; inpainting by re-imposing known frames.
* `classifier_free`: condition dropout and the guided prediction in one batched call.
* `autoregressive`: next-token sampling (T2M-GPT) with or without a key/value cache.
* `masked`: masked token modelling (MoMask): training corruption, iterative decoding with
  guidance over token logits, inpainting by known tokens.
* `coarse_to_fine`: KinMo's level-by-level re-mask-and-refine decoding over a masked generator.
* `refine`: refinement of an estimate by inversion to a level t then DDIM back (BioVAE eqs.
  10-11), and a list-of-clips refiner built from a trained denoiser.
"""

from motion_jax.diffusion import (
  autoregressive,
  classifier_free,
  coarse_to_fine,
  masked,
  refine,
  samplers,
  schedule,
)
from motion_jax.diffusion.classifier_free import drop_condition, guide, guided_model_fn
from motion_jax.diffusion.samplers import (
  SAMPLERS,
  Inpaint,
  Plan,
  ddim_inversion_plan,
  ddim_invert,
  make_plan,
  make_sample_fn,
  run,
)
from motion_jax.diffusion.schedule import (
  PREDICTIONS,
  SCHEDULES,
  Schedule,
  make_schedule,
  noise_batch,
  q_sample,
  to_x0_eps,
  training_target,
)

__all__ = [
  "PREDICTIONS",
  "SAMPLERS",
  "SCHEDULES",
  "Inpaint",
  "Plan",
  "Schedule",
  "autoregressive",
  "classifier_free",
  "coarse_to_fine",
  "masked",
  "refine",
  "ddim_inversion_plan",
  "ddim_invert",
  "drop_condition",
  "guide",
  "guided_model_fn",
  "make_plan",
  "make_sample_fn",
  "make_schedule",
  "noise_batch",
  "q_sample",
  "run",
  "samplers",
  "schedule",
  "to_x0_eps",
  "training_target",
]
