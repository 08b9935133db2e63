"""Text for procedural clips: global captions, KinMo group and interaction descriptions, tokens.

Everything is generated from the action name and the known generating parameters (no model):

* :func:`describe` -> ``{"captions": [...], "groups": {group: sentence}, "interactions":
  {"group_a|group_b": sentence}}`` with several paraphrased whole-clip captions, one sentence for
  each of KinMo's six groups (:data:`motion_jax.representations.kinematic_groups.GROUP_NAMES`) and
  one for each of the 15 group pairs (:data:`~motion_jax.representations.kinematic_groups.PAIRS`).
  A group sentence says what the group does; a pair sentence relates the two groups (coupled
  motions such as "the left arm swings forward as the right leg steps" where the action defines
  one, otherwise the two groups' activities joined with "as"/"while").
* :func:`tokenize` -> HumanML3D-style tokens ``lemma/POS``. The tagger is a deterministic lookup
  in :data:`LEXICON` (our whole vocabulary, hand-tagged with Universal POS tags as HumanML3D's
  spaCy tags do: ``a/DET man/NOUN kick/VERB``) with two context rules: a word that is both a noun
  and a verb ("step", "turn", "kick", ...) is a NOUN after a determiner, number or adjective and a
  VERB otherwise; a word that is both an adjective and an adverb ("straight", "forward") is an
  ADJ before a noun and an ADV otherwise ("left"/"right" are always ADJ). Lemmas come from
  :data:`IRREGULAR` and suffix rules (-s, -es, -ing, -ed, with doubled consonants and a dropped
  -e) checked against the lexicon. Unknown words raise :class:`UnknownWordError`, so every
  generated caption is fully covered (tests check it).
"""

from __future__ import annotations

import re

import numpy as np

from motion_jax.representations.kinematic_groups import GROUP_NAMES, PAIRS

GROUP_TEXT = {
  "torso": "torso",
  "head_neck": "head",
  "left_arm": "left arm",
  "right_arm": "right arm",
  "left_leg": "left leg",
  "right_leg": "right leg",
}

