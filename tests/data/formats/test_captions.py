"""Caption parsing: HumanML3D texts lines, TMR annotations.json, time windows, malformed input."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motion_jax.data.formats import captions as caps
from motion_jax.paths import data_path

LINE = (
  "a man kicks with his left leg.#a/DET man/NOUN kick/VERB with/ADP his/DET left/ADJ "
  "leg/NOUN#0.0#0.0"
)


def test_whole_clip_line():
  c = caps.parse_caption_line(LINE + "\n")
  assert c.text == "a man kicks with his left leg."
  assert c.tokens == (
    "a/DET",
    "man/NOUN",
    "kick/VERB",
    "with/ADP",
    "his/DET",
    "left/ADJ",
    "leg/NOUN",
  )
  assert c.is_whole_clip
  assert c.frame_window(20.0, 170) == (0, 170)


@pytest.mark.parametrize("times", ["nan#nan", "0#0", "NaN#0.0"])
def test_nan_and_zero_times_mean_whole_clip(times):
  c = caps.parse_caption_line(f"x#x/NOUN#{times}")
  assert c.is_whole_clip and c.start is None and c.end is None


def test_sub_segment_frames_follow_int_start_times_fps():
  c = caps.parse_caption_line("x#x/NOUN#1.33#4.07")
  assert not c.is_whole_clip
  # [int(1.33 * 20), int(4.07 * 20)) = [26, 81)
  assert c.frame_window(20.0, 170) == (26, 81)
  # end past the clip is clipped to the clip
  assert caps.parse_caption_line("x#x#2.0#100.0").frame_window(20.0, 170) == (40, 170)
  # start 0 with an end: a window from the clip start; NaN end: to the clip end
  assert caps.parse_caption_line("x#x#0.0#3.0").frame_window(20.0, 170) == (0, 60)
  assert caps.parse_caption_line("x#x#2.0#nan").frame_window(20.0, 170) == (40, 170)


@pytest.mark.parametrize(
  "line, match",
  [
    ("no fields here", r"f\.txt:3: expected 4 '#'-separated fields.*got 1"),
    ("a#b#0.0", r"got 3"),
    ("a # b#c#0.0#0.0", r"got 5"),
    ("walk#walk/VERB#one#2.0", r"f\.txt:3: start time 'one' is not a number"),
    ("walk#walk/VERB#1.0#", r"end time '' is not a number"),
    ("walk#walk/VERB#3.0#2.0", r"f\.txt:3: start 3.0 s is after end 2.0 s"),
    ("walk#walk/VERB#-1.0#2.0", r"negative"),
    ("walk#walk/VERB#0#inf", r"infinite"),
    ("  #walk/VERB#0#0", r"empty caption"),
  ],
)
def test_malformed_lines_name_file_and_line(line, match):
  with pytest.raises(caps.CaptionFormatError, match=match):
    caps.parse_caption_line(line, path="f.txt", lineno=3)


def test_read_file_reports_line_number(tmp_path):
  p = tmp_path / "012314.txt"
  p.write_text(f"{LINE}\n\n{LINE}\nbroken#line\n")
  with pytest.raises(caps.CaptionFormatError, match=r"012314\.txt:4:"):
    caps.read_humanml3d_captions(p)
  p.write_text(f"{LINE}\n\nsecond#second/ADJ#1.0#3.0\n")
  got = caps.read_humanml3d_captions(p)
  assert [c.text for c in got] == ["a man kicks with his left leg.", "second"]
  p.write_bytes(b"\xff\xfe bad")
  with pytest.raises(caps.CaptionFormatError, match="not UTF-8"):
    caps.read_humanml3d_captions(p)


def test_group_caption_windows():
  lines = ["a#a#0#0", "b#b#1.0#3.0", "c#c#nan#nan", "d#d#1.0#3.0", "e#e#0.0#8.5", "f#f#2#4"]
  wins = caps.group_caption_windows([caps.parse_caption_line(x) for x in lines], 20.0, 170)
  # whole-clip first (e covers [0, 170) after clipping), then windows in order of appearance
  assert [
    (w.start_frame, w.end_frame, w.whole_clip, [c.text for c in w.captions]) for w in wins
  ] == [
    (0, 170, True, ["a", "c", "e"]),
    (20, 60, False, ["b", "d"]),
    (40, 80, False, ["f"]),
  ]
  assert wins[1].n_frames == 40


def test_shipped_tmr_kitml_annotations():
  ann = caps.read_tmr_annotations(data_path("tmr_annotations", "kitml", "annotations.json"))
  # SOURCE.md: 5766 KIT ids, 12164 captions
  assert len(ann) == 5766
  assert sum(len(a.captions) for a in ann.values()) == 12164
  a = ann["00004"]
  assert a.duration == pytest.approx(5.66) and a.path == "KIT/4/WalkingStraightForward04_poses"
  assert [c.text for c in a.captions] == [
    "A person walks forward at medium speed.",
    "human slowly goes forward",
  ]
  assert all(c.is_whole_clip and c.tokens == () for c in a.captions)


def test_tmr_sub_segment_and_errors(tmp_path):
  good = {
    "7": {
      "path": "p",
      "duration": 5.0,
      "annotations": [
        {"seg_id": "7_0", "text": "t", "start": 1.0, "end": 2.5},
        {"seg_id": "7_1", "text": "u", "start": 0.0, "end": 4.9999},
      ],
    }
  }
  got = caps.parse_tmr_annotations(good)["7"].captions
  assert got[0].frame_window(20.0, 100) == (20, 50)
  assert got[1].is_whole_clip
  bad = json.loads(json.dumps(good))
  bad["7"]["annotations"][0]["start"] = 3.0
  with pytest.raises(caps.CaptionFormatError, match=r"\['7'\]\['annotations'\]\[0\].*after end"):
    caps.parse_tmr_annotations(bad, path="ann.json")
  bad["7"]["annotations"][0] = {"text": "t", "start": "x", "end": 1}
  with pytest.raises(caps.CaptionFormatError, match="non-numeric"):
    caps.parse_tmr_annotations(bad)
  with pytest.raises(caps.CaptionFormatError, match="lacks"):
    caps.parse_tmr_annotations({"7": {"duration": 1, "annotations": [{"text": "t"}]}})
  with pytest.raises(caps.CaptionFormatError, match="'duration' and 'annotations'"):
    caps.parse_tmr_annotations({"7": {"annotations": []}})
  p = tmp_path / "annotations.json"
  p.write_text('{"7": {"duration": 1.0,\n "annotations": [}')
  with pytest.raises(caps.CaptionFormatError, match=r"annotations\.json:2: invalid JSON"):
    caps.read_tmr_annotations(p)


def test_times_are_floats_not_nan_after_parse():
  c = caps.parse_caption_line("x#x#0.25#1.5")
  assert c.start == 0.25 and c.end == 1.5 and not math.isnan(c.start)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab #/.0123456789-naNinfe\t"), max_size=40))
def test_fuzz_lines_parse_or_raise_caption_format_error(line):
  try:
    c = caps.parse_caption_line(line, path="fuzz.txt", lineno=1)
  except caps.CaptionFormatError as e:
    assert str(e).startswith("fuzz.txt:1: ")
  else:
    assert c.text and (c.start is None or c.end is None or c.start <= c.end)
    a, b = c.frame_window(20.0, 100)
    assert 0 <= a <= 100 and 0 <= b <= 100
