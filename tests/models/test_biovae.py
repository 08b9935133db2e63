"""BioVAE's Euler-Lagrange residual module (biovae.txt eqs. 1-5): SPD inverse inertia, eq. 3's
composition, causality over time, the zero residual at initialisation and acceleration editing."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models import biovae
from motion_jax.representations import humanml3d

B, T, J, D = 2, 12, 22, 263
SMALL = biovae.BioVAEConfig(latent=16, hidden=24, muscle_dim=8, muscle_heads=2, decoder_hidden=16)


def _inputs(seed=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  joints = jax.random.normal(k1, (B, T, J, 3))
  x0 = jax.random.normal(k2, (B, T, D))
  return joints, x0


def _init(cfg, seed=0):
  model = biovae.BioVAE(cfg, D)
  joints, x0 = _inputs(seed)
  params = model.init(jax.random.PRNGKey(seed + 1), joints, x0)
  return model, params


def _perturb(params, scale, seed):
  """Random non-zero weights everywhere (the decoder's zero-initialised head included)."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  noisy = [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
  return jax.tree.unflatten(tree, noisy)


@pytest.mark.parametrize("inertia", biovae.INERTIA)
def test_inverse_inertia_is_symmetric_positive_definite_for_random_inputs(inertia):
  cfg = dataclasses.replace(SMALL, inertia=inertia)
  model, params = _init(cfg)
  for seed in range(3):
    joints, x0 = _inputs(seed + 10)
    out = model.apply(_perturb(params, 0.5, seed), joints * (seed + 1), x0)
    # The dense matrix from the module's factors in float64: eigenvalues near eps next to ones
    # of 1e4 are below float32's resolution of the entries.
    with jax.enable_x64(True):
      out64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)), out)
      m = np.asarray(biovae.inverse_inertia_matrix(out64, cfg))
    assert m.shape == (B, T, 3 * J, 3 * J)
    np.testing.assert_allclose(m, np.swapaxes(m, -1, -2), atol=1e-5)
    assert np.linalg.eigvalsh(m).min() >= cfg.inertia_eps * (1 - 1e-3)


@pytest.mark.parametrize("inertia", biovae.INERTIA)
def test_acceleration_is_inverse_inertia_times_the_force_bracket(inertia):
  cfg = dataclasses.replace(SMALL, inertia=inertia)
  model, params = _init(cfg)
  joints, x0 = _inputs(3)
  out = model.apply(_perturb(params, 0.3, 4), joints, x0)
  m = biovae.inverse_inertia_matrix(out, cfg)
  expect = jnp.einsum("btij,btj->bti", m, out.force.reshape(B, T, 3 * J)).reshape(B, T, J, 3)
  # float32 sums of terms up to ~1e3 that cancel: compare at 1e-5 of the largest value.
  np.testing.assert_allclose(out.accel, expect, rtol=1e-4, atol=1e-5 * float(jnp.abs(expect).max()))


def test_outputs_at_a_frame_depend_on_earlier_frames_only():
  model, params = _init(SMALL)
  params = _perturb(params, 0.3, 5)
  joints, x0 = _inputs(6)
  t0 = 6
  noise = jax.random.normal(jax.random.PRNGKey(12), joints.shape)  # not a pure translation:
  later = joints.at[:, t0 + 1 :].add(noise[:, t0 + 1 :])  # the pose terms see root-relative X
  x0_later = x0.at[:, t0 + 1 :].add(1.0)
  a, b = model.apply(params, joints, x0), model.apply(params, later, x0_later)
  for name in ("accel", "residual", "activations", "force"):
    np.testing.assert_allclose(getattr(a, name)[:, : t0 + 1], getattr(b, name)[:, : t0 + 1])
    assert not np.allclose(getattr(a, name)[:, t0 + 1 :], getattr(b, name)[:, t0 + 1 :]), name


