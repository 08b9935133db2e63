"""Spatial guidance for trajectory control through a frozen token decoder.

OmniControl (Xie et al., ICLR 2024), which KinMo cites for its trajectory control
(kinmo.txt Sec. 3.4), has two parts: a ControlNet branch ("realism guidance") and *spatial
guidance*, gradient steps that move the generated motion toward the target trajectory of the
controlled joint. OmniControl takes those steps on the diffusion model's clean-motion estimate.
A masked token generator has no continuous motion while it decodes, so here the steps act on the
continuous input of the frozen RVQ decoder: the sum of the chosen base-layer code vectors
``z`` [B, N, C]. `guide_latents` runs Adam on ``z`` against `losses.trajectory_loss` of the joint
positions that the decoder and the HumanML3D recovery (`representations.humanml3d`) give, and
returns the guided latent; the caller decodes it. The tokens themselves are unchanged. The
guided points are a function of the decoded features: one joint's global positions
(`joint_positions`, trajectory control) or every joint relative to the pelvis plus the pelvis'
global position (`keep_points`, which KinMo's group editing uses to hold the joints outside the
edited group; `motion_jax.stages.kinmo_generation.EditSettings.preserve`).

Choices (`SpatialGuidanceConfig`; the paper and OmniControl's text leave them open for a token
model):

* ``steps`` (0 = off) and ``learning_rate`` of Adam on ``z`` (OmniControl takes a fixed number of
  plain gradient steps per denoising step; Adam makes the step size independent of the loss's
  scale).
* ``anchor``: the weight of ``mean((z - z0)^2) / mean(z0^2)``, which keeps ``z`` near the
  decoded tokens' latent (0 = no anchor, as OmniControl's spatial guidance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from motion_jax.losses.kinmo import trajectory_loss
from motion_jax.representations import humanml3d


@dataclasses.dataclass(frozen=True)
class SpatialGuidanceConfig:
  steps: int = 100
  learning_rate: float = 0.05
  anchor: float = 0.0

  def __post_init__(self):
    if self.steps < 0 or not self.learning_rate > 0 or self.anchor < 0:
      raise ValueError(f"spatial guidance: steps >= 0, learning_rate > 0, anchor >= 0; got {self}")


def joint_positions(features: jax.Array, joint: int) -> jax.Array:
  """Global positions [B, T, 3] (m) of t2m joint ``joint`` from un-normalised HumanML3D
  features [B, T, F] (differentiable)."""
  return humanml3d.recover_from_ric(features, check_finite=False)[..., joint, :]


def keep_points(features: jax.Array) -> jax.Array:
  """[B, T, J + 1, 3]: every joint's position relative to the pelvis, then the pelvis' global
  position (what a body-part edit should leave alone, `guide_latents`'s ``points`` for editing)."""
  j = humanml3d.recover_from_ric(features, check_finite=False)  # [B, T, J, 3]
  return jnp.concatenate([j - j[..., :1, :], j[..., :1, :]], axis=-2)


def guide_latents(
  decode: Callable[[jax.Array], jax.Array],
  points: Callable[[jax.Array], jax.Array],
  z0: jax.Array,
  target: jax.Array,
  weight: jax.Array,
  cfg: SpatialGuidanceConfig,
) -> tuple[jax.Array, jax.Array]:
  """(guided latent [B, N, C], mean distance (m) before each step and after the last
  [steps + 1]). ``decode``: latent -> un-normalised features [B, T, F]; ``points``: features ->
  the guided points [B, T, P, 3] (or one point, [B, T, 3]); ``target`` the same shape, their
  target positions; ``weight`` [B, T(, P)], which of them are controlled (bool) or how much each
  counts (non-negative)."""

  def flat(x, d):  # [B, T, P, d] or [B, T, d] -> [B, T P, d]
    return x.reshape(x.shape[0], -1, d)

  tgt, w = flat(target, 3), flat(weight, 1)[..., 0]
  scale = jnp.maximum(jnp.mean(jnp.square(z0)), 1e-12)

  def objective(z):
    total, terms = trajectory_loss(flat(points(decode(z)), 3), tgt, w)
    if cfg.anchor:
      total = total + cfg.anchor * z.shape[0] * jnp.mean(jnp.square(z - z0)) / scale
    return total, terms["mean_distance"]

  tx = optax.adam(cfg.learning_rate)
  grad = jax.value_and_grad(objective, has_aux=True)

  def step(carry, _):
    z, opt = carry
    (_, dist), g = grad(z)
    upd, opt = tx.update(g, opt, z)
    return (optax.apply_updates(z, upd), opt), dist

  (z, _), dists = jax.lax.scan(step, (z0, tx.init(z0)), None, length=cfg.steps)
  final = objective(z)[1]
  return z, jnp.concatenate([dists, final[None]])


__all__ = ["SpatialGuidanceConfig", "guide_latents", "joint_positions", "keep_points"]
