"""FK throughput: jitted JAX forward kinematics vs OpenSim's per-frame `realizePosition` loop.

Both compute the joint centres (child-frame origins in ground) of LaiUhlrich2022 for the frames of
the real squat motion (tiled to a larger batch for JAX), on this machine's CPU. One row per JAX
implementation (`opensim_fk` impl "levels", the default, and "unrolled"; see that module's doc):
frames/s of each, OpenSim's, their ratio, the compile time, and the frames/s of the gradient of
sum(joint centres^2) (what guidance pays) for scale. Runs in about a minute:

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
from motion_jax.skeletons.opensim_fk import IMPLS, make_fk
from motion_jax.skeletons.opensim_model import load_osim


def _best_rate(fn, n_frames: int, repeats: int) -> float:
  return n_frames / best_seconds(fn, repeats)


def measure(
  frames: int = 8192, opensim_frames: int = 801, dtype: str = "float32", repeats: int = 10
) -> list[Row]:
  """One row: JAX FK frames/s (one jitted call on `frames` frames) vs OpenSim's per-frame loop."""
  path = opencap_path(opencap.LAI_UHLRICH_2022)
  model = load_osim(path)
  names = opencap.BIGE_COORDINATES
  q = coordinates_from_motion(read_mot(opencap_path(opencap.SQUATS_MOT)), model, names)  # [801, 33]

  # JAX: one jitted call on a batch of frames, per implementation; and its gradient.
  jax_rates, compile_s, grad_rates = {}, {}, {}
  with jax.enable_x64(dtype == "float64"):
    batch = jnp.asarray(np.resize(q, (frames, q.shape[1])), dtype=dtype)
    for impl in IMPLS:
      fk = jax.jit(lambda x, impl=impl: make_fk(model, names, impl)(x).joint_centers)
      t0 = time.perf_counter()
      fk(batch).block_until_ready()
      compile_s[impl] = time.perf_counter() - t0
      jax_rates[impl] = _best_rate(lambda fk=fk: fk(batch).block_until_ready(), frames, repeats)
      grad = jax.jit(
        jax.grad(lambda x, impl=impl: jnp.sum(make_fk(model, names, impl)(x).joint_centers ** 2))
      )
      grad(batch).block_until_ready()
      grad_rates[impl] = _best_rate(lambda g=grad: g(batch).block_until_ready(), frames, repeats)

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
      workload=f"forward kinematics (LaiUhlrich2022 joint centres), impl {impl!r}",
      size=f"batch {frames}, {dtype}; OpenSim {len(rows)} frames",
      ours=jax_rates[impl],
      unit="frame/s",
      reference="OpenSim loop",
      ref_value=osim_rate,
      target_ratio=100.0,
      notes=(
        f"one jitted call vs per-frame realizePosition; compile {compile_s[impl]:.1f} s; "
        f"gradient {grad_rates[impl]:,.0f} frame/s"
      ),
    )
    for impl in IMPLS
  ]


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--frames", type=int, default=8192, help="JAX batch size (frames per call)")
  ap.add_argument("--opensim-frames", type=int, default=801, help="frames for the OpenSim loop")
  ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
  ap.add_argument("--repeats", type=int, default=10)
  args = ap.parse_args()
  rows = measure(args.frames, args.opensim_frames, args.dtype, args.repeats)
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), dtype {args.dtype}")
  for impl, r in zip(IMPLS, rows):
    notes = "; ".join(r.notes.split("; ")[1:])
    print(f"JAX FK {impl:9s}: {r.ours:12,.0f} frames/s  (batch {args.frames}; {notes})")
  print(
    f"OpenSim FK      : {rows[0].ref_value:12,.0f} frames/s  (per-frame realizePosition loop, "
    f"{args.opensim_frames} frames)"
  )
  for impl, r in zip(IMPLS, rows):
    print(f"ratio JAX ({impl})/OpenSim: {r.ratio:.1f}x")


if __name__ == "__main__":
  main()
