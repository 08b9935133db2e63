"""OpenSim `.mot` / `.sto` motion files: read, write, select columns, convert units, resample.

File layout (OpenSim Storage / TimeSeriesTable):

    <name line>            optional; absent when the first line is already `key=value`
    version=1              `key=value` lines (version, nRows, nColumns, inDegrees, DataType, ...)
    <free text lines>
    endheader
    time<TAB>col1<TAB>...  column labels (tab-separated; whitespace-separated when there is no tab)
    0.0<TAB>1.5<TAB>...    one row per frame (tabs or spaces)

Reading is strict, so that a corrupted file raises `MotFormatError` (naming the file, line and
column) instead of returning silently wrong arrays: a missing `endheader`, a first label other than
`time`, empty or duplicate labels, rows with the wrong number of fields, text that is not a decimal
number, NaN/inf, blank lines between rows, non-increasing times, and `nRows`/`nColumns` header
values that disagree with the data are all errors. Values are float64.

Round trip: `write_mot(read_mot(p))` reproduces the header lines verbatim, the line ending (CRLF or
LF), and, when every numeric field of the source had the same fixed-point layout (e.g. OpenSim IK's
`%16.8f`), that layout (`Motion.float_format`); so OpenSim-written files round-trip byte for byte.
New or transformed motions are written with Python's shortest round-trip float repr (exact reread).

Units: OpenSim converts only coordinates whose motion type is *rotational* between degrees and
radians (not translations, not coupled coordinates such as the knee `*_beta`, nor non-coordinate
columns); `convert_units` does the same, deciding per column from an `OsimModel`.

Unit sanity (`check_coordinate_units`, run by `coordinates_from_motion`): a header whose `inDegrees`
does not match the numbers (degrees labelled radians or the reverse) gives badly wrong poses, so the
rotational values are compared with the model's coordinate ranges under both readings and a
mismatch raises `CoordinateUnitsError` naming the file and the coordinate (or warns / is ignored,
`on_mismatch=`). See `check_coordinate_units` for the rules and their limits.

Resampling (`resample`): uniform grid t0, t0 + 1/rate, ... <= t_end, each column interpolated with
`method="cubic"` (scipy `CubicSpline`, not-a-knot end conditions; linear when < 4 frames) or
`"linear"` (`numpy.interp`). Angles are interpolated as plain numbers (no wrapping).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import types
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


class MotFormatError(ValueError):
  """A malformed or unusable `.mot`/`.sto` file or request; the message names file/line/column."""


class CoordinateUnitsError(MotFormatError):
  """Rotational values that do not fit their declared unit (`inDegrees`) and the model's ranges.

  `.mismatch` is the `UnitMismatch` found (rule, coordinate, values in both readings, ...).
  """

  def __init__(self, mismatch: UnitMismatch):
    super().__init__(mismatch.message)
    self.mismatch = mismatch


class CoordinateUnitsWarning(UserWarning):
  """`check_coordinate_units(..., on_mismatch="warn")`: the values were used as declared."""


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_FIXED = re.compile(r"-?\d+\.(\d+)\Z")
_SPLIT_WS = re.compile(r"[ \t]+")


@dataclasses.dataclass(frozen=True, eq=False)
class Motion:
  """A motion table: `values[t, c]` is column `names[c]` at `times[t]` (float64, read-only)."""

  names: tuple[str, ...]  # data column labels (without the time column)
  times: np.ndarray  # [T]
  values: np.ndarray  # [T, C]
  in_degrees: bool
  name: str = ""  # first line of the file ("Coordinates"), "" when absent
  header: tuple[str, ...] = ()  # lines between the name line and `endheader`, verbatim
  time_label: str = "time"
  float_format: str | None = None  # e.g. "%16.8f" when read from a fixed-point file
  newline: str = "\n"
  source: str = ""

  def __post_init__(self):
    times = np.array(self.times, dtype=np.float64).reshape(-1)
    values = np.array(self.values, dtype=np.float64).reshape(times.shape[0], len(self.names))
    times.setflags(write=False)
    values.setflags(write=False)
    object.__setattr__(self, "times", times)
    object.__setattr__(self, "values", values)
    object.__setattr__(self, "names", tuple(self.names))
    object.__setattr__(self, "header", tuple(self.header))

  @property
  def metadata(self) -> dict[str, str]:
    """`key=value` header entries (nRows, nColumns, inDegrees, version, ...)."""
    out = {}
    for line in self.header:
      if "=" in line:
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip()
    return out

  @property
  def n_frames(self) -> int:
    return int(self.times.shape[0])

  @property
  def rate(self) -> float:
    """Frames per second from the median time step (nan with fewer than 2 frames)."""
    if self.n_frames < 2:
      return float("nan")
    return float(1.0 / np.median(np.diff(self.times)))

  def column(self, name: str) -> np.ndarray:
    return self.values[:, self._index(name)]

  def _index(self, name: str) -> int:
    try:
      return self.names.index(name)
    except ValueError:
      raise MotFormatError(f"{self.source or '<motion>'}: no column {name!r}") from None

  def replace(self, **kw) -> Motion:
    return dataclasses.replace(self, **kw)


# ----------------------------------------------------------------------------------------------
# Reading.


def read_mot(path: str | os.PathLike) -> Motion:
  """Read an OpenSim `.mot`/`.sto` file (see module docstring for what is rejected)."""
  path = str(path)
  try:
    raw = Path(path).read_bytes()
  except OSError as e:
    raise MotFormatError(f"{path}: cannot read: {e}") from e
  try:
    text = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    line = raw[: e.start].count(b"\n") + 1
    raise MotFormatError(f"{path}:{line}: not UTF-8 text") from None
  return parse_mot(text, source=path)


def parse_mot(text: str, source: str = "<string>") -> Motion:
  """Parse the text of a `.mot`/`.sto` file."""

  def err(line_no: int | None, msg: str) -> MotFormatError:
    return MotFormatError(f"{source}:{line_no}: {msg}" if line_no else f"{source}: {msg}")

  if "\x00" in text:
    raise err(None, "contains NUL bytes (binary file?)")
  newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
  lines = text.split("\n")
  lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
  if lines and lines[-1] == "":
    lines.pop()  # final newline
  try:
    end = next(i for i, ln in enumerate(lines) if ln.strip() == "endheader")
  except StopIteration:
    raise err(None, "no 'endheader' line") from None
  head = lines[:end]
  name, first = "", 1  # first: file line number of head[0]
  if head and "=" not in head[0]:
    name, head, first = head[0], head[1:], 2
  meta = {}
  for i, ln in enumerate(head):
    if "=" in ln:
      k, v = ln.split("=", 1)
      meta[k.strip()] = (v.strip(), first + i)
  in_degrees = False
  if "inDegrees" in meta:
    v, ln_no = meta["inDegrees"]
    if v.lower() not in ("yes", "no"):
      raise err(ln_no, f"inDegrees must be yes or no, got {v!r}")
    in_degrees = v.lower() == "yes"

  # Column labels: the first line after endheader.
  li = end + 1
  if li >= len(lines) or not lines[li].strip():
    raise err(li + 1, "missing column-label line after 'endheader'")
  label_line = lines[li]
  labels = label_line.split("\t") if "\t" in label_line else _SPLIT_WS.split(label_line.strip())
  labels = [s.strip() for s in labels]
  if labels and labels[-1] == "" and "\t" in label_line:
    labels.pop()  # trailing tab
  for c, lab in enumerate(labels):
    if not lab:
      raise err(li + 1, f"empty column label at column {c + 1}")
  if labels[0].lower() != "time":
    raise err(li + 1, f"first column must be 'time', got {labels[0]!r}")
  seen: dict[str, int] = {}
  for c, lab in enumerate(labels):
    if lab in seen:
      raise err(li + 1, f"duplicate column {lab!r} (columns {seen[lab] + 1} and {c + 1})")
    seen[lab] = c
  ncol = len(labels)

  rows: list[list[float]] = []
  decimals: set[int] = set()
  widths: set[int] = set()
  fixed = True
  row_lines = lines[li + 1 :]
  # Trailing blank lines are allowed, blank lines between rows are not.
  last = len(row_lines)
  while last > 0 and not row_lines[last - 1].strip():
    last -= 1
  for k, ln in enumerate(row_lines[:last]):
    ln_no = li + 2 + k
    if not ln.strip():
      raise err(ln_no, "blank line between data rows")
    fields = ln.split("\t") if "\t" in ln else None
    tokens = _SPLIT_WS.split(ln.strip())
    if len(tokens) != ncol:
      raise err(ln_no, f"{len(tokens)} values, expected {ncol} (one per column label)")
    row = []
    for c, tok in enumerate(tokens):
      if not _NUMBER.match(tok):
        if tok.lower().lstrip("+-") in ("nan", "inf", "infinity"):
          raise err(ln_no, f"non-finite value {tok!r} in column {c + 1} ({labels[c]!r})")
        raise err(ln_no, f"not a number: {tok!r} in column {c + 1} ({labels[c]!r})")
      v = float(tok)
      if not np.isfinite(v):
        raise err(ln_no, f"value {tok!r} overflows float64 in column {c + 1} ({labels[c]!r})")
      row.append(v)
      if fixed:
        m = _FIXED.match(tok)
        if m is None:
          fixed = False
        else:
          decimals.add(len(m.group(1)))
    if fixed:
      if fields is None or len(fields) != ncol:
        fixed = False
      else:
        widths.update(len(f) for f in fields)
    rows.append(row)
  if not rows:
    raise err(li + 2, "no data rows")
  data = np.array(rows, dtype=np.float64)
  times = data[:, 0]
  bad = np.nonzero(np.diff(times) <= 0)[0]
  if bad.size:
    raise err(
      li + 3 + int(bad[0]),
      f"time is not strictly increasing ({times[bad[0]]} then {times[bad[0] + 1]})",
    )
  if "nRows" in meta:
    v, ln_no = meta["nRows"]
    if not v.isdigit() or int(v) != len(rows):
      raise err(ln_no, f"nRows={v} but the file has {len(rows)} data rows")
  if "nColumns" in meta:
    v, ln_no = meta["nColumns"]
    if not v.isdigit() or int(v) != ncol:
      raise err(ln_no, f"nColumns={v} but the file has {ncol} columns")
  float_format = None
  if fixed and len(decimals) == 1 and len(widths) == 1:
    float_format = f"%{widths.pop()}.{decimals.pop()}f"
  return Motion(
    names=tuple(labels[1:]),
    times=times,
    values=data[:, 1:],
    in_degrees=in_degrees,
    name=name,
    header=tuple(head),
    time_label=labels[0],
    float_format=float_format,
    newline=newline,
    source=source,
  )


# ----------------------------------------------------------------------------------------------
# Writing.


def format_mot(motion: Motion) -> str:
  """The text `write_mot` writes (see module docstring)."""
  nl = motion.newline
  for n in (motion.time_label, *motion.names):
    if not n or any(ch in n for ch in "\t\r\n") or n != n.strip():
      raise MotFormatError(
        f"column label {n!r} cannot be written (empty, or has tab/newline/edge spaces)"
      )
  if len(set(motion.names)) != len(motion.names) or motion.time_label in motion.names:
    raise MotFormatError("duplicate column labels")
  if not np.all(np.isfinite(motion.values)) or not np.all(np.isfinite(motion.times)):
    raise MotFormatError("cannot write non-finite values")
  if motion.n_frames == 0:
    raise MotFormatError("cannot write a motion without frames")
  if np.any(np.diff(motion.times) <= 0):
    raise MotFormatError("times must be strictly increasing")
  ncol = len(motion.names) + 1
  want = {
    "nRows": str(motion.n_frames),
    "nColumns": str(ncol),
    "inDegrees": "yes" if motion.in_degrees else "no",
  }
  header = list(motion.header) or ["version=1"]
  present = set()
  for i, ln in enumerate(header):
    if "=" in ln:
      k = ln.split("=", 1)[0].strip()
      if k in want:
        present.add(k)
        if ln.split("=", 1)[1].strip() != want[k]:
          header[i] = f"{k}={want[k]}"
  # Missing required keys go right after the key=value block at the top.
  pos = 0
  while pos < len(header) and "=" in header[pos]:
    pos += 1
  header[pos:pos] = [
    f"{k}={want[k]}" for k in ("nRows", "nColumns", "inDegrees") if k not in present
  ]
  out = []
  if motion.name or not motion.header:
    out.append(motion.name or "motion")
  out += header
  out.append("endheader")
  out.append("\t".join((motion.time_label, *motion.names)))
  fmt = motion.float_format
  table = np.concatenate([motion.times[:, None], motion.values], axis=1)
  if fmt is None:
    out += ["\t".join(repr(float(v)) for v in row) for row in table]
  else:
    out += ["\t".join(fmt % v for v in row) for row in table]
  return nl.join(out) + nl


def write_mot(path: str | os.PathLike, motion: Motion) -> None:
  """Write `motion` as an OpenSim `.mot`/`.sto` file that OpenSim's Storage/TimeSeriesTable read."""
  Path(path).write_bytes(format_mot(motion).encode("utf-8"))


