"""A simple action classifier for measuring whether generated motions still show an action, and
caption retrieval against distractors.

Used by the unlearning experiment (`experiments/unlearning.py`, Human Motion Unlearning's question
"is the forgotten action still recognised?"). Neither is from a paper; the choices:

* Features (`pooled_features`): the per-dimension mean and standard deviation over the valid
  frames of normalised HumanML3D features ([T, F] -> [2 F]); order-free, so a clip's length does
  not matter.
* Classifier (`fit_ridge_classifier`): a linear map fitted in closed form by ridge regression of
  one-hot (or multi-hot, for clips with several actions) targets on standardised pooled features,
  with an l2 weight ``l2`` (no bias penalty). A closed-form probe needs no training loop and is
  deterministic; the scores are read by argmax (`predict_scores`).
* Ridge weight (`select_ridge_l2`): the l2 from a candidate list whose classifier has the best
  top-1 accuracy (`top1_accuracy`: the argmax class is one of the clip's actions) on validation
  features the caller supplies (the unlearning experiment: generated motions of validation
  captions, never the evaluation split); ties go to the first candidate.
* Caption retrieval (`caption_retrieval`): each motion's own caption ranked among distractor
  captions by Euclidean distance in the evaluator's embedding space (the T2M R-precision
  distance, motion -> texts rather than text -> motions so that each generated motion is scored
  alone).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pooled_features(x, mask) -> np.ndarray:
  """Mean and std over valid frames: x [N, T, F], mask [N, T] bool -> [N, 2 F] float64."""
  x, m = np.asarray(x, np.float64), np.asarray(mask, bool)[..., None]
  n = np.maximum(m.sum(1), 1)  # [N, 1]
  mean = (x * m).sum(1) / n
  var = (((x - mean[:, None]) ** 2) * m).sum(1) / n
  return np.concatenate([mean, np.sqrt(var)], -1)


def fit_ridge_classifier(features, targets, l2: float = 1.0) -> dict[str, np.ndarray]:
  """Closed-form ridge regression of ``targets`` [N, C] (one- or multi-hot) on ``features``
  [N, P]: {'mu', 'sd' (standardisation [P]), 'w' [P, C], 'b' [C]}."""
  f, y = np.asarray(features, np.float64), np.asarray(targets, np.float64)
  if f.ndim != 2 or y.ndim != 2 or len(f) != len(y):
    raise ValueError(f"features [N, P] and targets [N, C], got {f.shape} and {y.shape}")
  if not l2 > 0:
    raise ValueError(f"l2 must be > 0, got {l2}")
  mu, sd = f.mean(0), f.std(0) + 1e-8
  z = (f - mu) / sd
  b = y.mean(0)
  w = np.linalg.solve(z.T @ z + l2 * np.eye(z.shape[1]), z.T @ (y - b))
  return {"mu": mu, "sd": sd, "w": w, "b": b}


def predict_scores(classifier: dict[str, np.ndarray], features) -> np.ndarray:
  """Class scores [N, C] of pooled ``features`` [N, P]."""
  z = (np.asarray(features, np.float64) - classifier["mu"]) / classifier["sd"]
  return z @ classifier["w"] + classifier["b"]


def top1_accuracy(scores, positives) -> float:
  """Fraction of rows of ``scores`` [N, C] whose highest-scoring class is one of the row's
  ``positives`` [N, C] bool (a clip with several actions is right on any of them)."""
  s, p = np.asarray(scores), np.asarray(positives, bool)
  if s.shape != p.shape or s.ndim != 2 or not len(s):
    raise ValueError(f"scores and positives must both be [N > 0, C], got {s.shape} and {p.shape}")
  return float(p[np.arange(len(s)), s.argmax(1)].mean())


def select_ridge_l2(
  features, targets, val_features, val_positives, l2s: Sequence[float]
) -> tuple[dict[str, np.ndarray], int, list[float]]:
  """One `fit_ridge_classifier` on (``features``, ``targets``) per weight in ``l2s``; returns the
  classifier with the best `top1_accuracy` on (``val_features``, ``val_positives``) (ties: the
  first in ``l2s``), its index in ``l2s`` and every candidate's validation accuracy."""
  if not len(l2s):
    raise ValueError("l2s must hold at least one ridge weight")
  fits = [fit_ridge_classifier(features, targets, l2) for l2 in l2s]
  acc = [top1_accuracy(predict_scores(c, val_features), val_positives) for c in fits]
  best = int(np.argmax(acc))
  return fits[best], best, acc


def caption_retrieval(
  motion_embeddings, own_text_embeddings, distractor_embeddings, top_k: int = 3
) -> np.ndarray:
  """Top-1..top_k hit rates [top_k]: how often motion i's own caption (row i of
  ``own_text_embeddings`` [N, D]) is among the k nearest of itself and ``distractor_embeddings``
  [M, D] (shared by all motions). Ties count against the own caption."""
  m = np.asarray(motion_embeddings, np.float64)
  own = np.linalg.norm(m - np.asarray(own_text_embeddings, np.float64), axis=-1)  # [N]
  dis = np.asarray(distractor_embeddings, np.float64)
  d = np.linalg.norm(m[:, None] - dis[None], axis=-1)  # [N, M]
  rank = (d <= own[:, None]).sum(1)  # distractors at least as close (0 = own caption first)
  return np.asarray([(rank < k).mean() for k in range(1, top_k + 1)])


__all__ = [
  "caption_retrieval",
  "fit_ridge_classifier",
  "pooled_features",
  "predict_scores",
  "select_ridge_l2",
  "top1_accuracy",
]
