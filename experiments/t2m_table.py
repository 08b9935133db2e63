"""One table of every text-to-motion generator run: reads runs/*/results.json of kind "generator".

Each generator run (e.g. ``t2m_diffusion``) writes its rows (the generator, its scale-0 variant,
shuffled texts) and the "Real" row of its own evaluator. Rows are only comparable under one
evaluator and dataset, so the table groups the runs by (evaluator config, dataset) and prints one
Real row per group, then the group's physical-plausibility table (BioVAE Table II columns) for the
runs that report it. Writes ``results.md`` / ``results.json`` in the workdir.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import ml_collections

from experiments import presets
from motion_jax.config import config_dict, to_dict
from motion_jax.io import report
from motion_jax.metrics import generation as gen_lib
from motion_jax.reports import text_motion as text_motion_report

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int = 0
  runs: str = ""  # folder holding the runs ("" = <repo>/runs)


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  presets.check(preset)  # the table has no sizes: every preset is the same
  return config_dict(Config())


def collect(runs: pathlib.Path) -> list[tuple[pathlib.Path, dict]]:
  """``(run dir, results)`` of every ``*/results.json`` of kind "generator", sorted by path."""
  out = []
  for path in sorted(runs.glob("*/results.json")):
    try:
      res = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
      continue
    if isinstance(res, dict) and res.get("kind") == "generator":
      out.append((path.parent, res))
  return out


def _group_key(res: dict) -> str:
  cfg = res.get("config", {})
  return json.dumps(
    {"evaluator": cfg.get("evaluator"), "dataset": res.get("dataset", {}).get("root")},
    sort_keys=True,
  )


def _physics_table(members: list[tuple[pathlib.Path, dict]]) -> dict | None:
  """One plausibility table for a group: the Real row of its first run that has one, then every
  run's generator rows (runs written before the physics columns existed are left out)."""
  with_physics = [(d, r["plausibility"]) for d, r in members if "plausibility" in r]
  if not with_physics:
    return None
  first = with_physics[0][1]
  rows = {"Real": first["rows"]["Real"]}
  for d, phys in with_physics:
    if phys["config"] != first["config"]:
      continue  # other thresholds or band edges: not comparable
    rows.update({f"{d.name}: {k}": v for k, v in phys["rows"].items() if k != "Real"})
  return {"config": first["config"], "rows": rows}


def run(config: Config, workdir: str) -> dict:
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  runs = pathlib.Path(config.runs) if config.runs else ROOT / "runs"
  found = collect(runs)
  groups: dict[str, list[tuple[pathlib.Path, dict]]] = {}
  for d, res in found:
    groups.setdefault(_group_key(res), []).append((d, res))
  md = ["# Text-to-motion generators\n"]
  if not found:
    md.append(f"No generator results under {runs} (run e.g. `--experiment=t2m_diffusion:quick`).")
  tables = []
  for i, members in enumerate(groups.values()):
    real_dir, real_res = members[0]
    rows = [gen_lib.format_row("Real", real_res["results"]["Real"])]
    for d, res in members:
      for label, metrics in res["results"].items():
        if label != "Real":
          rows.append(gen_lib.format_row(f"{d.name}: {label}", metrics))
    root = real_res.get("dataset", {}).get("root", "?")
    md.append(f"## Evaluator group {i + 1}: dataset {root}\n")
    md.append(report.markdown_table(gen_lib.TABLE_HEADER, rows, "{}") + "\n")
    physics = _physics_table(members)
    if physics is not None:
      md.append("Physical plausibility:\n")
      md.append(text_motion_report.plausibility_markdown(physics))
    tables.append(
      {"dataset": root, "runs": [str(d) for d, _ in members], "rows": rows, "physics": physics}
    )
  out = {"kind": "table", "tables": tables, "config": to_dict(config)}
  report.write_json(workdir / "results.json", out)
  text = "\n".join(md) + "\n"
  (workdir / "results.md").write_text(text)
  print(text)
  return out
