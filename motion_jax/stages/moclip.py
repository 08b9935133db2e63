"""Stage: MoCLIP -- motion-aware fine-tuning of a pretrained text encoder with a tethered student
(MoCLIP, anonymous CVPR submission, Secs. 3 and 4.3; `../shared/papers/moclip.txt`).

Model (`motion_jax.models.moclip.MoCLIP`): the skeleton-graph motion encoder, the *student* text
encoder (the project's pretrained Flax MiniLM; the paper uses CLIP's text encoder, whose weights
are not available here) and CLIP's learnable logit scale. The *teacher* is a frozen copy of the
student's initial (pretrained) parameters. It is kept in the train state's ``mutables`` under
``"teacher"`` -- never in ``params``, so the optimiser never sees it -- and applied
deterministically under ``stop_gradient``; the loss function hands it back unchanged.

Objective (`motion_jax.losses.moclip_loss`, eqs. 1-5): contrastive (capped logit scale) +
``distill_weight`` x tethering + alignment, ``distill_weight`` = 0.4 by default (the paper's
choice for MoMask and BAMM).

Schedule (Sec. 4.3): the student is frozen for the first ``frozen_fraction`` = 70 % of the steps
(paper: 35 of 50 epochs), then trained with the motion encoder. Freezing is done in the optimiser,
by parameter path (`make_optimizer`, an ``optax.multi_transform``): the motion encoder and the logit
scale get AdamW at ``optim.learning_rate``; the student's trainable leaves get AdamW at
``text_learning_rate`` wrapped in `start_at` (exactly zero updates, and no moment accumulation,
before the unfreeze step: the optimiser starts fresh there, as a torch optimiser over parameters
that had ``requires_grad=False`` would); student leaves that are never trained get
``optax.set_to_zero``. ``unfreeze='all'`` (paper) trains the whole student after the unfreeze
step; ``'last_layer'`` (the public code) only the last transformer layer (``layer_<L-1>``, which
holds that layer's two LayerNorms: MiniLM is post-LN, so it has no separate final LayerNorm).
``frozen_fraction = 1`` never unfreezes (the frozen-text baseline).

Evaluation helpers: `embed_texts` / `embed_motions`, `retrieval` (R@1/2/3 text->motion and
motion->text through `motion_jax.metrics.retrieval`, cosine similarity, over the whole test set
and in batches of 32), and `forgetting`: the mean cosine between student and teacher embeddings of
40 held-out generic sentences (`data/moclip/generic_sentences.txt`, written for the project).

Defaults (`MoCLIPStageConfig()`): the public code's optimiser (AdamW lr 1e-4, weight decay 1e-4,
batch 32; text lr 1e-5) and sizes (see `MoCLIPMotionConfig`); 50 epochs of the 8,000 training
clips of the embedded 10,000-clip dataset (12,500 steps). Choices the paper leaves open, as
fields: ``text_learning_rate`` (public code's 1e-5 for both unfreeze modes), ``text_dropout``
(off: CLIP's text encoder has no dropout, and a frozen student should equal its teacher),
``max_text_tokens`` (caption word pieces incl. [CLS]/[SEP]), ``frame_stride`` (1 = 20 fps), the
loss weights of `MoCLIPLossConfig` beyond lambda, ``max_logit_scale`` (CLIP's 100). Not fields:
the logit scale is trained by the head's AdamW including its weight decay (CLIP exempts it; at lr
1e-4 x decay 1e-4 the pull is negligible), and the text embedding that enters every loss term is
MiniLM's L2-normalised mean-pooled sentence embedding.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from motion_jax import losses, paths
from motion_jax.metrics import retrieval as retrieval_lib
from motion_jax.models import text_encoder as te
from motion_jax.models.moclip import MoCLIP, MoCLIPMotionConfig
from motion_jax.train import artifacts, optim
from motion_jax.train import loop as loop_lib
from motion_jax.train.state import eval_params

UNFREEZE_MODES = ("all", "last_layer")
TEXT_ENCODERS = ("minilm", "tiny")
RETRIEVAL_KS = (1, 2, 3)
GENERIC_SENTENCES = ("moclip", "generic_sentences.txt")


@dataclasses.dataclass(frozen=True)
class MoCLIPLossConfig:
  """Weights of eq. 5 (paper: contrastive 1, lambda 0.4, alignment 1) and CLIP's logit cap."""

  distill_weight: float = 0.4
  alignment_weight: float = 1.0
  contrastive_weight: float = 1.0
  max_logit_scale: float = 100.0

  def __post_init__(self):
    for name in ("distill_weight", "alignment_weight", "contrastive_weight"):
      if getattr(self, name) < 0:
        raise ValueError(f"loss.{name} must be >= 0, got {getattr(self, name)}")
    if not self.max_logit_scale > 0:
      raise ValueError(f"loss.max_logit_scale must be > 0, got {self.max_logit_scale}")


