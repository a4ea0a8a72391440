"""`exbert-lit bench`: run benchmark sections (exbert_lit/bench/*) and print a table and JSON."""
from __future__ import annotations

import json
import pathlib
import platform
import sys
import time


def register(subparsers) -> None:
  from exbert_lit import bench  # pylint: disable=g-import-not-at-top
  p = subparsers.add_parser(
      "bench", help="measure indexing throughput, search latency/recall and storage",
      description="Runs benchmark sections side by side in one process and prints a table and "
      "JSON. Slow on purpose (minutes); not part of the tests.")
  names = sorted(bench.sections())
  p.add_argument("--section", action="append", choices=names, default=None,
                 help="run only this section (repeatable; default: all but scale, which --scale runs)")
  p.add_argument("--json-out", default=None, metavar="FILE", help="also write the JSON here")
  for module in bench.sections().values():
    if hasattr(module, "add_arguments"):
      module.add_arguments(p)
  p.set_defaults(func=run)


def run(args) -> int:
  from exbert_lit import bench  # pylint: disable=g-import-not-at-top
  sections = bench.sections()
  if getattr(args, "scale", False):
    chosen = ["scale"]
  else:  # sections marked DEFAULT = False (hours, tens of GB) run only when named
    chosen = args.section or [n for n in sorted(sections)
                              if getattr(sections[n], "DEFAULT", True)]
  results = []
  for name in chosen:
    started = time.perf_counter()
    print(f"bench: running section {name} ...", file=sys.stderr, flush=True)
    result = sections[name].run(args)
    result["seconds"] = time.perf_counter() - started
    results.append(result)
  report = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "processor": platform.processor()},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sections": results}
  print(bench.format_table(results))
  print()
  print(json.dumps(report, indent=1, default=float))
  if args.json_out:
    pathlib.Path(args.json_out).write_text(json.dumps(report, indent=1, default=float))
  return 0