# ------------------------------------------------------------------------------------------------
# Lexicon and tagger
# ------------------------------------------------------------------------------------------------
_W = {
  "DET": "a an the his her their each both every some",
  "PRON": "someone he she they it something itself them himself",
  "ADP": (
    "with to of in on at over from into across behind above below near like as about "
    "after by during for toward between"
  ),
  "CCONJ": "and or but",
  "SCONJ": "while until",
  "AUX": "be",
  "NUM": "one two three four five six seven eight nine ten",
  "ADJ": (
    "left right slow fast quick brisk deep shallow high low middle small big large full "
    "quarter half straight bent relaxed still steady upright level wide narrow several "
    "few other single whole short long raised opposite same outstretched extended "
    "vertical horizontal tall imaginary light tight firm gentle loose heavy upper "
    "alternate alternating lateral forward sideways overhead"
  ),
  "ADV": (
    "slowly quickly briskly forward backward backwards sideways up down around back out "
    "together apart again then repeatedly slightly sharply twice once alternately "
    "overhead upward downward steadily away off fully briefly gently in place "
    "continuously rhythmically high low straight still there also deeply first next"
  ),
  "VERB": (
    "walk run jog sprint jump hop squat lunge kick punch wave reach raise lift lower "
    "turn sit stand crouch step stretch swing bend bring keep stay move hold follow "
    "rotate twist extend touch lean look return land spread balance shift pivot drop "
    "rise support face go take do perform tuck straighten pump alternate mirror "
    "counter get push pull carry clear hang rest circle open close stop start begin "
    "finish lead trail remain react match stamp absorb drive flex cross come tilt "
    "sway box leave plant throw crawl dance lie roll spin"
  ),
  "NOUN": (
    "person man woman figure arm leg foot hand head neck torso body chest hip knee "
    "elbow shoulder step circle turn jump hop kick punch squat lunge side direction "
    "place floor ground obstacle air chair jack time rep pace speed stretch curve line "
    "degree rhythm stance position front toe weight way motion movement level height "
    "pose gait seat guard fist spine waist trunk back pelvis lap sprint jog walk run "
    "wave reach u-turn palm thigh ceiling sky heel balance twist bend bit path backflip "
    "cartwheel roll"
  ),
}
# Words added by generator version 2 (motion_jax.datagen.procedural.language). Only words that
# version 1 does not know are added, so every version-1 caption keeps its tokens.
_W_V2 = {
  "DET": "this all any",
  "PRON": "that who we",
  "ADP": "before without through",
  "SCONJ": "how where",
  "NUM": "eleven twelve ninety",
  "ADJ": (
    "easy exaggerated hunched normal old partial possible regular rounded simple slight "
    "slouched stooped young little energetic calm lively careful casual smooth sudden elderly "
    "middle aged stick upright straight tall even"
  ),
  "ADV": (
    "afterwards ahead calmly casually energetically finally hurriedly immediately lastly later "
    "leisurely lightly rapidly roughly subsequently unhurriedly very widely here soon forwards "
    "overhand underhand overarm underarm carefully smoothly lot politely shortly eventually "
    "afterward thereafter confidently purposefully normally comfortably swiftly speedily "
    "respectfully courteously happily cheerfully enthusiastically excitedly"
  ),
  "VERB": (
    "amble applaud break clap climb dash duck exercise give grab greet groove hurry leap make "
    "march meet pick put race settle shuffle slide spring stride stroll toss trot use veer "
    "wander wind bow signal see show begin sway fold rush glance saunter pace trek speed lope bolt "
    "zoom bounce jab strike hit hurl fling lob collect retrieve pose bop stomp swivel glide "
    "sink dip cheer travel gesture loosen tip work change"
  ),
  "NOUN": (
    "actor athlete audience bag ball bench bow boy character clap clip dancer end girl guy "
    "human individual item lady moment object posture stone stool subject tempo barrier beat "
    "applause spot star total second round greeting someone somebody dance shoulder exercise "
    "gentleman kid child teenager student performer player avatar model adult trainee rock "
    "pebble toy package book cup parcel bottle flamingo stork party animation video sequence "
    "air sportsman sportswoman soldier worker fellow gymnast volunteer participant senior "
    "youth mannequin scene dart snowball baseball frisbee hat shoe pillow basket bucket towel "
    "phone key coin sofa couch log hurdle puddle rope branch fence friend room crowd music song "
    "distance"
  ),
}
LEXICON: dict[str, tuple[str, ...]] = {}
for _pos, _words in _W.items():
  for _w in _words.split():
    LEXICON[_w] = LEXICON.get(_w, ()) + (_pos,)
_V1_WORDS = frozenset(LEXICON)
for _pos, _words in _W_V2.items():
  for _w in _words.split():
    if _w not in _V1_WORDS:
      LEXICON[_w] = LEXICON.get(_w, ()) + (_pos,)
IRREGULAR = {
  "feet": "foot",
  "is": "be",
  "are": "be",
  "ran": "run",
  "sat": "sit",
  "stood": "stand",
  "knees": "knee",
  "men": "man",
  "women": "woman",
  "its": "it",
  "held": "hold",
  "lying": "lie",
  "threw": "throw",
  "legs": "leg",
  "arms": "arm",
  "hands": "hand",
}
_NOMINAL_CONTEXT = {"DET", "NUM", "ADJ"}


class UnknownWordError(KeyError):
  """A caption word is not in :data:`LEXICON` (names the word and the sentence)."""


def lemma(word: str) -> str:
  """Lemma of a lower-case word from :data:`IRREGULAR` or suffix rules checked on the lexicon."""
  if word in IRREGULAR:
    return IRREGULAR[word]
  if word in LEXICON:
    return word
  cands = []
  if word.endswith("ing"):
    st = word[:-3]
    cands += [st, st + "e", st[:-1] if len(st) > 2 and st[-1] == st[-2] else st]
  if word.endswith("ed"):
    st = word[:-2]
    cands += [st, word[:-1], st[:-1] if len(st) > 2 and st[-1] == st[-2] else st]
  if word.endswith("es"):
    cands.append(word[:-2])
  if word.endswith("s"):
    cands.append(word[:-1])
  if word.endswith("ies"):
    cands.append(word[:-3] + "y")
  for c in cands:
    if c in LEXICON:
      return c
  return word


