"""TMR text and motion encoders and motion decoder (Petrovich, Black, Varol, ICCV 2023).

TMR ("Text-to-Motion Retrieval Using Contrastive 3D Human Motion Synthesis") extends TEMOS: an
ACTOR-style transformer encoder per modality maps a sequence of features to a Gaussian latent
(``mu``, ``logvar``) read from two learned tokens prepended to the sequence; a transformer decoder
turns a latent into a motion of a given length, its queries being the sinusoidal positional
encodings of the target frames and its memory the latent vector. Both the text latent and the motion
latent are decoded (reconstruction), and the two latents are aligned by InfoNCE
(:func:`motion_jax.losses.tmr_loss`).

Hyper-parameters (TMR paper Sec. 4 / TEMOS): latent 256, 6 layers, 4 heads, feed-forward 1024, GELU,
dropout 0.1, post-LN layers (torch's TransformerEncoderLayer default). Text inputs are token
features of a frozen language model: TMR used DistilBERT (768); here the default is the MiniLM
token states of :mod:`motion_jax.models.text_encoder` (384).

Masks are boolean ``[B, T]``, ``True`` on real frames/tokens. Sampling of the latent uses the
``'sample'`` rng stream, dropout the ``'dropout'`` stream.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from motion_jax.models.attention import (
  TransformerDecoderLayer,
  TransformerEncoderLayer,
  sinusoidal_positions,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class TMRConfig:
  """TMR model hyper-parameters (defaults: the paper's)."""

  motion_features: int = 263  # HumanML3D feature vector
  text_features: int = 384  # MiniLM token states (TMR: DistilBERT, 768)
  latent_dim: int = 256
  ff_dim: int = 1024
  num_layers: int = 6
  num_heads: int = 4
  dropout_rate: float = 0.1
  activation: str = "gelu"
  vae: bool = True  # two tokens (mu, logvar) and sampling; False: one token, deterministic

  @classmethod
  def tiny(cls, motion_features: int = 12, text_features: int = 16) -> TMRConfig:
    """A CPU-sized config for tests."""
    return cls(
      motion_features=motion_features,
      text_features=text_features,
      latent_dim=16,
      ff_dim=32,
      num_layers=1,
      num_heads=2,
    )


class ActorStyleEncoder(nn.Module):
  """ACTOR-style encoder: project, prepend learned tokens, add sinusoidal PE, transformer.

  Returns ``(tokens [B, K, D], aux)`` where ``tokens`` are the outputs at the ``K = num_tokens``
  learned token positions (``mu`` then ``logvar`` for a VAE) and ``aux["states"]`` /
  ``aux["mask"]`` the whole output sequence ``[B, K + T, D]`` and its mask ``[B, K + T]``.
  """

  latent_dim: int = 256
  ff_dim: int = 1024
  num_layers: int = 6
  num_heads: int = 4
  dropout_rate: float = 0.1
  activation: str = "gelu"
  num_tokens: int = 2

  @nn.compact
  def __call__(
    self,
    x: Array,  # [B, T, F]
    mask: Array,  # [B, T] bool
    deterministic: bool = True,
  ) -> tuple[Array, dict[str, Array]]:
    batch, length = x.shape[:2]
    h = nn.Dense(self.latent_dim, name="projection")(x)  # [B, T, D]
    k, d = self.num_tokens, self.latent_dim
    tokens = self.param("tokens", nn.initializers.normal(1.0), (k, d))  # [K, D]
    tokens = jnp.broadcast_to(tokens[None], (batch, k, d))  # [B, K, D]
    seq = jnp.concatenate([tokens, h], axis=1)  # [B, K+T, D]
    seq_mask = jnp.concatenate([jnp.ones((batch, k), bool), mask.astype(bool)], axis=1)
    seq = seq + sinusoidal_positions(k + length, d)[None]  # [B, K+T, D]
    seq = nn.Dropout(self.dropout_rate)(seq, deterministic=deterministic)
    for i in range(self.num_layers):
      seq = TransformerEncoderLayer(
        num_heads=self.num_heads,
        ff_dim=self.ff_dim,
        dropout_rate=self.dropout_rate,
        activation=self.activation,
        name=f"layer_{i}",
      )(seq, seq_mask, deterministic)  # [B, K+T, D]
    return seq[:, : self.num_tokens], {"states": seq, "mask": seq_mask}


class ActorStyleDecoder(nn.Module):
  """Transformer decoder from a latent vector to a motion of the length given by ``mask``.

  Queries are the sinusoidal positional encodings of the ``T`` target frames, the memory is the
  latent as a length-1 sequence; padded frames are masked as self-attention keys and zeroed in
  the output.
  """

  motion_features: int
  latent_dim: int = 256
  ff_dim: int = 1024
  num_layers: int = 6
  num_heads: int = 4
  dropout_rate: float = 0.1
  activation: str = "gelu"

  @nn.compact
  def __call__(
    self,
    z: Array,  # [B, D]
    mask: Array,  # [B, T] bool
    deterministic: bool = True,
  ) -> Array:  # [B, T, F]
    batch, length = mask.shape
    queries = jnp.broadcast_to(
      sinusoidal_positions(length, self.latent_dim)[None], (batch, length, self.latent_dim)
    )  # [B, T, D]
    queries = nn.Dropout(self.dropout_rate)(queries, deterministic=deterministic)
    memory = z[:, None, :]  # [B, 1, D]
    h = queries
    for i in range(self.num_layers):
      h = TransformerDecoderLayer(
        num_heads=self.num_heads,
        ff_dim=self.ff_dim,
        dropout_rate=self.dropout_rate,
        activation=self.activation,
        name=f"layer_{i}",
      )(h, memory, key_mask=mask.astype(bool), deterministic=deterministic)  # [B, T, D]
    out = nn.Dense(self.motion_features, name="final")(h)  # [B, T, F]
    return jnp.where(mask[..., None].astype(bool), out, 0.0)


def _check_width(what: str, x: Array, expected: int) -> None:
  if x.shape[-1] != expected:
    raise ValueError(f"{what} have width {x.shape[-1]}, config says {expected}")


def reparameterize(mu: Array, logvar: Array, key: Array) -> Array:
  """``mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
  return mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape, mu.dtype)


class TMR(nn.Module):
  """Text encoder, motion encoder and motion decoder of TMR.

  Methods (use with ``module.apply(variables, ..., method=TMR.encode_text)``):
    encode_text(text_features [B, L, Ft], text_mask [B, L]) -> (latent [B, D], {"mu", "logvar"})
    encode_motion(motion [B, T, Fm], motion_mask [B, T]) -> (latent [B, D], {"mu", "logvar"})
    decode(latent [B, D], motion_mask [B, T]) -> motion [B, T, Fm]
    __call__(...) -> outputs dict consumed by :func:`motion_jax.losses.tmr_loss`.

  ``sample=True`` draws the latent from ``N(mu, exp(logvar))`` (rng stream ``'sample'``, VAE
  only); otherwise the latent is ``mu`` (retrieval uses ``mu``). With ``config.vae=False`` the
  single token output is the latent and ``logvar`` is zeros.
  """

  config: TMRConfig

  def setup(self):
    cfg = self.config
    common = dict(
      latent_dim=cfg.latent_dim,
      ff_dim=cfg.ff_dim,
      num_layers=cfg.num_layers,
      num_heads=cfg.num_heads,
      dropout_rate=cfg.dropout_rate,
      activation=cfg.activation,
    )
    num_tokens = 2 if cfg.vae else 1
    self.text_encoder = ActorStyleEncoder(num_tokens=num_tokens, **common)
    self.motion_encoder = ActorStyleEncoder(num_tokens=num_tokens, **common)
    self.motion_decoder = ActorStyleDecoder(motion_features=cfg.motion_features, **common)

  def _encode(self, encoder: ActorStyleEncoder, x, mask, sample: bool, deterministic: bool):
    tokens, _ = encoder(x, mask, deterministic)  # [B, K, D]
    mu = tokens[:, 0]  # [B, D]
    logvar = tokens[:, 1] if self.config.vae else jnp.zeros_like(mu)  # [B, D]
    if sample and self.config.vae:
      latent = reparameterize(mu, logvar, self.make_rng("sample"))
    else:
      latent = mu
    return latent, {"mu": mu, "logvar": logvar}

  def encode_text(
    self,
    text_features: Array,  # [B, L, Ft]
    text_mask: Array,  # [B, L]
    sample: bool = False,
    deterministic: bool = True,
  ) -> tuple[Array, dict[str, Array]]:
    _check_width("text features", text_features, self.config.text_features)
    return self._encode(self.text_encoder, text_features, text_mask, sample, deterministic)

  def encode_motion(
    self,
    motion: Array,  # [B, T, Fm]
    motion_mask: Array,  # [B, T]
    sample: bool = False,
    deterministic: bool = True,
  ) -> tuple[Array, dict[str, Array]]:
    _check_width("motion features", motion, self.config.motion_features)
    return self._encode(self.motion_encoder, motion, motion_mask, sample, deterministic)

  def decode(self, latent: Array, motion_mask: Array, deterministic: bool = True) -> Array:
    return self.motion_decoder(latent, motion_mask, deterministic)

  def __call__(
    self,
    text_features: Array,  # [B, L, Ft]
    text_mask: Array,  # [B, L]
    motion: Array,  # [B, T, Fm]
    motion_mask: Array,  # [B, T]
    sample: bool = True,
    deterministic: bool = True,
  ) -> dict[str, Array]:
    t_latent, t_dist = self.encode_text(text_features, text_mask, sample, deterministic)
    m_latent, m_dist = self.encode_motion(motion, motion_mask, sample, deterministic)
    # Both latents decoded in one batched pass (same decoder, same target lengths).
    batch = motion.shape[0]
    both_mask = jnp.concatenate([motion_mask, motion_mask], axis=0)  # [2B, T]
    both_latents = jnp.concatenate([t_latent, m_latent], axis=0)  # [2B, D]
    motions = self.decode(both_latents, both_mask, deterministic)  # [2B, T, Fm]
    return {
      "text_latent": t_latent,
      "motion_latent": m_latent,
      "text_mu": t_dist["mu"],
      "text_logvar": t_dist["logvar"],
      "motion_mu": m_dist["mu"],
      "motion_logvar": m_dist["logvar"],
      "motion_from_text": motions[:batch],  # [B, T, Fm]
      "motion_from_motion": motions[batch:],  # [B, T, Fm]
    }
