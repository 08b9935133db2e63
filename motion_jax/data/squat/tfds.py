"""TFDS builder (ArrayRecord, read without TensorFlow) for squat repetitions with muscle
activations.

One example per squat repetition, split by subject, from any source of
`motion_jax.data.squat.source` (builder configs ``embedded`` (default), ``opencap`` and ``trial``;
``manual_dir`` is the source's path, default the shipped data). The examples are
`source.to_example` of `source.repetitions`, unselected: apply `source.select` to a data source to
get exactly the examples the squat experiments use, and batch them with
`motion_jax.data.squat.loader.make_batcher`. The builder configs use `SquatDataConfig`'s defaults
(``test_fraction`` 0.25, ``min_frames`` 30); experiments with other values read the source directly.

Bad trials are skipped and counted (`motion_jax.data.formats.opencap.REASONS`, plus
``short_repetition`` for repetitions under `min_frames`); the counts are logged in one summary line
and stored in ``info.metadata["summary"]``. No example at all raises ValueError.

Metadata: ``rate``, ``coordinate_names``, ``muscle_names``, ``splits`` (subjects per split),
``examples`` (per split), ``stats`` (`motion_jax.data.squat.windows.Normaliser` statistics of the
coordinates and activations of the train split's frames: the normaliser the loader needs) and
``summary``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from motion_jax.data.squat import source as src
from motion_jax.data.squat.windows import Normaliser
from motion_jax.data.tfds_base import ArrayRecordBuilder
from motion_jax.skeletons.opencap import BIGE_COORDINATES, BIGE_MUSCLES


@dataclasses.dataclass(eq=False)
class SquatConfig(tfds.core.BuilderConfig):
  source: str = "embedded"  # one of motion_jax.data.squat.source.SOURCES
  min_frames: int = 30  # shortest repetition kept (0.5 s)
  test_fraction: float = 0.25


CONFIGS = (
  SquatConfig(
    name="embedded",
    source="embedded",
    description="Shipped synthetic subjects: real squat trial + OpenSim StaticOptimization.",
  ),
  SquatConfig(
    name="opencap",
    source="opencap",
    description="A user's OpenCap sessions (muscle-driven or IK .mot files) as manual_dir.",
  ),
  SquatConfig(
    name="trial",
    source="trial",
    description="One .mot trial (manual_dir: the file), its last repetitions held out.",
  ),
)


def data_config(cfg: SquatConfig, manual_dir: str | Path | None) -> src.SquatDataConfig:
  """The source config a builder config and manual_dir stand for."""
  return src.SquatDataConfig(
    source=cfg.source,
    path=str(manual_dir or ""),
    test_fraction=cfg.test_fraction,
    min_frames=cfg.min_frames,
  )


def stats(examples: list[dict]) -> dict:
  """Normaliser statistics of coordinates (and activations, when any example has them)."""
  q = Normaliser.fit([e["coordinates"] for e in examples])
  acts = [e["activations"] for e in examples if bool(e["has_activations"])]
  a = Normaliser.fit(acts) if acts else None
  return {
    "coordinates_mean": q.mean.tolist(),
    "coordinates_std": q.std.tolist(),
    "activations_mean": None if a is None else a.mean.tolist(),
    "activations_std": None if a is None else a.std.tolist(),
  }


def normaliser_from_metadata(metadata, kind: str = "coordinates") -> Normaliser:
  """The `Normaliser` stored in a built dataset's metadata (``kind``: coordinates|activations)."""
  s = metadata["stats"]
  if s.get(f"{kind}_mean") is None:
    raise ValueError(f"the dataset's metadata has no {kind} statistics")
  return Normaliser(
    np.asarray(s[f"{kind}_mean"], np.float32), np.asarray(s[f"{kind}_std"], np.float32)
  )