@dataclasses.dataclass(frozen=True)
class MoCLIPStageConfig:
  model: MoCLIPMotionConfig = MoCLIPMotionConfig()
  loss: MoCLIPLossConfig = MoCLIPLossConfig()
  text_encoder: str = "minilm"  # 'minilm' (pretrained all-MiniLM-L6-v2) | 'tiny' (random, tests)
  frozen_fraction: float = 0.7  # paper: 35 of 50 epochs
  unfreeze: str = "all"  # 'all' (paper) | 'last_layer' (public code)
  text_learning_rate: float = 1e-5
  text_dropout: bool = False
  max_text_tokens: int = 32
  frame_stride: int = 1
  optim: optim.OptimConfig = optim.OptimConfig(
    learning_rate=1e-4, b1=0.9, b2=0.999, weight_decay=1e-4
  )
  loop: loop_lib.LoopConfig = loop_lib.LoopConfig(
    num_steps=12_500, log_every=100, checkpoint_every=2500, keep_checkpoints=2
  )
  batch_size: int = 32

  def __post_init__(self):
    if self.text_encoder not in TEXT_ENCODERS:
      raise ValueError(f"text_encoder must be one of {TEXT_ENCODERS}, got {self.text_encoder!r}")
    if self.unfreeze not in UNFREEZE_MODES:
      raise ValueError(f"unfreeze must be one of {UNFREEZE_MODES}, got {self.unfreeze!r}")
    if not 0.0 <= self.frozen_fraction <= 1.0:
      raise ValueError(f"frozen_fraction must be in [0, 1], got {self.frozen_fraction}")
    if not self.text_learning_rate >= 0:
      raise ValueError(f"text_learning_rate must be >= 0, got {self.text_learning_rate}")
    if self.max_text_tokens < 3:
      raise ValueError(f"max_text_tokens must be >= 3, got {self.max_text_tokens}")
    if self.frame_stride < 1:
      raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")
    if self.batch_size < 2:
      raise ValueError(f"batch_size must be >= 2 (contrastive negatives), got {self.batch_size}")
    if self.optim.freeze:
      raise ValueError("optim.freeze is not used by MoCLIP: the schedule freezes the student")

  @property
  def unfreeze_step(self) -> int:
    """First step at which the student text encoder is updated."""
    return int(round(self.frozen_fraction * self.loop.num_steps))


# ------------------------------------------------------------------------------------------------
# Model, text encoders
# ------------------------------------------------------------------------------------------------
def text_config(cfg: MoCLIPStageConfig) -> te.TextEncoderConfig:
  if cfg.text_encoder == "tiny":
    return te.TextEncoderConfig.tiny()
  return te.TextEncoderConfig.from_model_dir()


def pretrained_text_params(cfg: MoCLIPStageConfig) -> Any | None:
  """The student's (and teacher's) initial parameters: MiniLM's, or None (random init)."""
  return te.load_pretrained_params() if cfg.text_encoder == "minilm" else None


def make_model(cfg: MoCLIPStageConfig, text_cfg: te.TextEncoderConfig | None = None) -> MoCLIP:
  return MoCLIP(cfg.model, text_cfg or text_config(cfg))


def teacher_embeddings(
  text_cfg: te.TextEncoderConfig, teacher_params: Any, input_ids: jax.Array, mask: jax.Array
) -> jax.Array:
  """Frozen teacher sentence embeddings ``[B, E]`` (deterministic, no gradient)."""
  _, aux = te.BertTextEncoder(text_cfg).apply(
    {"params": teacher_params}, input_ids, mask, None, True
  )
  return jax.lax.stop_gradient(aux["sentence_embedding"])