def test_untrained_module_leaves_the_prediction_unchanged():
  model, params = _init(SMALL)
  joints, x0 = _inputs(7)
  out = model.apply(params, joints, x0)
  assert out.residual.shape == (B, T, D)
  np.testing.assert_array_equal(out.residual, 0.0)
  assert np.all((out.activations > 0) & (out.activations < 1))


def test_acceleration_editing_scales_all_joints_or_one():
  model, params = _init(SMALL)
  params = _perturb(params, 0.3, 8)
  joints, x0 = _inputs(9)
  base = model.apply(params, joints, x0)
  double = model.apply(params, joints, x0, accel_scale=2.0)
  np.testing.assert_allclose(double.accel, 2.0 * base.accel, rtol=1e-6)
  one = jnp.ones(J).at[4].set(0.5)  # one joint (t2m left knee) at half
  edited = model.apply(params, joints, x0, accel_scale=one)
  np.testing.assert_allclose(edited.accel[:, :, 4], 0.5 * base.accel[:, :, 4], rtol=1e-6)
  np.testing.assert_allclose(edited.accel[:, :, 5:], base.accel[:, :, 5:], rtol=1e-6)
  assert not np.allclose(edited.residual, base.residual)  # the decoder sees the edit


def test_kinematic_acceleration_is_the_backward_second_difference():
  t = jnp.arange(T, dtype=jnp.float32)
  x = jnp.broadcast_to((0.5 * 0.3 * t**2)[None, :, None, None], (1, T, 2, 3))  # Ẍ = 0.3 / frame²
  a = biovae.kinematic_acceleration(x, 1.0)
  np.testing.assert_array_equal(a[:, :2], 0.0)  # no three frames yet
  np.testing.assert_allclose(a[:, 2:], 0.3, rtol=1e-5)
  np.testing.assert_allclose(biovae.kinematic_acceleration(x, 20.0)[:, 2:], 0.3 * 400, rtol=1e-5)


@pytest.mark.parametrize("mode", biovae.DECODER_INPUTS)
def test_the_decoder_reads_the_configured_acceleration_signal(mode):
  cfg = dataclasses.replace(SMALL, decoder_input=mode, decoder_accel_gain=7.0)
  model, params = _init(cfg)
  params = _perturb(params, 0.3, 14)
  joints, x0 = _inputs(15)
  out = model.apply(params, joints, x0)
  heard = out.accel
  if mode == "discrepancy":  # the module's Ẍ minus that of the joints it was given
    heard = out.accel - biovae.kinematic_acceleration(joints, cfg.accel_rate)
  decoder = biovae.ResidualDecoder(cfg.decoder_hidden, D)
  expect = decoder.apply({"params": params["params"]["decoder"]}, 7.0 * heard.reshape(B, T, -1), x0)
  np.testing.assert_allclose(out.residual, expect, rtol=1e-5, atol=1e-6)


def test_the_sign_of_c_follows_the_config():
  plus = dataclasses.replace(SMALL, c_sign=1.0)
  minus = dataclasses.replace(SMALL, c_sign=-1.0)
  model, params = _init(plus)
  params = _perturb(params, 0.3, 10)
  joints, x0 = _inputs(11)
  a = model.apply(params, joints, x0)
  b = biovae.BioVAE(minus, D).apply(params, joints, x0)
  # E + C + RA vs E - C + RA: their sum is 2 (E + RA), their difference 2 C; C is not zero.
  assert not np.allclose(a.force, b.force)


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="inertia must be one of"):
    biovae.BioVAEConfig(inertia="full")
  with pytest.raises(ValueError, match="positive definite"):
    biovae.BioVAEConfig(inertia_eps=0.0)
  with pytest.raises(ValueError, match="decoder_input must be one of"):
    biovae.BioVAEConfig(decoder_input="force")


# ---- Tab. VI editing, the 'kinematic' mechanism (a residual on x̂₀) ----------------------------


def _features(seed, b=B, t=T):
  """Un-normalised HumanML3D-shaped features with a turning, walking root (yaw matters)."""
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  f = 0.1 * jax.random.normal(k1, (b, t, D))
  f = f.at[..., 0].set(0.2 * jax.random.normal(k2, (b, t)))  # yaw velocity, rad/frame
  return f.at[..., 2].add(0.05).at[..., 3].add(0.9)  # forward speed, root height


