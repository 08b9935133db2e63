"""Text-motion data for the stages that train on it (retrieval, the generation evaluator).

`load(cfg, workdir)`: the dataset folder the config names (the embedded procedural dataset, built
on first use by `motion_jax.datagen.procedural.ensure_dataset`, or a user's HumanML3D folder),
prepared for training (`motion_jax.data.text_motion.preparation.prepare`).
`text_features(data, path)`: frozen MiniLM features of every sentence of the dataset, cached.
`text_encoder_choice(spec)`: the generators' text encoder, ``'minilm'`` (the pretrained
all-MiniLM-L6-v2) or ``'moclip:<workdir>[@<run>]'`` (a MoCLIP student trained by the ``moclip``
experiment in ``<workdir>``; ``run`` defaults to `DEFAULT_MOCLIP_RUN`, the paper's lambda 0.4). Its
features go to their own cache file, so the evaluator's MiniLM features are never mixed with them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from collections.abc import Callable

from motion_jax.data.text_motion import features as tf_lib
from motion_jax.data.text_motion.preparation import (
  TextMotionData,
  TextMotionDataConfig,
  collect_sentences,
  prepare,
)


def dataset_root(cfg: TextMotionDataConfig, workdir: str | pathlib.Path) -> pathlib.Path:
  from motion_jax.datagen.procedural.build import default_root

  if cfg.root == "workdir":
    return pathlib.Path(workdir) / "dataset"
  return pathlib.Path(cfg.root) if cfg.root else default_root(cfg.version, cfg.clips)


def load(cfg: TextMotionDataConfig, workdir: str | pathlib.Path) -> TextMotionData:
  """The configured dataset (procedural ones built when missing) and its TFDS build in `workdir`."""
  root = dataset_root(cfg, workdir)
  if not cfg.root or cfg.root == "workdir" or (root / "manifest.json").exists():
    from motion_jax.datagen.procedural import ensure_dataset

    root = ensure_dataset(root, clips=cfg.clips, seed=cfg.seed, version=cfg.version)
  return prepare(root, workdir)


def text_features(
  data: TextMotionData,
  path: str | pathlib.Path,
  *,
  kinmo: bool = True,
  encoder: tf_lib.EncoderFn | None = None,
  encoder_name: str = tf_lib.MINILM,
) -> tuple[tf_lib.TextFeatures, list[str], list[str]]:
  """Cached text features of every sentence of every split (MiniLM unless `encoder` is given),
  with the caption and KinMo-description lists of `collect_sentences`."""
  captions, kinmo_texts = collect_sentences(data)
  sentences = sorted(set(captions) | (set(kinmo_texts) if kinmo else set()))
  if encoder is None:
    from motion_jax.models.text_encoder import minilm_encoder

    encoder = minilm_encoder()
  feats = tf_lib.ensure_text_features(path, sentences, encoder=encoder, encoder_name=encoder_name)
  return feats, captions, kinmo_texts


DEFAULT_FEATURES_FILE = "text_features.npz"
DEFAULT_MOCLIP_RUN = "lambda_0.4"  # MoCLIP's lambda for MoMask and BAMM (moclip.txt Tab. 2)


@dataclasses.dataclass(frozen=True)
class TextEncoderChoice:
  """A generator's text encoder: ``name`` (stored in its feature cache and so in every stage
  fingerprint that records the features' encoder), the cache ``filename`` in the workdir, and
  ``load`` (None: MiniLM) giving the `PretrainedTextEncoder` on first use."""

  spec: str
  name: str
  filename: str
  load: Callable | None = None
  run: str = ""  # the MoCLIP run ('' for MiniLM)

  @property
  def is_default(self) -> bool:
    return self.load is None

  @property
  def label(self) -> str:
    """The suffix of a generator's row label: '' (MiniLM), ' +MoCLIP' (the default run) or
    ' +MoCLIP@<run>' (another run, so that rows from several runs stay apart in one table)."""
    if self.is_default:
      return ""
    return " +MoCLIP" if self.run == DEFAULT_MOCLIP_RUN else f" +MoCLIP@{self.run}"

  def encoder(self) -> tf_lib.EncoderFn:
    from motion_jax.models import text_encoder as te

    return te.minilm_encoder() if self.load is None else te.sentence_encoder(self.load)


def text_encoder_choice(spec: str) -> TextEncoderChoice:
  """Parses ``'minilm'`` or ``'moclip:<workdir>[@<run>]'`` (module docstring); a missing MoCLIP
  run is an error naming the folder, raised here rather than after the generator has trained."""
  if spec == "minilm":
    return TextEncoderChoice(spec, tf_lib.MINILM, DEFAULT_FEATURES_FILE)
  if not spec.startswith("moclip:") or spec == "moclip:":
    raise ValueError(
      f"text_encoder: 'minilm' or 'moclip:<workdir>[@<run>]' (a moclip experiment's workdir), "
      f"got {spec!r}"
    )
  folder, _, run = spec[len("moclip:") :].partition("@")
  run = run or DEFAULT_MOCLIP_RUN
  from motion_jax.stages import moclip as moclip_stage

  record = moclip_stage.student_record(folder, run)  # raises, naming the file, when absent
  digest = hashlib.sha256(record.encode("utf-8")).hexdigest()[:12]
  name = f"moclip:{pathlib.Path(folder).resolve()}@{run}#{digest}"

  def load():
    return moclip_stage.load_student(folder, run)

  return TextEncoderChoice(spec, name, f"text_features_moclip_{digest}.npz", load, run)


__all__ = [
  "DEFAULT_FEATURES_FILE",
  "DEFAULT_MOCLIP_RUN",
  "TextEncoderChoice",
  "dataset_root",
  "load",
  "text_encoder_choice",
  "text_features",
]
