"""LCR (Algorithm 1 of Human Motion Unlearning) on hand-built codebooks and token sets: the counts,
the scores and their zero-division rule, exactly which codes are replaced, and the RVQ-VAE
variables helper on a real (tiny) RVQ-VAE's variables."""

import jax
import numpy as np
import pytest

from motion_jax.models.rvq import RVQVAE, RVQConfig
from motion_jax.models.vqvae import VQVAEConfig
from motion_jax.stages import rvq as rvq_stage
from motion_jax.unlearning import lcr

K, D = 8, 3
KEY = jax.random.PRNGKey(0)


def _book():
  return np.arange(K * D, dtype=np.float32).reshape(K, D) * 0.37 - 2.0


# Forget motions use codes 1 and 2 a lot; retain motions use 0, 2, 3, 4; code 5 only in padding.
FORGET = np.array([[1, 1, 1, 2, 5], [1, 2, 2, 6, 5], [7, 1, 1, 1, 1]])
FORGET_VALID = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
RETAIN = np.array([[0, 2, 3, 3, 5], [4, 4, 0, 2, 5], [3, 0, 0, 6, 5], [0, 0, 0, 0, 0]])
RETAIN_VALID = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)


def test_counts_count_motions_not_occurrences_and_skip_padding():
  nf = lcr.code_usage_counts(FORGET, FORGET_VALID, K)
  nr = lcr.code_usage_counts(RETAIN, RETAIN_VALID, K)
  #                        0  1  2  3  4  5  6  7
  np.testing.assert_array_equal(nf, [0, 3, 2, 0, 0, 0, 1, 1])
  np.testing.assert_array_equal(nr, [4, 0, 2, 2, 1, 0, 1, 0])  # 0 five times in the last: 1
  with pytest.raises(ValueError):
    lcr.code_usage_counts(FORGET, FORGET_VALID, 2)


def test_scores_and_zero_division_rules():
  nf = np.array([0, 3, 2, 0, 0, 0, 1, 1])
  nr = np.array([3, 0, 2, 2, 1, 0, 1, 0])
  s = lcr.code_scores(nf, nr, "inf")
  np.testing.assert_array_equal(s, [0, np.inf, 1, 0, 0, 0, 1, np.inf])  # 0/0 -> 0
  s1 = lcr.code_scores(nf, nr, "add_one")
  np.testing.assert_allclose(s1, [0, 3, 2 / 3, 0, 0, 0, 0.5, 1])
  # 'inf': the two forget-only codes first, the one used by more forget motions (1) before 7;
  # then the ratio-1 tie (2, 6) broken by N_f (2 before 6).
  np.testing.assert_array_equal(lcr.top_codes(s, nf, 4), [1, 7, 2, 6])
  np.testing.assert_array_equal(lcr.top_codes(s1, nf, 3), [1, 7, 2])
  # past the codes the forget set uses (s = 0): the ones the retain set uses least go first
  np.testing.assert_array_equal(lcr.top_codes(s, nf, K, nr), [1, 7, 2, 6, 5, 4, 3, 0])
  np.testing.assert_array_equal(lcr.top_codes(s, nf, K), [1, 7, 2, 6, 0, 3, 4, 5])
  with pytest.raises(ValueError):
    lcr.top_codes(s, nf, K + 1)


@pytest.mark.parametrize("sampling", ["one", "per_code"])
def test_exactly_the_top_codes_are_replaced(sampling):
  book = _book()
  nf = lcr.code_usage_counts(FORGET, FORGET_VALID, K)
  nr = lcr.code_usage_counts(RETAIN, RETAIN_VALID, K)
  cfg = lcr.LCRConfig(sampling=sampling, noise_scale=0.0)
  new, chosen = lcr.unlearn_codebook(book, nf, nr, 2, KEY, cfg)
  np.testing.assert_array_equal(np.sort(chosen), [1, 7])
  changed = np.flatnonzero(np.any(new != book, axis=1))
  np.testing.assert_array_equal(changed, [1, 7])
  keep = np.setdiff1d(np.arange(K), [1, 7])
  assert new[keep].tobytes() == book[keep].tobytes()  # bit-identical
  # noise 0: each replaced code is exactly some kept code (c_bar), never a replaced one
  for c in (1, 7):
    assert any(np.array_equal(new[c], book[j]) for j in keep)
  if sampling == "one":
    np.testing.assert_array_equal(new[1], new[7])


