"""Search at scale on a real store: `exbert-lit bench --section scale --real STORE` (the scale
section runs this instead of its synthetic sizes when --real is given).

On one layer of the store (--scale-real-layer, default 4 or the last):
1. The store's own indexes, searched as the server searches them (CorpusIndex.nearest): p50/p95
   latency at k = 50 per query kind (one head, three heads, half the heads, all heads of
   C(l); whole-vector E(l)), over --scale-queries real corpus tokens (not specials, spread
   over the corpus) after 10 untimed warm-up queries; recall@50 of each kind against exact
   search (faiss contrib's knn_ground_truth / knn_intersection_measure).
2. Ground truth: exact inner-product search over every token's vector as the store keeps it
   for re-ranking, decoded chunk by chunk (for the default index, the 8-bit scalar codes:
   1.4M x 384 floats would be 2 GB per index; streamed, never held). Re-extracting the exact
   model vectors of all 1.4M tokens takes this machine 20-50 minutes, so instead
   (3) measures what the decoding itself loses, on a sample.
3. Exact check (--scale-real-exact-sentences, default 400): the model is run again over the
   first sentences of the store; per kind, recall@50 of exact search over those tokens'
   decoded vectors against exact search over their exact model vectors, and the mean cosine
   between the two. This bounds how far the ground truth of (2) is from the model's.
4. Compressed layouts (--scale-real-factories): other faiss factories trained and filled with
   the same decoded vectors, measured like (1) (searched as faiss_tools.nearest does) with
   their bytes per vector; bytes per token of a whole store of each, at the store's dims and
   at bert-base dims (bytes per vector scale with the width for these per-dimension codes).
5. The synthetic figures beside the real ones: the same factory over as many synthetic
   clustered vectors of the store's dims (bench.scale.measure_size), the same query kinds.
6. The bound (--scale-real-bound, bench/scale_bound.py): the truth pass keeps each query's
   exact top 1,000 scores; recall@50 when they get Gaussian noise of each size, and each
   compared layout's own score error on them.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time
from typing import Iterator, Optional

import numpy as np

from exbert_lit import notation
from exbert_lit.errors import ExbertError

K = notation.DEFAULT_K
WARM_UP = 10
CHUNK = 100_000
EMBEDDING = "embedding"


def add_arguments(g: argparse._ArgumentGroup) -> None:
  g.add_argument("--real", default=None, metavar="STORE",
                 help="measure on this built corpus store (real vectors) instead of synthetic "
                 "sizes; prints the synthetic figures at the store's size beside them")
  g.add_argument("--scale-real-layer", type=int, default=4,
                 help="layer measured on the real store (default 4, or the model's last)")
  g.add_argument("--scale-real-exact-sentences", type=int, default=400,
                 help="sentences re-run through the model for the exact check (default 400; "
                 "0 skips it)")
  g.add_argument("--scale-real-synthetic", type=int, default=-1,
                 help="synthetic vectors beside the real ones (default: as many as the store "
                 "has tokens; 0 skips them)")
  g.add_argument("--scale-real-routes", action="store_true",
                 help="also time head-subset queries on the store both ways, interleaved: the "
                 "full scan with other heads zeroed and the chosen heads' codes (bench.scale."
                 "compare_routes)")
  g.add_argument("--scale-real-factories", default="",
                 help="faiss factories to build on the store's decoded vectors and compare, "
                 "';'-separated, each optionally FACTORY|PARAMS")
  g.add_argument("--scale-real-bound", action="store_true",
                 help="also measure what bounds bytes against recall: recall@50 when exact "
                 "scores get noise of a given size, and each factory's own score error "
                 "(bench/scale_bound.py)")


# ---------------------------------------------------------------------------------------------
# Pure helpers (tested in tests/test_bench_scale_real.py).

def query_kinds(num_heads: int) -> dict[str, tuple[str, Optional[list[int]]]]:
  """label -> (kind, 1-based heads or None): the scale section's head sets of C(l), and E(l)."""
  from exbert_lit.bench import scale  # pylint: disable=g-import-not-at-top
  out = {label: ("context", heads) for label, heads in scale.query_kinds(num_heads).items()}
  out[EMBEDDING] = (EMBEDDING, None)
  return out


