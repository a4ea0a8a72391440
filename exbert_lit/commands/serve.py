"""`exbert-lit serve`: a LIT server with exBERT for the models, corpora and data given."""
from __future__ import annotations

import argparse
import logging

from exbert_lit.cli import fraction
from exbert_lit.cli import non_negative_int
from exbert_lit.cli import port_number
from exbert_lit.commands import checks
from exbert_lit.errors import ExbertError

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
                      help="sentences to explore, read as `exbert-lit index --corpus` reads them "
                           "(the same sentences): a text file, .jsonl, .csv, .parquet, ..., "
                           "hf:NAME or brown (repeat for several); default: built-in examples")
  checks.add_corpus_format_args(parser)
  parser.add_argument("--corpus-examples", type=non_negative_int, default=200, metavar="N",
                      help="also offer the first N sentences of each corpus as a dataset (0: no)")
  parser.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1: this machine only)")
  parser.add_argument("--port", "-p", type=port_number, default=5432,
                      help="port (0: any free port)")
  parser.add_argument("--warm-start", type=fraction, default=0.0, metavar="FRACTION",
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
      raise ExbertError(f"--model {value!r}: expected NAME or NAME=PATH")
    if name in models:
      raise ExbertError(f"--model {name!r} given twice")
    models[name] = path
  return models


def check_corpora_fit(manifests: dict[str, dict], shapes: dict[str, dict]) -> None:
  """Each --corpus must have been built with a model of the same kind and size as one served
  (the weights' fingerprint is compared once the models are loaded)."""
  for directory, manifest in manifests.items():
    if not any(checks.store_fits(manifest, shape) for shape in shapes.values()):
      built = manifest["model"]
      served = "; ".join(f"{name}: {checks.describe_shape(shape)}"
                         for name, shape in shapes.items())
      raise ExbertError(f"--corpus {directory}: built with model {built['name']!r} "
                        f"({checks.describe_shape(built)}), which is none of the served models "
                        f"({served}): index it with one of them")


def run(args: argparse.Namespace) -> int:
  # Everything checkable without the models, cheapest first, before the (slow) loads.
  models = parse_model_args(args.model)
  for path in args.data:
    checks.corpus(path, "--data", args.format, args.text_field)
  manifests = {directory: checks.read_manifest(directory, "--corpus") for directory in args.corpus}
  checks.check_listen(args.host, args.port)
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import datasets as datasets_lib  # pylint: disable=g-import-not-at-top
  datasets = None
  if args.data:
    datasets = {}
    for path in args.data:
      try:   # the reader's messages name --data, the file and the line
        datasets[datasets_lib.dataset_name_for(path.rstrip("/"), datasets)] = (
            datasets_lib.load_data_file(path, fmt=args.format, text_field=args.text_field,
                                        option="--data"))
      except OSError as e:
        raise ExbertError(f"--data {path}: {e.strerror or e}") from None
  datasets = server.load_datasets(datasets)
  shapes = {name: checks.config_shape(checks.model_config(path)[1])
            for name, path in models.items()}
  check_corpora_fit(manifests, shapes)
  loaded = server.load_models(models)
  corpora = server.open_corpora(args.corpus or None)
  try:   # same kind and size, other weights: only the loaded models' fingerprints tell
    server.check_corpora_match(corpora, loaded)
  except ExbertError as e:   # its one job is this one-line message
    raise ExbertError(f"--corpus: {e}") from None
  srv = server.make_server(
      models=loaded, datasets=datasets, corpora=corpora, corpus_examples=args.corpus_examples,
      host=args.host, port=args.port, warm_start=args.warm_start)
  srv.serve(on_ready=lambda url: print(f"exBERT-LIT is serving at {url} (Ctrl+C to stop)",
                                       flush=True))
  return 0
