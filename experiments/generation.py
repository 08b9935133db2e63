"""Generation from a trained workdir, shared by the text-to-motion generators (t2m_diffusion,
momask, t2m_gpt): the ``generate`` config block, caption and length parsing, captions the
feature cache lacks, and the export of the clips with a ``generation.json``.

Also MoCLIP's drop-in text encoder (moclip.txt Sec. 4.3), shared by the same generators: the
``text_encoder`` / ``text_finetune`` fields' check (`check_text_encoder`), the fine-tuning
schedule (`TextFinetuneConfig`, `finetune_stage_config`), the fine-tuned stages' names and
fingerprints (`finetune_stages`) and the other encoder's features with the width check
(`dropin_features`).

Not an experiment (launch.py does not list it): experiments import it, as they import presets.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from motion_jax.config import to_dict
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.data.text_motion import preparation as prep
from motion_jax.io import report
from motion_jax.reports import text_motion as text_motion_report
from motion_jax.stages import text_data
from motion_jax.train import artifacts


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
  """Generation from a trained workdir, and the clips exported after an evaluation.

  ``texts`` (captions separated by ``|``) switches the run to generation only: the trained model
  of the workdir (same preset and overrides as its training run) samples each caption at
  ``lengths`` (frames, comma separated, one per caption or one for all; when empty, each
  experiment's default: t2m_diffusion the median training length, momask the length estimator,
  t2m_gpt the End token), ``samples`` times, and the clips go to ``<workdir>/<out>/``
  (`export_clips`: features, joints, BVH, GIF) with a ``generation.json``. Nothing is trained or
  evaluated. After an evaluation run, the first ``export_clips`` test captions are exported to
  ``<workdir>/samples/``.
  """

  texts: str = ""
  lengths: str = ""
  samples: int = 1
  out: str = "generated"
  export_clips: int = 4

  def captions(self) -> list[str]:
    """The captions of ``texts``, once each (ValueError when there is none)."""
    texts = [t.strip() for t in self.texts.split("|") if t.strip()]
    if not texts:
      raise ValueError("generate.texts: no caption (separate captions with '|')")
    if self.samples < 1:
      raise ValueError(f"generate.samples must be >= 1, got {self.samples}")
    return texts

  def frame_counts(self, num_captions: int) -> list[int] | None:
    """``lengths`` as one frame count per caption, or None when it is empty."""
    try:
      lengths = [int(x) for x in self.lengths.split(",") if x.strip()]
    except ValueError as e:
      raise ValueError(
        f"generate.lengths: comma-separated frame counts, got {self.lengths!r}"
      ) from e
    if not lengths:
      return None
    if len(lengths) == 1:
      lengths = lengths * num_captions
    if len(lengths) != num_captions:
      raise ValueError(f"generate.lengths: {len(lengths)} lengths for {num_captions} captions")
    return lengths

  def repeat(self, items: Sequence) -> list:
    """Each item ``samples`` times in a row (one per generated clip)."""
    return [x for x in items for _ in range(self.samples)]

  def parse(self, default_length: int) -> tuple[list[str], list[int]]:
    """(caption, frames) of every clip; ``default_length`` when ``lengths`` is empty."""
    texts = self.captions()
    lengths = self.frame_counts(len(texts)) or [default_length] * len(texts)
    return self.repeat(texts), self.repeat(lengths)


def load_trained_stage(workdir: pathlib.Path, name: str, fingerprint, experiment: str) -> dict:
  """The arrays of the workdir's stage ``name`` trained with ``fingerprint``: FileNotFoundError
  telling the user to train ``experiment`` first, ValueError naming the changed keys."""
  return load_trained_result(workdir, name, fingerprint, experiment).arrays


def load_trained_result(
  workdir: pathlib.Path, name: str, fingerprint, experiment: str
) -> artifacts.StageResult:
  """`load_trained_stage`'s whole `artifacts.StageResult` (arrays, info, fingerprint digest)."""
  try:
    return artifacts.load_matching_stage(workdir, name, fingerprint)
  except FileNotFoundError as e:
    raise FileNotFoundError(
      f"{e}. Train first: python launch.py --experiment={experiment}[:PRESET] --workdir={workdir}"
    ) from None
  except ValueError as e:
    raise ValueError(f"{e}; pass the preset and overrides it was trained with") from None