def make_motion(
  names: Sequence[str],
  times,
  values,
  in_degrees: bool,
  name: str = "Coordinates",
  header: Sequence[str] = (),
) -> Motion:
  """A new motion (no float format: written with exact reprs)."""
  times = np.asarray(times, dtype=np.float64)
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 2 or values.shape != (times.shape[0], len(names)):
    raise MotFormatError(
      f"values shape {values.shape} != (len(times), len(names)) = ({times.shape[0]}, {len(names)})"
    )
  return Motion(
    tuple(names), times, values, in_degrees, name=name, header=tuple(header) or ("version=1",)
  )


# ----------------------------------------------------------------------------------------------
# Transformations.


def select_columns(motion: Motion, names: Sequence[str]) -> Motion:
  """Columns `names` in that order; MotFormatError naming every missing or duplicated name."""
  names = tuple(names)
  missing = [n for n in names if n not in motion.names]
  if missing:
    raise MotFormatError(f"{motion.source or '<motion>'}: no column(s) {missing}")
  if len(set(names)) != len(names):
    raise MotFormatError(f"duplicate names requested: {names}")
  idx = [motion.names.index(n) for n in names]
  return motion.replace(names=names, values=motion.values[:, idx])


def rotational_mask(names: Sequence[str], model) -> np.ndarray:
  """[C] bool: columns that are rotational coordinates of `model` (converted by OpenSim)."""
  rot = {c.name for c in model.coordinates if c.motion_type == "rotational"}
  return np.array([n in rot for n in names], dtype=bool)


