"""Language of generator version 2: captions of action sequences, KinMo texts per segment.

A caption is ``frame(subject, VP_1 connective VP_2 ... [detail])``:

* **verb phrases** (:data:`VERB_PHRASES`): at least 8 templates per action, in the third person
  present; ``{slot}`` placeholders are filled from the segment's generating parameters through
  :func:`slots` (each slot lists synonyms, one is drawn; slots may nest). A template only names
  parameters through its slots, so a caption cannot state a side, count, speed or direction the
  motion does not have (tests check every template against the parameters).
* **counts** in words or digits ("three times", "3 times", "twice"), **durations** ("for about 4
  seconds", the segment's rounded length) as an optional detail;
* **connectives** (:data:`CONNECTIVES`, :data:`FINAL_CONNECTIVES`) between the segments, in order;
* **subjects** with a matching possessive ("a woman ... her arms"), **frames** ("first, ...") and
  optional **detail clauses** from the clip's style (hunched posture).

KinMo texts follow the segments: a group's sentence lists what it does in each segment joined by
", then" (repeats merged), likewise each interaction sentence; the per-segment sentences are kept
with their start/end times (seconds, KIT-ML style) in ``segments``.

All words are in :data:`motion_jax.datagen.procedural.captions.LEXICON` (tagged, lemmatised).
"""

from __future__ import annotations

import re

import numpy as np

from motion_jax.datagen.procedural import captions as C
from motion_jax.representations.kinematic_groups import GROUP_NAMES, PAIRS

STILL = C.STILL
NUMBER_WORDS = dict(C._NUMBER) | {11: "eleven", 12: "twelve"}

# (subject, possessive)
SUBJECTS = (
  ("a person", "their"),
  ("someone", "their"),
  ("somebody", "their"),
  ("the person", "their"),
  ("an individual", "their"),
  ("a man", "his"),
  ("the man", "his"),
  ("a guy", "his"),
  ("a young man", "his"),
  ("an old man", "his"),
  ("a boy", "his"),
  ("a woman", "her"),
  ("the woman", "her"),
  ("a lady", "her"),
  ("a young woman", "her"),
  ("a girl", "her"),
  ("a figure", "its"),
  ("the figure", "its"),
  ("a character", "its"),
  ("the subject", "their"),
  ("a human", "their"),
  ("an actor", "their"),
  ("a dancer", "their"),
  ("a gentleman", "his"),
  ("a kid", "their"),
  ("a child", "their"),
  ("a teenager", "their"),
  ("a student", "their"),
  ("a performer", "their"),
  ("a player", "their"),
  ("a stick figure", "its"),
  ("an avatar", "its"),
  ("a model", "their"),
  ("an adult", "their"),
  ("an elderly man", "his"),
  ("an elderly woman", "her"),
  ("a middle aged man", "his"),
  ("a trainee", "their"),
  ("a sportsman", "his"),
  ("a sportswoman", "her"),
  ("a soldier", "their"),
  ("a worker", "their"),
  ("a fellow", "his"),
  ("a gymnast", "their"),
  ("a volunteer", "their"),
  ("a participant", "their"),
  ("a senior", "their"),
  ("a youth", "their"),
  ("a mannequin", "its"),
  ("an athlete", "their"),
)
CONNECTIVES = (
  ", then ",
  " and then ",
  " then ",
  ", after that ",
  ", afterwards ",
  " and after that ",
  ", next ",
  " and next ",
  ", and later ",
  ", and right after that ",
  ", and then ",
  ", subsequently ",
  " and shortly after ",
  ", a moment later ",
  ", and eventually ",
  ", and straight after that ",
  " and afterward ",
  ", thereafter ",
)
FINAL_CONNECTIVES = (
  " and finally ",
  ", and at the end ",
  " and lastly ",
  ", and to finish ",
  ", and in the end ",
  " and then ",
  ", then ",
  " before finally ",
)
TWO_CONNECTIVES = CONNECTIVES + (" and ", ", and ", " and immediately ", " and soon after ")
FRAMES = (
  "{subj} {vps}",
  "{subj} {vps}",
  "{subj} {vps}",
  "in this motion {subj} {vps}",
  "here {subj} {vps}",
  "in this clip {subj} {vps}",
  "in this animation {subj} {vps}",
  "in the video {subj} {vps}",
  "this sequence shows how {subj} {vps}",
  "the clip shows {subj} who {vps}",
  "a scene where {subj} {vps}",
  "this is {subj} who {vps}",
  "we see {subj} who {vps}",
  "the motion shows how {subj} {vps}",
)
SEQUENCE_FRAMES = ("first, {subj} {vps}", "{subj} first {vps}", "to begin, {subj} {vps}")
POSTURE = {
  "normal": (
    "",
    "",
    "",
    " with an upright posture",
    " keeping the back straight",
    " with a straight back",
    " standing tall",
  ),
  "hunched": (
    " with a hunched back",
    " while hunched over",
    " with rounded shoulders",
    " in a stooped posture",
    " with the back bent forward",
    " bent forward at the upper back",
    ", looking hunched",
    " with a slouched posture",
  ),
}
ARM_SWING = {
  "normal": ("",),
  "big": (
    " swinging the arms widely",
    " with big arm swings",
    " with wide arm movements",
    " while swinging {pos} arms a lot",
    " with exaggerated arm swings",
    " pumping the arms energetically",
  ),
}


def other(side: str) -> str:
  return "right" if side == "left" else "left"


def count(k: int) -> list[str]:
  """A count in words or digits."""
  k = int(k)
  return [NUMBER_WORDS.get(k, str(k)), str(k)]


def times(k: int) -> list[str]:
  k = int(k)
  if k == 1:
    return ["once", "one time", "a single time", "1 time"]
  if k == 2:
    return ["twice", "two times", "2 times"]
  return [f"{w} times" for w in count(k)]


