"""`.mot`/`.sto` reading, writing, unit conversion and resampling, with OpenSim as the reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from motion_jax.data.formats.mot import (
  CoordinateUnitsError,
  CoordinateUnitsWarning,
  MotFormatError,
  check_coordinate_units,
  convert_units,
  coordinates_from_motion,
  format_mot,
  make_motion,
  parse_mot,
  range_checked_coordinates,
  read_mot,
  resample,
  rotational_mask,
  select_columns,
  write_mot,
)
from motion_jax.paths import opencap_path
from motion_jax.skeletons import opencap
from motion_jax.skeletons.opensim_model import load_osim

osim = pytest.importorskip("opensim")
osim.Logger.removeFileSink()  # no opensim.log next to the data files
osim.Logger.setLevelString("error")  # the models reference meshes we do not ship

SQUATS = opencap_path(opencap.SQUATS_MOT)
WALK = opencap_path(opencap.WALK_MOT)


@pytest.fixture(scope="module")
def squats():
  return read_mot(SQUATS)


@pytest.fixture(scope="module")
def model():
  return load_osim(opencap_path(opencap.LAI_UHLRICH_2022))


def _storage_table(path):
  """OpenSim's own reading of a file: (labels without time, times, values [T, C])."""
  table = osim.TimeSeriesTable(str(path))
  labels = list(table.getColumnLabels())
  values = table.getMatrix().to_numpy()
  return labels, np.array(table.getIndependentColumn()), values


def test_read_squats_header_and_values(squats):
  assert squats.name == "Coordinates"
  assert squats.n_frames == 801 and len(squats.names) == 35
  assert squats.in_degrees
  assert squats.metadata["nColumns"] == "36" and squats.metadata["version"] == "1"
  assert squats.rate == pytest.approx(100.0)
  assert squats.times[0] == 0.0 and squats.times[-1] == pytest.approx(8.0)
  # Values agree with OpenSim's reader.
  labels, times, values = _storage_table(SQUATS)
  assert labels == list(squats.names)
  np.testing.assert_array_equal(times, squats.times)
  np.testing.assert_array_equal(values, squats.values)
  assert squats.column("knee_angle_r").max() == pytest.approx(87, abs=1)  # degrees


@pytest.mark.parametrize("path", [SQUATS, WALK])
def test_round_trip_is_byte_identical(tmp_path, path):
  motion = read_mot(path)
  out = tmp_path / "rt.mot"
  write_mot(out, motion)
  assert out.read_bytes() == path.read_bytes()
  again = read_mot(out)
  np.testing.assert_array_equal(again.values, motion.values)
  np.testing.assert_array_equal(again.times, motion.times)
  assert again.names == motion.names and again.header == motion.header


def test_written_file_loads_in_opensim(tmp_path, squats, model):
  """A transformed motion (radians, reordered subset, exact reprs) is read back by OpenSim."""
  rad = select_columns(convert_units(squats, model, in_degrees=False), opencap.BIGE_COORDINATES)
  assert rad.float_format is None and not rad.in_degrees
  path = tmp_path / "bige.mot"
  write_mot(path, rad)
  labels, times, values = _storage_table(path)
  assert labels == list(opencap.BIGE_COORDINATES)
  np.testing.assert_array_equal(times, rad.times)
  np.testing.assert_array_equal(values, rad.values)  # exact: shortest round-trip reprs
  storage = osim.Storage(str(path))
  assert storage.getSize() == rad.n_frames and not storage.isInDegrees()
  assert read_mot(path).header[:4] == ("version=1", "nRows=801", "nColumns=34", "inDegrees=no")
  # A brand-new motion, written and read by OpenSim.
  new = make_motion(
    ["a", "b/activation"], [0.0, 0.5, 1.0], [[1.0, 0.1], [2.0, 0.2], [3.0, 1e-9]], False
  )
  write_mot(tmp_path / "new.sto", new)
  labels, times, values = _storage_table(tmp_path / "new.sto")
  assert labels == ["a", "b/activation"]
  np.testing.assert_array_equal(values, new.values)