def tokenize(sentence: str) -> list[str]:
  """HumanML3D tokens ``lemma/POS`` of a caption (punctuation dropped)."""
  words = re.findall(r"[a-z]+(?:-[a-z]+)?|[0-9]+", sentence.lower())
  lemmas = [lemma(w) for w in words]
  for w, lem in zip(words, lemmas):
    if lem not in LEXICON and not lem.isdigit():
      raise UnknownWordError(f"word {w!r} (lemma {lem!r}) of {sentence!r} is not in LEXICON")
  out, prev = [], None
  for k, (w, lem) in enumerate(zip(words, lemmas)):
    tags = ("NUM",) if lem.isdigit() else LEXICON[lem]
    nxt = LEXICON.get(lemmas[k + 1], ()) if k + 1 < len(lemmas) else ()
    if len(tags) == 1:
      pos = tags[0]
    elif "NOUN" in tags and "VERB" in tags:
      pos = "NOUN" if prev in _NOMINAL_CONTEXT else "VERB"
    elif "ADJ" in tags and "ADV" in tags:
      pos = "ADJ" if w in ("left", "right") or "NOUN" in nxt else "ADV"
    else:
      pos = tags[0]
    out.append(f"{lem}/{pos}")
    prev = pos
  return out


def caption_line(sentence: str, start: float = 0.0, end: float = 0.0) -> str:
  """One HumanML3D ``texts/<id>.txt`` line ``caption#tokens#start#end``."""
  return f"{sentence}#{' '.join(tokenize(sentence))}#{start:.1f}#{end:.1f}"


# ------------------------------------------------------------------------------------------------
# Per-action text
# ------------------------------------------------------------------------------------------------
_NUMBER = {
  1: "one",
  2: "two",
  3: "three",
  4: "four",
  5: "five",
  6: "six",
  7: "seven",
  8: "eight",
  9: "nine",
  10: "ten",
}
STILL = "stays still"


def _num(k: int) -> str:
  return _NUMBER.get(int(k), "several")


def _times(k: int) -> str:
  k = int(k)
  return "once" if k == 1 else "twice" if k == 2 else f"{_num(k)} times"


def _other(side: str) -> str:
  return "right" if side == "left" else "left"


def _turn_words(turn: str, deg: float) -> str:
  if turn == "none":
    return ""
  how = {45: "slightly to the", 90: "to the", 135: "sharply to the", 180: "around to the"}
  return f"turns {how.get(int(deg), 'to the')} {turn}"


def _walk(p, r):
  spd = {"slowly": "slowly", "normal": "", "quickly": "quickly"}[str(p["speed"])]
  d = p["direction"]
  turn = _turn_words(str(p["turn"]), p["turn_deg"])
  tail = f" and {turn}" if turn else ""
  pace = {"slowly": "a slow", "normal": "a steady", "quickly": "a brisk"}[str(p["speed"])]
  caps = [
    f"a person walks {d} {spd}{tail}",
    f"someone is walking {d} at {pace} pace{tail}",
    f"a man takes {_num(min(p['steps'], 10))} steps {d}{tail}",
    f"the person walks {d} {spd} then stops" + (f" after he {turn}" if turn else ""),
    f"a figure walks {d}{' while it ' + turn if turn else ' in a straight line'}",
  ]
  g = {
    "torso": (bool(turn), "stays upright" + (" and turns with the path" if turn else "")),
    "head_neck": (False, "faces the walking direction"),
  }
  for s in ("left", "right"):
    g[f"{s}_leg"] = (True, f"steps {d} in turn with the {_other(s)} leg")
    g[f"{s}_arm"] = (True, "swings forward and back")
  special = {
    ("left_arm", "right_leg"): f"the left arm swings forward as the right leg steps {d}",
    ("right_arm", "left_leg"): f"the right arm swings forward as the left leg steps {d}",
    ("left_arm", "right_arm"): "the arms swing in opposite directions",
    ("left_leg", "right_leg"): "the legs alternate, one supports the body while the other swings",
    ("left_arm", "left_leg"): "the left arm swings back as the left leg steps forward",
    ("right_arm", "right_leg"): "the right arm swings back as the right leg steps forward",
  }
  return caps, g, special