def _opt(p: float, *xs: str) -> list[str]:
  """Slot alternatives: empty with weight ~ p (as repeats), else one of ``xs``."""
  n_empty = max(1, int(round(p * len(xs) / max(1e-6, 1 - p))))
  return [""] * n_empty + list(xs)


# ------------------------------------------------------------------------------------------------
# Slots and verb-phrase templates per action (parameters of actions.py / moves.py)
# ------------------------------------------------------------------------------------------------
def _turn_slot(turn: str, deg: float) -> list[str]:
  if turn == "none":
    return [""]
    # (the walk goes straight)
  d = int(deg)
  how = {
    45: ["slightly ", "a little ", "gently "],
    90: ["", "ninety degrees ", "90 degrees ", "sharply "],
    135: ["sharply ", "a lot ", "135 degrees "],
    180: ["around ", "all the way around ", "180 degrees ", "back around "],
  }[d]
  return [f" and turns {h}to the {turn}" for h in how] + [
    f" and curves to the {turn}",
    f" while turning to the {turn}",
    f" and veers {turn}",
  ]


def slots(action: str, p: dict) -> dict[str, list[str]]:
  """Slot alternatives of ``action`` with parameters ``p``."""
  s: dict[str, list[str]] = {}
  if action == "walk":
    d = {"forward": ["forward", "ahead", "forwards"], "backward": ["backward", "backwards"]}
    s["dir"] = d[p["direction"]]
    s["spd"] = {
      "slowly": ["slowly", "leisurely", "at a slow pace", "unhurriedly", "slowly and calmly"],
      "normal": [
        "",
        "at a normal pace",
        "at a steady pace",
        "casually",
        "calmly",
        "confidently",
        "purposefully",
        "normally",
        "at an even pace",
        "comfortably",
      ],
      "quickly": ["quickly", "briskly", "fast", "at a brisk pace", "hurriedly", "rapidly"],
    }[p["speed"]]
    s["walks"] = {
      "slowly": ["walks", "strolls", "ambles", "wanders", "saunters", "walks"],
      "normal": ["walks", "walks", "steps", "moves", "paces", "treks"],
      "quickly": ["walks", "hurries", "strides", "rushes", "speeds", "walks"],
    }[p["speed"]]
    s["walking"] = {
      "slowly": ["walking", "strolling", "ambling"],
      "normal": ["walking", "walking", "moving"],
      "quickly": ["walking", "hurrying", "striding"],
    }[p["speed"]]
    s["turn"] = _turn_slot(p["turn"], p["turn_deg"])
    s["n"] = count(p["steps"])
    s["arms"] = list(ARM_SWING[p.get("arm_swing", "normal")])
  elif action == "run":
    sp = p["speed"]
    s["runs"] = {
      "jog": ["jogs", "jogs", "runs slowly", "trots", "runs at an easy pace", "lopes"],
      "run": ["runs", "runs", "dashes", "runs fast", "bolts"],
      "sprint": ["sprints", "runs very fast", "races", "dashes at full speed", "zooms"],
    }[sp]
    s["running"] = {
      "jog": ["jogging", "trotting", "running slowly"],
      "run": ["running", "dashing"],
      "sprint": ["sprinting", "racing", "running at full speed"],
    }[sp]
    s["a_run"] = {"jog": ["a jog", "a light jog"], "run": ["a run"], "sprint": ["a sprint"]}[sp]
    s["dir"] = (
      ["forward", "ahead", "forwards"]
      if sp == "jog"
      else ["forward", "ahead", "swiftly forward", "speedily ahead", "forward at a fast pace"]
    )
    s["turn"] = _turn_slot(p["turn"], p["turn_deg"])
    s["n"] = count(p["steps"])
    s["arms"] = list(ARM_SWING[p.get("arm_swing", "normal")])
  elif action == "sidestep":
    s["d"] = [p["direction"]]
    s["n"] = count(p["steps"])
    s["steps"] = ["side steps", "sideways steps", "lateral steps", "steps sideways"]
  elif action == "turn":
    d, deg = p["direction"], int(p["turn_deg"])
    s["d"] = [d]
    s["amount"] = {
      90: ["a quarter turn", "a quarter of a turn", "ninety degrees", "90 degrees"],
      180: ["a half turn", "half a turn", "180 degrees", "around"],
      270: ["270 degrees"],
      360: ["a full turn", "a full circle", "360 degrees", "all the way around"],
    }[deg]
    s["turns"] = ["turns", "rotates", "pivots", "spins"] if deg >= 180 else ["turns", "rotates"]
  elif action == "step_over":
    s["lead"] = [p["lead_foot"]]
    s["obstacle"] = [
      "an obstacle",
      "something",
      "an object on the floor",
      "a low barrier",
      "a log",
      "a hurdle",
      "a puddle",
      "a rope",
      "a branch",
      "a low fence",
    ]
    if p["obstacle_height"] >= 0.3:
      s["obstacle"] += ["a tall obstacle", "a high object"]
  elif action == "jump":
    h = p["height_m"]
    s["high"] = (
      ["high", "very high", "as high as possible"]
      if h >= 0.28
      else ["a little", "slightly", "low"]
      if h < 0.18
      else [""]
    )
    fwd = p["direction"] == "forward"
    s["where"] = (
      ["forward", "ahead", "forwards"] if fwd else ["in place", "on the spot", "straight up"]
    )
    reps = int(p["reps"])
    s["reps"] = [""] if reps == 1 else [" " + t for t in times(reps)]
    s["a_jump"] = (
      ["a jump", "one jump", "a single jump"] if reps == 1 else [f"{c} jumps" for c in count(reps)]
    )
    s["both"] = ["with both feet", "with feet together", "off both feet"]
  elif action == "hop":
    s["side"] = [p["side"]]
    s["other"] = [other(p["side"])]
    s["where"] = (
      ["forward", "ahead", "forwards"]
      if p["direction"] == "forward"
      else ["in place", "on the spot"]
    )
    s["times"] = times(p["reps"])
    s["n"] = count(p["reps"])
    s["hops"] = ["hops", "jumps"]
  elif action == "jumping_jacks":
    s["n"] = count(p["reps"])
    s["jacks"] = ["jumping jacks", "star jumps"]
  elif action == "squat":
    reps = int(p["reps"])
    s["n"] = count(reps)
    s["times"] = times(reps)
    s["depth"] = {
      "shallow": ["shallow", "small", "partial"],
      "half": ["", "half", "regular"],
      "deep": ["deep", "low", "full"],
    }[p["depth"]]
    s["squats"] = ["squat"] if reps == 1 else ["squats"]
    s["arms"] = (
      ["", " with the arms forward", " with the arms extended in front", " arms stretched forward"]
      if p["arms"] == "forward"
      else ["", " with the arms down", " with the arms hanging down"]
    )
  elif action == "crouch":
    s["up"] = (
      [" and stands back up", " then rises again", " and gets back up"]
      if p["stand_up"]
      else ["", " and stays down", " and remains low"]
    )
    s["look"] = (
      ["", " and looks around", " looking around", " glancing around"] if p["look_around"] else [""]
    )
  elif action == "sit":
    prep_ = "from" if p["variant"] == "stand_up" else "on"
    s["chair"] = [
      "",
      f" {prep_} a chair",
      f" {prep_} a seat",
      f" {prep_} a bench",
      f" {prep_} a stool",
      f" {prep_} a sofa",
      f" {prep_} a couch",
      f" {prep_} a box",
    ]
  elif action == "lunge":
    reps = int(p["reps"])
    alt = p["alternate"] and reps > 1
    s["side"] = [p["side"]]
    s["n"] = count(reps)
    s["times"] = times(reps)
    s["lunges"] = ["lunge"] if reps == 1 else ["lunges"]
    s["which"] = (
      ["alternating legs", "both legs in turn", "alternate legs"]
      if alt
      else [f"the {p['side']} leg", f"{{pos}} {p['side']} leg"]
    )
  elif action in ("kick", "side_kick", "back_kick"):
    s["side"] = [p["side"]]
    s["times"] = times(p["reps"])
    s["n"] = count(p["reps"])
    h = p["height"]
    s["high"] = {
      "low": ["low", "low", "gently"],
      "middle": ["", "at waist height"],
      "high": [
        "high",
        "up high",
        "very high",
      ],
    }[h]
    s["kicks"] = ["kick"] if p["reps"] == 1 else ["kicks"]
    s["way"] = {
      "kick": ["forward", "to the front", "out in front"],
      "side_kick": ["to the side", "sideways", "out to the side"],
      "back_kick": ["backward", "backwards", "behind", "to the back"],
    }[action]
  elif action == "punch":
    m, reps = p["mode"], int(p["reps"])
    s["times"] = times(reps)
    s["n"] = count(reps)
    s["punches"] = ["punch"] if reps == 1 else ["punches"]
    if m == "alternating":
      s["with"] = ["alternating arms", "both fists in turn", "left and right fists", "both hands"]
    else:
      s["with"] = [f"the {m} fist", f"the {m} hand", f"{{pos}} {m} arm", f"the {m} arm"]
  elif action == "wave":
    side = p["side"]
    s["with"] = (
      ["both hands", "both arms", "two hands"]
      if side == "both"
      else [f"the {side} hand", f"{{pos}} {side} hand", f"the {side} arm"]
    )
    f = p["frequency_hz"]
    s["how"] = (
      ["", "quickly", "rapidly", "energetically"]
      if f > 2.2
      else ["", "slowly", "gently", "calmly"]
      if f < 1.8
      else ["", "steadily"]
    )
  elif action == "reach":
    s["side"] = [p["side"]]
    s["where"] = {
      "forward": ["forward", "out in front", "ahead"],
      "up": ["up", "upward", "toward the ceiling", "overhead"],
      "sideways": ["out to the side", "sideways", "to the side"],
    }[p["target"]]
  elif action == "raise_arms":
    s["plane"] = (
      ["forward", "in front", "to the front"]
      if p["plane"] == "forward"
      else ["out to the sides", "sideways", "to the sides"]
    )
    s["level"] = (
      ["over the head", "overhead", "above the head", "high above the head"]
      if p["level"] == "overhead"
      else ["to shoulder height", "to shoulder level", "level with the shoulders"]
    )
    s["reps"] = [""] if p["reps"] == 1 else [" " + t for t in times(p["reps"])]
  elif action == "stretch":
    s["times"] = times(p["reps"])
  elif action == "throw":
    s["side"] = [p["side"]]
    s["times"] = times(p["reps"])
    s["n"] = count(p["reps"])
    s["style"] = (
      ["overhand", "over the shoulder", "overarm"]
      if p["style"] == "overhand"
      else ["underhand", "underarm", "from below"]
    )
    s["thing"] = [
      "a ball",
      "something",
      "an object",
      "a stone",
      "a rock",
      "a pebble",
      "a toy",
      "a dart",
      "a snowball",
      "a baseball",
      "a frisbee",
    ]
    s["things"] = ["ball", "object", "stone"] if p["reps"] == 1 else ["balls", "objects", "stones"]
  elif action == "pick_up":
    h = p["hands"]
    s["with"] = (
      ["both hands", "two hands"]
      if h == "both"
      else [f"the {h} hand", f"{{pos}} {h} hand", f"one hand, the {h}"]
    )
    s["thing"] = [
      "something",
      "an object",
      "a box",
      "a bag",
      "an item",
      "a ball",
      "a package",
      "a book",
      "a cup",
      "a parcel",
      "a bottle",
      "a hat",
      "a shoe",
      "a pillow",
      "a basket",
      "a bucket",
      "a towel",
      "a phone",
      "a key",
      "a coin",
    ]
    s["how"] = (
      ["bends down", "bends over", "leans down"]
      if p["method"] == "bend"
      else ["squats down", "crouches", "bends the knees"]
    )
  elif action == "bow":
    reps = int(p["reps"])
    s["a_bow"] = (
      ["a slight bow", "a small bow", "a short bow"]
      if p["depth"] == "slight"
      else ["a deep bow", "a low bow", "a big bow"]
    )
    s["deep"] = ["slightly", "a little"] if p["depth"] == "slight" else ["deeply", "low"]
    s["reps"] = [""] if reps == 1 else [" " + t for t in times(reps)]
    s["hand"] = (
      ["", " with a hand on the chest", " with the right hand on the chest"]
      if p["hand"] == "chest"
      else ["", " with the arms at the sides"]
    )
  elif action == "clap":
    s["n"] = count(p["reps"])
    s["times"] = times(p["reps"])
    s["tempo"] = (
      ["slowly", "slowly", "calmly", "at a slow rhythm"]
      if p["tempo"] == "slowly"
      else ["quickly", "fast", "rapidly", "at a fast rhythm"]
    )
    s["where"] = (
      ["in front of the chest", "in front of the body", "at chest height"]
      if p["level"] == "chest"
      else ["over the head", "above the head", "overhead"]
    )
  elif action == "balance":
    side = p["side"]
    s["side"] = [side]
    s["other"] = [other(side)]
    s["free"] = (
      [f"raises the {other(side)} knee", f"lifts the {other(side)} knee up", "raises one knee"]
      if p["pose"] == "knee_up"
      else [
        f"lifts the {other(side)} foot behind",
        f"bends the {other(side)} leg back",
        "holds one foot up behind",
      ]
    )
    s["arms"] = (
      ["", " with the arms out", " arms spread for balance", " holding the arms out to the sides"]
      if p["arms"] == "out"
      else ["", " with the arms down"]
    )
  elif action == "dance":
    s["n"] = count(2 * p["cycles"])
    s["tempo"] = (
      ["slowly", "at a slow tempo", "gently"]
      if p["tempo"] == "slowly"
      else ["quickly", "to a fast beat", "energetically", "at a fast tempo"]
    )
    s["arms"] = (
      ["", " swinging the arms", " with the arms swinging"]
      if p["arms"] == "swinging"
      else ["", " with the arms raised", " with the hands up in the air", " arms up"]
    )
    s["first"] = [p["first_side"]]
  elif action == "march":
    s["n"] = count(p["steps"])
    s["march"] = (
      ["marches", "marches", "walks with high knees", "steps with high knees"]
      if p["kind"] == "march"
      else ["jogs", "jogs", "runs", "trots"]
    )
    s["marching"] = (
      ["marching", "stepping with high knees"]
      if p["kind"] == "march"
      else ["jogging", "running lightly"]
    )
  return s


