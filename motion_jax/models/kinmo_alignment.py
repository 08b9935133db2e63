"""KinMo Hierarchical Text-Motion Alignment (HTMA).

KinMo (Zhang, Liu, Kim, Garrido, Chaudhuri, "KinMo: Kinematic-aware Human Motion Understanding and
Generation", arXiv 2411.15472 / ICCV 2025, sec. 3.3; text in ``shared/papers/kinmo.txt``) describes
a motion at three levels: a *global* action caption ``T_c``, *group-level* descriptions ``T_g`` of
each kinematic group and *interaction-level* descriptions ``T_i`` of pairs of groups. HTMA encodes
them coarse-to-fine, each finer level's frozen text features first attending to the coarser
level's encoding and then going through that level's own encoder (eqs. 4-6)::

    h_c = E_c(emb(T_c))                          (4)
    h_g = E_g(CrossAttn(emb(T_g), h_c))          (5)
    h_i = E_i(CrossAttn(emb(T_i), h_g))          (6)

Every encoder (``E_c, E_g, E_i`` and the motion encoder) is a TMR/ACTOR-style transformer with two
learned prefix tokens whose outputs are the ``mu`` and ``logvar`` of a Gaussian latent
(:class:`motion_jax.models.tmr.ActorStyleEncoder`); a TMR motion decoder reconstructs the motion
from each level's text latent and from the motion latent. The objective
(:func:`motion_jax.losses.kinmo_loss`) is, per level, TMR's KL, cross-modal embedding, motion
reconstruction and InfoNCE terms (eq. 7 is the InfoNCE part). Retrieval compares the text
embedding ``[mu_c; mu_g; mu_i]`` (sec. 4.1) with the motion ``mu``.

``alignment`` (config):

* ``"pre"`` (default, the paper's eqs. 5-6): :class:`LevelTextEncoder` applies one cross-attention
  layer (queries: the level's frozen token features, keys/values: the coarser level's encoder
  output ``h``) with a residual connection, *then* its transformer encoder.
* ``"post"`` (the earlier reading, kept as a named option): each level is encoded alone, then its
  whole output sequence attends to the coarser level's (already fused) output sequence in one
  cross-attention layer after the encoder; the level's ``mu``/``logvar`` are read from the fused
  sequence.

Choices the paper leaves open (config fields, defaults first):

* ``cross_memory``: what ``h_c`` is as keys/values of the cross-attention: ``"states"`` (the
  coarser encoder's whole output sequence incl. its ``mu``/``logvar`` tokens, padding masked) or
  ``"latent"`` (its ``mu`` token alone).
* ``cross_norm_first``: the "pre" cross-attention as ``x + CA(LN(x), h)`` (True: the frozen
  features pass through unchanged plus the attention branch) or post-LN ``LN(x + CA(x, h))``.
  The "post" form keeps the post-LN layer of the earlier code.
* ``vae``: two distribution tokens and sampled latents during training (True, TMR) or one
  deterministic token (False; ``logvar`` is then zeros).
* ``retrieval_level``: ``"concat"`` (sec. 4.1) - each level's ``mu`` L2-normalised and
  concatenated, compared with the motion ``mu`` L2-normalised and repeated once per level, so the
  cosine is the mean of the per-level cosines (the paper concatenates ``[mu_c; mu_g; mu_i]`` but
  does not say how that ``3D``-vector meets the ``D``-dim motion embedding; this is the reading
  that keeps every level's cosine on the same scale) - or one level's ``mu``.
* One motion encoder shared by the levels (the paper's single motion embedding ``mu^M``).
* Group (and interaction) descriptions may be given either as one concatenated token sequence
  ``[B, L, F]`` or per group ``[B, G, L, F]``; in the latter case they are flattened to ``G * L``
  tokens and a learned segment embedding (group index) is added to the token features.
* ``use_cross_attention=False`` is Table 4's "- cross" ablation: independent level encoders, no
  cross-attention parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.models.attention import CrossAttentionLayer
from motion_jax.models.tmr import ActorStyleDecoder, ActorStyleEncoder, reparameterize

Array = jax.Array

LEVELS = ("global", "group", "interaction")
ALIGNMENTS = ("pre", "post")
CROSS_MEMORIES = ("states", "latent")
RETRIEVAL_LEVELS = ("concat",) + LEVELS


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
  alignment: str = "pre"  # 'pre': eqs. 5-6 (cross-attention before the encoder) | 'post'
  use_cross_attention: bool = True  # False: ablation without hierarchical fusion
  cross_memory: str = "states"  # 'states' | 'latent'
  cross_norm_first: bool = True
  vae: bool = True  # mu and logvar tokens (TMR); False: one deterministic token
  max_segments: int = 16  # group / interaction captions per sample when given as [B, G, L, F]
  retrieval_level: str = "concat"

  def __post_init__(self):
    for name, valid in (
      ("alignment", ALIGNMENTS),
      ("cross_memory", CROSS_MEMORIES),
      ("retrieval_level", RETRIEVAL_LEVELS),
    ):
      if getattr(self, name) not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {getattr(self, name)!r}")
    width = self.text_features if self.alignment == "pre" else self.latent_dim
    if self.use_cross_attention and width % self.num_heads:
      raise ValueError(
        f"the {self.alignment!r} cross-attention works on width {width}, not divisible by "
        f"num_heads={self.num_heads}"
      )

  @property
  def num_tokens(self) -> int:
    return 2 if self.vae else 1

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
  """TMR/ACTOR-style transformer encoder with ``mu`` (and ``logvar``) tokens."""
  return ActorStyleEncoder(
    latent_dim=cfg.latent_dim,
    ff_dim=cfg.ff_dim,
    num_layers=cfg.num_layers,
    num_heads=cfg.num_heads,
    dropout_rate=cfg.dropout_rate,
    activation=cfg.activation,
    num_tokens=cfg.num_tokens,
    name=name,
  )


def _distribution(tokens: Array, vae: bool) -> dict[str, Array]:
  """``{"mu", "logvar"}`` ``[B, D]`` from the prefix-token outputs ``[B, K, D]``."""
  mu = tokens[:, 0]
  return {"mu": mu, "logvar": tokens[:, 1] if vae else jnp.zeros_like(mu)}


class LevelTextEncoder(nn.Module):
  """Encoder of one description level: ``[B, L, F]`` or ``[B, G, L, F]`` token features.

  With a ``memory`` (alignment ``"pre"``, eqs. 5-6) the token features first attend to it in one
  residual cross-attention layer, then go through the encoder. Returns
  ``(prefix tokens [B, K, D], aux)`` with ``aux["states"]`` ``[B, K + L', D]`` and ``aux["mask"]``
  ``[B, K + L']`` (``L' = G * L`` for per-segment input).
  """

  config: KinMoAlignmentConfig

  @nn.compact
  def __call__(
    self,
    tokens: Array,  # [B, L, F] or [B, G, L, F]
    mask: Array,  # [B, L] or [B, G, L]
    memory: Array | None = None,  # [B, M, D] coarser level's h
    memory_mask: Array | None = None,  # [B, M]
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
    if memory is not None:
      # CrossAttn(emb(T), h): queries are the frozen features, keys/values the coarser level.
      tokens = CrossAttentionLayer(
        num_heads=cfg.num_heads,
        dropout_rate=cfg.dropout_rate,
        norm_first=cfg.cross_norm_first,
        name="cross_attention",
      )(tokens, memory, memory_mask, deterministic)  # [B, L', F]
    return _encoder(cfg, name="encoder")(tokens, mask, deterministic)


class HierarchicalTextEncoder(nn.Module):
  """Global, group and interaction encoders fused coarse-to-fine (eqs. 4-6).

  Returns ``{level: {"mu": [B, D], "logvar": [B, D]}}`` for ``global``, ``group``,
  ``interaction``.
  """

  config: KinMoAlignmentConfig

  def _memory(self, tokens: Array, aux: Mapping[str, Array]) -> tuple[Array, Array]:
    """Keys/values a finer level attends to: the whole output sequence or the ``mu`` token."""
    if self.config.cross_memory == "latent":
      mu = tokens[:, :1]  # [B, 1, D]
      return mu, jnp.ones(mu.shape[:2], bool)
    return aux["states"], aux["mask"]

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
  ) -> dict[str, dict[str, Array]]:
    cfg = self.config
    det = deterministic
    enc = {lv: LevelTextEncoder(cfg, name=f"{lv}_encoder") for lv in LEVELS}
    if cfg.alignment == "pre":
      c_tok, c_aux = enc["global"](global_tokens, global_mask, deterministic=det)  # eq. 4
      mem = self._memory(c_tok, c_aux) if cfg.use_cross_attention else (None, None)
      g_tok, g_aux = enc["group"](group_tokens, group_mask, *mem, det)  # eq. 5
      mem = self._memory(g_tok, g_aux) if cfg.use_cross_attention else (None, None)
      i_tok, _ = enc["interaction"](interaction_tokens, interaction_mask, *mem, det)  # eq. 6
      tokens = {"global": c_tok, "group": g_tok, "interaction": i_tok}
    else:  # 'post': encode each level alone, then fuse the output sequences.
      _, c = enc["global"](global_tokens, global_mask, deterministic=det)
      _, b = enc["group"](group_tokens, group_mask, deterministic=det)
      _, i = enc["interaction"](interaction_tokens, interaction_mask, deterministic=det)
      c_states, b_states, i_states = c["states"], b["states"], i["states"]  # [B, K+L, D]
      if cfg.use_cross_attention:
        cross = dict(num_heads=cfg.num_heads, dropout_rate=cfg.dropout_rate)
        b_states = CrossAttentionLayer(**cross, name="group_cross_attention")(
          b_states, c_states, c["mask"], det
        )
        i_states = CrossAttentionLayer(**cross, name="interaction_cross_attention")(
          i_states, b_states, b["mask"], det
        )
      k = cfg.num_tokens
      tokens = {"global": c_states[:, :k], "group": b_states[:, :k], "interaction": i_states[:, :k]}
    return {lv: _distribution(t, cfg.vae) for lv, t in tokens.items()}


class KinMoAlignment(nn.Module):
  """HTMA: hierarchical text encoder, motion encoder and motion decoder.

  ``__call__`` returns the dict consumed by :func:`motion_jax.losses.kinmo_loss`::

      {"text": {level: {"mu", "logvar", "latent"}}, "motion": {"mu", "logvar", "latent"},
       "motion_from_text": {level: [B, T, Fm]}, "motion_from_motion": [B, T, Fm]}

  (latents sampled from ``N(mu, exp(logvar))`` with the ``'sample'`` rng when ``sample`` and
  ``vae``, else ``mu``). ``encode_text`` returns ``{level: mu}`` and ``encode_motion`` the
  motion ``mu`` (retrieval; ``module.apply(..., method=KinMoAlignment.encode_motion)``).
  ``levels`` selects the text levels that are decoded (the trained ones).
  """

  config: KinMoAlignmentConfig

  def setup(self):
    cfg = self.config
    self.text_encoder = HierarchicalTextEncoder(cfg)
    self.motion_encoder = _encoder(cfg)
    self.motion_decoder = ActorStyleDecoder(
      motion_features=cfg.motion_features,
      latent_dim=cfg.latent_dim,
      ff_dim=cfg.ff_dim,
      num_layers=cfg.num_layers,
      num_heads=cfg.num_heads,
      dropout_rate=cfg.dropout_rate,
      activation=cfg.activation,
    )

  def text_distributions(self, *text: Array, deterministic: bool = True):
    return self.text_encoder(*text, deterministic)

  def motion_distribution(self, motion: Array, motion_mask: Array, deterministic: bool = True):
    _check_width("motion features", motion, self.config.motion_features)
    tokens, _ = self.motion_encoder(motion, motion_mask, deterministic)
    return _distribution(tokens, self.config.vae)

  def encode_text(
    self,
    global_tokens: Array,  # [B, Lg, F]
    global_mask: Array,  # [B, Lg]
    group_tokens: Array,  # [B, Lb, F] or [B, G, Lb, F]
    group_mask: Array,
    interaction_tokens: Array,  # [B, Li, F] or [B, I, Li, F]
    interaction_mask: Array,
    deterministic: bool = True,
  ) -> dict[str, Array]:  # {level: mu [B, D]}
    dists = self.text_distributions(
      global_tokens,
      global_mask,
      group_tokens,
      group_mask,
      interaction_tokens,
      interaction_mask,
      deterministic=deterministic,
    )
    return {lv: d["mu"] for lv, d in dists.items()}

  def encode_motion(
    self,
    motion: Array,  # [B, T, Fm]
    motion_mask: Array,  # [B, T]
    deterministic: bool = True,
  ) -> Array:  # [B, D] mu
    return self.motion_distribution(motion, motion_mask, deterministic)["mu"]

  def _latent(self, dist: dict[str, Array], sample: bool) -> dict[str, Array]:
    if sample and self.config.vae:
      latent = reparameterize(dist["mu"], dist["logvar"], self.make_rng("sample"))
    else:
      latent = dist["mu"]
    return {**dist, "latent": latent}

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
    levels: Sequence[str] = LEVELS,
    sample: bool = False,
    deterministic: bool = True,
  ) -> dict:
    for lv in levels:
      if lv not in LEVELS:
        raise ValueError(f"unknown level {lv!r}; valid: {LEVELS}")
    dists = self.text_distributions(
      global_tokens,
      global_mask,
      group_tokens,
      group_mask,
      interaction_tokens,
      interaction_mask,
      deterministic=deterministic,
    )
    text = {lv: self._latent(dists[lv], sample) for lv in levels}
    m = self._latent(self.motion_distribution(motion, motion_mask, deterministic), sample)
    # Every level's text latent and the motion latent decoded in one batched pass.
    n, b = len(levels), motion.shape[0]
    latents = jnp.concatenate([text[lv]["latent"] for lv in levels] + [m["latent"]], axis=0)
    masks = jnp.concatenate([motion_mask] * (n + 1), axis=0)  # [(n+1)B, T]
    decoded = self.motion_decoder(latents, masks, deterministic)  # [(n+1)B, T, Fm]
    return {
      "text": text,
      "motion": m,
      "motion_from_text": {lv: decoded[k * b : (k + 1) * b] for k, lv in enumerate(levels)},
      "motion_from_motion": decoded[n * b :],
    }


def text_retrieval_embedding(
  text_mu: Mapping[str, Array], levels: Sequence[str], retrieval_level: str = "concat"
) -> np.ndarray:
  """The text side of retrieval: ``[mu_c; mu_g; mu_i]`` over ``levels`` (each L2-normalised;
  sec. 4.1) for ``"concat"``, else that level's ``mu``. ``[N, len(levels) * D]`` or ``[N, D]``."""
  if retrieval_level != "concat":
    return np.asarray(text_mu[retrieval_level], np.float64)
  return np.concatenate([_unit(np.asarray(text_mu[lv], np.float64)) for lv in levels], axis=-1)


def motion_retrieval_embedding(
  motion_mu: Array, levels: Sequence[str], retrieval_level: str = "concat"
) -> np.ndarray:
  """The motion side, matching :func:`text_retrieval_embedding`: the L2-normalised ``mu``
  repeated once per level for ``"concat"`` (cosine = mean of the per-level cosines)."""
  m = np.asarray(motion_mu, np.float64)
  if retrieval_level != "concat":
    return m
  return np.concatenate([_unit(m)] * len(levels), axis=-1)


def _unit(x: np.ndarray) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def retrieval_similarity(text_embeddings: Array, motion_embeddings: Array) -> np.ndarray:
  """Cosine similarity ``[N_text, N_motion]`` for :mod:`motion_jax.metrics.retrieval`."""
  t = _unit(np.asarray(text_embeddings, np.float64))
  m = _unit(np.asarray(motion_embeddings, np.float64))
  return t @ m.T