def convert_units(motion: Motion, model, in_degrees: bool) -> Motion:
  """Motion with rotational coordinate columns in degrees (`in_degrees=True`) or radians."""
  if motion.in_degrees == in_degrees:
    return motion
  mask = rotational_mask(motion.names, model)
  factor = np.pi / 180.0 if motion.in_degrees else 180.0 / np.pi
  values = np.where(mask[None, :], motion.values * factor, motion.values)
  return motion.replace(values=values, in_degrees=in_degrees, float_format=None)


def coordinates_from_motion(
  motion: Motion, model, names: Sequence[str] | None = None, on_mismatch: str = "raise"
) -> np.ndarray:
  """[T, len(names)] coordinate values in radians/metres for FK, in the order `names`.

  `names` defaults to the model's independent coordinates. Raises MotFormatError when a requested
  name is not a coordinate of the model or is not a column of the file. The selected columns are
  checked with `check_coordinate_units` first: a file whose `inDegrees` header does not match its
  numbers raises `CoordinateUnitsError` (`on_mismatch="warn"` warns and `"ignore"` skips the
  check; both then use the values as declared).
  """
  names = tuple(model.independent_coordinate_names if names is None else names)
  unknown = [n for n in names if n not in model.coordinate_names]
  if unknown:
    raise MotFormatError(f"not coordinates of model {model.name!r}: {unknown}")
  selected = select_columns(motion, names)
  check_coordinate_units(selected, model, on_mismatch=on_mismatch)
  return convert_units(selected, model, in_degrees=False).values


