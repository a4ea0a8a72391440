"""Corpus answer latency on a real store (section `results` of `exbert-lit bench`).

`CorpusIndex.search` = the faiss search (`CorpusIndex.nearest`) + building the result
(`CorpusIndex.build_result`: matches in context, labels, histograms, most-attended tokens).
Both are timed separately, p50 and p95, per query kind (one head, three heads, all heads,
embedding) at k = 50 on the store given by --results-store. Queries are real representations:
the vectors of corpus tokens (not specials) read back from the store's own indexes, so they
are what the model gives for those tokens up to the index's compression.
Runs only when named (it needs a built store).
"""
from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from exbert_lit import bench
from exbert_lit import notation
from exbert_lit.errors import ExbertError

SECTION = "results"
DEFAULT = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("results section")
  g.add_argument("--results-store", default=None, metavar="DIR",
                 help="a built corpus store (`exbert-lit index`) to time search and result "
                 "building on")
  g.add_argument("--results-queries", type=int, default=200,
                 help="queries per query kind (default 200), after 10 untimed")
  g.add_argument("--results-layer", type=int, default=4,
                 help="layer searched (default 4, or the last layer if the model has fewer)")


def _query_rows(index, n: int, seed: int = 0) -> np.ndarray:
  """n distinct non-special token rows, spread over the corpus.   int64 [n]"""
  candidates = np.flatnonzero(~np.asarray(index.table.columns["special"]))
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(candidates, size=min(n, len(candidates)), replace=False))


def _queries(index, kind: str, layer: int, rows: np.ndarray) -> np.ndarray:
  try:
    faiss_index = index.faiss_index(kind, layer)
    return np.stack([faiss_index.reconstruct(int(r)) for r in rows])
  except RuntimeError as e:
    raise ExbertError(f"--results-store: the {kind} index of layer {layer} cannot give back its "
                      f"vectors ({str(e).strip().splitlines()[-1]}); use a store of another "
                      "index type") from None


def time_kind(index, queries: np.ndarray, layer: int, kind: str, heads, k: int,
              warm_up: int = 10) -> dict:
  """Seconds of nearest, build_result and both per query (the first `warm_up` not kept)."""
  heads = notation.check_heads(heads, index.num_heads)
  heads = None if heads is None else list(heads)
  offsets = sorted(set(notation.DEFAULT_OFFSETS) - {0})
  out = {"nearest": [], "build": [], "search": []}
  for i, q in enumerate(queries):
    t0 = time.perf_counter()
    ids, scores = index.nearest(q, layer=layer, kind=kind, heads=heads, k=k)
    t1 = time.perf_counter()
    index.build_result(ids, scores, layer, kind, heads, k, offsets)
    t2 = time.perf_counter()
    if i >= warm_up:
      out["nearest"].append(t1 - t0)
      out["build"].append(t2 - t1)
      out["search"].append(t2 - t0)
  return out


def run(args) -> dict:
  from exbert_lit.bench.corpus import percentiles_ms  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  if not args.results_store:
    raise ExbertError("--section results needs --results-store DIR (a built corpus store)")
  index = search.CorpusIndex.open(pathlib.Path(args.results_store).expanduser())
  layer = min(args.results_layer, index.num_layers)
  index.check_layer(layer, "context")
  k = notation.DEFAULT_K
  h = index.num_heads
  three = sorted({1, min(5, h), min(9, h)})
  kinds = [(f"one head ({min(3, h)})", "context", [min(3, h)]),
           (f"heads {','.join(map(str, three))}", "context", three),
           ("all heads", "context", None),
           ("embedding", "embedding", None)]
  rows = _query_rows(index, args.results_queries + 10)
  metrics, details = [], {"store": str(args.results_store), "tokens": len(index.table),
                          "layer": layer, "k": k, "queries": len(rows) - 10,
                          "factory": index.info.index.factory, "kinds": {}}
  for label, kind, heads in kinds:
    seconds = time_kind(index, _queries(index, kind, layer, rows), layer, kind, heads, k)
    figures = {part: percentiles_ms(s) for part, s in seconds.items()}
    details["kinds"][label] = figures
    note = f"layer {layer}, k={k}, {len(seconds['build'])} queries, {len(index.table)} tokens"
    for part, name, goal in (("nearest", "faiss search", None),
                             ("build", "result building", "p50 <= 2 ms"),
                             ("search", "search end to end", "p50 <= 10 ms at 1.4M tokens")):
      p50, p95 = figures[part]
      metrics.append(bench.metric(f"{name} p50/p95, {label}", f"{p50:.2f} / {p95:.2f}", "ms",
                                  goal, note))
  return {"section": SECTION, "metrics": metrics, "details": details}
