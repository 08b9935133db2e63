"""FK throughput: jitted JAX forward kinematics vs OpenSim's per-frame `realizePosition` loop.

Both compute the joint centres (child-frame origins in ground) of LaiUhlrich2022 for the frames of
the real squat motion (tiled to a larger batch for JAX), on this machine's CPU. Prints frames/s of
each and their ratio. Runs in well under a minute:

    python benchmarks/fk_throughput.py [--frames 8192] [--opensim-frames 801] [--dtype float32]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.data.formats.mot import coordinates_from_motion, read_mot
from motion_jax.paths import opencap_path
from motion_jax.skeletons import opencap
from motion_jax.skeletons.opensim_fk import make_fk
from motion_jax.skeletons.opensim_model import load_osim


def _best_rate(fn, n_frames: int, repeats: int) -> float:
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t0)
  return n_frames / best


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--frames", type=int, default=8192, help="JAX batch size (frames per call)")
  ap.add_argument("--opensim-frames", type=int, default=801, help="frames for the OpenSim loop")
  ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
  ap.add_argument("--repeats", type=int, default=5)
  args = ap.parse_args()

  path = opencap_path(opencap.LAI_UHLRICH_2022)
  model = load_osim(path)
  names = opencap.BIGE_COORDINATES
  q = coordinates_from_motion(read_mot(opencap_path(opencap.SQUATS_MOT)), model, names)  # [801, 33]

  # JAX: one jitted call on a batch of frames.
  with jax.enable_x64(args.dtype == "float64"):
    fk = jax.jit(lambda x: make_fk(model, names)(x).joint_centers)
    batch = jnp.asarray(np.resize(q, (args.frames, q.shape[1])), dtype=args.dtype)
    t0 = time.perf_counter()
    fk(batch).block_until_ready()
    compile_s = time.perf_counter() - t0
    jax_rate = _best_rate(lambda: fk(batch).block_until_ready(), args.frames, args.repeats)

  # OpenSim: set coordinates, realizePosition, read every joint's child frame position.
  import opensim as osim

  osim.Logger.removeFileSink()
  osim.Logger.setLevelString("error")
  om = osim.Model(str(path))
  state = om.initSystem()
  cs = om.getCoordinateSet()
  coords = [cs.get(n) for n in names]
  betas = [
    (cs.get("knee_angle_r_beta"), names.index("knee_angle_r")),
    (cs.get("knee_angle_l_beta"), names.index("knee_angle_l")),
  ]
  frames = [om.getJointSet().get(i).getChildFrame() for i in range(om.getJointSet().getSize())]
  rows = np.resize(q, (args.opensim_frames, q.shape[1]))

  def opensim_loop():
    out = np.empty((len(rows), len(frames), 3))
    for t, row in enumerate(rows):
      for c, v in zip(coords, row):
        c.setValue(state, float(v), False)
      for c, k in betas:
        c.setValue(state, float(row[k]), False)
      om.realizePosition(state)
      for j, f in enumerate(frames):
        out[t, j] = f.getPositionInGround(state).to_numpy()
    return out

  osim_rate = _best_rate(opensim_loop, len(rows), max(1, args.repeats // 2))

  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), dtype {args.dtype}")
  print(f"JAX FK    : {jax_rate:14,.0f} frames/s  (batch {args.frames}, compile {compile_s:.1f} s)")
  print(
    f"OpenSim FK: {osim_rate:14,.0f} frames/s  (per-frame realizePosition loop, {len(rows)} frames)"
  )
  print(f"ratio JAX/OpenSim: {jax_rate / osim_rate:.1f}x")


if __name__ == "__main__":
  main()
