"""Procedural generator 2.0.0: sequences, new actions, language (truth per template), determinism,
uniqueness, and the 1.0.0 build staying reproducible."""

import hashlib
import json
import re

import numpy as np
import pytest

from motion_jax.datagen.procedural import actions as A
from motion_jax.datagen.procedural import body as B
from motion_jax.datagen.procedural import build as D
from motion_jax.datagen.procedural import captions as C
from motion_jax.datagen.procedural import language as L
from motion_jax.datagen.procedural import moves as M
from motion_jax.datagen.procedural import sequence as S
from motion_jax.datagen.procedural import stats as ST
from motion_jax.representations.kinematic_groups import GROUP_NAMES, PAIRS
from motion_jax.skeletons.t2m import T2M_BONE_LENGTHS

N_CLIPS = 24
# sha256 over the manifest hashes of texts/, kinmo/ and the split files of a 40-clip seed-0
# version-1.0.0 build, recorded before version 2 existed (text only: no float features).
V1_TEXT_DIGEST_40 = "d6cfcedc85359df0e5c5bc9b0ffdb2e6e76ad70571c46bfe87e6e75c2569c328"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  base = tmp_path_factory.mktemp("proc2")
  root = D.build(base / "a", clips=N_CLIPS, seed=0, workers=1, progress=False, version=D.V2)
  return root, base


def _text_digest(root):
  files = D.read_manifest(root)["files"]
  keep = {
    k: v
    for k, v in files.items()
    if k.startswith(("texts/", "kinmo/")) or (k.endswith(".txt") and "/" not in k)
  }
  return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def test_version_1_build_is_unchanged(tmp_path):
  root = D.build(tmp_path / "v1", clips=40, seed=0, workers=1, progress=False, version=D.V1)
  assert D.read_manifest(root)["generator_version"] == "1.0.0"
  assert _text_digest(root) == V1_TEXT_DIGEST_40
  with pytest.raises(ValueError, match="unknown generator version"):
    D.build(tmp_path / "x", clips=4, version="3.0")


def test_two_v2_builds_with_the_same_seed_are_bit_identical(built):
  root, base = built
  again = D.build(base / "b", clips=N_CLIPS, seed=0, workers=2, progress=False, version=D.V2)
  a, b = D.read_manifest(root), D.read_manifest(again)
  assert a["digest"] == b["digest"] and a["files"] == b["files"]
  assert a["generator_version"] == "2.0.0"
  assert D.manifest_matches(root, N_CLIPS, 0, version=D.V2)
  assert not D.manifest_matches(root, N_CLIPS, 0, version=D.V1)
  other = D.build(base / "c", clips=N_CLIPS, seed=1, workers=1, progress=False, version=D.V2)
  assert D.read_manifest(other)["digest"] != a["digest"]


def test_v2_layout_segments_and_kinmo(built):
  root, _ = built
  ids = D.read_split(root, "all")
  assert len(ids) == N_CLIPS
  for i in ids:
    clip = D.load_clip(root, i)
    n = len(clip["features"])
    assert 40 <= n < 200
    k = json.loads((root / "kinmo" / f"{i}.json").read_text())
    segs = k["segments"]
    assert 1 <= len(segs) <= 4 and k["actions"] == [s["action"] for s in segs]
    assert k["action"] == "+".join(k["actions"])
    assert segs[0]["start_frame"] == 0 and segs[-1]["end_frame"] == n + 1  # T = N + 1
    for s, t in zip(segs, segs[1:]):
      assert s["end_frame"] < t["start_frame"] and s["end"] < t["start"]  # a transition between
    for s in segs:
      assert set(s["groups"]) == set(GROUP_NAMES) and len(s["interactions"]) == len(PAIRS)
      assert s["params"]["duration_s"] == pytest.approx(
        (s["end_frame"] - s["start_frame"] - 1) / D.FPS, abs=0.06
      )
    assert set(k["groups"]) == set(GROUP_NAMES) and len(k["interactions"]) == 15
    for t in clip["texts"]:
      assert t["start"] == t["end"] == 0.0
      assert all(tok.rsplit("/", 1)[1] in C._W for tok in t["tokens"])
    assert len({t["caption"] for t in clip["texts"]}) == D.N_CAPTIONS