def token_frames(lengths: Sequence[int], unit: int, max_length: int) -> np.ndarray:
  """Frame counts rounded down to the token unit (``unit`` frames a token) and clipped to
  ``max_length``; ValueError for a length shorter than one token."""
  lengths = np.asarray(lengths, int)
  short = lengths[lengths < unit]
  if short.size:
    raise ValueError(
      f"generate.lengths: {short.tolist()} frame(s) is shorter than one token ({unit} frames)"
    )
  return np.minimum(lengths // unit * unit, max_length // unit * unit)


def with_captions(
  features_path: pathlib.Path,
  feats: tf_lib.TextFeatures,
  texts: Sequence[str],
  encoder: tf_lib.EncoderFn | None = None,
  encoder_name: str = tf_lib.MINILM,
):
  """``feats`` with the sentence features of ``texts`` it lacks, encoded by ``encoder`` (MiniLM
  when None, loaded only when a caption is missing) into the cache at ``features_path``."""
  missing = sorted({t for t in texts if tf_lib.sentence_key(t) not in feats.index})
  if not missing:
    return feats
  if encoder is None:
    from motion_jax.models.text_encoder import minilm_encoder

    encoder = minilm_encoder()
  return tf_lib.ensure_text_features(
    features_path, missing, encoder=encoder, encoder_name=encoder_name
  )


def write_generated(out_dir: pathlib.Path, texts, lengths, motions, config, t0: float) -> dict:
  """Clips via `export_clips` into ``out_dir`` and ``generation.json`` (texts, lengths, seed,
  config, seconds since ``t0``, a `time.perf_counter` reading); returns that record."""
  index = text_motion_report.export_clips(out_dir, texts, motions)
  seconds = time.perf_counter() - t0
  out = {"texts": list(texts), "lengths": [int(n) for n in lengths], "index": str(index),
         "seconds": seconds, "config": to_dict(config), "seed": config.seed}  # fmt: skip
  report.write_json(out_dir / "generation.json", out)
  print(f"{len(texts)} clip(s) in {seconds:.1f} s: {index}")
  return out


@dataclasses.dataclass(frozen=True)
class TextFinetuneConfig:
  """MoCLIP's drop-in text encoder (moclip.txt Sec. 4.3): with ``text_encoder`` other than
  'minilm', a generator's text-conditioned parts trained on MiniLM embeddings are fine-tuned from
  their weights on the other encoder's embeddings, AdamW at ``learning_rate`` with no warm-up
  (paper: 1e-6) for ``num_steps`` (paper: 200 epochs; 73,000 steps are 200 epochs of HumanML3D's
  ~23,400 training clips at batch 64; the paper gives no step count for other batch sizes)."""

  num_steps: int = 73_000
  learning_rate: float = 1e-6


def check_text_encoder(text_encoder: str, finetune: TextFinetuneConfig) -> None:
  """A generator config's ``text_encoder`` and ``text_finetune`` fields (ValueError naming the
  field); whether the MoCLIP run exists is checked by `stages.text_data.text_encoder_choice`."""
  if not (text_encoder == "minilm" or text_encoder.startswith("moclip:")):
    raise ValueError(f"text_encoder: 'minilm' or 'moclip:<workdir>[@<run>]', got {text_encoder!r}")
  if finetune.num_steps < 1 or not finetune.learning_rate > 0:
    raise ValueError(f"text_finetune: num_steps >= 1 and learning_rate > 0, got {finetune}")


def finetune_stage_config(cfg, finetune: TextFinetuneConfig):
  """``cfg`` (a stage config with ``optim`` and ``loop``) with MoCLIP's fine-tuning schedule: a
  constant ``finetune.learning_rate`` without warm-up for ``finetune.num_steps`` (Sec. 4.3)."""
  optim = replace(cfg.optim, learning_rate=finetune.learning_rate, warmup_steps=0,
                  schedule="constant", decay_steps=())  # fmt: skip
  every = cfg.loop.checkpoint_every and min(cfg.loop.checkpoint_every, finetune.num_steps)
  loop = replace(cfg.loop, num_steps=finetune.num_steps, checkpoint_every=every)
  return replace(cfg, optim=optim, loop=loop)


def finetune_stages(
  choice: text_data.TextEncoderChoice,
  finetune: TextFinetuneConfig,
  fingerprints: dict[str, dict],
  parts: Sequence[str],
) -> dict[str, tuple[str, dict]]:
  """Stage name (``<part>_<encoder tag>``) and fingerprint (the part's, the encoder's name and
  ``finetune``) of each fine-tuned part in ``parts`` for a non-default text encoder."""
  tag = choice.filename.removeprefix("text_features_").removesuffix(".npz")
  extra = {"text_encoder": choice.name, "text_finetune": to_dict(finetune)}
  return {n: (f"{n}_{tag}", {**fingerprints[n], **extra}) for n in parts}


def dropin_features(
  data: prep.TextMotionData,
  workdir: pathlib.Path,
  choice: text_data.TextEncoderChoice,
  width: int | None = None,
  reader: str = "generator",
) -> tuple[tf_lib.TextFeatures, tf_lib.EncoderFn]:
  """The features of every caption of ``data`` by the non-default encoder ``choice`` (cached in
  ``workdir / choice.filename``, apart from MiniLM's) and the encoder. With ``width``: ValueError
  naming ``text_encoder`` when its embeddings are not ``width`` wide (what the MiniLM-trained
  ``reader`` reads: fine-tuning keeps the weights, so the width must match)."""
  encoder = choice.encoder()
  feats, _, _ = text_data.text_features(
    data, workdir / choice.filename, kinmo=False, encoder=encoder, encoder_name=choice.name
  )
  if width is not None and feats.width != width:
    raise ValueError(
      f"text_encoder {choice.spec!r}: its sentence embeddings are {feats.width}-wide, the "
      f"MiniLM-trained {reader} read {width}; fine-tuning needs the same width (a MoCLIP run "
      "with model.text_encoder=minilm)"
    )
  return feats, encoder


__all__ = [
  "GenerateConfig",
  "TextFinetuneConfig",
  "check_text_encoder",
  "dropin_features",
  "finetune_stage_config",
  "finetune_stages",
  "load_trained_result",
  "load_trained_stage",
  "token_frames",
  "with_captions",
  "write_generated",
]