def _run(p, r):
  kind = {"jog": "jogs", "run": "runs", "sprint": "sprints"}[str(p["speed"])]
  ing = {"jog": "jogging", "run": "running", "sprint": "sprinting"}[str(p["speed"])]
  turn = _turn_words(str(p["turn"]), p["turn_deg"])
  tail = f" and {turn}" if turn else ""
  caps = [
    f"a person {kind} forward{tail}",
    f"someone is {ing} forward{tail}",
    f"a man {kind} quickly and then stops",
    f"the person {kind} forward with the elbows bent{tail}",
    f"a figure {kind} forward and slows down to a stop",
  ]
  g = {
    "torso": (True, "leans slightly forward" + (" and turns with the path" if turn else "")),
    "head_neck": (False, "looks forward"),
  }
  for s in ("left", "right"):
    g[f"{s}_leg"] = (True, "pushes off the ground and swings forward")
    g[f"{s}_arm"] = (True, "pumps forward and back with the elbow bent")
  special = {
    ("left_arm", "right_leg"): "the left arm drives forward as the right leg pushes off",
    ("right_arm", "left_leg"): "the right arm drives forward as the left leg pushes off",
    ("left_leg", "right_leg"): "both feet leave the ground between steps",
    ("left_arm", "right_arm"): "the arms pump in opposite directions",
  }
  return caps, g, special


def _sidestep(p, r):
  d = p["direction"]
  caps = [
    f"a person steps sideways to the {d}",
    f"someone side steps to the {d}",
    f"a man moves to his {d} with side steps",
    f"the person takes {_num(min(p['steps'], 10))} steps to the {d} while facing forward",
  ]
  g = {
    "torso": (True, f"moves to the {d} while facing forward"),
    "head_neck": (False, "faces forward"),
    f"{d}_leg": (True, f"leads each step out to the {d}"),
    f"{_other(d)}_leg": (True, f"follows and comes back next to the {d} leg"),
    "left_arm": (False, "hangs slightly away from the body"),
    "right_arm": (False, "hangs slightly away from the body"),
  }
  special = {
    ("left_leg", "right_leg"): f"the {d} leg steps out and the {_other(d)} leg closes in behind it"
  }
  return caps, g, special


def _turn(p, r):
  d, deg = p["direction"], int(p["turn_deg"])
  amount = {
    90: "a quarter turn",
    180: "a half turn",
    270: "three quarters of a turn",
    360: "a full circle",
  }[deg]
  caps = [
    f"a person turns {amount} to the {d}",
    f"someone turns around to the {d} in place"
    if deg >= 180
    else f"someone turns to the {d} in place",
    f"a man steps in place and rotates to his {d}",
    f"the person pivots to the {d} with small steps",
  ]
  g = {
    "torso": (True, f"rotates to the {d}"),
    "head_neck": (True, f"turns to the {d} with the body"),
    "left_leg": (True, "takes small steps in place"),
    "right_leg": (True, "takes small steps in place"),
    "left_arm": (False, "hangs relaxed"),
    "right_arm": (False, "hangs relaxed"),
  }
  special = {("left_leg", "right_leg"): "the legs take turns stepping while the body rotates"}
  return caps, g, special


def _step_over(p, r):
  lead = p["lead_foot"]
  caps = [
    "a person walks forward and steps over an obstacle",
    "someone steps high over something on the ground",
    "a man walks and lifts his knees high to step over an obstacle",
    f"the person steps over an obstacle with the {lead} leg first",
  ]
  g = {
    "torso": (False, "stays upright"),
    "head_neck": (False, "looks forward"),
    f"{lead}_leg": (True, "lifts the knee high to step over the obstacle first"),
    f"{_other(lead)}_leg": (True, "follows over the obstacle"),
    "left_arm": (True, "swings with the steps"),
    "right_arm": (True, "swings with the steps"),
  }
  special = {
    ("left_leg", "right_leg"): f"the {lead} leg clears the obstacle and then the "
    f"{_other(lead)} leg follows"
  }
  return caps, g, special


