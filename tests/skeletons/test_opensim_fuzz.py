"""Fuzz: corrupted `.osim` text raises `OsimFormatError` (naming the file) or parses; never
crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motion_jax.skeletons.opensim_model import OsimFormatError, load_osim

MODEL = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
<Model name="tiny">
<BodySet name="bodyset"><objects>
<Body name="b1"><mass>2</mass><mass_center>0 0.1 0</mass_center><inertia>1 1 1 0 0 0</inertia>\
</Body>
<Body name="b2"><mass>1</mass><mass_center>0 0 0</mass_center><inertia>1 1 1 0 0 0</inertia></Body>
</objects></BodySet>
<JointSet name="jointset"><objects>
<CustomJoint name="j1">
<socket_parent_frame>ground_offset</socket_parent_frame>
<socket_child_frame>b1_offset</socket_child_frame>
<coordinates><Coordinate name="q1"><default_value>0.25</default_value><range>-1 1</range>\
</Coordinate>
<Coordinate name="q2"><default_value>0</default_value><range>-1 1</range><clamped>true</clamped>\
</Coordinate></coordinates>
<frames>
<PhysicalOffsetFrame name="ground_offset"><socket_parent>/ground</socket_parent>
<translation>0 1 0</translation><orientation>0 0 0</orientation></PhysicalOffsetFrame>
<PhysicalOffsetFrame name="b1_offset"><socket_parent>/bodyset/b1</socket_parent>
<translation>0.5 0 0</translation><orientation>0 0.2 0</orientation></PhysicalOffsetFrame>
</frames>
<SpatialTransform>
<TransformAxis name="rotation1"><coordinates>q1</coordinates><axis>0 0 1</axis>
<LinearFunction name="function"><coefficients> 1 0</coefficients></LinearFunction></TransformAxis>
<TransformAxis name="rotation2"><coordinates>q2</coordinates><axis>1 0 0</axis>
<SimmSpline name="function"><x>0 0.5 1 1.5</x><y>0 0.1 0.3 0.2</y></SimmSpline></TransformAxis>
<TransformAxis name="rotation3"><coordinates></coordinates><axis>0 1 0</axis>
<Constant name="function"><value>0</value></Constant></TransformAxis>
<TransformAxis name="translation1"><coordinates>q2</coordinates><axis>1 0 0</axis>
<PolynomialFunction name="function"><coefficients>0.1 0.2 0.3</coefficients></PolynomialFunction>\
</TransformAxis>
<TransformAxis name="translation2"><coordinates></coordinates><axis>0 1 0</axis>
<MultiplierFunction name="function"><function><Constant name="function"><value>0.1</value>\
</Constant></function><scale>1.2</scale></MultiplierFunction></TransformAxis>
<TransformAxis name="translation3"><coordinates></coordinates><axis>0 0 1</axis>
<Constant name="function"><value>0</value></Constant></TransformAxis>
</SpatialTransform>
</CustomJoint>
<PinJoint name="j2"><socket_parent_frame>/bodyset/b1</socket_parent_frame>\
<socket_child_frame>/bodyset/b2</socket_child_frame>
<coordinates><Coordinate name="q3"><default_value>0</default_value></Coordinate></coordinates>\
</PinJoint>
</objects></JointSet>
<ConstraintSet name="constraintset"><objects>
<CoordinateCouplerConstraint name="c"><coupled_coordinates_function><LinearFunction>\
<coefficients> 1 0</coefficients></LinearFunction></coupled_coordinates_function>
<independent_coordinate_names>q1</independent_coordinate_names><dependent_coordinate_name>q2</dependent_coordinate_name><scale_factor>1</scale_factor></CoordinateCouplerConstraint>
</objects></ConstraintSet>
<MarkerSet name="markerset"><objects><Marker name="m1">\
<socket_parent_frame>/bodyset/b2</socket_parent_frame><location>0 0 0.1</location></Marker>\
</objects></MarkerSet>
</Model>
</OpenSimDocument>
"""

JUNK = [
  "<",
  ">",
  "/",
  '"',
  " ",
  "x",
  "nan",
  "-",
  "0",
  "1e999",
  "</Body>",
  "<Body>",
  "&",
  "\x00",
  "é",
  "\n",
]


def test_fuzz_base_model_parses(tmp_path):
  m = load_osim(_write(tmp_path, MODEL))
  assert m.coordinate_names == ("q1", "q2", "q3") and m.dependent_coordinate_names == ("q2",)
  assert len(m.markers) == 1


def _write(tmp_path, text):
  p = tmp_path / "fuzz.osim"
  p.write_bytes(text.encode("utf-8", "surrogatepass"))
  return p


@settings(
  max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
  pos=st.integers(0, len(MODEL) - 1),
  width=st.integers(0, 12),
  junk=st.sampled_from(JUNK),
  mode=st.sampled_from(["replace", "delete", "insert"]),
)
def test_corrupted_osim(tmp_path, pos, width, junk, mode):
  if mode == "delete":
    text = MODEL[:pos] + MODEL[pos + width :]
  elif mode == "insert":
    text = MODEL[:pos] + junk + MODEL[pos:]
  else:
    text = MODEL[:pos] + junk + MODEL[pos + width :]
  path = _write(tmp_path, text)
  try:
    model = load_osim(path)
  except OsimFormatError as e:
    assert str(path) in str(e)
    return
  # Accepted: a usable model.
  assert len(model.joints) == len(model.bodies)
  assert all(j.parent_body in (*model.body_names, "ground") for j in model.joints)
