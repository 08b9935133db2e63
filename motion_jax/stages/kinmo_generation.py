"""Stage: KinMo's coarse-to-fine text-to-motion generator on MoMask's base-layer tokens (Zhang et
al., arXiv 2411.15472, Sec. 3.4), trained and sampled with a frozen residual VQ-VAE
(`motion_jax.stages.rvq`).

* Conditions (`plain_conditions`, `htma_condition_fn`): per example a ``[3, F]`` stack of the
  global, group and interaction conditioning. ``plain``: the frozen MiniLM sentence embedding of
  the caption, the mean of the embeddings of the (non-empty) group descriptions and the mean of
  those of the interaction descriptions. ``htma``: the trained HTMA text encoder's ``mu_c``,
  ``mu_g``, ``mu_i`` (eqs. 4-6, `motion_jax.models.kinmo_alignment`).
* `train` (Sec. 3.4): `motion_jax.models.kinmo_generation.LevelConditionedMaskTransformer` on the
  RVQ base-layer tokens with MoMask's corruption and token cross-entropy
  (`losses.masked_token_loss`, MoMask eq. 4), the same loss for every level of conditioning
  ("the same logit classification loss for the three levels"). ``level_sampling``: 'random'
  draws one of the row's levels per example (default: one forward pass per example); 'all' trains
  every example under each of the row's levels (L times the compute).
* `CoarseToFineGenerator`: conditions -> `motion_jax.diffusion.coarse_to_fine.decode` (global,
  then re-mask and refine under the finer levels) -> RVQ decoder from the **base layer only**
  (the setting of KinMo's Table 5 ablation: "generator with RQ base layer only"; the residual
  transformer is not used).
* `edit_group`: group-level editing by masking (Sec. 3.4 "Editing"; the procedure is in the
  paper's appendix, not in its text): the tokens whose prediction the edited group conditioning
  changes most are re-masked and decoded again under the edited conditioning, all other tokens
  kept bit-for-bit.
* `train_control` / ``generate(control=...)``: trajectory control as in OmniControl's ControlNet
  (KinMo Sec. 3.4; appendix C not in the text): a trainable copy of the generator's transformer
  layers reads the target joint's global positions per token (`control_signal`) through a
  zero-initialised projection and feeds each main layer through a zero-initialised linear layer
  (`motion_jax.models.kinmo_generation.ControlledMaskTransformer`); the generator is frozen and the
  branch trained with the same masked-token loss. OmniControl's second part, spatial guidance,
  follows at generation time: Adam steps on the RVQ decoder's continuous input (the chosen
  base-layer code vectors) toward the target trajectory (`motion_jax.guidance.trajectory`,
  ``spatial``); the tokens are unchanged, the decoded motion follows the target.

Choices (fields): ``level_sampling``, ``level_embedding`` (model), the per-level decoding steps
and kept fraction (`CoarseToFineSettings`), the edit's token-selection rule and fraction
(`EditSettings`), the controlled joint and the branch's optimisation (`ControlStageConfig`: dense
control of every frame, constant learning rate), spatial guidance's steps, learning rate and
anchor (`SpatialGuidanceConfig`, ``spatial``; on the decoder's latent because token ids are
discrete), the mean pooling of the plain group /
interaction embeddings. MoMask's sizes and optimiser otherwise
(`motion_jax.stages.momask.MoMaskStageConfig`).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from motion_jax import diffusion, losses
from motion_jax.data.text_motion import features as tf_lib
from motion_jax.diffusion import coarse_to_fine as c2f
from motion_jax.diffusion import masked
from motion_jax.guidance import trajectory
from motion_jax.models.kinmo_alignment import KinMoAlignment
from motion_jax.models.kinmo_generation import (
  ControlledMaskTransformer,
  LevelConditionedMaskTransformer,
)
from motion_jax.models.momask import TokenTransformerConfig
from motion_jax.models.rvq import RVQVAE
from motion_jax.representations import humanml3d
from motion_jax.stages import rvq as rvq_stage
from motion_jax.stages.momask import MoMaskStageConfig
from motion_jax.train import loop as loop_lib
from motion_jax.train import optim
from motion_jax.train.state import eval_params

LEVEL_NAMES = ("global", "group", "interaction")
LEVEL_SAMPLINGS = ("random", "all")
EDIT_SELECTIONS = ("group_change", "sensitivity", "random")
_MOMASK = MoMaskStageConfig()


@dataclasses.dataclass(frozen=True)
class CoarseToFineSettings:
  """Decoding per level (global, group, interaction): MoMask's steps / CFG / top-k, and the
  fraction of the previous level's tokens kept by re-mask-and-refine (not in the paper's text;
  `motion_jax.diffusion.coarse_to_fine`)."""

  steps: tuple[int, ...] = (10, 5, 5)
  keep_fraction: tuple[float, ...] = (0.0, 0.5, 0.5)
  guidance_scale: float = 4.0
  top_k: float = 0.9
  temperature: float = 1.0

  def __post_init__(self):
    if len(self.steps) != 3 or len(self.keep_fraction) != 3 or min(self.steps) < 1:
      raise ValueError(
        f"decode: three steps >= 1 and three keep fractions, got {self.steps} / "
        f"{self.keep_fraction}"
      )
    if not all(0.0 <= f <= 1.0 for f in self.keep_fraction):
      raise ValueError(f"decode.keep_fraction must be in [0, 1], got {self.keep_fraction}")

  def schedule(self) -> c2f.LevelSchedule:
    return c2f.LevelSchedule(
      tuple(int(s) for s in self.steps), tuple(float(f) for f in self.keep_fraction),
      self.guidance_scale, self.top_k, self.temperature,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class EditSettings:
  """Group editing by masking: ``fraction`` of the motion's tokens are regenerated, chosen by
  ``selection``: 'group_change' = decode a proposal with every token regenerated under the edited
  group condition and pick the tokens whose decoded frames move the edited group's joints most
  beyond the other joints (`token_group_change`); 'sensitivity' = the tokens whose guided
  distribution moves most (total variation) when the group condition is replaced by the edited
  one; 'random' = uniformly (a baseline). ``steps`` decoding steps for the regenerated tokens.
  ``preserve``: spatial guidance of the edited motion's decoder latent toward a composite: the
  edited group's joints as the edited decoding has them, every other joint (pelvis-relative) and
  the pelvis' global trajectory as the unedited motion has them
  (`CoarseToFineGenerator.preserve_others`), as a diffusion model's body-part editing keeps the
  other joints by inpainting; ``steps=0`` = masking alone. ``preserve_balance``: the group's
  points weigh as much in total as all the other points (True), or every point weighs the same
  (False: the other joints outnumber a limb's 4 about 4:1 and the guidance then also undoes the
  edit)."""

  fraction: float = 0.3
  selection: str = "group_change"
  steps: int = 5
  preserve: trajectory.SpatialGuidanceConfig = trajectory.SpatialGuidanceConfig()
  preserve_balance: bool = True

  def __post_init__(self):
    if not 0.0 < self.fraction <= 1.0 or self.selection not in EDIT_SELECTIONS or self.steps < 1:
      raise ValueError(
        f"edit: fraction in (0, 1], selection in {EDIT_SELECTIONS}, steps >= 1; got {self}"
      )


CONTROL_JOINTS = {
  "pelvis": 0,
  "left_foot": 10,
  "right_foot": 11,
  "left_wrist": 20,
  "right_wrist": 21,
}  # t2m joint indices


@dataclasses.dataclass(frozen=True)
class ControlStageConfig:
  """Trajectory control (OmniControl-style ControlNet branch): the controlled ``joint`` (one of
  CONTROL_JOINTS), the branch's training steps and learning rate (the generator stays frozen).
  The control signal is the joint's global position (m) on every frame of each token (dense
  control; the paper's appendix C is not in the text)."""

  joint: str = "pelvis"
  num_steps: int = 10_000
  learning_rate: float = 1e-4

  def __post_init__(self):
    if self.joint not in CONTROL_JOINTS:
      raise ValueError(f"control.joint: one of {tuple(CONTROL_JOINTS)}, got {self.joint!r}")
    if self.num_steps < 1 or not self.learning_rate > 0:
      raise ValueError(f"control: num_steps >= 1 and learning_rate > 0, got {self}")


