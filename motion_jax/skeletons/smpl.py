"""SMPL / SMPL-H body model (linear blend skinning) as pure JAX functions.

The model (Loper et al. 2015, "SMPL: A Skinned Multi-Person Linear Model", eqs. 1-4):

    v_shaped = v_template + shapedirs . betas                       (shape blend shapes, eq. 8)
    J        = J_regressor @ v_shaped                               (rest joints, eq. 10)
    v_posed  = v_shaped + posedirs . vec(R_1..R_K - I)              (pose correctives, eq. 9)
    G_k      = prod_{j in ancestors(k)} [R_j | J_j - J_parent(j)]   (world transforms, eq. 4)
    v        = sum_k w_vk (G_k - [0 | G_k J_k]) v_posed + trans     (LBS, eq. 2)

Model files use the standard layout of the SMPL / SMPL-H releases (``.pkl`` or ``.npz``):
``v_template [V,3]``, ``shapedirs [V,3,B]``, ``posedirs [V,3,9*(K-1)]``, ``J_regressor [K,V]``
(dense or scipy sparse), ``weights [V,K]``, ``kintree_table [2,K]`` (row 0 = parents, root
entry ignored), ``f [F,3]``. The licensed model files are not shipped, so
:func:`make_synthetic_smpl_model` writes a random model with SMPL's 24-joint tree in that layout
(``smplx.SMPL`` loads it; the tests compare against it).

Pose inputs follow the AMASS split: ``root_orient [..,3]``, ``pose_body [..,63]`` (SMPL-H body,
21 joints) or ``[..,69]`` (SMPL, 23 joints), optional ``pose_hand [..,90]``, ``trans [..,3]``,
``betas [..,B]``. Missing trailing joints (e.g. SMPL's two hand joints when given a 63-dim
SMPL-H body pose) get the identity rotation.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

# SMPL kinematic tree (parents of the 24 joints), a fact of the published SMPL model.
SMPL_PARENTS: tuple[int, ...] = (
  -1,
  0,
  0,
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  9,
  9,
  12,
  13,
  14,
  16,
  17,
  18,
  19,
  20,
  21,
)
SMPL_JOINT_NAMES: tuple[str, ...] = (
  "pelvis",
  "left_hip",
  "right_hip",
  "spine1",
  "left_knee",
  "right_knee",
  "spine2",
  "left_ankle",
  "right_ankle",
  "spine3",
  "left_foot",
  "right_foot",
  "neck",
  "left_collar",
  "right_collar",
  "head",
  "left_shoulder",
  "right_shoulder",
  "left_elbow",
  "right_elbow",
  "left_wrist",
  "right_wrist",
  "left_hand",
  "right_hand",
)
# Approximate SMPL rest-pose joint locations in metres (y up, z forward), hand-entered to give
# the synthetic model a human-like template. Not taken from the licensed model file.
_APPROX_REST_JOINTS = np.array(
  [
    [0.000, -0.223, 0.028],
    [0.070, -0.314, 0.024],
    [-0.070, -0.314, 0.024],
    [0.000, -0.109, 0.002],
    [0.104, -0.675, 0.037],
    [-0.104, -0.675, 0.037],
    [0.005, 0.020, 0.003],
    [0.089, -1.075, -0.020],
    [-0.089, -1.075, -0.020],
    [0.002, 0.074, 0.028],
    [0.119, -1.130, 0.101],
    [-0.119, -1.130, 0.101],
    [-0.014, 0.295, -0.014],
    [0.045, 0.210, -0.005],
    [-0.045, 0.210, -0.005],
    [0.011, 0.380, 0.040],
    [0.172, 0.229, -0.016],
    [-0.172, 0.229, -0.016],
    [0.431, 0.217, -0.043],
    [-0.431, 0.217, -0.043],
    [0.675, 0.223, -0.038],
    [-0.675, 0.223, -0.038],
    [0.758, 0.213, -0.052],
    [-0.758, 0.213, -0.052],
  ]
)

# SMPL-H (52 joints) = the first 22 SMPL joints + 15 joints per hand. Per hand the fingers come
# in the order index, middle, pinky, ring, thumb, 3 joints each, each finger rooted at the wrist
# (joint 20 left, 21 right): facts of the SMPL-H release, as listed in smplx's joint names.
SMPLH_PARENTS: tuple[int, ...] = SMPL_PARENTS[:22] + tuple(
  p
  for wrist, first in ((20, 22), (21, 37))
  for f in range(5)
  for p in (wrist, first + 3 * f, first + 3 * f + 1)
)
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
SMPLH_JOINT_NAMES: tuple[str, ...] = SMPL_JOINT_NAMES[:22] + tuple(
  f"{side}_{finger}{i}" for side in ("left", "right") for finger in _FINGERS for i in (1, 2, 3)
)


def _approx_hand_joints(wrist: np.ndarray, sign: float) -> np.ndarray:
  """[15, 3] plausible finger joints beyond a wrist (x points away from the body by ``sign``)."""
  out = []
  for _f, finger in enumerate(_FINGERS):
    if finger == "thumb":
      base = wrist + np.array([sign * 0.025, -0.015, 0.030])
      step = np.array([sign * 0.015, -0.005, 0.020])
    else:
      z = {"index": 0.025, "middle": 0.008, "ring": -0.010, "pinky": -0.026}[finger]
      base = wrist + np.array([sign * 0.085, -0.005, z])
      step = np.array([sign * 0.030, -0.003, 0.0])
    out += [base + i * step for i in range(3)]
  return np.asarray(out)


_REQUIRED_KEYS = (
  "v_template",
  "shapedirs",
  "posedirs",
  "J_regressor",
  "weights",
  "kintree_table",
  "f",
)


class SMPLFormatError(ValueError):
  """A model file does not have the SMPL layout."""


@flax.struct.dataclass
class SMPLParams:
  """Frozen body-model arrays (a pytree; ``parents`` is static).

  Attributes:
    v_template: [V, 3] template vertices.
    shapedirs: [V, 3, B] shape blend shapes.
    posedirs: [V, 3, 9 * (K - 1)] pose-corrective blend shapes.
    j_regressor: [K, V] joint regressor.
    weights: [V, K] skinning weights (rows sum to 1).
    faces: [F, 3] int32 triangle indices.
    parents: static tuple of K parent indices, -1 for the root.
  """

  v_template: jnp.ndarray
  shapedirs: jnp.ndarray
  posedirs: jnp.ndarray
  j_regressor: jnp.ndarray
  weights: jnp.ndarray
  faces: jnp.ndarray
  parents: tuple[int, ...] = flax.struct.field(pytree_node=False)

  @property
  def num_joints(self) -> int:
    return len(self.parents)

  @property
  def num_betas(self) -> int:
    return self.shapedirs.shape[-1]


class SMPLOutput(NamedTuple):
  vertices: jnp.ndarray  # [..., V, 3]
  joints: jnp.ndarray  # [..., K, 3]


# ----------------------------------------------------------------------------- rotations


def axis_angle_to_matrix(aa: jnp.ndarray) -> jnp.ndarray:
  """Rodrigues' formula, [..., 3] -> [..., 3, 3]; exact and differentiable at zero.

  R = I + (sin t / t) K + ((1 - cos t) / t^2) K^2 with K = skew(aa), t = |aa|, using
  K^2 = aa aa^T - t^2 I; the two coefficients switch to their Taylor series for t^2 < 1e-12.
  """
  aa = jnp.asarray(aa)
  x, y, z = aa[..., 0], aa[..., 1], aa[..., 2]
  zero = jnp.zeros_like(x)
  k = jnp.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
  t2 = jnp.sum(aa * aa, axis=-1)
  small = t2 < 1e-12
  t = jnp.sqrt(jnp.where(small, 1.0, t2))
  a = jnp.where(small, 1.0 - t2 / 6.0, jnp.sin(t) / t)
  b = jnp.where(small, 0.5 - t2 / 24.0, (1.0 - jnp.cos(t)) / jnp.where(small, 1.0, t2))
  eye = jnp.eye(3, dtype=aa.dtype)
  k2 = aa[..., :, None] * aa[..., None, :] - t2[..., None, None] * eye
  return eye + a[..., None, None] * k + b[..., None, None] * k2


# ----------------------------------------------------------------------------- model


def _forward_kinematics(rot: jnp.ndarray, rest_joints: jnp.ndarray, parents: tuple[int, ...]):
  """World rotations [...,K,3,3] and positions [...,K,3]; rot [...,K,3,3], rest [...,K,3].

  A ``lax.scan`` over joints in index order (parents precede children): one loop body keeps
  XLA compile time low (an unrolled 24-joint loop compiles ~3x slower on CPU).
  """
  rot_t = jnp.moveaxis(rot, -3, 0)  # [K, ..., 3, 3]
  rest_t = jnp.moveaxis(rest_joints, -2, 0)  # [K, ..., 3]
  g_rot = jnp.zeros_like(rot_t).at[0].set(rot_t[0])
  g_pos = jnp.zeros_like(rest_t).at[0].set(rest_t[0])

  def step(carry, kp):
    g_rot, g_pos = carry
    k, p = kp
    p_rot = g_rot[p]
    bone = rest_t[k] - rest_t[p]
    g_rot = g_rot.at[k].set(p_rot @ rot_t[k])
    g_pos = g_pos.at[k].set(g_pos[p] + (p_rot @ bone[..., None])[..., 0])
    return (g_rot, g_pos), None

  ks = np.arange(1, len(parents))
  (g_rot, g_pos), _ = jax.lax.scan(step, (g_rot, g_pos), (ks, np.asarray(parents)[1:]))
  return jnp.moveaxis(g_rot, 0, -3), jnp.moveaxis(g_pos, 0, -2)


def smpl_forward(
  params: SMPLParams,
  betas: jnp.ndarray,
  full_pose: jnp.ndarray,
  transl: jnp.ndarray | None = None,
) -> SMPLOutput:
  """Posed vertices and joints.

  Args:
    params: model arrays.
    betas: [..., B'] shape coefficients, B' <= B (missing ones are zero).
    full_pose: [..., K * 3] axis-angle rotations, root first (or [..., K, 3]).
    transl: [..., 3] global translation (default zero).
  Returns:
    SMPLOutput(vertices [..., V, 3], joints [..., K, 3]).
  """
  num_k = params.num_joints
  full_pose = jnp.asarray(full_pose)
  if full_pose.shape[-1] == 3 and full_pose.ndim >= 2 and full_pose.shape[-2] == num_k:
    full_pose = full_pose.reshape(full_pose.shape[:-2] + (num_k * 3,))
  if full_pose.shape[-1] != num_k * 3:
    raise ValueError(f"full_pose last dim must be {num_k * 3} (K={num_k}), got {full_pose.shape}")
  betas = jnp.asarray(betas)
  nb = betas.shape[-1]
  if nb > params.num_betas:
    raise ValueError(f"model has {params.num_betas} shape components, got {nb} betas")
  batch = jnp.broadcast_shapes(betas.shape[:-1], full_pose.shape[:-1])

  v_shaped = params.v_template + jnp.einsum("vcb,...b->...vc", params.shapedirs[..., :nb], betas)
  rest_joints = jnp.einsum("kv,...vc->...kc", params.j_regressor, v_shaped)  # [..., K, 3]
  rot = axis_angle_to_matrix(full_pose.reshape(full_pose.shape[:-1] + (num_k, 3)))
  eye = jnp.eye(3, dtype=rot.dtype)
  pose_feature = (rot[..., 1:, :, :] - eye).reshape(rot.shape[:-3] + (-1,))  # [..., 9(K-1)]
  v_posed = v_shaped + jnp.einsum("vcp,...p->...vc", params.posedirs, pose_feature)

  rest_joints = jnp.broadcast_to(rest_joints, batch + rest_joints.shape[-2:])
  g_rot, g_pos = _forward_kinematics(rot, rest_joints, params.parents)
  # Skinning transform of joint k maps rest-pose points: x -> G_rot (x - J_k) + G_pos.
  a_trans = g_pos - jnp.einsum("...kij,...kj->...ki", g_rot, rest_joints)
  t_rot = jnp.einsum("vk,...kij->...vij", params.weights, g_rot)
  t_trans = jnp.einsum("vk,...ki->...vi", params.weights, a_trans)
  verts = jnp.einsum("...vij,...vj->...vi", t_rot, v_posed) + t_trans
  if transl is not None:
    transl = jnp.asarray(transl)[..., None, :]
    verts = verts + transl
    g_pos = g_pos + transl
  return SMPLOutput(vertices=verts, joints=g_pos)


def amass_full_pose(
  params: SMPLParams,
  root_orient: jnp.ndarray,
  pose_body: jnp.ndarray,
  pose_hand: jnp.ndarray | None = None,
) -> jnp.ndarray:
  """Concatenate AMASS pose parts into a [..., K*3] pose; trailing joints get zero rotation.

  ``pose_body`` may be 63 (SMPL-H body, 21 joints) or 69 (SMPL, 23 joints) values.
  """
  root_orient, pose_body = jnp.asarray(root_orient), jnp.asarray(pose_body)
  parts = [root_orient, pose_body]
  if root_orient.shape[-1] != 3:
    raise ValueError(f"root_orient must be [..., 3], got {root_orient.shape}")
  if pose_body.shape[-1] not in (63, 69):
    raise ValueError(
      f"pose_body must be [..., 63] (SMPL-H) or [..., 69] (SMPL), got {pose_body.shape}"
    )
  if pose_hand is not None:
    if pose_body.shape[-1] != 63:
      raise ValueError("pose_hand is only meaningful with a 63-dim SMPL-H pose_body")
    parts.append(jnp.asarray(pose_hand))
  batch = jnp.broadcast_shapes(*(p.shape[:-1] for p in parts))
  parts = [jnp.broadcast_to(p, batch + p.shape[-1:]) for p in parts]
  pose = jnp.concatenate(parts, axis=-1)
  want = params.num_joints * 3
  if pose.shape[-1] > want:
    raise ValueError(
      f"pose has {pose.shape[-1]} values but the model has only {want} (K={params.num_joints})"
    )
  pad = jnp.zeros(batch + (want - pose.shape[-1],), dtype=pose.dtype)
  return jnp.concatenate([pose, pad], axis=-1)


def smpl_forward_amass(
  params: SMPLParams,
  root_orient: jnp.ndarray,
  pose_body: jnp.ndarray,
  trans: jnp.ndarray,
  betas: jnp.ndarray,
  pose_hand: jnp.ndarray | None = None,
) -> SMPLOutput:
  """:func:`smpl_forward` from AMASS-style fields (see :func:`amass_full_pose`)."""
  pose = amass_full_pose(params, root_orient, pose_body, pose_hand)
  return smpl_forward(params, betas, pose, trans)


# ----------------------------------------------------------------------------- files


def _dense(x) -> np.ndarray:
  if hasattr(x, "toarray"):  # scipy.sparse (SMPL's J_regressor)
    x = x.toarray()
  elif hasattr(x, "r"):  # chumpy array, if chumpy happens to be importable
    x = x.r
  return np.asarray(x)


def read_smpl_file(path: str | Path) -> dict[str, np.ndarray]:
  """Raw arrays of a ``.pkl`` / ``.npz`` model file in the standard SMPL layout."""
  path = Path(path)
  if path.suffix == ".npz":
    with np.load(path, allow_pickle=False) as z:
      raw = {k: z[k] for k in z.files}
  elif path.suffix == ".pkl":
    with open(path, "rb") as fh:
      try:
        raw = pickle.load(fh, encoding="latin1")
      except ModuleNotFoundError as e:  # e.g. chumpy objects in the original SMPL .pkl
        raise SMPLFormatError(
          f"{path}: needs module {e.name!r} to unpickle; convert the file to plain "
          "numpy arrays (.npz) first"
        ) from e
  else:
    raise SMPLFormatError(f"{path}: expected a .pkl or .npz SMPL model file")
  missing = [k for k in _REQUIRED_KEYS if k not in raw]
  if missing:
    raise SMPLFormatError(f"{path}: missing keys {missing} (has {sorted(raw)})")
  return {k: _dense(raw[k]) for k in _REQUIRED_KEYS}


def params_from_arrays(raw: dict, num_betas: int | None = None, dtype=np.float32) -> SMPLParams:
  """Validate standard-layout arrays and build :class:`SMPLParams`."""
  v_template = np.asarray(raw["v_template"], dtype)
  num_v = v_template.shape[0]
  kintree = np.asarray(raw["kintree_table"]).astype(np.int64)
  num_k = kintree.shape[1]
  parents = tuple([-1] + [int(p) for p in kintree[0, 1:]])
  shapedirs = np.asarray(raw["shapedirs"], dtype)
  if num_betas is not None:
    shapedirs = shapedirs[..., :num_betas]
  posedirs = np.asarray(raw["posedirs"], dtype)
  j_reg = np.asarray(raw["J_regressor"], dtype)
  weights = np.asarray(raw["weights"], dtype)
  checks = {
    "v_template": (v_template.shape, (num_v, 3)),
    "shapedirs": (shapedirs.shape[:2], (num_v, 3)),
    "posedirs": (posedirs.shape, (num_v, 3, 9 * (num_k - 1))),
    "J_regressor": (j_reg.shape, (num_k, num_v)),
    "weights": (weights.shape, (num_v, num_k)),
  }
  for name, (got, want) in checks.items():
    if tuple(got) != tuple(want):
      raise SMPLFormatError(f"{name} has shape {tuple(got)}, expected {want}")
  if any(not (0 <= p < k) for k, p in enumerate(parents[1:], start=1)):
    raise SMPLFormatError(f"kintree_table parents must precede their children: {parents}")
  return SMPLParams(
    v_template=jnp.asarray(v_template),
    shapedirs=jnp.asarray(shapedirs),
    posedirs=jnp.asarray(posedirs),
    j_regressor=jnp.asarray(j_reg),
    weights=jnp.asarray(weights),
    faces=jnp.asarray(np.asarray(raw["f"], np.int32)),
    parents=parents,
  )


def load_smpl_model(path: str | Path, num_betas: int | None = None, dtype=np.float32) -> SMPLParams:
  """Load a SMPL / SMPL-H model file (``.pkl`` or ``.npz``) into :class:`SMPLParams`."""
  try:
    return params_from_arrays(read_smpl_file(path), num_betas=num_betas, dtype=dtype)
  except SMPLFormatError as e:
    if str(path) in str(e):
      raise
    raise SMPLFormatError(f"{path}: {e}") from e


def make_synthetic_smpl_model(
  seed: int,
  path: str | Path | None = None,
  num_betas: int = 10,
  ring: int = 8,
  rings_per_bone: int = 3,
  shape_scale: float = 0.02,
  pose_scale: float = 0.01,
  model_type: str = "smpl",
) -> dict[str, np.ndarray]:
  """A random body model with SMPL's 24-joint tree (or SMPL-H's 52), in the standard layout.

  The template is a set of tubes (``ring`` vertices per cross-section, ``rings_per_bone``
  sections per bone) along the bones of an approximate SMPL rest skeleton, plus a ring around
  every joint; the joint regressor averages (with random positive weights) the ring around each
  joint. Blend shapes and pose correctives are random; skinning weights are a softmax of
  negative distance to the joints with random jitter, normalised per vertex.

  Values are rounded to float32 (stored as float64), because smplx converts everything through
  float32: a float64 comparison is then exact up to arithmetic.

  Args:
    seed: numpy seed.
    path: if given, also write the model there (``.pkl``: a plain-numpy pickle as ``smplx.SMPL``
      reads; ``.npz``: ``np.savez``).
    model_type: ``"smpl"`` (24 joints) or ``"smplh"`` (52 joints; adds the hand PCA keys
      ``hands_componentsl/r`` (random orthonormal 45x45) and ``hands_meanl/r`` that
      ``smplx.SMPLH`` requires; this module itself ignores them: AMASS hand poses are full
      axis-angle).
  Returns:
    dict with keys v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f
    (+ the hand keys for SMPL-H).
  """
  rng = np.random.default_rng(seed)
  if model_type == "smpl":
    parents = np.array(SMPL_PARENTS)
    joints = _APPROX_REST_JOINTS
  elif model_type == "smplh":
    parents = np.array(SMPLH_PARENTS)
    joints = np.concatenate(
      [
        _APPROX_REST_JOINTS[:22],
        _approx_hand_joints(_APPROX_REST_JOINTS[20], 1.0),
        _approx_hand_joints(_APPROX_REST_JOINTS[21], -1.0),
      ]
    )
  else:
    raise ValueError(f"model_type must be 'smpl' or 'smplh', got {model_type!r}")
  num_k = len(parents)
  angles = 2 * np.pi * np.arange(ring) / ring

  def ring_around(center, axis, radius):
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    return center + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w)

  verts, faces = [], []
  joint_ring_start = []
  for k in range(num_k):  # a ring around every joint (feeds the regressor)
    joint_ring_start.append(len(verts))
    verts.extend(ring_around(joints[k], np.array([0.0, 1.0, 0.0]), 0.03 if k < 22 else 0.008))
  for k in range(1, num_k):  # tubes along bones, closed by the two joint rings
    p = parents[k]
    bone = joints[k] - joints[p]
    length = np.linalg.norm(bone)
    if length < 1e-6:
      continue
    starts = [joint_ring_start[p]]
    for t in np.linspace(0.15, 0.85, rings_per_bone):
      starts.append(len(verts))
      radius = (0.04 + 0.02 * rng.random()) * min(1.0, length / 0.15)
      verts.extend(ring_around(joints[p] + t * bone, bone, radius))
    starts.append(joint_ring_start[k])
    for s0, s1 in zip(starts[:-1], starts[1:]):
      for i in range(ring):
        a, b = s0 + i, s0 + (i + 1) % ring
        c, d = s1 + i, s1 + (i + 1) % ring
        faces.append([a, b, c])
        faces.append([b, d, c])
  v_template = np.asarray(verts)
  num_v = len(v_template)

  j_regressor = np.zeros((num_k, num_v))
  for k, s in enumerate(joint_ring_start):
    w = 1.0 + 0.1 * rng.random(ring)
    j_regressor[k, s : s + ring] = w / w.sum()

  dist = np.linalg.norm(v_template[:, None, :] - joints[None, :, :], axis=-1)
  logits = -dist / 0.05 + 0.5 * rng.standard_normal(dist.shape)
  weights = np.exp(logits - logits.max(axis=1, keepdims=True))
  weights /= weights.sum(axis=1, keepdims=True)

  kintree = np.stack([parents, np.arange(num_k)]).astype(np.int64)
  kintree[0, 0] = 4294967295  # the released files store the root's parent as uint32(-1)

  f32 = lambda x: np.asarray(x, np.float32).astype(np.float64)  # noqa: E731
  model = {
    "v_template": f32(v_template),
    "shapedirs": f32(shape_scale * rng.standard_normal((num_v, 3, num_betas))),
    "posedirs": f32(pose_scale * rng.standard_normal((num_v, 3, 9 * (num_k - 1)))),
    "J_regressor": f32(j_regressor),
    "weights": f32(weights),
    "kintree_table": kintree,
    "f": np.asarray(faces, np.int64),
  }
  # Re-normalise after rounding so skinning weights sum to one in float32 too.
  model["weights"] = f32(model["weights"] / model["weights"].sum(axis=1, keepdims=True))
  if model_type == "smplh":
    for side in "lr":
      q, _ = np.linalg.qr(rng.standard_normal((45, 45)))
      model[f"hands_components{side}"] = f32(q)
      model[f"hands_mean{side}"] = f32(0.1 * rng.standard_normal(45))
  if path is not None:
    path = Path(path)
    if path.suffix == ".npz":
      np.savez(path, **model)
    elif path.suffix == ".pkl":
      with open(path, "wb") as fh:
        pickle.dump(model, fh, protocol=2)
    else:
      raise ValueError(f"{path}: use a .pkl or .npz suffix")
  return model
