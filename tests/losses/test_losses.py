"""Tests of `motion_jax.losses`: every objective against a hand computation on small arrays.

The numpy references below are written from the papers' / docstrings' definitions, not from the
implementation: smooth-L1 (torch SmoothL1Loss), the closed-form KL between Gaussians, InfoNCE as
cross-entropy over explicit sums of exponentials, and the BIGE guidance terms on hand-made
trajectories with known answers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax import losses
from motion_jax.losses import bige_guidance as bg

# ---------------------------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------------------------


def np_smooth_l1(pred, target, beta=1.0):
  """Elementwise torch SmoothL1Loss(reduction='none')."""
  d = np.abs(np.asarray(pred, np.float64) - np.asarray(target, np.float64))
  return np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)


def np_kl(mu_q, lv_q, mu_p=None, lv_p=None):
  """Mean over elements of KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)), univariate closed form."""
  mu_p = np.zeros_like(mu_q) if mu_p is None else mu_p
  lv_p = np.zeros_like(lv_q) if lv_p is None else lv_p
  s_q, s_p = np.exp(0.5 * np.asarray(lv_q)), np.exp(0.5 * np.asarray(lv_p))
  kl = np.log(s_p / s_q) + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2) - 0.5
  return kl.mean()


def np_info_nce(x, y, tau=0.1, text=None, threshold=0.8):
  """Symmetric InfoNCE with explicit sums over the kept entries of each row / column."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  xn = x / np.linalg.norm(x, axis=1, keepdims=True)
  yn = y / np.linalg.norm(y, axis=1, keepdims=True)
  s = xn @ yn.T / tau
  n = len(x)
  keep = np.ones((n, n), bool)
  if text is not None:
    t = np.asarray(text, np.float64)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    cos = t @ t.T
    keep = (cos <= threshold) | np.eye(n, dtype=bool)
  rows = [-np.log(np.exp(s[i, i]) / np.exp(s[i, keep[i]]).sum()) for i in range(n)]
  cols = [-np.log(np.exp(s[j, j]) / np.exp(s[keep[:, j], j]).sum()) for j in range(n)]
  return 0.5 * (np.mean(rows) + np.mean(cols))


def J(fn, *static):
  """`fn` compiled once per shape (cheaper here than op-by-op dispatch); `static` names the
  arguments that select code paths."""
  return jax.jit(fn, static_argnames=static)