# Verb phrases (>= 8 per action; variants of an action keyed "action:variant").
VERB_PHRASES: dict[str, tuple[str, ...]] = {
  "walk": (
    "{walks} {dir} {spd}{turn}{arms}",
    "is {walking} {dir} {spd}{turn}",
    "takes {n} steps {dir}{turn}",
    "{walks} {dir}{turn} {spd}",
    "goes for a short walk {dir} {spd}{turn}",
    "makes {pos} way {dir} {spd}{turn}",
    "moves {dir} on foot {spd}{turn}{arms}",
    "walks {n} steps {dir} {spd}{turn}",
    "{walks} {spd} in a {dir} direction{turn}",
  ),
  "run": (
    "{runs} {dir}{turn}{arms}",
    "is {running} {dir}{turn}",
    "{runs} {dir} with the elbows bent{turn}",
    "breaks into {a_run}{turn}",
    "goes for {a_run} {dir}{turn}{arms}",
    "{runs} {dir} for {n} steps{turn}",
    "takes {n} running steps {dir}{turn}",
    "{runs} {dir} and slows to a stop{turn}",
    "starts {running} {dir}{turn}",
  ),
  "sidestep": (
    "steps sideways to the {d}",
    "side steps to the {d}",
    "moves to {pos} {d} with {steps}",
    "takes {n} {steps} to the {d}",
    "shuffles to the {d}",
    "moves sideways toward the {d} while facing forward",
    "slides to the {d} with small steps",
    "glides sideways to the {d}",
    "shifts to the {d} with {n} {steps}",
  ),
  "turn": (
    "{turns} {amount} to the {d}",
    "turns to the {d} in place",
    "steps in place and rotates to {pos} {d}",
    "pivots to the {d} with small steps",
    "{turns} {amount} toward the {d} on the spot",
    "turns {pos} body {amount} to the {d}",
    "faces to the {d} by turning {amount}",
    "rotates in place to the {d}",
    "swivels to the {d}",
  ),
  "step_over": (
    "steps over {obstacle}",
    "walks forward and steps over {obstacle}",
    "steps high over {obstacle} with the {lead} leg first",
    "lifts the knees high to step over {obstacle}",
    "climbs over {obstacle} leading with the {lead} foot",
    "walks and steps over {obstacle} on the ground",
    "clears {obstacle} with a high step",
    "takes a big step over {obstacle}, {lead} leg first",
  ),
  "jump": (
    "jumps {high} {where}{reps}",
    "crouches and jumps {where}{reps}",
    "bends the knees and jumps {where} {both}{reps}",
    "swings the arms and jumps {high} {where}{reps}",
    "does {a_jump} {where}",
    "leaps {where}{reps}",
    "hops {where} {both}{reps}",
    "performs {a_jump} {where}",
    "springs {high} {where}{reps}",
    "bounces {where}{reps}",
  ),
  "hop": (
    "{hops} on the {side} foot {where}",
    "hops {times} on one leg",
    "balances on the {side} leg and hops {where}",
    "hops {where} on the {side} foot with the {other} leg bent behind",
    "does {n} hops on the {side} leg",
    "hops {times} on {pos} {side} foot",
    "jumps on one foot, the {side}, {times}",
    "lifts the {other} foot and hops {where}",
  ),
  "jumping_jacks": (
    "does {jacks}",
    "does {n} {jacks}",
    "performs {n} {jacks}",
    "jumps and spreads the legs while raising the arms over the head",
    "jumps the feet apart and together with the arms going overhead",
    "does {jacks} {n} times",
    "is doing {jacks}",
    "exercises with {n} {jacks}",
  ),
  "squat": (
    "does {n} {depth} {squats}{arms}",
    "squats down and stands up {times}{arms}",
    "bends the knees into a {depth} squat{arms}",
    "lowers the hips and rises again {times}",
    "performs {n} {depth} {squats}",
    "squats {times}{arms}",
    "goes down into a {depth} squat {times}",
    "does {depth} {squats}, {n} in total",
    "sinks into a {depth} squat {times}",
    "dips down into a {depth} squat {times}",
  ),
  "crouch": (
    "crouches down{up}{look}",
    "squats low{look}{up}",
    "gets down low on the feet{up}",
    "crouches{look}{up}",
    "bends down into a crouch{up}",
    "lowers into a deep crouch{look}{up}",
    "ducks down{up}",
    "drops into a low crouch{up}",
  ),
  "sit:sit_down": (
    "sits down{chair}",
    "takes a seat{chair}",
    "bends the knees and sits{chair}",
    "sits down slowly{chair}",
    "lowers down to sit{chair}",
    "sits{chair}",
    "goes to sit down{chair}",
    "settles down{chair}",
  ),
  "sit:stand_up": (
    "stands up{chair}",
    "gets up from sitting",
    "rises from a seated position",
    "stands up from sitting",
    "gets up{chair}",
    "rises to a standing position",
    "goes from sitting to standing",
    "pushes up to stand",
  ),
  "sit:sit_down_stand_up": (
    "sits down and stands back up",
    "sits{chair} then gets up",
    "sits down briefly and rises again",
    "sits and then stands up",
    "takes a seat{chair} and gets up again",
    "sits down{chair} for a moment and stands up",
    "lowers to sit and rises again",
    "sits{chair} and stands up again",
  ),
  "lunge": (
    "does {n} {lunges} with {which}",
    "steps forward with the {side} leg and lowers into a lunge",
    "lunges forward {times}",
    "steps forward, bends both knees and steps back {times}",
    "performs {n} forward {lunges} with {which}",
    "lunges {times} with {which}",
    "does forward {lunges}, {n} in total",
    "lowers into a lunge {times}",
    "drops into a lunge {times}",
  ),
  "kick": (
    "kicks {high} with the {side} leg",
    "kicks {way} with the {side} foot",
    "kicks {way} {times} with {pos} {side} leg",
    "lifts the {side} knee and kicks out",
    "does {n} {high} {kicks} with the {side} leg",
    "throws {n} {kicks} {way} with the {side} foot",
    "kicks {times} using the {side} leg",
    "raises the {side} leg and kicks {way}",
  ),
  "side_kick": (
    "kicks {way} with the {side} leg",
    "does {n} side {kicks} with the {side} leg",
    "kicks {high} {way} using the {side} foot",
    "lifts the {side} leg {way} {times}",
    "leans away and kicks {way} with the {side} leg",
    "performs {n} side {kicks} on the {side}",
    "kicks out sideways with {pos} {side} leg {times}",
    "raises the {side} leg {way} and lowers it {times}",
  ),
  "back_kick": (
    "kicks {way} with the {side} leg",
    "does {n} back {kicks} with the {side} leg",
    "kicks the {side} foot {way} {times}",
    "leans forward and kicks {way} with the {side} leg",
    "swings the {side} leg {way} {times}",
    "performs {n} back {kicks} with {pos} {side} foot",
    "extends the {side} leg {way} {times}",
    "kicks {high} {way} with the {side} leg",
  ),
  "punch": (
    "punches with {with}",
    "punches {times} with {with}",
    "throws {n} {punches} with {with}",
    "holds a guard and punches forward with {with}",
    "boxes with {with}",
    "punches the air {times}",
    "throws {punches} forward with {with}",
    "does {n} {punches} with {with}",
    "jabs {times} with {with}",
    "strikes forward {times} with {with}",
    "hits the air with {with} {times}",
  ),
  "wave": (
    "waves {how} with {with}",
    "raises {with} and waves {how}",
    "waves {with} {how}",
    "lifts {with} and waves",
    "waves a greeting with {with}",
    "signals to someone by waving {with}",
    "waves {how} at someone with {with}",
    "signals with {with}",
    "waves {with} in the air",
    "waves to a friend with {with}",
    "waves at somebody across the room with {with}",
    "greets someone by waving {with}",
  ),
  "reach": (
    "reaches {where} with the {side} hand",
    "extends the {side} arm {where}",
    "reaches {where} with {pos} {side} arm and brings it back",
    "stretches the {side} hand {where}",
    "reaches {where} using the {side} arm",
    "extends {pos} {side} hand {where} and lowers it",
    "lifts the {side} arm {where} to reach",
    "reaches {where} for something with the {side} hand",
  ),
  "raise_arms": (
    "raises both arms {plane} {level}{reps}",
    "lifts the arms {level} and lowers them{reps}",
    "raises {pos} arms {plane}{reps}",
    "lifts both arms {plane} {level}",
    "puts both arms up {level}{reps}",
    "raises the arms {plane} {level} and brings them down{reps}",
    "holds the arms up {level}",
    "moves both arms {plane} and up {level}{reps}",
  ),
  "stretch:side_bend": (
    "stretches with the arms overhead and bends to each side",
    "raises both arms and leans side to side",
    "does side stretches",
    "stretches the sides of the body",
    "bends to the left and the right {times} with the arms up",
    "leans to each side {times} with the arms overhead",
    "does a side bend stretch",
    "stretches by bending sideways",
  ),
  "stretch:toe_touch": (
    "bends forward to stretch",
    "bends down toward the toes",
    "stretches by bending forward at the waist",
    "leans forward and reaches toward the floor",
    "touches the toes",
    "bends over to touch the toes {times}",
    "reaches down to the feet {times}",
    "folds forward at the hips",
  ),
  "stretch:torso_twist": (
    "twists the torso from side to side",
    "stretches by twisting the body with the arms out",
    "rotates the upper body left and right",
    "holds the arms out and twists",
    "twists the waist {times} each way",
    "turns the torso left and right with the arms out",
    "does torso twists",
    "twists from side to side {times}",
  ),
  "throw": (
    "throws {thing} with the {side} hand",
    "throws {thing} {style} with the {side} arm",
    "winds up and throws {thing} {style}",
    "throws {n} {things} with {pos} {side} hand",
    "makes a throwing motion with the {side} arm",
    "throws {thing} {times} using the {side} arm",
    "pulls the {side} arm back and throws",
    "tosses {thing} {style} with the {side} hand",
    "hurls {thing} with the {side} arm",
    "flings {thing} {style} using the {side} hand",
    "lobs {thing} {times} with the {side} hand",
  ),
  "pick_up": (
    "{how} and picks up {thing} with {with}",
    "picks up {thing} from the floor with {with}",
    "{how} to pick {thing} up",
    "reaches down and lifts {thing} with {with}",
    "picks {thing} up off the ground",
    "grabs {thing} from the floor with {with}",
    "{how}, grabs {thing} and stands up",
    "lifts {thing} from the ground using {with}",
    "collects {thing} from the floor with {with}",
    "retrieves {thing} lying on the ground",
  ),
  "bow": (
    "bows {deep}{reps}{hand}",
    "makes {a_bow}{hand}",
    "bows forward{reps}",
    "bends forward at the waist in {a_bow}",
    "takes {a_bow}{reps}",
    "bows to the audience{reps}",
    "performs {a_bow}{hand}",
    "bows the head and upper body {deep}{reps}",
    "bends politely in {a_bow}",
    "bows respectfully to the crowd{reps}",
    "bows courteously like a performer{hand}",
  ),
  "clap": (
    "claps the hands {times} {where}",
    "claps {tempo} {where}",
    "claps {n} times {tempo}",
    "claps the hands together {tempo}",
    "applauds {tempo} {where}",
    "brings the hands together {times}",
    "claps {pos} hands {n} times {where}",
    "gives a round of applause {where}",
    "cheers by clapping {tempo}",
    "claps enthusiastically {times}",
    "claps excitedly to the beat {where}",
  ),
  "balance": (
    "balances on the {side} leg{arms}",
    "stands on the {side} foot and {free}{arms}",
    "stands on one leg, the {side}, for a while{arms}",
    "{free} and balances on the {side} leg",
    "holds a balance on the {side} leg{arms}",
    "stands on one foot{arms}",
    "lifts the {other} leg and balances{arms}",
    "balances on one leg and {free}",
    "poses on the {side} leg like a flamingo",
    "holds a stork pose on the {side} leg",
  ),
  "dance": (
    "dances side to side {tempo}{arms}",
    "does step touch dance steps {tempo}{arms}",
    "dances with {n} steps from side to side{arms}",
    "steps from side to side to a beat{arms}",
    "does a simple dance, stepping to the {first} first{arms}",
    "sways and steps side to side{arms}",
    "dances {tempo}, stepping left and right",
    "grooves from side to side {tempo}{arms}",
    "bops from side to side{arms}",
    "does a little party dance {tempo}",
    "dances happily to the music{arms}",
    "dances cheerfully to a song, stepping side to side",
  ),
  "march": (
    "{march} in place",
    "{march} on the spot",
    "is {marching} in place",
    "{march} in place for {n} steps",
    "takes {n} steps in place",
    "stays in place while {marching}",
    "{march} without moving forward",
    "lifts the knees in turn, {marching} on the spot",
    "stomps in place",
  ),
}