# ----------------------------------------------------------------------------------------------
# Unit sanity: do the rotational values fit the declared unit and the model's coordinate ranges?

ON_MISMATCH = ("raise", "warn", "ignore")
#: Rule 1: a value further than this (radians) outside its coordinate's range, read as declared.
FAR_OUTSIDE_MARGIN = 2 * np.pi
#: Rule 2: further than this outside as declared, while the other reading fits every range.
OTHER_UNIT_MARGIN = np.pi / 2
#: How far (radians) outside its range a value may be and still "fit" (rules 2 and 3).
FIT_TOLERANCE = 0.1
#: Rule 3: the radians reading must reach at least this |value| on some range-checked coordinate.
RADIANS_MIN_PEAK = 0.5

_DEG = 180.0 / np.pi
_RAD = np.pi / 180.0


@dataclasses.dataclass(frozen=True)
class UnitMismatch:
  """What `find_unit_mismatch` found; `message` is the full explanation (file, coordinate, fix)."""

  rule: str  # "far_outside_range" | "fits_other_unit" | "radians_labelled_degrees"
  source: str
  coordinate: str  # the worst coordinate
  value: float  # its value as written in the file, at `frame`
  frame: int
  declared_in_degrees: bool
  likely_in_degrees: bool | None  # the unit the numbers fit; None when neither reading fits
  message: str


