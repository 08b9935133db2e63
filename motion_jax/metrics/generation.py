"""Text-to-motion generation metrics of Guo et al. (T2M, CVPR 2022): FID, R-precision, MM-Dist,
Diversity, MultiModality, with repeated evaluation and 95 % confidence intervals.

All metrics are computed in the embedding space of a frozen text-motion evaluator (Guo et al.
trained a motion / text co-embedding; here :mod:`motion_jax.stages.evaluator` trains a TMR-style
one, since the original weights cannot be obtained). Facts of the T2M protocol followed here
(EricGuo5513/text-to-motion, ``final_evaluations.py`` and ``utils/metrics.py``):

* **FID**: Fréchet distance between Gaussians fitted (mean, ``np.cov(rowvar=False)``) to the real
  and the generated motion embeddings of the test set:
  ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``; the matrix square root is scipy's ``sqrtm``,
  with ``eps * I`` added to both covariances when the product is singular, and the imaginary part
  dropped (it must be numerically zero).
* **R-precision** (top-1/2/3): the test set is shuffled and cut into batches of **32** pairs (the
  incomplete last batch is dropped, ``drop_last=True``); in each batch the Euclidean distance
  matrix ``D[text i, motion j]`` is computed and, for every text, the 32 motions are ranked by
  distance; top-k is the fraction of texts whose own (generated) motion is among the k nearest.
  Chance level is ``k / 32``.
* **MM-Dist** ("matching score"): mean Euclidean distance between each text embedding and the
  embedding of its motion (the trace of ``D`` over all batches / number of pairs).
* **Diversity**: mean Euclidean distance between **300** random pairs of generated-motion embeddings
  (two index sets drawn without replacement from all generated motions).
* **MultiModality**: for **100** test texts, **30** motions generated per text; for each text,
  **10** random pairs of its motions (two index sets drawn without replacement among the 30); mean
  Euclidean distance over texts and pairs. (Not defined for real motions.)
* Everything is repeated **20** times (each repeat reshuffles the test set, draws a new caption per
  motion and regenerates), and reported as ``mean ± 1.96 * std / sqrt(20)`` (``np.std``, ddof 0).

Differences (documented): motions are cropped to their first ``max_length`` frames without Guo's
random crop / unit drop; the evaluator's embeddings are its unit-normalised latents (it is trained
with a cosine InfoNCE), so Euclidean rankings equal cosine rankings and distances lie in [0, 2].

The evaluator passed to :func:`evaluate_generator` is any object with ``embed_texts(list[str]) ->
[N, D]`` and ``embed_motions(list[[T, F]]) -> [N, D]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import scipy.linalg

R_PRECISION_BATCH = 32
TOP_K = 3
DIVERSITY_PAIRS = 300
MM_TEXTS, MM_REPEATS, MM_PAIRS = 100, 30, 10
NUM_REPEATS = 20
CI_Z = 1.96


# ------------------------------------------------------------------------------------------------
# Metric math (pure numpy)
# ------------------------------------------------------------------------------------------------
def _embeddings(x, name: str, ndim: int = 2) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != ndim:
    raise ValueError(f"{name} must be a {ndim}-D array, got shape {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"{name} is empty")
  if not np.isfinite(x).all():
    raise ValueError(f"{name} contains NaN or inf")
  return x


def activation_statistics(x) -> tuple[np.ndarray, np.ndarray]:
  """Mean ``[D]`` and covariance ``[D, D]`` (``np.cov``, unbiased) of embeddings ``[N, D]``."""
  x = _embeddings(x, "embeddings")
  if x.shape[0] < 2:
    raise ValueError("need at least 2 embeddings for a covariance")
  return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
  """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (Heusel et al. 2017).

  ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``, clipped at 0: the
  distance is non-negative, and for two equal sets the rounding of ``sqrtm`` leaves about -1e-10.
  """
  mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
  s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
  if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
    raise ValueError(f"mismatched shapes {mu1.shape} {s1.shape} / {mu2.shape} {s2.shape}")
  diff = mu1 - mu2
  covmean = scipy.linalg.sqrtm(s1.dot(s2))
  if not np.isfinite(covmean).all():
    offset = np.eye(s1.shape[0]) * eps
    covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in sqrtm")
    covmean = covmean.real
  return max(0.0, float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)))


def fid(real, generated) -> float:
  """FID between two sets of embeddings ``[N, D]`` and ``[M, D]``."""
  return frechet_distance(*activation_statistics(real), *activation_statistics(generated))


def euclidean_distance_matrix(a, b) -> np.ndarray:
  """``[N, M]`` Euclidean distances between the rows of ``a [N, D]`` and ``b [M, D]``."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
  return np.sqrt(np.maximum(d2, 0.0))


