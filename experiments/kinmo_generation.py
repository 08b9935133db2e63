"""KinMo Table 5 ablation: coarse-to-fine generation conditioned on global / +group /
+group+interaction texts, with plain sentence embeddings or HTMA embeddings; and group editing.

KinMo (Zhang et al., arXiv 2411.15472, Sec. 3.4, Table 5) keeps MoMask's masked generator and
conditions it level by level on its hierarchical text embeddings: first ``mu_c`` (global), then the
generated tokens are re-fed with ``mu_g`` (group level), then with ``mu_i`` (interaction level),
one generator with shared weights trained with the same token cross-entropy at every level.
Re-feeding is re-mask-and-refine here (`motion_jax.diffusion.coarse_to_fine`: keep a configured
fraction of the previous level's most confident tokens, re-mask and decode the rest); the
generator decodes the RVQ base layer only, as in the paper's Table 5.

Rows (``rows``, default all six), each a generator conditioned on the row's levels:

  plain_global / plain_group / plain_interaction: frozen MiniLM sentence embeddings of the caption,
    and the mean of those of the group (the interaction) descriptions (the paper's "CLIP" rows);
  htma_global / htma_group / htma_interaction: ``mu_c``, ``mu_g``, ``mu_i`` of an HTMA alignment
    model trained as `kinmo_retrieval`'s full-hierarchy variant (stage ``interaction``, the same
    fingerprint: a kinmo_retrieval workdir's model is reused).

``generators``: 'per_row' trains one generator per row on the row's levels (the ablation as a
table of separately trained models); 'per_embedding' trains one generator per embedding kind on
all three levels and the rows differ only in how many levels the decoding walks through (cheaper:
the quick and tiny presets). Each row is scored with the project's generation evaluator
(`motion_jax.stages.evaluator`; R-precision, FID, MM-Dist, diversity, multimodality, mean ± 95 %
interval over ``eval.num_repeats``), next to the "Real" and "Shuffled texts" reference rows.

Test-time group / interaction descriptions (``descriptions``): 'reasoner' (default; the paper
derives them from the caption with its Motion Reasoner, here the retrieval stand-in
`motion_jax.data.text_motion.reasoner` over the training split) or 'oracle' (the descriptions of
the evaluation clip that carries the caption).

Group editing (``edit``; KinMo Sec. 3.4 "Editing", procedure not in the paper's text): for the
first ``edit.clips`` evaluation clips and each group of ``edit.groups``, the group's description
is replaced by a different one of the same group from a training clip; the motion generated from
the original descriptions (the ``edit.row`` generator, which needs the group level) is edited by
re-masking a fraction of its tokens (`stages.kinmo_generation.CoarseToFineGenerator.edit_group`)
and decoding them under the edited group embedding, the other tokens kept bit-for-bit. Reported
per edit: mean displacement (cm, pelvis-relative joint positions) of the edited group's joints and
of all other joints, and their ratio; the median ratio per token-selection rule ('group_change',
'sensitivity' and the 'random' baseline), masking alone, and for ``model.edit.selection`` also
with preservation guidance (``model.edit.preserve``: spatial guidance of the decoder latent that
holds the other joints at the unedited motion's, as inpainting does in a diffusion model's
body-part editing). The paper gives no editing metric; the target used here is a median ratio
below 1/5.

Stages (`motion_jax.train.artifacts.cached_stage`): ``evaluator``, ``rvq`` (momask's fingerprint:
shared with a momask workdir of the same data / rvq config), ``interaction`` (the HTMA model),
``kgen_<embedding>[_<levels>]`` (the generators).

Presets: default = MoMask's sizes (transformer 384 / 8 layers / 6 heads), TMR's HTMA sizes,
per-row generators; ``quick`` = momask's quick RVQ and transformer sizes on its 1,200-clip
single-action data, kinmo_retrieval's quick HTMA sizes (600 steps), per-embedding generators;
``tiny`` = a 180-clip dataset, a few steps and an InfoNCE-only HTMA (tests).

Trajectory control (``control``, ``model.control``; OmniControl's ControlNet, KinMo Sec. 3.4,
appendix C not in the text): a ControlNet branch (`stages.kinmo_generation.train_control`) is
trained on the frozen ``control.row`` generator (stage ``kcontrol_<joint>_<generator>``) to follow
the global trajectory of ``model.control.joint`` (pelvis, a wrist or a foot) on every frame, and
OmniControl's spatial guidance (``model.spatial``; `motion_jax.guidance.trajectory`) moves the
decoded motion toward the target at generation time. For the first ``control.clips`` evaluation
clips the table gives the control error (cm, mean and median over clips), R-precision / FID /
MM-Dist (one repeat) and foot skating for: no control, the ControlNet alone, spatial guidance
alone, both (the method), and two references: the real clips' own base-layer tokens decoded (what
the token representation alone can reach) and the real clips.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from dataclasses import replace

import jax
import ml_collections
import numpy as np

from experiments import kinmo_retrieval, presets
from experiments import momask as momask_exp
from motion_jax.config import config_dict, to_dict
from motion_jax.data.text_motion import preparation as prep
from motion_jax.data.text_motion import reasoner as reasoner_lib
from motion_jax.guidance import trajectory
from motion_jax.io import report
from motion_jax.metrics import generation as gen_lib
from motion_jax.metrics import physics
from motion_jax.models.rvq import RVQVAE
from motion_jax.reports import text_motion as text_motion_report
from motion_jax.representations import humanml3d
from motion_jax.representations.kinematic_groups import GROUP_NAMES, T2M_GROUPS
from motion_jax.stages import evaluator as ev_lib
from motion_jax.stages import kinmo_generation as stage
from motion_jax.stages import retrieval as retrieval_stage
from motion_jax.stages import rvq as rvq_stage
from motion_jax.stages import text_data
from motion_jax.stages.evaluator import EvaluatorConfig, GenerationEvalConfig
from motion_jax.train import artifacts

# name -> (row label, embedding, number of levels)
ROWS = {
  "plain_global": ("MiniLM global", "plain", 1),
  "plain_group": ("MiniLM + group", "plain", 2),
  "plain_interaction": ("MiniLM + group + interaction", "plain", 3),
  "htma_global": ("HTMA global", "htma", 1),
  "htma_group": ("HTMA + group", "htma", 2),
  "htma_interaction": ("HTMA + group + interaction", "htma", 3),
}
GENERATORS = ("per_row", "per_embedding")
DESCRIPTIONS = ("reasoner", "oracle")
HTMA_STAGE = "interaction"  # kinmo_retrieval's full-hierarchy variant


@dataclasses.dataclass(frozen=True)
class EditEvalConfig:
  """Group editing: ``clips`` evaluation clips x ``groups`` (comma-separated of GROUP_NAMES),
  edited with the ``row`` generator (0 clips = off)."""

  clips: int = 16
  groups: str = "left_arm,right_arm,left_leg,right_leg"
  row: str = "htma_interaction"
  seed: int = 0

  def group_list(self) -> list[str]:
    names = [g.strip() for g in self.groups.split(",") if g.strip()]
    bad = [g for g in names if g not in GROUP_NAMES]
    if bad or not names:
      raise ValueError(f"edit.groups: unknown {bad or self.groups!r}; valid: {GROUP_NAMES}")
    return names


@dataclasses.dataclass(frozen=True)
class ControlEvalConfig:
  """Trajectory control: a ControlNet branch (``model.control``) trained on the ``row``
  generator and evaluated on the first ``clips`` evaluation clips (a multiple of 32, the
  R-precision batch; fewer when the split is smaller), each generated from caption 0 with and
  without its own trajectory of the controlled joint (``enabled`` False = off)."""

  enabled: bool = True
  row: str = "htma_interaction"
  clips: int = 256


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  data: prep.TextMotionDataConfig = prep.TextMotionDataConfig()
  rvq: rvq_stage.RVQStageConfig = rvq_stage.RVQStageConfig()
  htma: retrieval_stage.RetrievalStageConfig = retrieval_stage.RetrievalStageConfig()
  model: stage.KinMoGenerationStageConfig = stage.KinMoGenerationStageConfig()
  rows: str = ",".join(ROWS)
  generators: str = "per_row"
  descriptions: str = "reasoner"
  reasoner: reasoner_lib.ReasonerConfig = reasoner_lib.ReasonerConfig()
  evaluator: EvaluatorConfig = EvaluatorConfig()
  eval: GenerationEvalConfig = GenerationEvalConfig()
  edit: EditEvalConfig = EditEvalConfig()
  control: ControlEvalConfig = ControlEvalConfig()
  export_clips: int = 4  # first test captions exported (npy, BVH, GIF); 0 = none

  def __post_init__(self):
    parse_rows(self.rows)
    if self.generators not in GENERATORS:
      raise ValueError(f"generators: one of {GENERATORS}, got {self.generators!r}")
    if self.descriptions not in DESCRIPTIONS:
      raise ValueError(f"descriptions: one of {DESCRIPTIONS}, got {self.descriptions!r}")
    if self.data.max_length % self.rvq.model.downsample:
      raise ValueError(f"data.max_length must be a multiple of {self.rvq.model.downsample}")
    if self.edit.clips:
      self.edit.group_list()
      if self.edit.row not in ROWS or ROWS[self.edit.row][2] < 2:
        raise ValueError(f"edit.row must be a row with the group level, got {self.edit.row!r}")
    if self.export_clips < 0:
      raise ValueError(f"export_clips must be >= 0, got {self.export_clips}")
    if self.control.enabled and (self.control.row not in ROWS or self.control.clips < 32):
      raise ValueError(f"control: row one of {tuple(ROWS)} and clips >= 32, got {self.control}")


def parse_rows(spec: str) -> list[str]:
  names = [r.strip() for r in spec.split(",") if r.strip()]
  bad = [r for r in names if r not in ROWS]
  if bad or not names:
    raise ValueError(f"unknown rows {bad or spec!r}; valid: {', '.join(ROWS)}")
  return names


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  c = Config()
  mm = from_momask(preset)
  m = c.model
  if preset in ("quick", "tiny"):
    t = mm.model.transformer
    m = replace(
      m, transformer=t, optim=mm.model.optim, loop=mm.model.loop, batch_size=mm.model.batch_size,
      decode=replace(m.decode, steps=(10, 5, 5) if preset == "quick" else (3, 2, 2)),
      control=replace(m.control, num_steps=500 if preset == "quick" else 4, learning_rate=1e-3),
      spatial=m.spatial if preset == "quick" else replace(m.spatial, steps=10),
      edit=m.edit if preset == "quick" else replace(m.edit, preserve=replace(m.spatial, steps=10)),
    )  # fmt: skip
    c = replace(c, generators="per_embedding")
  htma = _retrieval_model(preset)
  if preset == "quick":
    htma = replace(htma, loop=replace(htma.loop, num_steps=600, checkpoint_every=300))
  c = replace(
    c, data=mm.data, rvq=mm.rvq, htma=htma, model=m, evaluator=mm.evaluator,
    eval=presets.generation_eval(c.eval, preset),
  )  # fmt: skip
  if preset == "tiny":
    # InfoNCE-only HTMA (no motion decoder to compile): the test's minutes go to generation
    htma = replace(htma, loss=replace(htma.loss, objective="nce"))
    c = replace(c, htma=htma, edit=replace(c.edit, clips=2, groups="left_arm"),
                control=replace(c.control, clips=64), export_clips=1)  # fmt: skip
  return config_dict(c)


def from_momask(preset: str | None) -> momask_exp.Config:
  """momask's config for ``preset`` (its data, RVQ, transformer and evaluation settings)."""
  from motion_jax.config import from_dict

  return from_dict(momask_exp.Config, momask_exp.get_config(preset))