def test_degree_conversion_matches_opensim(tmp_path, squats, model):
  """Only rotational coordinates convert (not translations, not the coupled *_beta columns)."""
  rad = convert_units(squats, model, in_degrees=False)
  storage = osim.Storage(str(SQUATS))
  om = osim.Model(str(opencap_path(opencap.LAI_UHLRICH_2022)))
  om.initSystem()
  om.getSimbodyEngine().convertDegreesToRadians(storage)
  storage.setInDegrees(False)
  storage.printResult(storage, "converted", str(tmp_path), -1.0, ".sto")
  labels, _, ref = _storage_table(tmp_path / "converted.sto")
  assert labels == list(rad.names)
  np.testing.assert_allclose(rad.values, ref, rtol=0, atol=1e-8)  # printResult keeps 8 decimals
  mask = rotational_mask(rad.names, model)
  assert not mask[rad.names.index("pelvis_tx")] and not mask[rad.names.index("knee_angle_r_beta")]
  assert mask[rad.names.index("knee_angle_r")]
  # beta (stored in radians by OpenSim) equals the knee angle once converted.
  np.testing.assert_allclose(rad.column("knee_angle_r_beta"), rad.column("knee_angle_r"), atol=1e-7)
  back = convert_units(rad, model, in_degrees=True)
  np.testing.assert_allclose(back.values, squats.values, atol=1e-12)


def test_select_reorder_and_coordinates(squats, model):
  sub = select_columns(squats, ["knee_angle_l", "pelvis_ty"])
  assert sub.names == ("knee_angle_l", "pelvis_ty")
  np.testing.assert_array_equal(sub.values[:, 1], squats.column("pelvis_ty"))
  q = coordinates_from_motion(squats, model, opencap.BIGE_COORDINATES)
  assert q.shape == (801, 33)
  np.testing.assert_allclose(q[:, 13], np.deg2rad(squats.column("knee_angle_r")))
  with pytest.raises(MotFormatError, match="not_here"):
    select_columns(squats, ["knee_angle_l", "not_here"])
  with pytest.raises(MotFormatError, match="not coordinates of model.*elbow_flex"):
    coordinates_from_motion(squats, model, ["elbow_flexion_r"])
  walk = read_mot(WALK)  # ISB-shoulder session: no arm_flex_* columns
  with pytest.raises(MotFormatError, match="arm_flex_l"):
    coordinates_from_motion(walk, model, opencap.BIGE_COORDINATES)


def test_resample_linear_and_cubic():
  t = np.linspace(0, 1, 11)  # 10 Hz
  vals = np.stack([2 * t + 1, t**3 - t, np.sin(2 * np.pi * t)], -1)
  m = make_motion(["lin", "cub", "sin"], t, vals, False)
  up = resample(m, 100.0, "cubic")
  assert up.n_frames == 101 and up.rate == pytest.approx(100.0)
  np.testing.assert_allclose(up.column("lin"), 2 * up.times + 1, atol=1e-12)
  np.testing.assert_allclose(
    up.column("cub"), up.times**3 - up.times, atol=1e-12
  )  # not-a-knot exact
  np.testing.assert_allclose(up.column("sin"), np.sin(2 * np.pi * up.times), atol=2e-2)
  lin = resample(m, 100.0, "linear")
  np.testing.assert_allclose(lin.column("lin"), 2 * lin.times + 1, atol=1e-12)
  down = resample(read_mot(SQUATS), 20.0)
  assert down.n_frames == 161 and down.times[-1] == pytest.approx(8.0)
  with pytest.raises(MotFormatError):
    resample(m, -1.0)
  with pytest.raises(MotFormatError):
    resample(m, 10.0, "quintic")


GOOD = (
  "Coordinates\nversion=1\nnRows=2\nnColumns=3\ninDegrees=yes\nendheader\n"
  "time\ta\tb\n0.0\t1\t2\n0.1\t3\t4\n"
)


