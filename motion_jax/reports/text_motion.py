"""Generated text-to-motion clips: exports a person opens, and the physical-plausibility table.

`export_clips(out_dir, texts, motions)` writes, for each clip ``i``:

* ``clip_<i>.npy`` - the raw (un-normalised) HumanML3D features ``[T, 263]`` (or KIT's 251),
* ``clip_<i>_joints.npy`` - joint positions ``[T, J, 3]`` in metres from ``recover_from_ric``,
* ``clip_<i>.bvh`` - the joints as a BVH on the skeleton's tree (opens in Blender; Y up, metres),
* ``clip_<i>.gif`` - a stick-figure GIF with the caption as its banner,

and an ``index.md`` listing caption, length and files, plus ``captions.json``. Choices (not from a
paper): the BVH rest offsets are the first frame's bone vectors; the GIF plays every frame at the
skeleton's rate (``stride`` thins it for long clips).

`plausibility_table(real, generated)`: BioVAE's Table II columns
(`motion_jax.metrics.plausibility`) for the real clips and each generator, with the VC/AC band
edges taken from the real clips' spectrum, as a dict for ``results.json`` and Markdown rows.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence

import numpy as np

from motion_jax.data.formats.bvh import save_joints_as_bvh
from motion_jax.io import plots
from motion_jax.metrics import plausibility
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


def keep_first_call(fn, store: dict, label: str):
  """``fn`` (a ``generate`` function of the evaluation protocol) that also keeps the clips of its
  first call (the first repeat's set) in ``store[label]``, for `plausibility_table`."""

  def wrapped(*args):
    out = list(fn(*args))
    store.setdefault(label, out)
    return out

  return wrapped


def joints_of(motions: Sequence[np.ndarray], skeleton: SkeletonSpec = T2M) -> list[np.ndarray]:
  """Joint positions ``[T_i, J, 3]`` of raw feature clips, in one batched ``recover_from_ric``
  (clips edge-padded to the longest, then cropped back)."""
  if not motions:
    return []
  n = max(len(m) for m in motions)
  batch = np.stack(
    [np.pad(np.asarray(m, np.float32), ((0, n - len(m)), (0, 0)), mode="edge") for m in motions]
  )
  joints = np.asarray(humanml3d.recover_from_ric(batch, skeleton))
  return [joints[i, : len(m)] for i, m in enumerate(motions)]


def plausibility_table(
  real: Sequence[np.ndarray],
  generated: dict[str, Sequence[np.ndarray]],
  *,
  skeleton: SkeletonSpec = T2M,
  config: plausibility.PlausibilityConfig | None = None,
) -> dict:
  """BioVAE Table II columns for the real clips (row "Real") and each generator (raw features
  in); band edges from the real clips unless ``config`` is given. Returns ``{"config": ...,
  "rows": {label: set_metrics}}``."""
  real_joints = joints_of(real, skeleton)
  if config is None:
    low, high = plausibility.band_edges(real_joints, skeleton.fps)
    config = plausibility.PlausibilityConfig(fps=skeleton.fps, band_low_hz=low, band_high_hz=high)
  rows = {"Real": plausibility.set_metrics(real_joints, config)}
  for label, motions in generated.items():
    rows[label] = plausibility.set_metrics(joints_of(motions, skeleton), config)
  return {"config": dataclasses.asdict(config), "rows": rows}


def plausibility_markdown(table: dict) -> str:
  """The table of `plausibility_table` as Markdown (mean ± std over clips), with its settings."""
  cols = plausibility.COLUMNS
  head = "| | " + " | ".join(plausibility.LABELS[c] for c in cols) + " |"
  lines = [head, "|---" * (len(cols) + 1) + "|"]
  for label, row in table["rows"].items():
    cells = [f"{row[c]['mean']:.3f}±{row[c]['std']:.3f}" for c in cols]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  c = table["config"]
  lines.append(
    f"\nBioVAE Table II columns (Sec. IV-B), closer to Real is better; mean ± std over clips. "
    f"Float/Skating/Penetrate/Clip are frame ratios; VC/AC band {c['band_low_hz']:.2f}-"
    f"{c['band_high_hz']:.2f} Hz (from the real clips' velocity spectrum); see "
    "`motion_jax/metrics/plausibility.py` for each definition."
  )
  return "\n".join(lines) + "\n"


__all__ = [
  "export_clips",
  "joints_of",
  "keep_first_call",
  "plausibility_markdown",
  "plausibility_table",
]