def _rand(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _close(got, expected, rtol=1e-5, atol=1e-6):
  np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# common
# ---------------------------------------------------------------------------------------------


def test_smooth_l1_piecewise_values():
  target = np.zeros(6, np.float32)
  pred = np.array([0.5, -0.5, 0.9, 2.0, -3.0, 1.0], np.float32)
  # beta 1: 0.5 d^2 below 1, |d| - 0.5 from 1 on.
  per = np.array([0.125, 0.125, 0.405, 1.5, 2.5, 0.5])
  _close(J(losses.smooth_l1, "axis")(pred, target), per.mean())
  # beta 2: 0.5 d^2 / 2 below 2, |d| - 1 from 2 on.
  per2 = np.array([0.0625, 0.0625, 0.2025, 1.0, 2.0, 0.25])
  _close(J(losses.smooth_l1, "axis")(pred, target, beta=2.0), per2.mean())
  _close(
    J(losses.smooth_l1, "axis")(pred, target, beta=0.25), np_smooth_l1(pred, target, 0.25).mean()
  )


def test_smooth_l1_masked_mean_and_axis():
  pred, target = _rand(0, 2, 3, 4) * 2, _rand(1, 2, 3, 4)
  mask = np.array([[True, True, False], [False, True, False]])
  per = np_smooth_l1(pred, target)
  _close(J(losses.smooth_l1, "axis")(pred, target, jnp.asarray(mask)), per[mask].mean())
  _close(J(losses.smooth_l1, "axis")(pred, target, axis=(1, 2)), per.mean((1, 2)))
  with pytest.raises(ValueError):
    losses.smooth_l1(pred, target, jnp.asarray(mask), axis=1)


def test_gaussian_kl_closed_form():
  mu_q, lv_q, mu_p, lv_p = _rand(2, 3, 4), _rand(3, 3, 4), _rand(4, 3, 4), _rand(5, 3, 4)
  _close(J(losses.gaussian_kl)(mu_q, lv_q), np_kl(mu_q, lv_q))
  _close(J(losses.gaussian_kl)(mu_q, lv_q, mu_p, lv_p), np_kl(mu_q, lv_q, mu_p, lv_p))
  # N(1, 1) vs N(0, 1): KL = 1/2 per element.
  _close(J(losses.gaussian_kl)(jnp.ones((2, 3)), jnp.zeros((2, 3))), 0.5)
  _close(J(losses.gaussian_kl)(mu_q, lv_q, mu_q, lv_q), 0.0, atol=1e-6)


def test_filtered_negatives_mask():
  text = np.array([[1.0, 0.0], [0.95, 0.3122499], [0.0, 2.0], [-1.0, 0.0]], np.float32)
  # cos(0, 1) = 0.95 > 0.8: a near-paraphrase pair, dropped both ways; the diagonal is kept.
  expected = np.ones((4, 4), bool)
  expected[0, 1] = expected[1, 0] = False
  np.testing.assert_array_equal(np.asarray(J(losses.filtered_negatives_mask)(text)), expected)
  # A threshold above every off-diagonal cosine keeps everything.
  assert np.all(np.asarray(J(losses.filtered_negatives_mask)(text, threshold=0.99)))


def test_info_nce_against_numpy():
  x, y = _rand(6, 5, 8), _rand(7, 5, 8)
  _close(J(losses.info_nce)(x, y), np_info_nce(x, y), rtol=1e-5)
  _close(J(losses.info_nce)(x, y, temperature=0.5), np_info_nce(x, y, tau=0.5), rtol=1e-5)
  # Two-sample case by hand: cos matrix [[1, 0], [0, 1]] / tau; each row -log(e^10/(e^10+1)).
  eye = np.eye(2, dtype=np.float32)
  _close(J(losses.info_nce)(eye, 3 * eye), np.log1p(np.exp(-10.0)), rtol=1e-5)


def test_info_nce_negative_filtering():
  x, y = _rand(8, 5, 8), _rand(9, 5, 8)
  text = _rand(10, 5, 4)
  text[3] = text[1] * 2 + 0.01  # near-duplicate captions of samples 1 and 3
  text[4] = text[0] + 0.05
  got = J(losses.info_nce)(x, y, text_embeddings=jnp.asarray(text))
  expected = np_info_nce(x, y, text=text)
  _close(got, expected, rtol=1e-5)
  assert abs(expected - np_info_nce(x, y)) > 1e-3  # the filtering changes the value
  # The filtering threshold is honoured.
  _close(
    J(losses.info_nce)(x, y, text_embeddings=jnp.asarray(text), threshold=0.999),
    np_info_nce(x, y, text=text, threshold=0.999),
    rtol=1e-5,
  )


# ---------------------------------------------------------------------------------------------
# VQ-VAE (BIGE eq. 1)
# ---------------------------------------------------------------------------------------------


def test_vq_terms():
  x, x_hat = _rand(11, 2, 5, 3), _rand(12, 2, 5, 3) * 1.5
  _close(J(losses.reconstruction_loss, "kind")(x_hat, x), np_smooth_l1(x_hat, x).mean())
  _close(J(losses.reconstruction_loss, "kind")(x_hat, x, "l2"), ((x_hat - x) ** 2).mean())
  with pytest.raises(ValueError):
    losses.reconstruction_loss(x_hat, x, "l1")
  # Temporal: mean over (B, T-1, C) of squared first differences over time.
  ramp = np.arange(5, dtype=np.float32)[None, :, None] * np.array([1.0, 2.0, -3.0])  # [1, 5, 3]
  _close(J(losses.temporal_smoothness)(ramp), (1 + 4 + 9) / 3)
  diffs = x_hat[:, 1:] - x_hat[:, :-1]
  _close(J(losses.temporal_smoothness)(x_hat), (diffs**2).mean())
  z_e, z_q = _rand(13, 2, 3, 4), _rand(14, 2, 3, 4)
  _close(J(losses.commitment_loss)(z_e, z_q), ((z_e - z_q) ** 2).mean())


@pytest.mark.parametrize("kind", ["smooth_l1", "l2"])
def test_vqvae_loss_total_and_terms(kind):
  x, x_hat = _rand(15, 2, 6, 3), _rand(16, 2, 6, 3) * 1.5
  z_e, z_q = _rand(17, 2, 3, 4), _rand(18, 2, 3, 4)
  rec = np_smooth_l1(x_hat, x).mean() if kind == "smooth_l1" else ((x_hat - x) ** 2).mean()
  temp = ((x_hat[:, 1:] - x_hat[:, :-1]) ** 2).mean()
  commit = ((z_e - z_q) ** 2).mean()
  total, terms = J(losses.vqvae_loss, "cfg")(
    x, x_hat, z_e, z_q, losses.VQLossConfig(recon_loss=kind)
  )
  _close(total, rec + 0.02 * commit + 2.0 * temp)
  _close(terms["recon"], rec)
  _close(terms["temporal"], temp)
  _close(terms["commit"], commit)
  cfg = losses.VQLossConfig(recon_loss=kind, commit=0.5, temporal=0.25)
  _close(J(losses.vqvae_loss, "cfg")(x, x_hat, z_e, z_q, cfg)[0], rec + 0.5 * commit + 0.25 * temp)
  assert "accel" not in terms  # the paper's eq. 1 unless the option is set


def test_acceleration_matching_option():
  # A parabola's second difference is constant: x = t^2 -> 2; x = -t^2/2 + 3t -> -1.
  t = np.arange(6, dtype=np.float32)[None, :, None]
  _close(J(losses.acceleration_matching)(t**2, -0.5 * t**2 + 3 * t), 9.0)
  # A linear offset (any velocity) has zero second difference: the term only sees curvature.
  _close(J(losses.acceleration_matching)(t**2 + 5 * t - 1, t**2), 0.0)
  x, x_hat = _rand(21, 2, 6, 3), _rand(22, 2, 6, 3)
  z_e, z_q = _rand(23, 2, 3, 4), _rand(24, 2, 3, 4)
  lap = lambda y: y[:, 2:] - 2 * y[:, 1:-1] + y[:, :-2]  # noqa: E731
  acc = ((lap(x_hat) - lap(x)) ** 2).mean()
  base = J(losses.vqvae_loss, "cfg")(x, x_hat, z_e, z_q, losses.VQLossConfig())[0]
  total, terms = J(losses.vqvae_loss, "cfg")(x, x_hat, z_e, z_q, losses.VQLossConfig(accel=3.0))
  _close(terms["accel"], acc)
  _close(total, base + 3.0 * acc)
  with pytest.raises(ValueError, match="accel"):
    losses.VQLossConfig(accel=-1.0)


def test_vq_loss_config_defaults_and_validation():
  cfg = losses.VQLossConfig()
  assert (cfg.recon_loss, cfg.commit, cfg.temporal) == ("smooth_l1", 0.02, 2.0)
  with pytest.raises(ValueError):
    losses.VQLossConfig(recon_loss="l1")


def test_commitment_gradient_flows_to_z_e_only():
  z_e, z_q = _rand(19, 2, 3, 4), _rand(20, 2, 3, 4)
  g_e, g_q = jax.jit(jax.grad(losses.commitment_loss, argnums=(0, 1)))(z_e, z_q)
  _close(g_e, 2 * (z_e - z_q) / z_e.size)
  np.testing.assert_array_equal(np.asarray(g_q), 0.0)
  # Through the full objective: 0.02 x the commitment gradient; no gradient into the codes.
  x = _rand(21, 1, 4, 2)

  def total(z_e, z_q):
    return losses.vqvae_loss(x, x, z_e, z_q)[0]

  g_e, g_q = jax.jit(jax.grad(total, argnums=(0, 1)))(z_e, z_q)
  _close(g_e, 0.02 * 2 * (z_e - z_q) / z_e.size)
  np.testing.assert_array_equal(np.asarray(g_q), 0.0)


# ---------------------------------------------------------------------------------------------
# Muscle surrogate (BIGE Sec. 3.2)
# ---------------------------------------------------------------------------------------------


def test_surrogate_loss_l1_and_weighted():
  pred = np.array([[[0.2, 0.9], [0.5, 0.5]]], np.float32)  # [1, 2, 2]
  target = np.array([[[0.4, 0.6], [0.5, 0.0]]], np.float32)
  # |d| = 0.2, 0.3, 0, 0.5 -> mean 0.25; weighted 100 * mean(|d| * target) = 100 * 0.26 / 4.
  loss, terms = J(losses.surrogate_loss, "weighted")(pred, target)
  _close(loss, 0.25)
  _close(terms["l1"], 0.25)
  loss, terms = J(losses.surrogate_loss, "weighted")(pred, target, weighted=True)
  _close(loss, 100 * (0.2 * 0.4 + 0.3 * 0.6) / 4)
  _close(terms["l1"], 0.25)


# ---------------------------------------------------------------------------------------------
# TMR and KinMo
# ---------------------------------------------------------------------------------------------


def _tmr_outputs(seed, b=4, t=5, f=3, d=6):
  r = np.random.default_rng(seed)

  def n(*s):
    return r.normal(size=s).astype(np.float32)

  return {
    "motion_from_text": n(b, t, f),
    "motion_from_motion": n(b, t, f),
    "text_latent": n(b, d),
    "motion_latent": n(b, d),
    "text_mu": n(b, d),
    "text_logvar": 0.5 * n(b, d),
    "motion_mu": n(b, d),
    "motion_logvar": 0.5 * n(b, d),
  }


def test_tmr_loss_against_hand_computation():
  out = _tmr_outputs(22)
  motion = _rand(23, 4, 5, 3)
  mask = np.arange(5)[None] < np.array([[5], [3], [4], [1]])
  text = _rand(24, 4, 7)
  text[2] = text[0] * 3  # a near-duplicate caption pair: filtered negatives

  def masked(pred):
    return np_smooth_l1(pred, motion)[mask].mean()

  rec = masked(out["motion_from_text"]) + masked(out["motion_from_motion"])
  tm, tl, mm, ml = out["text_mu"], out["text_logvar"], out["motion_mu"], out["motion_logvar"]
  kl = np_kl(tm, tl, mm, ml) + np_kl(mm, ml, tm, tl) + np_kl(tm, tl) + np_kl(mm, ml)
  latent = np_smooth_l1(out["text_latent"], out["motion_latent"]).mean()
  nce = np_info_nce(out["text_latent"], out["motion_latent"], 0.1, text, 0.8)
  total, terms = J(losses.tmr_loss, "weights")(out, motion, jnp.asarray(mask), jnp.asarray(text))
  _close(total, rec + 1e-5 * kl + 1e-5 * latent + 0.1 * nce)
  for name, value in [
    ("reconstruction", rec),
    ("kl", kl),
    ("latent", latent),
    ("contrastive", nce),
  ]:
    _close(terms[name], value, rtol=1e-5)
  _close(terms["total"], rec + 1e-5 * kl + 1e-5 * latent + 0.1 * nce)
  w = losses.TMRLossWeights(reconstruction=2.0, kl=0.5, latent=0.25, contrastive=3.0)
  _close(
    J(losses.tmr_loss, "weights")(out, motion, jnp.asarray(mask), jnp.asarray(text), w)[0],
    2.0 * rec + 0.5 * kl + 0.25 * latent + 3.0 * nce,
  )
  # Without caption embeddings: no filtering.
  nce_plain = np_info_nce(out["text_latent"], out["motion_latent"], 0.1)
  _close(J(losses.tmr_loss, "weights")(out, motion, jnp.asarray(mask))[1]["contrastive"], nce_plain)


def test_contrastive_loss():
  x, y, text = _rand(25, 4, 6), _rand(26, 4, 6), _rand(27, 4, 5)
  text[3] = text[1] + 0.01
  loss, terms = J(losses.contrastive_loss)(x, y, 0.2, jnp.asarray(text), 0.8)
  _close(loss, np_info_nce(x, y, 0.2, text, 0.8))
  _close(terms["contrastive"], np_info_nce(x, y, 0.2, text, 0.8))


def test_kinmo_nce_loss_per_level_weights():
  motion = _rand(28, 4, 6)
  levels = {"global": _rand(29, 4, 6), "group": _rand(30, 4, 6), "interaction": _rand(31, 4, 6)}
  captions = _rand(32, 4, 5)
  captions[2] = captions[0] * 2
  expected = {k: np_info_nce(v, motion, 0.1, captions, 0.8) for k, v in levels.items()}
  total, terms = J(losses.kinmo_nce_loss)(motion, levels, caption_embeddings=jnp.asarray(captions))
  _close(total, sum(expected.values()))
  for k, v in expected.items():
    _close(terms[k], v)
  weights = {"group": 2.0, "interaction": 0.5}  # 'global' defaults to 1
  total, _ = J(losses.kinmo_nce_loss)(
    motion, levels, temperature=0.1, level_weights=weights, caption_embeddings=captions
  )
  _close(total, expected["global"] + 2.0 * expected["group"] + 0.5 * expected["interaction"])
  total, terms = J(losses.kinmo_nce_loss)(motion, levels, temperature=0.3)
  _close(terms["group"], np_info_nce(levels["group"], motion, 0.3))


def test_kinmo_loss_is_per_level_tmr_terms_by_hand():
  """KinMo sec. 3.3: per level, L_R + 1e-5 L_KL + 1e-5 L_E + 0.1 L_NCE (eq. 7), summed over
  levels with their weights; each term recomputed here with numpy."""
  b, t, f, d = 4, 5, 3, 6
  r = np.random.default_rng(40)

  def n(*s):
    return r.normal(size=s).astype(np.float32)

  levels = ("global", "group", "interaction")
  text = {lv: {"mu": n(b, d), "logvar": 0.5 * n(b, d), "latent": n(b, d)} for lv in levels}
  mot = {"mu": n(b, d), "logvar": 0.5 * n(b, d), "latent": n(b, d)}
  out = {
    "text": text,
    "motion": mot,
    "motion_from_text": {lv: n(b, t, f) for lv in levels},
    "motion_from_motion": n(b, t, f),
  }
  motion = _rand(41, b, t, f)
  mask = np.arange(t)[None] < np.array([[5], [2], [4], [3]])
  captions = _rand(42, b, 7)
  captions[3] = captions[1] * 2  # near-duplicate captions: filtered negatives

  def masked(pred):
    return np_smooth_l1(pred, motion)[mask].mean()

  mm, ml = mot["mu"], mot["logvar"]
  want = {}
  for lv in levels:
    tm, tl = text[lv]["mu"], text[lv]["logvar"]
    rec = masked(out["motion_from_text"][lv]) + masked(out["motion_from_motion"])
    kl = np_kl(tm, tl, mm, ml) + np_kl(mm, ml, tm, tl) + np_kl(tm, tl) + np_kl(mm, ml)
    emb = np_smooth_l1(text[lv]["latent"], mot["latent"]).mean()
    nce = np_info_nce(text[lv]["latent"], mot["latent"], 0.1, captions, 0.8)
    want[lv] = {"reconstruction": rec, "kl": kl, "latent": emb, "contrastive": nce}
    want[lv]["total"] = rec + 1e-5 * kl + 1e-5 * emb + 0.1 * nce
  total, terms = J(losses.kinmo_loss)(out, motion, jnp.asarray(mask), jnp.asarray(captions))
  for lv in levels:
    for k, v in want[lv].items():
      _close(terms[f"{lv}/{k}"], v)
  _close(total, sum(want[lv]["total"] for lv in levels))
  weights = {"global": 0.5, "interaction": 3.0}  # group defaults to 1
  total_w, _ = losses.kinmo_loss(
    out, motion, jnp.asarray(mask), jnp.asarray(captions), level_weights=weights
  )
  _close(
    total_w,
    0.5 * want["global"]["total"] + want["group"]["total"] + 3.0 * want["interaction"]["total"],
  )
  # Only the levels present are summed (the +group ablation trains two).
  two = {**out, "text": {lv: text[lv] for lv in levels[:2]}}
  total2, terms2 = losses.kinmo_loss(two, motion, jnp.asarray(mask), jnp.asarray(captions))
  _close(total2, want["global"]["total"] + want["group"]["total"])
  assert not any(k.startswith("interaction/") for k in terms2)


# ---------------------------------------------------------------------------------------------
# BIGE guidance terms (eqs. 2-4, Table 1)
# ---------------------------------------------------------------------------------------------


def test_proximity_is_the_min_frobenius_distance():
  z = np.zeros((2, 3), np.float32)
  train = np.zeros((3, 2, 3), np.float32)
  train[0, 0, 0] = 5.0  # ||.||_F = 5
  train[1] = 1.0  # sqrt(6)
  train[2, 1] = [2.0, 1.0, 2.0]  # 3
  _close(J(bg.proximity)(z, train), np.sqrt(6.0))
  r = _rand(33, 7, 2, 3)
  z = _rand(34, 2, 3)
  _close(J(bg.proximity)(z, r), np.linalg.norm((r - z).reshape(7, -1), axis=1).min(), rtol=1e-4)
  assert float(J(bg.proximity)(r[3], r)) < 1e-2  # a training latent itself


def test_tilt_at_peak_is_signed_and_soft():
  tilt = np.array([[10.0, -30.0, -25.0, 20.0], [40.0, 0.0, -20.0, 30.0]], np.float32)
  vasmed = np.full((2, 4, 2), 0.1, np.float32)
  vasmed[0, 2] = 0.9  # peak at frame 2
  vasmed[1, 0] = [0.2, 0.9]  # the right muscle peaks at frame 0
  vasmed[1, 3] = [0.6, 0.1]  # the left one lower, at frame 3
  _close(J(bg.tilt_at_peak)(tilt, vasmed), [-25.0, 40.0], rtol=1e-4)
  # Mild temperature: softmax over frames x muscles of a / sharpness, summed over muscles.
  w = np.exp(vasmed / 0.5)
  w = (w / w.sum((1, 2), keepdims=True)).sum(-1)
  _close(J(bg.tilt_at_peak)(tilt, vasmed, 0.5), (w * tilt).sum(-1), rtol=1e-5)


def test_table1_kinematic_terms():
  left = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]], np.float32)  # degrees
  right = np.array([[[1.0, 0.0, 6.0], [2.0, 0.0, 0.0]]], np.float32)
  _close(J(bg.asymmetry_sq)(left, right), [((4 + 9) + 4) / 2])  # mean_t sum_pairs
  steps = np.array([0.5, -2.0, 1.0], np.float32)  # per-frame change per angle
  angles = np.concatenate([steps * np.arange(7.0)[:, None], 2 * steps * np.arange(7.0)[:, None]])
  angles = angles.reshape(2, 7, 3).astype(np.float32)
  per = float((steps**2).sum())
  _close(J(bg.angular_velocity_sq)(angles), [per, 4 * per], rtol=1e-5)


