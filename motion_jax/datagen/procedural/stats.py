"""Statistics, figures and the physics comparison for ``data/text_motion/README.md``.

    python -m motion_jax.datagen.procedural.stats --root data/cache/text_motion \
        --figure data/text_motion/statistics.png

prints Markdown tables (clips per action, lengths, vocabulary, physics metrics of procedural vs
real clips) and writes the statistics figure.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import numpy as np

from motion_jax.datagen.procedural import build as D
from motion_jax.metrics import physics as P
from motion_jax.paths import DATA_DIR


def _actions(kinmo: dict) -> list[str]:
  return kinmo.get("actions", [kinmo["action"]])


def dataset_statistics(root: str | Path) -> dict:
  """Clips per action (segments, for 2.x sequences) and split, segments per clip, lengths (s),
  caption/vocabulary counts, caption lengths (words), POS counts, and per split the fraction of
  clips that have a caption appearing nowhere else in the dataset (``unique_caption_clips``)."""
  root = Path(root)
  split_of = {i: s for s in ("train", "val", "test") for i in D.read_split(root, s)}
  per_action = collections.Counter()
  per_split = collections.Counter()
  n_segments = collections.Counter()
  lengths, words, lemmas, pos = [], collections.Counter(), set(), collections.Counter()
  n_caps, n_group, n_inter = 0, set(), set()
  cap_words, clip_caps, cap_count = [], {}, collections.Counter()
  for i in D.read_split(root, "all"):
    k = json.loads((root / "kinmo" / f"{i}.json").read_text())
    per_action.update(_actions(k))
    n_segments[len(_actions(k))] += 1
    per_split[split_of.get(i, "none")] += 1
    lengths.append((k["n_frames"] - 1) / k["fps"])
    clip_caps[i] = []
    for t in D.read_texts(root / "texts" / f"{i}.txt"):
      n_caps += 1
      words.update(re.findall(r"[a-z]+(?:-[a-z]+)?|[0-9]+", t["caption"].lower()))
      cap_words.append(len(t["caption"].split()))
      clip_caps[i].append(t["caption"])
      cap_count[t["caption"]] += 1
      for tok in t["tokens"]:
        lem, p = tok.rsplit("/", 1)
        lemmas.add(lem)
        pos[p] += 1
    n_group.update(k["groups"].values())
    n_inter.update(k["interactions"].values())
  unique = {}
  for split in ("train", "val", "test"):
    ids = [i for i in clip_caps if split_of.get(i) == split]
    ok = [any(cap_count[c] == 1 for c in set(clip_caps[i])) for i in ids]
    unique[split] = round(float(np.mean(ok)), 4) if ok else float("nan")
  return {
    "clips": len(lengths),
    "per_action": dict(sorted(per_action.items())),
    "segments_per_clip": dict(sorted(n_segments.items())),
    "unique_caption_clips": unique,
    "distinct_captions": len(cap_count),
    "caption_words": np.asarray(cap_words),
    "per_split": dict(per_split),
    "lengths_s": np.asarray(lengths),
    "captions": n_caps,
    "vocabulary_words": len(words),
    "vocabulary_lemmas": len(lemmas),
    "pos": dict(pos.most_common()),
    "distinct_group_sentences": len(n_group),
    "distinct_interaction_sentences": len(n_inter),
  }


def plot_statistics(stats: dict, path: str | Path) -> Path:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(1, 4, figsize=(17, 4.2), gridspec_kw={"width_ratios": [1.3, 1, 0.7, 1]})
  names = list(stats["per_action"])
  ax[0].barh(names, [stats["per_action"][n] for n in names], color="#4c72b0")
  ax[0].invert_yaxis()
  ax[0].set_xlabel("segments" if len(stats["segments_per_clip"]) > 1 else "clips")
  ax[0].set_title(f"actions ({stats['clips']} clips)")
  ax[0].tick_params(labelsize=7)
  ax[1].hist(stats["lengths_s"], bins=np.arange(2.0, 10.5, 0.5), color="#55a868", edgecolor="white")
  ax[1].set_xlabel("length (s, 20 fps)")
  ax[1].set_ylabel("clips")
  ax[1].set_title("clip length")
  ks = list(stats["segments_per_clip"])
  ax[2].bar([str(k) for k in ks], [stats["segments_per_clip"][k] for k in ks], color="#8172b2")
  ax[2].set_xlabel("actions per clip")
  ax[2].set_title("actions per clip")
  cw = stats["caption_words"]
  ax[3].hist(cw, bins=np.arange(cw.min(), cw.max() + 2) - 0.5, color="#c44e52")
  ax[3].set_xlabel("caption length (words)")
  ax[3].set_title(
    f"captions: {stats['vocabulary_words']} word forms, {stats['vocabulary_lemmas']} lemmas"
  )
  fig.tight_layout()
  path = Path(path)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path


def physics_rows(
  root_proc: str | Path, root_real: str | Path, per_action: bool = True
) -> list[tuple[str, dict]]:
  """(name, summary) rows: procedural (all and per action), real eval clips, HumanML3D 012314."""
  root_proc, root_real = Path(root_proc), Path(root_real)
  by_action = collections.defaultdict(list)
  for i in D.read_split(root_proc, "all"):
    k = json.loads((root_proc / "kinmo" / f"{i}.json").read_text())
    a = k["action"] if "actions" not in k else f"{len(k['actions'])} action(s)"
    by_action[a].append(P.physics_metrics(np.load(root_proc / "new_joints" / f"{i}.npy")))
  rows = [("procedural, all", P.summarize([m for v in by_action.values() for m in v]))]
  if per_action:
    rows += [(f"procedural {a}", P.summarize(v)) for a, v in sorted(by_action.items())]
  real = {}
  for i in D.read_split(root_real, "all"):
    real[i] = P.physics_metrics(np.load(root_real / "new_joints" / f"{i}.npy"))
  rows.append(("real, all (CMU + DeepMimic)", P.summarize(list(real.values()))))
  rows.append(
    ("real CMU 131 (3)", P.summarize([m for k, m in real.items() if k.startswith("cmu")]))
  )
  rows += [(f"real {k}", P.summarize([m])) for k, m in sorted(real.items())]
  hml = DATA_DIR / "humanml3d" / "new_joints" / "012314.npy"
  rows.append(("HumanML3D 012314", P.summarize([P.physics_metrics(np.load(hml))])))
  return rows


def physics_markdown(rows) -> str:
  head = (
    "| clips | n | skating (m/s) | contact frac | penetration mean (cm) | "
    "penetration max (cm) | floating mean (cm) | frames > 5 cm up |\n"
    "|---|---|---|---|---|---|---|---|\n"
  )
  body = "".join(
    f"| {name} | {s['clips']} | {s['skate_mps']:.3f} | {s['contact_frac']:.2f} | "
    f"{100 * s['penetration_mean_m']:.2f} | {100 * s['penetration_max_m']:.2f} | "
    f"{100 * s['float_mean_m']:.1f} | {s['float_frac']:.2f} |\n"
    for name, s in rows
  )
  return head + body


def main(argv=None) -> int:
  ap = argparse.ArgumentParser()
  ap.add_argument("--root", default=str(D.DEFAULT_ROOT))
  ap.add_argument("--real", default=None)
  ap.add_argument("--figure", default=str(DATA_DIR / "text_motion" / "statistics.png"))
  args = ap.parse_args(argv)
  from motion_jax.datagen.retarget import ensure_real_eval

  st = dataset_statistics(args.root)
  plot_statistics(st, args.figure)
  print(
    json.dumps({k: v for k, v in st.items() if k not in ("lengths_s", "caption_words")}, indent=1)
  )
  cw = st["caption_words"]
  print(f"caption words: mean {cw.mean():.1f}, median {np.median(cw):.0f}, max {cw.max()}")
  ls = st["lengths_s"]
  print(
    f"lengths: mean {ls.mean():.2f} s, median {np.median(ls):.2f}, min {ls.min():.2f}, "
    f"max {ls.max():.2f}; frames {int(np.sum(ls * 20))}"
  )
  print(physics_markdown(physics_rows(args.root, ensure_real_eval(args.real))))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
