"""Exports of generated text-to-motion clips: what a person opens to look at a generator's output.

`export_clips(out_dir, texts, motions)` writes, for each clip ``i``:

* ``clip_<i>.npy`` - the raw (un-normalised) HumanML3D features ``[T, 263]`` (or KIT's 251),
* ``clip_<i>_joints.npy`` - joint positions ``[T, J, 3]`` in metres from ``recover_from_ric``,
* ``clip_<i>.bvh`` - the joints as a BVH on the skeleton's tree (opens in Blender; Y up, metres),
* ``clip_<i>.gif`` - a stick-figure GIF with the caption as its banner,

and an ``index.md`` listing caption, length and files, plus ``captions.json``. Choices (not from a
paper): the BVH rest offsets are the first frame's bone vectors; the GIF plays every frame at the
skeleton's rate (``stride`` thins it for long clips).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence

import numpy as np

from motion_jax.data.formats.bvh import save_joints_as_bvh
from motion_jax.io import plots
from motion_jax.representations import humanml3d
from motion_jax.skeletons.t2m import T2M, SkeletonSpec


def export_clips(
  out_dir: str | pathlib.Path,
  texts: Sequence[str],
  motions: Sequence[np.ndarray],
  *,
  skeleton: SkeletonSpec = T2M,
  gif: bool = True,
  stride: int = 1,
) -> pathlib.Path:
  """Write the clips (module docstring) and return ``out_dir/index.md``."""
  if len(texts) != len(motions):
    raise ValueError(f"{len(texts)} texts but {len(motions)} motions")
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  chains = [list(c) for c in skeleton.kinematic_chain]
  rows, entries = [], []
  for i, (text, feats) in enumerate(zip(texts, motions)):
    feats = np.asarray(feats, np.float32)
    if feats.ndim != 2 or feats.shape[1] != skeleton.dim_pose:
      raise ValueError(
        f"clip {i} ({text!r}): features must be [T, {skeleton.dim_pose}], got {feats.shape}"
      )
    joints = np.asarray(humanml3d.recover_from_ric(feats, skeleton))
    stem = f"clip_{i:03d}"
    np.save(out / f"{stem}.npy", feats)
    np.save(out / f"{stem}_joints.npy", joints)
    save_joints_as_bvh(
      out / f"{stem}.bvh", joints, skeleton.parents, skeleton.joint_names, fps=skeleton.fps
    )
    files = [f"{stem}.npy", f"{stem}_joints.npy", f"{stem}.bvh"]
    if gif:
      plots.save_gif(out / f"{stem}.gif", joints, chains, caption=text, fps=skeleton.fps,
                     stride=stride)  # fmt: skip
      files.append(f"{stem}.gif")
    entries.append({"clip": stem, "caption": text, "frames": int(len(feats)), "files": files})
    shown = f"![{stem}]({stem}.gif)" if gif else ""
    rows.append(f"| {stem} | {text} | {len(feats)} | {shown} |")
  (out / "captions.json").write_text(json.dumps(entries, indent=1) + "\n")
  index = out / "index.md"
  index.write_text(
    "# Generated clips\n\n"
    f"Skeleton {skeleton.name}, {skeleton.fps:g} fps. Each clip: raw features (.npy), joints in "
    "metres (_joints.npy), BVH (Blender: File > Import > BVH, Y up) and a GIF.\n\n"
    "| clip | caption | frames | |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
  )
  return index


__all__ = ["export_clips"]
