"""Locations of the project's shipped data (the repository's top-level `data/` folder)."""

from __future__ import annotations

from pathlib import Path

#: <repo>/data (this file is <repo>/motion_jax/paths.py).
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
#: OpenCap models and motions copied from stanfordnmbl/opencap-processing (see SOURCE.md there).
OPENCAP_DIR = DATA_DIR / "opencap"


def data_path(*parts: str) -> Path:
  """Path under the project's data folder; raises FileNotFoundError naming it when absent."""
  p = DATA_DIR.joinpath(*parts)
  if not p.exists():
    raise FileNotFoundError(f"shipped data file missing: {p}")
  return p


def opencap_path(*parts: str) -> Path:
  """Path under data/opencap (e.g. `opencap_path("LaiUhlrich2022.osim")`)."""
  return data_path("opencap", *parts)