def test_parse_small_and_space_separated():
  m = parse_mot(GOOD)
  np.testing.assert_array_equal(m.values, [[1, 2], [3, 4]])
  spaced = parse_mot("version=1\nendheader\ntime a b\n0 1 2\n 1   3 4 \n\n")
  assert spaced.name == "" and spaced.names == ("a", "b")
  np.testing.assert_array_equal(spaced.values, [[1, 2], [3, 4]])
  # Mixed number layouts ("0.0" and "1") are rewritten with reprs: same values, header kept.
  text = format_mot(parse_mot(GOOD))
  assert text.startswith(GOOD.split("time")[0]) and "0.1\t3.0\t4.0\n" in text
  assert parse_mot(format_mot(spaced)).values.tolist() == spaced.values.tolist()


@pytest.mark.parametrize(
  "text,match",
  [
    (GOOD.replace("endheader\n", ""), r"<string>: no 'endheader' line"),
    (GOOD.replace("0.1\t3\t4", "0.1\t3"), r"<string>:9: 2 values, expected 3"),
    (GOOD.replace("0.1\t3\t4", "0.1\t3\t4\t5"), r"<string>:9: 4 values, expected 3"),
    (GOOD.replace("\t3\t", "\tnan\t"), r"<string>:9: non-finite value 'nan' in column 2 \('a'\)"),
    (GOOD.replace("\t4\n", "\t-inf\n"), r"<string>:9: non-finite value '-inf' in column 3 \('b'\)"),
    (GOOD.replace("\t4\n", "\t1e999\n"), r"<string>:9: value '1e999' overflows"),
    (GOOD.replace("\t4\n", "\t4x\n"), r"<string>:9: not a number: '4x' in column 3"),
    (
      GOOD.replace("time\ta\tb", "time\ta\ta"),
      r"<string>:7: duplicate column 'a' \(columns 2 and 3\)",
    ),
    (GOOD.replace("time\ta\tb", "t\ta\tb"), r"<string>:7: first column must be 'time'"),
    (GOOD.replace("time\ta\tb", "time\t\tb"), r"<string>:7: empty column label at column 2"),
    (GOOD.replace("nRows=2", "nRows=3"), r"<string>:3: nRows=3 but the file has 2 data rows"),
    (
      GOOD.replace("nColumns=3", "nColumns=4"),
      r"<string>:4: nColumns=4 but the file has 3 columns",
    ),
    (GOOD.replace("inDegrees=yes", "inDegrees=maybe"), r"<string>:5: inDegrees must be yes or no"),
    (GOOD.replace("0.1\t3", "0.0\t3"), r"<string>:9: time is not strictly increasing"),
    (GOOD.replace("0.0\t1\t2\n", "0.0\t1\t2\n\n"), r"<string>:9: blank line between data rows"),
    (GOOD.split("time")[0], r"<string>:7: missing column-label line"),
    (GOOD.replace("0.0\t1\t2\n0.1\t3\t4\n", "").replace("nRows=2\n", ""), "no data rows"),
  ],
)
def test_bad_files_raise_mot_format_error(text, match):
  with pytest.raises(MotFormatError, match=match):
    parse_mot(text)


def test_read_errors_name_the_file(tmp_path):
  p = tmp_path / "broken.mot"
  p.write_text(GOOD.replace("\t3\t", "\tinf\t"))
  with pytest.raises(MotFormatError, match=r"broken\.mot:9: non-finite"):
    read_mot(p)
  p.write_bytes(b"\xff\xfe\x00binary")
  with pytest.raises(MotFormatError, match=r"broken\.mot"):
    read_mot(p)
  with pytest.raises(MotFormatError, match="cannot read"):
    read_mot(tmp_path / "missing.mot")


def test_writer_rejects_unwritable_motions(tmp_path):
  with pytest.raises(MotFormatError, match="non-finite"):
    format_mot(make_motion(["a"], [0.0], [[np.nan]], False))
  with pytest.raises(MotFormatError, match="label"):
    format_mot(make_motion(["a\tb"], [0.0], [[1.0]], False))
  with pytest.raises(MotFormatError, match="duplicate"):
    format_mot(make_motion(["a", "a"], [0.0], [[1.0, 2.0]], False))
  with pytest.raises(MotFormatError, match="increasing"):
    format_mot(make_motion(["a"], [0.0, 0.0], [[1.0], [2.0]], False))