def _jump(p, r):
  h = "high" if p["height_m"] >= 0.28 else "low" if p["height_m"] < 0.18 else ""
  d = "forward" if p["direction"] == "forward" else "in place"
  reps = int(p["reps"])
  rep = "" if reps == 1 else f" {_times(reps)}"
  caps = [
    f"a person jumps {d}{rep}",
    f"someone crouches and jumps {h} {d}{rep}",
    f"a man bends his knees and jumps {d} with both feet{rep}",
    f"the person swings the arms and jumps {d}{rep}",
    f"a figure does {'a jump' if reps == 1 else _num(reps) + ' jumps'} {d}",
  ]
  g = {
    "torso": (True, "bends forward in the crouch and straightens in the air"),
    "head_neck": (False, "stays level"),
    "left_leg": (True, "bends and pushes off the floor"),
    "right_leg": (True, "bends and pushes off the floor"),
    "left_arm": (True, "swings back and then up"),
    "right_arm": (True, "swings back and then up"),
  }
  special = {
    ("left_leg", "right_leg"): "both legs push off and land together",
    ("left_arm", "right_arm"): "both arms swing back and up together",
  }
  for s in ("left", "right"):
    for leg in ("left", "right"):
      special[(f"{s}_arm", f"{leg}_leg")] = f"the {s} arm swings up as the {leg} leg pushes off"
  return caps, g, special


def _hop(p, r):
  s = p["side"]
  d = "forward" if p["direction"] == "forward" else "in place"
  reps = int(p["reps"])
  caps = [
    f"a person hops on the {s} foot {d}",
    f"someone hops {_times(reps)} on one leg",
    f"a man balances on his {s} leg and hops {d}",
    f"the person hops {d} on the {s} foot with the {_other(s)} leg bent behind",
  ]
  g = {
    "torso": (False, "stays upright"),
    "head_neck": (False, "stays level"),
    f"{s}_leg": (True, "hops repeatedly"),
    f"{_other(s)}_leg": (True, "stays lifted with the knee bent"),
    "left_arm": (False, "is held out for balance"),
    "right_arm": (False, "is held out for balance"),
  }
  special = {
    ("left_leg", "right_leg"): f"the {s} leg does the hopping while the {_other(s)} "
    "leg stays off the ground"
  }
  return caps, g, special


def _jacks(p, r):
  reps = int(p["reps"])
  caps = [
    "a person does jumping jacks",
    f"someone does {_num(reps)} jumping jacks",
    "a man jumps and spreads his legs while he raises his arms over his head",
    "the person jumps the feet apart and together with the arms overhead",
  ]
  g = {
    "torso": (False, "stays upright"),
    "head_neck": (False, "stays level"),
    "left_leg": (True, "jumps out to the side and back in"),
    "right_leg": (True, "jumps out to the side and back in"),
    "left_arm": (True, "raises sideways over the head and lowers"),
    "right_arm": (True, "raises sideways over the head and lowers"),
  }
  special = {
    ("left_leg", "right_leg"): "the legs spread apart and come together",
    ("left_arm", "right_arm"): "the arms mirror each other over the head",
  }
  for a in ("left", "right"):
    for leg in ("left", "right"):
      special[(f"{a}_arm", f"{leg}_leg")] = f"the {a} arm goes up as the {leg} leg jumps out"
  return caps, g, special


def _squat(p, r):
  depth = {"shallow": "a shallow", "half": "a", "deep": "a deep"}[str(p["depth"])]
  reps = int(p["reps"])
  arms = " with the arms forward" if p["arms"] == "forward" else ""
  caps = [
    f"a person does {_num(reps)} {'squat' if reps == 1 else 'squats'}",
    f"someone squats down and stands up {_times(reps)}{arms}",
    f"a man bends his knees into {depth} squat{arms}",
    f"the person lowers the hips {'' if reps == 1 else 'repeatedly '}and rises again",
  ]
  g = {
    "torso": (True, "leans forward as the hips go down"),
    "head_neck": (False, "looks forward"),
    "left_leg": (True, "bends at the knee and straightens"),
    "right_leg": (True, "bends at the knee and straightens"),
  }
  for s in ("left", "right"):
    g[f"{s}_arm"] = (
      (True, "raises forward to balance") if p["arms"] == "forward" else (False, "hangs down")
    )
  special = {
    ("left_leg", "right_leg"): "both knees bend and straighten together",
    ("torso", "left_leg"): "the torso leans forward as the left knee bends",
    ("torso", "right_leg"): "the torso leans forward as the right knee bends",
  }
  return caps, g, special


