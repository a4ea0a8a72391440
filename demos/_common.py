"""What every demo script shares: options, the corpus store, JSON output and chart set-up.

The analyses themselves live in exbert_lit.analysis; this module only wires command lines,
files and timings, so each demo script reads as the case study it reproduces.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import shlex
import sys
import time
from typing import Any, Callable, Optional

from exbert_lit import notation
from exbert_lit.cli import positive_int
from exbert_lit.errors import ExbertError

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT_ROOT = REPO / "artifacts" / "demos"


class DemoError(Exception):
  """A problem with the demo's input: printed as one line, no traceback."""


def notation_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
  """An argparse type that reads an option with exbert_lit.notation (its one-line error)."""
  def convert(text: str) -> Any:
    try:
      return parse(text)
    except ExbertError as e:
      raise argparse.ArgumentTypeError(str(e)) from None
  return convert


def parser(name: str, description: str, default_model: str, *,
           corpus: bool = True) -> argparse.ArgumentParser:
  """The options every demo takes; the demo adds its own."""
  p = argparse.ArgumentParser(prog=f"python demos/{name}.py", description=description)
  p.add_argument("--model", default=default_model,
                 help=f"short name (minilm, smollm2), local directory or hub name "
                 f"(default {default_model})")
  p.add_argument("--out", default=None, metavar="DIR",
                 help=f"output directory (default artifacts/demos/{name}-<model>)")
  if corpus:
    p.add_argument("--corpus", default="brown", help="'brown' (default) or a UTF-8 text file")
    p.add_argument("--max-sentences", type=positive_int, default=None, metavar="N",
                   help="corpus sentences to index (default: 2000 for MiniLM, fewer for "
                   "larger models, so the store stays near 2 GiB)")
    p.add_argument("--store", default=None, metavar="DIR",
                   help="corpus store to use or build (default: a cache directory per model, "
                   "corpus and size under ~/.cache/exbert-lit/stores)")
    p.add_argument("--k", type=notation_type(notation.parse_k), default=notation.DEFAULT_K,
                   help=f"corpus matches per search, 1..{notation.MAX_K} "
                   f"(default {notation.DEFAULT_K})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar while indexing")
  return p


def out_dir(args, name: str) -> pathlib.Path:
  from exbert_lit.analysis import stores  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(args.out) if args.out else DEFAULT_OUT_ROOT / f"{name}-{stores.slug(args.model)}"
  path.mkdir(parents=True, exist_ok=True)
  return path


def load(model_name: str, **kwargs):
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  kwargs.setdefault("compute_gradients", False)
  return load_model(model_name, **kwargs)


def corpus_index(args, model) -> tuple[Any, dict]:
  """The demo's corpus store (reused, or built with a progress bar) and what to report of it."""
  from exbert_lit.analysis import stores  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store as store_lib  # pylint: disable=g-import-not-at-top
  n = args.max_sentences or stores.default_max_sentences(model)
  directory = (pathlib.Path(args.store) if args.store
               else stores.default_store_dir(model, args.corpus, n))
  reused = (directory / store_lib.MANIFEST).is_file()  # ensure_store says when it indexes
  started = time.perf_counter()
  index = stores.ensure_store(model, args.corpus, n, directory=directory,
                              progress=not args.no_progress)
  return index, store_info(index, reused, time.perf_counter() - started)


def store_info(index, reused: bool, seconds: float) -> dict:
  """What a demo's JSON says about the store it used."""
  m = index.manifest
  return {"directory": str(index.directory), "reused": reused, "seconds": round(seconds, 1),
          "corpus": m["corpus"]["source"], "max_sentences": m["corpus"]["max_sentences"],
          "sentences": m["counts"]["sentences"], "tokens": m["counts"]["tokens"],
          "index": m["index"]["factory"], "spacy": m["spacy"].get("name")}


def clean(obj):
  """JSON-safe copy: NaN/inf -> None, numpy scalars and arrays -> Python."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if isinstance(obj, dict):
    return {str(k): clean(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [clean(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return clean(obj.tolist())
  if isinstance(obj, np.generic):
    obj = obj.item()
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


def write_json(path: pathlib.Path, obj: dict) -> None:
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(json.dumps(clean(obj), indent=1, ensure_ascii=False, allow_nan=False) + "\n",
                 encoding="utf-8")
  os.replace(tmp, path)


def command_line(name: str, argv: Optional[list[str]]) -> str:
  """The command that reproduces a run (for the JSON, so every figure names its command)."""
  args = sys.argv[1:] if argv is None else argv
  return " ".join(["python", f"demos/{name}.py"] + [shlex.quote(a) for a in args])


def pyplot():
  """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_figure(fig, path: pathlib.Path) -> None:
  fig.savefig(path, dpi=120, bbox_inches="tight")
  pyplot().close(fig)


def run(main, argv: Optional[list[str]] = None, name: str = "demo") -> int:
  """Runs a demo's main(argv) with one-line errors, like the exbert-lit CLI."""
  try:
    return int(main(argv) or 0)
  except (DemoError, ValueError, FileNotFoundError) as e:
    print(f"demos/{name}.py: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("interrupted (the corpus store resumes on the next run)", file=sys.stderr)
    return 130
