"""Latent Code Replacement (LCR): unlearning a concept from a VQ model by overwriting codes.

Source: "Human Motion Unlearning" (De Matteis et al.), Algorithm 1 as presented in the lecture
(../shared/papers/lecture.txt, "Algorithm 1 Latent Code Replacement"; FACTS.md, Human Motion
Unlearning). Given a trained codebook C, a forget set D_f and a retain set D_r of motions (as code
index sequences Z_q(m)) and a number r of codes:

  N_k(D) = number of motions m in D whose codes contain k (a motion counts once however often it
           uses k; lines 3-4),
  s_k    = N_k(D_f) / N_k(D_r) (line 5),
  C_f    = the r codes of largest s_k (line 8),
  c_bar  = a code sampled from C minus C_f (line 9),
  c_f   <- c_bar + eps for each c_f in C_f (lines 10-12).

No retraining: `replace_codes` maps a codebook to a codebook; the token models are untouched, so a
generator still predicts the same indices but the replaced ones decode to a "safe" nearby code.

Choices where the algorithm is silent (`LCRConfig` fields):
  * ``zero_division``: N_k(D_r) = 0. 'inf' (default): s_k = +inf when N_k(D_f) > 0 (the limit
    of the ratio: a code only the forget set uses is the first to go), 0 when both counts are 0;
    'add_one': s_k = N_k(D_f) / (N_k(D_r) + 1) for every k (smoothing; ranks a code used by 10
    forget and 0 retain motions below one used by 30 and 1). Ties (several +inf, or the s_k = 0
    codes once r exceeds the codes the forget set uses) are broken by larger N_k(D_f), then
    smaller N_k(D_r) (the code the retain set needs least), then the smaller index.
  * ``sampling``: 'one' (default, the algorithm's line 9 read literally: one c_bar for all
    replaced codes) or 'per_code' (an independent c_bar for each replaced code).
  * ``candidates``: where c_bar is drawn from: 'rest' (default, C minus C_f, uniformly) or
    'retain_only' (codes not replaced that the retain set uses and the forget set does not;
    falls back to 'rest' when there is none).
  * ``noise_scale``: eps ~ N(0, (noise_scale * sd_d)^2) independently per dimension d and per
    replaced code, sd_d the codebook's standard deviation over codes in dimension d (so the scale
    follows the codebook's units); default 0.1, "close by" c_bar. 0 gives c_f = c_bar exactly.
  * ``layers``: which codebooks of a residual VQ (MoMask) are edited. The algorithm is stated for
    one VQ codebook; 'base' (default) applies it to layer 0, the layer that carries the coarse
    motion (the masked transformer's tokens); 'all' applies it to every layer independently, each
    with its own counts from that layer's indices and its own r codes.

The `random` baseline replaces r distinct codes drawn uniformly without replacement, with the same
c_bar / eps rule (candidates 'rest' of those r).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

ZERO_DIVISION = ("inf", "add_one")
SAMPLING = ("one", "per_code")
CANDIDATES = ("rest", "retain_only")
LAYERS = ("base", "all")
SELECTIONS = ("lcr", "random")


@dataclasses.dataclass(frozen=True)
class LCRConfig:
  """LCR's open choices (module docstring); the number of codes r is an argument."""

  zero_division: str = "inf"
  sampling: str = "one"
  candidates: str = "rest"
  noise_scale: float = 0.1
  layers: str = "base"

  def __post_init__(self):
    for name, allowed in (("zero_division", ZERO_DIVISION), ("sampling", SAMPLING),
                          ("candidates", CANDIDATES), ("layers", LAYERS)):  # fmt: skip
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
    if not self.noise_scale >= 0:
      raise ValueError(f"noise_scale must be >= 0, got {self.noise_scale}")


def code_usage_counts(indices, valid, num_codes: int) -> np.ndarray:
  """N_k(D) (Algorithm 1, lines 3-4): how many motions use code k at least once.

  Args:
    indices: [M, T] int code indices of M motions (padded to T tokens).
    valid: [M, T] bool, the tokens that belong to each motion (padding is not counted).
    num_codes: K.
  Returns:
    [K] int64 counts, each in [0, M].
  """
  idx, ok = np.asarray(indices), np.asarray(valid, bool)
  if idx.shape != ok.shape or idx.ndim != 2:
    raise ValueError(f"indices {idx.shape} and valid {ok.shape} must both be [M, T]")
  if idx.size and (idx[ok].min(initial=0) < 0 or idx[ok].max(initial=0) >= num_codes):
    raise ValueError(f"code indices must be in [0, {num_codes})")
  used = np.zeros((idx.shape[0], num_codes), bool)  # [M, K]
  rows = np.broadcast_to(np.arange(idx.shape[0])[:, None], idx.shape)
  used[rows[ok], idx[ok]] = True
  return used.sum(0).astype(np.int64)