def _crouch(p, r):
  caps = [
    "a person crouches down" + (" and stands back up" if p["stand_up"] else ""),
    "someone squats low" + (" and looks around" if p["look_around"] else ""),
    "a man gets down low on his feet" + (" then gets up" if p["stand_up"] else ""),
    "the person crouches and stays low"
    if not p["stand_up"]
    else "the person crouches briefly and rises",
  ]
  g = {
    "torso": (True, "bends forward low"),
    "head_neck": (bool(p["look_around"]), "looks around" if p["look_around"] else "looks forward"),
    "left_leg": (True, "bends deeply"),
    "right_leg": (True, "bends deeply"),
    "left_arm": (True, "reaches forward near the knee"),
    "right_arm": (True, "reaches forward near the knee"),
  }
  special = {("left_leg", "right_leg"): "both legs bend deeply together"}
  return caps, g, special


def _sit(p, r):
  v = p["variant"]
  if v == "sit_down":
    caps = [
      "a person sits down",
      "someone sits down on a chair",
      "a man bends his knees and sits",
      "the person sits down slowly",
    ]
    leg = "bends until the thigh is level"
  elif v == "stand_up":
    caps = [
      "a person stands up from a chair",
      "someone sitting gets up",
      "a man stands up from a seat",
      "the person rises from sitting to standing",
    ]
    leg = "straightens from a bent position"
  else:
    caps = [
      "a person sits down and stands back up",
      "someone sits on a chair then gets up",
      "a man sits down briefly and rises again",
      "the person sits and then stands up",
    ]
    leg = "bends to sit and straightens to stand"
  g = {
    "torso": (True, "leans forward while the hips move"),
    "head_neck": (False, "looks forward"),
    "left_leg": (True, leg),
    "right_leg": (True, leg),
    "left_arm": (True, "moves forward to rest on the thigh"),
    "right_arm": (True, "moves forward to rest on the thigh"),
  }
  special = {
    ("torso", "left_leg"): "the torso leans forward as the legs bend",
    ("torso", "right_leg"): "the torso leans forward as the legs bend",
    ("left_leg", "right_leg"): "both legs move together",
  }
  return caps, g, special


def _lunge(p, r):
  s = p["side"]
  reps = int(p["reps"])
  alt = p["alternate"] and reps > 1
  which = "alternating legs" if alt else f"the {s} leg"
  caps = [
    f"a person does {'a lunge' if reps == 1 else _num(reps) + ' lunges'} with {which}",
    f"someone steps forward with the {s} leg and lowers into a lunge",
    f"a man lunges forward {_times(reps)}",
    "the person steps forward bends both knees and steps back",
  ]
  g = {
    "torso": (True, "stays upright and moves forward and down"),
    "head_neck": (False, "looks forward"),
    f"{s}_leg": (True, "steps forward and bends at the knee"),
    f"{_other(s)}_leg": (
      True,
      "stays behind with the heel lifted" if not alt else "also steps forward in turn",
    ),
    "left_arm": (
      p["hands"] == "bent",
      "is held bent in front" if p["hands"] == "bent" else "hangs relaxed",
    ),
    "right_arm": (
      p["hands"] == "bent",
      "is held bent in front" if p["hands"] == "bent" else "hangs relaxed",
    ),
  }
  special = {
    ("left_leg", "right_leg"): f"the {s} leg steps forward while the "
    f"{_other(s)} leg bends behind it"
  }
  return caps, g, special


def _kick(p, r):
  s, h, reps = p["side"], p["height"], int(p["reps"])
  caps = [
    f"a person kicks with the {s} leg",
    f"someone kicks {h} with the {s} foot"
    if h != "middle"
    else f"someone kicks forward with the {s} foot",
    f"a man kicks forward {_times(reps)} with his {s} leg",
    f"the person lifts the {s} knee and kicks out",
  ]
  g = {
    "torso": (True, "leans back slightly during the kick"),
    "head_neck": (False, "looks forward"),
    f"{s}_leg": (True, "lifts and kicks forward"),
    f"{_other(s)}_leg": (False, "supports the body on the floor"),
    f"{_other(s)}_arm": (True, "moves forward for balance"),
    f"{s}_arm": (False, "is held bent in front"),
  }
  special = {
    ("left_leg", "right_leg"): f"the {_other(s)} leg supports the body as the {s} leg kicks",
    ("torso", f"{s}_leg"): f"the torso leans back as the {s} leg kicks",
  }
  return caps, g, special