def test_noise_scale_follows_the_codebook_spread():
  book = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32) * [1, 10, 100, 1000]
  chosen = np.arange(32)
  new = lcr.replace_codes(book, chosen, KEY, lcr.LCRConfig(sampling="one", noise_scale=0.1))
  eps = new[chosen] - new[chosen].mean(0)  # one c_bar: the rows differ by eps only
  ratio = eps.std(0) / (0.1 * book.std(0))
  assert np.all((ratio > 0.6) & (ratio < 1.4)), ratio
  assert new[32:].tobytes() == book[32:].tobytes()


def test_retain_only_candidates_and_r_zero():
  nf = np.array([0, 3, 2, 0, 0, 0, 1, 1])
  nr = np.array([3, 0, 2, 2, 1, 0, 1, 0])
  np.testing.assert_array_equal(lcr.candidate_codes([1, 7], nf, nr, "retain_only"), [0, 3, 4])
  np.testing.assert_array_equal(lcr.candidate_codes([1, 7], nf, nr, "rest"), [0, 2, 3, 4, 5, 6])
  book = _book()
  new, chosen = lcr.unlearn_codebook(book, nf, nr, 0, KEY)
  assert len(chosen) == 0 and new.tobytes() == book.tobytes()


def test_random_baseline_replaces_r_distinct_codes():
  book = np.random.default_rng(1).normal(size=(32, D)).astype(np.float32)
  nf, nr = np.zeros(32, int), np.zeros(32, int)
  picks = []
  for seed in range(3):
    new, chosen = lcr.unlearn_codebook(book, nf, nr, 8, jax.random.PRNGKey(seed), method="random")
    assert len(set(chosen.tolist())) == 8
    np.testing.assert_array_equal(np.flatnonzero(np.any(new != book, 1)), np.sort(chosen))
    picks.append(tuple(np.sort(chosen)))
  assert len(set(picks)) > 1  # the key decides which codes


@pytest.mark.parametrize("layers", ["base", "all"])
def test_rvq_variables_only_the_edited_codebooks_change(layers):
  model = RVQVAE(
    RVQConfig(vq=VQVAEConfig(width=16, code_dim=D, num_codes=K, depth=1), num_quantizers=2), 263
  )
  variables = rvq_stage.init_variables(model, 8)
  rng = np.random.default_rng(0)
  books = {i: rng.normal(size=(K, D)).astype(np.float32) for i in range(2)}
  variables = lcr.with_codebooks(variables, books)
  np.testing.assert_array_equal(np.asarray(model.apply(variables, method=RVQVAE.codebooks)),
                                np.stack([books[0], books[1]]))  # fmt: skip
  fi = np.stack([FORGET, (FORGET + 3) % K], -1)  # [M, T, Q]
  ri = np.stack([RETAIN, (RETAIN + 3) % K], -1)
  cfg = lcr.LCRConfig(layers=layers)
  new, chosen = lcr.unlearn_rvq(variables, fi, FORGET_VALID, ri, RETAIN_VALID, 2, KEY, cfg)
  assert set(chosen) == ({0} if layers == "base" else {0, 1})
  np.testing.assert_array_equal(np.sort(chosen[0]), [1, 7])
  for layer in range(2):
    old, now = lcr.get_codebook(variables, layer), lcr.get_codebook(new, layer)
    rows = np.flatnonzero(np.any(old != now, 1))
    expect = np.sort(chosen[layer]) if layer in chosen else []
    np.testing.assert_array_equal(rows, expect)
  if layers == "all":
    np.testing.assert_array_equal(np.sort(chosen[1]), np.sort([(1 + 3) % K, (7 + 3) % K]))
  # nothing but the codebooks changed, and the input tree is untouched
  flat_old = jax.tree_util.tree_leaves_with_path(variables)
  flat_new = dict(jax.tree_util.tree_leaves_with_path(new))
  for path, leaf in flat_old:
    if "codebook" not in jax.tree_util.keystr(path).split("]")[-2]:
      assert flat_new[path] is leaf
  np.testing.assert_array_equal(lcr.get_codebook(variables, 0), books[0])