# Vague phrases: true of every parameter setting of the action (no side, count, speed or
# direction), shared by similar actions, as annotators often write ("a person moves their arms").
# A segment is told this way with probability P_VAGUE (its own random stream, so the other
# captions do not change when P_VAGUE does).
P_VAGUE = 0.4
_MOVE = ("moves around", "moves across the floor", "travels a short distance", "goes on foot")
_JUMPS = ("jumps", "jumps around", "does some jumping", "bounces up and down")
_LEGS = ("does a leg exercise", "bends the knees", "exercises the legs", "works out")
_KICKS = ("kicks", "does a kick", "kicks out with one leg", "does some kicking")
_ARMS = (
  "moves the arms",
  "gestures with the hands",
  "does something with the arms",
  "moves the hands",
)
GENERIC: dict[str, tuple[str, ...]] = {
  "walk": _MOVE,
  "run": _MOVE,
  "sidestep": _MOVE,
  "step_over": _MOVE,
  "turn": ("changes direction", "turns", "turns on the spot", "rotates"),
  "jump": _JUMPS,
  "hop": _JUMPS,
  "jumping_jacks": _JUMPS,
  "squat": _LEGS,
  "lunge": _LEGS,
  "march": _LEGS,
  "crouch": ("gets low", "goes down low", "bends the knees"),
  "kick": _KICKS,
  "side_kick": _KICKS,
  "back_kick": _KICKS,
  "wave": _ARMS,
  "clap": _ARMS,
  "raise_arms": _ARMS,
  "reach": _ARMS,
  "punch": _ARMS,
  "throw": _ARMS,
  "bow": ("bends forward", "leans forward", "tips the upper body forward"),
  "pick_up": ("bends down", "reaches down", "reaches toward the floor"),
  "sit": ("changes position", "shifts position", "moves between sitting and standing"),
  "balance": ("balances", "holds a pose", "keeps the balance", "stays balanced"),
  "dance": ("dances", "moves to a rhythm", "does a dance", "dances a little"),
  "stretch": ("stretches", "does a stretch", "loosens up", "stretches the body"),
}


