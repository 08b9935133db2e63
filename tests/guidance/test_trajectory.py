"""Spatial guidance for trajectory control (`motion_jax.guidance.trajectory`) and its objective
(`losses.trajectory_loss`): known distances, a reachable target reached, the anchor's pull."""

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import losses
from motion_jax.guidance import trajectory
from motion_jax.representations import humanml3d


def test_trajectory_loss_is_the_mean_distance_over_each_clips_controlled_frames():
  target = np.zeros((2, 5, 3), np.float32)
  pos = target.copy()
  pos[0, :, 0] = 0.3  # clip 0: 0.3 m off on every frame
  pos[1, :2, 1] = 0.4  # clip 1: 0.4 m off on frames 0-1 only ...
  pos[1, 2:, 2] = 9.0  # ... and far off on frames that are not controlled
  frames = np.ones((2, 5), bool)
  frames[1, 2:] = False
  total, terms = losses.trajectory_loss(jnp.asarray(pos), jnp.asarray(target), jnp.asarray(frames))
  np.testing.assert_allclose(float(total), 0.3 + 0.4, rtol=1e-5)  # summed over clips
  np.testing.assert_allclose(float(terms["mean_distance"]), 0.35, rtol=1e-5)
  # weights: distances 0.3 and 0.6 weighted 2:1 -> (2 * 0.3 + 0.6) / 3
  pos2 = np.zeros((1, 2, 3), np.float32)
  pos2[0, :, 0] = [0.3, 0.6]
  w = jnp.asarray([[2.0, 1.0]])
  total, _ = losses.trajectory_loss(jnp.asarray(pos2), jnp.zeros((1, 2, 3)), w)
  np.testing.assert_allclose(float(total), 0.4, rtol=1e-5)


def _linear_decoder(n_tok=4, code=6, seed=0):
  """A fixed linear map from latents [B, N, C] to HumanML3D features [B, 4 N, 263]."""
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  w = 0.05 * jax.random.normal(k1, (code, 4 * 263))
  b = 0.02 * jax.random.normal(k2, (4 * 263,))
  b = b.reshape(4, 263).at[:, 3].set(0.9).reshape(-1)  # root height ~0.9 m

  def decode(z):
    return (z @ w + b).reshape(z.shape[0], 4 * z.shape[1], 263)

  return decode


def pelvis(features):
  return trajectory.joint_positions(features, 0)


def test_guidance_reaches_a_reachable_trajectory_and_leaves_nothing_else_to_chance():
  decode = _linear_decoder()
  z_star = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 6))
  target = humanml3d.recover_from_ric(decode(z_star), check_finite=False)[:, :, 0]
  frames = jnp.ones((2, 16), bool)
  z0 = 0.3 * jax.random.normal(jax.random.PRNGKey(2), z_star.shape)
  pelvis0 = humanml3d.recover_from_ric(decode(z0), check_finite=False)[:, :, 0]
  start = float(jnp.mean(jnp.linalg.norm(pelvis0 - target, axis=-1)))
  # steps=0 returns the start untouched and measures its distance
  z, dist = trajectory.guide_latents(
    decode, pelvis, z0, target, frames, trajectory.SpatialGuidanceConfig(steps=0)
  )
  np.testing.assert_array_equal(np.asarray(z), np.asarray(z0))
  np.testing.assert_allclose(float(dist[0]), start, rtol=1e-4)
  cfg = trajectory.SpatialGuidanceConfig(steps=300, learning_rate=0.05)
  z, dist = jax.jit(lambda z0: trajectory.guide_latents(decode, pelvis, z0, target, frames, cfg))(
    z0
  )
  assert dist.shape == (301,)
  assert float(dist[-1]) < 0.1 * start, (start, float(dist[-1]))
  # a strong anchor keeps the latent near its start and the trajectory farther from the target
  anchored = trajectory.SpatialGuidanceConfig(steps=300, learning_rate=0.05, anchor=100.0)
  za, dist_a = trajectory.guide_latents(decode, pelvis, z0, target, frames, anchored)
  assert float(jnp.linalg.norm(za - z0)) < 0.5 * float(jnp.linalg.norm(z - z0))
  assert float(dist_a[-1]) > float(dist[-1])