def r_precision(
  text_embeddings, motion_embeddings, batch_size: int = R_PRECISION_BATCH, top_k: int = TOP_K
) -> tuple[np.ndarray, float]:
  """Guo et al.'s R-precision and MM-Dist over consecutive batches of paired embeddings.

  Args:
    text_embeddings, motion_embeddings: ``[N, D]``, row ``i`` of each is a pair (the caller
      shuffles); ``N // batch_size`` full batches are used, the rest dropped.
    batch_size: 32 in the protocol.
    top_k: 3 in the protocol.
  Returns:
    ``(top-k accuracies [top_k] in [0, 1], MM-Dist)`` over the pairs of the full batches.
  """
  t = _embeddings(text_embeddings, "text_embeddings")
  m = _embeddings(motion_embeddings, "motion_embeddings")
  if t.shape != m.shape:
    raise ValueError(f"text {t.shape} and motion {m.shape} embeddings must be paired")
  n_batches = len(t) // batch_size
  if n_batches == 0:
    raise ValueError(f"R-precision needs at least batch_size={batch_size} pairs, got {len(t)}")
  hits = np.zeros(top_k)
  match = 0.0
  for b in range(n_batches):
    sl = slice(b * batch_size, (b + 1) * batch_size)
    d = euclidean_distance_matrix(t[sl], m[sl])  # [B texts, B motions]
    match += np.trace(d)
    # rank of the own motion: motions strictly closer than it (stable argsort as Guo's code)
    order = np.argsort(d, axis=1, kind="stable")
    rank = np.argmax(order == np.arange(batch_size)[:, None], axis=1)  # 0-based
    hits += [(rank < k).sum() for k in range(1, top_k + 1)]
  used = n_batches * batch_size
  return hits / used, match / used


def diversity(
  embeddings, num_pairs: int = DIVERSITY_PAIRS, rng: np.random.Generator | None = None
) -> float:
  """Mean distance of ``num_pairs`` random pairs (two index sets without replacement)."""
  x = _embeddings(embeddings, "embeddings")
  if len(x) < num_pairs:
    raise ValueError(f"diversity needs at least num_pairs={num_pairs} motions, got {len(x)}")
  rng = rng or np.random.default_rng(0)
  first = rng.choice(len(x), num_pairs, replace=False)
  second = rng.choice(len(x), num_pairs, replace=False)
  return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(
  embeddings, num_pairs: int = MM_PAIRS, rng: np.random.Generator | None = None
) -> float:
  """Mean distance of ``num_pairs`` random pairs of motions generated from the same text.

  Args:
    embeddings: ``[num_texts, repeats, D]``.
  """
  x = _embeddings(embeddings, "embeddings", ndim=3)
  if x.shape[1] < num_pairs:
    raise ValueError(
      f"multimodality needs at least num_pairs={num_pairs} motions per text, got {x.shape[1]}"
    )
  rng = rng or np.random.default_rng(0)
  first = rng.choice(x.shape[1], num_pairs, replace=False)
  second = rng.choice(x.shape[1], num_pairs, replace=False)
  return float(np.linalg.norm(x[:, first] - x[:, second], axis=2).mean())


def mean_confidence_interval(values) -> tuple[float, float]:
  """``(mean, 1.96 * std / sqrt(n))`` of repeated measurements (np.std, ddof 0, as Guo et al.)."""
  v = np.asarray(values, np.float64)
  if v.size == 0:
    raise ValueError("no values")
  return float(v.mean()), float(CI_Z * v.std() / np.sqrt(v.size))


