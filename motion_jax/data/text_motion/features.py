"""Frozen MiniLM text features, computed once per distinct sentence and cached on disk.

Training text-motion alignment models (TMR, KinMo HTMA, the generation evaluator) over a frozen
language model only needs the language model's outputs, so they are computed once: every distinct
sentence (captions, KinMo group and interaction descriptions) is encoded by all-MiniLM-L6-v2
(:mod:`motion_jax.models.text_encoder`) and stored, keyed by the SHA-256 of its UTF-8 text, in one
``.npz`` file:

    keys       [N] str     sha256 hex digest of each sentence
    states     [N, L, F]   float16 last-layer token states ([CLS] ... [SEP], right-padded)
    mask       [N, L]      bool, True on real word pieces
    sentence   [N, F]      float32 L2-normalised mean-pooled sentence embedding (the model's)
    encoder    str         which encoder made them (a cache made by another one is rejected)

A later call with new sentences encodes only those and rewrites the file atomically (temporary file
then rename), so an interrupted run never leaves a truncated cache. On CPU MiniLM encodes roughly
50-100 sentences/s; the embedded procedural dataset has ~1,100 distinct sentences.

``encoder`` may be any callable ``sentences -> (states [B, L, F], mask [B, L], sentence [B, F])``;
the frozen MiniLM one is `motion_jax.models.text_encoder.minilm_encoder()` (this module does not
load models itself).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EncoderFn = Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray, np.ndarray]]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def sentence_key(sentence: str) -> str:
  """SHA-256 hex digest of the sentence's UTF-8 bytes."""
  return hashlib.sha256(sentence.encode("utf-8")).hexdigest()


def _check_sentences(sentences: Iterable[str], what: str = "sentences") -> list[str]:
  if isinstance(sentences, (str, bytes)):
    raise TypeError(f"expected a list of {what}, got a single string; wrap it in a list")
  out = [s.decode("utf-8") if isinstance(s, (bytes, np.bytes_)) else s for s in sentences]
  if not out:
    raise ValueError(f"expected at least one of the {what}, got an empty list")
  for i, s in enumerate(out):
    if not isinstance(s, str):
      raise TypeError(f"{what}[{i}] is a {type(s).__name__}, expected str")
  return out


class TextFeatures:
  """In-memory table of cached features; look sentences up by text.

  ``lookup`` of the empty string (the padding of absent KinMo descriptions in
  :func:`motion_jax.data.text_motion.loader.prepare_example`) gives zeros and an all-False mask.
  """

  def __init__(
    self,
    keys: Sequence[str],
    states: np.ndarray,
    mask: np.ndarray,
    sentence: np.ndarray,
    encoder: str = MINILM,
  ):
    self.keys = list(keys)
    self.index = {k: i for i, k in enumerate(self.keys)}
    self.states, self.mask, self.sentence = states, mask.astype(bool), sentence
    self.encoder = encoder

  def __len__(self) -> int:
    return len(self.keys)

  @property
  def width(self) -> int:
    return int(self.states.shape[-1])

  @property
  def max_tokens(self) -> int:
    return int(self.states.shape[1])

  def rows(self, sentences: Sequence[str]) -> np.ndarray:
    """Row index of each sentence (-1 for "")."""
    out = np.empty(len(sentences), np.int64)
    for i, s in enumerate(sentences):
      s = s.decode("utf-8") if isinstance(s, (bytes, np.bytes_)) else str(s)
      if s == "":
        out[i] = -1
        continue
      row = self.index.get(sentence_key(s))
      if row is None:
        raise KeyError(
          f"sentence not in the text-feature cache (encode it first with "
          f"ensure_text_features): {s[:80]!r}"
        )
      out[i] = row
    return out

  def lookup(
    self, sentences: Sequence[str], max_tokens: int | None = None
  ) -> tuple[np.ndarray, np.ndarray]:
    """``(states [..., L, F] float32, mask [..., L] bool)`` for an array of sentences of any
    shape (e.g. ``[B]`` captions or ``[B, G]`` group texts)."""
    arr = np.asarray(sentences, dtype=object)
    if arr.size == 0:
      raise ValueError("lookup of an empty list of sentences")
    rows = self.rows(arr.ravel().tolist())
    length = max_tokens or self.max_tokens
    states = np.zeros((len(rows), length, self.width), np.float32)
    mask = np.zeros((len(rows), length), bool)
    ok = rows >= 0
    n = min(length, self.max_tokens)
    states[ok, :n] = self.states[rows[ok], :n]
    mask[ok, :n] = self.mask[rows[ok], :n]
    return (states.reshape(arr.shape + (length, self.width)), mask.reshape(arr.shape + (length,)))

  def sentence_embeddings(self, sentences: Sequence[str]) -> np.ndarray:
    """``[..., F]`` unit-norm sentence embeddings (zeros for "")."""
    arr = np.asarray(sentences, dtype=object)
    if arr.size == 0:
      raise ValueError("lookup of an empty list of sentences")
    rows = self.rows(arr.ravel().tolist())
    out = np.zeros((len(rows), self.sentence.shape[-1]), np.float32)
    out[rows >= 0] = self.sentence[rows[rows >= 0]]
    return out.reshape(arr.shape + (self.sentence.shape[-1],))


