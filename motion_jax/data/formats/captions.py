"""Motion captions: HumanML3D ``texts/<id>.txt`` files and KIT-ML annotations in TMR's JSON.

HumanML3D caption files (Guo et al. 2022; format of ``texts.zip`` in EricGuo5513/HumanML3D) hold one
caption per line, four ``#``-separated fields::

    a man kicks with his left leg.#a/DET man/NOUN kick/VERB with/ADP his/DET left/ADJ leg/NOUN#0#0

* field 1: the caption; field 2: space-separated ``word/POS`` tokens (kept as given: the T2M
  evaluator's word vectoriser consumes the ``word/POS`` strings);
* fields 3-4: ``start#end`` in seconds. ``0.0#0.0`` (or NaN) means the whole clip; otherwise the
  caption describes frames ``[int(start * fps), int(end * fps))`` of the clip (the HumanML3D
  loader's rule, fps = 20). A NaN start reads as 0; a NaN end as the clip's end.

KIT-ML captions come from TMR's ``annotations.json`` (Mathux/TMR ``datasets/annotations/kitml``,
shipped in ``data/tmr_annotations/kitml``)::

    {"00001": {"path": "KIT/4/WalkingStraightForward01_poses", "duration": 3.78,
               "annotations": [{"seg_id": "00001_0", "text": "...", "start": 0.0, "end": 3.78}]}}

There are no POS tokens there; a caption with ``start <= 0`` and ``end >= duration`` is whole-clip.

Malformed input raises :class:`CaptionFormatError` naming the file and the line (or JSON key).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Tolerance (seconds) when comparing a TMR annotation's end with the clip duration.
_DURATION_TOL = 1e-3


class CaptionFormatError(ValueError):
  """A caption file or annotation record is malformed (names the file and line or key)."""


@dataclasses.dataclass(frozen=True)
class Caption:
  """One caption of a motion clip.

  Attributes:
    text: the caption.
    tokens: ``word/POS`` tokens (empty for KIT-ML/TMR captions).
    start: start time in seconds, ``None`` for "from the clip's start".
    end: end time in seconds, ``None`` for "to the clip's end".
  """

  text: str
  tokens: tuple[str, ...] = ()
  start: float | None = None
  end: float | None = None

  @property
  def is_whole_clip(self) -> bool:
    return self.start is None and self.end is None

  def frame_window(self, fps: float, n_frames: int) -> tuple[int, int]:
    """Half-open frame range ``[int(start * fps), int(end * fps))``, clipped to the clip."""
    a = 0 if self.start is None else int(self.start * fps)
    b = n_frames if self.end is None else int(self.end * fps)
    return min(max(a, 0), n_frames), min(max(b, 0), n_frames)


def _where(path: str | Path | None, lineno: int | None) -> str:
  where = str(path) if path is not None else "<caption>"
  return f"{where}:{lineno}" if lineno is not None else where


def _parse_time(field: str, name: str, where: str) -> float:
  try:
    value = float(field)
  except ValueError:
    raise CaptionFormatError(f"{where}: {name} time {field!r} is not a number") from None
  if math.isinf(value):
    raise CaptionFormatError(f"{where}: {name} time {field!r} is infinite")
  if value < 0:
    raise CaptionFormatError(f"{where}: {name} time {value} is negative")
  return value


def parse_caption_line(
  line: str, *, path: str | Path | None = None, lineno: int | None = None
) -> Caption:
  """Parses one HumanML3D ``caption#tokens#start#end`` line.

  Args:
    line: the line (a trailing newline is ignored).
    path, lineno: where the line came from, for error messages.

  Raises:
    CaptionFormatError: not exactly 4 ``#`` fields, an empty caption, non-numeric or negative
      times, or ``start > end`` for a sub-segment.
  """
  where = _where(path, lineno)
  fields = line.rstrip("\r\n").split("#")
  if len(fields) != 4:
    raise CaptionFormatError(
      f"{where}: expected 4 '#'-separated fields 'caption#tokens#start#end', got "
      f"{len(fields)} in {line.strip()[:120]!r}"
    )
  text, tokens, start_s, end_s = fields
  text = text.strip()
  if not text:
    raise CaptionFormatError(f"{where}: empty caption")
  start = _parse_time(start_s.strip(), "start", where)
  end = _parse_time(end_s.strip(), "end", where)
  start_n = None if math.isnan(start) else start
  end_n = None if math.isnan(end) else end
  if start_n in (None, 0.0) and end_n in (None, 0.0):
    start_n = end_n = None  # whole clip (HumanML3D: 0.0#0.0 or NaN)
  elif start_n == 0.0:
    start_n = None
  if start_n is not None and end_n is not None and start_n > end_n:
    raise CaptionFormatError(f"{where}: start {start_n} s is after end {end_n} s")
  return Caption(text=text, tokens=tuple(tokens.split()), start=start_n, end=end_n)


def parse_caption_text(text: str, *, path: str | Path | None = None) -> list[Caption]:
  """Parses the contents of a HumanML3D caption file (blank lines are skipped)."""
  return [
    parse_caption_line(line, path=path, lineno=i)
    for i, line in enumerate(text.splitlines(), start=1)
    if line.strip()
  ]


def read_humanml3d_captions(path: str | Path) -> list[Caption]:
  """Reads a HumanML3D ``texts/<id>.txt`` file (errors name the file and line)."""
  path = Path(path)
  try:
    text = path.read_text(encoding="utf-8")
  except UnicodeDecodeError as e:
    raise CaptionFormatError(f"{path}: not UTF-8 text ({e})") from None
  return parse_caption_text(text, path=path)


@dataclasses.dataclass(frozen=True)
class AnnotatedMotion:
  """One entry of TMR's ``annotations.json``: AMASS path, duration (s) and its captions."""

  motion_id: str
  path: str
  duration: float
  captions: tuple[Caption, ...]