def phrase_key(action: str, p: dict) -> str:
  if action == "sit":
    return f"sit:{p['variant']}"
  if action == "stretch":
    return f"stretch:{p['kind']}"
  return action


_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, slot_values: dict[str, list[str]], rng: np.random.Generator) -> str:
  """Replaces every ``{slot}`` by one of its alternatives (drawn; nested slots too)."""
  for _ in range(4):
    if not _SLOT.search(template):
      break

    def pick(m):
      alts = slot_values[m.group(1)]
      return alts[int(rng.integers(len(alts)))]

    template = _SLOT.sub(pick, template)
  if _SLOT.search(template):
    raise ValueError(f"unfilled slot in {template!r}")
  return template


def _clean(s: str) -> str:
  s = re.sub(r"\s+", " ", s).strip()
  return re.sub(r"\s+,", ",", s)


def seconds(k: float) -> list[str]:
  n = max(1, int(round(k)))
  return [f"{c} {'second' if n == 1 else 'seconds'}" for c in count(n)]


def verb_phrase(
  action: str, params: dict, pos: str, rng: np.random.Generator, template: int | None = None
) -> tuple[str, int]:
  """One verb phrase for a segment (template drawn unless given) and the template index."""
  key = phrase_key(action, params)
  templates = VERB_PHRASES[key]
  k = int(rng.integers(len(templates))) if template is None else template
  sv = slots(action, params) | {"pos": [pos]}
  vp = fill(templates[k], sv, rng)
  if "duration_s" in params and rng.random() < 0.3:
    how = ["for about", "for around", "for roughly", "for"][int(rng.integers(4))]
    alts = seconds(params["duration_s"])
    vp += f" {how} {alts[int(rng.integers(len(alts)))]}"
  return _clean(vp), k