def test_table1_translation_terms():
  v = np.array([0.01, 0.02, -0.02], np.float32)  # per frame: |v|^2 = 9e-4
  k = np.arange(9, dtype=np.float32)[:, None]
  trans = (np.array([0.1, 0.9, 0.0]) + v * k)[None].astype(np.float32)
  _close(J(bg.com_velocity_sq)(trans), [9e-4], rtol=1e-4)
  _close(J(bg.com_acceleration_sq)(trans), [0.0], atol=1e-9)
  c = np.zeros((1, 9, 3), np.float32)
  c[0, :, 1] = 0.5 * 0.01 * k[:, 0] ** 2  # second difference 0.01 everywhere
  _close(J(bg.com_acceleration_sq)(c), [1e-4], rtol=1e-3)
  # The code's form: smooth-L1 (beta 0.01), replicate-padded: the two end frames have
  # Laplacian +-(first / last difference) instead of 0.01.
  lap = np.full(9, 0.01)
  lap[0] = c[0, 1, 1] - c[0, 0, 1]
  lap[-1] = -(c[0, -1, 1] - c[0, -2, 1])
  d = np.abs(lap)
  per = np.where(d < 0.01, 0.5 * d**2 / 0.01, d - 0.005)
  _close(J(bg.code_com_acceleration)(c), [per.sum() / 27], rtol=1e-4)
  _close(J(bg.code_temporal_trans)(trans), [float((v**2).mean())], rtol=1e-4)


