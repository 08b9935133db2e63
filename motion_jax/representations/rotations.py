"""Rotation helpers as pure JAX functions: quaternions, rotation matrices and the 6D representation.

Conventions (the ones used by the HumanML3D feature pipeline, so features computed here agree with
the shipped data):

* Quaternions are ``[..., 4]`` arrays ordered ``(w, x, y, z)`` (scalar first), Hamilton product.
* ``quat_rotate(q, v)`` rotates the 3-vector ``v`` by the unit quaternion ``q`` (``q v q*``).
* Rotation matrices act on column vectors: ``v' = R @ v``.
* The continuous 6D representation (Zhou et al. 2019, "On the Continuity of Rotation
  Representations in Neural Networks") is the first two *columns* of the rotation matrix,
  concatenated: ``[R[:, 0], R[:, 1]]``; this is the layout of HumanML3D's ``rot_data`` block.

Every function broadcasts over leading dimensions and is jit/vmap/grad friendly.
"""

from __future__ import annotations

import jax.numpy as jnp

_EPS = 1e-12


def quat_identity(shape: tuple[int, ...] = (), dtype=jnp.float32) -> jnp.ndarray:
  """Identity quaternions ``(1, 0, 0, 0)`` of shape ``shape + (4,)``."""
  return jnp.zeros(shape + (4,), dtype).at[..., 0].set(1.0)


def quat_normalize(q: jnp.ndarray) -> jnp.ndarray:
  """Scales quaternions to unit norm."""
  return q / jnp.sqrt(jnp.maximum(jnp.sum(q * q, axis=-1, keepdims=True), _EPS))


def quat_conjugate(q: jnp.ndarray) -> jnp.ndarray:
  """Conjugate ``(w, -x, -y, -z)``; the inverse of a unit quaternion."""
  return q * jnp.asarray([1.0, -1.0, -1.0, -1.0], q.dtype)


def quat_inverse(q: jnp.ndarray) -> jnp.ndarray:
  """Inverse of a unit quaternion (alias of :func:`quat_conjugate`)."""
  return quat_conjugate(q)


def quat_multiply(q: jnp.ndarray, r: jnp.ndarray) -> jnp.ndarray:
  """Hamilton product ``q * r`` (apply ``r`` first, then ``q``). Broadcasts."""
  w1, x1, y1, z1 = jnp.moveaxis(q, -1, 0)
  w2, x2, y2, z2 = jnp.moveaxis(r, -1, 0)
  return jnp.stack(
    [
      w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
      w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
      w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
      w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ],
    axis=-1,
  )


def quat_rotate(q: jnp.ndarray, v: jnp.ndarray) -> jnp.ndarray:
  """Rotates vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]`` (broadcasting)."""
  w = q[..., :1]
  u = q[..., 1:]
  uv = jnp.cross(u, v)
  uuv = jnp.cross(u, uv)
  return v + 2.0 * (w * uv + uuv)


def quat_between(v0: jnp.ndarray, v1: jnp.ndarray, fallback_axis=None) -> jnp.ndarray:
  """Shortest-arc unit quaternion rotating direction ``v0`` onto direction ``v1``.

  ``q = normalize([|v0||v1| + v0.v1, v0 x v1])``: the rotation about ``v0 x v1`` by the angle
  between them. For exactly opposite vectors the shortest arc is not unique (the naive formula
  gives 0/0); we return the half turn about ``fallback_axis`` when given (it must be orthogonal
  to ``v0``; e.g. the up axis for horizontal facing directions), else about an axis orthogonal to
  ``v0``.
  """
  v0, v1 = jnp.broadcast_arrays(v0, v1)
  w = jnp.sqrt(jnp.sum(v0 * v0, -1) * jnp.sum(v1 * v1, -1)) + jnp.sum(v0 * v1, -1)
  xyz = jnp.cross(v0, v1)
  q = jnp.concatenate([w[..., None], xyz], axis=-1)
  norm2 = jnp.sum(q * q, axis=-1, keepdims=True)
  scale2 = jnp.sum(v0 * v0, -1, keepdims=True) * jnp.sum(v1 * v1, -1, keepdims=True)
  # Antiparallel fallback: axis = v0 x e, e the basis vector least aligned with v0.
  if fallback_axis is None:
    e = jnp.eye(3, dtype=v0.dtype)[jnp.argmin(jnp.abs(v0), axis=-1)]
    axis = jnp.cross(v0, e)
  else:
    axis = jnp.broadcast_to(jnp.asarray(fallback_axis, v0.dtype), v0.shape)
  fallback = jnp.concatenate([jnp.zeros_like(w)[..., None], axis], axis=-1)
  degenerate = norm2 <= 1e-12 * jnp.maximum(scale2, _EPS)
  return quat_normalize(jnp.where(degenerate, fallback, q))


