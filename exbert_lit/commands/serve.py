"""`exbert-lit serve`: a LIT server with exBERT for the models, corpora and data given."""
from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "serve", help="start LIT with exBERT's views for one or more models",
      description=(
          "Start a LIT server with exBERT's attention and corpus views beside LIT's salience, "
          "counterfactual and embedding tools. Each --corpus is an index built with "
          "`exbert-lit index` for one of the models; it is matched to its model automatically."))
  parser.add_argument("--model", "-m", action="append", required=True, metavar="NAME",
                      help="model name or path (repeat for several), e.g. minilm, smollm2, "
                           "a Hugging Face directory; NAME=PATH gives it a display name")
  parser.add_argument("--corpus", "-c", action="append", default=[], metavar="STORE_DIR",
                      help="corpus index directory (repeat for several)")
  parser.add_argument("--data", "-d", action="append", default=[], metavar="FILE",
                      help="sentences to explore: a text file (one per line) or JSONL with a "
                           "\"text\" field (repeat for several); default: built-in examples")
  parser.add_argument("--corpus-examples", type=int, default=200, metavar="N",
                      help="also offer the first N sentences of each corpus as a dataset (0: no)")
  parser.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1: this machine only)")
  parser.add_argument("--port", "-p", type=int, default=5432, help="port (0: any free port)")
  parser.add_argument("--warm-start", type=float, default=0.0, metavar="FRACTION",
                      help="run the models on this fraction of each dataset at start-up")
  parser.set_defaults(func=run)


def parse_model_args(values: list[str]) -> dict[str, str]:
  """["minilm", "bert=/models/bert"] -> {"minilm": "minilm", "bert": "/models/bert"}."""
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  models: dict[str, str] = {}
  for value in values:
    name, sep, path = value.partition("=")
    if not sep:
      name, path = server.model_short_name(value), value
    if not name or not path:
      raise ValueError(f"--model {value!r}: expected NAME or NAME=PATH")
    if name in models:
      raise ValueError(f"--model {name!r} given twice")
    models[name] = path
  return models


def run(args: argparse.Namespace) -> int:
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  if not 0.0 <= args.warm_start <= 1.0:
    raise ValueError(f"--warm-start must be between 0 and 1, got {args.warm_start}")
  srv = server.make_server(
      models=parse_model_args(args.model), datasets=args.data or None,
      corpora=args.corpus or None, corpus_examples=args.corpus_examples,
      host=args.host, port=args.port, warm_start=args.warm_start)
  srv.serve(on_ready=lambda url: print(f"exBERT-LIT is serving at {url} (Ctrl+C to stop)",
                                       flush=True))
  return 0