def _tmr_caption(ann, duration: float, where: str) -> Caption:
  if not isinstance(ann, Mapping):
    raise CaptionFormatError(f"{where}: annotation must be an object, got {type(ann).__name__}")
  missing = [k for k in ("text", "start", "end") if k not in ann]
  if missing:
    raise CaptionFormatError(f"{where}: annotation lacks {missing}")
  text = ann["text"]
  if not isinstance(text, str) or not text.strip():
    raise CaptionFormatError(f"{where}: empty or non-string 'text'")
  try:
    start, end = float(ann["start"]), float(ann["end"])
  except (TypeError, ValueError):
    raise CaptionFormatError(
      f"{where}: non-numeric start/end {ann['start']!r}/{ann['end']!r}"
    ) from None
  if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
    raise CaptionFormatError(f"{where}: bad start/end {start}/{end}")
  if start > end:
    raise CaptionFormatError(f"{where}: start {start} s is after end {end} s")
  s = None if start <= 0.0 else start
  e = None if end >= duration - _DURATION_TOL else end
  return Caption(text=text.strip(), tokens=(), start=s, end=e)


def parse_tmr_annotations(
  data: Mapping, *, path: str | Path | None = None
) -> dict[str, AnnotatedMotion]:
  """Validates and converts a loaded TMR ``annotations.json`` dict (see module docstring)."""
  src = str(path) if path is not None else "<annotations>"
  if not isinstance(data, Mapping):
    raise CaptionFormatError(f"{src}: top level must be an object {{id: entry}}")
  out = {}
  for motion_id, entry in data.items():
    where = f"{src}[{motion_id!r}]"
    if not isinstance(entry, Mapping) or "annotations" not in entry or "duration" not in entry:
      raise CaptionFormatError(f"{where}: entry must hold 'duration' and 'annotations'")
    try:
      duration = float(entry["duration"])
    except (TypeError, ValueError):
      raise CaptionFormatError(f"{where}: non-numeric duration {entry['duration']!r}") from None
    anns = entry["annotations"]
    if not isinstance(anns, list):
      raise CaptionFormatError(f"{where}: 'annotations' must be a list")
    caps = tuple(
      _tmr_caption(a, duration, f"{where}['annotations'][{i}]") for i, a in enumerate(anns)
    )
    out[str(motion_id)] = AnnotatedMotion(
      str(motion_id), str(entry.get("path", "")), duration, caps
    )
  return out


def read_tmr_annotations(path: str | Path) -> dict[str, AnnotatedMotion]:
  """Reads TMR's ``annotations.json`` (KIT-ML or HumanML3D); errors name the file and key."""
  path = Path(path)
  try:
    data = json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as e:
    raise CaptionFormatError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
  return parse_tmr_annotations(data, path=path)


@dataclasses.dataclass(frozen=True)
class CaptionWindow:
  """Captions sharing one frame window ``[start_frame, end_frame)`` of a clip."""

  start_frame: int
  end_frame: int
  whole_clip: bool
  captions: tuple[Caption, ...]

  @property
  def n_frames(self) -> int:
    return self.end_frame - self.start_frame


def group_caption_windows(
  captions: Iterable[Caption], fps: float, n_frames: int
) -> list[CaptionWindow]:
  """Groups captions by frame window: whole-clip captions first, then one window per distinct
  sub-segment ``[int(start * fps), int(end * fps))`` in order of first appearance.

  A sub-segment that covers the whole clip after rounding joins the whole-clip window.
  """
  whole: list[Caption] = []
  windows: dict[tuple[int, int], list[Caption]] = {}
  for cap in captions:
    win = cap.frame_window(fps, n_frames)
    if cap.is_whole_clip or win == (0, n_frames):
      whole.append(cap)
    else:
      windows.setdefault(win, []).append(cap)
  out = []
  if whole:
    out.append(CaptionWindow(0, n_frames, True, tuple(whole)))
  out.extend(CaptionWindow(a, b, False, tuple(c)) for (a, b), c in windows.items())
  return out


__all__ = [
  "AnnotatedMotion",
  "Caption",
  "CaptionFormatError",
  "CaptionWindow",
  "group_caption_windows",
  "parse_caption_line",
  "parse_caption_text",
  "parse_tmr_annotations",
  "read_humanml3d_captions",
  "read_tmr_annotations",
]