def caption(
  segments: list[dict],
  style: dict,
  rng: np.random.Generator,
  vague_rng: np.random.Generator | None = None,
) -> dict:
  """One caption of a sequence; returns the text and the templates used (-1: a vague phrase of
  :data:`GENERIC`, drawn from ``vague_rng`` with probability :data:`P_VAGUE`)."""
  subj, pos = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
  vps, used = [], []
  for seg in segments:
    vp, k = verb_phrase(seg["action"], seg["params"], pos, rng)
    if vague_rng is not None and vague_rng.random() < P_VAGUE:
      alts = GENERIC[seg["action"]]
      vp, k = alts[int(vague_rng.integers(len(alts)))], -1
    vps.append(vp)
    used.append(k)
  text = vps[0]
  for i, vp in enumerate(vps[1:], start=1):
    if len(vps) == 2:
      conn = TWO_CONNECTIVES
    elif i == len(vps) - 1:
      conn = FINAL_CONNECTIVES
    else:
      conn = CONNECTIVES
    text += conn[int(rng.integers(len(conn)))] + vp
  detail = POSTURE[style.get("posture", "normal")]
  detail = detail[int(rng.integers(len(detail)))] if rng.random() < 0.7 else ""
  frames = FRAMES + (SEQUENCE_FRAMES if len(segments) > 1 else ())
  frame = frames[int(rng.integers(len(frames)))]
  out = _clean(fill(frame, {"subj": [subj], "vps": [text]}, rng) + detail.replace("{pos}", pos))
  return {"caption": out, "templates": used}