def _retrieval_model(preset: str | None) -> retrieval_stage.RetrievalStageConfig:
  from motion_jax.config import from_dict

  return from_dict(kinmo_retrieval.Config, kinmo_retrieval.get_config(preset)).model


# ------------------------------------------------------------------------------------------------
# Stages
# ------------------------------------------------------------------------------------------------
def _rvq_fingerprint(config: Config) -> dict:
  mc = momask_exp.Config(seed=config.seed, data=config.data, rvq=config.rvq)
  return momask_exp._fingerprints(mc, "")["rvq"]


def _motion_only(batch):
  return {"motion": np.asarray(batch["motion"], np.float32), "mask": np.asarray(batch["mask"])}


def train_rvq(config: Config, data, workdir: pathlib.Path):
  r = config.rvq
  batcher = prep.train_batcher(
    data, replace(config.data, max_length=r.window), _motion_only, batch_size=r.batch_size,
    seed=config.seed,
  )  # fmt: skip

  def train():
    _, variables = rvq_stage.train(r, batcher, data.dim, workdir / "rvq", seed=config.seed)
    return {"variables": variables}, {}

  return artifacts.cached_stage(workdir, "rvq", train, _rvq_fingerprint(config)).arrays["variables"]


def _htma_fingerprint(config: Config, feats) -> dict:
  return {
    "data": to_dict(config.data),
    "model": to_dict(config.htma),
    "seed": config.seed,
    "variant": kinmo_retrieval.VARIANTS[HTMA_STAGE],
    "features": str(feats.encoder),
  }