def make_init_fn(
  model: MoCLIP, example: Mapping[str, Any], text_params: Any | None = None
) -> Callable[[jax.Array], tuple[Any, Any]]:
  """``init_fn(key) -> (params, {"teacher": copy of the initial student})`` for the loop."""

  def init_fn(key):
    params = dict(
      model.init(
        {"params": key},
        example["input_ids"],
        example["attention_mask"],
        example["motion"],
        example["mask"],
      )["params"]
    )
    if text_params is not None:
      params["text_encoder"] = jax.tree.map(jnp.asarray, text_params)
    return params, {"teacher": jax.tree.map(jnp.copy, params["text_encoder"])}

  return init_fn


def _distill_weight(cfg: MoCLIPStageConfig, batch: Mapping[str, Any]):
  """lambda: the batch's per-row ``distill_weight`` when present (a traced value, so every lambda
  of a sweep runs the same compiled step), else the config's constant."""
  if "distill_weight" in batch:
    return jnp.mean(batch["distill_weight"])
  return cfg.loss.distill_weight


def _eq5(cfg: MoCLIPStageConfig, batch, z_motion, z_student, z_teacher, logit_scale):
  """`losses.moclip_loss` (eq. 5) with the config's weights and the batch's lambda."""
  w = cfg.loss
  return losses.moclip_loss(
    z_motion,
    z_student,
    z_teacher,
    logit_scale,
    distill_weight=_distill_weight(cfg, batch),
    alignment_weight=w.alignment_weight,
    contrastive_weight=w.contrastive_weight,
    max_logit_scale=w.max_logit_scale,
  )


def make_loss_fn(model: MoCLIP, cfg: MoCLIPStageConfig):
  """Apply the student model and the frozen teacher, call `losses.moclip_loss` (eq. 5). The
  teacher's embeddings come from the batch (``teacher_embedding``, `CaptionEmbeddings`) when it
  carries them, else from a forward pass of the teacher."""

  def loss_fn(params, mutables, batch, rngs):
    out = model.apply(
      {"params": params},
      batch["input_ids"],
      batch["attention_mask"],
      batch["motion"],
      batch["mask"],
      deterministic=False,
      text_deterministic=not cfg.text_dropout,
      rngs={"dropout": rngs["dropout"]},
    )
    if "teacher_embedding" in batch:
      z_teacher = jax.lax.stop_gradient(batch["teacher_embedding"])
    else:
      z_teacher = teacher_embeddings(
        model.text_config, mutables["teacher"], batch["input_ids"], batch["attention_mask"]
      )
    total, terms = _eq5(cfg, batch, out["motion"], out["text"], z_teacher, out["logit_scale"])
    return total, (terms, mutables)

  return loss_fn


def make_frozen_loss_fn(model: MoCLIP, cfg: MoCLIPStageConfig):
  """Eq. 5 while the student cannot change (before the unfreeze step, or a text learning rate of
  0): the student's embedding of a caption then *is* the teacher's (same parameters, no text
  dropout), so both come from the batch's precomputed ``teacher_embedding`` and only the motion
  encoder and the logit scale are run and differentiated. The tethering term is exactly 0, as in
  `make_loss_fn` at this stage; the updates of every parameter are those of `make_loss_fn` up to
  float rounding of the text embeddings (tested)."""
  if cfg.text_dropout:
    raise ValueError("make_frozen_loss_fn needs text_dropout=False (student = teacher)")

  def loss_fn(params, mutables, batch, rngs):
    z_motion = model.apply(
      {"params": params},
      batch["motion"],
      batch["mask"],
      False,
      method=MoCLIP.encode_motion,
      rngs={"dropout": rngs["dropout"]},
    )
    z_text = jax.lax.stop_gradient(batch["teacher_embedding"])
    total, terms = _eq5(cfg, batch, z_motion, z_text, z_text, params["logit_scale"])
    return total, (terms, mutables)

  return loss_fn


# ------------------------------------------------------------------------------------------------
# Optimiser: freezing by path, the student unfrozen at a step
# ------------------------------------------------------------------------------------------------
class StartAtState(NamedTuple):
  count: jax.Array  # [] int32, updates seen
  inner: optax.OptState


