"""The retrieval Motion Reasoner on hand-built banks with known nearest neighbours."""

import numpy as np
import pytest

from motion_jax.data.text_motion import reasoner as rs


def _unit(*angles_deg):
  a = np.deg2rad(np.asarray(angles_deg, np.float32))
  return np.stack([np.cos(a), np.sin(a)], -1)


# Four training captions on the unit circle at 0, 10, 20 and 90 degrees.
EXAMPLES = [
  {"captions": ["walk"], "kinmo_group_texts": ["legs step", "arms swing"],
   "kinmo_interaction_texts": ["opposite"]},
  {"captions": ["stroll"], "kinmo_group_texts": ["legs step", "arms still"],
   "kinmo_interaction_texts": ["opposite"]},
  {"captions": ["amble"], "kinmo_group_texts": ["legs step", "arms still"],
   "kinmo_interaction_texts": [""]},
  {"captions": ["wave"], "kinmo_group_texts": ["legs still", "arm raised"],
   "kinmo_interaction_texts": ["apart"]},
]  # fmt: skip
ANGLES = {"walk": 0, "stroll": 10, "amble": 20, "wave": 90}


def embed(texts):
  return _unit(*[ANGLES[t] for t in texts])


@pytest.fixture
def bank():
  return rs.build_bank(EXAMPLES, embed)


def test_nearest_copies_the_closest_example(bank):
  cfg = rs.ReasonerConfig(neighbours=3, rule="nearest")
  groups, inter = rs.reason(_unit(2), bank, cfg)
  assert groups == [("legs step", "arms swing")] and inter == [("opposite",)]
  groups, _ = rs.reason(_unit(80), bank, cfg)
  assert groups == [("legs still", "arm raised")]


def test_vote_weights_by_similarity_per_slot(bank):
  # Query at 2 degrees, 3 neighbours walk (cos 2), stroll (cos 8), amble (cos 18): "arms still"
  # collects cos 8 + cos 18 > cos 2, so it wins slot 2; slot 1 is unanimous.
  groups, inter = rs.reason(_unit(2), bank, rs.ReasonerConfig(neighbours=3))
  assert groups == [("legs step", "arms still")]
  # An empty proposal (amble's interaction) never wins over a non-empty one.
  assert inter == [("opposite",)]


def test_identical_caption_is_not_its_own_neighbour(bank):
  cfg = rs.ReasonerConfig(neighbours=1, rule="nearest", exclude_identical=True)
  idx, sim = rs.neighbours(embed(["walk"]), bank, cfg, query_captions=["walk"])
  assert bank.captions[idx[0, 0]] == "stroll" and np.isclose(sim[0, 0], np.cos(np.deg2rad(10)))
  idx, _ = rs.neighbours(embed(["walk"]), bank, rs.ReasonerConfig(1, "nearest", False), ["walk"])
  assert bank.captions[idx[0, 0]] == "walk"


def test_agreement_counts_non_empty_oracle_slots():
  pred = [("a", "b"), ("c", "x")]
  oracle = [("a", "b"), ("c", "")]
  out = rs.agreement(pred, oracle)
  assert out["slots"] == 3 and out["exact"] == 1.0
  out = rs.agreement(
    [("a", "z")], [("a", "b")], embed=lambda t: _unit(*[0 if s != "z" else 60 for s in t])
  )
  assert out["exact"] == 0.5 and np.isclose(out["cosine"], (1 + np.cos(np.deg2rad(60))) / 2)


def test_bad_inputs_raise_clearly(bank):
  with pytest.raises(ValueError, match="reasoner.rule"):
    rs.ReasonerConfig(rule="llm")
  with pytest.raises(ValueError, match="neighbours"):
    rs.ReasonerConfig(neighbours=0)
  with pytest.raises(ValueError, match=r"query embeddings must be \[Q, 2\]"):
    rs.reason(np.ones((1, 3)), bank, rs.ReasonerConfig())
  with pytest.raises(ValueError, match="no example has KinMo"):
    rs.build_bank([{"captions": ["walk"]}], embed)


def test_with_descriptions_replaces_only_the_texts():
  src = [{"captions": ["walk"], "kinmo_group_texts": ["a"], "motion": 1}]
  view = rs.WithDescriptions(src, [("b", "c")], [("d",)])
  ex = view[0]
  assert len(view) == 1 and ex["motion"] == 1 and list(ex["kinmo_group_texts"]) == ["b", "c"]
  assert list(ex["kinmo_interaction_texts"]) == ["d"] and src[0]["kinmo_group_texts"] == ["a"]
  with pytest.raises(ValueError, match="1 examples, 2 group rows"):
    rs.WithDescriptions(src, [(), ()], [()])