def _punch(p, r):
  m, reps = p["mode"], int(p["reps"])
  if m == "alternating":
    who = "both fists"
    caps = [
      "a person throws punches with both hands",
      f"someone punches {_times(reps)} with alternating arms",
      "a man boxes with left and right punches",
      "the person punches forward with the left and right fists in turn",
    ]
  else:
    who = f"the {m} fist"
    caps = [
      f"a person punches with the {m} hand",
      f"someone punches {_times(reps)} with the {m} arm",
      f"a man throws {_num(reps)} punches with his {m} fist",
      f"the person holds a guard and punches forward with the {m} arm",
    ]
  g = {
    "torso": (True, "twists with each punch"),
    "head_neck": (False, "stays behind the guard"),
    "left_leg": (False, "stays planted in front"),
    "right_leg": (False, "stays planted behind"),
  }
  for s in ("left", "right"):
    act = m in (s, "alternating")
    g[f"{s}_arm"] = (
      act,
      "extends forward to punch and pulls back" if act else "stays up in a guard",
    )
  special = {
    ("left_arm", "right_arm"): "the arms take turns punching"
    if m == "alternating"
    else f"the {m} arm punches while the other stays in guard",
    ("torso", "left_arm"): "the torso twists as the arms punch",
    ("torso", "right_arm"): "the torso twists as the arms punch",
  }
  del who
  return caps, g, special


def _wave(p, r):
  s = p["side"]
  if s == "both":
    caps = [
      "a person waves with both hands",
      "someone raises both arms and waves",
      "a man waves with both arms",
      "the person lifts both hands and waves them",
    ]
  else:
    caps = [
      f"a person waves with the {s} hand",
      f"someone raises the {s} arm and waves",
      f"a man waves his {s} hand",
      f"the person lifts the {s} hand and waves it",
    ]
  g = {
    "torso": (False, "stays still"),
    "head_neck": (False, "looks forward"),
    "left_leg": (False, "stays planted"),
    "right_leg": (False, "stays planted"),
  }
  for a in ("left", "right"):
    act = s in (a, "both")
    g[f"{a}_arm"] = (act, "is raised and waves side to side" if act else "hangs relaxed")
  special = {
    ("left_arm", "right_arm"): "both arms wave together"
    if s == "both"
    else f"the {s} arm waves while the other arm hangs"
  }
  return caps, g, special


def _reach(p, r):
  s, tg = p["side"], p["target"]
  where = {"forward": "forward", "up": "up", "sideways": "out to the side"}[tg]
  caps = [
    f"a person reaches {where} with the {s} hand",
    f"someone extends the {s} arm {where}",
    f"a man reaches {where} with his {s} arm and brings it back",
    f"the person stretches the {s} hand {where}",
  ]
  g = {
    "torso": (True, "leans with the reach"),
    "head_neck": (False, "looks forward"),
    "left_leg": (False, "stays planted"),
    "right_leg": (False, "stays planted"),
    f"{s}_arm": (True, f"extends {where}"),
    f"{_other(s)}_arm": (False, "hangs relaxed"),
  }
  special = {("torso", f"{s}_arm"): f"the torso leans as the {s} arm reaches {where}"}
  return caps, g, special


def _raise(p, r):
  plane = "forward" if p["plane"] == "forward" else "out to the sides"
  lvl = "over the head" if p["level"] == "overhead" else "to shoulder height"
  reps = int(p["reps"])
  caps = [
    f"a person raises both arms {plane} {lvl}",
    f"someone lifts the arms {lvl} and lowers them" + ("" if reps == 1 else f" {_times(reps)}"),
    f"a man raises his arms {plane}",
    f"the person lifts both arms {plane} {lvl}",
  ]
  g = {
    "torso": (False, "stays upright"),
    "head_neck": (False, "looks forward"),
    "left_leg": (False, "stays planted"),
    "right_leg": (False, "stays planted"),
    "left_arm": (True, f"rises {plane} {lvl} and lowers"),
    "right_arm": (True, f"rises {plane} {lvl} and lowers"),
  }
  special = {("left_arm", "right_arm"): "both arms rise and lower together"}
  return caps, g, special