@dataclasses.dataclass(frozen=True, eq=False)
class UnitLimits:
  """What the unit check needs from a model: its rotational coordinates and usable ranges."""

  model_name: str
  rotational: frozenset[str]  # every rotational coordinate
  ranges: Mapping[str, tuple[float, float]]  # range-checked ones only: (min, max) in radians


@functools.lru_cache(maxsize=32)
def unit_limits(model) -> UnitLimits:
  """`UnitLimits` of an `OsimModel`; see `range_checked_coordinates` for which ranges are used."""
  rot = frozenset(c.name for c in model.coordinates if c.motion_type == "rotational")
  checked = range_checked_coordinates(model)
  ranges = {c.name: tuple(map(float, c.range)) for c in model.coordinates if c.name in checked}
  return UnitLimits(model.name, rot, types.MappingProxyType(ranges))


def range_checked_coordinates(model) -> frozenset[str]:
  """Rotational coordinates whose range says something about units (see `check_coordinate_units`).

  Left out: the rotations of a floating base (a joint on the ground that also translates, e.g.
  ground_pelvis: the body's orientation in the world can take any value, lying down or turning,
  and a heading angle can wind up over several turns; a fixed-base joint on the ground, like a
  shoulder of an arm model, keeps its anatomical range), and ranges that are not finite, inverted,
  or span a full turn or more (2 pi, less 0.01 for rounded pi: a coordinate free to rotate, e.g.
  pelvis_rotation [-2 pi, 2 pi], a shoulder's axial rotation [-pi, pi], or OpenSim's default
  [-10, 10] when the file gives no range).
  """
  bodies = set(model.body_names)
  kinds = {c.name: c.motion_type for c in model.coordinates}
  out = set()
  for c in model.coordinates:
    lo, hi = c.range
    if c.motion_type != "rotational" or not (np.isfinite(lo) and np.isfinite(hi)):
      continue
    if not lo <= hi or hi - lo >= 2 * np.pi - 0.01:  # files round pi (e.g. 3.14159265)
      continue
    joint = model.joint(c.joint)
    if joint.parent_body not in bodies and any(kinds[n] != "rotational" for n in joint.coordinates):
      continue
    out.add(c.name)
  return frozenset(out)