@dataclasses.dataclass(frozen=True)
class KinMoGenerationStageConfig:
  transformer: TokenTransformerConfig = TokenTransformerConfig()
  level_embedding: bool = True
  level_sampling: str = "random"
  cond_drop_prob: float = 0.1
  random_prob: float = 0.1
  mask_prob: float = 0.88
  optim: optim.OptimConfig = _MOMASK.optim
  loop: loop_lib.LoopConfig = _MOMASK.loop
  batch_size: int = 64
  decode: CoarseToFineSettings = CoarseToFineSettings()
  edit: EditSettings = EditSettings()
  control: ControlStageConfig = ControlStageConfig()
  spatial: trajectory.SpatialGuidanceConfig = trajectory.SpatialGuidanceConfig()

  def __post_init__(self):
    if self.level_sampling not in LEVEL_SAMPLINGS:
      raise ValueError(f"level_sampling: one of {LEVEL_SAMPLINGS}, got {self.level_sampling!r}")


# ------------------------------------------------------------------------------------------------
# Conditions: featurizer-format batches -> [B, 3, F]
# ------------------------------------------------------------------------------------------------
ConditionFn = Callable[[Mapping], np.ndarray]


def _masked_mean(emb: np.ndarray, mask: np.ndarray) -> np.ndarray:
  m = np.asarray(mask, np.float32)[..., None]  # [B, G, 1]
  return (emb * m).sum(1) / np.maximum(m.sum(1), 1.0)


