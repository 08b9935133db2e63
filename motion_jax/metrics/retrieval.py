"""Text <-> motion retrieval metrics: recall at k and median rank under the TMR protocols.

All functions are pure numpy (jax arrays are accepted and converted). The similarity matrix
``sim`` is ``[N, N]`` with ``sim[i, j]`` the score of text ``i`` against motion ``j``; pair ``i`` is
(text ``i``, motion ``i``). Text -> motion ("t2m") ranks the motions for each text (rows), motion ->
text ("m2t") ranks the texts for each motion (columns).

Rank of a query: ``1 + (number of wrong candidates scored above the best correct candidate)``.
Ties between the best correct candidate and wrong ones are resolved by ``tie_break``:
``"pessimistic"`` (default: ties count against the query, so a constant similarity matrix scores
R@1 = 0 rather than 100), ``"optimistic"`` (ties count for it) or ``"average"`` (half of them,
the expected rank under a random tie-break). Recalls are percentages; median rank ("MedR") is
``np.median`` of the ranks (so it can be a half-integer).

The four protocols of TMR (Petrovich et al. 2023, Sec. 4.1):

(a) ``all``: every test pair, the only correct candidate is the paired one.
(b) ``all_threshold``: every test pair, but a candidate also counts as correct when its caption and
    the query's caption have sentence-embedding cosine similarity above ``threshold`` (default 0.8
    here; TMR uses a score in [0, 1] with its own threshold - pass the value you need). For m2t the
    query motion's caption is compared with the candidate captions.
(c) ``dissimilar``: 100 pairs whose captions are mutually dissimilar, chosen deterministically by
    :func:`select_dissimilar_subset` (greedy farthest-point sampling on caption embeddings), then
    protocol (a) on the sub-matrix.
(d) ``small_batches``: the test set is shuffled with a seeded permutation, cut into batches of 32
    (the incomplete last batch is dropped), protocol (a) is applied inside each batch, and recalls
    and median ranks are averaged over batches (and over ``num_repeats`` permutations).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_KS: tuple[int, ...] = (1, 2, 3, 5, 10)
_TIE_BREAKS = ("pessimistic", "optimistic", "average")


def _as_matrix(sim, name: str = "sim") -> np.ndarray:
  sim = np.asarray(sim, dtype=np.float64)
  if sim.ndim != 2:
    raise ValueError(f"{name} must be a 2-D matrix, got shape {sim.shape}")
  if not np.all(np.isfinite(sim)):
    raise ValueError(f"{name} contains NaN or inf")
  return sim


def cosine_similarity_matrix(embeddings) -> np.ndarray:
  """``[N, N]`` cosine similarities of the rows of ``embeddings`` ``[N, E]``."""
  e = np.asarray(embeddings, dtype=np.float64)
  e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
  return e @ e.T


def ranks_from_similarity(sim, correct=None, tie_break: str = "pessimistic") -> np.ndarray:
  """1-based rank of the best correct candidate for each query (row).

  Args:
    sim: ``[Q, C]`` scores, higher is better.
    correct: ``[Q, C]`` boolean; default the identity (requires ``Q == C``).
    tie_break: ``"pessimistic"``, ``"optimistic"`` or ``"average"`` (see module docstring).
  Returns:
    ``[Q]`` float ranks in ``[1, C]``.
  """
  if tie_break not in _TIE_BREAKS:
    raise ValueError(f"tie_break must be one of {_TIE_BREAKS}, got {tie_break!r}")
  sim = _as_matrix(sim)
  if correct is None:
    if sim.shape[0] != sim.shape[1]:
      raise ValueError(f"default (identity) positives need a square matrix, got {sim.shape}")
    correct = np.eye(sim.shape[0], dtype=bool)
  correct = np.asarray(correct, dtype=bool)
  if correct.shape != sim.shape:
    raise ValueError(f"correct has shape {correct.shape}, sim has {sim.shape}")
  if not correct.any(axis=1).all():
    raise ValueError("every query needs at least one correct candidate")
  best = np.where(correct, sim, -np.inf).max(axis=1, keepdims=True)  # [Q, 1]
  wrong = ~correct
  higher = np.sum(wrong & (sim > best), axis=1)
  ties = np.sum(wrong & (sim == best), axis=1)
  extra = {"pessimistic": ties, "optimistic": 0 * ties, "average": 0.5 * ties}[tie_break]
  return 1.0 + higher + extra


def recall_at_k(ranks, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
  """``{"R@k": percent of ranks <= k, ..., "MedR": median rank}``."""
  ranks = np.asarray(ranks, dtype=np.float64)
  out = {f"R@{k}": 100.0 * float(np.mean(ranks <= k)) for k in ks}
  out["MedR"] = float(np.median(ranks))
  return out


def retrieval_metrics(
  sim,
  text_similarity=None,
  threshold: float = 0.8,
  ks: Sequence[int] = DEFAULT_KS,
  tie_break: str = "pessimistic",
) -> dict[str, float]:
  """t2m and m2t recalls and median ranks of one square similarity matrix.

  Args:
    sim: ``[N, N]``, ``sim[i, j]`` = score(text i, motion j).
    text_similarity: optional ``[N, N]`` caption-caption similarity; when given, candidate ``j``
      is also correct for query ``i`` if ``text_similarity[i, j] > threshold`` (protocol b).
    threshold: see above.
    ks: recall cut-offs.
    tie_break: see :func:`ranks_from_similarity`.
  Returns:
    ``{"t2m/R@1": ..., "t2m/MedR": ..., "m2t/R@1": ..., ...}``.
  """
  sim = _as_matrix(sim)
  n = sim.shape[0]
  if sim.shape != (n, n):
    raise ValueError(f"sim must be square (paired test set), got {sim.shape}")
  correct = np.eye(n, dtype=bool)
  if text_similarity is not None:
    ts = _as_matrix(text_similarity, "text_similarity")
    if ts.shape != sim.shape:
      raise ValueError(f"text_similarity has shape {ts.shape}, sim has {sim.shape}")
    correct = correct | (ts > threshold)
  t2m = recall_at_k(ranks_from_similarity(sim, correct, tie_break), ks)
  m2t = recall_at_k(ranks_from_similarity(sim.T, correct.T, tie_break), ks)
  return {**{f"t2m/{k}": v for k, v in t2m.items()}, **{f"m2t/{k}": v for k, v in m2t.items()}}


def select_dissimilar_subset(text_embeddings, size: int = 100) -> np.ndarray:
  """Deterministic greedy farthest-point selection of ``size`` mutually dissimilar captions.

  Algorithm (on cosine similarity ``S`` of the caption embeddings):
    1. start with the caption of lowest mean similarity to all others;
    2. repeatedly add the caption whose *maximum* similarity to the already chosen ones is the
       smallest (i.e. the farthest from the chosen set), until ``size`` are chosen.
  Ties are broken by the lowest index, so the result depends only on the embeddings.

  Args:
    text_embeddings: ``[N, E]`` caption embeddings.
    size: number of pairs to keep.
  Returns:
    ``[size]`` int indices, sorted ascending.
  """
  s = cosine_similarity_matrix(text_embeddings)
  n = s.shape[0]
  if not 1 <= size <= n:
    raise ValueError(f"size must be in [1, {n}], got {size}")
  mean_sim = (s.sum(axis=1) - np.diag(s)) / max(n - 1, 1)
  chosen = [int(np.argmin(mean_sim))]
  closest = s[chosen[0]].copy()  # [N] max similarity to the chosen set
  available = np.ones(n, dtype=bool)
  available[chosen[0]] = False
  for _ in range(size - 1):
    nxt = int(np.argmin(np.where(available, closest, np.inf)))
    chosen.append(nxt)
    available[nxt] = False
    closest = np.maximum(closest, s[nxt])
  return np.sort(np.asarray(chosen, dtype=np.int64))


def small_batch_metrics(
  sim,
  batch_size: int = 32,
  seed: int = 0,
  num_repeats: int = 1,
  ks: Sequence[int] = DEFAULT_KS,
  tie_break: str = "pessimistic",
) -> dict[str, float]:
  """Protocol (d): recalls and median ranks inside seeded random batches, averaged.

  For each repeat ``r`` the pairs are shuffled with ``np.random.default_rng(seed + r)``'s
  permutation and split into ``N // batch_size`` full batches (the remainder is dropped).
  """
  sim = _as_matrix(sim)
  n = sim.shape[0]
  if n < batch_size:
    raise ValueError(f"need at least batch_size={batch_size} pairs, got {n}")
  per_batch: list[dict[str, float]] = []
  for r in range(num_repeats):
    perm = np.random.default_rng(seed + r).permutation(n)
    for b in range(n // batch_size):
      idx = perm[b * batch_size : (b + 1) * batch_size]
      per_batch.append(retrieval_metrics(sim[np.ix_(idx, idx)], ks=ks, tie_break=tie_break))
  return {k: float(np.mean([m[k] for m in per_batch])) for k in per_batch[0]}


def evaluate_retrieval(
  sim,
  text_embeddings,
  threshold: float = 0.8,
  dissimilar_size: int = 100,
  batch_size: int = 32,
  seed: int = 0,
  num_repeats: int = 1,
  ks: Sequence[int] = DEFAULT_KS,
  tie_break: str = "pessimistic",
) -> dict[str, dict[str, float]]:
  """All four protocols: ``{"all", "all_threshold", "dissimilar", "small_batches"} -> metrics``.

  Args:
    sim: ``[N, N]`` text-motion scores of the paired test set.
    text_embeddings: ``[N, E]`` caption sentence embeddings (e.g. ``encode_sentences``).
    threshold: caption cosine above which a retrieved item also counts as correct (b).
    dissimilar_size: subset size for (c); clipped to ``N``.
    batch_size, seed, num_repeats: protocol (d).
  """
  sim = _as_matrix(sim)
  text_embeddings = np.asarray(text_embeddings)
  if text_embeddings.shape[0] != sim.shape[0]:
    raise ValueError(f"{text_embeddings.shape[0]} caption embeddings for {sim.shape[0]} pairs")
  subset = select_dissimilar_subset(text_embeddings, min(dissimilar_size, sim.shape[0]))
  return {
    "all": retrieval_metrics(sim, ks=ks, tie_break=tie_break),
    "all_threshold": retrieval_metrics(
      sim, cosine_similarity_matrix(text_embeddings), threshold, ks, tie_break
    ),
    "dissimilar": retrieval_metrics(sim[np.ix_(subset, subset)], ks=ks, tie_break=tie_break),
    "small_batches": small_batch_metrics(sim, batch_size, seed, num_repeats, ks, tie_break),
  }