# ------------------------------------------------------------------------------------------------
# KinMo group / interaction text of the new actions (version-1 actions reuse captions.py)
# ------------------------------------------------------------------------------------------------
def _planted(g):
  g.setdefault("left_leg", (False, "stays planted"))
  g.setdefault("right_leg", (False, "stays planted"))
  return g


def _kinmo_new(action: str, p: dict) -> tuple[dict, dict]:
  if action == "throw":
    s = p["side"]
    g = _planted(
      {
        "torso": (True, "twists back and then forward with the throw"),
        "head_neck": (False, "looks forward"),
        f"{s}_arm": (True, "swings back and then forward to throw"),
        f"{other(s)}_arm": (True, "moves forward for balance"),
      }
    )
    sp = {("torso", f"{s}_arm"): f"the torso twists forward as the {s} arm throws"}
  elif action == "pick_up":
    h = p["hands"]
    g = {
      "torso": (True, "bends forward and straightens"),
      "head_neck": (True, "looks down at the floor"),
      "left_leg": (p["method"] == "squat", "bends" if p["method"] == "squat" else "stays planted"),
      "right_leg": (
        p["method"] == "squat",
        "bends" if p["method"] == "squat" else "stays planted",
      ),
    }
    for s in ("left", "right"):
      act = h in (s, "both")
      g[f"{s}_arm"] = (act, "reaches down and lifts an object" if act else "hangs relaxed")
    sp = {("torso", "left_arm"): "the arm reaches the floor as the torso bends down"}
  elif action == "bow":
    g = _planted(
      {
        "torso": (True, "bends forward at the hips and comes back up"),
        "head_neck": (True, "lowers with the torso"),
        "left_arm": (False, "hangs at the side"),
        "right_arm": (
          p["hand"] == "chest",
          "rests on the chest" if p["hand"] == "chest" else "hangs at the side",
        ),
      }
    )
    sp = {("torso", "head_neck"): "the head lowers as the torso bends forward"}
  elif action == "clap":
    g = _planted(
      {
        "torso": (False, "stays upright"),
        "head_neck": (False, "looks forward"),
        "left_arm": (True, "opens and closes to clap"),
        "right_arm": (True, "opens and closes to clap"),
      }
    )
    sp = {("left_arm", "right_arm"): "the hands meet in front and move apart again"}
  elif action == "balance":
    s = p["side"]
    g = {
      "torso": (False, "stays upright over the standing leg"),
      "head_neck": (False, "looks forward"),
      f"{s}_leg": (False, "supports the whole body"),
      f"{other(s)}_leg": (True, "lifts off the floor and is held up"),
      "left_arm": (p["arms"] == "out", "is held out to the side" if p["arms"] == "out" else STILL),
      "right_arm": (
        p["arms"] == "out",
        "is held out to the side" if p["arms"] == "out" else STILL,
      ),
    }
    sp = {("left_leg", "right_leg"): f"the {s} leg stands while the {other(s)} leg is lifted"}
  elif action == "dance":
    g = {
      "torso": (True, "sways from side to side"),
      "head_neck": (False, "moves with the body"),
      "left_leg": (True, "steps out to the side and back"),
      "right_leg": (True, "steps out to the side and back"),
      "left_arm": (True, "swings to the beat" if p["arms"] == "swinging" else "is raised up"),
      "right_arm": (True, "swings to the beat" if p["arms"] == "swinging" else "is raised up"),
    }
    sp = {("left_leg", "right_leg"): "one leg steps out and the other leg follows it"}
  elif action == "march":
    g = {
      "torso": (False, "stays upright"),
      "head_neck": (False, "looks forward"),
      "left_leg": (True, "lifts the knee and steps down in place"),
      "right_leg": (True, "lifts the knee and steps down in place"),
      "left_arm": (True, "swings forward and back"),
      "right_arm": (True, "swings forward and back"),
    }
    sp = {
      ("left_leg", "right_leg"): "the legs lift in turn",
      ("left_arm", "right_leg"): "the left arm swings forward as the right knee lifts",
      ("right_arm", "left_leg"): "the right arm swings forward as the left knee lifts",
    }
  elif action in ("side_kick", "back_kick"):
    s = p["side"]
    way = "out to the side" if action == "side_kick" else "backward"
    g = {
      "torso": (True, "leans away from the kick"),
      "head_neck": (False, "looks forward"),
      f"{s}_leg": (True, f"kicks {way}"),
      f"{other(s)}_leg": (False, "supports the body on the floor"),
      "left_arm": (False, "is held bent in front"),
      "right_arm": (False, "is held bent in front"),
    }
    sp = {("left_leg", "right_leg"): f"the {other(s)} leg supports the body as the {s} leg kicks"}
  else:
    raise ValueError(f"no KinMo text for {action!r}")
  return g, sp