def start_at(step: int, inner: optax.GradientTransformation) -> optax.GradientTransformation:
  """``inner`` from update number ``step`` on; before it, zero updates and ``inner``'s state is
  left untouched (its moments and counters start at the unfreeze step)."""

  def init_fn(params):
    return StartAtState(jnp.zeros((), jnp.int32), inner.init(params))

  def update_fn(updates, state, params=None):
    def run(_):
      return inner.update(updates, state.inner, params)

    def hold(_):
      return jax.tree.map(jnp.zeros_like, updates), state.inner

    new_updates, new_inner = jax.lax.cond(state.count >= step, run, hold, None)
    return new_updates, StartAtState(state.count + 1, new_inner)

  return optax.GradientTransformation(init_fn, update_fn)


def param_labels(params: Any, unfreeze: str, num_text_layers: int) -> Any:
  """``'head'`` (motion encoder, logit scale), ``'text'`` (student leaves trained after the
  unfreeze step) or ``'text_fixed'`` (student leaves never trained) for each leaf."""
  if unfreeze not in UNFREEZE_MODES:
    raise ValueError(f"unfreeze must be one of {UNFREEZE_MODES}, got {unfreeze!r}")
  last = f"text_encoder/layer_{num_text_layers - 1}/"

  def label(path, _):
    p = optim.path_str(path)
    if not p.startswith("text_encoder/"):
      return "head"
    if unfreeze == "all" or p.startswith(last):
      return "text"
    return "text_fixed"

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(cfg: MoCLIPStageConfig, num_text_layers: int) -> optax.GradientTransformation:
  """AdamW for the head; the student frozen until `MoCLIPStageConfig.unfreeze_step` (see module
  docstring)."""
  o = cfg.optim
  text_adamw = optax.adamw(
    cfg.text_learning_rate, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay
  )
  if o.grad_clip_norm > 0:
    text_adamw = optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), text_adamw)
  never = cfg.unfreeze_step >= cfg.loop.num_steps
  return optax.multi_transform(
    {
      "head": optim.make_optimizer(o, cfg.loop.num_steps),
      "text": optax.set_to_zero() if never else start_at(cfg.unfreeze_step, text_adamw),
      "text_fixed": optax.set_to_zero(),
    },
    lambda params: param_labels(params, cfg.unfreeze, num_text_layers),
  )


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
def tokenize_fixed(tokenizer, sentences: Sequence[str], length: int) -> tuple[np.ndarray, ...]:
  """``(input_ids [B, length], attention_mask [B, length])``: word pieces padded (or truncated,
  silently, keeping [SEP]) to exactly ``length`` so every batch has one compiled shape."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    tok = te.tokenize(tokenizer, list(sentences), max_length=length, pad_to_multiple_of=1)
  pad = length - tok.input_ids.shape[1]
  ids = np.pad(tok.input_ids, ((0, 0), (0, pad)))
  mask = np.pad(tok.attention_mask, ((0, 0), (0, pad)))
  return ids.astype(np.int32), mask.astype(np.int32)


class CaptionEmbeddings:
  """The frozen teacher's sentence embeddings of captions, each distinct caption computed once
  (on first use, in chunks of ``chunk``) and then looked up: the teacher never changes, so its
  forward pass need not run in every training step. Captions are tokenised exactly as the
  featurizer does (`tokenize_fixed` to ``max_text_tokens``)."""

  def __init__(
    self,
    text_cfg: te.TextEncoderConfig,
    teacher_params: Any,
    tokenizer,
    max_text_tokens: int,
    chunk: int = 32,
  ):
    self._module = te.BertTextEncoder(text_cfg)
    self._params = jax.tree.map(jnp.asarray, teacher_params)
    self._tokenizer = tokenizer
    self._length = max_text_tokens
    self._chunk = chunk
    self._rows: dict[str, np.ndarray] = {}

  def __len__(self) -> int:
    return len(self._rows)

  def __call__(self, captions: Sequence[str]) -> np.ndarray:
    """``[B, E]`` float32 teacher embeddings of ``captions``."""
    missing = [c for c in dict.fromkeys(captions) if c not in self._rows]
    if missing:
      ids, mask = tokenize_fixed(self._tokenizer, missing, self._length)
      fn = functools.partial(_sentence_embeddings, self._module)
      emb = _chunked(fn, self._params, (ids, mask), self._chunk)  # one compiled shape
      self._rows.update(zip(missing, np.asarray(emb, np.float32)))
    return np.stack([self._rows[c] for c in captions])


def initial_text_params(cfg: MoCLIPStageConfig, seed: int) -> Any:
  """The student's (and teacher's) initial parameters as a concrete tree: MiniLM's, or for the
  ``tiny`` encoder a random initialisation from ``seed``."""
  params = pretrained_text_params(cfg)
  if params is not None:
    return params
  module = te.BertTextEncoder(text_config(cfg))
  ids = jnp.ones((1, cfg.max_text_tokens), jnp.int32)
  init = module.init(jax.random.PRNGKey(seed), ids, jnp.ones_like(ids), None, True)
  return jax.tree.map(np.asarray, init["params"])


def make_featurizer(
  tokenizer, cfg: MoCLIPStageConfig, teacher: CaptionEmbeddings | None = None
) -> Callable[[Mapping[str, Any]], dict]:
  """``TextMotionBatcher`` postprocessing: captions -> word pieces, frames subsampled, and with
  ``teacher`` the teacher's caption embeddings (``teacher_embedding``: `train` then skips the
  teacher's forward pass, and the student's too while it is frozen)."""

  def postprocess(batch):
    captions = [str(c) for c in batch["caption"]]
    ids, mask = tokenize_fixed(tokenizer, captions, cfg.max_text_tokens)
    out = {
      "motion": np.asarray(batch["motion"], np.float32)[:, :: cfg.frame_stride],
      "mask": np.asarray(batch["mask"], bool)[:, :: cfg.frame_stride],
      "input_ids": ids,
      "attention_mask": mask,
    }
    if teacher is not None:
      out["teacher_embedding"] = teacher(captions)
    return out

  return postprocess


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------
def train(
  cfg: MoCLIPStageConfig,
  batch_fn: Callable[[int], dict],
  workdir: str | pathlib.Path,
  *,
  seed: int,
  desc: str = "moclip",
  text_params: Any | None = None,
  on_log: Callable[[int, dict], None] | None = None,
  stop_at: int | None = None,
  distill_weight: float | None = None,
) -> dict[str, Any]:
  """Trains (or resumes) MoCLIP with the shared loop.

  Args:
    cfg: stage config.
    batch_fn: ``step -> {"motion" [B, T, 263], "mask" [B, T], "input_ids" [B, L],
      "attention_mask" [B, L]}``.
    workdir: checkpoints and metrics.
    seed: init / dropout seed.
    text_params: the student's initial parameters (default: `pretrained_text_params`).
    on_log: forwarded to `train.loop.train`.
    stop_at: train only to this step (e.g. `MoCLIPStageConfig.unfreeze_step`: the frozen stage,
      which neither lambda nor the text learning rate affects, shared by several runs), with
      the optimiser and schedules of the full ``cfg.loop.num_steps`` run, so that a copy of its
      checkpoint resumes as that run.
    distill_weight: lambda, overriding ``cfg.loss.distill_weight``, fed to the step as a batch
      field instead of a constant, so runs that differ only in lambda share one compiled step
      (JAX's persistent compilation cache).
  Batches that carry ``teacher_embedding`` (`make_featurizer` with a `CaptionEmbeddings`) skip the
  teacher's forward pass, and while the student cannot change the text encoder altogether
  (`make_frozen_loss_fn`). Those embeddings must be the ones of ``text_params`` (the student's
  start, which the teacher copies), as `CaptionEmbeddings` built from the same tree gives.
  Returns:
    ``{"params": trained params, "teacher": the teacher's params}`` as numpy trees.
  """
  text_cfg = text_config(cfg)
  model = make_model(cfg, text_cfg)
  if text_params is None:
    text_params = pretrained_text_params(cfg)
  if distill_weight is not None:
    if not distill_weight >= 0:
      raise ValueError(f"distill_weight must be >= 0, got {distill_weight}")
    loss = dataclasses.replace(cfg.loss, distill_weight=distill_weight)
    cfg = dataclasses.replace(cfg, loss=loss)
    inner_batch_fn = batch_fn

    def batch_fn(step):  # lambda as a batch field: one compiled step for every lambda
      batch = dict(inner_batch_fn(step))
      rows = len(batch["motion"])
      batch["distill_weight"] = np.full((rows,), distill_weight, np.float32)
      return batch

  example = jax.tree.map(lambda x: np.asarray(x)[:1], batch_fn(0))
  loop = cfg.loop
  end = loop.num_steps
  if stop_at is not None:
    if not 0 <= stop_at <= loop.num_steps:
      raise ValueError(f"stop_at must be in [0, {loop.num_steps}], got {stop_at}")
    end = stop_at
  # Phase 1 (the student cannot change: before the unfreeze step, or never with a text learning
  # rate of 0) on precomputed teacher embeddings, without the text encoder; phase 2 the full
  # model. Both use the same optimiser and train state, so phase 2 resumes phase 1's checkpoint.
  frozen_end = 0
  if "teacher_embedding" in example and not cfg.text_dropout:
    frozen_until = loop.num_steps if cfg.text_learning_rate == 0 else cfg.unfreeze_step
    frozen_end = min(frozen_until, end)
  common = dict(
    workdir=workdir,
    init_fn=make_init_fn(model, example, text_params),
    tx=make_optimizer(cfg, text_cfg.num_layers),
    batch_fn=batch_fn,
    seed=seed,
    on_log=on_log,
  )
  if frozen_end > 0:
    state = loop_lib.train(
      loop=dataclasses.replace(loop, num_steps=frozen_end),
      loss_fn=make_frozen_loss_fn(model, cfg),
      desc=desc,  # one metrics file for both phases
      **common,
    )
  if end > frozen_end or frozen_end == 0:
    state = loop_lib.train(
      loop=dataclasses.replace(loop, num_steps=end),
      loss_fn=make_loss_fn(model, cfg),
      desc=desc,
      **common,
    )
  return {
    "params": loop_lib.to_numpy(eval_params(state)),
    "teacher": loop_lib.to_numpy(state.mutables["teacher"]),
  }


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------
def _chunked(fn, params: Any, arrays: Sequence[np.ndarray], chunk: int) -> np.ndarray:
  n = len(arrays[0])
  out = []
  for a in range(0, n, chunk):
    idx = np.arange(a, a + chunk) % n  # last chunk padded: one compiled shape
    rows = fn(params, *(jnp.asarray(x[idx]) for x in arrays))
    out.append(np.asarray(rows)[: min(chunk, n - a)])
  return np.concatenate(out)


@functools.partial(jax.jit, static_argnums=0)
def _encode_text(model: MoCLIP, params, input_ids, attention_mask):
  return model.apply({"params": params}, input_ids, attention_mask, method=MoCLIP.encode_text)


@functools.partial(jax.jit, static_argnums=0)
def _encode_motion(model: MoCLIP, params, motion, mask):
  return model.apply({"params": params}, motion, mask, method=MoCLIP.encode_motion)


@functools.partial(jax.jit, static_argnums=0)
def _sentence_embeddings(module: te.BertTextEncoder, params, input_ids, attention_mask):
  return module.apply({"params": params}, input_ids, attention_mask, None, True)[1][
    "sentence_embedding"
  ]


def embed_texts(
  model: MoCLIP, params: Any, input_ids: np.ndarray, attention_mask: np.ndarray, chunk: int = 64
) -> np.ndarray:
  """Student sentence embeddings ``[N, E]`` (unit norm)."""
  return _chunked(
    functools.partial(_encode_text, model), params, (input_ids, attention_mask), chunk
  )


def embed_motions(
  model: MoCLIP, params: Any, motion: np.ndarray, mask: np.ndarray, chunk: int = 64
) -> np.ndarray:
  """Motion embeddings ``[N, E]`` (un-normalised)."""
  return _chunked(functools.partial(_encode_motion, model), params, (motion, mask), chunk)


def _unit(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float64)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def retrieval(
  text_emb: np.ndarray,
  motion_emb: np.ndarray,
  *,
  batch_size: int = 32,
  seed: int = 0,
  num_repeats: int = 1,
  ks: Sequence[int] = RETRIEVAL_KS,
) -> dict[str, dict[str, float]]:
  """Text->motion and motion->text R@k (cosine similarity of pair ``i`` = text ``i``, motion
  ``i``): ``{"all": ..., "small_batches": ...}`` (`motion_jax.metrics.retrieval`); the batch
  protocol is skipped when there are fewer than ``batch_size`` pairs."""
  sim = _unit(text_emb) @ _unit(motion_emb).T  # [N, N]
  out = {"all": retrieval_lib.retrieval_metrics(sim, ks=ks)}
  if len(sim) >= batch_size:
    out["small_batches"] = retrieval_lib.small_batch_metrics(sim, batch_size, seed, num_repeats, ks)
  return out


def load_generic_sentences() -> list[str]:
  """The 40 held-out generic (non-motion) sentences of the forgetting probe."""
  text = paths.data_path(*GENERIC_SENTENCES).read_text(encoding="utf-8")
  return [line.strip() for line in text.splitlines() if line.strip()]


def forgetting(
  text_cfg: te.TextEncoderConfig,
  student_params: Any,
  teacher_params: Any,
  input_ids: np.ndarray,
  attention_mask: np.ndarray,
) -> dict[str, float]:
  """How far the student drifted from the teacher on held-out sentences: the mean (and min) cosine
  between their sentence embeddings (1 = no drift)."""
  module = te.BertTextEncoder(text_cfg)

  def embed(p):
    return np.asarray(_sentence_embeddings(module, p, input_ids, attention_mask))  # [N, E]

  cos = np.sum(_unit(embed(student_params)) * _unit(embed(teacher_params)), axis=-1)
  return {"mean_cosine": float(np.mean(cos)), "min_cosine": float(np.min(cos))}


# ------------------------------------------------------------------------------------------------
# The trained student as a drop-in text encoder (Sec. 4.3)
# ------------------------------------------------------------------------------------------------
def student_record(workdir: str | pathlib.Path, run: str) -> str:
  """The fingerprint digest of the finished MoCLIP run ``run`` in ``workdir`` (identifies the
  student's weights); FileNotFoundError naming the expected file and the runs present."""
  marker = artifacts.stage_dir(workdir, run) / artifacts.STAGE_FILE
  if not marker.exists():
    found = sorted(p.parent.name for p in pathlib.Path(workdir).glob(f"*/{artifacts.STAGE_FILE}"))
    raise FileNotFoundError(
      f"{marker}: no finished MoCLIP run {run!r} in {workdir} (runs there: "
      f"{', '.join(found) or 'none'}); train it with `python launch.py --experiment=moclip "
      f"--workdir={workdir}`"
    )
  return json.loads(marker.read_text())["fingerprint_digest"]


def load_student(workdir: str | pathlib.Path, run: str) -> te.PretrainedTextEncoder:
  """The student text encoder of a finished MoCLIP run as a `PretrainedTextEncoder` (MiniLM's
  tokenizer and architecture, the student's weights), e.g. for a generator's text features."""
  student_record(workdir, run)
  result, fingerprint = artifacts.load_stage(workdir, run)
  kind = fingerprint.get("model", {}).get("text_encoder", "minilm")
  cfg = te.TextEncoderConfig.tiny() if kind == "tiny" else te.TextEncoderConfig.from_model_dir()
  params = result.arrays["params"].get("text_encoder")
  if params is None:
    raise ValueError(f"{artifacts.stage_dir(workdir, run)}: the run has no 'text_encoder' params")
  return te.PretrainedTextEncoder(te.BertTextEncoder(cfg), params, te.load_tokenizer(), cfg)


__all__ = [
  "CaptionEmbeddings",
  "MoCLIPLossConfig",
  "MoCLIPStageConfig",
  "load_student",
  "student_record",
  "RETRIEVAL_KS",
  "StartAtState",
  "UNFREEZE_MODES",
  "embed_motions",
  "embed_texts",
  "forgetting",
  "load_generic_sentences",
  "make_featurizer",
  "make_init_fn",
  "initial_text_params",
  "make_frozen_loss_fn",
  "make_loss_fn",
  "make_model",
  "make_optimizer",
  "param_labels",
  "pretrained_text_params",
  "retrieval",
  "start_at",
  "teacher_embeddings",
  "text_config",
  "tokenize_fixed",
  "train",
]