def train_htma(config: Config, data, feats, captions, kinmo, workdir: pathlib.Path):
  """The full-hierarchy HTMA model (kinmo_retrieval's ``interaction`` variant, same stage) and
  its featurizer."""
  m = config.htma
  _, level_set, cross, alignment = kinmo_retrieval.VARIANTS[HTMA_STAGE]
  levels = retrieval_stage.LEVEL_SETS[level_set]
  spec = prep.FeaturizeSpec(
    levels, m.model.kinmo_text_tokens, prep.token_budget(feats, captions),
    prep.token_budget(feats, kinmo), m.model.frame_stride,
  )  # fmt: skip
  featurize = prep.make_featurizer(feats, spec)
  model = retrieval_stage.make_model(
    m.model, levels=levels, use_cross_attention=cross, motion_features=data.dim,
    text_features=feats.width, alignment=alignment,
  )  # fmt: skip
  batcher = prep.train_batcher(data, config.data, featurize, batch_size=m.batch_size,
                               seed=config.seed)  # fmt: skip

  def train():
    params = retrieval_stage.train_alignment(
      m, batcher, model, levels, workdir / HTMA_STAGE, seed=config.seed, desc="align_htma"
    )
    return {"params": params}, {}

  fp = _htma_fingerprint(config, feats)
  params = artifacts.cached_stage(workdir, HTMA_STAGE, train, fp).arrays["params"]
  return model, params, featurize


def generator_stages(config: Config) -> dict[str, tuple[str, int]]:
  """Row -> (generator stage name, levels it is trained on)."""
  out = {}
  for name in parse_rows(config.rows):
    _, emb, levels = ROWS[name]
    out[name] = (
      (f"kgen_{emb}", 3) if config.generators == "per_embedding" else (f"kgen_{name}", levels)
    )
  return out


