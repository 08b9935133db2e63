"""Result files every experiment writes: results.json, results.md (markdown tables) and figures."""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def jsonable(x: Any) -> Any:
  if isinstance(x, Mapping):
    return {str(k): jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [jsonable(v) for v in x]
  if isinstance(x, np.generic):
    return x.item()
  if isinstance(x, np.ndarray):
    return x.tolist()
  if isinstance(x, float) and not math.isfinite(x):
    return str(x)
  return x


def write_json(path: str | pathlib.Path, data: Mapping[str, Any]) -> None:
  path = pathlib.Path(path)
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(json.dumps(jsonable(data), indent=2) + "\n")
  tmp.replace(path)  # atomic: a crash never leaves a half-written result


def markdown_table(
  header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "{:.4g}"
) -> str:
  def cell(v):
    return fmt.format(v) if isinstance(v, (float, np.floating)) else str(v)

  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def plot_series(
  path: str | pathlib.Path,
  t: np.ndarray,
  series: Mapping[str, np.ndarray],
  *,
  title: str,
  xlabel: str,
  ylabel: str,
  panels: Sequence[Sequence[str]] | None = None,
  styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
  """Line plot(s): one panel per group of series names (default: one panel, all series);
  ``styles`` maps a series name to matplotlib line keywords (colour, linestyle) so that a
  series keeps its look across panels (default: matplotlib's colour cycle per panel)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  panels = panels or [list(series)]
  fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), squeeze=False)
  for ax, names in zip(axes[:, 0], panels):
    for name in names:
      ax.plot(t, series[name], label=name, **{"lw": 1.4, **(styles or {}).get(name, {})})
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
  axes[-1, 0].set_xlabel(xlabel)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