def test_v2_physics(built):
  root, _ = built
  for i in D.read_split(root, "all"):
    x = np.load(root / "new_joints" / f"{i}.npy").astype(np.float64)
    assert np.abs(B.bone_lengths(x) - np.asarray(T2M_BONE_LENGTHS)).max() < 1e-5, i
    assert abs(x[..., 1].min()) < 1e-6, i
    for f in (10, 11):  # a foot on the floor in consecutive frames does not slide
      on = (x[:-1, f, 1] < 1e-4) & (x[1:, f, 1] < 1e-4)
      slide = np.linalg.norm(x[1:, f, [0, 2]] - x[:-1, f, [0, 2]], axis=-1)[on]
      assert slide.size == 0 or slide.max() < 2e-4, (i, slide.max())
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
      u, v = x[:, hip] - x[:, knee], x[:, ankle] - x[:, knee]
      cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
      assert np.degrees(np.arccos(np.clip(cos, -1, 1))).min() > 30.0, i
    assert (np.linalg.norm(np.diff(x, axis=0), axis=-1) * D.FPS).max() < 12.0, i


def test_every_v2_action_generates_at_its_length_range():
  for name in sorted(M.ACTIONS_V2):
    for n in (M.MIN_SEGMENT[name], 120, A.MAX_FRAMES):
      plan, params = M.ACTIONS_V2[name](np.random.default_rng(3), n, 20.0)
      assert len(plan.yaw) == n, (name, n)
      x = B.assemble(plan)
      assert np.isfinite(x).all() and isinstance(params, dict), name


def test_sequence_plans_fit_and_respect_positions():
  counts = np.zeros(5, int)
  for i in range(400):
    spec = S.plan_sequence(np.random.default_rng([9, i]))
    k = len(spec.actions)
    counts[k] += 1
    total = sum(spec.lengths) + sum(spec.gaps)
    assert A.MIN_FRAMES + 1 <= total <= A.MAX_FRAMES
    assert all(n >= M.MIN_SEGMENT[a] for a, n in zip(spec.actions, spec.lengths))
    assert all(a != b for a, b in zip(spec.actions, spec.actions[1:]))
    assert all(a not in S.ONLY_LAST for a in spec.actions[1:-1])
  assert counts[1:].min() > 20  # every sequence length occurs


def test_sequence_heading_follows_turns():
  """A turn segment's heading change (from the hips) has the sign and size of its parameters,
  and the next segment starts facing where the turn ended (continuity)."""
  found = 0
  for i in range(200):
    spec = S.plan_sequence(np.random.default_rng([11, i]))
    if "turn" not in spec.actions or len(spec.actions) < 2:
      continue
    x, meta, _ = S.generate_sequence(spec, (11, 5, i))
    hips = x[:, 1] - x[:, 2]  # right -> left hip
    ang = np.unwrap(np.arctan2(-hips[:, 2], hips[:, 0]))  # heading (yaw) up to a constant
    for seg in meta["segments"]:
      if seg["action"] != "turn":
        continue
      a, b = seg["start_frame"], seg["end_frame"] - 1
      turned = np.degrees(ang[b] - ang[a])
      sign = 1 if seg["params"]["direction"] == "left" else -1
      assert turned * sign > 0 and abs(abs(turned) - seg["params"]["turn_deg"]) < 25, turned
      found += 1
    if found >= 3:
      break
  assert found >= 3


# ------------------------------------------------------------------------------------------------
# Language: every template tells the truth about the parameters it mentions
# ------------------------------------------------------------------------------------------------
WORD_NUMBERS = {w: k for k, w in L.NUMBER_WORDS.items()} | {
  "once": 1,
  "twice": 2,
  "single": 1,
  "ninety": 90,
}
# Parameters whose value a side word / number may come from (the test's own oracle).
SIDE_KEYS = {
  "walk": ("turn",),
  "run": ("turn",),
  "sidestep": ("direction",),
  "turn": ("direction",),
  "step_over": ("lead_foot",),
  "hop": ("side", "@other"),
  "lunge": ("side", "@alternate"),
  "kick": ("side",),
  "side_kick": ("side",),
  "back_kick": ("side",),
  "punch": ("mode",),
  "wave": ("side",),
  "reach": ("side",),
  "throw": ("side",),
  "pick_up": ("hands",),
  "bow": ("hand",),
  "balance": ("side", "@other"),
  "dance": ("first_side", "@dance"),
  "stretch": ("@both",),
}
NUM_KEYS = {
  "walk": ("steps", "turn_deg"),
  "run": ("steps", "turn_deg"),
  "sidestep": ("steps",),
  "turn": ("turn_deg",),
  "jump": ("reps",),
  "hop": ("reps",),
  "jumping_jacks": ("reps",),
  "squat": ("reps",),
  "lunge": ("reps",),
  "kick": ("reps",),
  "side_kick": ("reps",),
  "back_kick": ("reps",),
  "punch": ("reps",),
  "raise_arms": ("reps",),
  "stretch": ("reps",),
  "throw": ("reps",),
  "bow": ("reps",),
  "clap": ("reps",),
  "dance": ("@2cycles",),
  "march": ("steps",),
}