def quat_from_axis_angle(axis: jnp.ndarray, angle: jnp.ndarray) -> jnp.ndarray:
  """Unit quaternion for a rotation by ``angle`` (radians) about unit ``axis [..., 3]``."""
  half = 0.5 * jnp.asarray(angle)[..., None]
  return jnp.concatenate([jnp.cos(half), jnp.sin(half) * axis], axis=-1)


def quat_to_matrix(q: jnp.ndarray) -> jnp.ndarray:
  """Unit quaternions ``[..., 4]`` to rotation matrices ``[..., 3, 3]``."""
  w, x, y, z = jnp.moveaxis(q, -1, 0)
  return jnp.stack(
    [
      jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
      jnp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
      jnp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ],
    axis=-2,
  )


def matrix_to_quat(m: jnp.ndarray) -> jnp.ndarray:
  """Rotation matrices ``[..., 3, 3]`` to unit quaternions with ``w >= 0``.

  Uses the numerically stable branch (largest of ``w, x, y, z``) chosen per element.
  """
  m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
  trace = m00 + m11 + m22
  # Four candidate quaternions, each accurate when its leading component is large.
  s_w = jnp.sqrt(jnp.maximum(1.0 + trace, _EPS)) * 2.0
  q_w = jnp.stack(
    [
      0.25 * s_w,
      (m[..., 2, 1] - m[..., 1, 2]) / s_w,
      (m[..., 0, 2] - m[..., 2, 0]) / s_w,
      (m[..., 1, 0] - m[..., 0, 1]) / s_w,
    ],
    -1,
  )
  s_x = jnp.sqrt(jnp.maximum(1.0 + m00 - m11 - m22, _EPS)) * 2.0
  q_x = jnp.stack(
    [
      (m[..., 2, 1] - m[..., 1, 2]) / s_x,
      0.25 * s_x,
      (m[..., 0, 1] + m[..., 1, 0]) / s_x,
      (m[..., 0, 2] + m[..., 2, 0]) / s_x,
    ],
    -1,
  )
  s_y = jnp.sqrt(jnp.maximum(1.0 - m00 + m11 - m22, _EPS)) * 2.0
  q_y = jnp.stack(
    [
      (m[..., 0, 2] - m[..., 2, 0]) / s_y,
      (m[..., 0, 1] + m[..., 1, 0]) / s_y,
      0.25 * s_y,
      (m[..., 1, 2] + m[..., 2, 1]) / s_y,
    ],
    -1,
  )
  s_z = jnp.sqrt(jnp.maximum(1.0 - m00 - m11 + m22, _EPS)) * 2.0
  q_z = jnp.stack(
    [
      (m[..., 1, 0] - m[..., 0, 1]) / s_z,
      (m[..., 0, 2] + m[..., 2, 0]) / s_z,
      (m[..., 1, 2] + m[..., 2, 1]) / s_z,
      0.25 * s_z,
    ],
    -1,
  )
  choice = jnp.argmax(jnp.stack([trace, m00, m11, m22], -1), axis=-1)
  cands = jnp.stack([q_w, q_x, q_y, q_z], axis=-2)  # [..., 4 candidates, 4]
  q = jnp.take_along_axis(cands, choice[..., None, None], axis=-2)[..., 0, :]
  q = jnp.where(q[..., :1] < 0, -q, q)
  return quat_normalize(q)