class SquatMotion(ArrayRecordBuilder):
  """Squat repetitions (BIGE layout) with muscle activations; see the module docstring.

  Read with ``builder.as_data_source()[split]`` (ArrayRecord; no TensorFlow needed).
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(CONFIGS)
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "embedded: optional, a folder written by data/build_squat_dataset.py (default data/squats). "
    "opencap: a folder of OpenCap sessions, <session>/OpenSimData/Dynamics/<trial>/"
    "kinematics_activations_<trial>_muscle_driven.mot (or OpenSimData/Kinematics/<trial>.mot). "
    "trial: optional, one .mot file (default the shipped real squat trial)."
  )

  def _info(self) -> tfds.core.DatasetInfo:
    f32 = np.float32
    return tfds.core.DatasetInfo(
      builder=self,
      description="One example per squat repetition: 33 OpenSim coordinates (degrees / metres, "
      "BIGE order) and 80 muscle activations (BIGE order) at 60 Hz.",
      features=tfds.features.FeaturesDict(
        {
          "example_id": tfds.features.Text(),
          "subject": tfds.features.Text(),
          "rep_index": tfds.features.Scalar(dtype=np.int32),
          "length": tfds.features.Scalar(dtype=np.int32),
          "coordinates": tfds.features.Tensor(
            shape=(None, len(BIGE_COORDINATES)), dtype=f32, encoding=tfds.features.Encoding.BYTES
          ),
          "activations": tfds.features.Tensor(
            shape=(None, len(BIGE_MUSCLES)), dtype=f32, encoding=tfds.features.Encoding.BYTES
          ),
          "has_activations": tfds.features.Scalar(dtype=np.bool_),
          "knee_peak_deg": tfds.features.Scalar(dtype=f32),
          "flagged_frames": tfds.features.Scalar(dtype=np.int32),
        }
      ),
      metadata=tfds.core.MetadataDict(),
      disable_shuffling=True,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg: SquatConfig = self.builder_config
    # The raw manual_dir: the public property insists on a non-empty folder, but the `trial`
    # source takes a file. None (not given) means the shipped data.
    root = getattr(dl_manager, "_manual_dir", None)
    if cfg.source == "opencap" and not root:
      raise ValueError("squat_motion/opencap needs manual_dir (the OpenCap folder)")
    reps, summary = src.repetitions(data_config(cfg, root))
    if not any(reps.values()):
      raise ValueError(f"squat_motion/{cfg.name}: no repetitions in {root}; summary: {summary}")
    md = self.info.metadata
    md["rate"] = src.RATE
    md["coordinate_names"] = list(BIGE_COORDINATES)
    md["muscle_names"] = list(BIGE_MUSCLES)
    md["splits"] = {s: sorted({r.subject for r in v}) for s, v in reps.items()}
    md["examples"] = {s: len(v) for s, v in reps.items()}
    md["stats"] = stats([src.to_example(r) for r in (reps["train"] or reps["test"])])
    md["summary"] = summary
    return {s: self._generate_examples(v) for s, v in reps.items() if v}

  def _generate_examples(self, reps: list[src.Repetition]) -> Iterator[tuple[str, dict]]:
    for r in reps:
      yield r.example_id, src.to_example(r)


def prepare(
  data_dir: str | Path,
  config: str = "embedded",
  source_dir: str | Path | None = None,
  *,
  overwrite: bool = False,
) -> SquatMotion:
  """Build (or reuse) ``squat_motion/<config>`` under `data_dir` from `source_dir` (manual_dir).

  `source_dir` defaults to the shipped data (``data/squats`` for ``embedded``, the real squat trial
  for ``trial``); ``opencap`` needs it. With `overwrite` the new build is staged and swapped in
  only after it succeeded.
  """
  if source_dir is None:
    if config == "opencap":
      raise ValueError("config 'opencap' needs source_dir (the OpenCap folder)")
    source_dir = src.SquatDataConfig(source=config).resolved_path
  return SquatMotion.prepare_from(data_dir, config, source_dir, overwrite=overwrite)


def load_data_source(data_dir: str | Path, config: str = "embedded", split: str = "train"):
  """(random-access examples, metadata) of a built dataset."""
  builder = SquatMotion(data_dir=str(data_dir), config=config)
  return builder.as_data_source(split=split), builder.info.metadata


__all__ = [
  "CONFIGS",
  "SquatConfig",
  "SquatMotion",
  "data_config",
  "load_data_source",
  "normaliser_from_metadata",
  "prepare",
  "stats",
]