def load_text_features(path: str | Path) -> TextFeatures | None:
  """The cache at ``path`` (None when absent)."""
  path = Path(path)
  if not path.exists():
    return None
  with np.load(path, allow_pickle=False) as z:
    return TextFeatures(
      z["keys"].tolist(), z["states"], z["mask"], z["sentence"], str(z["encoder"])
    )


def _save(path: Path, feats: TextFeatures) -> None:
  tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
  np.savez(
    tmp,
    keys=np.asarray(feats.keys),
    states=feats.states,
    mask=feats.mask,
    sentence=feats.sentence,
    encoder=np.asarray(feats.encoder),
  )
  os.replace(tmp, path)


def ensure_text_features(
  path: str | Path,
  sentences: Iterable[str],
  *,
  encoder: EncoderFn | None = None,
  encoder_name: str = MINILM,
  batch_size: int = 256,
) -> TextFeatures:
  """Features for every sentence of ``sentences`` (plus those already cached), encoding only the
  missing ones and updating the cache file at ``path``.

  Args:
    path: ``.npz`` cache file (created with its folder).
    sentences: the sentences needed (duplicates and ``""`` are ignored).
    encoder: an :data:`EncoderFn` (e.g. `motion_jax.models.text_encoder.minilm_encoder()`);
      needed only when some sentence is not cached yet.
    encoder_name: stored in the cache; a cache made by a different encoder raises ValueError.
    batch_size: sentences per encoder call (sorted by length to limit padding).
  Raises:
    ValueError: no sentences at all, or the cache was made by another encoder.
  """
  path = Path(path)
  wanted = {}
  for s in _check_sentences(list(sentences)):
    if s.strip():
      wanted.setdefault(sentence_key(s), s)
  if not wanted:
    raise ValueError("no non-empty sentence to encode")
  cached = load_text_features(path)
  if cached is not None and cached.encoder != encoder_name:
    raise ValueError(
      f"{path} was made by encoder {cached.encoder!r}, not {encoder_name!r}; "
      "delete it or use another path"
    )
  missing = [s for k, s in wanted.items() if cached is None or k not in cached.index]
  if not missing:
    return cached
  log.info("encoding %d new sentences into %s", len(missing), path)
  if encoder is None:
    raise ValueError(
      f"{len(missing)} sentence(s) are not in {path} and no encoder was given to encode them "
      "(e.g. motion_jax.models.text_encoder.minilm_encoder())"
    )
  missing.sort(key=len)
  states, masks, sents = [], [], []
  for a in range(0, len(missing), batch_size):
    s, m, e = encoder(missing[a : a + batch_size])
    states.append(np.asarray(s, np.float16))
    masks.append(np.asarray(m, bool))
    sents.append(np.asarray(e, np.float32))
  parts = ([] if cached is None else [(cached.states, cached.mask)]) + list(zip(states, masks))
  width = max(s.shape[1] for s, _ in parts)

  def pad(a, w):
    return np.pad(a, [(0, 0), (0, w - a.shape[1])] + [(0, 0)] * (a.ndim - 2))

  all_states = np.concatenate([pad(s, width) for s, _ in parts]).astype(np.float16)
  all_mask = np.concatenate([pad(m, width) for _, m in parts])
  all_sent = np.concatenate(([] if cached is None else [cached.sentence]) + sents)
  keys = ([] if cached is None else cached.keys) + [sentence_key(s) for s in missing]
  feats = TextFeatures(keys, all_states, all_mask, all_sent, encoder_name)
  path.parent.mkdir(parents=True, exist_ok=True)
  _save(path, feats)
  return feats


__all__ = [
  "EncoderFn",
  "MINILM",
  "TextFeatures",
  "ensure_text_features",
  "load_text_features",
  "sentence_key",
]