def matrix_to_cont6d(m: jnp.ndarray) -> jnp.ndarray:
  """Rotation matrices ``[..., 3, 3]`` to 6D: first column then second column, ``[..., 6]``."""
  return jnp.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def cont6d_to_matrix(d6: jnp.ndarray) -> jnp.ndarray:
  """6D ``[..., 6]`` to rotation matrices by Gram-Schmidt (Zhou et al. 2019, sec. 4.2).

  The first 3 numbers give the first column (normalised), the last 3 the second column after
  removing its component along the first; the third column is their cross product.
  """
  a1, a2 = d6[..., :3], d6[..., 3:]
  b1 = a1 / jnp.sqrt(jnp.maximum(jnp.sum(a1 * a1, -1, keepdims=True), _EPS))
  a2 = a2 - jnp.sum(b1 * a2, -1, keepdims=True) * b1
  b2 = a2 / jnp.sqrt(jnp.maximum(jnp.sum(a2 * a2, -1, keepdims=True), _EPS))
  b3 = jnp.cross(b1, b2)
  return jnp.stack([b1, b2, b3], axis=-1)


def quat_to_cont6d(q: jnp.ndarray) -> jnp.ndarray:
  """Unit quaternions ``[..., 4]`` to the 6D representation ``[..., 6]``."""
  return matrix_to_cont6d(quat_to_matrix(q))


def cont6d_to_quat(d6: jnp.ndarray) -> jnp.ndarray:
  """6D ``[..., 6]`` to unit quaternions ``[..., 4]`` (``w >= 0``)."""
  return matrix_to_quat(cont6d_to_matrix(d6))


def yaw_quat(angle: jnp.ndarray) -> jnp.ndarray:
  """Quaternion ``(cos a, 0, sin a, 0)``: a rotation by ``2 a`` about +Y.

  HumanML3D stores the root yaw as this *half* angle ``a`` (``arcsin`` of the quaternion's y
  component), so ``yaw_quat(cumulative half angle)`` is its root rotation.
  """
  angle = jnp.asarray(angle)
  z = jnp.zeros_like(angle)
  return jnp.stack([jnp.cos(angle), z, jnp.sin(angle), z], axis=-1)


def quat_to_axis_angle(q: jnp.ndarray) -> jnp.ndarray:
  """Unit quaternions ``[..., 4]`` to axis-angle vectors ``[..., 3]`` (the rotation log map).

  The result is ``angle * axis`` with ``angle`` in ``[0, pi]``: ``q`` and ``-q`` (the same
  rotation) give the same vector. Near the identity ``2 atan2(|v|, w) / |v|`` is replaced by its
  limit ``2 / w``, so values and gradients stay finite at zero rotation.
  """
  q = jnp.where(q[..., :1] < 0, -q, q)  # w >= 0: angle in [0, pi]
  w, v = q[..., 0], q[..., 1:]
  n2 = jnp.sum(v * v, axis=-1)
  small = n2 < 1e-12
  n_safe = jnp.sqrt(jnp.where(small, 1.0, n2))  # no sqrt(0) in the graph: finite gradients
  scale = jnp.where(small, 2.0 / jnp.maximum(w, _EPS), 2.0 * jnp.arctan2(n_safe, w) / n_safe)
  return v * scale[..., None]


def axis_angle_to_quat(aa: jnp.ndarray) -> jnp.ndarray:
  """Axis-angle vectors ``[..., 3]`` (``angle * axis``) to unit quaternions ``[..., 4]``."""
  a2 = jnp.sum(aa * aa, axis=-1)
  small = a2 < 1e-12
  safe = jnp.sqrt(jnp.where(small, 1.0, a2))
  # sin(angle/2)/angle -> 1/2 and cos(angle/2) -> 1 - angle^2/8 at 0.
  scale = jnp.where(small, 0.5, jnp.sin(0.5 * safe) / safe)
  cos = jnp.where(small, 1.0 - a2 / 8.0, jnp.cos(0.5 * safe))
  return jnp.concatenate([cos[..., None], aa * scale[..., None]], axis=-1)
