"""`exbert-lit bench`: benchmark sections, each a module of this package.

A section module defines
  SECTION: str                          its name (`exbert-lit bench --section NAME`)
  add_arguments(parser) -> None         its options (prefix them with the section name)
  run(args) -> dict                     {"section": SECTION, "metrics": [Metric, ...], ...}
where a Metric is {"name", "value", "unit", "goal" (text or None), "note"}. The runner prints
every section's metrics as one table and everything as JSON. Slow by design: not in tests.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any, Optional


def sections() -> dict[str, ModuleType]:
  """name -> section module, for every module of this package that defines SECTION."""
  out = {}
  for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    module = importlib.import_module(f"{__name__}.{info.name}")
    if hasattr(module, "SECTION") and hasattr(module, "run"):
      out[module.SECTION] = module
  return out


def metric(name: str, value: Any, unit: str = "", goal: Optional[str] = None,
           note: str = "") -> dict:
  return {"name": name, "value": value, "unit": unit, "goal": goal, "note": note}


def format_table(results: list[dict]) -> str:
  """One text table of every section's metrics."""
  rows = [("section", "metric", "value", "unit", "goal", "note")]
  for result in results:
    for m in result.get("metrics", []):
      value = m["value"]
      if isinstance(value, float):
        value = f"{value:.4g}"
      rows.append((result["section"], m["name"], str(value), m.get("unit") or "",
                   m.get("goal") or "", m.get("note") or ""))
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def run_alone(description: str, add_arguments, run, argv=None) -> None:
  """`python -m exbert_lit.bench.SECTION`: one section's options, its table and its JSON results."""
  import argparse  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=description)
  add_arguments(parser)
  result = run(parser.parse_args(argv))
  print(format_table([result]))
  print(json.dumps(result["results"], indent=1))
