"""The motion denoisers (MDM, StableMoFusion UNet): shapes, masking of padded frames, zero-init
output, the condition switch, and the paper-size defaults."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models.denoiser_common import TextConditionerConfig, timestep_features
from motion_jax.models.mdm import MDM, MDMConfig
from motion_jax.models.motion_unet import MotionUNet, UNetConfig

F, FT = 7, 12
TEXT = TextConditionerConfig(width=16, num_layers=1, num_heads=2, ff_dim=32)


def _tiny(kind):
  if kind == "mdm":
    return MDM(MDMConfig(latent_dim=16, num_layers=2, num_heads=2, ff_dim=32, text=TEXT), F)
  return MotionUNet(
    UNetConfig(base_dim=8, dim_mults=(1, 2), groups=4, attention_heads=2, text=TEXT), F
  )


def _inputs(b=2, n=21, seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((b, n, F)), jnp.float32)
  text = jnp.asarray(rng.standard_normal((b, 5, FT)), jnp.float32)
  text_mask = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)[:b]
  mask = jnp.arange(n)[None] < jnp.asarray([13, n])[:b, None]
  return x, jnp.asarray([3, 700])[:b], text, text_mask, jnp.ones(b, bool), mask


def _init(model, inputs):
  return model.init(jax.random.PRNGKey(0), *inputs)["params"]


def _perturb_last_layer(params):
  """Non-zero output weights, so the zero-init output does not hide the masking test."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(5), len(leaves))
  return jax.tree.unflatten(
    tree, [p + 0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
  )


@pytest.mark.parametrize("kind", ["mdm", "unet"])
def test_shapes_and_padded_frames_do_not_leak(kind):
  model = _tiny(kind)
  inputs = _inputs()
  params = _perturb_last_layer(_init(model, inputs))
  out = model.apply({"params": params}, *inputs)
  assert out.shape == inputs[0].shape
  x, t, text, tm, keep, mask = inputs
  garbage = jnp.where(mask[..., None], x, 100.0 * jax.random.normal(jax.random.PRNGKey(1), x.shape))
  out2 = model.apply({"params": params}, garbage, t, text, tm, keep, mask)
  np.testing.assert_allclose(out2[0, :13], out[0, :13], atol=1e-5)  # valid frames unchanged
  assert float(jnp.abs(out2[0, 13:]).max()) == 0.0  # padded frames output zero
  # the valid frames do matter
  poked = x.at[0, 5].add(1.0)
  out3 = model.apply({"params": params}, poked, t, text, tm, keep, mask)
  assert float(jnp.abs(out3[0, :13] - out[0, :13]).max()) > 1e-4
  # and text tokens outside the text mask do not
  text2 = text.at[0, 3:].set(50.0)
  out4 = model.apply({"params": params}, x, t, text2, tm, keep, mask)
  np.testing.assert_allclose(out4, out, atol=1e-5)


@pytest.mark.parametrize("kind", ["mdm", "unet"])
def test_condition_switch_and_timestep_matter(kind):
  model = _tiny(kind)
  inputs = _inputs()
  params = _perturb_last_layer(_init(model, inputs))
  x, t, text, tm, keep, mask = inputs
  out = model.apply({"params": params}, *inputs)
  dropped = model.apply({"params": params}, x, t, text, tm, jnp.zeros(2, bool), mask)
  assert float(jnp.abs(dropped - out).max()) > 1e-4
  # dropped rows ignore the text entirely
  other_text = model.apply({"params": params}, x, t, -text, tm, jnp.zeros(2, bool), mask)
  np.testing.assert_allclose(other_text, dropped, atol=1e-5)
  later = model.apply({"params": params}, x, t + 100, text, tm, keep, mask)
  assert float(jnp.abs(later - out).max()) > 1e-4


def test_unet_output_is_zero_at_init_and_frames_are_padded():
  model = _tiny("unet")
  inputs = _inputs(n=21)  # not a multiple of 4 = 2^levels: padded inside
  params = _init(model, inputs)
  out = model.apply({"params": params}, *inputs)
  assert out.shape == (2, 21, F)
  assert float(jnp.abs(out).max()) == 0.0
  assert not np.any(np.asarray(params["output"]["kernel"]))


def test_paper_size_defaults():
  u, m = UNetConfig(), MDMConfig()
  assert (u.base_dim, u.dim_mults, u.kernel_size, u.groups, u.frame_multiple) == (
    512,
    (2, 2, 2, 2),
    5,
    8,
    16,
  )
  assert (m.latent_dim, m.num_layers, m.num_heads, m.ff_dim) == (512, 8, 4, 1024)
  t = TextConditionerConfig()
  assert (t.width, t.num_layers, t.num_heads, t.ff_dim) == (256, 4, 4, 2048)
  with pytest.raises(ValueError, match="divisible"):
    dataclasses.replace(u, groups=7)


def test_timestep_features():
  f = timestep_features(jnp.asarray([0, 10]), 8)
  np.testing.assert_allclose(f[0], [0, 0, 0, 0, 1, 1, 1, 1], atol=1e-7)
  np.testing.assert_allclose(f[1, 0], np.sin(10.0), atol=1e-6)
