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

Resampling (`resample`): uniform grid t0, t0 + 1/rate, ... <= t_end, each column interpolated with
`method="cubic"` (scipy `CubicSpline`, not-a-knot end conditions; linear when < 4 frames) or
`"linear"` (`numpy.interp`). Angles are interpolated as plain numbers (no wrapping).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class MotFormatError(ValueError):
  """A malformed or unusable `.mot`/`.sto` file or request; the message names file/line/column."""


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
  motion: Motion, model, names: Sequence[str] | None = None
) -> np.ndarray:
  """[T, len(names)] coordinate values in radians/metres for FK, in the order `names`.

  `names` defaults to the model's independent coordinates. Raises MotFormatError when a requested
  name is not a coordinate of the model or is not a column of the file.
  """
  names = tuple(model.independent_coordinate_names if names is None else names)
  unknown = [n for n in names if n not in model.coordinate_names]
  if unknown:
    raise MotFormatError(f"not coordinates of model {model.name!r}: {unknown}")
  return convert_units(select_columns(motion, names), model, in_degrees=False).values


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
