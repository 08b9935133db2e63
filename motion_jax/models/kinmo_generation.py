"""KinMo's level-conditioned masked generator (Zhang et al., arXiv 2411.15472, Sec. 3.4).

KinMo keeps MoMask's generator (Guo et al., CVPR 2024, Sec. 3.2) and replaces its CLIP text
condition by the hierarchical text embeddings ``mu_c``, ``mu_g``, ``mu_i`` (HTMA, eqs. 4-6), one
generator with shared weights for the three levels. `LevelConditionedMaskTransformer` is MoMask's
`motion_jax.models.momask.MaskTransformer` whose condition token is a projection of the level's
embedding (the same projection for every level: the embeddings share one space).

Choices the paper does not state (attributes):

* ``level_embedding``: a learned embedding of the level id (0 global, 1 group, 2 interaction)
  added to the condition token (True), so the shared generator knows which granularity conditions
  it; False feeds the level's embedding alone.
* The condition is dropped for classifier-free guidance by zeroing the whole condition token,
  level embedding included (as MoMask's module does with its text token).
"""

from __future__ import annotations

import flax.linen as nn

from motion_jax.models.momask import TokenTransformerConfig, _Body

NUM_LEVELS = 3


class LevelConditionedMaskTransformer(nn.Module):
  """(ids [B, N] in 0..K+1, cond [B, F], level [B] int, keep [B] bool, valid [B, N] bool) ->
  logits [B, N, K]."""

  cfg: TokenTransformerConfig
  num_codes: int
  level_embedding: bool = True

  @nn.compact
  def __call__(self, ids, cond, level, keep, valid, *, deterministic: bool = True):
    d = self.cfg.latent_dim
    c = nn.Dense(d, name="text_proj")(cond)  # [B, D]
    if self.level_embedding:
      c = c + nn.Embed(NUM_LEVELS, d, name="level_embed")(level)
    c = c * keep[:, None].astype(c.dtype)
    x = nn.Embed(self.num_codes + 2, d, name="token_embed")(ids)  # [B, N, D]
    return _Body(self.cfg, self.num_codes, name="body")(c, x, valid, deterministic)


__all__ = ["NUM_LEVELS", "LevelConditionedMaskTransformer"]
