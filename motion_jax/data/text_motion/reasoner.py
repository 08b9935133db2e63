"""A retrieval stand-in for KinMo's Motion Reasoner (kinmo.txt Sec. 3.3 / FACTS.md D).

KinMo derives the six group and fifteen interaction descriptions of a test motion from its global
caption with a fine-tuned LLaMA-3 ("Motion Reasoner"). No language-model weights can be fetched
here, so this module builds the descriptions from the training set instead: embed the query
caption, find the training captions nearest to it in the sentence-embedding space (MiniLM in the
project; any unit-norm embedding works), and take their examples' descriptions slot by slot.

Pure numpy over embeddings and strings: the caller supplies the embeddings (e.g.
`TextFeatures.sentence_embeddings`), so this module loads no model.

Choices the paper leaves open (it has no retrieval reasoner), all fields of `ReasonerConfig`:

- ``neighbours``: how many nearest training captions vote (default 5);
- ``rule``: ``'vote'`` (default) keeps, per slot, the description with the largest summed cosine
  similarity of the neighbours that propose it (ties: the nearer neighbour's), so one caption
  retrieved by several near-duplicates wins over an outlier; ``'nearest'`` copies every slot of the
  single nearest caption's example;
- ``exclude_identical`` (default off): bank rows whose caption is the query's own text are
  skipped; turn it on to score the reasoner leave-one-out on the bank's own split. Off for test
  captions: a test caption worded like a training caption may use it, as a reasoner trained on
  those captions would. Test captions never see test descriptions: the bank is built from the
  training split.
- Slots absent in a neighbour's example (empty strings) never win a vote while a non-empty
  proposal exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

RULES = ("vote", "nearest")


@dataclasses.dataclass(frozen=True)
class ReasonerConfig:
  neighbours: int = 5
  rule: str = "vote"  # 'vote' | 'nearest'
  exclude_identical: bool = False

  def __post_init__(self):
    if self.rule not in RULES:
      raise ValueError(f"reasoner.rule: choose from {RULES}, got {self.rule!r}")
    if self.neighbours < 1:
      raise ValueError(f"reasoner.neighbours must be >= 1, got {self.neighbours}")


@dataclasses.dataclass(frozen=True)
class DescriptionBank:
  """The training captions (one row each) with the descriptions of the example each came from.

  ``embeddings [N, F]`` unit-norm caption embeddings; ``captions [N]``; ``groups [N][G]`` and
  ``interactions [N][I]`` the description strings ("" where absent)."""

  embeddings: np.ndarray
  captions: tuple[str, ...]
  groups: tuple[tuple[str, ...], ...]
  interactions: tuple[tuple[str, ...], ...]

  def __post_init__(self):
    n = len(self.captions)
    if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n:
      raise ValueError(
        f"bank embeddings must be [N={n}, F], got shape {tuple(self.embeddings.shape)}"
      )
    if len(self.groups) != n or len(self.interactions) != n:
      raise ValueError(
        f"bank: {n} captions but {len(self.groups)} group and {len(self.interactions)} "
        "interaction rows"
      )
    if n == 0:
      raise ValueError("bank: no training captions")


def build_bank(examples: Sequence[dict], embed) -> DescriptionBank:
  """One bank row per caption of each example (``captions``, ``kinmo_group_texts``,
  ``kinmo_interaction_texts`` as the data sources give them); ``embed(list[str]) -> [N, F]``."""
  caps, groups, inters = [], [], []
  for ex in examples:
    g = tuple(_str(t) for t in ex.get("kinmo_group_texts", []))
    i = tuple(_str(t) for t in ex.get("kinmo_interaction_texts", []))
    if not any(g) and not any(i):
      continue  # an example without KinMo descriptions proposes nothing
    for c in ex["captions"]:
      caps.append(_str(c))
      groups.append(g)
      inters.append(i)
  if not caps:
    raise ValueError("build_bank: no example has KinMo group or interaction descriptions")
  emb = np.asarray(embed(caps), np.float32)
  return DescriptionBank(emb, tuple(caps), tuple(groups), tuple(inters))


def neighbours(
  query: np.ndarray, bank: DescriptionBank, cfg: ReasonerConfig, query_captions=None
) -> tuple[np.ndarray, np.ndarray]:
  """``(indices [Q, k], cosine [Q, k])`` of the nearest bank captions, nearest first. With
  ``cfg.exclude_identical`` and ``query_captions``, bank rows with the same text are skipped."""
  query = np.asarray(query, np.float32)
  if query.ndim != 2 or query.shape[1] != bank.embeddings.shape[1]:
    raise ValueError(
      f"query embeddings must be [Q, {bank.embeddings.shape[1]}], got {tuple(query.shape)}"
    )
  sim = query @ bank.embeddings.T  # [Q, N]
  if cfg.exclude_identical and query_captions is not None:
    index: dict[str, list[int]] = {}
    for n, c in enumerate(bank.captions):
      index.setdefault(c, []).append(n)
    for q, c in enumerate(query_captions):
      sim[q, index.get(_str(c), [])] = -np.inf
  k = min(cfg.neighbours, sim.shape[1])
  idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]
  return idx, np.take_along_axis(sim, idx, axis=1)


def _vote(proposals: list[str], weights: np.ndarray) -> str:
  score: dict[str, float] = {}
  first: dict[str, int] = {}
  for n, (text, w) in enumerate(zip(proposals, weights, strict=True)):
    if not text or not np.isfinite(w):
      continue
    score[text] = score.get(text, 0.0) + float(w)
    first.setdefault(text, n)
  if not score:
    return ""
  return max(score, key=lambda t: (score[t], -first[t]))


def reason(
  query: np.ndarray, bank: DescriptionBank, cfg: ReasonerConfig, query_captions=None
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
  """``(groups [Q][G], interactions [Q][I])`` for the query caption embeddings ``[Q, F]``."""
  idx, sim = neighbours(query, bank, cfg, query_captions)
  out_g, out_i = [], []
  for q in range(len(idx)):
    rows = idx[q] if cfg.rule == "vote" else idx[q, :1]
    w = sim[q, : len(rows)]
    out_g.append(_slots([bank.groups[r] for r in rows], w))
    out_i.append(_slots([bank.interactions[r] for r in rows], w))
  return out_g, out_i


def _slots(proposals: list[tuple[str, ...]], weights: np.ndarray) -> tuple[str, ...]:
  width = max(len(p) for p in proposals)
  padded = [tuple(p) + ("",) * (width - len(p)) for p in proposals]
  return tuple(_vote([p[s] for p in padded], weights) for s in range(width))


def agreement(
  predicted: Sequence[Sequence[str]], oracle: Sequence[Sequence[str]], embed=None
) -> dict[str, float]:
  """How close reasoner descriptions are to the dataset's: the fraction of non-empty oracle slots
  reproduced exactly, and (with ``embed``) the mean cosine of the two descriptions' embeddings."""
  if len(predicted) != len(oracle):
    raise ValueError(f"{len(predicted)} predicted rows vs {len(oracle)} oracle rows")
  pairs = [
    (p, o)
    for prow, orow in zip(predicted, oracle, strict=True)
    for p, o in zip(prow, orow, strict=False)
    if o
  ]
  if not pairs:
    return {"exact": float("nan"), "cosine": float("nan"), "slots": 0}
  out = {"exact": float(np.mean([p == o for p, o in pairs])), "slots": len(pairs)}
  if embed is not None:
    got = [p for p, _ in pairs]
    a, b = np.asarray(embed(got)), np.asarray(embed([o for _, o in pairs]))
    out["cosine"] = float(np.mean(np.sum(a * b, axis=-1)))
  return out


class WithDescriptions:
  """A data source (``len`` / ``[i]``) whose examples carry the given group and interaction
  descriptions in place of their own, e.g. a test split read with reasoner-made texts."""

  def __init__(
    self, source, groups: Sequence[Sequence[str]], interactions: Sequence[Sequence[str]]
  ):
    if not len(source) == len(groups) == len(interactions):
      raise ValueError(
        f"WithDescriptions: {len(source)} examples, {len(groups)} group rows, "
        f"{len(interactions)} interaction rows"
      )
    self.source, self.groups, self.interactions = source, groups, interactions

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, i: int) -> dict:
    ex = dict(self.source[i])
    ex["kinmo_group_texts"] = np.asarray(list(self.groups[i]), dtype=object)
    ex["kinmo_interaction_texts"] = np.asarray(list(self.interactions[i]), dtype=object)
    return ex


def _str(x) -> str:
  return x.decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else str(x)


__all__ = [
  "RULES",
  "DescriptionBank",
  "WithDescriptions",
  "ReasonerConfig",
  "agreement",
  "build_bank",
  "neighbours",
  "reason",
]