def _lengths_mask(lengths, t=T):
  return jnp.arange(t)[None] < jnp.asarray(lengths)[:, None]


def test_joint_delta_to_features_moves_the_recovered_joints_by_the_delta():
  """recover_from_ric(f + Δf) = recover_from_ric(f) + ΔX for any ΔX whose root is 0 at frame 0;
  the 6D rotations and foot contacts stay."""
  f = _features(20)
  delta = 0.3 * jax.random.normal(jax.random.PRNGKey(21), (B, T, J, 3))
  delta = delta.at[:, 0, 0].set(0.0)
  df = biovae.joint_delta_to_features(delta, f)
  got = humanml3d.recover_from_ric(f + df, check_finite=False)
  want = humanml3d.recover_from_ric(f, check_finite=False) + delta
  np.testing.assert_allclose(got, want, atol=1e-5)
  blocks = humanml3d.layout_for().blocks
  for name in ("root_rot_velocity", "rot", "foot_contact"):
    np.testing.assert_array_equal(df[..., slice(*blocks[name])], 0.0)


def test_the_edit_gives_the_motion_scaled_acceleration_with_its_end_frames_kept():
  """X' = X + (s − 1)·(X − chord): Ẍ(X') = s Ẍ(X) on the valid frames, X' = X at frame 0, at the
  last valid frame and beyond it; the module reference with Ẍ_ref = Ẍ(X) gives the same X'."""
  lengths = (T, T - 4)
  mask = _lengths_mask(lengths)
  joints = humanml3d.recover_from_ric(_features(22), check_finite=False)
  scale = jnp.ones(J).at[3].set(2.0).at[7].set(0.5)
  cfg = biovae.AccelEditConfig()
  delta = biovae.edit_displacement(joints, None, scale, mask, cfg, 1.0)
  edited = joints + delta
  for i, n in enumerate(lengths):
    a = biovae.kinematic_acceleration(joints[i : i + 1, :n], 1.0)[0, 2:]
    a_edit = biovae.kinematic_acceleration(edited[i : i + 1, :n], 1.0)[0, 2:]
    np.testing.assert_allclose(a_edit, a * scale[:, None], atol=1e-5)
    np.testing.assert_array_equal(delta[i, 0], 0.0)
    np.testing.assert_allclose(delta[i, n - 1 :], 0.0, atol=1e-6)
  own = biovae.kinematic_acceleration(joints, 1.0)
  module_ref = dataclasses.replace(cfg, reference="module")
  np.testing.assert_allclose(
    biovae.edit_displacement(joints, own * 400.0, scale, mask, module_ref, 20.0), delta, atol=1e-5
  )


def test_the_kinematic_edit_is_the_identity_at_factor_one_and_moves_x0_otherwise():
  mask = _lengths_mask((T, T - 3))
  x0 = jax.random.normal(jax.random.PRNGKey(23), (B, T, D))
  mean, std = _features(24)[0, 0], 0.5 + jax.random.uniform(jax.random.PRNGKey(25), (D,))
  cfg, accel = biovae.AccelEditConfig(), jnp.zeros((B, T, J, 3))
  edit = jax.jit(lambda s: biovae.kinematic_edit(x0, accel, s, mask, mean, std, cfg, 1.0))
  np.testing.assert_array_equal(edit(jnp.ones(J)), x0)  # bit for bit
  assert float(jnp.abs(edit(jnp.full(J, 1.5, jnp.float32)) - x0).max()) > 1e-3
  assert edit._cache_size() == 1  # the factor is traced: one compilation for every value


@pytest.mark.parametrize("field,value", [("mechanism", "grad"), ("reference", "gt")])
def test_edit_config_rejects_unknown_choices(field, value):
  with pytest.raises(ValueError, match=field):
    biovae.AccelEditConfig(**{field: value})