def code_scores(forget_counts, retain_counts, zero_division: str = "inf") -> np.ndarray:
  """s_k = N_k(D_f) / N_k(D_r) (Algorithm 1, line 5) with the zero-division rule of
  `LCRConfig.zero_division`. [K], [K] -> [K] float64."""
  nf, nr = np.asarray(forget_counts, np.float64), np.asarray(retain_counts, np.float64)
  if zero_division == "add_one":
    return nf / (nr + 1.0)
  if zero_division != "inf":
    raise ValueError(f"zero_division must be one of {ZERO_DIVISION}, got {zero_division!r}")
  out = np.zeros_like(nf)
  has_r = nr > 0
  out[has_r] = nf[has_r] / nr[has_r]
  out[~has_r & (nf > 0)] = np.inf
  return out


def top_codes(scores, forget_counts, r: int, retain_counts=None) -> np.ndarray:
  """C_f = TopK(s, r) (Algorithm 1, line 8): indices of the r largest scores, ties broken by
  larger N_k(D_f), then smaller N_k(D_r) (when given), then smaller index. Returns [r] int (in
  rank order)."""
  s, nf = np.asarray(scores, np.float64), np.asarray(forget_counts)
  nr = np.zeros_like(nf) if retain_counts is None else np.asarray(retain_counts)
  if not 0 <= r <= len(s):
    raise ValueError(f"r must be in [0, {len(s)}], got {r}")
  order = np.lexsort((np.arange(len(s)), nr, -nf, -s))  # last key is primary
  return order[:r]


def replace_codes(
  codebook,
  chosen: Sequence[int],
  key: jax.Array,
  cfg: LCRConfig = LCRConfig(),
  candidates: Sequence[int] | None = None,
) -> np.ndarray:
  """c_f <- c_bar + eps for each chosen code (Algorithm 1, lines 9-12); every other row is
  returned bit-identical.

  Args:
    codebook: [K, D].
    chosen: the codes C_f to overwrite (distinct).
    key: draws c_bar (uniformly from ``candidates``) and eps (`LCRConfig.noise_scale`).
    cfg: ``sampling`` and ``noise_scale``.
    candidates: codes c_bar may be drawn from (default C minus C_f); must not intersect C_f.
  Returns:
    [K, D] numpy array of the codebook's dtype.
  """
  book = np.array(codebook, copy=True)
  chosen = np.asarray(chosen, int)
  if len(np.unique(chosen)) != len(chosen):
    raise ValueError("chosen codes must be distinct")
  if len(chosen) == 0:
    return book
  if candidates is None:
    candidates = np.setdiff1d(np.arange(len(book)), chosen)
  candidates = np.asarray(candidates, int)
  if len(candidates) == 0 or np.isin(candidates, chosen).any():
    raise ValueError("candidates must be non-empty and disjoint from the chosen codes")
  k_bar, k_eps = jax.random.split(key)
  n_bar = 1 if cfg.sampling == "one" else len(chosen)
  pick = np.asarray(jax.random.randint(k_bar, (n_bar,), 0, len(candidates)))
  c_bar = book[candidates[pick]]  # [1 or r, D]
  sd = book.std(0)  # [D] per-dimension spread of the (original) codebook
  eps = np.asarray(jax.random.normal(k_eps, (len(chosen), book.shape[1]))) * cfg.noise_scale * sd
  book[chosen] = (c_bar + eps).astype(book.dtype)
  return book


def select_codes(
  method: str,
  r: int,
  forget_counts,
  retain_counts,
  key: jax.Array,
  zero_division: str = "inf",
) -> np.ndarray:
  """The r codes to replace: 'lcr' = `top_codes` of `code_scores`; 'random' = r distinct codes
  uniformly (the baseline). [r] int."""
  nf = np.asarray(forget_counts)
  if method == "lcr":
    return top_codes(code_scores(nf, retain_counts, zero_division), nf, r, retain_counts)
  if method == "random":
    if not 0 <= r <= len(nf):
      raise ValueError(f"r must be in [0, {len(nf)}], got {r}")
    return np.asarray(jax.random.permutation(key, len(nf)))[:r]
  raise ValueError(f"method must be one of {SELECTIONS}, got {method!r}")