def test_lowest_point_and_sliding():
  joints = np.zeros((1, 3, 2, 3), np.float32)
  joints[0, :, 1, 1] = 1.0  # second joint 1 m up
  joints[0, :, 0, 0] = [0.0, 0.01, 0.03]  # lowest joint slides along x
  p = np.asarray(J(bg.lowest_point)(joints))
  _close(p[0, :, 0], [0.0, 0.01, 0.03], atol=1e-6)
  _close(J(bg.sliding_sq)(p), [(0.01**2 + 0.02**2) / 2], rtol=1e-3)


def test_ground_soft_lowest_point_to_the_floor():
  heights = np.array([[[0.3, 0.3, 0.3, 0.3]], [[0.07, 0.9, 1.2, 0.5]]], np.float32)  # [2,1,4]
  s = 0.01
  got = np.asarray(J(bg.ground_sq)(heights, 0.05, s))
  # Equal heights h: -s log(J e^{-h/s}) = h - s log J.
  _close(got[0], (0.3 - s * np.log(4) - 0.05) ** 2, rtol=1e-5)
  _close(got[1], 0.02**2, rtol=1e-3)  # one joint far below the others: its height
  two_frames = np.concatenate([heights[1:], heights[1:] + 0.1], axis=1)  # mean over time
  _close(J(bg.ground_sq)(two_frames, 0.05, s), [(0.02**2 + 0.12**2) / 2], rtol=1e-3)