def test_reads_files_written_by_opensim(tmp_path):
  """Both OpenSim writers: TimeSeriesTable's STO v3 (no name line) and Storage's fixed format."""
  table = osim.TimeSeriesTable()
  table.setColumnLabels(["a", "b/activation"])
  for i in range(3):
    row = osim.RowVector(2)
    row[0], row[1] = 0.5 * i, 1e-7 * i
    table.appendRow(0.1 * i, row)
  table.addTableMetaDataString("inDegrees", "no")
  osim.STOFileAdapter.write(table, str(tmp_path / "v3.sto"))
  v3 = read_mot(tmp_path / "v3.sto")
  assert v3.name == "" and v3.names == ("a", "b/activation") and not v3.in_degrees
  np.testing.assert_array_equal(v3.values, [[0, 0], [0.5, 1e-7], [1.0, 2e-7]])
  np.testing.assert_array_equal(v3.times, [0, 0.1, 0.2])
  storage = osim.Storage(str(tmp_path / "v3.sto"))
  storage.setName("stor")
  storage.printResult(storage, "v1", str(tmp_path), -1.0, ".sto")
  v1 = read_mot(tmp_path / "v1.sto")
  assert v1.name == "stor" and v1.float_format == "%16.8f"
  np.testing.assert_array_equal(v1.values, v3.values)
  write_mot(tmp_path / "v1_again.sto", v1)  # Storage's own layout round-trips byte for byte
  assert (tmp_path / "v1_again.sto").read_bytes() == (tmp_path / "v1.sto").read_bytes()


# ----------------------------------------------------------------------------------------------
# Unit sanity: the inDegrees header against the numbers and the model's coordinate ranges.


def _with_header(tmp_path, name, text):
  p = tmp_path / name
  p.write_text(text)
  return p


def test_wrong_in_degrees_header_raises_naming_file_and_coordinate(tmp_path, squats, model):
  """The real squat file with inDegrees=no (degrees read as radians), and a radians copy of it
  labelled inDegrees=yes: both raise naming the file and the worst coordinate; the real one reads.
  """
  q = coordinates_from_motion(squats, model)  # the correct file passes
  knee = model.independent_coordinate_names.index("knee_angle_r")
  np.testing.assert_allclose(q[:, knee], np.deg2rad(squats.column("knee_angle_r")))
  # (a) degrees labelled radians.
  bad = _with_header(
    tmp_path, "squats_no.mot", SQUATS.read_text().replace("inDegrees=yes", "inDegrees=no")
  )
  with pytest.raises(CoordinateUnitsError) as e:
    coordinates_from_motion(read_mot(bad), model)
  m, msg = e.value.mismatch, str(e.value)
  assert isinstance(e.value, MotFormatError) and isinstance(e.value, ValueError)
  assert m.rule == "far_outside_range" and m.likely_in_degrees is True
  assert m.coordinate == "hip_flexion_r"  # the worst: 105.7 "rad" against a 2.09 rad limit
  assert msg.startswith(f"{bad}: coordinate 'hip_flexion_r' is far outside its range")
  assert "the header says inDegrees=no" in msg and "set inDegrees=yes in its header" in msg
  assert "105.7 rad (6056 deg)" in msg and "1.845 rad (105.7 deg), inside the range" in msg
  assert "[-0.5236, 2.094] rad ([-30, 120] deg)" in msg and "on_mismatch='warn'" in msg
  # (b) radians labelled degrees.
  rad = convert_units(squats, model, in_degrees=False).replace(in_degrees=True)
  write_mot(tmp_path / "squats_rad_yes.mot", rad)
  bad_rad = read_mot(tmp_path / "squats_rad_yes.mot")
  assert bad_rad.metadata["inDegrees"] == "yes"
  with pytest.raises(CoordinateUnitsError) as e:
    coordinates_from_motion(bad_rad, model)
  m, msg = e.value.mismatch, str(e.value)
  assert m.rule == "radians_labelled_degrees" and m.likely_in_degrees is False
  assert msg.startswith(f"{tmp_path / 'squats_rad_yes.mot'}: coordinate 'hip_flexion_r' looks like")
  assert "read as degrees is 0.0322 rad (1.845 deg), read as radians 1.845 rad (105.7 deg)" in msg
  assert "Set inDegrees=no in the header" in msg
  # The same radians labelled correctly pass and give the same coordinates.
  write_mot(tmp_path / "squats_rad_no.mot", rad.replace(in_degrees=False))
  q_rad = coordinates_from_motion(read_mot(tmp_path / "squats_rad_no.mot"), model)
  np.testing.assert_allclose(q_rad, q, atol=1e-12)