# ------------------------------------------------------------------------------------------------
# Descriptions, conditions, editing
# ------------------------------------------------------------------------------------------------
def _s(x) -> str:
  return x.decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else str(x)


def descriptions_for(config: Config, data, feats, eval_source, captions: list[str]):
  """(groups, interactions) per caption: the reasoner stand-in's (from the caption and the
  training split) or the oracle ones (of the first evaluation clip with that caption)."""
  if config.descriptions == "reasoner":
    train = data.sources["train"]
    bank = reasoner_lib.build_bank([train[i] for i in range(len(train))], feats.sentence_embeddings)
    return reasoner_lib.reason(feats.sentence_embeddings(captions), bank, config.reasoner, captions)
  owner = {}
  for i in range(len(eval_source)):
    ex = eval_source[i]
    for c in ex["captions"]:
      owner.setdefault(_s(c), ex)
  groups = [tuple(_s(t) for t in owner[c]["kinmo_group_texts"]) for c in captions]
  inters = [tuple(_s(t) for t in owner[c]["kinmo_interaction_texts"]) for c in captions]
  return groups, inters


def local_joints(raw: np.ndarray) -> np.ndarray:
  """Pelvis-relative joint positions [T, 22, 3] (m) of raw HumanML3D features [T, F]."""
  j = np.asarray(humanml3d.recover_from_ric(np.asarray(raw, np.float32), check_finite=False))
  return j - j[:, :1]


NO_CHANGE_CM = 0.01  # an edit whose edited group moved less than this (cm) changed nothing


def group_displacement(before: np.ndarray, after: np.ndarray, group: str) -> dict:
  """Mean per-joint displacement (cm, pelvis-relative) of the group's joints and of all other
  joints between two motions of equal length, and other / edited."""
  d = 100.0 * np.linalg.norm(local_joints(after) - local_joints(before), axis=-1).mean(0)  # [J]
  members = list(T2M_GROUPS.members[GROUP_NAMES.index(group)])
  others = [k for k in range(d.shape[0]) if k not in members and k != 0]  # pelvis is the origin
  edited, other = float(d[members].mean()), float(d[others].mean())
  # an edit that moved nothing has no locality to measure (its ratio would read as a perfect 0)
  ratio = other / edited if edited > NO_CHANGE_CM else float("nan")
  return {"edited_cm": edited, "other_cm": other, "ratio": ratio}