def test_activation_range_hinge():
  low, high = 0.3, 0.7
  acts = np.zeros((4, 3, 2), np.float32)
  acts[0, 1] = [0.5, 0.6]  # both peaks inside [low, high]: 0
  acts[1, 2] = [0.8, 0.5]  # first peak 0.1 above high
  acts[2, 0] = [0.1, 0.25]  # peaks 0.2 and 0.05 below low
  acts[3, :, 0] = [0.2, 0.9, 0.4]  # peak over time 0.9 -> 0.2; second muscle peak 0 -> 0.3
  _close(J(bg.activation_range)(acts, low, high), [0.0, 0.1, 0.25, 0.5], atol=1e-6)
  # Per frame (Table 1 read literally): the mean over frames of each frame's hinge.
  frame = np.maximum(np.maximum(acts - high, low - acts), 0).mean(1).sum(-1)
  _close(J(bg.activation_range, "per_frame")(acts, low, high, per_frame=True), frame, atol=1e-6)


def test_code_terms_by_hand():
  tilt = np.array([[3.0, -4.0]], np.float32)
  _close(J(bg.code_tilt)(tilt), [12.5])
  knees = np.array([[[10.0, 20.0], [30.0, 40.0]]], np.float32)
  _close(J(bg.code_knee_flex)(knees), [-(100 + 400 + 900 + 1600) / 4])
  left = np.array([[[1.0, 2.0, 3.0]]], np.float32)
  right = np.array([[[1.0, 0.0, 6.0]]], np.float32)
  _close(J(bg.code_symmetry)(left, right), [(0 + 4 + 9) / 3])
  heights = np.array([[[0.1, 0.5], [0.3, 0.2], [0.05, 0.9]]], np.float32)  # lowest .1 .2 .05
  _close(J(bg.code_foot)(heights), [(0.01 + 0.04 + 0.0025) / 3], rtol=1e-5)
  _close(J(bg.code_foot_sliding)(heights), [(0.01 + 0.0225) / 2], rtol=1e-5)


