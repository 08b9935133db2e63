"""Fuzz: corrupted `.mot` files raise `MotFormatError` or parse to exactly what the text says.

Small valid files (written by an independent f-string writer here, not by motion_jax) get one
corruption each. `parse_mot` must either raise `MotFormatError` naming the source, or return arrays
equal to a naive independent reading of the text and consistent with its header (nRows, nColumns),
finite, with unique labels and increasing times. Corruptions that change the row count must fail.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from motion_jax.data.formats.mot import MotFormatError, parse_mot

SOURCE = "<fuzz>"
JUNK = [
  "\t",
  " ",
  "\n",
  "\r",
  "x",
  "-",
  "+",
  ".",
  "e",
  "E",
  "nan",
  "inf",
  "NaN",
  "0",
  "9",
  ",",
  "\x00",
  "é",
  "=",
  "endheader",
  "time",
  "1_0",
  "0x1",
  "--1",
  "1e999",
  "\r\n",
]


@st.composite
def base_files(draw):
  n_rows = draw(st.integers(1, 4))
  n_cols = draw(st.integers(1, 3))
  labels = draw(
    st.lists(
      st.sampled_from(["a", "b", "knee_angle_r", "pelvis_ty", "x/activation", "c1"]),
      min_size=n_cols,
      max_size=n_cols,
      unique=True,
    )
  )
  steps = draw(st.lists(st.floats(0.001, 1.0), min_size=n_rows, max_size=n_rows))
  times = np.cumsum(steps) - steps[0]
  vals = draw(
    st.lists(
      st.floats(-1e3, 1e3, allow_nan=False), min_size=n_rows * n_cols, max_size=n_rows * n_cols
    )
  )
  sep = draw(st.sampled_from(["\t", " ", "  "]))
  fixed = draw(st.booleans())
  nl = draw(st.sampled_from(["\n", "\r\n"]))

  def fmt(v):
    return f"{v:16.8f}" if fixed else repr(float(v))

  if fixed:  # what the file says is what we expect back
    times = np.array([float(f"{t:.8f}") for t in times])
    vals = [float(f"{v:.8f}") for v in vals]
  if fixed and np.any(np.diff(times) <= 0):
    times = np.arange(n_rows) * 0.01
  table = np.concatenate([times[:, None], np.array(vals).reshape(n_rows, n_cols)], axis=1)
  head = [
    "Coordinates",
    "version=1",
    f"nRows={n_rows}",
    f"nColumns={n_cols + 1}",
    "inDegrees=yes",
    "",
    "free text",
    "endheader",
  ]
  lines = head + [sep.join(["time", *labels]) if sep == "\t" else " ".join(["time", *labels])]
  lines += [sep.join(fmt(v) for v in row) for row in table]
  return nl.join(lines) + nl, table, ["time", *labels]


@st.composite
def corruptions(draw, text):
  kind = draw(
    st.sampled_from(
      [
        "bad_value",
        "delete_line",
        "duplicate_line",
        "swap_lines",
        "insert",
        "replace_char",
        "delete_char",
        "truncate",
        "drop_endheader",
        "duplicate_label",
        "none",
      ]
    )
  )
  lines = text.split("\n")
  pos = draw(st.integers(0, max(len(text) - 1, 0)))
  junk = draw(st.sampled_from(JUNK))
  i = draw(st.integers(0, len(lines) - 2))
  j = draw(st.integers(0, len(lines) - 2))
  if kind == "delete_char":
    text = text[:pos] + text[pos + 1 :]
  elif kind == "insert":
    text = text[:pos] + junk + text[pos:]
  elif kind == "replace_char":
    text = text[:pos] + junk + text[pos + 1 :]
  elif kind == "delete_line":
    del lines[i]
    text = "\n".join(lines)
  elif kind == "duplicate_line":
    lines.insert(i, lines[i])
    text = "\n".join(lines)
  elif kind == "swap_lines":
    lines[i], lines[j] = lines[j], lines[i]
    text = "\n".join(lines)
  elif kind == "truncate":
    text = text[:pos]
  elif kind == "drop_endheader":
    text = text.replace("endheader", "")
  elif kind == "duplicate_label":
    k = text.index("endheader") + len("endheader")
    rest = text[k:].lstrip("\r\n")
    label_line = rest.split("\n")[0]
    labels = label_line.rstrip("\r").replace("\t", " ").split()
    if len(labels) >= 3:
      text = text.replace(label_line, label_line.replace(labels[2], labels[1]), 1)
  elif kind == "bad_value":
    tokens = text.split("endheader")[1].split()
    if len(tokens) > 5:
      tok = tokens[draw(st.integers(len(tokens) // 2, len(tokens) - 1))]
      text = text.replace(
        tok, draw(st.sampled_from(["nan", "inf", "-inf", "1e999", "", "NaN", "1.0.0"])), 1
      )
  return kind, text


def naive_read(text):
  """Independent, permissive reading of what the text says (no validation)."""
  lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
  end = next(k for k, ln in enumerate(lines) if ln.strip() == "endheader")
  label_line = lines[end + 1]
  labels = [s.strip() for s in label_line.split("\t")] if "\t" in label_line else label_line.split()
  rows = [[float(t) for t in ln.split()] for ln in lines[end + 2 :] if ln.strip()]
  header = {
    ln.split("=", 1)[0].strip(): ln.split("=", 1)[1].strip() for ln in lines[:end] if "=" in ln
  }
  return labels, np.array(rows), header


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupted_mot_files(data):
  text, table, labels = data.draw(base_files())
  kind, bad = data.draw(corruptions(text))
  try:
    m = parse_mot(bad, source=SOURCE)
  except MotFormatError as e:
    event(f"{kind}: MotFormatError")
    assert str(e).startswith(SOURCE), e
    assert kind != "none", f"valid file rejected: {e}"
    return
  event(f"{kind}: accepted")
  if kind == "none":
    assert list(m.names) == labels[1:]
    np.testing.assert_array_equal(m.times, table[:, 0])
    np.testing.assert_array_equal(m.values, table[:, 1:])
  assert kind not in ("drop_endheader",), "file without endheader accepted"
  if kind in ("delete_line", "duplicate_line") and bad.count("\n") != text.count("\n"):
    # A lost or repeated data row must never pass silently (nRows or time order catch it).
    assert naive_read(bad)[1].shape[0] == table.shape[0], "row count changed silently"
  # Whatever was accepted is exactly what the text says, and self-consistent.
  got_labels, rows, header = naive_read(bad)
  assert [m.time_label, *m.names] == got_labels
  assert len(set(got_labels)) == len(got_labels)
  np.testing.assert_array_equal(np.column_stack([m.times, m.values]), rows)
  assert np.all(np.isfinite(m.values)) and np.all(np.isfinite(m.times))
  assert np.all(np.diff(m.times) > 0)
  if "nRows" in header:
    assert m.n_frames == int(header["nRows"])
  if "nColumns" in header:
    assert len(m.names) + 1 == int(header["nColumns"])
  assert all(not math.isnan(v) for v in m.times)
