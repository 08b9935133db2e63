"""TFDS builder (ArrayRecord, read without TensorFlow) for text-motion data in the HumanML3D layout.

The user's folder is the builder's ``manual_dir``::

    <manual_dir>/new_joint_vecs/<id>.npy   float32 [T, D] raw features (D: 263 t2m, 251 KIT)
    <manual_dir>/texts/<id>.txt            captions ``caption#tokens#start#end`` (humanml3d config)
    <manual_dir>/{train,val,test}.txt      motion ids, one per line
    <manual_dir>/Mean.npy, Std.npy         optional [D] statistics (stored in the dataset metadata)
    <manual_dir>/kinmo/<id>.json           optional KinMo group / interaction descriptions

Configs:

* ``humanml3d``: 263-dim t2m features at 20 fps, captions from ``texts/``.
* ``kitml``: 251-dim KIT-ML features at 12.5 fps; captions from TMR's ``annotations.json`` (the
  user's ``<manual_dir>/annotations.json`` if present, else the shipped
  ``data/tmr_annotations/kitml/annotations.json``); split files default to TMR's shipped splits.
* ``kitml_tmr``: KIT-ML as TMR uses it: 263-dim "guoh3dfeats" (HumanML3D features computed from
  AMASS) at 20 fps, TMR captions and splits, TMR's KIT statistics when the folder has none.
  Motions are ``new_joint_vecs/<id>.npy`` or, TMR's layout, ``<manual_dir>/<annotation path>.npy``.

**One example per (motion, caption time window)**, holding every caption of that window. Whole-clip
captions (``0.0#0.0``) of a motion make one example with the full clip; each distinct sub-segment
``[int(start*fps), int(end*fps))`` makes its own example with the cropped motion (several captions
of the same window share it). Why: this is HumanML3D's practice (its loader pools a clip's
whole-clip captions into one entry and samples one per access, and turns each timed caption into
its own cropped entry), the motion is stored once instead of once per caption (~3 captions per
HumanML3D clip), and the caption is drawn in the loader from (seed, step), so every epoch pairs a
motion with a different caption, exactly reproducibly. (HumanML3D makes one entry per timed caption
line even when two share a window; here they share one example, so such a window is drawn once, not
twice, per epoch.)

Filtering, in frames, as HumanML3D's text-to-motion loader does (``min_motion_len = 40`` for t2m,
24 for KIT; ``len >= 200`` dropped): a clip is dropped when ``T < min_frames`` or
``T >= max_frames`` (and then so are its sub-segments); a window is dropped when its length is
outside the same range.

Bad input:

* errors (the build stops, naming the file and line): a split file or ``new_joint_vecs/`` missing
  (:class:`FileNotFoundError`), features that are not ``[T, D]`` (:class:`MotionShapeError`), an
  unreadable ``.npy``, a malformed caption line or annotation (:class:`CaptionFormatError`), bad
  Mean/Std, a malformed KinMo JSON, or no example at all in any split.
* skips (counted, logged in one summary line per split, stored in ``info.metadata["summary"]``):
  ``missing_motion``, ``missing_texts``, ``no_captions``, ``non_finite`` (NaN/inf frames),
  ``clip_too_short``, ``clip_too_long``, ``segment_too_short``, ``segment_too_long``,
  ``duplicate_id``. A split left with no example is not written (``info.metadata["empty_splits"]``).

Failed builds. TFDS writes into ``<data_dir>/text_motion/<config>/incomplete.XXXXXX_1.0.0/`` and
renames it to ``1.0.0/`` only on success; when generation raises, the incomplete folder is deleted
and no version folder appears (``.config/`` and ``downloads/`` may remain; harmless). A finished
dataset is reused as is (``REUSE_DATASET_IF_EXISTS``). Caveat: TFDS's own
``download_mode=FORCE_REDOWNLOAD`` deletes the finished dataset *before* generating, so a failed
forced rebuild loses it; :func:`prepare` with ``overwrite=True`` instead builds into a staging
``data_dir`` and swaps the version folder in only after success. All motions are read twice (one
validation pass that plans the examples and counts skips before anything is written, one writing
pass); nothing is held in memory between them.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from motion_jax.data.formats import captions as caps
from motion_jax.data.tfds_base import ArrayRecordBuilder
from motion_jax.paths import DATA_DIR
from motion_jax.representations.humanml3d import MotionShapeError, layout_for
from motion_jax.skeletons.t2m import get_skeleton

log = logging.getLogger(__name__)

SKIP_REASONS = (
  "missing_motion",
  "missing_texts",
  "no_captions",
  "non_finite",
  "clip_too_short",
  "clip_too_long",
  "segment_too_short",
  "segment_too_long",
  "duplicate_id",
)
_MAX_LISTED = 20  # skipped ids listed per reason in the metadata


@dataclasses.dataclass(eq=False)
class TextMotionConfig(tfds.core.BuilderConfig):
  """Dataset variant: feature skeleton, frame rate, length filter, caption source, splits.

  Attributes:
    skeleton: ``"t2m"`` (263-dim features) or ``"kit"`` (251).
    fps: frame rate of the features (caption times are seconds).
    min_frames: clips / windows shorter than this are dropped.
    max_frames: clips / windows with ``T >= max_frames`` are dropped.
    caption_format: ``"humanml3d"`` (``texts/<id>.txt``) or ``"tmr_json"`` (``annotations.json``).
    splits: split names; ``<name>.txt`` holds the ids.
    default_annotations / default_split_dir / default_stats_dir: shipped fallbacks, relative to
      the project's ``data/`` folder, used when the manual dir lacks them.
  """

  skeleton: str = "t2m"
  fps: float = 20.0
  min_frames: int = 40
  max_frames: int = 200
  caption_format: str = "humanml3d"
  splits: tuple[str, ...] = ("train", "val", "test")
  default_annotations: str | None = None
  default_split_dir: str | None = None
  default_stats_dir: str | None = None

  @property
  def dim(self) -> int:
    return layout_for(get_skeleton(self.skeleton)).dim


CONFIGS = (
  TextMotionConfig(
    name="humanml3d", description="HumanML3D: 263-dim t2m features, 20 fps, texts/ captions."
  ),
  TextMotionConfig(
    name="kitml",
    skeleton="kit",
    fps=12.5,
    min_frames=24,
    max_frames=200,
    caption_format="tmr_json",
    default_annotations="tmr_annotations/kitml/annotations.json",
    default_split_dir="tmr_annotations/kitml/splits",
    description="KIT-ML: 251-dim KIT features, 12.5 fps, captions from TMR annotations.json.",
  ),
  TextMotionConfig(
    name="kitml_tmr",
    caption_format="tmr_json",
    default_annotations="tmr_annotations/kitml/annotations.json",
    default_split_dir="tmr_annotations/kitml/splits",
    default_stats_dir="tmr_annotations/stats/kitml",
    description="KIT-ML as in TMR: 263-dim guoh3dfeats at 20 fps, TMR captions and stats.",
  ),
)


@dataclasses.dataclass(frozen=True)
class _Planned:
  """One example to write (motion data are re-read at write time)."""

  example_id: str
  motion_id: str
  motion_path: Path
  start_frame: int
  end_frame: int
  whole_clip: bool
  captions: tuple[caps.Caption, ...]
  kinmo: Mapping[str, list[str]] | None


# ------------------------------------------------------------------------------------------------
# KinMo side files
# ------------------------------------------------------------------------------------------------
_KINMO_KEYS = {
  "group": ("groups", "group", "group_level", "group_captions", "group_descriptions"),
  "interaction": (
    "interactions",
    "interaction",
    "interaction_level",
    "interaction_captions",
    "interaction_descriptions",
  ),
}
_TEXT_KEYS = ("text", "caption", "description")
_NAME_KEYS = ("name", "group", "groups", "pair", "groups_pair")


def _kinmo_items(value: Any, where: str) -> list[tuple[str, str]]:
  """(name, text) pairs from a dict ``name -> text | [text]``, a list of texts, or a list of
  ``{"name"/"group"/"pair": ..., "text"/"caption"/"description": ...}`` objects."""
  out: list[tuple[str, str]] = []
  if isinstance(value, Mapping):
    for name, v in value.items():
      texts = v if isinstance(v, list) else [v]
      for t in texts:
        if not isinstance(t, str):
          raise caps.CaptionFormatError(f"{where}[{name!r}]: expected text, got {t!r}")
        out.append((str(name), t))
    return out
  if isinstance(value, list):
    for i, item in enumerate(value):
      if isinstance(item, str):
        out.append(("", item))
      elif isinstance(item, Mapping) and any(k in item for k in _TEXT_KEYS):
        text = next(item[k] for k in _TEXT_KEYS if k in item)
        name = next((item[k] for k in _NAME_KEYS if k in item), "")
        if isinstance(name, (list, tuple)):
          name = "-".join(map(str, name))
        if not isinstance(text, str):
          raise caps.CaptionFormatError(f"{where}[{i}]: expected text, got {text!r}")
        out.append((str(name), text))
      else:
        raise caps.CaptionFormatError(
          f"{where}[{i}]: expected a string or an object with one of {_TEXT_KEYS}"
        )
    return out
  raise caps.CaptionFormatError(
    f"{where}: expected an object or a list, got {type(value).__name__}"
  )


def read_kinmo(path: str | Path) -> dict[str, list[str]]:
  """Reads ``kinmo/<id>.json``: group- and interaction-level descriptions.

  Accepted: a JSON object with a group key (``groups``/``group_level``/...) and/or an interaction
  key (``interactions``/``interaction_level``/...), each a dict ``name -> text`` (or list of
  texts), a list of texts, or a list of ``{name, text}`` objects. Returns ``{"group_names",
  "group_texts", "interaction_names", "interaction_texts"}`` (parallel lists).

  Raises:
    CaptionFormatError: invalid JSON or none of the expected keys (names the file).
  """
  path = Path(path)
  try:
    data = json.loads(path.read_text(encoding="utf-8"))
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise caps.CaptionFormatError(f"{path}: invalid KinMo JSON ({e})") from None
  if not isinstance(data, Mapping):
    raise caps.CaptionFormatError(f"{path}: KinMo file must hold a JSON object")
  out: dict[str, list[str]] = {}
  found = False
  for level, keys in _KINMO_KEYS.items():
    key = next((k for k in keys if k in data), None)
    items = [] if key is None else _kinmo_items(data[key], f"{path}[{key!r}]")
    found |= key is not None
    out[f"{level}_names"] = [n for n, _ in items]
    out[f"{level}_texts"] = [t for _, t in items]
  if not found:
    raise caps.CaptionFormatError(
      f"{path}: no KinMo descriptions; expected one of {_KINMO_KEYS['group']} or "
      f"{_KINMO_KEYS['interaction']}, got keys {sorted(data)}"
    )
  return out


# ------------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------------
def read_split_ids(path: str | Path) -> list[str]:
  """Ids of a split file (one per line, blank lines ignored); names the file when missing."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(
      f"split file {path} is missing (a HumanML3D-layout folder needs train.txt, val.txt and "
      "test.txt with one motion id per line)"
    )
  return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_motion(path: str | Path, dim: int) -> np.ndarray:
  """Loads ``[T, dim]`` float32 features; raises :class:`MotionShapeError` naming the file."""
  path = Path(path)
  try:
    x = np.load(path, allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise ValueError(f"{path}: unreadable .npy motion ({e})") from e
  if x.ndim != 2 or x.shape[1] != dim:
    raise MotionShapeError(
      f"{path}: motion features must have shape [T, {dim}], got {tuple(x.shape)}"
    )
  return x.astype(np.float32, copy=False)


def load_stats(
  directory: Path, dim: int, names=("Mean.npy", "Std.npy")
) -> tuple[np.ndarray, np.ndarray] | None:
  """Mean/Std ``[dim]`` from ``directory`` (None when both are absent); validates them."""
  paths = [directory / n for n in names]
  if not any(p.exists() for p in paths):
    return None
  out = []
  for p in paths:
    if not p.exists():
      raise FileNotFoundError(f"{p} is missing (its pair {names} must both be present)")
    a = np.asarray(np.load(p, allow_pickle=False), np.float32)
    if a.shape != (dim,):
      raise MotionShapeError(f"{p}: expected shape ({dim},), got {a.shape}")
    if not np.isfinite(a).all():
      raise ValueError(f"{p}: holds non-finite values")
    out.append(a)
  if (out[1] <= 0).any():
    raise ValueError(f"{paths[1]}: std must be > 0 (index {int(np.argmin(out[1]))})")
  return out[0], out[1]


# ------------------------------------------------------------------------------------------------
# Builder
# ------------------------------------------------------------------------------------------------
class TextMotion(ArrayRecordBuilder):
  """Text-motion pairs from a HumanML3D-layout folder (``manual_dir``); see the module docstring.

  Read with ``builder.as_data_source()[split]`` (ArrayRecord; no TensorFlow needed).
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(CONFIGS)
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "Pass the dataset folder as DownloadConfig(manual_dir=...): new_joint_vecs/<id>.npy, "
    "texts/<id>.txt (humanml3d), train/val/test.txt, optional Mean.npy/Std.npy and "
    "kinmo/<id>.json. HumanML3D: https://github.com/EricGuo5513/HumanML3D"
  )

  def _info(self) -> tfds.core.DatasetInfo:
    cfg: TextMotionConfig = self.builder_config
    text_seq = tfds.features.Sequence(tfds.features.Text())
    return tfds.core.DatasetInfo(
      builder=self,
      description=(
        "One example per (motion, caption time window); motion is the un-normalised "
        "features of the window. tokens[i] holds the space-joined word/POS tokens of "
        "captions[i] (empty for TMR captions)."
      ),
      features=tfds.features.FeaturesDict(
        {
          "example_id": tfds.features.Text(),
          "motion_id": tfds.features.Text(),
          "motion": tfds.features.Tensor(
            shape=(None, cfg.dim), dtype=np.float32, encoding=tfds.features.Encoding.BYTES
          ),
          "length": tfds.features.Scalar(dtype=np.int32),
          "start_frame": tfds.features.Scalar(dtype=np.int32),
          "end_frame": tfds.features.Scalar(dtype=np.int32),
          "whole_clip": tfds.features.Scalar(dtype=np.bool_),
          "captions": text_seq,
          "tokens": text_seq,
          "caption_start": tfds.features.Sequence(np.float32),
          "caption_end": tfds.features.Sequence(np.float32),
          "kinmo_present": tfds.features.Scalar(dtype=np.bool_),
          "kinmo_group_names": text_seq,
          "kinmo_group_texts": text_seq,
          "kinmo_interaction_names": text_seq,
          "kinmo_interaction_texts": text_seq,
        }
      ),
      metadata=tfds.core.MetadataDict(),
      disable_shuffling=True,
      homepage="https://github.com/EricGuo5513/HumanML3D",
    )

  # -- planning (validation pass) --------------------------------------------------------------
  def _resolve(self, root: Path):
    cfg: TextMotionConfig = self.builder_config
    motion_dir = root / "new_joint_vecs"
    annotations = None
    if cfg.caption_format == "humanml3d":
      if not (root / "texts").is_dir():
        raise FileNotFoundError(f"{root / 'texts'} is missing (HumanML3D caption files)")
    elif cfg.caption_format == "tmr_json":
      ann_path = root / "annotations.json"
      if not ann_path.exists() and cfg.default_annotations:
        ann_path = DATA_DIR / cfg.default_annotations
      if not ann_path.exists():
        raise FileNotFoundError(f"{ann_path} is missing (TMR annotations.json)")
      annotations = caps.read_tmr_annotations(ann_path)
    else:
      raise ValueError(f"unknown caption_format {cfg.caption_format!r}")
    if not motion_dir.is_dir() and cfg.caption_format == "humanml3d":
      raise FileNotFoundError(f"{motion_dir} is missing (motion features <id>.npy)")
    split_dir = root
    if cfg.default_split_dir and not any((root / f"{s}.txt").exists() for s in cfg.splits):
      split_dir = DATA_DIR / cfg.default_split_dir
    split_ids = {s: read_split_ids(split_dir / f"{s}.txt") for s in cfg.splits}
    stats = load_stats(root, cfg.dim)
    if stats is None and cfg.default_stats_dir:
      stats = load_stats(DATA_DIR / cfg.default_stats_dir, cfg.dim, ("mean.npy", "std.npy"))
    return motion_dir, annotations, split_ids, stats

  def _motion_path(self, root: Path, motion_dir: Path, motion_id: str, annotations) -> Path | None:
    p = motion_dir / f"{motion_id}.npy"
    if p.exists():
      return p
    if annotations is not None and motion_id in annotations and annotations[motion_id].path:
      q = root / f"{annotations[motion_id].path}.npy"
      if q.exists():
        return q
    return None

  def _plan_split(
    self, root: Path, ids: list[str], motion_dir: Path, annotations
  ) -> tuple[list[_Planned], collections.Counter, dict[str, list[str]]]:
    cfg: TextMotionConfig = self.builder_config
    counts: collections.Counter = collections.Counter()
    listed: dict[str, list[str]] = collections.defaultdict(list)
    plans: list[_Planned] = []

    def skip(reason: str, what: str, n: int = 1) -> None:
      counts[reason] += n
      if len(listed[reason]) < _MAX_LISTED:
        listed[reason].append(what)

    seen = set()
    for motion_id in ids:
      if motion_id in seen:
        skip("duplicate_id", motion_id)
        continue
      seen.add(motion_id)
      path = self._motion_path(root, motion_dir, motion_id, annotations)
      if path is None:
        skip("missing_motion", motion_id)
        continue
      motion = load_motion(path, cfg.dim)
      counts["motions_read"] += 1
      bad = ~np.isfinite(motion).all(axis=1)
      if bad.any():
        skip("non_finite", f"{motion_id} (frame {int(np.argmax(bad))})")
        continue
      t = motion.shape[0]
      if t < cfg.min_frames:
        skip("clip_too_short", f"{motion_id} ({t} frames)")
        continue
      if t >= cfg.max_frames:
        skip("clip_too_long", f"{motion_id} ({t} frames)")
        continue
      if cfg.caption_format == "humanml3d":
        text_path = root / "texts" / f"{motion_id}.txt"
        if not text_path.exists():
          skip("missing_texts", motion_id)
          continue
        clip_caps = caps.read_humanml3d_captions(text_path)
      else:
        if motion_id not in annotations:
          skip("missing_texts", motion_id)
          continue
        clip_caps = list(annotations[motion_id].captions)
      if not clip_caps:
        skip("no_captions", motion_id)
        continue
      kinmo_path = root / "kinmo" / f"{motion_id}.json"
      kinmo = read_kinmo(kinmo_path) if kinmo_path.exists() else None
      for win in caps.group_caption_windows(clip_caps, cfg.fps, t):
        n = win.n_frames
        if n < cfg.min_frames:
          skip(
            "segment_too_short",
            f"{motion_id}[{win.start_frame}:{win.end_frame}]",
            len(win.captions),
          )
          continue
        if n >= cfg.max_frames:
          skip(
            "segment_too_long", f"{motion_id}[{win.start_frame}:{win.end_frame}]", len(win.captions)
          )
          continue
        ex_id = motion_id if win.whole_clip else (f"{motion_id}@{win.start_frame}-{win.end_frame}")
        plans.append(
          _Planned(
            ex_id,
            motion_id,
            path,
            win.start_frame,
            win.end_frame,
            win.whole_clip,
            win.captions,
            kinmo if win.whole_clip else None,
          )
        )
    return plans, counts, dict(listed)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg: TextMotionConfig = self.builder_config
    root = Path(dl_manager.manual_dir)
    motion_dir, annotations, split_ids, stats = self._resolve(root)
    summary, generators, empty, lengths = {}, {}, [], {}
    for split, ids in split_ids.items():
      plans, counts, listed = self._plan_split(root, ids, motion_dir, annotations)
      skipped = {r: counts[r] for r in SKIP_REASONS if counts[r]}
      summary[split] = {
        "ids": len(ids),
        "motions_read": counts["motions_read"],
        "examples": len(plans),
        "captions": sum(len(p.captions) for p in plans),
        "skipped": skipped,
        "skipped_ids": listed,
      }
      log.warning(
        "text_motion/%s %s: %d examples (%d captions) from %d ids; skipped %s",
        cfg.name,
        split,
        len(plans),
        summary[split]["captions"],
        len(ids),
        ", ".join(f"{r}={n}" for r, n in skipped.items()) or "none",
      )
      if plans:
        generators[split] = self._generate_examples(plans)
        lengths[split] = [p.end_frame - p.start_frame for p in plans]
      else:
        empty.append(split)
    if not generators:
      raise ValueError(
        f"text_motion/{cfg.name}: no examples in any split of {root}; summary: "
        f"{json.dumps({s: v['skipped'] for s, v in summary.items()})}"
      )
    md = self.info.metadata
    md["summary"] = summary
    md["empty_splits"] = empty
    md["lengths"] = lengths
    md["fps"] = cfg.fps
    md["dim"] = cfg.dim
    md["mean"] = None if stats is None else stats[0].tolist()
    md["std"] = None if stats is None else stats[1].tolist()
    return generators

  def _generate_examples(self, plans: list[_Planned]) -> Iterator[tuple[str, dict]]:
    cfg: TextMotionConfig = self.builder_config
    cache_path, cache = None, None
    for p in plans:
      if p.motion_path != cache_path:  # windows of one clip are consecutive
        cache_path, cache = p.motion_path, load_motion(p.motion_path, cfg.dim)
      motion = np.ascontiguousarray(cache[p.start_frame : p.end_frame])
      k = p.kinmo or {}
      yield (
        p.example_id,
        {
          "example_id": p.example_id,
          "motion_id": p.motion_id,
          "motion": motion,
          "length": motion.shape[0],
          "start_frame": p.start_frame,
          "end_frame": p.end_frame,
          "whole_clip": p.whole_clip,
          "captions": [c.text for c in p.captions],
          "tokens": [" ".join(c.tokens) for c in p.captions],
          "caption_start": [np.nan if c.start is None else c.start for c in p.captions],
          "caption_end": [np.nan if c.end is None else c.end for c in p.captions],
          "kinmo_present": p.kinmo is not None,
          "kinmo_group_names": k.get("group_names", []),
          "kinmo_group_texts": k.get("group_texts", []),
          "kinmo_interaction_names": k.get("interaction_names", []),
          "kinmo_interaction_texts": k.get("interaction_texts", []),
        },
      )


def prepare(
  manual_dir: str | Path,
  data_dir: str | Path,
  config: str = "humanml3d",
  *,
  overwrite: bool = False,
) -> TextMotion:
  """Builds (or reuses) ``text_motion/<config>`` under ``data_dir`` from ``manual_dir``.

  Args:
    manual_dir: the HumanML3D-layout folder.
    data_dir: TFDS data dir (e.g. ``data/cache/tfds``).
    config: ``humanml3d``, ``kitml`` or ``kitml_tmr``.
    overwrite: rebuild even when a finished dataset exists. The new build goes to a staging
      data dir first and replaces the old version folder only when it succeeded, so a failed
      rebuild leaves the old dataset readable (unlike TFDS's ``FORCE_REDOWNLOAD``).

  Returns:
    A builder reading the finished dataset (``.as_data_source()``).
  """
  return TextMotion.prepare_from(data_dir, config, manual_dir, overwrite=overwrite)


def load_data_source(data_dir: str | Path, config: str = "humanml3d", split: str = "train"):
  """``(data_source, metadata)`` of a built dataset: random-access examples and the build's
  metadata (``mean``/``std``/``lengths``/``summary``)."""
  builder = TextMotion(data_dir=str(data_dir), config=config)
  return builder.as_data_source(split=split), builder.info.metadata


__all__ = [
  "CONFIGS",
  "SKIP_REASONS",
  "TextMotion",
  "TextMotionConfig",
  "load_data_source",
  "load_motion",
  "load_stats",
  "prepare",
  "read_kinmo",
  "read_split_ids",
]