def test_unit_mismatch_warn_and_ignore_modes(tmp_path, squats, model):
  wrong = squats.replace(in_degrees=False)  # degrees read as radians
  with pytest.warns(CoordinateUnitsWarning, match="hip_flexion_r.*set inDegrees=yes"):
    q = coordinates_from_motion(wrong, model, opencap.BIGE_COORDINATES, on_mismatch="warn")
  # Returned as declared (radians, i.e. unconverted numbers).
  np.testing.assert_array_equal(q, select_columns(squats, opencap.BIGE_COORDINATES).values)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    q2 = coordinates_from_motion(wrong, model, opencap.BIGE_COORDINATES, on_mismatch="ignore")
  np.testing.assert_array_equal(q2, q)
  found = check_coordinate_units(wrong, model, on_mismatch="ignore")
  assert found is None
  with pytest.warns(CoordinateUnitsWarning):
    found = check_coordinate_units(wrong, model, on_mismatch="warn")
  assert found.coordinate == "hip_flexion_r" and found.frame == 717
  with pytest.raises(ValueError, match="on_mismatch must be one of"):
    coordinates_from_motion(squats, model, on_mismatch="silently")


def test_small_motion_in_degrees_labelled_radians_is_caught(squats, model):
  """A small motion (a 5 deg hip flexion) stays within 2 pi of the ranges when its degrees are read
  as radians; it is caught because read as degrees every coordinate fits its range."""
  rot = rotational_mask(squats.names, model)
  small = squats.replace(values=np.where(rot, 0.05 * squats.values, squats.values))
  assert check_coordinate_units(small, model) is None  # as degrees: fine
  with pytest.raises(CoordinateUnitsError, match=r"hip_flexion_r.*set inDegrees=yes") as e:
    check_coordinate_units(small.replace(in_degrees=False), model)
  assert e.value.mismatch.rule == "fits_other_unit"


def test_unit_check_accepts_legitimate_radians(squats, model):
  """No false alarms: modest range violations, wound-up root rotation, coordinates without a
  usable range, a file without inDegrees line, arrays; and the walk trial with its own model."""
  names = opencap.BIGE_COORDINATES
  rad = select_columns(convert_units(squats, model, in_degrees=False), names)
  v = rad.values.copy()
  v[:, names.index("knee_angle_r")] -= 1.0  # 57 deg of knee hyperextension: beyond range, allowed
  v[:, names.index("pelvis_rotation")] += np.linspace(0, 40, rad.n_frames)  # six turns
  v[:, names.index("arm_flex_r")] = 9.0  # range +-10 rad: carries no unit information
  assert check_coordinate_units(rad.replace(values=v), model) is None
  assert "pelvis_rotation" not in range_checked_coordinates(model)
  assert "arm_flex_r" not in range_checked_coordinates(model)
  assert {"knee_angle_r", "elbow_flex_l", "lumbar_rotation"} <= range_checked_coordinates(model)
  assert check_coordinate_units(v, model, names, in_degrees=False) is None
  # The same array declared as degrees is radians written as degrees.
  with pytest.raises(CoordinateUnitsError, match="<values>: coordinate 'hip_flexion_r' looks like"):
    check_coordinate_units(rad.values, model, names, in_degrees=True)
  walk = read_mot(WALK)
  session = load_osim(opencap_path(opencap.SESSION_SCALED))
  assert check_coordinate_units(walk, session) is None
  assert "sh_axial_rot_r" not in range_checked_coordinates(session)  # a full turn: [-pi, pi]
  # Without an inDegrees line the file is read as radians, and the message says so.
  text = SQUATS.read_text().replace("inDegrees=yes\n", "")
  with pytest.raises(CoordinateUnitsError, match="the header has no inDegrees line"):
    coordinates_from_motion(parse_mot(text, source="noflag.mot"), model)


