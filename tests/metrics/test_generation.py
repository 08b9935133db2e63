"""Guo et al. generation metrics against closed forms and hand-built embeddings."""

import numpy as np
import pytest

from motion_jax.metrics import generation as g


def test_frechet_distance_closed_form_diagonal():
  mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
  s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
  assert g.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)
  # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2
  assert g.frechet_distance([2.0], [[9.0]], [0.0], [[1.0]]) == pytest.approx(4.0 + 4.0)


def test_frechet_distance_rotated_covariances():
  # The same covariance rotated: FD between N(0, R S R^T) and itself shifted is |dmu|^2.
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
  s = q @ np.diag([1.0, 2.0, 3.0, 4.0]) @ q.T
  assert g.frechet_distance(np.zeros(4), s, np.full(4, 0.5), s) == pytest.approx(1.0, abs=1e-8)
  # Commuting covariances c1 * S, c2 * S: tr(S) (sqrt(c1) - sqrt(c2))^2.
  fd = g.frechet_distance(np.zeros(4), 4 * s, np.zeros(4), s)
  assert fd == pytest.approx(np.trace(s) * (2 - 1) ** 2, rel=1e-8)


def test_fid_of_samples_matches_the_gaussians():
  rng = np.random.default_rng(1)
  a = rng.normal(0.0, 1.0, (20000, 3))
  b = rng.normal([1.0, 0.0, 0.0], [1.0, 2.0, 1.0], (20000, 3))
  expected = 1.0 + (2.0 - 1.0) ** 2
  assert g.fid(a, b) == pytest.approx(expected, abs=0.1)


def test_real_vs_real_fid_is_near_zero():
  rng = np.random.default_rng(2)
  x = rng.standard_normal((4000, 8)) @ rng.standard_normal((8, 8))
  assert 0.0 <= g.fid(x, x) < 1e-6  # same set: never negative (clipped rounding)
  halves = g.fid(x[:2000], x[2000:])  # two disjoint halves
  shifted = g.fid(x[:2000], x[2000:] + 0.5)
  scale = np.trace(np.cov(x, rowvar=False))  # ~ 64: FID's natural scale
  assert 0 <= halves < 0.01 * scale
  assert shifted == pytest.approx(8 * 0.5**2 + halves, rel=0.2)


def test_r_precision_perfect_and_hand_checked():
  rng = np.random.default_rng(3)
  m = rng.standard_normal((64, 5))
  top, mm = g.r_precision(m, m)
  np.testing.assert_allclose(top, [1, 1, 1])
  assert mm == pytest.approx(0.0, abs=1e-6)
  # batch of 4 on a line: texts at 0, motions at 0, 1, 2, 3 -> text 0's motion is nearest,
  # text i (at 0, 0, 0, 0) ... use texts = motions shifted so each text's nearest is the next one.
  motions = np.array([[0.0], [10.0], [20.0], [30.0]])
  texts = np.array([[1.0], [13.0], [26.0], [30.0]])  # text 1 nearest motion 1; text 2: 3 closer
  top, mm = g.r_precision(texts, motions, batch_size=4, top_k=3)
  # ranks: t0 -> m0 (rank 1); t1 -> m1 (rank 1); t2 (26): m3 (4) < m2 (6) -> rank 2; t3 -> 1
  np.testing.assert_allclose(top, [3 / 4, 4 / 4, 4 / 4])
  assert mm == pytest.approx((1 + 3 + 6 + 0) / 4)


def test_r_precision_drops_incomplete_batch_and_rejects_too_few():
  x = np.random.default_rng(0).standard_normal((70, 3))
  top, _ = g.r_precision(x, x)  # 2 full batches of 32 used
  np.testing.assert_allclose(top, 1.0)
  with pytest.raises(ValueError, match="at least batch_size"):
    g.r_precision(x[:31], x[:31])
  with pytest.raises(ValueError, match="paired"):
    g.r_precision(x[:40], x[:39])


def test_shuffled_pairs_give_chance_level_r_precision():
  rng = np.random.default_rng(4)
  n = 32 * 600
  texts = rng.standard_normal((n, 6))
  motions = rng.standard_normal((n, 6))  # unrelated to their texts
  top, _ = g.r_precision(texts, motions)
  np.testing.assert_allclose(top, [1 / 32, 2 / 32, 3 / 32], atol=0.01)


def test_mm_dist_of_a_constant_offset():
  rng = np.random.default_rng(5)
  m = rng.standard_normal((64, 3))
  _, mm = g.r_precision(m + np.array([3.0, 4.0, 0.0]), m)
  assert mm == pytest.approx(5.0)


def test_diversity_on_a_simplex_and_scaling():
  n = 600
  x = np.eye(n)  # every pair of distinct points is sqrt(2) apart
  d = g.diversity(x, 300, np.random.default_rng(0))
  assert np.sqrt(2) * (1 - 5 / 300) <= d <= np.sqrt(2) + 1e-12
  assert g.diversity(np.ones((400, 3)), 300) == 0.0
  y = np.random.default_rng(1).standard_normal((500, 4))
  assert g.diversity(3 * y + 7, 300, np.random.default_rng(2)) == pytest.approx(
    3 * g.diversity(y, 300, np.random.default_rng(2))
  )
  with pytest.raises(ValueError, match="at least num_pairs"):
    g.diversity(y[:100], 300)