def candidate_codes(chosen, forget_counts, retain_counts, rule: str) -> np.ndarray:
  """Codes c_bar may be drawn from (`LCRConfig.candidates`): 'rest' = all but ``chosen``;
  'retain_only' = those of them with N_k(D_r) > 0 and N_k(D_f) = 0 (else 'rest')."""
  k = len(forget_counts)
  rest = np.setdiff1d(np.arange(k), np.asarray(chosen, int))
  if rule == "rest":
    return rest
  if rule != "retain_only":
    raise ValueError(f"candidates must be one of {CANDIDATES}, got {rule!r}")
  nf, nr = np.asarray(forget_counts), np.asarray(retain_counts)
  safe = rest[(nr[rest] > 0) & (nf[rest] == 0)]
  return safe if len(safe) else rest


def unlearn_codebook(
  codebook,
  forget_counts,
  retain_counts,
  r: int,
  key: jax.Array,
  cfg: LCRConfig = LCRConfig(),
  method: str = "lcr",
) -> tuple[np.ndarray, np.ndarray]:
  """Algorithm 1 on one codebook [K, D] (or the random baseline): (new codebook, replaced codes
  [r] in selection order)."""
  k_sel, k_rep = jax.random.split(key)
  chosen = select_codes(method, r, forget_counts, retain_counts, k_sel, cfg.zero_division)
  cands = candidate_codes(chosen, forget_counts, retain_counts, cfg.candidates)
  return replace_codes(codebook, chosen, k_rep, cfg, cands), chosen


# ------------------------------------------------------------------------------------------------
# MoMask's residual VQ-VAE variables
# ------------------------------------------------------------------------------------------------
def codebook_path(layer: int) -> tuple[str, ...]:
  """Where layer ``layer``'s codebook [K, D] sits in `motion_jax.models.rvq.RVQVAE` variables."""
  return ("codebook", "quantizer", f"layer_{layer}", "codebook")


def get_codebook(variables: dict, layer: int) -> np.ndarray:
  node = variables
  for name in codebook_path(layer):
    node = node[name]
  return np.asarray(node)


def with_codebooks(variables: dict, books: dict[int, np.ndarray]) -> dict:
  """A copy of RVQ-VAE ``variables`` whose layer codebooks are ``books`` ({layer: [K, D]}); every
  other leaf is the same object (nothing else changes)."""
  out = dict(variables)
  for layer, book in books.items():
    old = get_codebook(variables, layer)
    if old.shape != np.shape(book):
      raise ValueError(f"layer {layer}: codebook {np.shape(book)}, expected {old.shape}")
    path = codebook_path(layer)
    node = out
    for name in path[:-1]:
      node[name] = dict(node[name])
      node = node[name]
    node[path[-1]] = np.asarray(book, old.dtype)
  return out


def edited_layers(cfg: LCRConfig, num_quantizers: int) -> list[int]:
  """The residual layers LCR edits (`LCRConfig.layers`)."""
  return [0] if cfg.layers == "base" else list(range(num_quantizers))


def unlearn_rvq(
  variables: dict,
  forget_indices,
  forget_valid,
  retain_indices,
  retain_valid,
  r: int,
  key: jax.Array,
  cfg: LCRConfig = LCRConfig(),
  method: str = "lcr",
) -> tuple[dict, dict[int, np.ndarray]]:
  """LCR (or the random baseline) on a residual VQ-VAE: indices [M, T, Q] and valid [M, T] of the
  forget and retain motions; each layer of `edited_layers` gets its own counts and r codes.
  Returns (new variables, {layer: replaced codes})."""
  fi, ri = np.asarray(forget_indices), np.asarray(retain_indices)
  books, chosen = {}, {}
  for layer in edited_layers(cfg, fi.shape[-1]):
    book = get_codebook(variables, layer)
    nf = code_usage_counts(fi[..., layer], forget_valid, len(book))
    nr = code_usage_counts(ri[..., layer], retain_valid, len(book))
    books[layer], chosen[layer] = unlearn_codebook(
      book, nf, nr, r, jax.random.fold_in(key, layer), cfg, method
    )
  return with_codebooks(variables, books), chosen


__all__ = [
  "LCRConfig",
  "candidate_codes",
  "code_scores",
  "code_usage_counts",
  "codebook_path",
  "edited_layers",
  "get_codebook",
  "replace_codes",
  "select_codes",
  "top_codes",
  "unlearn_codebook",
  "unlearn_rvq",
  "with_codebooks",
]