TWO_MODELS = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000"><Model name="{name}">
<BodySet name="bodyset"><objects>
<Body name="b1"><mass>2</mass><mass_center>0 0.1 0</mass_center><inertia>1 1 1 0 0 0</inertia>\
</Body>
<Body name="b2"><mass>1</mass><mass_center>0 0.1 0</mass_center><inertia>1 1 1 0 0 0</inertia>\
</Body>
</objects></BodySet>
<JointSet name="jointset"><objects>
{root}
<PinJoint name="elbow"><socket_parent_frame>/bodyset/b1</socket_parent_frame>\
<socket_child_frame>/bodyset/b2</socket_child_frame>
<coordinates><Coordinate name="elbow_flex"><range>0 2.5</range></Coordinate></coordinates>\
</PinJoint>
</objects></JointSet>
</Model></OpenSimDocument>
"""
FLOATING_ROOT = """<FreeJoint name="root"><socket_parent_frame>/ground</socket_parent_frame>\
<socket_child_frame>/bodyset/b1</socket_child_frame><coordinates>
<Coordinate name="rx"><range>-1 1</range></Coordinate><Coordinate name="ry"><range>-1 1</range>\
</Coordinate><Coordinate name="rz"><range>-1 1</range></Coordinate>
<Coordinate name="tx"/><Coordinate name="ty"/><Coordinate name="tz"/></coordinates></FreeJoint>"""
FIXED_ROOT = """<PinJoint name="shoulder"><socket_parent_frame>/ground</socket_parent_frame>\
<socket_child_frame>/bodyset/b1</socket_child_frame>
<coordinates><Coordinate name="shoulder_elev"><range>-1.5 2</range></Coordinate></coordinates>\
</PinJoint>"""


def test_unit_check_on_other_models_fixed_and_floating_base(tmp_path):
  """Not just the OpenCap models: a floating base's rotations carry no unit information (a body
  can lie down or turn), a fixed-base joint on the ground keeps its anatomical range."""
  floating = tmp_path / "floating.osim"
  floating.write_text(TWO_MODELS.format(name="floating", root=FLOATING_ROOT))
  fixed = tmp_path / "fixed.osim"
  fixed.write_text(TWO_MODELS.format(name="arm", root=FIXED_ROOT))
  floating, fixed = load_osim(floating), load_osim(fixed)
  assert range_checked_coordinates(floating) == {"elbow_flex"}
  assert range_checked_coordinates(fixed) == {"shoulder_elev", "elbow_flex"}
  t = np.linspace(0, 1, 11)
  deg = np.stack([np.linspace(0, 80, 11), np.linspace(5, 60, 11)], 1)  # a raise and a bend
  arm = make_motion(["shoulder_elev", "elbow_flex"], t, deg, in_degrees=True)
  assert check_coordinate_units(arm, fixed) is None
  with pytest.raises(CoordinateUnitsError, match="coordinate 'shoulder_elev' is far outside"):
    check_coordinate_units(arm.replace(in_degrees=False), fixed)
  # The floating base turning and tumbling by several turns (radians) is fine...
  free = np.stack([np.linspace(0, 20, 11), np.linspace(0, -9, 11), np.zeros(11), deg[:, 1]], 1)
  names = ["rx", "ry", "rz", "elbow_flex"]
  free[:, 3] = np.deg2rad(free[:, 3])
  assert check_coordinate_units(free, floating, names, in_degrees=False) is None
  # ...and the elbow still tells degrees labelled radians apart.
  free[:, 3] = deg[:, 1]
  with pytest.raises(CoordinateUnitsError, match="coordinate 'elbow_flex'"):
    check_coordinate_units(free, floating, names, in_degrees=False)
