"""Builds the procedural text-motion dataset in the HumanML3D directory layout, and reads it back.

Command (tqdm progress; joints are generated on all cores, features are batched and jitted, clips
stream through in chunks of 256 so memory does not grow with the dataset)::

    python -m motion_jax.datagen.procedural.build                   # 2.0.0, 10,000 clips
    python -m motion_jax.datagen.procedural.build --version 1.0.0   # 1.0.0, 3000 clips

Generator versions: 1.0.0 (one action per clip, :mod:`.actions` + :mod:`.captions`) and 2.0.0
(sequences of 1-4 actions, :mod:`.sequence` + :mod:`.language`). The manifest records the version
and a cache only matches a build of the same version, clip count and seed. The functions default to
1.0.0 (so existing callers reproduce their files); the command and the stages'
``TextMotionDataConfig`` default to 2.0.0.

Layout under ``<root>`` (readable by the same loaders as a real HumanML3D folder)::

    new_joints/<id>.npy       [N, 22, 3] float32 joint positions (m, +Y up) in the canonical
                              frame (floor at 0, frame-0 root at the origin facing +Z)
    new_joint_vecs/<id>.npy   [N, 263] float32 features (representations.humanml3d)
                              N = T - 1 for a generated clip of T frames (41 <= T <= 200): as
                              in real HumanML3D, both files hold the T - 1 feature frames
                              (new_joints = the first T - 1 canonical frames, equal to
                              recover_from_ric(new_joint_vecs) to float precision)
    texts/<id>.txt            one caption per line: caption#lemma/POS tokens#0.0#0.0
    kinmo/<id>.json           action, generating parameters, 6 group + 15 interaction sentences
    train.txt val.txt test.txt all.txt   clip ids, one per line (80/10/10 per action)
    Mean.npy Std.npy          (263,) on train; Std pooled per feature block (as in HumanML3D:
                              its shipped Std.npy is constant within each block), floored at 1e-6
    manifest.json             seed, generator version, counts, sha256 of every file, digest,
                              build time

Determinism: a clip depends only on (seed, index): its action and length come from the seed, its
parameters from its own ``SeedSequence`` child. Features are computed on clips edge-padded to 200
frames in fixed batches, which gives exactly the unpadded features (the floor, frame-0 facing and
the edge-replicated facing smoothing are unchanged by repeating the last frame; a test checks it)
with one compilation. Two builds with the same arguments produce bit-identical files (the manifest
``digest`` covers all files but the manifest).

Safety: a build writes into a temporary sibling folder and renames it into place only when it is
complete, so a failed or interrupted build never replaces a good cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from motion_jax.datagen.layout import (
  features_batched,
  file_digests,
  read_manifest,
  replace_atomically,
  write_clip,
  write_manifest,
)
from motion_jax.datagen.procedural import actions as A
from motion_jax.datagen.procedural import captions as C
from motion_jax.datagen.procedural import language as L
from motion_jax.datagen.procedural import moves as M
from motion_jax.datagen.procedural import sequence as S
from motion_jax.datagen.retarget import canonicalize
from motion_jax.paths import DATA_DIR

V1, V2 = "1.0.0", "2.0.0"
GENERATOR_VERSIONS = (V1, V2)
GENERATOR_VERSION = V2  # the default; 1.0.0 stays buildable (same seed -> the same files)
DEFAULT_CLIPS = {V1: 3000, V2: 10000}
FPS = 20.0
MIN_FRAMES = A.MIN_FRAMES
MAX_FRAMES = A.MAX_FRAMES
N_CAPTIONS = 3
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_ROOT = DATA_DIR / "cache" / "text_motion"  # version 1.x (its historical place)


def default_root(version: str = GENERATOR_VERSION, clips: int | None = None) -> Path:
  """Cache folder of a build: ``data/cache/text_motion`` for 1.x at its default size (3000 clips)
  and ``text_motion_<clips>`` for other 1.x sizes; ``data/cache/text_motion_v2_<clips>`` for 2.x.
  One folder per size, so presets of different sizes (the generators' 1,200-clip quick data,
  kinmo_retrieval's 3,000) never rebuild over each other's cache."""
  clips = DEFAULT_CLIPS[check_version(version)] if clips is None else clips
  if version == V1:
    return (
      DEFAULT_ROOT if clips == DEFAULT_CLIPS[V1] else DATA_DIR / "cache" / f"text_motion_{clips}"
    )
  return DATA_DIR / "cache" / f"text_motion_v2_{clips}"


def check_version(version: str) -> str:
  if version not in GENERATOR_VERSIONS:
    raise ValueError(f"unknown generator version {version!r}; valid: {GENERATOR_VERSIONS}")
  return version


class DatasetError(ValueError):
  """A dataset file is missing, malformed, too short or non-finite (the message names it)."""


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  clip_id: str
  action: str  # version 2: the segments' actions joined by "+"
  n_frames: int  # version 2: the planned total
  entropy: tuple[int, ...]  # SeedSequence spawn key material of this clip
  sequence: S.SequenceSpec | None = None  # version 2

  @property
  def stratum(self) -> str:
    """What the splits balance: the action (1.x) or the number of segments (2.x)."""
    return self.action if self.sequence is None else str(len(self.sequence.actions))


def plan_clips(n_clips: int, seed: int, version: str = V1) -> list[ClipSpec]:
  """1.x: actions balanced (round-robin over a seeded shuffle), T uniform in [41, 200] joint
  frames (40 to 199 stored frames, 2 to 9.95 s: HumanML3D's loader keeps 40 <= N < 200).
  2.x: per clip, :func:`motion_jax.datagen.procedural.sequence.plan_sequence` on its own
  generator ``[seed, 3, index]``."""
  if n_clips < 1:
    raise ValueError(f"n_clips must be >= 1, got {n_clips}")
  if check_version(version) == V2:
    out = []
    for i in range(n_clips):
      seq = S.plan_sequence(np.random.default_rng([seed, 3, i]))
      total = sum(seq.lengths) + sum(seq.gaps)
      out.append(ClipSpec(f"proc_{i:06d}", "+".join(seq.actions), total, (seed, 3, i), seq))
    return out
  rng = np.random.default_rng([seed, 0])
  names = sorted(A.ACTIONS)
  actions = [names[i % len(names)] for i in range(n_clips)]
  actions = [actions[i] for i in rng.permutation(n_clips)]
  lengths = rng.integers(MIN_FRAMES + 1, MAX_FRAMES + 1, size=n_clips)  # T - 1 in [40, 199]
  return [
    ClipSpec(f"proc_{i:06d}", a, int(n), (int(seed), 1, i))
    for i, (a, n) in enumerate(zip(actions, lengths))
  ]


def make_clip(spec: ClipSpec) -> dict:
  """Joints (float32), parameters and text of one clip (pure function of ``spec``)."""
  if spec.sequence is not None:
    return _make_sequence_clip(spec)
  rng = np.random.default_rng(list(spec.entropy))
  joints, params, airborne = A.generate(spec.action, rng, spec.n_frames, FPS)
  joints = canonicalize(joints).astype(np.float32)
  check_joints_array(joints, spec.clip_id)
  text = C.describe(spec.action, params, rng, n_captions=N_CAPTIONS)
  params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
  return {
    "spec": spec,
    "joints": joints,
    "params": params,
    "text": text,
    "airborne_frames": int(airborne.sum()),
  }


def _make_sequence_clip(spec: ClipSpec) -> dict:
  joints, meta, airborne = S.generate_sequence(spec.sequence, spec.entropy, FPS)
  joints = canonicalize(joints).astype(np.float32)
  check_joints_array(joints, spec.clip_id)
  text = L.describe_sequence(
    meta["segments"],
    meta["style"],
    np.random.default_rng([*spec.entropy, 8]),
    N_CAPTIONS,
    vague_rng=np.random.default_rng([*spec.entropy, 7]),
  )
  segs = [
    {k: v for k, v in seg.items() if k not in ("action", "params", "start_s", "end_s")}
    | text["segments"][j]
    for j, seg in enumerate(meta["segments"])
  ]
  return {
    "spec": spec,
    "joints": joints,
    "params": {"style": meta["style"], "actions": list(spec.sequence.actions)},
    "text": text | {"segments": segs},
    "airborne_frames": int(airborne.sum()),
  }


def check_joints_array(joints: np.ndarray, name: str, min_frames: int = MIN_FRAMES) -> None:
  """Raises :class:`DatasetError` naming ``name`` for a wrong shape, too few frames or NaN."""
  if joints.ndim != 3 or joints.shape[1:] != (22, 3):
    raise DatasetError(f"{name}: joints must be [T, 22, 3], got {joints.shape}")
  if joints.shape[0] < min_frames:
    raise DatasetError(
      f"{name}: {joints.shape[0]} frames, fewer than the minimum "
      f"{min_frames} ({min_frames / FPS:.1f} s at {FPS:g} fps)"
    )
  bad = ~np.isfinite(joints).all(axis=(1, 2))
  if bad.any():
    raise DatasetError(
      f"{name}: non-finite joints in {int(bad.sum())} frames, first at frame {int(np.argmax(bad))}"
    )


# ------------------------------------------------------------------------------------------------
# Features
# ------------------------------------------------------------------------------------------------
BLOCKS = ((0, 1), (1, 3), (3, 4), (4, 67), (67, 193), (193, 259), (259, 263))


class MeanStd:
  """Streaming per-dimension mean and block-pooled std (each HumanML3D feature block gets the
  mean of its dimensions' std), floored at 1e-6; float64 sums, so memory stays constant."""

  def __init__(self, dim: int = 263):
    self.n, self.s, self.s2 = 0, np.zeros(dim), np.zeros(dim)

  def update(self, features: np.ndarray) -> None:
    f = np.asarray(features, np.float64)
    self.n += len(f)
    self.s += f.sum(0)
    self.s2 += (f * f).sum(0)

  def result(self) -> tuple[np.ndarray, np.ndarray]:
    if self.n == 0:
      raise DatasetError("no training frames to compute Mean/Std from")
    mean = self.s / self.n
    std = np.sqrt(np.maximum(self.s2 / self.n - mean * mean, 0.0))
    for a, b in BLOCKS:
      std[a:b] = std[a:b].mean()
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def mean_std(features: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """:class:`MeanStd` over a list of ``[N_i, 263]`` arrays."""
  acc = MeanStd(np.shape(features[0])[-1])
  for f in features:
    acc.update(f)
  return acc.result()


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------
def split_ids(specs: list[ClipSpec], seed: int) -> dict[str, list[str]]:
  """80/10/10 per action (1.x) or per number of segments (2.x) (seeded shuffle; at least one val
  and one test clip per stratum with three or more clips), ids sorted within each split."""
  rng = np.random.default_rng([seed, 2])
  out = {s: [] for s in SPLITS}
  for stratum in sorted({s.stratum for s in specs}):
    ids = [s.clip_id for s in specs if s.stratum == stratum]
    ids = [ids[i] for i in rng.permutation(len(ids))]
    at_least = 1 if len(ids) >= 3 else 0
    n_val = max(at_least, int(round(SPLIT_FRACTIONS[1] * len(ids))))
    n_test = max(at_least, int(round(SPLIT_FRACTIONS[2] * len(ids))))
    out["val"] += ids[:n_val]
    out["test"] += ids[n_val : n_val + n_test]
    out["train"] += ids[n_val + n_test :]
  return {k: sorted(v) for k, v in out.items()}


def _generate(specs, workers: int):
  """Clips of ``specs`` in order, generated lazily on ``workers`` processes (spawn)."""
  if workers <= 1:
    yield from map(make_clip, specs)
    return
  pool = mp.get_context("spawn").Pool(workers)
  try:
    yield from pool.imap(make_clip, specs, chunksize=8)
  finally:
    pool.terminate()
    pool.join()


CHUNK = 256  # clips generated, featurised and written per step (bounded memory)


def build(
  out: str | Path | None = None,
  clips: int | None = None,
  seed: int = 0,
  workers: int | None = None,
  progress: bool = True,
  _fail_after: int | None = None,
  version: str = V1,
) -> Path:
  """Builds the dataset into ``out`` (atomically; see module docstring). Returns ``out``.

  Args:
    out: destination folder (replaced only when the new build is complete); default
      :func:`default_root` of the version.
    clips: number of clips (default :data:`DEFAULT_CLIPS` of the version).
    seed: dataset seed.
    version: generator version, "1.0.0" (single actions, the default of this function for
      reproducing old builds) or "2.0.0" (sequences, the default of the command and the stages).
    workers: processes for joint generation (default: all cores, at most 8).
    progress: tqdm bars.
    _fail_after: testing hook, raise after generating this many clips.
  """
  from tqdm import tqdm

  t0 = time.time()
  version = check_version(version)
  clips = DEFAULT_CLIPS[version] if clips is None else clips
  out = Path(out) if out is not None else default_root(version, clips)
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{time.time_ns()}"
  workers = workers or min(os.cpu_count() or 1, 8)
  specs = plan_clips(clips, seed, version)
  splits = split_ids(specs, seed)
  splits["all"] = sorted(s.clip_id for s in specs)
  train = set(splits["train"])
  stats = MeanStd()
  frames = 0
  clips_iter = _generate(specs, workers)
  try:
    tmp.mkdir()
    bar = tqdm(total=len(specs), desc="build clips", disable=not progress)
    done = 0
    while done < len(specs):
      made = [next(clips_iter) for _ in range(min(CHUNK, len(specs) - done))]
      if _fail_after is not None and done + len(made) > _fail_after:
        raise RuntimeError(f"simulated failure after {_fail_after} clips")
      feats = features_batched([m["joints"] for m in made])
      for m, f in zip(made, feats):
        spec = m["spec"]
        if not np.isfinite(f).all():
          raise DatasetError(f"{spec.clip_id}: non-finite features")
        kinmo = {
          "id": spec.clip_id,
          "action": spec.action,
          "params": m["params"],
          "n_frames": int(len(m["joints"])),
          "fps": FPS,
          "airborne_frames": m["airborne_frames"],
          "captions": m["text"]["captions"],
          "groups": m["text"]["groups"],
          "interactions": m["text"]["interactions"],
        }
        if spec.sequence is not None:
          kinmo["actions"] = m["params"]["actions"]
          kinmo["segments"] = m["text"]["segments"]
        lines = [C.caption_line(c) for c in m["text"]["captions"]]
        write_clip(tmp, spec.clip_id, m["joints"][:-1], f, lines, kinmo)
        if spec.clip_id in train:
          stats.update(f)
        frames += len(f)
      done += len(made)
      bar.update(len(made))
    bar.close()
    for name, ids in splits.items():
      (tmp / f"{name}.txt").write_text("".join(i + "\n" for i in ids))
    mean, std = stats.result()
    np.save(tmp / "Mean.npy", mean)
    np.save(tmp / "Std.npy", std)
    if version == V1:
      per_action = {a: sum(s.action == a for s in specs) for a in sorted(A.ACTIONS)}
      extra_counts = {}
    else:
      seq_actions = [a for s in specs for a in s.sequence.actions]
      per_action = {a: seq_actions.count(a) for a in sorted(M.ACTIONS_V2)}
      extra_counts = {
        "segments_per_clip": {
          str(k): sum(len(s.sequence.actions) == k for s in specs) for k in S.SEGMENT_COUNTS
        }
      }
    write_manifest(
      tmp,
      {
        "generator": "motion_jax.datagen.procedural",
        "generator_version": version,
        "features_revision": FEATURES_REVISION,
        "seed": int(seed),
        "clips": int(clips),
        "fps": FPS,
        "counts": {
          **{k: len(v) for k, v in splits.items()},
          "per_action": per_action,
          **extra_counts,
          "frames": int(frames),
        },
        "build_seconds": round(time.time() - t0, 1),
        "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
      },
    )
    replace_atomically(tmp, out)
  finally:
    clips_iter.close()  # stops the worker pool, also on failure
    if tmp.exists():
      shutil.rmtree(tmp, ignore_errors=True)
  return out


#: Revision of the joints -> features code the stored features come from; a cache made by another
#: revision is rebuilt. 2: a frame facing exactly -Z is a half turn about +Y (revision 1 turned
#: such frames upside down, e.g. frame 45 of clip 39 of the 1.0.0 build; captions unchanged).
FEATURES_REVISION = 2


def manifest_matches(
  root: str | Path, clips: int, seed: int, verify: bool = False, version: str = V1
) -> bool:
  """True when ``root`` holds a complete build for (clips, seed, generator version).

  ``verify`` re-hashes every file against the manifest (slower)."""
  root = Path(root)
  m = read_manifest(root)
  if (
    not m
    or m.get("generator_version") != version
    or m.get("features_revision", 1) != FEATURES_REVISION
    or m.get("clips") != clips
    or m.get("seed") != seed
  ):
    return False
  files = m.get("files", {})
  if not all((root / f).is_file() for f in files):
    return False
  return not verify or file_digests(root) == files


def ensure_dataset(
  root: str | Path | None = None,
  clips: int = 3000,
  seed: int = 0,
  verify: bool = False,
  version: str = V1,
  **build_kwargs,
) -> Path:
  """Path of a built dataset for (clips, seed, version), building it when missing or stale."""
  root = Path(root) if root is not None else default_root(version, clips)
  if not manifest_matches(root, clips, seed, verify=verify, version=version):
    build(root, clips=clips, seed=seed, version=version, **build_kwargs)
  return root


# ------------------------------------------------------------------------------------------------
# Reading (shared with real HumanML3D folders)
# ------------------------------------------------------------------------------------------------
def parse_text_line(line: str, path: str | Path, lineno: int) -> dict:
  """One ``caption#tokens#start#end`` line -> dict; :class:`DatasetError` names file:line."""
  parts = line.rstrip("\n").split("#")
  if len(parts) != 4:
    raise DatasetError(
      f"{path}:{lineno}: expected 'caption#tokens#start#end' (4 fields "
      f"separated by '#'), got {len(parts)} fields: {line.strip()[:80]!r}"
    )
  caption, tokens, start, end = parts
  if not caption.strip():
    raise DatasetError(f"{path}:{lineno}: empty caption")
  try:
    start_f, end_f = float(start), float(end)
  except ValueError:
    raise DatasetError(
      f"{path}:{lineno}: start/end must be numbers, got {start!r}, {end!r}"
    ) from None
  toks = tokens.split()
  if any("/" not in t for t in toks):
    raise DatasetError(f"{path}:{lineno}: tokens must be word/POS, got {tokens[:80]!r}")
  return {"caption": caption, "tokens": toks, "start": start_f, "end": end_f}


def read_texts(path: str | Path) -> list[dict]:
  """All captions of a ``texts/<id>.txt`` file (at least one)."""
  path = Path(path)
  if not path.is_file():
    raise DatasetError(f"{path}: texts file missing")
  lines = [
    ln for ln in path.read_text(encoding="utf-8", errors="strict").splitlines() if ln.strip()
  ]
  if not lines:
    raise DatasetError(f"{path}: texts file has no captions")
  return [parse_text_line(ln, path, i + 1) for i, ln in enumerate(lines)]


def read_split(root: str | Path, split: str) -> list[str]:
  path = Path(root) / f"{split}.txt"
  if not path.is_file():
    raise DatasetError(f"{path}: split file missing")
  return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def load_clip(root: str | Path, clip_id: str, min_frames: int = MIN_FRAMES) -> dict:
  """Joints, features and captions of one clip; clear :class:`DatasetError` on bad files."""
  root = Path(root)
  jp = root / "new_joints" / f"{clip_id}.npy"
  fp = root / "new_joint_vecs" / f"{clip_id}.npy"
  for p in (jp, fp):
    if not p.is_file():
      raise DatasetError(f"{p}: missing")
  joints = np.load(jp)
  check_joints_array(joints, str(jp), min_frames)
  feats = np.load(fp)
  if feats.ndim != 2 or feats.shape[1] != 263 or len(feats) != len(joints):
    raise DatasetError(
      f"{fp}: features must be [N={len(joints)}, 263] like the joints {jp.name}, got {feats.shape}"
    )
  bad = ~np.isfinite(feats).all(1)
  if bad.any():
    raise DatasetError(
      f"{fp}: non-finite features in {int(bad.sum())} frames, first at frame {int(np.argmax(bad))}"
    )
  return {
    "id": clip_id,
    "joints": joints,
    "features": feats,
    "texts": read_texts(root / "texts" / f"{clip_id}.txt"),
  }


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--version", default=GENERATOR_VERSION, choices=GENERATOR_VERSIONS)
  ap.add_argument(
    "--out", default=None, help="default: data/cache/text_motion (1.x), text_motion_v2_<clips>"
  )
  ap.add_argument("--clips", type=int, default=None, help="default: 3000 (1.x), 10000 (2.x)")
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--workers", type=int, default=None)
  ap.add_argument("--force", action="store_true", help="rebuild even if the cache matches")
  args = ap.parse_args(argv)
  t0 = time.time()
  args.clips = args.clips or DEFAULT_CLIPS[args.version]
  args.out = args.out or str(default_root(args.version, args.clips))
  if not args.force and manifest_matches(args.out, args.clips, args.seed, version=args.version):
    print(f"{args.out}: up to date ({args.clips} clips, seed {args.seed}, {args.version})")
    return 0
  out = build(
    args.out, clips=args.clips, seed=args.seed, workers=args.workers, version=args.version
  )
  size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
  print(f"built {args.clips} clips into {out} in {time.time() - t0:.1f} s ({size / 2**20:.1f} MiB)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