def test_temporal_term():
  const = np.tile(_rand(35, 1, 1, 4), (2, 6, 1))
  _close(J(bg.temporal)(const), [0.0, 0.0])
  ramp = (np.arange(6, dtype=np.float32)[None, :, None] * np.array([0.5, -1.0]))[[0, 0]]
  ramp[1] *= 2
  _close(J(bg.temporal)(ramp), [(0.25 + 1) / 2, 4 * (0.25 + 1) / 2])


# ------------------------------------------------------------------------------------------------
# Diffusion: length-masked MSE and MDM's geometric terms
# ------------------------------------------------------------------------------------------------
def test_masked_mse_ignores_padded_frames():
  from motion_jax.losses import masked_mse

  pred = jnp.zeros((2, 4, 3))
  target = jnp.ones((2, 4, 3)).at[:, 2:].set(100.0)  # huge errors only in padded frames
  mask = jnp.asarray([[1, 1, 0, 0], [1, 1, 0, 0]], bool)
  assert float(masked_mse(pred, target, mask)) == pytest.approx(1.0)
  mask2 = mask.at[1, 2].set(True)  # one more valid frame with error 100^2 on 3 features
  want = (2 * 2 * 3 * 1.0 + 3 * 1e4) / (5 * 3)
  assert float(masked_mse(pred, target, mask2)) == pytest.approx(want, rel=1e-6)


