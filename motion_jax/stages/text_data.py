"""Text-motion data for the stages that train on it (retrieval, the generation evaluator).

`load(cfg, workdir)`: the dataset folder the config names (the embedded procedural dataset, built
on first use by `motion_jax.datagen.procedural.ensure_dataset`, or a user's HumanML3D folder),
prepared for training (`motion_jax.data.text_motion.preparation.prepare`).
`text_features(data, path)`: frozen MiniLM features of every sentence of the dataset, cached.
"""

from __future__ import annotations

import pathlib

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
) -> tuple[tf_lib.TextFeatures, list[str], list[str]]:
  """Cached text features of every sentence of every split (MiniLM unless `encoder` is given),
  with the caption and KinMo-description lists of `collect_sentences`."""
  captions, kinmo_texts = collect_sentences(data)
  sentences = sorted(set(captions) | (set(kinmo_texts) if kinmo else set()))
  if encoder is None:
    from motion_jax.models.text_encoder import minilm_encoder

    encoder = minilm_encoder()
  feats = tf_lib.ensure_text_features(path, sentences, encoder=encoder)
  return feats, captions, kinmo_texts


__all__ = ["dataset_root", "load", "text_features"]