def segment_kinmo(action: str, params: dict) -> tuple[dict[str, str], dict[str, str]]:
  """Group phrases ``{group: phrase}`` and interaction sentences ``{"a|b": sentence}``."""
  if action in C._ACTION_TEXT:
    _, g, special = C._ACTION_TEXT[action](params, None)
  else:
    g, special = _kinmo_new(action, params)
  groups = {name: g.get(name, (False, STILL)) for name in GROUP_NAMES}
  inter = {}
  for i, j in PAIRS:
    a, b = GROUP_NAMES[i], GROUP_NAMES[j]
    sent = special.get((a, b)) or special.get((b, a)) or C._pair_sentence(a, b, groups)
    inter[f"{a}|{b}"] = C._clean(sent)
  return {k: C._clean(ph) for k, (_, ph) in groups.items()}, inter


def _join(parts: list[str]) -> str:
  merged = [p for k, p in enumerate(parts) if k == 0 or p != parts[k - 1]]
  return ", then ".join(merged)


def describe_sequence(
  segments: list[dict],
  style: dict,
  rng: np.random.Generator,
  n_captions: int = 3,
  vague_rng: np.random.Generator | None = None,
) -> dict:
  """Captions (distinct), KinMo group/interaction sentences over the segments, and per-segment
  annotations with start/end times (seconds)."""
  caps, seen = [], set()
  for _ in range(20 * n_captions):
    c = caption(segments, style, rng, vague_rng)
    if c["caption"] not in seen:
      seen.add(c["caption"])
      caps.append(c)
    if len(caps) == n_captions:
      break
  per = []
  for seg in segments:
    g, inter = segment_kinmo(seg["action"], seg["params"])
    per.append(
      {
        "action": seg["action"],
        "start": seg["start_s"],
        "end": seg["end_s"],
        "params": seg["params"],
        "groups": {k: f"the {C.GROUP_TEXT[k]} {v}" for k, v in g.items()},
        "interactions": inter,
      }
    )
  groups = {
    k: _clean(f"the {C.GROUP_TEXT[k]} " + _join([segment_kinmo_phrase(s, k) for s in per]))
    for k in GROUP_NAMES
  }
  inter = {k: _clean(_join([s["interactions"][k] for s in per])) for k in per[0]["interactions"]}
  return {
    "captions": [c["caption"] for c in caps],
    "templates": [c["templates"] for c in caps],
    "groups": groups,
    "interactions": inter,
    "segments": per,
  }


def segment_kinmo_phrase(seg: dict, group: str) -> str:
  prefix = f"the {C.GROUP_TEXT[group]} "
  return seg["groups"][group][len(prefix) :]
