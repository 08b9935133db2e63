"""Stick-figure animations (GIF) and key-frame strips (PNG) of joint sequences.

Input: joints ``[T, J, 3]`` (metres, y up like HumanML3D by default; ``up_axis="z"`` for z-up
data) and kinematic chains (lists of joint indices, e.g. t2m ``kinematic_chain``). Every view
has a floor grid at the clip's lowest point, the root trajectory traced on the floor, the caption
as title, equal axis scales and camera bounds fixed over the whole clip.

Rendering uses matplotlib's Agg canvas directly (one figure, line data updated per frame) and
Pillow for the GIF, so a 60-frame GIF takes about a second or two.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from PIL import Image  # noqa: E402

from motion_jax.data.formats.bvh import InvalidJointsError, check_joints  # noqa: E402

# t2m chain order is (right leg, left leg, spine, right arm, left arm); right = warm, left = cool.
DEFAULT_CHAIN_COLORS = (
  "#d62728",
  "#1f77b4",
  "#333333",
  "#ff7f0e",
  "#17becf",
  "#2ca02c",
  "#9467bd",
  "#8c564b",
)


@dataclasses.dataclass(frozen=True)
class SceneBounds:
  """Axis limits in plot coordinates (x, depth, up), shared by every frame of a clip."""

  lo: np.ndarray  # [3]
  hi: np.ndarray  # [3]

  @property
  def floor(self) -> float:
    return float(self.lo[2])


def to_plot_coords(joints: np.ndarray, up_axis: str = "y") -> np.ndarray:
  """[..., 3] data coordinates -> (x, depth, up) for matplotlib's z-up 3D axes.

  y-up data (x, y, z) maps to (x, z, y); z-up data is returned unchanged.
  """
  if up_axis == "y":
    return joints[..., [0, 2, 1]]
  if up_axis == "z":
    return joints
  raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")


def scene_bounds(points: np.ndarray, margin: float = 0.25, min_extent: float = 1.0) -> SceneBounds:
  """Bounds over all frames of plot-coordinate points [T, J, 3]; floor = lowest point."""
  flat = points.reshape(-1, 3)
  lo, hi = flat.min(axis=0), flat.max(axis=0)
  center = (lo + hi) / 2
  half = np.maximum((hi - lo) / 2 + margin, min_extent / 2)
  lo_b, hi_b = center - half, center + half
  lo_b[2], hi_b[2] = lo[2], max(hi[2] + margin, lo[2] + min_extent)
  return SceneBounds(lo_b, hi_b)


def chains_from_parents(parents: Sequence[int]) -> list[list[int]]:
  """Split a kinematic tree into drawable chains (root or branch joint -> leaf or branch).

  Every bone (parent, child) appears in exactly one chain; e.g. for BVH skeletons.
  """
  kids: list[list[int]] = [[] for _ in parents]
  roots = []
  for j, p in enumerate(parents):
    (kids[p] if p >= 0 else roots).append(j)
  chains: list[list[int]] = []
  stack = [(r, c) for r in roots for c in kids[r]]
  while stack:
    start, j = stack.pop(0)
    chain = [start, j]
    while len(kids[j]) == 1:
      j = kids[j][0]
      chain.append(j)
    chains.append(chain)
    stack.extend((j, c) for c in kids[j])
  return chains


def _check_chains(chains: Sequence[Sequence[int]], num_joints: int) -> list[list[int]]:
  out = [list(map(int, c)) for c in chains]
  bad = [i for c in out for i in c if not 0 <= i < num_joints]
  if not out or any(len(c) < 2 for c in out) or bad:
    raise InvalidJointsError(
      f"chains must be lists of >= 2 joint indices in [0, {num_joints}); got {chains}"
    )
  return out


def _setup_axes(
  ax, bounds: SceneBounds, elev: float, azim: float, grid_step: float, zoom: float = 1.0
):
  ax.set_xlim(bounds.lo[0], bounds.hi[0])
  ax.set_ylim(bounds.lo[1], bounds.hi[1])
  ax.set_zlim(bounds.lo[2], bounds.hi[2])
  ax.set_box_aspect(tuple(bounds.hi - bounds.lo), zoom=zoom)  # equal scale on every axis
  ax.view_init(elev=elev, azim=azim)
  ax.set_axis_off()
  # Floor grid at the lowest point of the clip.
  xs = np.arange(np.floor(bounds.lo[0] / grid_step), np.ceil(bounds.hi[0] / grid_step) + 1)
  ys = np.arange(np.floor(bounds.lo[1] / grid_step), np.ceil(bounds.hi[1] / grid_step) + 1)
  xs = np.clip(xs * grid_step, bounds.lo[0], bounds.hi[0])
  ys = np.clip(ys * grid_step, bounds.lo[1], bounds.hi[1])
  f = bounds.floor
  for x in xs:
    ax.plot([x, x], [ys[0], ys[-1]], [f, f], color="#bbbbbb", lw=0.6, zorder=0)
  for y in ys:
    ax.plot([xs[0], xs[-1]], [y, y], [f, f], color="#bbbbbb", lw=0.6, zorder=0)


def _skeleton_lines(ax, chains, colors, lw):
  return [
    ax.plot(
      [],
      [],
      [],
      color=colors[i % len(colors)],
      lw=lw,
      marker="o",
      ms=lw * 0.9,
      solid_capstyle="round",
    )[0]
    for i in range(len(chains))
  ]


def _set_pose(lines, pose: np.ndarray, chains):
  for line, chain in zip(lines, chains):
    seg = pose[chain]
    line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])


def _prepare(joints, chains, up_axis):
  joints = check_joints(joints)
  chains = _check_chains(chains, joints.shape[1])
  pts = to_plot_coords(joints, up_axis)
  return pts, chains, scene_bounds(pts)


def _box_rows(fig, ax, bounds: SceneBounds) -> tuple[int, int]:
  """Pixel rows (top, bottom; from the image top) spanned by the projected scene box."""
  from mpl_toolkits.mplot3d import proj3d

  fig.canvas.draw()
  corners = np.array(np.meshgrid(*zip(bounds.lo, bounds.hi), indexing="ij")).reshape(3, -1)
  x2, y2, _ = proj3d.proj_transform(*corners, ax.get_proj())
  pix = ax.transData.transform(np.stack([x2, y2], axis=-1))
  height = fig.canvas.get_width_height()[1]
  return int(np.floor(height - pix[:, 1].max())), int(np.ceil(height - pix[:, 1].min()))


def render_frames(
  joints,
  chains: Sequence[Sequence[int]],
  caption: str = "",
  fps: float = 20.0,
  frame_indices: Sequence[int] | None = None,
  up_axis: str = "y",
  width_px: int = 480,
  elev: float = 15.0,
  azim: float = -65.0,
  colors: Sequence[str] = DEFAULT_CHAIN_COLORS,
  root: int = 0,
  label_frames: bool = True,
) -> np.ndarray:
  """Render frames to RGB images [N, H, W, 3] uint8 with one fixed camera for the whole clip.

  One square figure is drawn (line data updated per frame) and every image is cropped to the
  rows spanned by the projected scene box, so wide, low views of travelling clips do not waste
  space. ``frame_indices`` defaults to every frame; the root trace shows frames up to the
  current one, the dotted trace the whole clip.
  """
  pts, chains, bounds = _prepare(joints, chains, up_axis)
  indices = range(len(pts)) if frame_indices is None else [int(t) for t in frame_indices]
  dpi = 100
  fig = plt.figure(figsize=(width_px / dpi, width_px / dpi), dpi=dpi)
  canvas = FigureCanvasAgg(fig)
  ax = fig.add_axes((0, 0, 1, 1), projection="3d")
  _setup_axes(ax, bounds, elev, azim, grid_step=0.5)
  top, bottom = _box_rows(fig, ax, bounds)
  caption = _wrap(caption, width_px, fontsize=10)
  title_px = 10 + 16 * (caption.count("\n") + 1) if caption else 4
  label_px = 16 if label_frames else 4
  top, bottom = max(top - title_px, 0), min(bottom + label_px, width_px)
  fig.text(0.5, 1 - (top + 6) / width_px, caption, fontsize=10, ha="center", va="top")
  f = bounds.floor
  traj = pts[:, root]
  ax.plot(traj[:, 0], traj[:, 1], np.full(len(traj), f), color="#999999", lw=1, ls=":")
  trace = ax.plot([], [], [], color="#444444", lw=1.5)[0]
  lines = _skeleton_lines(ax, chains, colors, lw=2.0)
  label = fig.text(0.02, 1 - (bottom - 4) / width_px, "", fontsize=8, color="#555555", va="bottom")
  images = []
  for t in indices:
    _set_pose(lines, pts[t], chains)
    trace.set_data_3d(traj[: t + 1, 0], traj[: t + 1, 1], np.full(t + 1, f))
    if label_frames:
      label.set_text(f"frame {t}/{len(pts) - 1}   t = {t / fps:.2f} s")
    canvas.draw()
    images.append(np.asarray(canvas.buffer_rgba())[top:bottom, :, :3].copy())
  plt.close(fig)
  return np.stack(images)


def save_gif(
  path: str | Path,
  joints,
  chains: Sequence[Sequence[int]],
  caption: str = "",
  fps: float = 20.0,
  stride: int = 1,
  **render_kwargs,
) -> Path:
  """Write a looping stick-figure GIF of ``joints[::stride]`` (played at ``fps / stride``).

  Extra keyword arguments go to :func:`render_frames` (view angles, width, colours, up axis).
  """
  joints = check_joints(joints)
  if stride < 1:
    raise ValueError(f"stride must be >= 1, got {stride}")
  frames = render_frames(
    joints,
    chains,
    caption=caption,
    fps=fps,
    frame_indices=range(0, len(joints), stride),
    **render_kwargs,
  )
  palette_src = Image.fromarray(frames[len(frames) // 2]).quantize(colors=64)
  images = [
    Image.fromarray(f).quantize(palette=palette_src, dither=Image.Dither.NONE) for f in frames
  ]
  path = Path(path)
  images[0].save(
    path,
    save_all=True,
    append_images=images[1:],
    loop=0,
    duration=int(round(1000 * stride / fps)),
    disposal=1,
  )
  return path


def keyframe_indices(num_frames: int, num_keys: int) -> np.ndarray:
  """``num_keys`` evenly spaced frame indices including the first and the last."""
  return np.unique(np.linspace(0, num_frames - 1, num_keys).round().astype(int))


def _wrap(text: str, width_px: int, fontsize: float) -> str:
  """Wrap text to lines that fit ``width_px`` (about 0.6 em per character)."""
  if not text:
    return text
  return textwrap.fill(text, width=max(int(width_px / (0.6 * fontsize * 100 / 72)), 10))


def _caption_banner(caption: str, width: int) -> np.ndarray:
  caption = _wrap(caption, width, fontsize=12)
  height = 12 + 20 * (caption.count("\n") + 1)
  dpi = 100
  fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
  canvas = FigureCanvasAgg(fig)
  fig.text(0.5, 0.5, caption, fontsize=12, ha="center", va="center")
  canvas.draw()
  image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
  plt.close(fig)
  return image


def save_keyframe_strip(
  path: str | Path,
  joints,
  chains: Sequence[Sequence[int]],
  caption: str = "",
  fps: float = 20.0,
  num_keys: int = 6,
  panel_px: int = 360,
  **render_kwargs,
) -> Path:
  """A PNG row of ``num_keys`` key frames under the caption; every panel has the same fixed
  camera (clip bounds), the floor grid and the root trace up to its frame."""
  joints = check_joints(joints)
  keys = keyframe_indices(len(joints), num_keys)
  panels = render_frames(
    joints, chains, caption="", fps=fps, frame_indices=keys, width_px=panel_px, **render_kwargs
  )
  sep = np.full((panels.shape[1], 2, 3), 220, np.uint8)  # thin grey divider
  row = np.concatenate([p for k in panels for p in (k, sep)][:-1], axis=1)
  if caption:
    row = np.concatenate([_caption_banner(caption, row.shape[1]), row], axis=0)
  path = Path(path)
  Image.fromarray(row).save(path)
  return path