def plain_conditions(feats: tf_lib.TextFeatures) -> ConditionFn:
  """Plain sentence-embedding conditioning: ``[caption; mean(group); mean(interaction)]`` of
  the frozen MiniLM sentence embeddings, [B, 3, 384] (choice: mean pooling)."""

  def fn(batch):
    cap = feats.sentence_embeddings(list(batch["caption"]))
    g = feats.sentence_embeddings(np.asarray(batch["kinmo_group_texts"], object))
    i = feats.sentence_embeddings(np.asarray(batch["kinmo_interaction_texts"], object))
    g = _masked_mean(g, batch["kinmo_group_mask"])
    i = _masked_mean(i, batch["kinmo_interaction_mask"])
    return np.stack([cap, g, i], axis=1).astype(np.float32)

  return fn


def htma_condition_fn(
  model: KinMoAlignment, params, featurize: Callable[[Mapping], dict], chunk: int = 64
) -> ConditionFn:
  """HTMA conditioning: ``[mu_c; mu_g; mu_i]`` of the trained (frozen) HTMA text encoders
  (KinMo eqs. 4-6), [B, 3, D]; ``featurize`` is the alignment's
  `motion_jax.data.text_motion.preparation.make_featurizer` (all three levels)."""
  keys = ("global_tokens", "global_mask", "group_tokens", "group_mask", "interaction_tokens",
          "interaction_mask")  # fmt: skip
  enc = jax.jit(lambda p, *a: model.apply({"params": p}, *a, method=KinMoAlignment.encode_text))

  def fn(batch):
    f = featurize(batch)
    n = len(f["global_tokens"])
    out = []
    for a in range(0, n, chunk):
      idx = np.arange(a, a + chunk) % n  # one compiled shape
      mu = enc(params, *(jnp.asarray(f[k][idx]) for k in keys))
      out.append(np.stack([np.asarray(mu[lv]) for lv in LEVEL_NAMES], 1)[: min(chunk, n - a)])
    return np.concatenate(out).astype(np.float32)

  return fn


def text_batch(captions, groups, interactions, motion_dim: int) -> dict:
  """A featurizer-format batch for ``captions`` with their group [N][G] and interaction [N][I]
  descriptions ("" = absent), and a one-frame zero motion (conditions only read the texts)."""
  n = len(captions)

  def pad(rows):
    width = max(len(r) for r in rows)
    arr = np.asarray([list(r) + [""] * (width - len(r)) for r in rows], object).reshape(n, width)
    return arr, arr != ""

  g, gm = pad(groups)
  i, im = pad(interactions)
  return {
    "caption": list(captions),
    "motion": np.zeros((n, 1, motion_dim), np.float32),
    "mask": np.ones((n, 1), bool),
    "kinmo_present": np.ones(n, bool),
    "kinmo_group_texts": g,
    "kinmo_group_mask": gm,
    "kinmo_interaction_texts": i,
    "kinmo_interaction_mask": im,
  }


def token_batch_fn(
  batcher: Callable[[int], dict], rvq_model: RVQVAE, rvq_variables: dict, cond_fn: ConditionFn
) -> Callable[[int], dict]:
  """``step -> {'codes' [B, N, Q], 'valid' [B, N], 'cond' [B, 3, F]}`` from text-motion batches
  (raw strings kept: the batcher's postprocess must be the identity on texts)."""
  encode = rvq_stage.make_encode_fn(rvq_model)
  down = rvq_model.cfg.downsample

  def batch_fn(step: int) -> dict:
    b = batcher(step)
    codes = np.asarray(encode(rvq_variables, jnp.asarray(np.asarray(b["motion"], np.float32))))
    return {
      "codes": codes.astype(np.int32),
      "valid": np.asarray(b["mask"], bool)[:, ::down],
      "cond": cond_fn(b),
    }

  return batch_fn


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------
def make_model(cfg: KinMoGenerationStageConfig, num_codes: int) -> LevelConditionedMaskTransformer:
  return LevelConditionedMaskTransformer(cfg.transformer, num_codes, cfg.level_embedding)


