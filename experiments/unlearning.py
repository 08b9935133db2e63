"""Motion unlearning by Latent Code Replacement (LCR) on MoMask, against random code replacement.

Human Motion Unlearning (De Matteis et al.; the lecture's Algorithm 1, FACTS.md): forget the
violent motions of a trained MoMask by overwriting the RVQ codes they use most relative to the
other motions (`motion_jax.unlearning.lcr`), without retraining.

Model: MoMask trained exactly as `experiments.momask` does (``config.momask`` is a momask
``Config``; its stages ``evaluator``, ``rvq``, ``momask_base``, ``momask_residual`` are the same
`cached_stage`\\ s with the same fingerprints, via `experiments.momask.train_stages`, so a momask
workdir of the same config is reused and a fresh one is trained; momask's length estimator is not
trained, since every sample here has a given length). Data: the procedural text-motion dataset
of that config.

Forget / retain sets: a clip is in the forget set when one of its actions (the dataset's
``kinmo/<motion_id>.json`` ``action`` / ``actions``) is in ``forget_actions``: the procedural
generator's violent actions, ``kick`` and ``punch`` (generator 1.x, `datagen.procedural.actions`)
and ``side_kick`` and ``back_kick`` (2.x, `datagen.procedural.moves`); no other action strikes
(``throw`` throws an object and is kept). The retain set is every other clip.

LCR counts the codes of the ``count_split`` (train) motions, D_f / D_r as above, encoded by the
RVQ-VAE (first ``data.max_length`` frames, padding tokens not counted), and replaces r codes of
the layer(s) ``lcr.layers`` (default the base layer) for each r in ``replace_counts``; the
baseline replaces r random codes with the same c_bar + eps rule. Each (method, r) is drawn for
``seeds`` seeds (the random codes, c_bar and eps; LCR's code choice is deterministic).

Evaluation, on the ``momask.eval.split`` captions, with the trained (frozen) transformers:
  * Forget captions (every caption of every forget clip of the split, at the clip's length):
    caption retrieval top-1 / top-3 (`metrics.action_recognition.caption_retrieval`): the
    generated motion's own caption ranked among ``distractors`` captions of retain clips in the
    generation evaluator's embedding space; and ``recognised``: the fraction whose top class
    under a simple action classifier (closed-form ridge probe on pooled features, fitted on the
    real ``count_split`` motions and their action labels) is one of the clip's forgotten actions.
    The probe's ridge weight is chosen without the evaluation split: among ``classifier_l2s``,
    the one with the best top-1 action accuracy on the original model's motions generated for
    ``classifier_val_clips`` clips of ``classifier_val_split`` (caption 0, the clip's length;
    `metrics.action_recognition.select_ridge_l2`); results.md reports every candidate.
  * Retain captions: T2M's protocol (`metrics.generation.evaluate_generator`: FID, R-precision,
    MM-Dist, diversity; ``momask.eval.num_repeats`` repeats, no multimodality) on the retain
    clips of the split, and its change vs the original model.
The token models never read the codebook, so an edited model predicts the same indices as the
original for the same key and only their decoding changes: every caption's indices are sampled
once (the original model, `stages.momask.Generator`) and decoded with each edited codebook
(`decode_codes`; the tiny test checks that this equals generating with the edited model).

Choices (fields): ``forget_actions``; ``count_split``; ``distractors`` (31: a T2M R-precision
batch of 32 captions); ``classifier_l2s`` (1, 10, ..., 10^4), ``classifier_val_split`` (val),
``classifier_val_clips`` (64); ``seeds`` (3); the LCR options (`LCRConfig`).

Outputs: ``results.md`` (the table and whether LCR beats random at each r), ``results.json``,
``unlearning.png`` (recognition and retain FID vs r for LCR and random).
Presets: default = momask's default; ``quick`` = momask's quick (reuses a ``momask:quick``
workdir); ``tiny`` = momask's tiny with r in {2, 4} and one seed (tests).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np

from experiments import momask as momask_exp
from experiments import presets
from motion_jax.config import config_dict, from_dict, to_dict
from motion_jax.data.text_motion import preparation as prep
from motion_jax.io import report
from motion_jax.metrics import action_recognition as ar
from motion_jax.metrics import generation as gen_lib
from motion_jax.stages import momask as stage
from motion_jax.stages import rvq as rvq_stage
from motion_jax.unlearning import lcr

#: The procedural generator's violent actions (1.x: kick, punch; 2.x adds side and back kicks).
VIOLENT_ACTIONS = ("kick", "punch", "side_kick", "back_kick")


@dataclasses.dataclass(frozen=True)
class Config:
  momask: momask_exp.Config = momask_exp.Config()
  lcr: lcr.LCRConfig = lcr.LCRConfig()
  replace_counts: tuple[int, ...] = (4, 8, 16, 32)
  methods: tuple[str, ...] = ("lcr", "random")
  forget_actions: tuple[str, ...] = VIOLENT_ACTIONS
  count_split: str = "train"  # motions whose codes give N_k(D_f), N_k(D_r)
  seeds: int = 3  # draws per (method, r): seeds momask.seed .. + seeds - 1
  distractors: int = 31  # retain captions each forget caption is ranked against
  # The action classifier's ridge weight: the candidate whose classifier (fitted on the real
  # count_split motions) has the best top-1 action accuracy on the original model's motions for
  # classifier_val_clips clips of classifier_val_split (never the evaluation split).
  classifier_l2s: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0)
  classifier_val_split: str = "val"
  classifier_val_clips: int = 64

  @property
  def seed(self) -> int:
    """The run's seed (launch.py records it): momask's, which its stages were trained with."""
    return self.momask.seed

  def __post_init__(self):
    if not self.replace_counts or min(self.replace_counts) < 1:
      raise ValueError(f"replace_counts must be positive, got {self.replace_counts}")
    if max(self.replace_counts) >= self.momask.rvq.model.vq.num_codes:
      raise ValueError(
        f"replace_counts {self.replace_counts} must stay below the "
        f"{self.momask.rvq.model.vq.num_codes} codes"
      )
    bad = [m for m in self.methods if m not in lcr.SELECTIONS]
    if bad or not self.methods:
      raise ValueError(f"methods must be among {lcr.SELECTIONS}, got {self.methods}")
    if self.seeds < 1 or self.distractors < 1 or not self.forget_actions:
      raise ValueError("seeds and distractors must be >= 1 and forget_actions non-empty")
    if not self.classifier_l2s or min(self.classifier_l2s) <= 0 or self.classifier_val_clips < 1:
      raise ValueError(
        f"classifier_l2s must be positive and non-empty and classifier_val_clips >= 1, got "
        f"{self.classifier_l2s}, {self.classifier_val_clips}"
      )
    if self.classifier_val_split in (self.momask.eval.split, self.count_split):
      raise ValueError(
        f"classifier_val_split {self.classifier_val_split!r} must differ from the evaluation "
        f"split {self.momask.eval.split!r} and the count split {self.count_split!r}"
      )


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = presets.check(preset)
  mc = from_dict(momask_exp.Config, momask_exp.get_config(preset))
  if preset == "tiny":  # 16 codes
    return config_dict(Config(momask=mc, replace_counts=(2, 4), seeds=1, distractors=15))
  return config_dict(Config(momask=mc))


def clip_actions(root: pathlib.Path, source) -> list[tuple[str, ...]]:
  """The actions of each example of ``source`` from the procedural dataset's
  ``kinmo/<motion_id>.json`` (``action`` for 1.x, ``actions`` for 2.x sequences)."""
  out = []
  for i in range(len(source)):
    mid = source[i]["motion_id"]
    mid = mid.decode() if isinstance(mid, bytes) else str(mid)
    path = root / "kinmo" / f"{mid}.json"
    if not path.exists():
      raise FileNotFoundError(f"{path}: no action labels (the unlearning experiment needs the "
                              "procedural dataset)")  # fmt: skip
    k = json.loads(path.read_text())
    out.append(tuple(k.get("actions", [k["action"]])))
  return out


def encode_split(rvq_model, rvq_vars, data, split: str, max_length: int, chunk: int = 64):
  """A split's RVQ indices [N, T', Q], token mask [N, T'], normalised motions [N, T, F] and
  frame mask [N, T] (first ``max_length`` frames, caption 0)."""
  batch = prep.eval_batch(data.sources[split], momask_exp._motion_only, data, max_length)
  x, mask = batch["motion"], batch["mask"]
  encode = rvq_stage.make_encode_fn(rvq_model)
  idx = np.concatenate([np.asarray(encode(rvq_vars, x[i : i + chunk]))
                        for i in range(0, len(x), chunk)])  # fmt: skip
  return idx, mask[:, :: rvq_model.cfg.downsample], x, mask


def decode_codes(
  generator: stage.Generator, decode_fn, variables: dict, codes: np.ndarray, lengths: Sequence[int]
) -> list[np.ndarray]:
  """Raw motions [length_i, F] of codes [N, max_frames / 4, Q] decoded by the RVQ-VAE with
  ``variables`` (``decode_fn`` = `stages.rvq.make_decode_fn` of ``generator.rvq``; chunks of
  ``generator.chunk``, as `Generator.generate` decodes)."""
  out = []
  for start in range(0, len(codes), generator.chunk):
    idx = np.arange(start, start + generator.chunk) % len(codes)
    x = np.asarray(decode_fn(variables, codes[idx])) * generator.std + generator.mean
    out += [x[j, : lengths[idx[j]]] for j in range(min(generator.chunk, len(codes) - start))]
  return out


def normalised(motions, mean, std, max_length: int) -> tuple[np.ndarray, np.ndarray]:
  """Raw motions [T_i, F] -> normalised, zero-padded [N, max_length, F] and frame mask [N, T]."""
  x = np.zeros((len(motions), max_length, len(mean)), np.float32)
  mask = np.zeros((len(motions), max_length), bool)
  for i, m in enumerate(motions):
    m = np.asarray(m, np.float32)[:max_length]
    x[i, : len(m)], mask[i, : len(m)] = (m - mean) / std, True
  return x, mask


class CodeBank:
  """Indices sampled once per evaluation call by the original model (the token models do not
  depend on the codebook), replayed for every edited codebook."""

  def __init__(self, generator: stage.Generator, seed: int):
    self.generator, self.seed = generator, seed
    self.decode_fn = rvq_stage.make_decode_fn(generator.rvq)
    self.calls: list[tuple[list[str], np.ndarray, np.ndarray]] = []

  def codes(self, call: int, texts: Sequence[str], lengths) -> np.ndarray:
    texts, lengths = list(texts), np.asarray(lengths, int)
    if call == len(self.calls):
      key = jax.random.fold_in(jax.random.PRNGKey(self.seed), call)
      _, codes = self.generator.generate(texts, lengths, key, return_codes=True)
      self.calls.append((texts, lengths, codes))
    t, n, codes = self.calls[call]
    if t != texts or not np.array_equal(n, lengths):
      raise RuntimeError(f"evaluation call {call} asked for other captions than before")
    return codes

  def generate_fn(self, variables: dict):
    calls = [0]

    def generate(texts, lengths):
      lengths = np.minimum(np.asarray(lengths, int), self.generator.max_frames)
      codes = self.codes(calls[0], texts, lengths)
      calls[0] += 1
      return decode_codes(self.generator, self.decode_fn, variables, codes, lengths)

    return generate


def select_classifier(
  config: Config, data, generator: stage.Generator, train_labels, actions, train_features
) -> tuple[dict, dict]:
  """The action classifier fitted on the real ``count_split`` motions, its ridge weight chosen
  among ``classifier_l2s`` by top-1 action accuracy on the original model's motions generated
  for ``classifier_val_clips`` clips of ``classifier_val_split`` (caption 0, the clip's length,
  clips drawn with momask.seed); returns it and {'l2', 'l2s', 'val_generated', 'val_real',
  'val_clips', 'val_split'} (accuracies per candidate; 'val_real' on the same clips' real
  motions, for comparison only)."""
  mc, max_length = config.momask, config.momask.data.max_length
  split = config.classifier_val_split
  if split not in data.sources:
    raise ValueError(f"{data.root}: no {split!r} split to choose the classifier's ridge weight on")
  pairs = gen_lib.TextMotionPairs.from_examples(data.sources[split])
  labels = clip_actions(data.root, data.sources[split])
  rng = np.random.default_rng(mc.seed)
  pick = np.sort(
    rng.choice(len(pairs), min(config.classifier_val_clips, len(pairs)), replace=False)
  )
  positives = np.asarray([[a in labels[i] for a in actions] for i in pick])
  texts = [pairs.captions[i][0] for i in pick]
  lengths = [min(len(pairs.motions[i]), max_length) for i in pick]
  key = jax.random.PRNGKey(mc.seed + 2 * 10**6)  # apart from the evaluation banks' keys
  generated = generator.generate(texts, lengths, key)
  real = [pairs.motions[i][:max_length] for i in pick]
  targets = np.asarray([[a in acts for a in actions] for acts in train_labels], np.float64)

  def features(motions):
    return ar.pooled_features(*normalised(motions, data.mean, data.std, max_length))

  val_f = features(generated)
  classifier, best, acc = ar.select_ridge_l2(train_features, targets, val_f, positives,
                                             config.classifier_l2s)  # fmt: skip
  real_f = features(real)
  real_acc = []
  for l2 in config.classifier_l2s:
    fit = ar.fit_ridge_classifier(train_features, targets, l2)
    real_acc.append(ar.top1_accuracy(ar.predict_scores(fit, real_f), positives))
  return classifier, {"l2": float(config.classifier_l2s[best]), "l2s": list(config.classifier_l2s),
                      "val_generated": acc, "val_real": real_acc, "val_clips": len(pick),
                      "val_split": split}  # fmt: skip


def _variants(config: Config, rvq_vars, counted) -> list[dict]:
  """The original model and every (method, r, seed) edit: {'method', 'r', 'seed', 'variables',
  'replaced'}."""
  fi, fv, ri, rv = counted
  out = [{"method": "original", "r": 0, "seed": None, "variables": rvq_vars, "replaced": {}}]
  for method in config.methods:
    for r in config.replace_counts:
      for s in range(config.seeds):
        seed = config.momask.seed + s
        key = jax.random.fold_in(jax.random.PRNGKey(seed), r)
        v, chosen = lcr.unlearn_rvq(rvq_vars, fi, fv, ri, rv, r, key, config.lcr, method)
        out.append({"method": method, "r": r, "seed": seed, "variables": v,
                    "replaced": {int(k): c.tolist() for k, c in chosen.items()}})  # fmt: skip
  return out


def _mean(rows: list[dict], key: str) -> float:
  return float(np.mean([r[key] for r in rows]))


def run(config: Config, workdir: str) -> dict:
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  mc = config.momask
  timings: dict[str, float] = {}
  t = momask_exp.train_stages(mc, workdir, timings, length_estimator=False)  # given lengths
  data, evaluator = t.data, t.evaluator
  max_length = mc.data.max_length
  forget_set = set(config.forget_actions)

  # Counts on the training motions and the action classifier on the same motions.
  t0 = time.perf_counter()
  train_labels = clip_actions(data.root, data.sources[config.count_split])
  actions = sorted({a for acts in train_labels for a in acts})
  idx, tok_valid, x, frame_mask = encode_split(t.rvq_model, t.rvq_vars, data, config.count_split,
                                               max_length)  # fmt: skip
  is_forget = np.asarray([bool(forget_set & set(a)) for a in train_labels])
  if not is_forget.any() or is_forget.all():
    raise ValueError(
      f"{config.count_split}: {int(is_forget.sum())} of {len(is_forget)} clips have an action in "
      f"{config.forget_actions}; the forget and retain sets must both be non-empty"
    )
  counted = (idx[is_forget], tok_valid[is_forget], idx[~is_forget], tok_valid[~is_forget])
  num_codes = mc.rvq.model.vq.num_codes
  forget_codes = {  # codes with N_k(D_f) > 0 per edited layer: LCR's useful r
    layer: int((lcr.code_usage_counts(counted[0][..., layer], counted[1], num_codes) > 0).sum())
    for layer in lcr.edited_layers(config.lcr, mc.rvq.model.num_quantizers)
  }
  generator = momask_exp._generator(mc, data, t.feats, t.rvq_vars, t.base_params, t.res_params)
  classifier, selection = select_classifier(config, data, generator, train_labels, actions,
                                            ar.pooled_features(x, frame_mask))  # fmt: skip
  timings["count_and_classifier_s"] = time.perf_counter() - t0

  # Evaluation captions: forget prompts (every caption of every forget clip) and retain pairs.
  split = mc.eval.split
  source = data.sources[split]
  labels = clip_actions(data.root, source)
  pairs = gen_lib.TextMotionPairs.from_examples(source)
  forget_idx = [i for i, a in enumerate(labels) if forget_set & set(a)]
  retain_idx = [i for i, a in enumerate(labels) if not forget_set & set(a)]
  if not forget_idx or len(retain_idx) < gen_lib.R_PRECISION_BATCH:
    raise ValueError(
      f"{split}: {len(forget_idx)} forget and {len(retain_idx)} retain clips; need >= 1 and >= "
      f"{gen_lib.R_PRECISION_BATCH}"
    )
  f_texts, f_lengths, f_actions = [], [], []
  for i in forget_idx:
    for c in pairs.captions[i]:
      f_texts.append(c)
      f_lengths.append(min(len(pairs.motions[i]), max_length))
      f_actions.append(forget_set & set(labels[i]))
  retain = gen_lib.TextMotionPairs(tuple(pairs.motions[i] for i in retain_idx),
                                   tuple(pairs.captions[i] for i in retain_idx),
                                   tuple(pairs.ids[i] for i in retain_idx))  # fmt: skip
  rng = np.random.default_rng(mc.seed)
  pick = rng.choice(len(retain), min(config.distractors, len(retain)), replace=False)
  distractor_emb = evaluator.embed_texts([retain.captions[i][0] for i in pick])
  forget_text_emb = evaluator.embed_texts(f_texts)
  forget_cls = np.asarray([[a in fa for a in actions] for fa in f_actions])  # [N, C] forgotten

  def forget_metrics(motions) -> dict:
    emb = evaluator.embed_motions(motions)
    top = ar.caption_retrieval(emb, forget_text_emb, distractor_emb)
    xs, ms = normalised(motions, data.mean, data.std, max_length)
    scores = ar.predict_scores(classifier, ar.pooled_features(xs, ms))
    recognised = forget_cls[np.arange(len(motions)), scores.argmax(1)]
    return {"retrieval_top1": float(top[0]), "retrieval_top3": float(top[2]),
            "recognised": float(recognised.mean())}  # fmt: skip

  bank = CodeBank(generator, mc.seed)
  forget_bank = CodeBank(generator, mc.seed + 10**6)
  kw = mc.eval.protocol_kwargs(len(retain), mc.seed)
  kw = {k: v for k, v in kw.items() if not k.startswith("mm_")}

  # Reference: the real motions.
  t0 = time.perf_counter()
  real_forget = forget_metrics([pairs.motions[i][:max_length] for i in forget_idx
                                for _ in pairs.captions[i]])  # fmt: skip
  real_retain = gen_lib.evaluate_generator(evaluator, None, retain, **kw, multimodality_eval=False)
  rows = []
  for v in _variants(config, t.rvq_vars, counted):
    motions = forget_bank.generate_fn(v["variables"])(f_texts, f_lengths)
    res = gen_lib.evaluate_generator(evaluator, bank.generate_fn(v["variables"]), retain, **kw,
                                     pass_lengths=True, multimodality_eval=False)  # fmt: skip
    rows.append({
      "method": v["method"], "r": v["r"], "seed": v["seed"], "replaced": v["replaced"],
      **forget_metrics(motions),
      "retain_fid": res["fid"]["mean"], "retain_r_precision_top3": res["r_precision_top3"]["mean"],
      "retain_r_precision_top1": res["r_precision_top1"]["mean"],
    })  # fmt: skip
  timings["evaluate_s"] = time.perf_counter() - t0
  orig = rows[0]
  keys = ("retrieval_top1", "retrieval_top3", "recognised", "retain_fid", "retain_r_precision_top3")
  summary = {"original": {k: orig[k] for k in keys}}
  for method in config.methods:
    for r in config.replace_counts:
      group = [x for x in rows if x["method"] == method and x["r"] == r]
      summary[f"{method} r={r}"] = {k: _mean(group, k) for k in keys}
  for s in summary.values():
    s["delta_fid"] = s["retain_fid"] - orig["retain_fid"]
    s["delta_r_precision_top3"] = s["retain_r_precision_top3"] - orig["retain_r_precision_top3"]
  verdict = []
  if set(config.methods) == {"lcr", "random"}:
    for r in config.replace_counts:
      a, b = summary[f"lcr r={r}"], summary[f"random r={r}"]
      lower = a["recognised"] < b["recognised"] and a["retrieval_top3"] <= b["retrieval_top3"]
      less = a["delta_fid"] < b["delta_fid"]
      verdict.append({"r": r, "lcr_lowers_recognition_more": bool(lower),
                      "lcr_raises_retain_fid_less": bool(less)})  # fmt: skip
  timings["total_s"] = time.perf_counter() - t_start

  r_axis = np.asarray(config.replace_counts)
  series, styles = {}, {}
  for i, method in enumerate(config.methods):  # one colour per method in both panels
    for k, name, ls in (("recognised", "classifier recognition", "-"),
                        ("retrieval_top3", "retrieval top-3", "--"),
                        ("retain_fid", "retain FID", "-")):  # fmt: skip
      series[f"{method} {name}"] = np.asarray([summary[f"{method} r={r}"][k] for r in r_axis])
      styles[f"{method} {name}"] = {"color": f"C{i}", "linestyle": ls}
  if len(r_axis) > 1:
    report.plot_series(
      workdir / "unlearning.png", r_axis, series, title="LCR vs random code replacement",
      xlabel="r (codes replaced)", ylabel="value",
      panels=[[n for n in series if "FID" not in n], [n for n in series if "FID" in n]],
      styles=styles,
    )  # fmt: skip

  out = {
    "kind": "unlearning",
    "summary": summary,
    "rows": rows,
    "verdict": verdict,
    "forget_codes": forget_codes,
    "classifier": selection,
    "real": {
      "forget": real_forget,
      "retain_r_precision_top3": real_retain["r_precision_top3"]["mean"],
    },  # fmt: skip
    "sets": {
      "split": split,
      "forget_clips": len(forget_idx),
      "forget_prompts": len(f_texts),
      "retain_clips": len(retain),
      "count_forget": int(is_forget.sum()),
      "count_retain": int((~is_forget).sum()),
      "actions": actions,
    },  # fmt: skip
    "timings": timings,
    "config": to_dict(config),
  }
  report.write_json(workdir / "results.json", out)
  header = ["model", "forget retrieval top-1", "forget retrieval top-3", "forget recognised",
            "retain FID", "ΔFID", "retain R@3", "ΔR@3"]  # fmt: skip
  table = [
    [
      "real motions",
      real_forget["retrieval_top1"],
      real_forget["retrieval_top3"],
      real_forget["recognised"],
      0.0,
      "",
      real_retain["r_precision_top3"]["mean"],
      "",
    ]
  ]
  for name, s in summary.items():  # fmt: skip
    table.append([name, s["retrieval_top1"], s["retrieval_top3"], s["recognised"],
                  s["retain_fid"], s["delta_fid"], s["retain_r_precision_top3"],
                  s["delta_r_precision_top3"]])  # fmt: skip
  lc = config.lcr
  md = [
    "# unlearning results\n",
    f"MoMask ({mc.rvq.model.num_quantizers} x {mc.rvq.model.vq.num_codes} RVQ) on {data.root}; "
    f"forget actions {', '.join(config.forget_actions)}. Codes counted on the "
    f"{config.count_split} split ({int(is_forget.sum())} forget, {int((~is_forget).sum())} "
    f"retain motions); LCR on layer(s) {lcr.edited_layers(lc, mc.rvq.model.num_quantizers)}, "
    f"zero division '{lc.zero_division}', c_bar '{lc.sampling}' from '{lc.candidates}', eps "
    f"{lc.noise_scale:g} x the codebook's per-dim std; {config.seeds} seed(s) per (method, r). "
    f"Forget: {len(f_texts)} captions of {len(forget_idx)} {split} clips, own caption ranked "
    f"among {len(pick)} retain captions (evaluator space), and the fraction the action "
    f"classifier labels with the forgotten action. Retain: {len(retain)} {split} clips, T2M "
    f"protocol over {kw['num_repeats']} repeats. Total wall time {timings['total_s']:.0f} s.\n",
    report.markdown_table(header, table, "{:.3f}") + "\n",
    f"- Codes the forget motions use (N_k(D_f) > 0) per edited layer: {forget_codes}; for a "
    "larger r LCR also replaces codes of score 0 (those the retain set uses least first).",
    "- Verdict per r: 'lowers recognition more' = lower classifier recognition and no higher "
    "retrieval top-3 than random; 'FID rises less' = smaller retain ΔFID than random.",
  ]
  for v in verdict:
    md.append(
      f"- r={v['r']}: LCR lowers forget recognition more than random: "
      f"{'yes' if v['lcr_lowers_recognition_more'] else 'no'}; retain FID rises less: "
      f"{'yes' if v['lcr_raises_retain_fid_less'] else 'no'}."
    )
  md += [
    f"\n## Action classifier ridge weight\n\nChosen l2 = {selection['l2']:g}: the best top-1 "
    f"action accuracy on the original model's motions for {selection['val_clips']} "
    f"{selection['val_split']} clips (caption 0; the evaluation split is not looked at). "
    "Accuracy on the same clips' real motions for comparison.\n",
    report.markdown_table(
      [
        "l2",
        f"{selection['val_split']} accuracy, generated",
        f"{selection['val_split']} accuracy, real",
      ],
      [
        [f"{a:g}", g, r]
        for a, g, r in zip(selection["l2s"], selection["val_generated"], selection["val_real"])
      ],
      "{:.3f}",
    )
    + "\n",
  ]
  if len(r_axis) > 1:
    md.append("\n![recognition and retain FID vs r](unlearning.png)")
  md.append("\nConfig and per-seed rows (replaced codes) in results.json.")
  text = "\n".join(md) + "\n"
  (workdir / "results.md").write_text(text)
  print(text)
  return out
