"""Rotation helpers against scipy.spatial.transform.Rotation (an independent reference)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motion_jax.representations import rotations as rot


@pytest.fixture(scope="module")
def quats():
  q = Rotation.random(64, random_state=0).as_quat(scalar_first=True)
  return np.where(q[:, :1] < 0, -q, q)


def test_matrix_and_rotate_match_scipy(quats):
  with jax.enable_x64(True):
    q = jnp.asarray(quats)
    v = jnp.asarray(np.random.default_rng(1).normal(size=(64, 3)))
    ref = Rotation.from_quat(quats, scalar_first=True)
    np.testing.assert_allclose(rot.quat_to_matrix(q), ref.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rot.quat_rotate(q, v), ref.apply(np.array(v)), atol=1e-12)
    np.testing.assert_allclose(rot.matrix_to_quat(rot.quat_to_matrix(q)), quats, atol=1e-12)


def test_multiply_and_inverse(quats):
  with jax.enable_x64(True):
    a, b = jnp.asarray(quats[:32]), jnp.asarray(quats[32:])
    ref = (
      Rotation.from_quat(quats[:32], scalar_first=True)
      * Rotation.from_quat(quats[32:], scalar_first=True)
    ).as_matrix()
    np.testing.assert_allclose(rot.quat_to_matrix(rot.quat_multiply(a, b)), ref, atol=1e-12)
    ident = rot.quat_multiply(a, rot.quat_inverse(a))
    np.testing.assert_allclose(ident, np.tile([1.0, 0, 0, 0], (32, 1)), atol=1e-12)


def test_cont6d_round_trip_and_columns(quats):
  with jax.enable_x64(True):
    q = jnp.asarray(quats)
    d6 = rot.quat_to_cont6d(q)
    m = Rotation.from_quat(quats, scalar_first=True).as_matrix()
    np.testing.assert_allclose(d6, np.concatenate([m[:, :, 0], m[:, :, 1]], -1), atol=1e-12)
    np.testing.assert_allclose(rot.cont6d_to_quat(d6), quats, atol=1e-12)
    # Gram-Schmidt projects a perturbed 6D vector back onto a rotation.
    r = rot.cont6d_to_matrix(d6 * 1.7 + 0.01)
    np.testing.assert_allclose(
      jnp.einsum("nij,nik->njk", r, r), np.tile(np.eye(3), (64, 1, 1)), atol=1e-12
    )
    np.testing.assert_allclose(jnp.linalg.det(r), 1.0, atol=1e-12)


def test_quat_between():
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    v0 = jnp.asarray(rng.normal(size=(50, 3)))
    v1 = jnp.asarray(rng.normal(size=(50, 3)))
    q = rot.quat_between(v0, v1)
    got = rot.quat_rotate(q, v0 / jnp.linalg.norm(v0, axis=-1, keepdims=True))
    unit1 = v1 / jnp.linalg.norm(v1, axis=-1, keepdims=True)
    np.testing.assert_allclose(got, unit1, atol=1e-12)
    # Shortest arc: rotation angle equals the angle between the vectors.
    ang = 2 * jnp.arccos(jnp.clip(q[:, 0], -1, 1))
    cosang = jnp.sum(v0 * v1, -1) / jnp.linalg.norm(v0, axis=-1) / jnp.linalg.norm(v1, axis=-1)
    np.testing.assert_allclose(ang, jnp.arccos(cosang), atol=1e-7)
    # Antiparallel input gives a finite half turn.
    z = jnp.asarray([0.0, 0.0, 1.0])
    half = rot.quat_between(-z, z)
    assert bool(jnp.isfinite(half).all())
    np.testing.assert_allclose(rot.quat_rotate(half, -z), z, atol=1e-12)


def test_yaw_quat_is_half_angle():
  with jax.enable_x64(True):
    q = rot.yaw_quat(jnp.asarray(0.3))
    ref = Rotation.from_euler("y", 0.6).as_matrix()
    np.testing.assert_allclose(rot.quat_to_matrix(q), ref, atol=1e-12)


def test_quat_between_antiparallel_fallback_axis():
  v0 = jnp.asarray([[1e-17, 0.0, -1.0]])  # the case that picked a horizontal axis
  q = rot.quat_between(v0, jnp.asarray([0.0, 0.0, 1.0]), fallback_axis=(0.0, 1.0, 0.0))
  np.testing.assert_allclose(np.abs(np.asarray(q)), [[0.0, 0.0, 1.0, 0.0]], atol=1e-7)
  out = rot.quat_rotate(q, v0)
  np.testing.assert_allclose(np.asarray(out), [[0.0, 0.0, 1.0]], atol=1e-6)


def test_axis_angle_matches_scipy(quats):
  with jax.enable_x64(True):
    ref = Rotation.from_quat(quats, scalar_first=True).as_rotvec()
    np.testing.assert_allclose(rot.quat_to_axis_angle(jnp.asarray(quats)), ref, atol=1e-12)
    # q and -q are the same rotation: the same vector.
    np.testing.assert_allclose(rot.quat_to_axis_angle(-jnp.asarray(quats)), ref, atol=1e-12)
    np.testing.assert_allclose(rot.axis_angle_to_quat(jnp.asarray(ref)), quats, atol=1e-12)
    # Near and at the identity: finite values and gradients, the small-angle limit.
    tiny = jnp.asarray([[1.0, 0.0, 0.0, 0.0], [np.cos(1e-8), np.sin(1e-8), 0.0, 0.0]])
    np.testing.assert_allclose(rot.quat_to_axis_angle(tiny), [[0, 0, 0], [2e-8, 0, 0]], atol=1e-15)
    grad = jax.grad(lambda q: rot.quat_to_axis_angle(q).sum())(tiny)
    assert bool(jnp.all(jnp.isfinite(grad)))
    aa_grad = jax.grad(lambda a: rot.axis_angle_to_quat(a).sum())(jnp.zeros(3))
    assert bool(jnp.all(jnp.isfinite(aa_grad)))
