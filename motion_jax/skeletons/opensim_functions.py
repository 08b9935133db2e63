"""OpenSim scalar functions (the `function` of a `TransformAxis` or a coupler constraint) in JAX.

Each function is a frozen dataclass with an `__call__(x)` that maps a JAX array of coordinate values
to the function value elementwise. They are parsed from `.osim` XML by `parse_function`.

Semantics follow OpenSim 4.x (checked against `opensim` 4.6 in
tests/skeletons/test_opensim_functions.py):

* `LinearFunction`: coefficients `slope intercept`.
* `Constant`: `value`, independent of x.
* `PolynomialFunction`: coefficients in *decreasing* powers (SimTK::Function::Polynomial).
* `SimmSpline`: the interpolating cubic spline of Forsythe, Malcolm & Moler (1977), "Computer
  Methods for Mathematical Computations", routine SPLINE: with n >= 4 knots the end conditions match
  the third derivative at each end to that of the cubic through the four end knots; with n == 3 the
  third derivative is zero at both ends; with n == 2 it is a straight line. Outside [x_0, x_{n-1}]
  it is extended linearly with the end slopes (as OpenSim's SimmSpline::calcValue does).
* `MultiplierFunction`: `scale * function(x)` (what OpenSim's scaling wraps joint translations in).
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import jax.numpy as jnp
import numpy as np


class FunctionFormatError(ValueError):
  """An OpenSim function element that cannot be parsed or evaluated."""


@dataclasses.dataclass(frozen=True, eq=False)
class Constant:
  value: float

  def __call__(self, x):
    x = jnp.asarray(x)
    return jnp.full(x.shape, self.value, dtype=x.dtype)


@dataclasses.dataclass(frozen=True, eq=False)
class LinearFunction:
  slope: float
  intercept: float

  def __call__(self, x):
    return self.slope * x + self.intercept


@dataclasses.dataclass(frozen=True, eq=False)
class PolynomialFunction:
  coefficients: tuple[float, ...]  # decreasing powers: c0 x^n + ... + cn

  def __call__(self, x):
    out = jnp.zeros_like(x)
    for c in self.coefficients:  # Horner
      out = out * x + c
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class SimmSpline:
  """FMM cubic spline through knots (x, y); b, c, d are per-knot polynomial coefficients."""

  x: np.ndarray  # [n]
  y: np.ndarray  # [n]
  b: np.ndarray  # [n] first-derivative coefficient
  c: np.ndarray  # [n]
  d: np.ndarray  # [n]

  @classmethod
  def from_knots(cls, x, y) -> SimmSpline:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    b, c, d = fmm_spline_coefficients(x, y)
    for a in (x, y, b, c, d):
      a.setflags(write=False)
    return cls(x, y, b, c, d)

  def __call__(self, v):
    v = jnp.asarray(v)
    dt = v.dtype
    x, y, b, c, d = (jnp.asarray(a, dtype=dt) for a in (self.x, self.y, self.b, self.c, self.d))
    n = x.shape[0]
    k = jnp.clip(jnp.searchsorted(x, v, side="right", method="compare_all") - 1, 0, n - 2)
    dx = v - x[k]
    inside = y[k] + dx * (b[k] + dx * (c[k] + dx * d[k]))
    below = y[0] + b[0] * (v - x[0])
    above = y[n - 1] + b[n - 1] * (v - x[n - 1])
    return jnp.where(v < x[0], below, jnp.where(v > x[n - 1], above, inside))


@dataclasses.dataclass(frozen=True, eq=False)
class MultiplierFunction:
  function: Function
  scale: float

  def __call__(self, x):
    return self.scale * self.function(x)


Function = Constant | LinearFunction | PolynomialFunction | SimmSpline | MultiplierFunction


def constant_value(fn: Function) -> float | None:
  """The value of a constant function (Constant, or a MultiplierFunction of one), else None."""
  if isinstance(fn, Constant):
    return float(fn.value)
  if isinstance(fn, MultiplierFunction):
    inner = constant_value(fn.function)
    return None if inner is None else fn.scale * inner
  return None


def fmm_spline_coefficients(x: np.ndarray, y: np.ndarray):
  """Coefficients (b, c, d) so that s(t) = y_i + b_i dt + c_i dt^2 + d_i dt^3 on [x_i, x_{i+1}].

  Solves for the knot second derivatives m_i with a dense linear system (n is small), using the
  FMM end conditions described in the module docstring. b[n-1] is the slope at the last knot.
  """
  n = x.shape[0]
  if n < 2 or y.shape != x.shape:
    raise FunctionFormatError(
      f"SimmSpline needs >= 2 knots with matching x/y, got {x.shape}, {y.shape}"
    )
  h = np.diff(x)
  if np.any(h <= 0):
    raise FunctionFormatError("SimmSpline knots must be strictly increasing")
  delta = np.diff(y) / h
  if n == 2:
    b = np.array([delta[0], delta[0]])
    return b, np.zeros(2), np.zeros(2)
  a = np.zeros((n, n))
  r = np.zeros(n)
  for i in range(1, n - 1):
    a[i, i - 1 : i + 2] = (h[i - 1], 2.0 * (h[i - 1] + h[i]), h[i])
    r[i] = 6.0 * (delta[i] - delta[i - 1])
  # End conditions on the third derivative s''' = (m_{i+1} - m_i) / h_i.
  a[0, :2] = (-1.0, 1.0)
  a[n - 1, n - 2 :] = (-1.0, 1.0)
  if n >= 4:
    r[0] = 6.0 * h[0] * _third_divided_difference(x[:4], y[:4])
    r[n - 1] = 6.0 * h[-1] * _third_divided_difference(x[-4:], y[-4:])
  m = np.linalg.solve(a, r)
  b = np.empty(n)
  b[:-1] = delta - h * (2.0 * m[:-1] + m[1:]) / 6.0
  b[-1] = delta[-1] + h[-1] * (m[-2] + 2.0 * m[-1]) / 6.0
  c = m / 2.0
  d = np.empty(n)
  d[:-1] = (m[1:] - m[:-1]) / (6.0 * h)
  d[-1] = d[-2]
  return b, c, d


def _third_divided_difference(x, y):
  f = list(y)
  for order in range(1, 4):
    f = [(f[i + 1] - f[i]) / (x[i + order] - x[i]) for i in range(len(f) - 1)]
  return f[0]


def _floats(text: str | None, where: str) -> list[float]:
  try:
    return [float(t) for t in (text or "").split()]
  except ValueError as e:
    raise FunctionFormatError(f"{where}: not a list of numbers: {text!r}") from e


def parse_function(el: ET.Element, where: str = "") -> Function:
  """Parse one OpenSim function element (`<LinearFunction>`, `<SimmSpline>`, ...)."""
  tag = el.tag
  loc = f"{where}<{tag}>"
  if tag == "Constant":
    v = _floats(el.findtext("value"), loc)
    if len(v) != 1:
      raise FunctionFormatError(f"{loc}: expected one value")
    return Constant(v[0])
  if tag == "LinearFunction":
    c = _floats(el.findtext("coefficients"), loc)
    if len(c) != 2:
      raise FunctionFormatError(f"{loc}: expected 2 coefficients, got {len(c)}")
    return LinearFunction(c[0], c[1])
  if tag == "PolynomialFunction":
    c = _floats(el.findtext("coefficients"), loc)
    if not c:
      raise FunctionFormatError(f"{loc}: no coefficients")
    return PolynomialFunction(tuple(c))
  if tag in ("SimmSpline", "NaturalCubicSpline", "GCVSpline", "PiecewiseLinearFunction"):
    if tag != "SimmSpline":
      raise FunctionFormatError(f"{loc}: function type not supported (only SimmSpline splines)")
    return SimmSpline.from_knots(_floats(el.findtext("x"), loc), _floats(el.findtext("y"), loc))
  if tag == "MultiplierFunction":
    inner = el.find("function")
    children = list(inner) if inner is not None else []
    if len(children) != 1:
      raise FunctionFormatError(f"{loc}: expected exactly one wrapped function")
    s = _floats(el.findtext("scale", "1"), loc)
    return MultiplierFunction(parse_function(children[0], loc), s[0])
  raise FunctionFormatError(f"{loc}: unsupported OpenSim function type {tag!r}")


def _unwrap(fn: Function) -> tuple[Function, float]:
  """(innermost function, product of MultiplierFunction scales)."""
  scale = 1.0
  while isinstance(fn, MultiplierFunction):
    scale *= fn.scale
    fn = fn.function
  return fn, scale


@dataclasses.dataclass(frozen=True, eq=False)
class FunctionBank:
  """Many single-variable functions evaluated together: `bank(x[..., n]) -> [..., n]`.

  Functions are grouped by kind (linear / polynomial / spline / constant) so that a whole model's
  transform axes cost a handful of vectorised ops instead of one op chain per function (this keeps
  XLA compile times of FK small). Multiplier scales are folded into the coefficients.
  """

  n: int
  lin_idx: np.ndarray  # [nl] output columns
  lin_ab: np.ndarray  # [2, nl]
  const_idx: np.ndarray
  const_val: np.ndarray
  poly_idx: np.ndarray
  poly_coef: np.ndarray  # [D, np] decreasing powers, zero-padded at the front
  spl_idx: np.ndarray
  spl_x: np.ndarray  # [ns, K] knots padded with +inf
  spl_ybcd: np.ndarray  # [4, ns, K]
  spl_last: np.ndarray  # [ns] index of the last knot
  perm: np.ndarray  # gathered column order -> output order

  @classmethod
  def build(cls, functions: list[Function]) -> FunctionBank:
    lin, const, poly, spl = [], [], [], []
    for i, f in enumerate(functions):
      inner, scale = _unwrap(f)
      if isinstance(inner, Constant):
        const.append((i, scale * inner.value))
      elif isinstance(inner, LinearFunction):
        lin.append((i, scale * inner.slope, scale * inner.intercept))
      elif isinstance(inner, PolynomialFunction):
        poly.append((i, scale * np.asarray(inner.coefficients, dtype=np.float64)))
      elif isinstance(inner, SimmSpline):
        spl.append((i, inner, scale))
      else:  # pragma: no cover
        raise FunctionFormatError(f"cannot vectorise {type(inner).__name__}")
    deg = max([len(c) for _, c in poly], default=1)
    coef = np.zeros((deg, len(poly)))
    for p, (_, c) in enumerate(poly):
      coef[deg - len(c) :, p] = c
    k = max([len(s.x) for _, s, _ in spl], default=2)
    sx = np.full((len(spl), k), np.inf)
    ybcd = np.zeros((4, len(spl), k))
    last = np.zeros(len(spl), dtype=np.int32)
    for r, (_, s, scale) in enumerate(spl):
      n = len(s.x)
      sx[r, :n] = s.x
      for q, arr in enumerate((s.y, s.b, s.c, s.d)):
        ybcd[q, r, :n] = scale * arr
      last[r] = n - 1
    order = (
      [i for i, *_ in lin] + [i for i, _ in const] + [i for i, _ in poly] + [i for i, *_ in spl]
    )
    return cls(
      n=len(functions),
      lin_idx=np.array([i for i, *_ in lin], dtype=np.int32),
      lin_ab=np.array([[a for _, a, _ in lin], [b for _, _, b in lin]]).reshape(2, len(lin)),
      const_idx=np.array([i for i, _ in const], dtype=np.int32),
      const_val=np.array([v for _, v in const]),
      poly_idx=np.array([i for i, _ in poly], dtype=np.int32),
      poly_coef=coef,
      spl_idx=np.array([i for i, *_ in spl], dtype=np.int32),
      spl_x=sx,
      spl_ybcd=ybcd,
      spl_last=last,
      perm=np.argsort(np.array(order, dtype=np.int64)).astype(np.int32),
    )

  def __call__(self, x):
    """x [..., n] (one argument per function; ignored for constants) -> [..., n]."""
    x = jnp.asarray(x)
    dt = x.dtype
    batch = x.shape[:-1]
    parts = []
    if self.lin_idx.size:
      a, b = jnp.asarray(self.lin_ab, dt)
      parts.append(x[..., self.lin_idx] * a + b)
    if self.const_idx.size:
      parts.append(jnp.broadcast_to(jnp.asarray(self.const_val, dt), (*batch, self.const_idx.size)))
    if self.poly_idx.size:
      v = x[..., self.poly_idx]
      coef = jnp.asarray(self.poly_coef, dt)
      out = jnp.broadcast_to(coef[0], v.shape)
      for d in range(1, coef.shape[0]):
        out = out * v + coef[d]
      parts.append(out)
    if self.spl_idx.size:
      v = x[..., self.spl_idx]  # [..., ns]
      kx = jnp.asarray(self.spl_x, dt)  # [ns, K]
      y, b, c, d = jnp.asarray(self.spl_ybcd, dt)
      last = jnp.asarray(self.spl_last)
      k = jnp.sum(v[..., None] >= kx, axis=-1) - 1
      k = jnp.clip(k, 0, last - 1)
      rows = jnp.arange(kx.shape[0])
      dx = v - kx[rows, k]
      inside = y[rows, k] + dx * (b[rows, k] + dx * (c[rows, k] + dx * d[rows, k]))
      x0, xn = kx[:, 0], kx[rows, last]
      below = y[:, 0] + b[:, 0] * (v - x0)
      above = y[rows, last] + b[rows, last] * (v - xn)
      parts.append(jnp.where(v < x0, below, jnp.where(v > xn, above, inside)))
    if not parts:
      return jnp.zeros((*batch, 0), dt)
    return jnp.concatenate(parts, axis=-1)[..., self.perm]