def _allowed_sides(action, p):
  out = set()
  for key in SIDE_KEYS.get(action, ()):
    if key == "@other":
      out.add("right" if p["side"] == "left" else "left")
    elif key in ("@alternate", "@dance", "@both"):
      if key == "@both" or key == "@dance" or (p["alternate"] and p["reps"] > 1):
        out |= {"left", "right"}
    elif p[key] in ("left", "right"):
      out.add(p[key])
    elif p[key] in ("both", "alternating"):
      out |= {"left", "right"}
  if action == "bow" and p["hand"] == "chest":
    out = {"right"}
  elif action == "bow":
    out = set()
  return out


def _allowed_numbers(action, p):
  out = set()
  for key in NUM_KEYS.get(action, ()):
    out.add(2 * int(p["cycles"]) if key == "@2cycles" else int(p[key]))
  out.add(max(1, int(round(p["duration_s"]))))  # "for about N seconds"
  return out


def _numbers(vp):
  words = re.findall(r"[a-z]+|\d+", vp)
  out = []
  for k, w in enumerate(words):
    nxt = words[k + 1] if k + 1 < len(words) else ""
    if w in ("one", "two") and nxt in ("leg", "foot", "knee", "hand", "hands", "arms"):
      continue  # "on one leg", "with two hands": body parts, not a count
    if w.isdigit():
      out.append(int(w))
    elif w in WORD_NUMBERS:
      out.append(WORD_NUMBERS[w])
  return out


def _check_phrase(action, p, vp):
  words = set(re.findall(r"[a-z]+", vp))
  sides = words & {"left", "right"}
  assert sides <= _allowed_sides(action, p), (action, p, vp)
  assert set(_numbers(vp)) <= _allowed_numbers(action, p), (action, p, vp)
  if action == "walk":
    back = bool(words & {"backward", "backwards"})
    assert back == (p["direction"] == "backward"), vp
    assert not (words & {"slowly", "leisurely", "strolls", "ambles", "unhurriedly"}) or (
      p["speed"] == "slowly"
    ), vp
    assert not (words & {"quickly", "briskly", "fast", "hurries", "rushes", "rapidly"}) or (
      p["speed"] == "quickly"
    ), vp
  if action in ("jump", "hop"):
    in_place = bool(re.search(r"in place|on the spot|straight up", vp))
    ahead = bool(words & {"forward", "ahead", "forwards"})
    assert not in_place or p["direction"] == "in place", vp
    assert not ahead or p["direction"] == "forward", vp
  if action in ("hop", "balance"):
    for m in re.finditer(r"on (?:the|his|her|their|its) (left|right) (?:foot|leg)", vp):
      assert m.group(1) == p["side"], vp
  if action == "clap":
    assert not (words & {"slowly", "calmly", "slow"}) or p["tempo"] == "slowly", vp
    assert not (words & {"quickly", "fast", "rapidly"}) or p["tempo"] == "quickly", vp
  if action in ("kick", "side_kick", "back_kick"):
    assert not (words & {"sideways", "side"}) or action == "side_kick", vp
    assert not (words & {"backward", "backwards", "behind", "back"}) or action == "back_kick", vp


