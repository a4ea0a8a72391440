"""`exbert-lit bench`: run benchmark sections (exbert_lit/bench/*) and print a table and JSON."""
from __future__ import annotations

import json
import pathlib
import platform
import sys
import time

from exbert_lit.errors import ExbertError

# Options of the sections that are counts (a whole number >= 1) and lists of them.
COUNT_OPTIONS = ("corpus_sentences", "corpus_batch_size", "corpus_queries", "scale_queries",
                 "results_queries", "results_layer", "scale_real_layer",
                 "server_tokens", "server_repeats")
COUNT_LIST_OPTIONS = ("corpus_sizes", "corpus_heads", "scale_sizes")
CORPUS_SKIPS = ("throughput", "search")


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


def option(name: str) -> str:
  return "--" + name.replace("_", "-")


def check_options(args) -> None:
  """The sections' numbers, lists and output file, checked before any section starts."""
  for name in COUNT_OPTIONS:
    value = getattr(args, name, None)
    if value is not None and value < 1:
      raise ExbertError(f"{option(name)}: expected a positive whole number, not {value}")
  for name in COUNT_LIST_OPTIONS:
    text = getattr(args, name, None)
    if text is None:
      continue
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
      raise ExbertError(f"{option(name)}: expected positive whole numbers like 1,5,9, "
                        f"not {text!r}")
  if (getattr(args, "scale_real_exact_sentences", 0) or 0) < 0:
    raise ExbertError("--scale-real-exact-sentences: expected 0 (skip) or a positive whole "
                      f"number, not {args.scale_real_exact_sentences}")
  skip = {s.strip() for s in str(getattr(args, "corpus_skip", "") or "").split(",") if s.strip()}
  if skip - set(CORPUS_SKIPS):
    raise ExbertError(f"--corpus-skip: expected some of {','.join(CORPUS_SKIPS)}, "
                      f"not {sorted(skip - set(CORPUS_SKIPS))[0]!r}")
  if args.json_out:
    parent = pathlib.Path(args.json_out).expanduser().parent
    if not parent.is_dir():
      raise ExbertError(f"--json-out {args.json_out}: no directory {parent}")


def check_models(args, chosen: list[str]) -> None:
  """The models the chosen sections will load, checked by their configs before any section runs."""
  from exbert_lit.commands import checks  # pylint: disable=g-import-not-at-top
  if "corpus" in chosen and "throughput" not in str(getattr(args, "corpus_skip", "")):
    from exbert_lit.bench import corpus  # pylint: disable=g-import-not-at-top
    if args.corpus_model not in corpus.RANDOM_MODELS:
      checks.model_config(args.corpus_model, "--corpus-model")
  if "server" in chosen:
    for name in [m.strip() for m in str(args.server_models).split(",") if m.strip()]:
      checks.model_config(name, "--server-models")
  if "generation" in chosen:
    from exbert_lit.bench import generation  # pylint: disable=g-import-not-at-top
    for name in [m.strip() for m in str(args.generation_models).split(",") if m.strip()]:
      if name not in generation.RANDOM_MODELS:
        _, config = checks.model_config(name, "--generation-models")
        if not checks.config_shape(config)["is_causal"]:
          raise ExbertError(f"--generation-models: {name} is a masked model; generation needs "
                            "a causal LM (e.g. smollm2)")


def run(args) -> int:
  from exbert_lit import bench  # pylint: disable=g-import-not-at-top
  check_options(args)
  sections = bench.sections()
  if getattr(args, "scale", False):
    chosen = ["scale"]
  else:  # sections marked DEFAULT = False (hours, tens of GB) run only when named
    chosen = args.section or [n for n in sorted(sections)
                              if getattr(sections[n], "DEFAULT", True)]
  check_models(args, chosen)
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
  for result in results:   # a section's own table (e.g. real vs synthetic side by side)
    if result.get("table"):
      print()
      print(result["table"])
  print()
  print(json.dumps(report, indent=1, default=float))
  if args.json_out:
    pathlib.Path(args.json_out).write_text(json.dumps(report, indent=1, default=float))
  return 0
