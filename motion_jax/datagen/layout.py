"""Datasets in the HumanML3D folder layout, written safely: the helpers the procedural generator
(`motion_jax.datagen.procedural.build`) and the real evaluation set (`motion_jax.datagen.retarget`)
share.

* `features_batched`: HumanML3D 263-dim features of joint clips in fixed-size jitted batches.
* `write_clip`: ``new_joints/<id>.npy``, ``new_joint_vecs/<id>.npy``, ``texts/<id>.txt`` (and
  ``kinmo/<id>.json``) of one clip.
* `write_manifest` / `read_manifest`: a manifest with the sha256 of every file and their digest.
* `replace_atomically`: swap a finished temporary folder into place (the old one is deleted only
  after the new one is there).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

FEATURE_BATCH = 32
MAX_FRAMES = 200  # HumanML3D keeps clips shorter than 200 frames (20 fps)


def pad_edge(joints: np.ndarray, length: int) -> np.ndarray:
  """Repeats the last frame up to ``length`` frames."""
  return np.concatenate([joints, np.repeat(joints[-1:], length - len(joints), 0)], 0)


def features_batched(
  clips: list[np.ndarray],
  retarget: bool = False,
  batch: int = FEATURE_BATCH,
  pad_to: int = MAX_FRAMES,
) -> list[np.ndarray]:
  """HumanML3D features ``[T_i - 1, 263]`` float32 of each ``[T_i, 22, 3]`` clip.

  Clips are edge-padded to ``pad_to`` frames and run in fixed ``batch``-sized calls of
  :func:`motion_jax.representations.humanml3d.joints_to_features` (one compilation).
  """
  from motion_jax.representations.humanml3d import joints_to_features

  out = []
  for a in range(0, len(clips), batch):
    chunk = clips[a : a + batch]
    arr = np.stack([pad_edge(np.asarray(c, np.float32), pad_to) for c in chunk])
    if len(chunk) < batch:
      arr = np.concatenate([arr, np.repeat(arr[-1:], batch - len(chunk), 0)])
    feats = np.asarray(joints_to_features(arr, retarget=retarget), np.float32)
    out += [feats[i, : len(c) - 1] for i, c in enumerate(chunk)]
  return out


def write_clip(
  root: Path,
  clip_id: str,
  joints: np.ndarray,
  features: np.ndarray,
  caption_lines: list[str],
  kinmo: dict | None = None,
) -> None:
  """Writes one clip in the HumanML3D layout (and ``kinmo/<id>.json`` when given); each caption
  line is a formatted ``caption#tokens#start#end`` line."""
  for sub in ("new_joints", "new_joint_vecs", "texts"):
    (root / sub).mkdir(parents=True, exist_ok=True)
  np.save(root / "new_joints" / f"{clip_id}.npy", np.asarray(joints, np.float32))
  np.save(root / "new_joint_vecs" / f"{clip_id}.npy", np.asarray(features, np.float32))
  (root / "texts" / f"{clip_id}.txt").write_text("".join(line + "\n" for line in caption_lines))
  if kinmo is not None:
    (root / "kinmo").mkdir(exist_ok=True)
    (root / "kinmo" / f"{clip_id}.json").write_text(json.dumps(kinmo, indent=1, sort_keys=True))


def file_digests(root: Path) -> dict[str, str]:
  """sha256 of every file under ``root`` except ``manifest.json`` (relative posix paths)."""
  out = {}
  for p in sorted(root.rglob("*")):
    if p.is_file() and p.name != "manifest.json":
      out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
  return out


def digest_of(files: dict[str, str]) -> str:
  h = hashlib.sha256()
  for k in sorted(files):
    h.update(f"{k}\0{files[k]}\n".encode())
  return h.hexdigest()


def write_manifest(root: Path, info: dict) -> dict:
  files = file_digests(root)
  manifest = dict(info, files=files, digest=digest_of(files), n_files=len(files))
  (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
  return manifest


def replace_atomically(tmp: Path, out: Path) -> None:
  """Moves a finished ``tmp`` folder to ``out``; an existing ``out`` is swapped out first and
  deleted only after the new one is in place."""
  old = None
  if out.exists():
    old = out.parent / f".{out.name}.old-{os.getpid()}-{time.time_ns()}"
    os.replace(out, old)
  try:
    os.replace(tmp, out)
  except BaseException:
    if old is not None:
      os.replace(old, out)
    raise
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(root: str | Path) -> dict | None:
  """The parsed ``manifest.json`` or None when missing/unreadable."""
  try:
    return json.loads((Path(root) / "manifest.json").read_text())
  except (OSError, ValueError):
    return None