def query_vector(vector: np.ndarray, kind: str, heads: Optional[list[int]],
                 num_heads: int) -> np.ndarray:
  """A store vector as the store queries it: unit norm (E) or per-head unit norm with the
  unchosen heads zeroed (C).   [D] -> float32 [D]"""
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import vectors  # pylint: disable=g-import-not-at-top
  if kind == EMBEDDING:
    return vectors.normalize_rows(vector[None, :])[0]
  return search.mask_heads(vector, heads, num_heads)


def store_vectors(faiss_index, ids: np.ndarray) -> np.ndarray:
  """Rows `ids` [n] of an index as it keeps them for re-ranking, decoded.   [n, D] float32

  IndexRefine: its re-ranking codes (8-bit scalar codes are decoded in numpy, as faiss does);
  any other index: faiss's reconstruct_n (exact for Flat). ExbertError for an index that
  cannot give its vectors back.
  """
  import faiss  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import faiss_tools  # pylint: disable=g-import-not-at-top
  index = faiss.downcast_index(faiss_index)
  if isinstance(index, faiss.IndexRefine):
    refine = faiss.downcast_index(index.refine_index)
    return faiss_tools.decoded_slice(refine, np.asarray(ids, np.int64), slice(None)).astype(
        np.float32)
  try:
    return index.reconstruct_batch(np.asarray(ids, np.int64))
  except RuntimeError as e:
    raise ExbertError(f"--real: a {type(index).__name__} cannot give back its vectors "
                      f"({str(e).strip().splitlines()[-1]}); use a store of another index "
                      "type") from None


def chunks_of(faiss_index, n: int, chunk: int = CHUNK) -> Iterator[np.ndarray]:
  for start in range(0, n, chunk):
    yield store_vectors(faiss_index, np.arange(start, min(n, start + chunk)))


def exact_top_k(queries: np.ndarray, chunks, k: int = K) -> np.ndarray:
  """Exact inner-product top-k ids of `queries` [Q, D] over streamed chunks.   int64 [Q, k]"""
  import faiss  # pylint: disable=g-import-not-at-top
  from faiss.contrib import exhaustive_search  # pylint: disable=g-import-not-at-top
  _, ids = exhaustive_search.knn_ground_truth(np.ascontiguousarray(queries, np.float32),
                                              chunks, k, faiss.METRIC_INNER_PRODUCT)
  return ids


def recall(found: list[np.ndarray], truth: np.ndarray, k: int = K) -> float:
  """Mean share of the exact top-k found (faiss contrib's knn_intersection_measure);
  results shorter than k are padded with -1 (never a match)."""
  from faiss.contrib import evaluation  # pylint: disable=g-import-not-at-top
  padded = np.stack([np.pad(np.asarray(f, np.int64)[:k], (0, k - min(k, len(f))),
                            constant_values=-1) for f in found])
  return float(evaluation.knn_intersection_measure(padded, truth[:, :k]))


def timed(search, queries: np.ndarray, warm_up: int = WARM_UP) -> tuple[list[float], list]:
  """Seconds and results of `search(query)` per query; the first `warm_up` queries run before,
  untimed (loading, first touch of pages)."""
  for q in queries[:warm_up]:
    search(q)
  seconds, found = [], []
  for q in queries:
    t0 = time.perf_counter()
    found.append(search(q))
    seconds.append(time.perf_counter() - t0)
  return seconds, found


def figures(seconds: list[float], found: list, truth: np.ndarray) -> dict:
  from exbert_lit.bench.corpus import percentiles_ms  # pylint: disable=g-import-not-at-top
  p50, p95 = percentiles_ms(seconds)
  return {"p50_ms": p50, "p95_ms": p95, "recall@50": recall(found, truth),
          "queries": len(seconds)}


def bytes_per_token(sizes: dict[str, int], tokens: int) -> dict[str, float]:
  """A store's bytes on disk per token, by part (store.directory_bytes) and in total."""
  out = {part: size / tokens for part, size in sorted(sizes.items())}
  out["total"] = sum(sizes.values()) / tokens
  return out


