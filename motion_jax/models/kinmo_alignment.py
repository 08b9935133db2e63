"""KinMo Hierarchical Text-Motion Alignment (HTMA).

KinMo (Zhang, Liu, Kim, Garrido, Chaudhuri, "KinMo: Kinematic-aware Human Motion Understanding and
Generation", arXiv 2411.15472 / ICCV 2025) describes a motion at three levels: a *global* action
caption, *group-level* captions of the movement of each kinematic group (torso, arms, legs, ...)
and *interaction-level* captions of how groups move relative to each other. HTMA encodes the three
levels with transformer text encoders and fuses them coarse-to-fine (eqs. 4-6):

    e_g = E_g(T_g)                                   (4)  global
    e_b = E_b(T_b) + CrossAttn(E_b(T_b), e_g)        (5)  group attends to global
    e_i = E_i(T_i) + CrossAttn(E_i(T_i), e_b)        (6)  interaction attends to (fused) group

and aligns the motion embedding with the text embedding of every level by contrastive learning
(eq. 7: one InfoNCE per level, summed).

Interpretations made here (the paper does not pin them down; documented so they can be revisited):

* Each level encoder is a TMR/ACTOR-style transformer over frozen token features (the MiniLM token
  states of :mod:`motion_jax.models.text_encoder`), with one learned embedding token prepended; the
  level embedding is that token's output. The cross-attention of eqs. 5-6 works on whole token
  sequences (queries: all tokens of the finer level incl. its embedding token; keys/values: all
  tokens of the coarser level incl. its embedding token, padding masked), as a single post-LN
  cross-attention layer with residual (:class:`motion_jax.models.attention.CrossAttentionLayer`).
* Group (and interaction) captions may be given either as one concatenated token sequence
  ``[B, L, F]`` or per group ``[B, G, L, F]``; in the latter case they are flattened to ``G * L``
  tokens and a learned segment embedding (group index) is added to the token features.
* The motion encoder is a TMR-style motion encoder with one learned token: a single motion embedding
  ``z_m`` ``[B, D]``. It is compared (cosine / temperature) with the fused text embedding of *each*
  level, ``e_g``, ``e_b``, ``e_i``; the loss (:func:`motion_jax.losses.kinmo_loss`) is the sum
  of the three symmetric InfoNCE terms (optionally weighted). For retrieval the finest fused
  level ``e_i`` (which carries global and group information through eqs. 5-6) is used by default
  (``retrieval_level``).
* ``use_cross_attention=False`` is the ablation without hierarchical fusion: the three encoders are
  independent and no cross-attention parameters exist.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.models.attention import CrossAttentionLayer
from motion_jax.models.tmr import ActorStyleEncoder

Array = jax.Array

LEVELS = ("global", "group", "interaction")


@dataclasses.dataclass(frozen=True)
class KinMoAlignmentConfig:
  """Hyper-parameters of HTMA (encoder sizes follow :class:`motion_jax.models.tmr.TMRConfig`)."""

  text_features: int = 384  # MiniLM token states
  motion_features: int = 263  # HumanML3D features
  latent_dim: int = 256
  ff_dim: int = 1024
  num_layers: int = 6
  num_heads: int = 4
  dropout_rate: float = 0.1
  activation: str = "gelu"
  use_cross_attention: bool = True  # False: ablation without hierarchical fusion
  max_segments: int = 16  # group / interaction captions per sample when given as [B, G, L, F]
  retrieval_level: str = "interaction"

  def __post_init__(self):
    if self.retrieval_level not in LEVELS:
      raise ValueError(f"retrieval_level must be one of {LEVELS}, got {self.retrieval_level!r}")

  @classmethod
  def tiny(cls, text_features: int = 16, motion_features: int = 12, **kw) -> KinMoAlignmentConfig:
    return cls(
      text_features=text_features,
      motion_features=motion_features,
      latent_dim=16,
      ff_dim=32,
      num_layers=1,
      num_heads=2,
      **kw,
    )


def _check_width(what: str, x: Array, expected: int) -> None:
  if x.shape[-1] != expected:
    raise ValueError(f"{what} have width {x.shape[-1]}, config says {expected}")


def _encoder(cfg: KinMoAlignmentConfig, name: str | None = None) -> ActorStyleEncoder:
  """TMR-style transformer encoder with one learned embedding token."""
  return ActorStyleEncoder(
    latent_dim=cfg.latent_dim,
    ff_dim=cfg.ff_dim,
    num_layers=cfg.num_layers,
    num_heads=cfg.num_heads,
    dropout_rate=cfg.dropout_rate,
    activation=cfg.activation,
    num_tokens=1,
    name=name,
  )


class LevelTextEncoder(nn.Module):
  """Encoder of one description level: ``[B, L, F]`` or ``[B, G, L, F]`` token features.

  Returns ``(embedding [B, D], aux)`` with ``aux["states"]`` ``[B, 1 + L', D]`` and
  ``aux["mask"]`` ``[B, 1 + L']`` (``L' = G * L`` for per-segment input).
  """

  config: KinMoAlignmentConfig

  @nn.compact
  def __call__(
    self,
    tokens: Array,  # [B, L, F] or [B, G, L, F]
    mask: Array,  # [B, L] or [B, G, L]
    deterministic: bool = True,
  ) -> tuple[Array, dict[str, Array]]:
    cfg = self.config
    _check_width("text features", tokens, cfg.text_features)
    if tokens.ndim == 4:  # [B, G, L, F]: one caption per group / interaction
      b, g, length, f = tokens.shape
      if g > cfg.max_segments:
        raise ValueError(f"{g} segments > max_segments={cfg.max_segments}")
      segment_embed = nn.Embed(cfg.max_segments, f, name="segment_embedding")
      segment = segment_embed(jnp.arange(g))  # [G, F]
      tokens = (tokens + segment[None, :, None, :]).reshape(b, g * length, f)  # [B, G*L, F]
      mask = mask.reshape(b, g * length)
    elif tokens.ndim != 3:
      raise ValueError(f"expected [B, L, F] or [B, G, L, F] tokens, got shape {tokens.shape}")
    out, aux = _encoder(cfg, name="encoder")(tokens, mask, deterministic)
    return out[:, 0], aux  # [B, D]


class HierarchicalTextEncoder(nn.Module):
  """Global, group and interaction encoders fused coarse-to-fine by cross-attention (eqs. 4-6).

  Returns ``{"global": e_g, "group": e_b, "interaction": e_i}``, each ``[B, D]``.
  """

  config: KinMoAlignmentConfig

  @nn.compact
  def __call__(
    self,
    global_tokens: Array,  # [B, Lg, F]
    global_mask: Array,  # [B, Lg]
    group_tokens: Array,  # [B, Lb, F] or [B, G, Lb, F]
    group_mask: Array,  # [B, Lb] or [B, G, Lb]
    interaction_tokens: Array,  # [B, Li, F] or [B, I, Li, F]
    interaction_mask: Array,  # [B, Li] or [B, I, Li]
    deterministic: bool = True,
  ) -> dict[str, Array]:
    cfg = self.config
    det = deterministic
    _, g = LevelTextEncoder(cfg, name="global_encoder")(global_tokens, global_mask, det)
    _, b = LevelTextEncoder(cfg, name="group_encoder")(group_tokens, group_mask, det)
    _, i = LevelTextEncoder(cfg, name="interaction_encoder")(
      interaction_tokens, interaction_mask, det
    )
    g_states, b_states, i_states = g["states"], b["states"], i["states"]  # [B, 1+L, D]
    if cfg.use_cross_attention:
      cross = dict(num_heads=cfg.num_heads, dropout_rate=cfg.dropout_rate)
      # eq. 5: group tokens attend to the global tokens (residual inside the layer).
      b_states = CrossAttentionLayer(**cross, name="group_cross_attention")(
        b_states, g_states, g["mask"], deterministic
      )
      # eq. 6: interaction tokens attend to the fused group tokens.
      i_states = CrossAttentionLayer(**cross, name="interaction_cross_attention")(
        i_states, b_states, b["mask"], deterministic
      )
    # The level embedding is the output at the learned token (position 0): [B, D] each.
    return {"global": g_states[:, 0], "group": b_states[:, 0], "interaction": i_states[:, 0]}


class KinMoAlignment(nn.Module):
  """HTMA: hierarchical text encoder + motion encoder in a shared embedding space.

  ``__call__`` returns ``{"text": {level: [B, D]}, "motion": [B, D]}``; ``encode_text`` and
  ``encode_motion`` compute each side alone
  (``module.apply(..., method=KinMoAlignment.encode_motion)``).
  """

  config: KinMoAlignmentConfig

  def setup(self):
    cfg = self.config
    self.text_encoder = HierarchicalTextEncoder(cfg)
    self.motion_encoder = _encoder(cfg)

  def encode_text(
    self,
    global_tokens: Array,  # [B, Lg, F]
    global_mask: Array,  # [B, Lg]
    group_tokens: Array,  # [B, Lb, F] or [B, G, Lb, F]
    group_mask: Array,
    interaction_tokens: Array,  # [B, Li, F] or [B, I, Li, F]
    interaction_mask: Array,
    deterministic: bool = True,
  ) -> dict[str, Array]:
    return self.text_encoder(
      global_tokens,
      global_mask,
      group_tokens,
      group_mask,
      interaction_tokens,
      interaction_mask,
      deterministic,
    )

  def encode_motion(
    self,
    motion: Array,  # [B, T, Fm]
    motion_mask: Array,  # [B, T]
    deterministic: bool = True,
  ) -> Array:  # [B, D]
    _check_width("motion features", motion, self.config.motion_features)
    tokens, _ = self.motion_encoder(motion, motion_mask, deterministic)
    return tokens[:, 0]

  def __call__(
    self,
    global_tokens: Array,
    global_mask: Array,
    group_tokens: Array,
    group_mask: Array,
    interaction_tokens: Array,
    interaction_mask: Array,
    motion: Array,
    motion_mask: Array,
    deterministic: bool = True,
  ) -> dict:
    text = self.encode_text(
      global_tokens,
      global_mask,
      group_tokens,
      group_mask,
      interaction_tokens,
      interaction_mask,
      deterministic,
    )
    return {"text": text, "motion": self.encode_motion(motion, motion_mask, deterministic)}


def retrieval_similarity(text_embeddings: Array, motion_embeddings: Array) -> np.ndarray:
  """Cosine similarity ``[N_text, N_motion]`` for :mod:`motion_jax.metrics.retrieval`."""
  t = np.asarray(text_embeddings, np.float64)
  m = np.asarray(motion_embeddings, np.float64)
  t = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-12)
  m = m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-12)
  return t @ m.T
