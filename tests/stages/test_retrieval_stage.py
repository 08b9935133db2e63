"""The KinMo retrieval stage's model/loss wiring and evaluation, on a synthetic tiny batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.metrics import retrieval as retrieval_lib
from motion_jax.models.kinmo_alignment import retrieval_similarity
from motion_jax.stages import retrieval as stage

TINY = stage.AlignmentModelConfig(latent_dim=16, ff_dim=32, num_layers=1, num_heads=2)
B, F, FM = 6, 8, 5


def _batch(seed=0):
  r = np.random.default_rng(seed)
  n = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)  # noqa: E731
  return {
    "global_tokens": n(B, 4, F),
    "global_mask": jnp.ones((B, 4), bool).at[1, 3].set(False),
    "group_tokens": n(B, 6, 1, F),
    "group_mask": jnp.ones((B, 6, 1), bool),
    "interaction_tokens": n(B, 15, 1, F),
    "interaction_mask": jnp.ones((B, 15, 1), bool),
    "motion": n(B, 7, FM),
    "mask": jnp.arange(7)[None] < jnp.asarray([[7], [5], [6], [7], [3], [7]]),
    "caption_embedding": n(B, 3),
  }


@pytest.mark.parametrize("objective", ["tmr", "nce"])
def test_loss_fn_objectives(objective):
  levels = stage.LEVEL_SETS["global+group"]
  model = stage.make_model(
    TINY, levels=levels, use_cross_attention=True, motion_features=FM, text_features=F
  )
  batch = _batch()
  params = model.init(jax.random.PRNGKey(0), *(batch[k] for k in stage.TEXT_KEYS), batch["motion"],
                      batch["mask"])["params"]  # fmt: skip
  loss_fn = stage.make_loss_fn(model, levels, stage.AlignmentLossConfig(objective=objective))
  rngs = {"dropout": jax.random.PRNGKey(1), "sample": jax.random.PRNGKey(2)}
  total, (terms, _) = jax.jit(loss_fn)(params, {}, batch, rngs)
  assert np.isfinite(float(total))
  if objective == "tmr":
    want = {f"{lv}_{t}" for lv in levels for t in ("reconstruction", "kl", "latent", "contrastive")}
    assert want <= set(terms) and not any(k.startswith("interaction") for k in terms)
    # Per-level TMR totals (weights 1) sum to the objective.
    np.testing.assert_allclose(total, sum(terms[f"{lv}_total"] for lv in levels), rtol=1e-5)
  else:
    assert set(terms) == {"global_contrastive", "group_contrastive"}
    np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-5)


def test_evaluate_concat_is_the_mean_of_level_cosines():
  r = np.random.default_rng(1)
  levels = stage.LEVEL_SETS["global+group+interaction"]
  text = {lv: r.normal(size=(20, 8)) for lv in levels}
  motion = r.normal(size=(20, 8))
  captions = r.normal(size=(20, 4))
  kw = dict(dissimilar_size=10, batch_size=8)
  out = stage.evaluate(text, motion, captions, levels, **kw)
  assert out["main_level"] == "concat" and set(out["per_level"]) == set(levels)
  mean = np.mean([retrieval_similarity(text[lv], motion) for lv in levels], axis=0)
  want = retrieval_lib.evaluate_retrieval(mean, captions, **kw, seed=0, num_repeats=1)
  assert out["main"] == want
  finest = stage.evaluate(text, motion, captions, levels, retrieval="finest", **kw)
  assert finest["main_level"] == "interaction"
  assert finest["main"] == out["per_level"]["interaction"]
  with pytest.raises(ValueError, match="retrieval"):
    stage.evaluate(text, motion, captions, levels, retrieval="mean", **kw)


def test_config_errors():
  with pytest.raises(ValueError, match="alignment"):
    stage.AlignmentModelConfig(alignment="after")
  with pytest.raises(ValueError, match="retrieval"):
    stage.AlignmentModelConfig(retrieval="mean")
  with pytest.raises(ValueError, match="cross_memory"):
    stage.AlignmentModelConfig(cross_memory="all")
  with pytest.raises(ValueError, match="objective"):
    stage.AlignmentLossConfig(objective="clip")
  cfg = stage.RetrievalStageConfig()
  assert (cfg.model.alignment, cfg.model.vae, cfg.loss.objective) == ("pre", True, "tmr")
  assert (cfg.loss.kl, cfg.loss.latent, cfg.loss.contrastive) == (1e-5, 1e-5, 0.1)  # TMR's