def test_multimodality_per_text_spread():
  # text t's 10 motions are one-hot * scale_t: distinct pairs are scale_t * sqrt(2) apart; with
  # 10 motions and 10 pairs both index sets are permutations of 0..9.
  scales = np.array([0.0, 1.0, 2.0])
  emb = scales[:, None, None] * np.eye(10)[None]  # [3, 10, 10]
  mm = g.multimodality(emb, 10, np.random.default_rng(0))
  assert 0 < mm <= np.sqrt(2) * scales.mean() + 1e-12
  assert g.multimodality(np.ones((5, 30, 4)), 10) == 0.0
  with pytest.raises(ValueError, match="3-D"):
    g.multimodality(np.ones((5, 4)), 10)


def test_mean_confidence_interval():
  mean, ci = g.mean_confidence_interval([1.0, 2.0, 3.0, 4.0])
  assert mean == 2.5
  assert ci == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)


def test_bad_embeddings_raise():
  with pytest.raises(ValueError, match="NaN"):
    g.fid(np.full((4, 2), np.nan), np.ones((4, 2)))
  with pytest.raises(ValueError, match="empty"):
    g.fid(np.zeros((0, 2)), np.ones((4, 2)))


# ------------------------------------------------------------------------------------------------
# evaluate_generator with a hand-built evaluator
# ------------------------------------------------------------------------------------------------
CLASSES = ["walk", "run", "jump", "wave", "kick", "sit", "turn", "squat"]


class OneHotEvaluator:
  """Motion of class c is constant c; its embedding is one-hot(c) (+ a little per-motion noise
  from the motion's second feature); a caption 'a person does <class> #k' embeds to one-hot."""

  max_length = 50

  def embed_texts(self, texts):
    if not texts:
      raise ValueError("empty caption list")
    return np.stack([np.eye(len(CLASSES))[CLASSES.index(t.split()[3])] for t in texts])

  def embed_motions(self, motions):
    out = []
    for m in motions:
      if len(m) < 4:
        raise ValueError("motion shorter than the minimum")
      e = np.eye(len(CLASSES))[int(round(m[0, 0]))].copy()
      e[int(round(m[0, 0]))] += 0.1 * m[0, 1]
      out.append(e)
    return np.stack(out)


def _pairs(n=160, seed=0):
  rng = np.random.default_rng(seed)
  motions, captions = [], []
  for i in range(n):
    c = i % len(CLASSES)
    m = np.zeros((int(rng.integers(40, 60)), 2), np.float32)
    m[:, 0], m[:, 1] = c, rng.standard_normal()
    motions.append(m)
    captions.append((f"a person does {CLASSES[c]} #1", f"a person does {CLASSES[c]} #2"))
  return g.TextMotionPairs(tuple(motions), tuple(captions))


def test_evaluate_generator_real_row_and_shuffled_generator():
  ds = _pairs()
  ev = OneHotEvaluator()
  real = g.evaluate_generator(ev, None, ds, num_repeats=4, diversity_pairs=100)
  assert abs(real["fid"]["mean"]) < 1e-6
  assert "multimodality" not in real
  # 8 classes, 4 motions of each class per batch of 32 on average: the own motion ties with the
  # same-class ones, so R-precision is high but below 1; the noise decides the order in a class.
  assert real["r_precision_top3"]["mean"] > 0.3

  by_text = {}
  for m, caps in zip(ds.motions, ds.captions):
    for c in caps:
      by_text.setdefault(c, []).append(m)

  def perfect(texts, lengths):
    assert len(lengths) == len(texts)
    return [by_text[t][0][:n] for t, n in zip(texts, lengths)]

  rng = np.random.default_rng(9)

  def shuffled(texts):
    return [ds.motions[int(i)] for i in rng.integers(len(ds), size=len(texts))]

  good = g.evaluate_generator(
    ev,
    perfect,
    ds,
    num_repeats=3,
    diversity_pairs=100,
    mm_texts=8,
    mm_repeats=10,
    mm_pairs=10,
    pass_lengths=True,
  )
  bad = g.evaluate_generator(
    ev, shuffled, ds, num_repeats=20, diversity_pairs=100, multimodality_eval=False
  )
  assert good["multimodality"]["mean"] == pytest.approx(0.0)  # deterministic generator
  for k, chance in ((1, 1 / 32), (2, 2 / 32), (3, 3 / 32)):
    assert abs(bad[f"r_precision_top{k}"]["mean"] - chance) < 0.03
    assert good[f"r_precision_top{k}"]["mean"] > bad[f"r_precision_top{k}"]["mean"] + 0.1
  assert bad["fid"]["mean"] >= 0
  assert bad["settings"]["pairs_used"] == 160 and bad["settings"]["num_repeats"] == 20
  assert bad["fid"]["ci95"] == pytest.approx(1.96 * np.std(bad["fid"]["values"]) / np.sqrt(20))
  assert len(g.format_row("x", bad)) == len(g.TABLE_HEADER)


def test_evaluate_generator_bad_inputs():
  ds = _pairs(40)
  ev = OneHotEvaluator()
  with pytest.raises(ValueError, match="returned 1 motions"):
    g.evaluate_generator(ev, lambda texts: [ds.motions[0]], ds, num_repeats=1, diversity_pairs=10)
  with pytest.raises(ValueError, match="fewer than one R-precision batch"):
    g.evaluate_generator(ev, None, _pairs(20), num_repeats=1, diversity_pairs=10)
  with pytest.raises(ValueError, match="diversity_pairs"):
    g.evaluate_generator(ev, None, ds, num_repeats=1)
  with pytest.raises(ValueError, match="empty caption list"):
    g.TextMotionPairs((np.zeros((40, 2)),), ((),))
  with pytest.raises(ValueError, match="no motions"):
    g.TextMotionPairs((), ())
