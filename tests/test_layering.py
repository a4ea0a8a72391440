"""The package's layers, enforced over its imports: a lower layer never imports a higher one.

    errors, notation, cache -> models -> corpus -> analysis -> lit -> server -> notebook
      -> cli/commands -> bench

Every import in every module of exbert_lit/ counts, at the top or inside a function (a lazy
import is still a dependency). The lowest layer is standard library only. A new top-level module
or package must be given a layer in LAYERS; a module placed apart from its folder is in PLACED.
"""
from __future__ import annotations

import ast
import pathlib
import sys
from typing import Iterator, Optional

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "exbert_lit"

# Lowest first. A name is a module (errors.py) or a subpackage (models/) of exbert_lit.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "notation", "cache"),   # standard library only
    ("models",),
    ("corpus",),
    ("analysis",),
    ("lit",),
    ("server",),
    ("notebook",),   # the widget (on the server) and the plain-Python API for notebooks
    ("cli", "commands", "__main__"),
    ("bench",),
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}
LAYER_NAMES = [" / ".join(names) for names in LAYERS]
# Modules placed apart from their folder, each with why.
PLACED = {
    # `exbert-lit bench` is the bench's own front end: it runs the sections of exbert_lit/bench,
    # so it sits on the bench. Nothing imports it: cli.py loads commands by name (importlib).
    "exbert_lit.commands.bench": "bench",
}


def module_name(path: pathlib.Path) -> str:
  """exbert_lit/corpus/build.py -> exbert_lit.corpus.build (a package's __init__ -> the package)."""
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> Optional[int]:
  """The layer of exbert_lit.<top>...; None for the root package (its exports are lazy) and for
  modules outside exbert_lit. KeyError for a top-level name LAYERS does not place."""
  parts = module.split(".")
  if parts[0] != "exbert_lit" or len(parts) == 1:
    return None
  return LAYER_OF[PLACED.get(module, parts[1])]


def _is_package_member(module: str, name: str) -> bool:
  """Whether `from module import name` imports a submodule (a file or folder beside it)."""
  folder = PACKAGE.parent.joinpath(*module.split("."))
  return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
  """(line, absolute module name) of every import in `source`, nested ones included."""
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      if node.level:   # relative: from the module's own package upwards
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
      else:
        target = node.module
      for alias in node.names:
        member = f"{target}.{alias.name}"
        yield node.lineno, member if _is_package_member(target, alias.name) else target


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
  """Imports of `module` (source given) that reach a higher layer, or leave the standard
  library from the lowest layer, as readable lines."""
  own = layer(module)
  out = []
  for line, target in imported_modules(source, module, is_package):
    top = target.split(".")[0]
    if own == 0 and top != "exbert_lit" and top not in sys.stdlib_module_names \
        and top != "__future__":
      out.append(f"{module}:{line} imports {target}: the lowest layer is standard library only")
      continue
    theirs = layer(target)
    if own is not None and theirs is not None and theirs > own:
      out.append(f"{module}:{line} imports {target}: layer {LAYER_NAMES[own]} must not import "
                 f"layer {LAYER_NAMES[theirs]}")
  return out


def package_modules() -> list[pathlib.Path]:
  return sorted(p for p in PACKAGE.rglob("*.py") if "node_modules" not in p.parts)


def test_every_top_level_module_has_a_layer():
  tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in package_modules()}
  unplaced = sorted(tops - set(LAYER_OF) - {"__init__"})
  assert not unplaced, f"give these a layer in LAYERS: {unplaced}"


def test_no_layer_imports_a_higher_one():
  found = []
  for path in package_modules():
    found += violations(path.read_text(encoding="utf-8"), module_name(path),
                        path.name == "__init__.py")
  assert not found, "imports against the layer order:\n" + "\n".join(found)


@pytest.mark.parametrize("module,source,want", [
    # Down or across: allowed.
    ("exbert_lit.corpus.search", "from exbert_lit.models import api", []),
    ("exbert_lit.corpus.search", "from exbert_lit.corpus import store", []),
    ("exbert_lit.models.hf", "import torch\nfrom exbert_lit import errors", []),
    ("exbert_lit.bench.scale", "from exbert_lit import bench", []),
    ("exbert_lit.commands.bench", "from exbert_lit import bench", []),   # PLACED on the bench
    ("exbert_lit.commands.index", "from exbert_lit import bench",
     ["exbert_lit.commands.index:1 imports exbert_lit.bench: layer cli / commands / __main__ "
      "must not import layer bench"]),
    # Up, at the top or inside a function: refused.
    ("exbert_lit.corpus.ray_engine", "from exbert_lit.cli import UserError",
     ["exbert_lit.corpus.ray_engine:1 imports exbert_lit.cli: layer corpus must not import "
      "layer cli / commands / __main__"]),
    ("exbert_lit.models.registry", "def f():\n  from exbert_lit.corpus import sources",
     ["exbert_lit.models.registry:2 imports exbert_lit.corpus.sources: layer models must not "
      "import layer corpus"]),
    ("exbert_lit.analysis.heads", "import exbert_lit.lit.app",
     ["exbert_lit.analysis.heads:1 imports exbert_lit.lit.app: layer analysis must not import "
      "layer lit"]),
    # Relative imports resolve from the module's package.
    ("exbert_lit.corpus.store", "from ..server import make_app",
     ["exbert_lit.corpus.store:1 imports exbert_lit.server: layer corpus must not import "
      "layer server"]),
    # The lowest layer: standard library only.
    ("exbert_lit.errors", "import numpy",
     ["exbert_lit.errors:1 imports numpy: the lowest layer is standard library only"]),
    ("exbert_lit.cache", "import os\nimport pathlib", []),
])
def test_the_checker(module, source, want):
  assert violations(source, module) == want