def test_geometric_losses_and_weights():
  from motion_jax.losses import DiffusionLossWeights, diffusion_loss, geometric_losses

  b, t, j = 1, 5, 3
  x0 = jnp.zeros((b, t, 2))
  x0_hat = jnp.arange(t, dtype=jnp.float32)[None, :, None] * jnp.ones((b, t, 2))  # velocity 1
  joints = jnp.zeros((b, t, j, 3))
  joints_hat = jnp.ones((b, t, j, 3)) * jnp.arange(t, dtype=jnp.float32)[None, :, None, None]
  contact = jnp.asarray([[[1.0], [0.0], [1.0], [0.0], [0.0]]])  # foot in contact at frames 0, 2
  mask = jnp.ones((b, t), bool)
  g = geometric_losses(
    x0, x0_hat, mask, joints=joints, joints_hat=joints_hat, foot_contact=contact, foot_joints=(2,)
  )
  assert float(g["velocity"]) == pytest.approx(1.0)
  assert float(g["positions"]) == pytest.approx(float(jnp.mean(joints_hat**2)))
  # foot velocity 1 per axis, counted where in contact (2 of 4 frame pairs), 3 axes
  assert float(g["foot_contact"]) == pytest.approx(2 * 3 / (4 * 3))
  total, terms = diffusion_loss(x0_hat, x0, mask, DiffusionLossWeights(velocity=2.0), g)
  assert float(total) == pytest.approx(float(terms["simple"]) + 2.0)
  total0, _ = diffusion_loss(x0_hat, x0, mask, DiffusionLossWeights(), g)
  assert float(total0) == pytest.approx(float(terms["simple"]))
