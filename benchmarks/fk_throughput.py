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
from common import Row, best_seconds

from motion_jax.data.formats.mot import coordinates_from_motion, read_mot
from motion_jax.paths import opencap_path
from motion_jax.skeletons import opencap
from motion_jax.skeletons.opensim_fk import make_fk
from motion_jax.skeletons.opensim_model import load_osim


def _best_rate(fn, n_frames: int, repeats: int) -> float:
  return n_frames / best_seconds(fn, repeats)


def measure(
  frames: int = 8192, opensim_frames: int = 801, dtype: str = "float32", repeats: int = 5
) -> list[Row]:
  """One row: JAX FK frames/s (one jitted call on `frames` frames) vs OpenSim's per-frame loop."""
  path = opencap_path(opencap.LAI_UHLRICH_2022)
  model = load_osim(path)
  names = opencap.BIGE_COORDINATES
  q = coordinates_from_motion(read_mot(opencap_path(opencap.SQUATS_MOT)), model, names)  # [801, 33]

  # JAX: one jitted call on a batch of frames.
  with jax.enable_x64(dtype == "float64"):
    fk = jax.jit(lambda x: make_fk(model, names)(x).joint_centers)
    batch = jnp.asarray(np.resize(q, (frames, q.shape[1])), dtype=dtype)
    t0 = time.perf_counter()
    fk(batch).block_until_ready()
    compile_s = time.perf_counter() - t0
    jax_rate = _best_rate(lambda: fk(batch).block_until_ready(), frames, repeats)

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
  joint_frames = [
    om.getJointSet().get(i).getChildFrame() for i in range(om.getJointSet().getSize())
  ]
  rows = np.resize(q, (opensim_frames, q.shape[1]))

  def opensim_loop():
    out = np.empty((len(rows), len(joint_frames), 3))
    for t, row in enumerate(rows):
      for c, v in zip(coords, row):
        c.setValue(state, float(v), False)
      for c, k in betas:
        c.setValue(state, float(row[k]), False)
      om.realizePosition(state)
      for j, f in enumerate(joint_frames):
        out[t, j] = f.getPositionInGround(state).to_numpy()
    return out

  osim_rate = _best_rate(opensim_loop, len(rows), max(1, repeats // 2))
  return [
    Row(
      workload="forward kinematics (LaiUhlrich2022 joint centres)",
      size=f"batch {frames}, {dtype}; OpenSim {len(rows)} frames",
      ours=jax_rate,
      unit="frame/s",
      reference="OpenSim loop",
      ref_value=osim_rate,
      target_ratio=100.0,
      notes=f"one jitted call vs per-frame realizePosition; compile {compile_s:.1f} s",
    )
  ]


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--frames", type=int, default=8192, help="JAX batch size (frames per call)")
  ap.add_argument("--opensim-frames", type=int, default=801, help="frames for the OpenSim loop")
  ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
  ap.add_argument("--repeats", type=int, default=5)
  args = ap.parse_args()
  (r,) = measure(args.frames, args.opensim_frames, args.dtype, args.repeats)
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), dtype {args.dtype}")
  compile_note = r.notes.rsplit("; ", 1)[-1]
  print(f"JAX FK    : {r.ours:14,.0f} frames/s  (batch {args.frames}, {compile_note})")
  print(
    f"OpenSim FK: {r.ref_value:14,.0f} frames/s  (per-frame realizePosition loop, "
    f"{args.opensim_frames} frames)"
  )
  print(f"ratio JAX/OpenSim: {r.ratio:.1f}x")


if __name__ == "__main__":
  main()
