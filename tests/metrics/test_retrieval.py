"""Retrieval metrics on hand-built similarity matrices with known answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motion_jax.metrics import retrieval as r

KS = (1, 2, 3, 5, 10)


def test_identity_is_perfect():
  m = r.retrieval_metrics(np.eye(20))
  for d in ("t2m", "m2t"):
    assert all(m[f"{d}/R@{k}"] == 100.0 for k in KS)
    assert m[f"{d}/MedR"] == 1.0


def test_reversed_is_worst():
  n = 12
  sim = 1.0 - np.eye(n)  # the paired item is the only one scored lowest
  m = r.retrieval_metrics(sim)
  for d in ("t2m", "m2t"):
    assert all(m[f"{d}/R@{k}"] == 0.0 for k in KS)
    assert m[f"{d}/MedR"] == n


def test_hand_built_ranks():
  # Row i puts its positive at rank i+1 (t2m ranks 1,2,3,4).
  sim = np.array(
    [
      [0.9, 0.1, 0.2, 0.3],
      [0.8, 0.7, 0.1, 0.0],
      [0.9, 0.8, 0.5, 0.1],
      [0.9, 0.8, 0.7, 0.6],
    ]
  )
  np.testing.assert_array_equal(r.ranks_from_similarity(sim), [1, 2, 3, 4])
  m = r.retrieval_metrics(sim)
  assert [m[f"t2m/R@{k}"] for k in KS] == [25, 50, 75, 100, 100]
  assert m["t2m/MedR"] == 2.5
  # m2t ranks by columns. Column 0: positive 0.9 tied with two wrong texts (0.9, 0.9) ->
  # pessimistic 3, optimistic 1, average 2. Column 1: 0.7 below 0.8, 0.8 -> 3.
  # Column 2: 2. Column 3: 1.
  np.testing.assert_array_equal(r.ranks_from_similarity(sim.T), [3, 3, 2, 1])
  optimistic = r.ranks_from_similarity(sim.T, tie_break="optimistic")
  np.testing.assert_array_equal(optimistic, [1, 3, 2, 1])
  np.testing.assert_array_equal(r.ranks_from_similarity(sim.T, tie_break="average"), [2, 3, 2, 1])
  assert [m[f"m2t/R@{k}"] for k in (1, 2, 3)] == [25.0, 50.0, 100.0]
  assert m["m2t/MedR"] == 2.5


def test_ties_constant_matrix():
  n = 10
  sim = np.full((n, n), 0.3)
  assert r.retrieval_metrics(sim)["t2m/R@1"] == 0.0  # pessimistic default: no free credit
  assert r.retrieval_metrics(sim, tie_break="optimistic")["t2m/R@1"] == 100.0
  average = r.ranks_from_similarity(sim, tie_break="average")
  np.testing.assert_array_equal(average, np.full(n, (n + 1) / 2))
  with pytest.raises(ValueError, match="tie_break"):
    r.ranks_from_similarity(sim, tie_break="random")


def test_threshold_protocol_counts_paraphrases():
  # Texts 0 and 1 are paraphrases; text 0 retrieves motion 1 first.
  sim = np.array([[0.5, 0.9, 0.1], [0.2, 0.8, 0.3], [0.1, 0.2, 0.7]])
  text_sim = np.array([[1.0, 0.85, 0.1], [0.85, 1.0, 0.2], [0.1, 0.2, 1.0]])
  plain = r.retrieval_metrics(sim)
  thr = r.retrieval_metrics(sim, text_sim, threshold=0.8)
  assert plain["t2m/R@1"] == pytest.approx(200 / 3)
  assert thr["t2m/R@1"] == 100.0
  # Above-threshold means strictly above.
  assert r.retrieval_metrics(sim, text_sim, threshold=0.85)["t2m/R@1"] == pytest.approx(200 / 3)
  # m2t: motion 1 scores text 0 (0.9) above its own text 1 (0.8); text 0 is a paraphrase,
  # so it counts as correct.
  assert plain["m2t/R@1"] == pytest.approx(200 / 3) and thr["m2t/R@1"] == 100.0


def test_dissimilar_subset_is_deterministic_and_spread():
  rng = np.random.default_rng(0)
  centers = np.eye(6)  # 6 orthogonal "topics"
  labels = np.repeat(np.arange(6), 5)  # 5 near-duplicate captions per topic
  emb = centers[labels] + 0.05 * rng.normal(size=(30, 6))
  idx = r.select_dissimilar_subset(emb, 6)
  assert sorted(labels[idx].tolist()) == list(range(6))  # one caption per topic
  np.testing.assert_array_equal(idx, r.select_dissimilar_subset(emb.copy(), 6))
  assert np.all(np.diff(idx) > 0)
  with pytest.raises(ValueError):
    r.select_dissimilar_subset(emb, 31)
  # Max pairwise similarity in the greedy subset is below that of a random subset of equal size.
  emb2 = rng.normal(size=(300, 16))
  s = r.cosine_similarity_matrix(emb2)
  sub = r.select_dissimilar_subset(emb2, 100)
  rand = rng.choice(300, 100, replace=False)
  off = ~np.eye(100, dtype=bool)
  assert s[np.ix_(sub, sub)][off].max() < s[np.ix_(rand, rand)][off].max()


def test_small_batches_manual_first_batch():
  rng = np.random.default_rng(1)
  sim = rng.normal(size=(70, 70)) + 2.0 * np.eye(70)
  got = r.small_batch_metrics(sim, batch_size=32, seed=3)
  perm = np.random.default_rng(3).permutation(70)
  batches = [perm[:32], perm[32:64]]  # 6 left over, dropped
  manual = [r.retrieval_metrics(sim[np.ix_(b, b)]) for b in batches]
  for k in got:
    assert got[k] == pytest.approx(np.mean([m[k] for m in manual]))
  assert r.small_batch_metrics(sim, seed=3) == got  # seeded, reproducible
  assert r.small_batch_metrics(np.eye(64))["t2m/R@1"] == 100.0
  with pytest.raises(ValueError, match="batch_size"):
    r.small_batch_metrics(np.eye(10))


def test_shuffled_pairs_give_chance_level():
  rng = np.random.default_rng(42)
  n, d = 1000, 64
  text = rng.normal(size=(n, d))
  motion = text[rng.permutation(n)] + 0.1 * rng.normal(size=(n, d))  # pairs shuffled
  sim = r.cosine_similarity_matrix(np.concatenate([text, motion]))[:n, n:]
  m = r.evaluate_retrieval(sim, text)
  for d_ in ("t2m", "m2t"):
    a = m["all"]
    assert a[f"{d_}/R@1"] < 0.6 and a[f"{d_}/R@10"] < 2.5  # chance: 0.1 % and 1 %
    assert 400 < a[f"{d_}/MedR"] < 600  # chance: ~N/2
    b = m["small_batches"]
    assert 1.0 < b[f"{d_}/R@1"] < 6.0  # chance: 1/32 = 3.1 %
    assert 20.0 < b[f"{d_}/R@10"] < 43.0  # chance: 10/32 = 31 %
    assert 13 < b[f"{d_}/MedR"] < 20  # chance ~16.5
    assert m["dissimilar"][f"{d_}/R@10"] < 25.0  # chance: 10 %
  # And the correctly paired set is perfect under every protocol.
  good = r.evaluate_retrieval(r.cosine_similarity_matrix(text), text)
  assert all(v["t2m/R@1"] == 100.0 and v["m2t/R@1"] == 100.0 for v in good.values())


def test_bad_inputs():
  with pytest.raises(ValueError, match="NaN"):
    r.retrieval_metrics(np.array([[1.0, np.nan], [0.0, 1.0]]))
  with pytest.raises(ValueError, match="square"):
    r.retrieval_metrics(np.ones((2, 3)))
  with pytest.raises(ValueError, match="caption embeddings"):
    r.evaluate_retrieval(np.eye(40), np.ones((39, 3)))


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.integers(min_value=0, max_value=10**6))
def test_joint_permutation_invariance(n, seed):
  rng = np.random.default_rng(seed)
  sim = rng.integers(0, 4, size=(n, n)).astype(float)  # many ties on purpose
  text_sim = r.cosine_similarity_matrix(rng.normal(size=(n, 3)))
  perm = rng.permutation(n)
  a = r.retrieval_metrics(sim, text_sim, 0.5)
  b = r.retrieval_metrics(sim[np.ix_(perm, perm)], text_sim[np.ix_(perm, perm)], 0.5)
  assert a == pytest.approx(b)
  ranks = r.ranks_from_similarity(sim)
  assert np.all((1 <= ranks) & (ranks <= n))