# ------------------------------------------------------------------------------------------------
# Evaluating a generator
# ------------------------------------------------------------------------------------------------
class EmbeddingModel(Protocol):
  def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

  def embed_motions(self, motions: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class TextMotionPairs:
  """The evaluation set: raw (un-normalised) motions ``[T_i, F]`` and all captions of each."""

  motions: tuple[np.ndarray, ...]
  captions: tuple[tuple[str, ...], ...]
  ids: tuple[str, ...] = ()

  def __post_init__(self):
    if len(self.motions) == 0:
      raise ValueError("TextMotionPairs: no motions")
    if len(self.motions) != len(self.captions):
      raise ValueError(f"{len(self.motions)} motions but {len(self.captions)} caption lists")
    for i, caps in enumerate(self.captions):
      if len(caps) == 0:
        raise ValueError(f"motion {self.ids[i] if self.ids else i} has an empty caption list")

  def __len__(self) -> int:
    return len(self.motions)

  @classmethod
  def from_examples(cls, examples) -> TextMotionPairs:
    """From dicts with ``motion [T, F]`` and ``captions`` (str or bytes), e.g. a TFDS source."""

    def dec(s):
      return s.decode("utf-8") if isinstance(s, (bytes, np.bytes_)) else str(s)

    motions, captions, ids = [], [], []
    for i in range(len(examples)):
      ex = examples[i]
      motions.append(np.asarray(ex["motion"], np.float32))
      captions.append(tuple(dec(c) for c in ex["captions"]))
      ids.append(dec(ex.get("example_id", str(i))))
    return cls(tuple(motions), tuple(captions), tuple(ids))


GenerateFn = Callable[..., Sequence[np.ndarray]]


def _generate(
  generate_fn: GenerateFn, texts: list[str], lengths: np.ndarray, pass_lengths: bool
) -> list[np.ndarray]:
  out = generate_fn(texts, lengths) if pass_lengths else generate_fn(texts)
  out = list(out)
  if len(out) != len(texts):
    raise ValueError(f"generate_fn returned {len(out)} motions for {len(texts)} texts")
  return out


def evaluate_generator(
  evaluator: EmbeddingModel,
  generate_fn: GenerateFn | None,
  dataset: TextMotionPairs,
  *,
  num_repeats: int = NUM_REPEATS,
  batch_size: int = R_PRECISION_BATCH,
  top_k: int = TOP_K,
  diversity_pairs: int = DIVERSITY_PAIRS,
  mm_texts: int = MM_TEXTS,
  mm_repeats: int = MM_REPEATS,
  mm_pairs: int = MM_PAIRS,
  multimodality_eval: bool = True,
  pass_lengths: bool = False,
  max_length: int | None = None,
  seed: int = 0,
) -> dict[str, Any]:
  """Guo et al.'s protocol for ``generate_fn`` on ``dataset`` (see the module docstring).

  Args:
    evaluator: gives ``embed_texts`` / ``embed_motions``.
    generate_fn: ``texts -> motions`` (raw features ``[T, F]``, same layout as the dataset's), or
      with ``pass_lengths=True`` ``(texts, lengths) -> motions`` where ``lengths`` are the ground
      truth lengths (as T2M's evaluation gives the generator). ``None`` evaluates the real motions
      (the "Real" row; MultiModality is then skipped).
    dataset: the test pairs.
    num_repeats: 20 in the protocol.
    batch_size, top_k: R-precision (32, 3).
    diversity_pairs: 300; mm_texts / mm_repeats / mm_pairs: 100 / 30 / 10.
    multimodality_eval: compute MultiModality (costs ``mm_texts * mm_repeats`` generations).
    max_length: crop real motions to their first ``max_length`` frames (default: the evaluator's
      ``max_length`` attribute if it has one).
    seed: repeat ``r`` uses ``np.random.default_rng(seed + r)``.
  Returns:
    ``{"fid", "r_precision_top1..3", "mm_dist", "diversity", "multimodality"}`` each
    ``{"mean", "ci95", "values"}``, and ``"settings"``.
  """
  if num_repeats < 1:
    raise ValueError(f"num_repeats must be >= 1, got {num_repeats}")
  n = len(dataset)
  used = (n // batch_size) * batch_size
  if used == 0:
    raise ValueError(f"the dataset has {n} pairs, fewer than one R-precision batch of {batch_size}")
  if diversity_pairs > used:
    raise ValueError(f"diversity_pairs={diversity_pairs} > {used} evaluated motions")
  max_length = max_length or getattr(evaluator, "max_length", None)
  real_motions = [m[:max_length] if max_length else m for m in dataset.motions]
  lengths_all = np.asarray([len(m) for m in real_motions])
  real_emb_all = np.asarray(evaluator.embed_motions(real_motions))
  do_mm = multimodality_eval and generate_fn is not None
  values: dict[str, list[float]] = {
    k: []
    for k in ["fid", "mm_dist", "diversity"]
    + [f"r_precision_top{k}" for k in range(1, top_k + 1)]
    + (["multimodality"] if do_mm else [])
  }
  for r in range(num_repeats):
    rng = np.random.default_rng(seed + r)
    perm = rng.permutation(n)[:used]
    texts = [dataset.captions[i][int(rng.integers(len(dataset.captions[i])))] for i in perm]
    if generate_fn is None:
      gen_emb = real_emb_all[perm]
    else:
      gen_emb = np.asarray(
        evaluator.embed_motions(_generate(generate_fn, texts, lengths_all[perm], pass_lengths))
      )
    text_emb = np.asarray(evaluator.embed_texts(texts))
    top, mm_dist = r_precision(text_emb, gen_emb, batch_size, top_k)
    values["fid"].append(fid(real_emb_all[perm], gen_emb))
    values["mm_dist"].append(mm_dist)
    for k in range(top_k):
      values[f"r_precision_top{k + 1}"].append(float(top[k]))
    values["diversity"].append(diversity(gen_emb, diversity_pairs, rng))
    if do_mm:
      pick = rng.choice(used, min(mm_texts, used), replace=False)
      mm_text = [texts[i] for i in pick for _ in range(mm_repeats)]
      mm_len = np.repeat(lengths_all[perm][pick], mm_repeats)
      mm_emb = np.asarray(
        evaluator.embed_motions(_generate(generate_fn, mm_text, mm_len, pass_lengths))
      )
      values["multimodality"].append(
        multimodality(mm_emb.reshape(len(pick), mm_repeats, -1), mm_pairs, rng)
      )
  out: dict[str, Any] = {}
  for k, v in values.items():
    mean, ci = mean_confidence_interval(v)
    out[k] = {"mean": mean, "ci95": ci, "values": v}
  out["settings"] = {
    "pairs": n,
    "pairs_used": used,
    "num_repeats": num_repeats,
    "r_precision_batch": batch_size,
    "top_k": top_k,
    "diversity_pairs": diversity_pairs,
    "mm_texts": mm_texts if do_mm else 0,
    "mm_repeats": mm_repeats if do_mm else 0,
    "mm_pairs": mm_pairs if do_mm else 0,
    "max_length": max_length,
    "seed": seed,
    "ci": "1.96 * std / sqrt(num_repeats)",
    "distance": "Euclidean between evaluator embeddings",
  }
  return out


def format_row(name: str, metrics: Mapping[str, Any]) -> list[str]:
  """``[name, top1, top2, top3, FID, MM-Dist, Diversity, MultiModality]`` as ``mean±ci`` strings
  (the column order of T2M's Table 1)."""

  def cell(k):
    if k not in metrics:
      return "-"
    return f"{metrics[k]['mean']:.3f}±{metrics[k]['ci95']:.3f}"

  return [name] + [
    cell(k)
    for k in (
      "r_precision_top1",
      "r_precision_top2",
      "r_precision_top3",
      "fid",
      "mm_dist",
      "diversity",
      "multimodality",
    )
  ]


TABLE_HEADER = [
  "method",
  "R-prec top-1",
  "R-prec top-2",
  "R-prec top-3",
  "FID",
  "MM-Dist",
  "Diversity",
  "MultiModality",
]

__all__ = [
  "EmbeddingModel",
  "TABLE_HEADER",
  "TextMotionPairs",
  "activation_statistics",
  "diversity",
  "euclidean_distance_matrix",
  "evaluate_generator",
  "fid",
  "format_row",
  "frechet_distance",
  "mean_confidence_interval",
  "multimodality",
  "r_precision",
]
