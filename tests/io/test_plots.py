"""Stick-figure GIF and key-frame strip of the real HumanML3D clip 012314."""

import json
import time

import numpy as np
import pytest
from PIL import Image

from motion_jax.data.formats.bvh import InvalidJointsError
from motion_jax.io import plots
from motion_jax.paths import DATA_DIR

DATA = DATA_DIR
HML = DATA / "humanml3d"


@pytest.fixture(scope="module")
def clip():
  joints = np.load(HML / "new_joints" / "012314.npy")  # [170, 22, 3], y up, 20 fps
  chains = json.loads((HML / "skeleton_constants.json").read_text())["t2m"]["kinematic_chain"]
  return joints, chains


def _rgb(hex_color):
  return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])


def _mask(image, hex_color, tol=40):
  return np.abs(image.astype(int) - _rgb(hex_color)).sum(-1) < tol


def test_gif_of_real_clip(clip, tmp_path):
  joints, chains = clip
  start = time.perf_counter()
  path = plots.save_gif(
    tmp_path / "012314.gif", joints[:60], chains, caption="HumanML3D 012314 (first 3 s)", fps=20
  )
  elapsed = time.perf_counter() - start
  print(f"60-frame GIF in {elapsed:.2f} s")
  assert elapsed < 15  # a few seconds on a shared CPU
  with Image.open(path) as gif:
    assert gif.n_frames == 60
    assert gif.info["duration"] == 50 and gif.info.get("loop") == 0
    frames = []
    for i in (0, 59):
      gif.seek(i)
      frames.append(np.asarray(gif.convert("RGB")))
  first, last = frames
  assert np.mean(np.any(first != last, axis=-1)) > 0.002  # the figure moves
  # Fixed camera: the floor grid is drawn at the same pixels in the first and last frame.
  g0, g1 = _mask(first, "#bbbbbb", 30), _mask(last, "#bbbbbb", 30)
  assert g0.sum() > 200
  assert (g0 & g1).sum() / (g0 | g1).sum() > 0.6
  # Left and right legs are drawn in their own colours.
  for color in plots.DEFAULT_CHAIN_COLORS[:2]:
    assert _mask(first, color).sum() > 20


def test_keyframe_strip_of_real_clip(clip, tmp_path):
  joints, chains = clip
  path = plots.save_keyframe_strip(
    tmp_path / "012314.png",
    joints,
    chains,
    caption="HumanML3D 012314",
    fps=20,
    num_keys=5,
    panel_px=200,
  )
  image = np.asarray(Image.open(path).convert("RGB"))
  assert image.shape[1] == 5 * 200 + 4 * 2  # five panels and four 2-px dividers
  assert image.shape[0] < 200  # cropped to the projected scene box plus the caption banner
  panels = [image[30:, i * 202 : i * 202 + 200] for i in range(5)]
  # The caption banner has dark text pixels.
  assert (image[:30] < 100).any()
  for panel in panels:  # each panel shows a skeleton (spine colour) and the floor grid
    assert _mask(panel, plots.DEFAULT_CHAIN_COLORS[2]).sum() > 20
    assert _mask(panel, "#bbbbbb", 30).sum() > 100
  # The root trace grows: more dark trace pixels in the last panel than in the first.
  assert _mask(panels[-1], "#444444", 20).sum() > _mask(panels[0], "#444444", 20).sum()
  np.testing.assert_array_equal(plots.keyframe_indices(170, 5), [0, 42, 84, 127, 169])


def test_coordinates_and_bounds():
  pts = np.array([[[1.0, 2.0, 3.0]]])
  np.testing.assert_array_equal(plots.to_plot_coords(pts, "y"), [[[1.0, 3.0, 2.0]]])
  np.testing.assert_array_equal(plots.to_plot_coords(pts, "z"), pts)
  b = plots.scene_bounds(np.array([[[0, 0, 0.1], [4, 1, 1.8]]]), margin=0.2)
  assert b.floor == pytest.approx(0.1)
  np.testing.assert_allclose(b.lo[:2], [-0.2, -0.2])
  np.testing.assert_allclose(b.hi, [4.2, 1.2, 2.0])
  with pytest.raises(ValueError, match="up_axis"):
    plots.to_plot_coords(pts, "x")


def test_bad_inputs(clip, tmp_path):
  joints, chains = clip
  with pytest.raises(InvalidJointsError, match=r"\[T, J, 3\]"):
    plots.save_gif(tmp_path / "x.gif", joints[0], chains)
  bad = joints[:4].copy()
  bad[2, 0, 0] = np.nan
  with pytest.raises(InvalidJointsError, match=r"non-finite.*\[2\]"):
    plots.save_keyframe_strip(tmp_path / "x.png", bad, chains)
  with pytest.raises(InvalidJointsError, match="chains"):
    plots.save_keyframe_strip(tmp_path / "x.png", joints[:4], [[0, 30]])


def test_chains_from_parents_cover_every_bone_once():
  consts = json.loads((HML / "skeleton_constants.json").read_text())["t2m"]
  parents = [-1] * 22
  for chain in consts["kinematic_chain"]:
    for a, b in zip(chain[:-1], chain[1:]):
      parents[b] = a
  chains = plots.chains_from_parents(parents)
  edges = [(a, b) for c in chains for a, b in zip(c[:-1], c[1:])]
  assert sorted(edges) == sorted((p, j) for j, p in enumerate(parents) if p >= 0)
  assert [0, 1, 4, 7, 10] in chains and [9, 13, 16, 18, 20] in chains


def test_gif_of_generated_clip(tmp_path, clip):
  """A procedural jumping jack rendered as a GIF: 40 frames, the figure moves, and the drawn
  figure reaches higher in the frame where the wrists are above the head (the fixed camera itself
  is checked on the real clip above)."""
  from motion_jax.datagen.procedural.actions import generate

  _, chains = clip
  joints, _, _ = generate("jumping_jacks", np.random.default_rng(3), n_frames=40)
  joints = np.asarray(joints[:40], np.float32)
  head, wrists = joints[:, 15, 1], joints[:, [20, 21], 1].max(-1)
  down, up = int(np.argmin(wrists - head)), int(np.argmax(wrists - head))
  assert wrists[up] > head[up] + 0.1 and wrists[down] < head[down] - 0.3
  path = plots.save_gif(
    tmp_path / "jacks.gif", joints, chains, caption="procedural: jumping jacks", fps=20
  )

  def frame(i):
    gif.seek(i)
    return np.asarray(gif.convert("RGB"))

  with Image.open(path) as gif:
    assert gif.n_frames == 40
    f_down, f_up = frame(down), frame(up)
  assert np.mean(np.any(f_down != f_up, axis=-1)) > 0.002

  def top_of_figure(image):  # first row (below the title) holding strongly coloured pixels
    body = image[60:].astype(int)
    coloured = (body.max(-1) - body.min(-1)) > 80
    return 60 + int(np.argmax(coloured.any(-1)))

  assert top_of_figure(f_up) < top_of_figure(f_down) - 5
