"""The generators' shared `generate` block: caption / length parsing and token rounding."""

import pytest

from experiments import generation, t2m_diffusion
from experiments.generation import GenerateConfig


def test_parse_repeats_samples_and_defaults_the_length():
  g = GenerateConfig(texts=" a person walks | | a person jumps ", lengths="24,32", samples=2)
  assert g.parse(60) == (
    ["a person walks"] * 2 + ["a person jumps"] * 2,
    [24, 24, 32, 32],
  )
  assert GenerateConfig(texts="a|b").parse(60) == (["a", "b"], [60, 60])
  assert GenerateConfig(texts="a|b", lengths="40").frame_counts(2) == [40, 40]
  assert GenerateConfig(texts="a|b").frame_counts(2) is None
  for bad, match in (
    (GenerateConfig(texts=" | "), "no caption"),
    (GenerateConfig(texts="a", samples=0), "samples must be >= 1"),
    (GenerateConfig(texts="a|b|c", lengths="1,2"), "2 lengths for 3 captions"),
    (GenerateConfig(texts="a", lengths="ten"), "comma-separated frame counts"),
  ):
    with pytest.raises(ValueError, match=match):
      bad.parse(60)


def test_token_frames_round_down_clip_and_refuse_short():
  assert generation.token_frames([4, 7, 30, 200], 4, 64).tolist() == [4, 4, 28, 64]
  with pytest.raises(ValueError, match=r"\[3\] frame\(s\) is shorter than one token"):
    generation.token_frames([8, 3], 4, 64)


def test_t2m_diffusion_keeps_its_generate_block():
  assert t2m_diffusion.GenerateConfig is GenerateConfig
  assert dict(t2m_diffusion.get_config("tiny").generate) == {
    "texts": "", "lengths": "", "samples": 1, "out": "generated", "export_clips": 4,
  }  # fmt: skip