# ---------------------------------------------------------------------------------------------
# Measurements.

def _say(text: str) -> None:
  print(f"bench scale --real: {text}", file=sys.stderr, flush=True)


def _queries(index, layer: int, rows: np.ndarray) -> dict[str, np.ndarray]:
  """label -> the stored vectors of token `rows` as each kind queries them.   [Q, D]"""
  base = {kind: store_vectors(index.faiss_index(kind, layer), rows)
          for kind in ("context", EMBEDDING)}
  return {label: np.stack([query_vector(v, kind, heads, index.num_heads) for v in base[kind]])
          for label, (kind, heads) in query_kinds(index.num_heads).items()}


def ground_truth(index, layer: int, queries: dict[str, np.ndarray], m: int = K
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """label -> (scores, ids) [Q, m] of the exact top-m over the store's decoded vectors, one
  streamed pass per kind."""
  from exbert_lit.bench import scale_bound  # pylint: disable=g-import-not-at-top
  kinds = query_kinds(index.num_heads)
  truth = {}
  for kind in ("context", EMBEDDING):
    labels = [label for label, (k, _) in kinds.items() if k == kind]
    scores, ids = scale_bound.exact_top(
        np.concatenate([queries[label] for label in labels]),
        chunks_of(index.faiss_index(kind, layer), len(index.table)), m)
    truth.update(zip(labels, zip(np.split(scores, len(labels)), np.split(ids, len(labels)))))
  return truth


def measure_store(index, layer: int, queries, truth) -> dict[str, dict]:
  """label -> figures of the store's own indexes, searched as the server does."""
  out = {}
  for label, (kind, heads) in query_kinds(index.num_heads).items():
    search = lambda q, kind=kind, heads=heads: index.nearest(q, layer=layer, kind=kind,
                                                             heads=heads, k=K)[0]
    cut = None
    if kind == "context" and heads is not None:   # a head set's first query cuts its codes
      t0 = time.perf_counter()
      index.head_scan_index(layer, tuple(heads))
      cut = 1e3 * (time.perf_counter() - t0)
    seconds, found = timed(search, queries[label])
    out[label] = figures(seconds, found, truth[label]) | {"cut_ms": cut}
  return out


def measure_factory(candidate, index, layer: int, queries, truth,
                    workdir: pathlib.Path, top: Optional[dict] = None) -> dict:
  """One factory built over the store's decoded vectors of both kinds at `layer`, measured
  like the store (faiss_tools.nearest, candidate scan split over threads as the store does);
  with `top` (label -> exact (scores, ids)), also its re-ranking codes' score error std."""
  import faiss  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import scale_bound  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import scale  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import factories  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import faiss_tools  # pylint: disable=g-import-not-at-top
  n, h = len(index.table), index.num_heads
  result = {"factory": candidate.factory, "params": candidate.params, "queries": {},
            "bytes_per_vector": {}, "build_seconds": 0.0}
  rng = np.random.default_rng(0)
  for kind in ("context", EMBEDDING):
    source = index.faiss_index(kind, layer)
    built = factories.make_index(candidate.factory, index.info.dims[kind])
    t0 = time.perf_counter()
    sample = np.sort(rng.choice(n, size=min(n, factories.train_size(candidate.factory)),
                                replace=False))
    built.train(store_vectors(source, sample))
    for x in chunks_of(source, n):
      built.add(x)
    result["build_seconds"] += time.perf_counter() - t0
    path = workdir / "candidate.faiss"
    faiss.write_index(built, str(path))
    result["bytes_per_vector"][kind] = path.stat().st_size / n
    path.unlink()
    built = faiss_tools.parallel_candidates(built, faiss.omp_get_max_threads())
    if candidate.params:
      faiss.ParameterSpace().set_index_parameters(built, candidate.params)
    for label, (k, heads) in query_kinds(h).items():
      if k == kind:
        seconds, found = timed(scale._searcher(built, heads if kind == "context" else None, h),
                               queries[label])
        result["queries"][label] = figures(seconds, found, truth[label])
        if top is not None:
          result.setdefault("score_error_std", {})[label] = scale_bound.code_errors(
              built, queries[label], top[label])
    del built
  return result


def exact_check(index, layer: int, n_sentences: int, n_queries: int) -> dict[str, dict]:
  """label -> recall@50 of exact search over the first `n_sentences`' decoded vectors against
  exact search over their exact model vectors (the model is run again), and the mean cosine
  (per head for C) between a token's decoded and exact vector."""
  from exbert_lit.corpus import stages  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import vectors  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  model = load_model(index.model_name, compute_gradients=False)
  store.check_model(index.info, model)
  n_sentences = min(n_sentences, len(index.table.texts))
  end = int(index.table.sentence_start[n_sentences])
  outs = stages.run_model(model, index.table.texts[:n_sentences], 16)
  lengths = np.diff(np.asarray(index.table.sentence_start[:n_sentences + 1]))
  if any(o is None or len(o.tokens) != t for o, t in zip(outs, lengths)):
    raise ExbertError(f"--real {index.directory}: the model's word-pieces differ from the "
                      "store's; was it built with another tokenizer?")
  exact = {EMBEDDING: vectors.normalize_rows(np.concatenate([o.embeddings[layer] for o in outs])),
           "context": vectors.normalize_heads(
               np.concatenate([o.contexts[layer - 1] for o in outs]), index.num_heads)}
  decoded = {kind: store_vectors(index.faiss_index(kind, layer), np.arange(end))
             for kind in exact}
  special = np.asarray(index.table.columns["special"][:end])
  rows = np.flatnonzero(~special)
  rows = np.sort(np.random.default_rng(1).choice(rows, size=min(n_queries, len(rows)),
                                                 replace=False))
  out = {}
  for label, (kind, heads) in query_kinds(index.num_heads).items():
    h = index.num_heads if kind == "context" else 1
    per = lambda x: x.reshape(len(x), h, -1)
    cosine = (vectors.normalize_rows(per(exact[kind])) *
              vectors.normalize_rows(per(decoded[kind]))).sum(-1)
    chosen = slice(None) if heads is None or kind != "context" else np.asarray(heads) - 1
    q_exact = np.stack([query_vector(v, kind, heads, index.num_heads) for v in exact[kind][rows]])
    q_dec = np.stack([query_vector(v, kind, heads, index.num_heads)
                      for v in decoded[kind][rows]])
    truth = exact_top_k(q_exact, [exact[kind]])
    found = exact_top_k(q_dec, [decoded[kind]])
    out[label] = {"recall@50": recall(list(found), truth), "tokens": end,
                  "queries": len(rows), "mean_cosine": float(cosine[:, chosen].mean())}
  return out


def run(args) -> dict:
  """The real-store measurement (see the module docstring)."""
  import faiss  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import scale  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import results  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import scale_bound  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import scale_report  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench.corpus import BERT_BASE  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  directory = pathlib.Path(args.real).expanduser()
  index = search.CorpusIndex.open(directory)
  layer = min(args.scale_real_layer, index.num_layers)
  index.check_layer(layer, "context")
  n, h, info = len(index.table), index.num_heads, index.info
  if n <= K:
    raise ExbertError(f"--real {directory}: {n} tokens; the bench needs more than {K}")
  dh = info.dims["context"] // h
  rows = results._query_rows(index, args.scale_queries)   # pylint: disable=protected-access
  queries = _queries(index, layer, rows)
  t0 = time.perf_counter()
  m = scale_bound.BOUND_TOP if args.scale_real_bound else K
  _say(f"exact top-{m} of {len(rows)} queries per kind over {n:,} decoded vectors")
  top = ground_truth(index, layer, queries, m)
  truth = {label: ids[:, :K] for label, (_, ids) in top.items()}
  details = {"store": str(directory), "tokens": n, "layer": layer, "k": K,
             "queries": len(rows), "factory": info.index.factory,
             "search_params": info.index.search_params,
             "threads": faiss.omp_get_max_threads(),
             "truth_seconds": time.perf_counter() - t0,
             "bytes_per_token": bytes_per_token(store.directory_bytes(directory), n)}
  per_vector = details["bytes_per_token"].get("index", 0.0) / (2 * info.model.num_layers + 1)
  details["store_bytes"] = {
      "store_dims": details["bytes_per_token"]["total"],
      "bert_base_dims": scale.store_bytes_per_token(
          per_vector * BERT_BASE["hidden_size"] / info.dims["context"],
          num_layers=BERT_BASE["num_layers"], num_heads=BERT_BASE["num_heads"],
          attention_top_k=info.attention_top_k)["total"]}
  _say(f"timing the store's own indexes ({info.index.factory})")
  details["store_figures"] = measure_store(index, layer, queries, truth)
  if args.scale_real_bound:
    details["bound"] = scale_bound.oracle({label: s for label, (s, _) in top.items()})
    _say("largest score error std for recall@50 0.95: " + "; ".join(
        f"{label} {b['sigma_at_0.95']}" for label, b in details["bound"].items()))
  route_metrics = []
  if getattr(args, "scale_real_routes", False):
    _say("head-subset routes side by side (full scan, chosen heads' codes)")
    details["routes"] = scale.compare_routes(index, layer, queries, truth)
    route_metrics = scale.route_metrics(details["routes"], f"layer {layer}, {n:,} tokens, "
                                        f"{len(rows)} real queries")
  chosen = [scale.Candidate(*[p.strip() for p in f.split("|", 1)])
            for f in args.scale_real_factories.split(";") if f.strip()]
  details["factories"] = []
  with tempfile.TemporaryDirectory(prefix="exbert-scale-real-", dir=args.scale_dir) as tmp:
    for c in chosen:
      _say(f"building {c.name} over the decoded vectors of E({layer}) and C({layer})")
      r = measure_factory(c, index, layer, queries, truth, pathlib.Path(tmp),
                          top if args.scale_real_bound else None)
      bpv = r["bytes_per_vector"]["context"]
      r["bytes_per_token"] = {
          "store_dims": scale.store_bytes_per_token(
              (bpv * info.model.num_layers + r["bytes_per_vector"][EMBEDDING] *
               (info.model.num_layers + 1)) / (2 * info.model.num_layers + 1),
              num_layers=info.model.num_layers, num_heads=h,
              attention_top_k=info.attention_top_k)["total"],
          "bert_base_dims": scale.store_bytes_per_token(
              bpv * BERT_BASE["hidden_size"] / info.dims["context"],
              num_layers=BERT_BASE["num_layers"], num_heads=BERT_BASE["num_heads"],
              attention_top_k=info.attention_top_k)["total"]}
      details["factories"].append(r)
      _say(f"{c.name}: " + "; ".join(f"{label} {f['p50_ms']:.1f} ms, recall {f['recall@50']:.3f}"
                                     for label, f in r["queries"].items()) +
           f"; bytes/vector {r['bytes_per_vector']}" +
           scale_bound.errors_text(r.get("score_error_std", {})))
    synthetic = {}
    size = n if args.scale_real_synthetic < 0 else args.scale_real_synthetic
    if size > K:
      _say(f"synthetic: {size:,} clustered vectors of the store's dims, same factories")
      own = scale.Candidate(info.index.factory, info.index.search_params or "")
      for r in scale.measure_size(size, [own] + [c for c in chosen if c.name != own.name],
                                  args.scale_queries, pathlib.Path(tmp), num_heads=h,
                                  head_dim=dh):
        synthetic[scale.Candidate(r["factory"], r["params"]).name] = r
    details["synthetic"] = {name: {"vectors": r["vectors"], "queries": r["queries"],
                                   "bytes_per_vector": r["bytes_per_vector"]}
                            for name, r in synthetic.items()}
  if args.scale_real_exact_sentences:
    _say(f"exact check: the model over the first {args.scale_real_exact_sentences} sentences")
    details["exact_check"] = exact_check(index, layer, args.scale_real_exact_sentences,
                                         args.scale_queries)
  return {"section": "scale", "metrics": scale_report.metrics_of(details) + route_metrics,
          "details": details, "table": scale_report.table_of(details)}
