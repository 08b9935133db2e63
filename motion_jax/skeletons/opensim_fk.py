"""Forward kinematics of OpenSim models in JAX: exact, batched, differentiable.

    model = load_osim(path)
    fk = make_fk(model, BIGE_COORDINATES)      # pure function of q[..., 33]
    out = jax.jit(fk)(q)                       # out.joint_centers: [..., n_joints, 3]

Coordinates are addressed by name: the caller passes values for `coordinate_names` (any subset of
the model's coordinates, in any order, radians / metres); every other coordinate sits at its default
value. Dependent coordinates of enforced `CoordinateCouplerConstraint`s (the knee `*_beta`) are
always recomputed from their independent coordinate, also when the caller passes them.
No clamping to coordinate ranges is applied (OpenSim's `Coordinate.setValue` does not clamp either
with enforceConstraints=false); locked coordinates are treated like any other.

Everything is a pure function of arrays; the model is static Python data closed over at trace time.
Works for float32 and float64 (the dtype of `q` decides). Build `make_fk` once and reuse the jitted
function: each new closure compiles again.

Joint centre j = origin of joint j's child offset frame M in ground (OpenSim
`joint.getChildFrame().getPositionInGround(state)`).

Two implementations of the same kinematics (`impl=`, identical results to float rounding):

* `"levels"` (default): a small graph for fast XLA compiles. All transform-axis functions are
  evaluated by one `FunctionBank`, all joints' X_FM and constant offsets are composed at once as
  batched 3x3 products, and the tree is walked one depth level at a time.
* `"unrolled"`: every joint written out entry by entry on per-frame vectors [N], with everything
  known at trace time folded away (constant axes, zero entries of the constant offset rotations,
  welds), and each depth level's transforms materialised once (`_materialise`) so that XLA does not
  recompute a parent's chain inside every child's fusion. On XLA:CPU it runs ~2.7x faster forward
  and ~4x faster under `grad` than `"levels"` (LaiUhlrich2022, 8192 frames: 10 vs 27 ms forward,
  36 vs 145 ms gradient on 2 cores), but compiles ~5x longer (5 vs 1 s forward, 13 vs 3 s gradient):
  worth it for long runs on one shape (guidance, throughput), not for one-off calls.
  `benchmarks/fk_throughput.py` times both.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.skeletons import opensim_functions as fns
from motion_jax.skeletons.opensim_model import OsimModel


class FKResult(NamedTuple):
  body_rotations: jax.Array  # [..., n_bodies, 3, 3]  R_GB (body axes in ground)
  body_positions: jax.Array  # [..., n_bodies, 3]  body origins in ground
  joint_centers: jax.Array  # [..., n_joints, 3]  child-frame origins of the joints in ground


def _check_names(model: OsimModel, coordinate_names: Sequence[str] | None) -> tuple[str, ...]:
  names = model.coordinate_names if coordinate_names is None else tuple(coordinate_names)
  unknown = [n for n in names if n not in model.coordinate_names]
  if unknown:
    raise KeyError(f"unknown coordinates for model {model.name!r}: {unknown}")
  if len(set(names)) != len(names):
    raise KeyError(f"duplicate coordinate names: {names}")
  return names


def full_coordinates(
  model: OsimModel, q: jax.Array, coordinate_names: Sequence[str] | None = None
) -> jax.Array:
  """Values of all model coordinates [..., n_model_coords] from `q` [..., len(coordinate_names)].

  Missing coordinates take their defaults; coupled (dependent) coordinates are computed from their
  independent coordinate. Raises KeyError on an unknown or duplicate name.
  """
  names = _check_names(model, coordinate_names)
  q = jnp.asarray(q)
  if not jnp.issubdtype(q.dtype, jnp.floating):
    q = q.astype(jnp.result_type(float))
  if q.shape[-1] != len(names):
    raise ValueError(f"q has {q.shape[-1]} columns but {len(names)} coordinate names were given")
  col = {n: i for i, n in enumerate(names)}
  defaults = [c.default_value for c in model.coordinates if c.name not in col]
  src = q
  if defaults:
    d = jnp.broadcast_to(jnp.asarray(defaults, q.dtype), (*q.shape[:-1], len(defaults)))
    src = jnp.concatenate([q, d], axis=-1)
  idx, k = [], len(names)
  for c in model.coordinates:
    if c.name in col:
      idx.append(col[c.name])
    else:
      idx.append(k)
      k += 1
  full = src[..., np.array(idx, dtype=np.int32)]
  couplers = [cp for cp in model.couplers if cp.enforced]
  if couplers:
    cidx = {n: i for i, n in enumerate(model.coordinate_names)}
    deps = {cp.dependent for cp in couplers}
    if any(cp.independent in deps for cp in couplers):
      raise NotImplementedError("chained CoordinateCouplerConstraints are not supported")
    bank = _coupler_bank(model)
    ind = full[..., np.array([cidx[cp.independent] for cp in couplers], dtype=np.int32)]
    dep_vals = bank(ind)
    n = full.shape[-1]
    sel = np.arange(n, dtype=np.int32)
    for i, cp in enumerate(couplers):
      sel[cidx[cp.dependent]] = n + i
    full = jnp.concatenate([full, dep_vals], axis=-1)[..., sel]
  return full


@functools.lru_cache(maxsize=64)
def _coupler_bank(model: OsimModel) -> fns.FunctionBank:
  return fns.FunctionBank.build(
    [fns.MultiplierFunction(cp.function, cp.scale_factor) for cp in model.couplers if cp.enforced]
  )


def _skew(a) -> np.ndarray:
  return np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])


@functools.lru_cache(maxsize=64)
def _plan(model: OsimModel) -> dict:
  """Static numpy data for vectorised FK (cached per model object)."""
  nj = len(model.joints)
  cidx = {n: i for i, n in enumerate(model.coordinate_names)}
  k1 = np.zeros((nj * 3, 3, 3))
  k2 = np.zeros((nj * 3, 3, 3))
  taxes = np.zeros((nj, 3, 3))
  functions, args = [], []
  # "unrolled": per joint and axis a constant (float) or a row of the bank of variable functions.
  var_functions, var_args, slots = [], [], []
  for j, joint in enumerate(model.joints):
    row = []
    for k, ax in enumerate(joint.axes):
      if k < 3:
        kk = _skew(ax.axis)
        k1[j * 3 + k], k2[j * 3 + k] = kk, kk @ kk
      else:
        taxes[j, k - 3] = ax.axis
      value = fns.constant_value(ax.function)
      if value is None and not ax.coordinates:
        raise ValueError(f"{joint.name}/{ax.name}: non-constant function without a coordinate")
      functions.append(ax.function)
      args.append(cidx[ax.coordinates[0]] if ax.coordinates else 0)
      if value is not None:
        row.append(float(value))
      else:
        row.append(len(var_functions))
        var_functions.append(ax.function)
        var_args.append(cidx[ax.coordinates[0]])
    slots.append(tuple(row))
  # Constant parts of each joint: X_PF (parent frame in parent body), X_CM^-1 (child body in M).
  r_pf = np.stack([j.parent_frame.rotation for j in model.joints])
  t_pf = np.stack([j.parent_frame.translation for j in model.joints])
  r_mc = np.stack([j.child_frame.rotation.T for j in model.joints])
  t_mc = np.stack([-j.child_frame.rotation.T @ j.child_frame.translation for j in model.joints])
  bidx = {b: i for i, b in enumerate(model.body_names)}
  parent_joint = {j.child_body: i for i, j in enumerate(model.joints)}
  depth = []
  for j in model.joints:
    depth.append(0 if j.parent_body not in bidx else depth[parent_joint[j.parent_body]] + 1)
  levels = [
    np.array([i for i, d in enumerate(depth) if d == L], dtype=np.int32)
    for L in range(max(depth) + 1)
  ]
  slot = {}  # joint index -> position in the level-concatenated arrays
  for lv in levels:
    for i in lv:
      slot[int(i)] = len(slot)
  parent_slots = [None] + [
    np.array([slot[parent_joint[model.joints[i].parent_body]] for i in lv], dtype=np.int32)
    for lv in levels[1:]
  ]
  joint_order = np.array([slot[i] for i in range(len(model.joints))], dtype=np.int32)
  body_order = np.array([slot[parent_joint[b]] for b in model.body_names], dtype=np.int32)
  return dict(
    var_bank=fns.FunctionBank.build(var_functions) if var_functions else None,
    var_args=np.array(var_args, dtype=np.int32),
    slots=tuple(slots),
    # the parent body's joint, -1 for ground; the joint of every body
    joint_parent=tuple(parent_joint.get(j.parent_body, -1) for j in model.joints),
    body_joint=tuple(parent_joint[b] for b in model.body_names),
    k1=k1,
    k2=k2,
    taxes=taxes,
    bank=fns.FunctionBank.build(functions),
    args=np.array(args, dtype=np.int32),
    r_pf=r_pf,
    t_pf=t_pf,
    r_mc=r_mc,
    t_mc=t_mc,
    levels=levels,
    parent_slots=parent_slots,
    joint_order=joint_order,
    body_order=body_order,
  )


def joint_transforms(model: OsimModel, full: jax.Array):
  """X_FM of every joint: R [..., J, 3, 3], p [..., J, 3] from all coordinates [..., n_coords].

  R = R1 R2 R3 (body-fixed rotations about the joint's axes), p = sum_k f_k axis_k (in F).
  """
  plan = _plan(model)
  dtype, batch, nj = full.dtype, full.shape[:-1], len(model.joints)
  vals = plan["bank"](full[..., plan["args"]]).reshape(*batch, nj, 6)
  angles = vals[..., :3].reshape(*batch, nj * 3)
  s, c = jnp.sin(angles)[..., None, None], jnp.cos(angles)[..., None, None]
  r = (
    jnp.eye(3, dtype=dtype)
    + s * jnp.asarray(plan["k1"], dtype)
    + (1.0 - c) * jnp.asarray(plan["k2"], dtype)
  )
  r = r.reshape(*batch, nj, 3, 3, 3)
  rot = r[..., 0, :, :] @ r[..., 1, :, :] @ r[..., 2, :, :]
  pos = jnp.einsum("...jk,jkx->...jx", vals[..., 3:], jnp.asarray(plan["taxes"], dtype))
  return rot, pos


IMPLS = ("levels", "unrolled")


def _check_impl(impl: str) -> str:
  if impl not in IMPLS:
    raise ValueError(f"unknown FK implementation {impl!r}; expected one of {IMPLS}")
  return impl


def forward_kinematics(
  model: OsimModel,
  q: jax.Array,
  coordinate_names: Sequence[str] | None = None,
  impl: str = "levels",
) -> FKResult:
  """Body transforms and joint centres in ground for coordinates `q` [..., n] (see module doc).

  `impl`: "levels" (fast compile) or "unrolled" (fast execution); the results are the same.
  """
  full = full_coordinates(model, q, coordinate_names)
  if _check_impl(impl) == "unrolled":
    return _forward_kinematics_unrolled(model, full)
  plan = _plan(model)
  dtype, batch = full.dtype, full.shape[:-1]
  # One flat batch axis inside (also sidesteps an XLA CPU bug with several batch dims in dot).
  full = full.reshape(math.prod(batch), full.shape[-1])
  if full.shape[-1] == 0:  # no coordinates (e.g. only welds): constant axes read a dummy column
    full = jnp.zeros((full.shape[0], 1), dtype)
  r_fm, p_fm = joint_transforms(model, full)
  # Child body and joint centre relative to the parent body, all joints at once:
  # X_PC = X_PF X_FM X_MC; the joint centre (origin of M) in P is t_PF + R_PF p_FM.
  r_pf = jnp.asarray(plan["r_pf"], dtype)
  r_pm = r_pf @ r_fm
  centre_p = jnp.asarray(plan["t_pf"], dtype) + jnp.einsum("jab,...jb->...ja", r_pf, p_fm)
  r_pc = r_pm @ jnp.asarray(plan["r_mc"], dtype)
  t_pc = centre_p + jnp.einsum("...jab,jb->...ja", r_pm, jnp.asarray(plan["t_mc"], dtype))
  rel = jnp.stack([t_pc, centre_p], axis=-1)  # [..., J, 3, 2]
  # Walk the tree one depth level at a time (all joints of a level at once).
  lv0 = plan["levels"][0]
  rots, poss, cens = r_pc[..., lv0, :, :], t_pc[..., lv0, :], centre_p[..., lv0, :]
  for lv, ps in zip(plan["levels"][1:], plan["parent_slots"][1:]):
    r_gp, p_gp = rots[..., ps, :, :], poss[..., ps, :]
    both = p_gp[..., None] + r_gp @ rel[..., lv, :, :]  # [..., n_level, 3, 2]
    rots = jnp.concatenate([rots, r_gp @ r_pc[..., lv, :, :]], axis=-3)
    poss = jnp.concatenate([poss, both[..., 0]], axis=-2)
    cens = jnp.concatenate([cens, both[..., 1]], axis=-2)
  nb, nj = len(model.bodies), len(model.joints)
  return FKResult(
    body_rotations=rots[:, plan["body_order"], :, :].reshape(*batch, nb, 3, 3),
    body_positions=poss[:, plan["body_order"], :].reshape(*batch, nb, 3),
    joint_centers=cens[:, plan["joint_order"], :].reshape(*batch, nj, 3),
  )


# --- "unrolled": entries are Python floats (known at trace time, folded) or arrays [N] ----------


def _is_const(x) -> bool:
  return isinstance(x, float)


def _mul(a, b):
  if _is_const(a) and _is_const(b):
    return a * b
  if _is_const(b):
    a, b = b, a
  if _is_const(a):
    return 0.0 if a == 0.0 else b if a == 1.0 else -b if a == -1.0 else b * a
  return a * b


def _add(a, b):
  if _is_const(a) and _is_const(b):
    return a + b
  if _is_const(a) and a == 0.0:
    return b
  if _is_const(b) and b == 0.0:
    return a
  return a + b


def _dot3(a, b):
  return _add(_add(_mul(a[0], b[0]), _mul(a[1], b[1])), _mul(a[2], b[2]))


def _mat_mat(a, b):
  return [[_dot3(a[i], [b[0][j], b[1][j], b[2][j]]) for j in range(3)] for i in range(3)]


def _mat_vec(a, v):
  return [_dot3(a[i], v) for i in range(3)]


def _vec_add(a, b):
  return [_add(x, y) for x, y in zip(a, b)]


def _const(m: np.ndarray):
  return m.astype(float).tolist()  # nested lists of Python floats


def _materialise(entries: list):
  """The same values, computed once: XLA:CPU fuses cheap elementwise producers into every consumer,
  so without this each child joint would recompute its whole parent chain. An identity matmul is a
  fusion boundary XLA keeps (an optimization_barrier is removed before fusion on CPU); with
  precision HIGHEST it is exact (x * 1 + sum of 0 * y; a non-finite entry spreads only within its
  own frame)."""
  idx = [i for i, e in enumerate(entries) if not _is_const(e)]
  if not idx:
    return entries
  stacked = jnp.stack([entries[i] for i in idx])
  eye = jnp.eye(len(idx), dtype=stacked.dtype)
  stacked = jnp.dot(eye, stacked, precision=jax.lax.Precision.HIGHEST)
  out = list(entries)
  for k, i in enumerate(idx):
    out[i] = stacked[k]
  return out


def _axis_rotation(axis: np.ndarray, angle):
  """Rotation about unit `axis` by `angle` (float or [N]): c I + (1 - c) a a^T + s [a]x."""
  if _is_const(angle):
    c, s = math.cos(angle), math.sin(angle)
  else:
    c, s = jnp.cos(angle), jnp.sin(angle)
  one_minus_c = 1.0 - c
  a = axis.astype(float).tolist()
  skew = [[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]]
  return [
    [
      _add(_add(_mul(one_minus_c, a[i] * a[j]), c if i == j else 0.0), _mul(s, skew[i][j]))
      for j in range(3)
    ]
    for i in range(3)
  ]


def _forward_kinematics_unrolled(model: OsimModel, full: jax.Array) -> FKResult:
  plan = _plan(model)
  bank, slots = plan["var_bank"], plan["slots"]
  dtype, batch = full.dtype, full.shape[:-1]
  n = math.prod(batch)
  full = full.reshape(n, full.shape[-1])
  rows = bank(full[:, plan["var_args"]]).T if bank is not None else None  # [n_variable, N]
  nj = len(model.joints)

  def value(j, k):
    v = slots[j][k]
    return v if _is_const(v) else rows[v]

  # Per joint, relative to the parent body: X_PC = X_PF X_FM X_MC and the joint centre in P.
  r_pc, t_pc, centre_p = [], [], []
  for j, joint in enumerate(model.joints):
    r_pf = _const(plan["r_pf"][j])
    r_pm = r_pf
    for k in range(3):
      angle = value(j, k)
      if not (_is_const(angle) and angle == 0.0):
        r_pm = _mat_mat(r_pm, _axis_rotation(joint.axes[k].axis, angle))
    p_fm = [0.0, 0.0, 0.0]
    for k in range(3, 6):
      f, ax = value(j, k), joint.axes[k].axis.astype(float).tolist()
      p_fm = _vec_add(p_fm, [_mul(f, ax[i]) for i in range(3)])
    centre = _vec_add(_const(plan["t_pf"][j]), _mat_vec(r_pf, p_fm))
    centre_p.append(centre)
    t_pc.append(_vec_add(centre, _mat_vec(r_pm, _const(plan["t_mc"][j]))))
    r_pc.append(_mat_mat(r_pm, _const(plan["r_mc"][j])))

  # Walk the tree one depth level at a time, materialising each level's transforms once.
  r_g, p_g, centre_g = [None] * nj, [None] * nj, [None] * nj
  for level in plan["levels"]:
    level = [int(j) for j in level]
    for j in level:
      pj = plan["joint_parent"][j]
      if pj < 0:  # parent is ground
        r_g[j], p_g[j], centre_g[j] = r_pc[j], t_pc[j], centre_p[j]
        continue
      r_g[j] = _mat_mat(r_g[pj], r_pc[j])
      p_g[j] = _vec_add(p_g[pj], _mat_vec(r_g[pj], t_pc[j]))
      centre_g[j] = _vec_add(p_g[pj], _mat_vec(r_g[pj], centre_p[j]))
    flat = _materialise([e for j in level for e in (*sum(r_g[j], []), *p_g[j])])
    for i, j in enumerate(level):
      r_g[j] = [flat[12 * i + 3 * a : 12 * i + 3 * a + 3] for a in range(3)]
      p_g[j] = flat[12 * i + 9 : 12 * i + 12]

  def dense(e):
    return jnp.full((n,), e, dtype) if _is_const(e) else e.astype(dtype)

  def stack_vec(v):  # [N, 3]
    return jnp.stack([dense(e) for e in v], axis=-1)

  order = plan["body_joint"]
  nb = len(order)
  if nb:
    rots = jnp.stack([jnp.stack([stack_vec(r_g[j][a]) for a in range(3)], -2) for j in order], 1)
    poss = jnp.stack([stack_vec(p_g[j]) for j in order], 1)
  else:
    rots, poss = jnp.zeros((n, 0, 3, 3), dtype), jnp.zeros((n, 0, 3), dtype)
  cens = jnp.stack([stack_vec(centre_g[j]) for j in range(nj)], 1) if nj else poss[:, :0]
  return FKResult(
    body_rotations=rots.reshape(*batch, nb, 3, 3),
    body_positions=poss.reshape(*batch, nb, 3),
    joint_centers=cens.reshape(*batch, nj, 3),
  )


def in_batches(fn, x: np.ndarray, batch: int):
  """`fn` (jitted) over the leading axis of x in chunks of `batch` rows, the last chunk padded by
  repeating its last row so that every call has one compiled shape; the outputs (a pytree of
  arrays with the same leading axis) are concatenated as numpy arrays with the padding dropped."""
  outs = []
  for i in range(0, len(x), batch):
    chunk = np.asarray(x[i : i + batch], np.float32)
    n = len(chunk)
    if n < batch:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, 0)])
    outs.append(jax.tree.map(lambda a, n=n: np.asarray(a)[:n], fn(jnp.asarray(chunk))))
  return jax.tree.map(lambda *a: np.concatenate(a), *outs)


def make_fk(model: OsimModel, coordinate_names: Sequence[str] | None = None, impl: str = "levels"):
  """`q -> FKResult` closed over the model and a column layout (jit/vmap/grad it freely).

  `impl`: "levels" (fast compile, the default) or "unrolled" (fast execution); see the module doc.
  """
  names = _check_names(model, coordinate_names)  # fail early, outside any trace
  _check_impl(impl)
  _plan(model)

  def fk(q):
    return forward_kinematics(model, q, names, impl)

  return fk


def points_in_ground(fk: FKResult, model: OsimModel, bodies: Sequence[str], locations) -> jax.Array:
  """Ground positions [..., n_points, 3] of body-fixed points (`locations` [n_points, 3])."""
  idx = np.array([model.body_index(b) for b in bodies], dtype=np.int32)
  loc = jnp.asarray(np.asarray(locations).reshape(-1, 3), fk.body_positions.dtype)
  r = fk.body_rotations[..., idx, :, :]
  p = fk.body_positions[..., idx, :]
  return p + jnp.einsum("...nij,nj->...ni", r, loc)


def marker_positions(fk: FKResult, model: OsimModel) -> jax.Array:
  """[..., n_markers, 3] in ground."""
  if not model.markers:
    return jnp.zeros((*fk.body_positions.shape[:-2], 0, 3), fk.body_positions.dtype)
  return points_in_ground(
    fk, model, [m.body for m in model.markers], [m.location for m in model.markers]
  )


def contact_sphere_centers(fk: FKResult, model: OsimModel) -> jax.Array:
  """[..., n_spheres, 3] centres of the contact spheres in ground."""
  if not model.contact_spheres:
    return jnp.zeros((*fk.body_positions.shape[:-2], 0, 3), fk.body_positions.dtype)
  s = model.contact_spheres
  return points_in_ground(fk, model, [c.body for c in s], [c.location for c in s])


def body_mass_centers(fk: FKResult, model: OsimModel) -> jax.Array:
  """[..., n_bodies, 3] mass centre of every body in ground."""
  com = jnp.asarray(np.stack([b.mass_center for b in model.bodies]), fk.body_positions.dtype)
  return fk.body_positions + jnp.einsum("...nij,nj->...ni", fk.body_rotations, com)


def center_of_mass(fk: FKResult, model: OsimModel) -> jax.Array:
  """Whole-body mass centre [..., 3] in ground (OpenSim `Model.calcMassCenterPosition`).

  A model whose total mass is 0 (every body massless) has its mass centre at the ground origin,
  (0, 0, 0), as in OpenSim (Simbody returns 0 for a massless system) -- not 0/0 = NaN. The masses
  are static model data, so the result stays jittable and differentiable (zero gradient then).
  """
  m = np.array([b.mass for b in model.bodies], dtype=np.float64)
  total = float(m.sum())
  if total == 0.0:
    return jnp.zeros((*fk.body_positions.shape[:-2], 3), fk.body_positions.dtype)
  w = jnp.asarray(m / total, fk.body_positions.dtype)
  return jnp.einsum("n,...ni->...i", w, body_mass_centers(fk, model))


def pelvis_translation(
  model: OsimModel, q: jax.Array, coordinate_names: Sequence[str] | None = None
) -> jax.Array:
  """[..., 3] (pelvis_tx, pelvis_ty, pelvis_tz): what the BIGE reference code calls "COM"."""
  full = full_coordinates(model, q, coordinate_names)
  idx = [model.coordinate_names.index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
  return full[..., idx]


def _lowest_candidates(fk: FKResult, model: OsimModel, up_axis: int, include_spheres: bool):
  heights = [fk.joint_centers[..., up_axis]]
  if include_spheres and model.contact_spheres:
    radii = jnp.asarray([s.radius for s in model.contact_spheres], fk.body_positions.dtype)
    heights.append(contact_sphere_centers(fk, model)[..., up_axis] - radii)
  return jnp.concatenate(heights, axis=-1)


def lowest_point(
  fk: FKResult, model: OsimModel, up_axis: int = 1, include_spheres: bool = True
) -> jax.Array:
  """Exact height [...] of the lowest joint centre / contact-sphere bottom (centre - radius)."""
  return jnp.min(_lowest_candidates(fk, model, up_axis, include_spheres), axis=-1)


def soft_lowest_point(
  fk: FKResult,
  model: OsimModel,
  temperature: float = 0.01,
  up_axis: int = 1,
  include_spheres: bool = True,
) -> jax.Array:
  """Smooth lower bound of `lowest_point`: -t * logsumexp(-h / t) [...] (t in metres).

  Differs from the exact minimum by at most t * log(n_candidates); differentiable everywhere.
  """
  h = _lowest_candidates(fk, model, up_axis, include_spheres)
  return -temperature * jax.nn.logsumexp(-h / temperature, axis=-1)
