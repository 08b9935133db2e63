"""OpenCap / BIGE layouts: coordinate and muscle orders, and the shipped OpenCap models.

Orders from stanfordnmbl/opencap-processing, UtilsDynamicSimulations/OpenSimAD/mainOpenSimAD.py
(joints list ~L474, muscles ~L382, writer ~L2163, commit dd0b30c), as recorded in
data/opencap/SOURCE.md: BIGE's `kinematics_activations_<trial>_muscle_driven.mot` holds `time`, the
33 coordinates below (degrees / metres), then 80 `<muscle>/activation` columns (40 left, 40 right).
"""

from __future__ import annotations

from motion_jax.paths import opencap_path

BIGE_COORDINATES: tuple[str, ...] = (
  "pelvis_tilt",
  "pelvis_list",
  "pelvis_rotation",
  "pelvis_tx",
  "pelvis_ty",
  "pelvis_tz",
  "hip_flexion_l",
  "hip_adduction_l",
  "hip_rotation_l",
  "hip_flexion_r",
  "hip_adduction_r",
  "hip_rotation_r",
  "knee_angle_l",
  "knee_angle_r",
  "ankle_angle_l",
  "ankle_angle_r",
  "subtalar_angle_l",
  "subtalar_angle_r",
  "mtp_angle_l",
  "mtp_angle_r",
  "lumbar_extension",
  "lumbar_bending",
  "lumbar_rotation",
  "arm_flex_l",
  "arm_add_l",
  "arm_rot_l",
  "arm_flex_r",
  "arm_add_r",
  "arm_rot_r",
  "elbow_flex_l",
  "elbow_flex_r",
  "pro_sup_l",
  "pro_sup_r",
)

_MUSCLE_BASES: tuple[str, ...] = (
  "addbrev",
  "addlong",
  "addmagDist",
  "addmagIsch",
  "addmagMid",
  "addmagProx",
  "bflh",
  "bfsh",
  "edl",
  "ehl",
  "fdl",
  "fhl",
  "gaslat",
  "gasmed",
  "glmax1",
  "glmax2",
  "glmax3",
  "glmed1",
  "glmed2",
  "glmed3",
  "glmin1",
  "glmin2",
  "glmin3",
  "grac",
  "iliacus",
  "perbrev",
  "perlong",
  "piri",
  "psoas",
  "recfem",
  "sart",
  "semimem",
  "semiten",
  "soleus",
  "tfl",
  "tibant",
  "tibpost",
  "vasint",
  "vaslat",
  "vasmed",
)

#: 80 muscle names: the 40 left muscles, then the same 40 on the right.
BIGE_MUSCLES: tuple[str, ...] = tuple(f"{m}_l" for m in _MUSCLE_BASES) + tuple(
  f"{m}_r" for m in _MUSCLE_BASES
)
#: The matching activation column labels of the muscle-driven `.mot` files.
BIGE_ACTIVATION_COLUMNS: tuple[str, ...] = tuple(f"{m}/activation" for m in BIGE_MUSCLES)

#: Shipped model files (relative to data/opencap).
LAI_UHLRICH_2022 = "LaiUhlrich2022.osim"
LAI_ARNOLD_2017 = "LaiArnoldModified2017_poly_withArms_weldHand.osim"
LAI_ARNOLD_2017_CONTACTS = "LaiArnoldModified2017_contacts.osim"
SESSION_SCALED = "session_03284efb/LaiArnoldModified2017_poly_withArms_weldHand_scaled.osim"
#: The left/right pairs BIGE compares for symmetry (hip, knee, ankle flexion), and the angles of
#: its angular-velocity measure: those six and the pelvis tilt (the public code's set).
BIGE_LEG_PAIRS: tuple[tuple[str, str], ...] = (
  ("hip_flexion_l", "hip_flexion_r"),
  ("knee_angle_l", "knee_angle_r"),
  ("ankle_angle_l", "ankle_angle_r"),
)
BIGE_FLEXIONS: tuple[str, ...] = (
  "pelvis_tilt",
  "hip_flexion_l",
  "hip_flexion_r",
  "knee_angle_l",
  "knee_angle_r",
  "ankle_angle_l",
  "ankle_angle_r",
)

SQUATS_MOT = "squats1_videoAndMocap.mot"
WALK_MOT = "session_03284efb/walk.mot"


def load_opencap_model(name: str = LAI_UHLRICH_2022):
  """Parse one of the shipped OpenCap models (a file name relative to data/opencap)."""
  from motion_jax.skeletons.opensim_model import load_osim

  return load_osim(opencap_path(name))