def _excess(rad: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
  """[T, K] radians outside [lo, hi] (0 inside; non-finite values count as inside)."""
  with np.errstate(invalid="ignore"):
    e = np.maximum(np.maximum(lo - rad, rad - hi), 0.0)
  return np.where(np.isfinite(e), e, 0.0)


#: What a unit-mismatch message offers besides fixing the header (`check_coordinate_units`).
ON_MISMATCH_HINT = ", or pass on_mismatch='warn' (or 'ignore') to use the values as declared"


def find_unit_mismatch(
  values,
  names: Sequence[str],
  in_degrees: bool,
  model,
  source: str = "<motion>",
  times=None,
  has_unit_header: bool = True,
  hint: str = ON_MISMATCH_HINT,
) -> UnitMismatch | None:
  """The unit mismatch of `values` [T, len(names)] (as written, unit `in_degrees`), or None.

  `model` is an `OsimModel` or its `UnitLimits`; columns that are not rotational coordinates of
  it are ignored. See `check_coordinate_units` for the rules. `times` [T] (optional) is quoted in
  the message; `has_unit_header=False` says that the file had no inDegrees line; `hint` ends the
  advice in the message.
  """
  limits = model if isinstance(model, UnitLimits) else unit_limits(model)
  values = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
  rot = np.array([n in limits.rotational for n in names], dtype=bool)
  kmask = np.array([n in limits.ranges for n in names], dtype=bool)
  if values.shape[0] == 0 or not kmask.any():
    return None
  knames = [n for n, k in zip(names, kmask) if k]
  w = values[:, kmask]  # range-checked columns, as written
  lo = np.array([limits.ranges[n][0] for n in knames])
  hi = np.array([limits.ranges[n][1] for n in knames])
  worst_d = _excess(w * (_RAD if in_degrees else 1.0), lo, hi).max(axis=0)  # [K] as declared
  worst_o = _excess(w * (1.0 if in_degrees else _RAD), lo, hi).max(axis=0)  # in the other unit
  other_fits = bool(worst_o.max() <= FIT_TOLERANCE)
  unit, other = ("degrees", "radians") if in_degrees else ("radians", "degrees")

  def reading(v: float, degrees: bool) -> str:
    return f"{v * _RAD:.4g} rad ({v:.4g} deg)" if degrees else f"{v:.4g} rad ({v * _DEG:.4g} deg)"

  def where(k: int, t: int) -> tuple[str, str]:
    when = f"frame {t}" + (f" (time {float(times[t]):g})" if times is not None else "")
    rng = f"[{lo[k]:.4g}, {hi[k]:.4g}] rad ([{lo[k] * _DEG:.4g}, {hi[k] * _DEG:.4g}] deg)"
    return when, rng

  def found(rule, k, t, likely, msg) -> UnitMismatch:
    return UnitMismatch(rule, source, knames[k], float(w[t, k]), t, in_degrees, likely, msg)

  # Rules 1 and 2: outside the ranges as declared.
  far = worst_d.max() > FAR_OUTSIDE_MARGIN
  if far or (worst_d.max() > OTHER_UNIT_MARGIN and other_fits):
    k = int(np.argmax(worst_d))
    t = int(np.argmax(_excess(w[:, k] * (_RAD if in_degrees else 1.0), lo[k], hi[k])))
    v = float(w[t, k])
    when, rng = where(k, t)
    declared = (
      f"the header says inDegrees={'yes' if in_degrees else 'no'}"
      if has_unit_header
      else "the header has no inDegrees line (read as radians)"
    )
    msg = (
      f"{source}: coordinate {knames[k]!r} is far outside its range in model "
      f"{limits.model_name!r} for the declared unit: {declared}, and at {when} its value {v:g} "
      f"read as {unit} is {reading(v, in_degrees)}, {worst_d[k]:.3g} rad outside the range "
      f"{rng}; read as {other} it would be {reading(v, not in_degrees)}, "
      f"{'inside' if worst_o[k] <= FIT_TOLERANCE else 'also outside'} the range. "
      f"{int(np.sum(worst_d > FIT_TOLERANCE))} of {len(knames)} range-checked rotational "
      f"coordinates leave their ranges as {unit}"
    )
    if other_fits:
      msg += (
        f", none as {other}. The file looks like it holds {other}: set "
        f"inDegrees={'no' if in_degrees else 'yes'} in its header{hint}."
      )
    else:
      msg += (
        f", {int(np.sum(worst_o > FIT_TOLERANCE))} as {other}. Neither reading fits: check that "
        f"the file belongs to this model and that its inDegrees line is right{hint}."
      )
    rule = "far_outside_range" if far else "fits_other_unit"
    return found(rule, k, t, (not in_degrees) if other_fits else None, msg)

  # Rule 3: radians labelled degrees.
  if in_degrees and other_fits:
    written = values[:, rot]
    peak = np.where(np.isfinite(w), np.abs(w), 0.0)
    if np.all(np.abs(written[np.isfinite(written)]) <= np.pi) and peak.max() >= RADIANS_MIN_PEAK:
      k = int(np.argmax(peak.max(axis=0)))
      t = int(np.argmax(peak[:, k]))
      v = float(w[t, k])
      when, rng = where(k, t)
      msg = (
        f"{source}: coordinate {knames[k]!r} looks like radians but the header says "
        f"inDegrees=yes: at {when} its value {v:g} read as degrees is {reading(v, True)}, read "
        f"as radians {reading(v, False)}; its range in model {limits.model_name!r} is {rng}. All "
        f"{written.shape[1]} rotational columns stay within +-pi (a near-motionless pose if "
        f"these were degrees) and, read as radians, all {len(knames)} range-checked ones fit "
        f"their ranges. Set inDegrees=no in the header if the file holds radians{hint}."
      )
      return found("radians_labelled_degrees", k, t, False, msg)
  return None


def check_coordinate_units(
  motion_or_values,
  model,
  names: Sequence[str] | None = None,
  *,
  in_degrees: bool | None = None,
  source: str | None = None,
  on_mismatch: str = "raise",
) -> UnitMismatch | None:
  """Check that rotational coordinate values fit their declared unit and `model`'s ranges.

  `model` is an `OsimModel` (or its `UnitLimits`). `motion_or_values` is a `Motion` (its unit,
  source and times are used; `names` picks columns, default: every column that is a rotational
  coordinate of `model`) or an array [T, len(names)] of values as written (then `names` and
  `in_degrees` are required). On a mismatch `on_mismatch="raise"` raises
  `CoordinateUnitsError` (a `MotFormatError`/ValueError) whose message names the file, the worst
  coordinate, its value read both ways and its range in radians and degrees, and says what to
  change; `"warn"` issues a `CoordinateUnitsWarning` instead and `"ignore"` does nothing. Returns
  the `UnitMismatch` (or None).

  Only rotational coordinates are looked at (translations and coupled coordinates such as the knee
  `*_beta` are not converted by OpenSim either). Ranges are compared only for "range-checked"
  coordinates (`range_checked_coordinates`: not a floating base's rotation, finite range narrower
  than a full turn), as radians: value * pi/180 when read as degrees, the value itself as radians.

  1. Far outside (`FAR_OUTSIDE_MARGIN`, 2 pi): read as declared, a value lies more than a full turn
     outside its coordinate's range. No wrapped or slightly out-of-range angle does that, whatever
     the other reading gives; typical cause: degrees labelled radians (a 90 deg knee is 90 rad).
  2. Fits the other unit: read as declared, a value lies more than `OTHER_UNIT_MARGIN` (pi/2)
     outside its range, while read in the other unit every range-checked value fits (within
     `FIT_TOLERANCE`, 0.1 rad). Catches degrees labelled radians for small motions too.
  3. Radians labelled degrees (declared degrees only): every rotational value, root and wide-range
     ones included, is within +-pi as written (as degrees: the body hardly leaves the zero pose),
     read as radians every range-checked coordinate fits its range, and some range-checked
     coordinate reaches |value| >= `RADIANS_MIN_PEAK` (0.5: 29 deg as radians, 0.5 deg as
     degrees), i.e. the reading matters.

  Limits: a motion that stays near the zero pose in both readings (every joint within a few
  degrees) cannot be told apart and passes; rule 3 misses radians files whose root orientation
  exceeds +-pi (an unwound heading) or whose joints leave their ranges, and may flag a degrees
  file of a nearly motionless, near-zero pose that reaches 0.5 deg somewhere; models without
  range-checked rotational coordinates (only a floating base, or no ranges) are not checked.
  Coordinates are matched by name, so a file from another model with the same names is judged by
  this model's ranges (the message then says when neither reading fits).
  """
  if on_mismatch not in ON_MISMATCH:
    raise ValueError(f"on_mismatch must be one of {ON_MISMATCH}, got {on_mismatch!r}")
  if on_mismatch == "ignore":
    return None
  limits = model if isinstance(model, UnitLimits) else unit_limits(model)
  times, has_header = None, True
  if isinstance(motion_or_values, Motion):
    motion = motion_or_values
    if names is None:
      names = [n for n in motion.names if n in limits.rotational]
    motion = select_columns(motion, names)
    values = motion.values
    in_degrees = motion.in_degrees if in_degrees is None else in_degrees
    source = source or motion.source or "<motion>"
    times = motion.times
    has_header = in_degrees or not motion.source or "inDegrees" in motion.metadata
  else:
    if names is None or in_degrees is None:
      raise ValueError("check_coordinate_units(values, ...) needs names= and in_degrees=")
    values = np.asarray(motion_or_values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(names):
      raise ValueError(f"values shape {values.shape} != (T, len(names)={len(names)})")
    source = source or "<values>"
  found = find_unit_mismatch(
    values, tuple(names), bool(in_degrees), limits, source, times, has_unit_header=has_header
  )
  if found is not None:
    if on_mismatch == "raise":
      raise CoordinateUnitsError(found)
    warnings.warn(found.message, CoordinateUnitsWarning, stacklevel=2)
  return found


def resample(motion: Motion, rate: float, method: str = "cubic") -> Motion:
  """Motion on a uniform grid of `rate` Hz from its first time (see module docstring)."""
  if not (np.isfinite(rate) and rate > 0):
    raise MotFormatError(f"rate must be a positive number, got {rate}")
  if method not in ("cubic", "linear"):
    raise MotFormatError(f"method must be 'cubic' or 'linear', got {method!r}")
  t = motion.times
  n = int(np.floor((t[-1] - t[0]) * rate + 1e-9)) + 1
  new_t = t[0] + np.arange(n) / rate
  if motion.n_frames < 2:
    vals = np.repeat(motion.values[:1], n, axis=0)
  elif method == "linear" or motion.n_frames < 4:
    vals = np.stack(
      [np.interp(new_t, t, motion.values[:, c]) for c in range(len(motion.names))], axis=1
    )
    vals = vals.reshape(n, len(motion.names))
  else:
    from scipy.interpolate import CubicSpline

    vals = CubicSpline(t, motion.values, axis=0, bc_type="not-a-knot")(new_t)
  return motion.replace(times=new_t, values=vals, float_format=None)