def test_every_template_states_only_the_parameters_used():
  checked = set()
  for action in sorted(M.ACTIONS_V2):
    for seed in range(25):
      rng = np.random.default_rng([seed, 1])
      n = int(rng.integers(M.MIN_SEGMENT[action], 180))
      _, p = M.ACTIONS_V2[action](rng, n, 20.0)
      p = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in p.items()}
      p["duration_s"] = round((n - 1) / 20.0, 1)
      if action in ("walk", "run"):
        p["arm_swing"] = ("normal", "big")[seed % 2]
      key = L.phrase_key(action, p)
      assert len(L.VERB_PHRASES[key]) >= 8, key
      for k in range(len(L.VERB_PHRASES[key])):
        for draw in range(3):
          vp, used = L.verb_phrase(action, p, "their", np.random.default_rng([seed, k, draw]), k)
          assert used == k
          _check_phrase(action, p, vp)
          C.tokenize(vp)
          checked.add((key, k))
  assert len(checked) == sum(len(v) for v in L.VERB_PHRASES.values())


def test_wrong_parameters_are_caught_by_the_oracle():
  p = dict(side="left", height="high", reps=2, duration_s=3.0)
  _check_phrase("kick", p, "kicks high with the left leg twice")
  with pytest.raises(AssertionError):
    _check_phrase("kick", p, "kicks high with the right leg")
  with pytest.raises(AssertionError):
    _check_phrase("kick", p, "kicks five times with the left leg")


def test_fixed_phrases_tokenize_and_connectives_are_many():
  assert len(L.CONNECTIVES) >= 8 and len(L.FINAL_CONNECTIVES) >= 8
  fixed = [s for s, _ in L.SUBJECTS] + list(L.CONNECTIVES + L.FINAL_CONNECTIVES + L.FRAMES)
  fixed += [s for v in L.POSTURE.values() for s in v] + [s for v in L.ARM_SWING.values() for s in v]
  for s in fixed:
    C.tokenize(s.replace("{subj}", "").replace("{vps}", "").replace("{pos}", "her"))
  assert C.tokenize("he claps 3 times")[-2:] == ["3/NUM", "time/NOUN"]
  assert C.lemma("hurries") == "hurry" and C.lemma("strolls") == "stroll"


def test_vocabulary_reaches_500_word_forms():
  words = set()
  for action in sorted(M.ACTIONS_V2):
    for seed in range(12):
      rng = np.random.default_rng([seed, 2])
      _, p = M.ACTIONS_V2[action](rng, int(rng.integers(M.MIN_SEGMENT[action], 180)), 20.0)
      p = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in p.items()}
      p |= {"duration_s": 1.0 + seed, "arm_swing": ("normal", "big")[seed % 2]}
      sv = L.slots(action, p) | {"pos": ["his", "her", "their", "its"]}
      text = " ".join(L.VERB_PHRASES[L.phrase_key(action, p)])
      text += " " + " ".join(a for alts in sv.values() for a in alts)
      words |= set(re.findall(r"[a-z]+|\d+", text.lower()))
  fixed = " ".join([s for s, _ in L.SUBJECTS] + list(L.CONNECTIVES + L.FINAL_CONNECTIVES))
  words |= set(re.findall(r"[a-z]+", fixed + " ".join(L.POSTURE["hunched"] + L.FRAMES)))
  words -= {"subj", "vps", "pos"}
  assert len(words) >= 500, len(words)


def test_captions_are_mostly_unique(built):
  root, _ = built
  st = ST.dataset_statistics(root)
  assert st["unique_caption_clips"]["test"] >= 0.9
  assert st["vocabulary_words"] > 150 and st["segments_per_clip"]


def test_vague_phrases_state_no_parameters_and_tokenize():
  for action in sorted(M.ACTIONS_V2):
    assert len(L.GENERIC[action]) >= 3, action
    for vp in L.GENERIC[action]:
      words = set(re.findall(r"[a-z]+", vp))
      assert not words & {"left", "right", "backward", "slowly", "quickly", "fast", "ahead"}
      assert not [n for n in _numbers(vp)], vp
      C.tokenize(vp)


def test_each_size_has_its_own_cache_folder():
  """Presets of different sizes must not rebuild over each other's cache."""
  from motion_jax.datagen.procedural.build import DATA_DIR, DEFAULT_ROOT, default_root

  assert default_root("1.0.0", 3000) == DEFAULT_ROOT == default_root("1.0.0")
  assert default_root("1.0.0", 1200) == DATA_DIR / "cache" / "text_motion_1200"
  assert default_root("2.0.0", 1200) == DATA_DIR / "cache" / "text_motion_v2_1200"
  assert len({default_root(v, n) for v in ("1.0.0", "2.0.0") for n in (1200, 3000)}) == 4