def run_edits(
  config: Config, data, generator, cond_fn, pairs, groups, inters, key, export=(None, 0)
) -> dict:
  """Group editing table (module docstring). ``export`` = (folder, n): the first n edits of the
  last variant (preservation guidance when on) are exported there, before and after."""
  e = config.edit
  train = data.sources["train"]
  n_clips = min(e.clips, len(pairs))
  rng = np.random.default_rng(e.seed)
  items = []  # (clip, group, caption, groups, edited groups, interactions, new text)
  for i in range(n_clips):
    caption = pairs.captions[i][0]
    g, it = list(groups[caption]), list(inters[caption])
    for name in e.group_list():
      slot = GROUP_NAMES.index(name)
      new = None
      for j in rng.permutation(len(train)):
        ex = train[int(j)]
        names = [_s(x) for x in ex.get("kinmo_group_names", [])]
        texts = [_s(x) for x in ex.get("kinmo_group_texts", [])]
        text = texts[names.index(name)] if name in names else (texts[slot] if texts else "")
        if text and text != g[slot]:
          new = text
          break
      if new is None:
        continue
      g2 = list(g)
      g2[slot] = new
      items.append((i, name, caption, g, g2, it, new))
  if not items:
    return {"edits": [], "summary": {}}
  caps = [x[2] for x in items]
  orig = cond_fn(stage.text_batch(caps, [x[3] for x in items], [x[5] for x in items], data.dim))
  edit = cond_fn(stage.text_batch(caps, [x[4] for x in items], [x[5] for x in items], data.dim))
  down = generator.down
  lengths = np.asarray(
    [
      max(min(len(pairs.motions[x[0]]), config.data.max_length) // down * down, down) for x in items
    ]  # fmt: skip
  )
  levels = ROWS[e.row][2]
  joints = np.zeros((len(items), T2M_GROUPS.skeleton.n_joints), bool)
  for n, x in enumerate(items):
    joints[n, list(T2M_GROUPS.members[GROUP_NAMES.index(x[1])])] = True
  k0, k1 = jax.random.split(key)
  before, ids, _ = generator.generate(orig[:, :levels], lengths, k0)
  out = {"edits": [], "summary": {}}
  base = config.model.edit
  off = replace(base.preserve, steps=0)
  variants = [(sel, replace(base, selection=sel, preserve=off)) for sel in stage.EDIT_SELECTIONS]
  if base.preserve.steps:
    variants.append((f"{base.selection} + preservation guidance", base))
  for selection, s in variants:
    after, new_ids, regen = generator.edit_group(ids, orig, edit, lengths, k1, s, joints)
    valid = np.arange(ids.shape[1])[None] < (lengths // down)[:, None]
    kept = valid & ~regen
    identical = bool((new_ids[kept] == ids[kept]).all())
    ratios, moved = [], []
    for n, x in enumerate(items):
      disp = group_displacement(before[n], after[n], x[1])
      ratios.append(disp["ratio"])
      moved.append((disp["edited_cm"], disp["other_cm"]))
      out["edits"].append({
        "selection": selection, "clip": int(x[0]), "group": x[1], "caption": x[2],
        "edited_text": x[6], "tokens": int(valid[n].sum()), "regenerated": int(regen[n].sum()),
        "changed_tokens": int((new_ids[n] != ids[n])[valid[n]].sum()), **disp,
      })  # fmt: skip
    out["summary"][selection] = {
      "median_ratio": float(np.nanmedian(ratios)) if np.isfinite(ratios).any() else float("nan"),
      "no_change": int(np.sum(~np.isfinite(ratios))),
      "median_edited_cm": float(np.median([m[0] for m in moved])),
      "median_other_cm": float(np.median([m[1] for m in moved])),
      "edits": len(items),
      "unmasked_tokens_identical": identical,
      "regenerated_fraction": float(regen.sum() / valid.sum()),
    }
  if export[0] is not None and export[1]:  # the last variant's edits: before, after
    texts, clips = [], []
    for n in range(min(export[1], len(items))):
      texts += [f"{items[n][2]} (before)", f"{items[n][1]}: {items[n][6]} ({selection})"]
      clips += [before[n], after[n]]
    text_motion_report.export_clips(export[0], texts, clips)
  return out


def run_control(
  config: Config, generator, evaluator, table, row_of, pairs, key, export=(None, 0)
) -> dict:
  """Trajectory control on the first ``control.clips`` evaluation clips (caption 0, the clip's
  length in whole tokens): control error (cm, mean distance of the controlled joint to its
  target over the frames) and R-precision / FID / MM-Dist in one repeat, with and without the
  control signal (same key)."""
  c = config.control
  joint = config.model.control.joint
  down, max_len = generator.down, config.data.max_length
  n = min(c.clips, len(pairs)) // gen_lib.R_PRECISION_BATCH * gen_lib.R_PRECISION_BATCH
  texts = [pairs.captions[i][0] for i in range(n)]
  lengths = np.asarray([max(min(len(pairs.motions[i]), max_len) // down * down, down)
                        for i in range(n)])  # fmt: skip
  raw = np.zeros((n, max_len, data_dim(pairs)), np.float32)
  frames = np.zeros((n, max_len), bool)
  for i in range(n):
    m = np.asarray(pairs.motions[i][: lengths[i]], np.float32)
    raw[i, : len(m)], frames[i, : len(m)] = m, True
    raw[i, len(m) :] = m[-1]  # padding: repeat the last pose (masked out of the signal)
  signal = stage.control_signal(raw, frames, joint, down)
  target = signal.reshape(n, max_len, 3)
  conds = table[[row_of[t] for t in texts], : ROWS[c.row][2]]
  real_emb = np.asarray(evaluator.embed_motions([raw[i, : lengths[i]] for i in range(n)]))
  text_emb = np.asarray(evaluator.embed_texts(texts))
  out = {"joint": joint, "clips": n}
  off = trajectory.SpatialGuidanceConfig(steps=0)
  runs = [("without control", None, True, off), ("ControlNet", signal, True, off)]
  if generator.cfg.spatial.steps:
    runs += [("spatial guidance", signal, False, None),
             ("ControlNet + spatial guidance", signal, True, None)]  # fmt: skip
  x = (raw - generator.mean) / generator.std
  codes = generator.rvq.apply(generator.rvq_variables, x, method=RVQVAE.encode)
  floor = generator.decode_ids(np.asarray(codes[..., 0]))
  floor = [floor[i, : lengths[i]] for i in range(n)]
  results = [
    (name, generator.generate(conds, lengths, key, control=ctl, branch=branch, spatial=sp)[0])
    for name, ctl, branch, sp in runs
  ]
  results.append(("real clips' base-layer tokens, decoded", floor))
  results.append(("real clips", [raw[i, : lengths[i]] for i in range(n)]))
  if export[0] is not None and export[1]:  # the first clips under each generation, then real
    picks = range(min(export[1], n))
    chosen = [r for r in results if r[0] in ("without control", runs[-1][0], "real clips")]
    text_motion_report.export_clips(
      export[0], [f"{texts[i]} ({name})" for name, _ in chosen for i in picks],
      [motions[i] for _, motions in chosen for i in picks],
    )  # fmt: skip
  for name, motions in results:
    errs, skate = [], []
    for i, mo in enumerate(motions):
      j = np.asarray(humanml3d.recover_from_ric(np.asarray(mo, np.float32), check_finite=False))
      pos = j[:, stage.CONTROL_JOINTS[joint]]
      errs.append(100.0 * np.linalg.norm(pos - target[i, : len(pos)], axis=-1).mean())
      skate.append(physics.foot_skating(j))
    emb = np.asarray(evaluator.embed_motions(motions))
    top, mm = gen_lib.r_precision(text_emb, emb, gen_lib.R_PRECISION_BATCH, 3)
    out[name] = {
      "control_error_cm": float(np.mean(errs)),
      "control_error_median_cm": float(np.median(errs)),
      "fid": float(gen_lib.fid(real_emb, emb)),
      "r_precision_top1": float(top[0]),
      "r_precision_top3": float(top[2]),
      "mm_dist": float(mm),
      "foot_skating_mps": float(np.nanmean(skate)),
    }
  return out


def data_dim(pairs) -> int:
  return int(np.asarray(pairs.motions[0]).shape[-1])


# ------------------------------------------------------------------------------------------------
# Run
# ------------------------------------------------------------------------------------------------
def run(config: Config, workdir: str) -> dict:
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  rows = parse_rows(config.rows)
  timings = {}
  ev_cfg = replace(config.evaluator, data=config.data)
  t0 = time.perf_counter()
  evaluator = ev_lib.ensure_evaluator(workdir, ev_cfg)
  timings["evaluator_s"] = time.perf_counter() - t0
  data = text_data.load(config.data, workdir)
  feats, captions_all, kinmo_all = text_data.text_features(data, workdir / ev_lib.FEATURES_FILE)
  t0 = time.perf_counter()
  rvq_vars = train_rvq(config, data, workdir)
  rvq_model = rvq_stage.make_model(config.rvq, data.dim)
  timings["rvq_s"] = time.perf_counter() - t0

  cond_fns = {"plain": stage.plain_conditions(feats)}
  if any(ROWS[r][1] == "htma" for r in rows):
    t0 = time.perf_counter()
    htma_model, htma_params, featurize = train_htma(
      config, data, feats, captions_all, kinmo_all, workdir
    )
    cond_fns["htma"] = stage.htma_condition_fn(htma_model, htma_params, featurize)
    timings["htma_s"] = time.perf_counter() - t0

  m = config.model
  k = config.rvq.model.vq.num_codes
  # inference-time settings and the control branch's own config (in its stage's fingerprint)
  # do not retrain the generator
  inference = ("decode", "edit", "spatial", "control")
  model_fp = {key: v for key, v in to_dict(m).items() if key not in inference}
  generators, stages = {}, generator_stages(config)
  for name in rows:
    stage_name, levels = stages[name]
    if stage_name in generators:
      continue
    emb = ROWS[name][1]
    batcher = prep.train_batcher(data, config.data, None, batch_size=m.batch_size,
                                 seed=config.seed)  # fmt: skip
    tokens = stage.token_batch_fn(batcher, rvq_model, rvq_vars, cond_fns[emb])

    def train(stage_name=stage_name, levels=levels, tokens=tokens):
      params = stage.train(m, tokens, k, levels, workdir / stage_name, seed=config.seed,
                           desc=stage_name)  # fmt: skip
      return {"params": params}, {}

    fp = {"rvq": _rvq_fingerprint(config), "model": model_fp, "embedding": emb, "levels": levels,
          "features": str(feats.encoder)}  # fmt: skip
    if emb == "htma":
      fp["htma"] = _htma_fingerprint(config, feats)
    t0 = time.perf_counter()
    params = artifacts.cached_stage(workdir, stage_name, train, fp).arrays["params"]
    timings[f"{stage_name}_s"] = time.perf_counter() - t0
    control_params = None
    if config.control.enabled and stages[config.control.row][0] == stage_name:
      ctl_name = f"kcontrol_{m.control.joint}_{stage_name}"
      ctl_batches = stage.control_batch_fn(
        tokens, batcher, data.mean, data.std, m.control.joint, config.rvq.model.downsample
      )

      def train_ctl(levels=levels, params=params, ctl_name=ctl_name, ctl_batches=ctl_batches):
        ctl = stage.train_control(m, ctl_batches, k, levels, params, workdir / ctl_name,
                                  seed=config.seed, desc=ctl_name)  # fmt: skip
        return {"params": ctl}, {}

      t0 = time.perf_counter()
      ctl_fp = {**fp, "control": to_dict(m.control)}
      control_params = artifacts.cached_stage(workdir, ctl_name, train_ctl, ctl_fp)
      control_params = control_params.arrays["params"]
      timings[f"{ctl_name}_s"] = time.perf_counter() - t0
    generators[stage_name] = stage.CoarseToFineGenerator(
      rvq_model, rvq_vars, params, m, data.mean, data.std, max_frames=config.data.max_length,
      chunk=config.eval.chunk, control_params=control_params,
    )  # fmt: skip

  # Evaluation: conditions of every evaluation caption, computed once per embedding.
  e = config.eval
  pairs = ev_lib.eval_pairs(workdir, ev_cfg, split=e.split)
  captions = sorted({c for caps in pairs.captions for c in caps})
  missing = int(np.sum(feats.rows(captions) < 0))
  if missing:
    raise KeyError(f"{missing} evaluation caption(s) have no cached text features")
  t0 = time.perf_counter()
  g_texts, i_texts = descriptions_for(config, data, feats, data.sources[e.split], captions)
  batch = stage.text_batch(captions, g_texts, i_texts, data.dim)
  row_of = {c: n for n, c in enumerate(captions)}
  tables = {emb: fn(batch) for emb, fn in cond_fns.items()}
  timings["conditions_s"] = time.perf_counter() - t0
  kw = e.protocol_kwargs(len(pairs), config.seed)
  sanity = ev_lib.sanity_check(evaluator, pairs, num_repeats=e.num_repeats,
                               diversity_pairs=kw["diversity_pairs"], seed=config.seed)  # fmt: skip
  results = {"Real": sanity["real"], "Shuffled texts": sanity["shuffled"]}
  traces = {}
  first_sets: dict[str, list[np.ndarray]] = {}  # repeat 0's clips, for the physics table
  for name in rows:
    label, emb, levels = ROWS[name]
    gen = generators[stages[name][0]]
    calls = [0]

    def generate(texts, lengths, gen=gen, emb=emb, levels=levels, calls=calls, name=name):
      key = jax.random.fold_in(jax.random.PRNGKey(config.seed), calls[0])
      calls[0] += 1
      conds = tables[emb][[row_of[t] for t in texts], :levels]
      lengths = np.minimum(np.asarray(lengths, int), config.data.max_length)
      motions, _, trace = gen.generate(conds, lengths, key)
      traces.setdefault(name, (trace, np.asarray(trace.ids[0]) < gen.num_codes))
      return motions

    t0 = time.perf_counter()
    generate = text_motion_report.keep_first_call(generate, first_sets, label)
    results[label] = gen_lib.evaluate_generator(evaluator, generate, pairs, pass_lengths=True, **kw)
    timings[f"eval_{name}_s"] = time.perf_counter() - t0
  kept = {}
  for name, (trace, valid) in traces.items():  # kept tokens / valid tokens, per level
    kept[name] = [float(trace.kept[lv].sum() / valid.sum()) for lv in range(len(trace.kept))]
  real = [np.asarray(x[: config.data.max_length], np.float32) for x in pairs.motions]
  t0 = time.perf_counter()
  plausibility = text_motion_report.plausibility_table(real, first_sets)
  timings["plausibility_s"] = time.perf_counter() - t0
  samples = workdir / "samples"
  n_export = min(config.export_clips, len(pairs))
  if n_export:  # the last row's generator (the full hierarchy by default) and the real clips
    t0 = time.perf_counter()
    name = rows[-1]
    texts = [pairs.captions[i][0] for i in range(n_export)]
    down = generators[stages[name][0]].down
    lengths = [max(len(real[i]) // down * down, down) for i in range(n_export)]
    conds = tables[ROWS[name][1]][[row_of[t] for t in texts], : ROWS[name][2]]
    clips, _, _ = generators[stages[name][0]].generate(
      conds, lengths, jax.random.PRNGKey(config.seed + 3 * 10**6)
    )
    text_motion_report.export_clips(samples / name, texts, clips)
    text_motion_report.export_clips(samples / "real", texts,
                                    [real[i][:n] for i, n in enumerate(lengths)])  # fmt: skip
    timings["export_s"] = time.perf_counter() - t0

  edits = None
  if config.edit.clips and config.edit.row in rows:
    t0 = time.perf_counter()
    gen = generators[stages[config.edit.row][0]]
    emb = ROWS[config.edit.row][1]
    groups = {c: g_texts[row_of[c]] for c in captions}
    inters = {c: i_texts[row_of[c]] for c in captions}
    edits = run_edits(config, data, gen, cond_fns[emb], pairs, groups, inters,
                      jax.random.PRNGKey(config.seed + 10**6),
                      export=(samples / "editing", n_export))  # fmt: skip
    timings["edits_s"] = time.perf_counter() - t0
  control = None
  if config.control.enabled and config.control.row in rows:
    t0 = time.perf_counter()
    emb = ROWS[config.control.row][1]
    gen = generators[stages[config.control.row][0]]
    key = jax.random.PRNGKey(config.seed + 2 * 10**6)
    control = run_control(config, gen, evaluator, tables[emb], row_of, pairs, key,
                          export=(samples / "control", n_export))  # fmt: skip
    timings["control_s"] = time.perf_counter() - t0
  timings["total_s"] = time.perf_counter() - t_start
  out = {
    "kind": "generator",
    "method": "kinmo_generation",
    "results": results,
    "rows": {
      name: {
        "label": ROWS[name][0],
        "embedding": ROWS[name][1],
        "levels": ROWS[name][2],
        "generator": stages[name][0],
      }
      for name in rows
    },  # fmt: skip
    "kept_fraction_first_call": kept,
    "plausibility": plausibility,
    "exported_clips": n_export,
    "edits": edits,
    "control": control,
    "descriptions": config.descriptions,
    "timings": timings,
    "dataset": {"root": str(data.root), "split": e.split, "pairs": len(pairs)},
    "config": to_dict(config),
    "seed": config.seed,
  }
  report.write_json(workdir / "results.json", out)
  text = _markdown(config, out, sanity)
  (workdir / "results.md").write_text(text)
  print(text)
  return out


def _markdown(config: Config, out: dict, sanity: dict) -> str:
  d, m = config.model.decode, config.model
  md = [
    "# kinmo_generation results\n",
    f"KinMo Table 5 ablation on {out['dataset']['root']} ({out['dataset']['pairs']} "
    f"{out['dataset']['split']} pairs): coarse-to-fine decoding of the RVQ base layer (re-mask "
    f"and refine: steps {list(d.steps)}, kept fraction {list(d.keep_fraction)} per level), CFG "
    f"{d.guidance_scale:g}; generators `{config.generators}` ({m.loop.num_steps} steps of "
    f"{m.batch_size}, level sampling `{m.level_sampling}`); {config.descriptions} group / "
    f"interaction descriptions at test time. Mean ± 95 % interval over "
    f"{config.eval.num_repeats} repeats. Total wall time {out['timings']['total_s']:.0f} s.\n",
    report.markdown_table(
      gen_lib.TABLE_HEADER, [gen_lib.format_row(n, v) for n, v in out["results"].items()], "{}"
    )
    + "\n",
    f"- FID between two halves of the real motions: {sanity['fid_real_halves']:.3f}.",
  ]
  if out.get("plausibility"):
    md.append(
      f"\n## Physical plausibility (the real {out['dataset']['split']} clips, the first "
      "repeat's generated clips)\n"
    )
    md.append(text_motion_report.plausibility_markdown(out["plausibility"]))
  if out.get("exported_clips"):
    md.append(
      f"- {out['exported_clips']} test captions exported (npy, BVH, GIF): "
      "samples/<row>/index.md, samples/real, samples/editing (before / after) and "
      "samples/control (without control, with control, real)."
    )
  edits = out["edits"]
  if edits and edits["edits"]:
    md.append(
      "\n## Group editing\n\nEach edit replaces one group's description; the tokens chosen by "
      f"the rule ({config.model.edit.fraction:.0%} of each motion's) are regenerated under the "
      "edited group embedding, the rest kept. Displacement: mean over frames of the "
      "pelvis-relative joint positions, cm. Target: median other / edited below 0.2, over the "
      f"edits that moved the edited group by more than {NO_CHANGE_CM} cm (the others changed "
      "nothing and have no ratio).\n"
    )
    rows = [
      [x["selection"], x["clip"], x["group"], x["edited_text"], f"{x['regenerated']}/{x['tokens']}",
       f"{x['edited_cm']:.2f}", f"{x['other_cm']:.2f}", f"{x['ratio']:.2f}"]
      for x in edits["edits"]
    ]  # fmt: skip
    md.append(report.markdown_table(
      ["selection", "clip", "group", "edited text", "regenerated tokens", "edited group (cm)",
       "other joints (cm)", "other / edited"], rows, "{}",
    ))  # fmt: skip
    md.append("")
    for sel, s in edits["summary"].items():
      md.append(
        f"- {sel}: median other / edited = {s['median_ratio']:.2f} over the "
        f"{s['edits'] - s['no_change']} of {s['edits']} edits that moved the edited group "
        f"(median movement: edited group {s['median_edited_cm']:.2f} cm, other joints "
        f"{s['median_other_cm']:.2f} cm); "
        f"unmasked tokens bit-identical: {s['unmasked_tokens_identical']}."
      )
  ctl = out.get("control")
  if ctl:
    md.append(
      f"\n## Trajectory control ({ctl['joint']}, {ctl['clips']} clips, one repeat)\n\n"
      "OmniControl-style control on the frozen generator: the ControlNet branch, then spatial "
      "guidance of the RVQ decoder's latent (the full method is the last generated row). "
      "Control error = mean distance of the joint to its target trajectory over a clip's "
      "frames (cm), mean and median over clips. The last two rows are references: the real "
      "clips' own base-layer tokens decoded (the error of the token representation itself), and "
      "the real clips (error 0 by definition). Foot skating: mean "
      "horizontal speed of planted feet (m/s, `metrics.physics.foot_skating`).\n"
    )
    md.append(report.markdown_table(
      ["generation", "control error (cm)", "median (cm)", "R-prec top-1", "R-prec top-3", "FID",
       "MM-Dist", "foot skating (m/s)"],
      [[name, f"{v['control_error_cm']:.2f}", f"{v['control_error_median_cm']:.2f}",
        f"{v['r_precision_top1']:.3f}",
        f"{v['r_precision_top3']:.3f}", f"{v['fid']:.3f}", f"{v['mm_dist']:.3f}",
        f"{v['foot_skating_mps']:.3f}"]
       for name, v in ctl.items() if isinstance(v, dict)], "{}",
    ))  # fmt: skip
  return "\n".join(md) + "\n"


__all__ = ["Config", "ROWS", "get_config", "run"]
