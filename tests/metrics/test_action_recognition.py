"""The action classifier's ridge-weight selection: it keeps the candidate with the best
validation accuracy, returns that candidate's fit, and breaks ties towards the first."""

import numpy as np

from motion_jax.metrics import action_recognition as ar


def test_top1_accuracy_counts_any_of_a_clips_actions():
  scores = np.asarray([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.0, 0.1, 0.8]])
  positives = np.asarray([[True, False, False], [True, False, True], [False, True, True]])
  assert ar.top1_accuracy(scores, positives) == 2 / 3


def test_select_ridge_l2_picks_the_best_validation_fit():
  rng = np.random.default_rng(0)
  n, p, c = 120, 6, 3
  labels = rng.integers(0, c, n)
  targets = np.eye(c)[labels]
  f = rng.normal(size=(n, p))
  f[:, :c] += 2.0 * targets  # the first c features carry the class
  val_labels = rng.integers(0, c, 40)
  val_f = rng.normal(size=(40, p)) * 3.0  # noisier validation features
  val_f[:, :c] += 2.0 * np.eye(c)[val_labels]
  val_pos = np.eye(c, dtype=bool)[val_labels]
  l2s = (1e-3, 1.0, 1e2, 1e4)
  clf, best, acc = ar.select_ridge_l2(f, targets, val_f, val_pos, l2s)
  expect = [
    ar.top1_accuracy(ar.predict_scores(ar.fit_ridge_classifier(f, targets, a), val_f), val_pos)
    for a in l2s
  ]
  assert acc == expect and best == int(np.argmax(expect))
  ref = ar.fit_ridge_classifier(f, targets, l2s[best])
  for k in ref:
    np.testing.assert_array_equal(clf[k], ref[k])
  # ties (the same weight twice) go to the first candidate
  _, first, _ = ar.select_ridge_l2(f, targets, val_f, val_pos, (1.0, 1.0))
  assert first == 0