def make_loss_fn(
  model: LevelConditionedMaskTransformer | ControlledMaskTransformer,
  cfg: KinMoGenerationStageConfig,
  num_levels: int,
  control: bool = False,
) -> Callable:
  """MoMask's masked-token cross-entropy (eq. 4) under level conditioning; KinMo Sec. 3.4 uses
  the same loss for the three levels. ``num_levels``: the row's levels (1..3, coarse first).
  ``control``: a `ControlledMaskTransformer` also reads ``batch['control']``."""

  def loss_fn(params, mutables, batch, rngs):
    codes, valid, cond = batch["codes"][..., 0], batch["valid"], batch["cond"][:, :num_levels]
    b = codes.shape[0]
    k_corrupt, k_cond, k_level = jax.random.split(rngs["sample"], 3)
    if cfg.level_sampling == "random":
      level = jax.random.randint(k_level, (b,), 0, num_levels)
      c = jnp.take_along_axis(cond, level[:, None, None], axis=1)[:, 0]  # [B, F]
    else:  # every example under each level
      level = jnp.repeat(jnp.arange(num_levels), b)
      c = jnp.transpose(cond, (1, 0, 2)).reshape(num_levels * b, -1)
      codes, valid = jnp.tile(codes, (num_levels, 1)), jnp.tile(valid, (num_levels, 1))
    inputs, corrupted = masked.corrupt(
      k_corrupt, codes, valid, model.num_codes, random_prob=cfg.random_prob,
      mask_prob=cfg.mask_prob,
    )  # fmt: skip
    keep = diffusion.drop_condition(k_cond, codes.shape[0], cfg.cond_drop_prob)
    extra = ()
    if control:  # the control signal of each (tiled) example
      ctl = batch["control"]
      extra = (jnp.tile(ctl, (codes.shape[0] // ctl.shape[0], 1, 1)),)
    logits = model.apply(
      {"params": params}, inputs, c, level, keep, valid, *extra, deterministic=False,
      rngs={"dropout": rngs["dropout"]},
    )  # fmt: skip
    total, terms = losses.masked_token_loss(logits, codes, corrupted)
    return total, (terms, mutables)

  return loss_fn


def train(
  cfg: KinMoGenerationStageConfig,
  batch_fn: Callable[[int], dict],
  num_codes: int,
  num_levels: int,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "kinmo_generator",
):
  """Trains (or resumes) the level-conditioned generator on `token_batch_fn` batches."""
  model = make_model(cfg, num_codes)
  ex = batch_fn(0)

  def init_fn(key):
    args = (
      jnp.asarray(ex["codes"][:1, :, 0]), jnp.asarray(ex["cond"][:1, 0]),
      jnp.zeros((1,), jnp.int32), jnp.ones((1,), bool), jnp.asarray(ex["valid"][:1]),
    )  # fmt: skip
    return model.init({"params": key}, *args)["params"], {}

  state = loop_lib.train(
    workdir=workdir,
    loop=cfg.loop,
    init_fn=init_fn,
    loss_fn=make_loss_fn(model, cfg, num_levels),
    tx=optim.make_optimizer(cfg.optim, cfg.loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


# ------------------------------------------------------------------------------------------------
# Trajectory control (OmniControl-style ControlNet branch)
# ------------------------------------------------------------------------------------------------
def control_signal(raw: np.ndarray, valid_frames: np.ndarray, joint: str, down: int) -> np.ndarray:
  """Per-token control [B, T / down, 3 down]: the joint's global positions (m, by
  `recover_from_ric`) on each of the token's frames, zero past the length. ``raw`` [B, T, F]
  un-normalised features, ``valid_frames`` [B, T]."""
  j = np.asarray(humanml3d.recover_from_ric(jnp.asarray(raw, jnp.float32), check_finite=False))
  pos = j[:, :, CONTROL_JOINTS[joint]] * np.asarray(valid_frames, np.float32)[..., None]
  b, t, _ = pos.shape
  return pos.reshape(b, t // down, 3 * down).astype(np.float32)


def control_batch_fn(
  batch_fn: Callable[[int], dict], batcher: Callable[[int], dict], mean, std, joint: str, down: int
) -> Callable[[int], dict]:
  """`token_batch_fn` batches plus ``'control'`` [B, N, 3 down] of the same motions (``batcher``
  must be the one ``batch_fn`` reads; both are step-indexed, so the same step gives the same
  clips)."""

  def fn(step: int) -> dict:
    b = batcher(step)
    raw = np.asarray(b["motion"], np.float32) * std + mean
    return {**batch_fn(step), "control": control_signal(raw, b["mask"], joint, down)}

  return fn


def make_control_model(
  cfg: KinMoGenerationStageConfig, num_codes: int
) -> ControlledMaskTransformer:
  return ControlledMaskTransformer(cfg.transformer, num_codes, cfg.level_embedding)


def _with_control(main, control):
  return {**main, "body": {**main["body"], "control": control}}


def train_control(
  cfg: KinMoGenerationStageConfig,
  batch_fn: Callable[[int], dict],
  num_codes: int,
  num_levels: int,
  main_params,
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "kinmo_control",
):
  """Trains the ControlNet branch (the generator's ``main_params`` frozen, carried as the loop's
  non-trained state): the branch's layers start as copies of the generator's body layers, its
  input and output projections at zero; MoMask's masked-token loss with the control signal given.
  Returns the branch's parameters (``body/control``)."""
  model = make_control_model(cfg, num_codes)
  ex = batch_fn(0)
  main_params = jax.tree.map(jnp.asarray, main_params)

  def init_fn(key):
    args = (
      jnp.asarray(ex["codes"][:1, :, 0]), jnp.asarray(ex["cond"][:1, 0]),
      jnp.zeros((1,), jnp.int32), jnp.ones((1,), bool), jnp.asarray(ex["valid"][:1]),
      jnp.asarray(ex["control"][:1]),
    )  # fmt: skip
    control = model.init({"params": key}, *args)["params"]["body"]["control"]
    for i in range(cfg.transformer.num_layers):  # ControlNet: a trainable copy of the body
      control[f"layer_{i}"] = main_params["body"][f"layer_{i}"]
    return control, {"main": main_params}

  loss = make_loss_fn(model, cfg, num_levels, control=True)

  def loss_fn(params, mutables, batch, rngs):
    total, (terms, _) = loss(_with_control(mutables["main"], params), {}, batch, rngs)
    return total, (terms, mutables)

  ccfg = cfg.control
  opt = dataclasses.replace(cfg.optim, learning_rate=ccfg.learning_rate, warmup_steps=0,
                            schedule="constant", decay_steps=())  # fmt: skip
  every = cfg.loop.checkpoint_every and min(cfg.loop.checkpoint_every, ccfg.num_steps)
  loop = dataclasses.replace(cfg.loop, num_steps=ccfg.num_steps, checkpoint_every=every)
  state = loop_lib.train(
    workdir=workdir,
    loop=loop,
    init_fn=init_fn,
    loss_fn=loss_fn,
    tx=optim.make_optimizer(opt, loop.num_steps),
    batch_fn=batch_fn,
    seed=seed,
    desc=desc,
  )
  return loop_lib.to_numpy(eval_params(state))


# ------------------------------------------------------------------------------------------------
# Generation and editing
# ------------------------------------------------------------------------------------------------
def token_group_change(
  before: np.ndarray, after: np.ndarray, group_joints: np.ndarray, down: int
) -> np.ndarray:
  """Per token [N, T / down]: how much more the group's joints than the other joints (pelvis
  excluded) move between two decodings [N, T, F] (mean displacement of pelvis-relative joints
  over the token's frames, m): the 'group_change' edit selection."""

  def local(raw):
    j = np.asarray(humanml3d.recover_from_ric(jnp.asarray(raw, jnp.float32), check_finite=False))
    return j - j[:, :, :1]

  d = np.linalg.norm(local(after) - local(before), axis=-1)  # [N, T, J]
  n, t, nj = d.shape
  d = d.reshape(n, t // down, down, nj).mean(2)  # [N, T / down, J]
  g = np.asarray(group_joints, bool)[:, None, :]
  other = ~g
  other[..., 0] = False
  group_mean = (d * g).sum(-1) / np.maximum(g.sum(-1), 1)
  other_mean = (d * other).sum(-1) / np.maximum(other.sum(-1), 1)
  return group_mean - other_mean


class CoarseToFineGenerator:
  """Conditions [N, L, F] at given lengths -> base-layer tokens by coarse-to-fine decoding ->
  raw motions (module docstring). One jitted call per chunk of ``chunk`` prompts."""

  def __init__(
    self,
    rvq_model: RVQVAE,
    rvq_variables: dict,
    params,
    cfg: KinMoGenerationStageConfig,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    max_frames: int,
    chunk: int = 32,
    control_params=None,
  ):
    down = rvq_model.cfg.downsample
    if max_frames % down:
      raise ValueError(f"max_frames {max_frames} must be a multiple of {down}")
    self.rvq, self.rvq_variables, self.params, self.cfg = rvq_model, rvq_variables, params, cfg
    self.down, self.tokens = down, max_frames // down
    self.num_codes = rvq_model.cfg.vq.num_codes
    self.model = make_model(cfg, self.num_codes)
    self.control_model = make_control_model(cfg, self.num_codes)
    self.control_params = control_params  # the ControlNet branch (`train_control`), or None
    self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    self.max_frames, self.chunk = max_frames, chunk
    self._fns: dict[tuple, Callable] = {}
    self.last_spatial_distance: np.ndarray | None = None

  def logits_fn(self, params, control_params=None, control=None):
    """The generator as ``(ids, cond, level, keep, valid) -> logits``; with the branch's
    ``control_params`` and a ``control`` [B, N, C] signal (tiled over the guidance batch)."""

    def fn(ids, cond, level, keep, valid):
      if control is None:
        return self.model.apply({"params": params}, ids, cond, level, keep, valid)
      ctl = jnp.tile(control, (ids.shape[0] // control.shape[0], 1, 1))
      full = _with_control(params, control_params)
      return self.control_model.apply({"params": full}, ids, cond, level, keep, valid, ctl)

    return fn

  def latent(self, rvq_variables, ids: jax.Array) -> jax.Array:
    """The RVQ decoder's input [B, N, C] for base-layer ids [B, N] ([PAD] -> code 0)."""
    codes = jnp.where(ids < self.num_codes, ids, 0)[..., None]
    return self.rvq.apply(rvq_variables, codes, 1, method=RVQVAE.latent)

  def decode_latent(self, rvq_variables, z: jax.Array, *, raw: bool = False) -> jax.Array:
    """Features [B, 4 N, C] decoded from a decoder input [B, N, C]: normalised, or
    un-normalised when ``raw`` (differentiable; what spatial guidance steps through)."""
    x = self.rvq.apply(rvq_variables, z, method=RVQVAE.decode_latent)
    return x * jnp.asarray(self.std) + jnp.asarray(self.mean) if raw else x

  def decode_codes(self, rvq_variables, ids: jax.Array) -> jax.Array:
    """Normalised features [B, 4 N, C] from base-layer ids [B, N] ([PAD] -> code 0; cropped
    by the caller)."""
    return self.decode_latent(rvq_variables, self.latent(rvq_variables, ids))

  def _fn(
    self,
    levels: tuple[int, ...],
    schedule: c2f.LevelSchedule,
    controlled: bool,
    spatial: trajectory.SpatialGuidanceConfig | None,
  ):
    key = (levels, schedule, controlled, spatial)
    if key not in self._fns:
      joint = CONTROL_JOINTS[self.cfg.control.joint]

      def run(params, rvq_variables, conds, valid, rng, known, known_mask, ctl_params, ctl, frames):
        fn = self.logits_fn(params, ctl_params, ctl) if controlled else self.logits_fn(params)
        ids, trace = c2f.decode(
          fn, [conds[:, i] for i in range(len(levels))], levels, valid, rng,
          schedule, self.num_codes, known, known_mask,
        )  # fmt: skip
        if spatial is None:
          return ids, trace, self.decode_codes(rvq_variables, ids), jnp.zeros((1,))

        def decode(z):
          return self.decode_latent(rvq_variables, z, raw=True)

        def points(f):
          return trajectory.joint_positions(f, joint)

        target = ctl.reshape(ctl.shape[0], -1, 3)
        z0 = self.latent(rvq_variables, ids)
        z, dists = trajectory.guide_latents(decode, points, z0, target, frames, spatial)
        return ids, trace, self.decode_latent(rvq_variables, z), dists

      self._fns[key] = jax.jit(run)
    return self._fns[key]

  def generate(
    self,
    conds: np.ndarray,
    lengths,
    key: jax.Array,
    *,
    schedule: c2f.LevelSchedule | None = None,
    known: np.ndarray | None = None,
    known_mask: np.ndarray | None = None,
    levels: tuple[int, ...] | None = None,
    control: np.ndarray | None = None,
    branch: bool = True,
    spatial: trajectory.SpatialGuidanceConfig | None = None,
  ) -> tuple[list[np.ndarray], np.ndarray, c2f.Trace]:
    """(raw motions [length_i, F], ids [N, T / 4], trace) for ``conds`` [N, L, F] (L levels,
    coarse first; level ids ``levels``, default 0..L-1). ``known`` / ``known_mask`` [N, T / 4]
    fix tokens. ``control`` [N, T / 4, C] (`control_signal`) steers the generation: through the
    ControlNet branch when ``branch`` (``control_params`` must be set), then by spatial guidance
    of the decoder's latent (`motion_jax.guidance.trajectory`; ``spatial``, default
    ``cfg.spatial``; ``steps=0`` turns it off). After a call with spatial guidance,
    ``last_spatial_distance`` holds the mean distance (m) to the target before each guidance
    step and after the last."""
    if control is not None and branch and self.control_params is None:
      raise ValueError("control given but the generator has no control_params")
    if control is not None:
      spatial = self.cfg.spatial if spatial is None else spatial
      if spatial.steps == 0:
        spatial = None
    else:
      spatial = None
    schedule = schedule or self.cfg.decode.schedule()
    conds, lengths = np.asarray(conds, np.float32), np.asarray(lengths, int)
    n_items, num_levels = conds.shape[:2]
    if len(lengths) != n_items or np.any(lengths < 1) or np.any(lengths > self.max_frames):
      raise ValueError(f"{n_items} conditions, lengths {lengths.tolist()} (max {self.max_frames})")
    n = self.tokens
    if known is None:
      known, known_mask = np.zeros((n_items, n), np.int32), np.zeros((n_items, n), bool)
    controlled = control is not None and branch
    fn = self._fn(tuple(levels or range(num_levels)), schedule, controlled, spatial)
    if control is None:
      control = np.zeros((n_items, n, 1), np.float32)
    ntok = -(-lengths // self.down)
    out, ids_out, tr_ids, tr_kept, dists = [], [], [], [], []
    for c, start in enumerate(range(0, n_items, self.chunk)):
      idx = np.arange(start, start + self.chunk) % n_items
      valid = np.arange(n)[None] < ntok[idx][:, None]
      frames = np.arange(self.max_frames)[None] < lengths[idx][:, None]
      ids, trace, x, dist = fn(
        self.params, self.rvq_variables, jnp.asarray(conds[idx]), jnp.asarray(valid),
        jax.random.fold_in(key, c), jnp.asarray(known[idx], jnp.int32),
        jnp.asarray(known_mask[idx]), self.control_params if controlled else None,
        jnp.asarray(control[idx]), jnp.asarray(frames),
      )  # fmt: skip
      x = np.asarray(x) * self.std + self.mean
      m = min(self.chunk, n_items - start)
      dists.append(np.asarray(dist) * m)
      out += [x[j, : lengths[idx[j]]] for j in range(m)]
      ids_out.append(np.asarray(ids)[:m])
      tr_ids.append(np.asarray(trace.ids)[:, :m])
      tr_kept.append(np.asarray(trace.kept)[:, :m])
    trace = c2f.Trace(np.concatenate(tr_ids, 1), np.concatenate(tr_kept, 1))
    self.last_spatial_distance = np.sum(dists, 0) / n_items if spatial is not None else None
    return out, np.concatenate(ids_out), trace

  def edit_group(
    self,
    ids: np.ndarray,
    conds: np.ndarray,
    edited: np.ndarray,
    lengths,
    key: jax.Array,
    settings: EditSettings | None = None,
    group_joints: np.ndarray | None = None,
  ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Group-level editing by masking (module docstring): ``ids`` [N, T/4] generated under
    ``conds`` [N, L >= 2, F]; ``edited`` [N, L, F] the conditions after the edit. The tokens to
    regenerate (``settings.fraction`` of each motion's tokens) are decoded again under the edited
    group (level 1) condition; the others are kept bit-for-bit. ``group_joints`` [N, J] bool, the
    edited group's joints, is needed by the 'group_change' selection. Returns (raw motions, new
    ids, regenerated-token mask [N, T/4])."""
    s = settings or self.cfg.edit
    sched = self.cfg.decode.schedule()
    sched = sched._replace(steps=(s.steps,) * 3)
    conds, edited = np.asarray(conds, np.float32), np.asarray(edited, np.float32)
    lengths = np.asarray(lengths, int)
    n = self.tokens
    valid = np.arange(n)[None] < (-(-lengths // self.down))[:, None]
    ids = np.asarray(ids, np.int32)
    if s.selection == "sensitivity":
      if "sensitivity" not in self._fns:
        self._fns["sensitivity"] = jax.jit(self._sensitivity, static_argnums=5)
      score = np.asarray(
        self._fns["sensitivity"](
          self.params, ids, conds[:, 1], edited[:, 1], valid, sched.guidance_scale
        )
      )
    elif s.selection == "group_change":
      if group_joints is None:
        raise ValueError("edit selection 'group_change' needs group_joints")
      # a proposal: every token decoded again under the edited group condition
      _, prop, _ = self.generate(
        edited[:, 1:2], lengths, jax.random.fold_in(key, 98), schedule=sched, levels=(1,)
      )
      score = token_group_change(
        self.decode_ids(ids), self.decode_ids(prop), group_joints, self.down
      )
      score = np.where(valid, score, -np.inf)
    else:
      score = np.asarray(jax.random.uniform(jax.random.fold_in(key, 99), ids.shape))
    # regenerate = the `fraction` highest scores: keep the complement (keep_most_confident keeps
    # the highest "confidence", so pass -score)
    keep = np.asarray(
      c2f.keep_most_confident(jnp.asarray(-score), jnp.asarray(valid), 1.0 - s.fraction)
    )
    regen = valid & ~keep
    out, new_ids, _ = self.generate(
      edited[:, 1:2],
      lengths,
      key,
      schedule=sched,
      known=ids,
      known_mask=keep | ~valid,
      levels=(1,),
    )
    if s.preserve.steps:
      if group_joints is None:
        raise ValueError("edit.preserve needs group_joints")
      out = self.preserve_others(
        ids, new_ids, group_joints, lengths, s.preserve, balance=s.preserve_balance
      )
    return out, new_ids, regen

  def preserve_others(
    self,
    ids: np.ndarray,
    new_ids: np.ndarray,
    group_joints: np.ndarray,
    lengths,
    cfg: trajectory.SpatialGuidanceConfig,
    *,
    balance: bool = True,
  ) -> list[np.ndarray]:
    """Raw motions [length_i, F] decoded from ``new_ids``'s latent after spatial guidance toward a
    composite target (`EditSettings.preserve`): the joints of ``group_joints`` [N, J] where the
    ``new_ids`` motion has them, every other joint where the ``ids`` motion has it (pelvis-
    relative), and the pelvis' global trajectory of the ``ids`` motion; ``balance``: the group's
    points weigh as much in total as the others (`EditSettings.preserve_balance`)."""
    key = ("preserve", cfg)
    if key not in self._fns:

      def run(rvq_variables, ids, new_ids, from_edit, weight):
        def decode(z):
          return self.decode_latent(rvq_variables, z, raw=True)

        z1 = self.latent(rvq_variables, new_ids)
        before = trajectory.keep_points(decode(self.latent(rvq_variables, ids)))
        after = trajectory.keep_points(decode(z1))
        target = jnp.where(from_edit[:, None, :, None], after, before)
        z, _ = trajectory.guide_latents(decode, trajectory.keep_points, z1, target, weight, cfg)
        return self.decode_latent(rvq_variables, z)

      self._fns[key] = jax.jit(run)
    lengths = np.asarray(lengths, int)
    g = np.asarray(group_joints, bool)
    from_edit = np.concatenate([g, np.zeros_like(g[:, :1])], axis=1)  # [N, J + 1]
    used = np.ones_like(from_edit)
    used[:, 0] = False  # the pelvis relative to itself
    frames = np.arange(self.max_frames)[None] < lengths[:, None]
    n_group = from_edit.sum(1, keepdims=True)
    n_rest = (used & ~from_edit).sum(1, keepdims=True)
    group_w = n_rest / np.maximum(n_group, 1) if balance else 1.0
    point_w = np.where(from_edit, group_w, 1.0) * used
    weight = (frames[:, :, None] * point_w[:, None, :]).astype(np.float32)
    out = []
    for start in range(0, len(lengths), self.chunk):
      idx = np.arange(start, start + self.chunk) % len(lengths)
      x = self._fns[key](
        self.rvq_variables, jnp.asarray(ids[idx], jnp.int32), jnp.asarray(new_ids[idx], jnp.int32),
        jnp.asarray(from_edit[idx]), jnp.asarray(weight[idx]),
      )  # fmt: skip
      x = np.asarray(x) * self.std + self.mean
      out += [x[j, : lengths[idx[j]]] for j in range(min(self.chunk, len(lengths) - start))]
    return out

  def decode_ids(self, ids: np.ndarray) -> np.ndarray:
    """Raw features [N, T, F] of base-layer ids [N, T / 4] (the whole padded length)."""
    if "decode_ids" not in self._fns:
      self._fns["decode_ids"] = jax.jit(self.decode_codes)
    x = self._fns["decode_ids"](self.rvq_variables, jnp.asarray(ids, jnp.int32))
    return np.asarray(x) * self.std + self.mean

  def _sensitivity(self, params, ids, cond, edited, valid, guidance_scale: float) -> jax.Array:
    """Total variation [N, T/4] between the guided token distributions (all tokens visible)
    under the original and the edited group condition."""
    level = jnp.ones((ids.shape[0],), jnp.int32)
    fn = self.logits_fn(params)

    def probs(c):
      logits = masked.guided_logits(
        lambda keep: fn(
          jnp.concatenate([ids, ids]),
          jnp.concatenate([c, c]),
          jnp.concatenate([level, level]),
          keep,
          jnp.concatenate([valid, valid]),
        ),  # fmt: skip
        ids.shape[0],
        guidance_scale,
      )
      return jax.nn.softmax(logits, -1)

    tv = 0.5 * jnp.abs(probs(jnp.asarray(cond)) - probs(jnp.asarray(edited))).sum(-1)
    return jnp.where(valid, tv, -jnp.inf)


__all__ = [
  "CONTROL_JOINTS",
  "CoarseToFineGenerator",
  "ControlStageConfig",
  "CoarseToFineSettings",
  "EditSettings",
  "KinMoGenerationStageConfig",
  "LEVEL_NAMES",
  "LEVEL_SAMPLINGS",
  "control_batch_fn",
  "control_signal",
  "htma_condition_fn",
  "make_control_model",
  "make_loss_fn",
  "make_model",
  "plain_conditions",
  "text_batch",
  "token_batch_fn",
  "token_group_change",
  "train",
  "train_control",
]