def _stretch(p, r):
  k = p["kind"]
  if k == "side_bend":
    caps = [
      "a person stretches with the arms overhead and bends to each side",
      "someone raises both arms and leans side to side",
      "a man does side stretches",
      "the person stretches the sides of the body",
    ]
    g = {
      "torso": (True, "bends to the left and to the right"),
      "head_neck": (False, "follows the torso"),
      "left_arm": (True, "is raised overhead"),
      "right_arm": (True, "is raised overhead"),
    }
  elif k == "toe_touch":
    caps = [
      "a person bends forward to stretch",
      "someone bends down toward the toes",
      "a man stretches by bending forward at the waist",
      "the person leans forward and reaches toward the floor",
    ]
    g = {
      "torso": (True, "bends forward at the hips"),
      "head_neck": (True, "drops down"),
      "left_arm": (True, "hangs down toward the feet"),
      "right_arm": (True, "hangs down toward the feet"),
    }
  else:
    caps = [
      "a person twists the torso from side to side",
      "someone stretches by twisting the body with the arms out",
      "a man rotates his upper body left and right",
      "the person holds the arms out and twists",
    ]
    g = {
      "torso": (True, "twists left and right"),
      "head_neck": (True, "turns with the torso"),
      "left_arm": (True, "is held out to the side"),
      "right_arm": (True, "is held out to the side"),
    }
  g["left_leg"] = (False, "stays planted")
  g["right_leg"] = (False, "stays planted")
  special = {
    ("torso", "left_arm"): "the left arm moves with the torso",
    ("torso", "right_arm"): "the right arm moves with the torso",
  }
  return caps, g, special


_ACTION_TEXT = {
  "walk": _walk,
  "run": _run,
  "sidestep": _sidestep,
  "turn": _turn,
  "step_over": _step_over,
  "jump": _jump,
  "hop": _hop,
  "jumping_jacks": _jacks,
  "squat": _squat,
  "crouch": _crouch,
  "sit": _sit,
  "lunge": _lunge,
  "kick": _kick,
  "punch": _punch,
  "wave": _wave,
  "reach": _reach,
  "raise_arms": _raise,
  "stretch": _stretch,
}


def _clean(s: str) -> str:
  return re.sub(r"\s+", " ", s).strip()


def _pair_sentence(a: str, b: str, groups: dict) -> str:
  (act_a, ph_a), (act_b, ph_b) = groups[a], groups[b]
  ta, tb = GROUP_TEXT[a], GROUP_TEXT[b]
  if not act_a and not act_b:
    return f"the {ta} and the {tb} both stay steady"
  link = "as" if act_a and act_b else "while"
  return f"the {ta} {ph_a} {link} the {tb} {ph_b}"


def describe(action: str, params: dict, rng: np.random.Generator, n_captions: int = 3) -> dict:
  """Captions (``n_captions`` paraphrases, shuffled), 6 group and 15 interaction sentences."""
  caps, groups, special = _ACTION_TEXT[action](params, rng)
  caps = list(dict.fromkeys(_clean(c) for c in caps))
  order = rng.permutation(len(caps))
  captions = [caps[i] for i in order[:n_captions]]
  groups = {g: groups.get(g, (False, STILL)) for g in GROUP_NAMES}
  group_sent = {g: _clean(f"the {GROUP_TEXT[g]} {ph}") for g, (_, ph) in groups.items()}
  inter = {}
  for i, j in PAIRS:
    a, b = GROUP_NAMES[i], GROUP_NAMES[j]
    sent = special.get((a, b)) or special.get((b, a)) or _pair_sentence(a, b, groups)
    inter[f"{a}|{b}"] = _clean(sent)
  return {"captions": captions, "groups": group_sent, "interactions": inter}
