"""The layering of docs/architecture.md holds: each package of motion_jax imports only the layers
below it, nothing in motion_jax imports experiments/, and benchmarks never import tests/."""

import ast
import pathlib

import pytest

from tests.conftest import REPO

# package -> motion_jax packages it may import (docs/architecture.md, "What may import what").
ALLOWED = {
  "paths": set(),
  "config": set(),
  "skeletons": {"paths"},
  "representations": {"paths", "skeletons"},
  "data": {"paths", "config", "skeletons", "representations"},
  "io": {"paths", "skeletons", "representations", "data"},
  "models": {"skeletons", "representations"},
  "losses": set(),
  "metrics": {"paths", "skeletons", "representations"},
  "train": {"config", "io"},
  "guidance": {"paths", "skeletons", "representations", "models", "losses"},
  "diffusion": {"models", "losses"},
  "unlearning": set(),  # pure codebook edits (jax / numpy only)
  "datagen": {"paths", "config", "skeletons", "representations", "data", "io", "metrics"},
  "stages": {
    "paths",
    "config",
    "skeletons",
    "representations",
    "data",
    "io",
    "models",
    "losses",
    "metrics",
    "train",
    "guidance",
    "diffusion",
    "unlearning",
    "datagen",
  },  # fmt: skip
  "reports": {
    "paths",
    "config",
    "skeletons",
    "representations",
    "data",
    "io",
    "models",
    "losses",
    "metrics",
    "guidance",
    "diffusion",
    "unlearning",
  },  # fmt: skip
}


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
  out = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      out += [(node.lineno, a.name) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      if node.module == "motion_jax":
        out += [(node.lineno, f"motion_jax.{a.name}") for a in node.names]
      else:
        out.append((node.lineno, node.module))
  return out


def _package(module: str) -> str:
  return module.split(".")[1].removesuffix(".py")


def test_every_package_has_a_layer():
  packages = {p.stem if p.is_file() else p.name for p in (REPO / "motion_jax").iterdir()}
  packages -= {"__init__", "__pycache__"}
  assert packages <= set(ALLOWED), packages - set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package):
  root = REPO / "motion_jax" / package
  files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
  bad = []
  for f in files:
    for line, module in _imports(f):
      if module.startswith("experiments") or module.startswith("tests"):
        bad.append(f"{f.relative_to(REPO)}:{line} imports {module}")
      elif module.startswith("motion_jax."):
        target = _package(module)
        if target != package and target not in ALLOWED[package]:
          bad.append(f"{f.relative_to(REPO)}:{line} imports {module} ({package} -> {target})")
  assert not bad, "\n".join(bad)


def test_benchmarks_do_not_import_tests():
  bad = [
    f"{f.relative_to(REPO)}:{line} imports {module}"
    for f in sorted((REPO / "benchmarks").glob("*.py"))
    for line, module in _imports(f)
    if module.startswith("tests")
  ]
  assert not bad, "\n".join(bad)


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(REPO).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles_between_modules():
  """Module-level graph, function-level imports included; importing a.b.c also imports the
  packages a and a.b (their __init__), which is how package re-exports close cycles."""
  files = {_module_name(f): f for f in (REPO / "motion_jax").rglob("*.py")}
  graph = {}
  for name, f in files.items():
    targets = set()
    for _, module in _imports(f):
      if not module.startswith("motion_jax"):
        continue
      for candidate in (module, module.rsplit(".", 1)[0]):  # `from pkg import submodule`
        if candidate in files:
          targets.add(candidate)
          break
      parts = module.split(".")
      targets |= {".".join(parts[:k]) for k in range(2, len(parts)) if ".".join(parts[:k]) in files}
    graph[name] = targets - {name}
  for name, targets in graph.items():  # a package imports its own submodules: not a cycle
    graph[name] = {t for t in targets if not name.startswith(t + ".")}
  visiting, done, cycles = set(), set(), []

  def visit(node, stack):
    visiting.add(node)
    for t in sorted(graph.get(node, ())):
      if t in visiting:
        cycles.append(" -> ".join(stack[stack.index(t) :] + [t]))
      elif t not in done:
        visit(t, stack + [t])
    visiting.discard(node)
    done.add(node)

  for node in sorted(graph):
    if node not in done:
      visit(node, [node])
  assert not cycles, "\n".join(cycles)
