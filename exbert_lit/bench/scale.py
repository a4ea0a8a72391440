"""Search at scale (section `scale`, run with `exbert-lit bench --scale`; not in the default run).
With `--real STORE` the section measures a built store's real vectors instead (scale_real.py).

For each size (default 1M and 10M vectors of one layer, bert-base dimensions: 12 heads x 64) it
streams synthetic head-normalised context vectors in chunks into every compared faiss index,
while faiss contrib's `knn_ground_truth` keeps the exact top-50 of every query over the same
chunks (so 10M vectors never have to be held as floats: 30 GB). Then, per index and per query kind (one head,
three heads, six heads, all heads; an E(l) query is a whole-vector query like "all heads"):
p50/p95 latency of single queries at k=50 and recall@50 against the exact top-50 (faiss
contrib's `knn_intersection_measure`: the mean share of the exact top-50 found); and per
index its build time (training + adding) and bytes per vector (its file on disk / vectors).
Bytes per token for a whole bert-base store = 25 indexes (E(0..12), C(1..12)) x bytes per
vector + the attention summaries + the token table (both from the store's dtypes).

Why synthetic: no registry here ships bert-base, and 10M real vectors would take this machine
hours to extract. The vectors cluster per head (see `synthetic_context_vectors`); real heads
are also correlated with each other, which helps partitioned (IVF) indexes more than this
data does. Numbers from this data are a stand-in for, not a measurement of, a real model.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import tempfile
import time
from typing import Optional

import numpy as np

from exbert_lit import bench
from exbert_lit import notation
from exbert_lit.bench import scale_real
from exbert_lit.bench.corpus import BERT_BASE
from exbert_lit.bench.corpus import percentiles_ms
from exbert_lit.bench.corpus import synthetic_context_vectors
from exbert_lit.errors import ExbertError

SECTION = "scale"
DEFAULT = False  # minutes and ~15 GB of RAM at 10M: only with --scale or --section scale

K = notation.DEFAULT_K   # recall@k and latency at the corpus view's k


def query_kinds(num_heads: int) -> dict[str, Optional[list[int]]]:
  """The head sets queried: one head, three spread heads, the first half, all (None).
  For 12 heads: [3], [1, 5, 9], [1..6], all."""
  spread = sorted({1 + i * num_heads // 3 for i in range(3)})
  return {"1 head": [min(3, num_heads)], f"{len(spread)} heads": spread,
          f"{num_heads // 2} heads": list(range(1, num_heads // 2 + 1)), "all heads": None}
CHUNK = 100_000


@dataclasses.dataclass(frozen=True)
class Candidate:
  factory: str
  params: str = ""
  max_vectors: int = 10**12   # skipped above this size (memory)
  note: str = ""

  @property
  def name(self) -> str:
    return self.factory + (f" ({self.params})" if self.params else "")


def candidates() -> list[Candidate]:
  from exbert_lit.corpus import factories  # pylint: disable=g-import-not-at-top
  dim = BERT_BASE["num_heads"] * BERT_BASE["head_dim"]
  factory, params = factories.default_factory(factories.EXACT_MAX_VECTORS + 1, [dim])
  return [
      Candidate(factory, params, note="the build's default above "
                f"{factories.EXACT_MAX_VECTORS:,} vectors"),
      Candidate("SQ8", max_vectors=2_000_000, note="the previous default"),
      Candidate(f"PQ{dim // 2}x4fs", max_vectors=2_000_000,
                note="the default's candidate codes alone: the <= 8 KB/token option"),
      # Not at 10M by default: a second 10 GB index, and on this synthetic data (heads cluster
      # independently) whole-vector partitions lose recall anyway; --scale-factories runs it.
      Candidate(*factories.partitioned_factory(factories.EXACT_MAX_VECTORS + 1, [dim]),
                max_vectors=2_000_000,
                note="partitioned layout at 1/16 of the lists (factories.partitioned_factory; "
                "nlist here for 200k vectors, see candidates_for)"),
  ]


def candidates_for(n: int, chosen: list[Candidate]) -> list[Candidate]:
  """`chosen` for `n` vectors: the built-in partitioned layout takes its list count for n."""
  from exbert_lit.corpus import factories  # pylint: disable=g-import-not-at-top
  dim = BERT_BASE["num_heads"] * BERT_BASE["head_dim"]
  out = []
  for c in chosen:
    if c.note.startswith("partitioned layout"):
      c = dataclasses.replace(c, **dict(zip(("factory", "params"),
                                            factories.partitioned_factory(n, [dim]))))
    if n <= c.max_vectors:
      out.append(c)
  return out


# ---------------------------------------------------------------------------------------------
# Pure helpers (tested in tests/test_bench_scale.py).

def parse_sizes(text: str) -> list[int]:
  """"1000000,10000000" -> [1000000, 10000000]; anything else is a one-line ExbertError."""
  try:
    sizes = [int(part) for part in text.split(",") if part.strip()]
  except ValueError:
    sizes = []
  if not sizes or min(sizes) < 1:
    raise ExbertError(f"--scale-sizes must be positive numbers like 1000000,10000000, "
                     f"not {text!r}")
  return sizes


def store_bytes_per_token(bytes_per_vector: float, *, num_layers: int, num_heads: int,
                          attention_top_k: int = 3) -> dict[str, float]:
  """Bytes per token of a whole store with one index per kind and layer.

  Attention summaries (store.py): top positions int16 and weights float16 per layer, head and
  k, the all-head argmax int16 per layer. Token table: 12 int32/bool columns (sentence id,
  position, start, end, head, piece/pos/tag/dep/ent/lemma codes) + the special flag (1 byte)
  + sentence_start (8 bytes per sentence, counted per token as <= 8).
  """
  indexes = (num_layers + 1) + num_layers
  attention = num_layers * (num_heads * attention_top_k * (2 + 2) + 2)
  table = 12 * 4 + 1 + 8
  vectors = indexes * bytes_per_vector
  return {"vectors": vectors, "attention": attention, "table": table,
          "total": vectors + attention + table}


# ---------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("scale section (exbert-lit bench --scale)")
  g.add_argument("--scale", action="store_true",
                 help="run only the scale section: search at 1M and 10M vectors (slow)")
  g.add_argument("--scale-sizes", default="1000000,10000000",
                 help="vectors per index (default 1000000,10000000)")
  g.add_argument("--scale-queries", type=int, default=50, help="queries per kind (default 50)")
  g.add_argument("--scale-factories", default="",
                 help="faiss factories to compare instead of the built-in list, ';'-separated, "
                 "each optionally FACTORY|PARAMS")
  g.add_argument("--scale-dir", default=None,
                 help="where index files are written to measure their size (default: a temp dir)")
  scale_real.add_arguments(g)


def _queries(n: int, num_heads: int, head_dim: int) -> dict[str, np.ndarray]:
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  base = synthetic_context_vectors(n, num_heads, head_dim, seed=10**6)
  return {kind: np.stack([search.mask_heads(q, heads, num_heads) for q in base])
          for kind, heads in query_kinds(num_heads).items()}


def measure_size(n: int, chosen: list[Candidate], n_queries: int, workdir: pathlib.Path,
                 *, num_heads: int, head_dim: int, chunk: int = CHUNK) -> list[dict]:
  """Builds every candidate index over `n` synthetic vectors and measures it (see module)."""
  import faiss  # pylint: disable=g-import-not-at-top
  from faiss.contrib import evaluation  # pylint: disable=g-import-not-at-top
  from faiss.contrib import exhaustive_search  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import factories  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import faiss_tools  # pylint: disable=g-import-not-at-top
  dim = num_heads * head_dim
  queries = _queries(n_queries, num_heads, head_dim)
  all_queries = np.concatenate(list(queries.values()))               # [kinds * Q, D]
  built = []
  for c in chosen:
    index = faiss.index_factory(dim, c.factory, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    index.train(synthetic_context_vectors(min(n, factories.train_size(c.factory)), num_heads,
                                          head_dim, seed=0))
    built.append({"candidate": c, "index": index, "seconds": time.perf_counter() - t0})

  def chunks():
    """The n vectors chunk by chunk, each added (timed) to every candidate on the way: one
    pass feeds both the candidates and the exact top-K."""
    for start in range(0, n, chunk):
      x = synthetic_context_vectors(min(chunk, n - start), num_heads, head_dim,
                                    seed=1 + start // chunk)
      for b in built:
        t0 = time.perf_counter()
        b["index"].add(x)
        b["seconds"] += time.perf_counter() - t0
      yield x

  _, truth_ids = exhaustive_search.knn_ground_truth(all_queries, chunks(), K,
                                                    faiss.METRIC_INNER_PRODUCT)
  truth = dict(zip(queries, np.split(truth_ids, len(queries))))
  results = []
  for b in built:
    c, index = b["candidate"], b["index"]
    path = workdir / f"bench-{n}.faiss"
    faiss.write_index(index, str(path))
    size = path.stat().st_size
    path.unlink()
    index = faiss_tools.parallel_candidates(index, faiss.omp_get_max_threads())  # as search does
    if c.params:
      faiss.ParameterSpace().set_index_parameters(index, c.params)
    kinds = {}
    t0 = time.perf_counter()
    parts = faiss_tools.candidate_parts(index, faiss.omp_get_max_threads())
    parts_seconds = time.perf_counter() - t0
    for kind, q in queries.items():
      heads = query_kinds(num_heads)[kind]
      t0 = time.perf_counter()
      search = _searcher(index, heads, num_heads, parts)
      cut_seconds = time.perf_counter() - t0
      seconds, ids = [], []
      search(q[0])  # warm-up: first-touch of pages, not timed
      for row in q:
        t0 = time.perf_counter()
        i = search(row)
        seconds.append(time.perf_counter() - t0)
        ids.append(np.pad(i, (0, K - len(i)), constant_values=-1))
      p50, p95 = percentiles_ms(seconds)
      kinds[kind] = {"p50_ms": p50, "p95_ms": p95,
                     "recall@50": evaluation.knn_intersection_measure(np.stack(ids),
                                                                      truth[kind]),
                     "cut_ms": 1e3 * cut_seconds if heads is not None else None}
    per_token = store_bytes_per_token(size / n, num_layers=BERT_BASE["num_layers"],
                                      num_heads=num_heads)
    results.append({"factory": c.factory, "params": c.params, "note": c.note, "vectors": n,
                    "build_seconds": b["seconds"], "bytes_per_vector": size / n,
                    "id_order_seconds": parts_seconds if faiss_tools.partitioned_base(index)
                    is not None else None,
                    "bytes_per_token": per_token, "queries": kinds})
    b["index"] = None
    del index
  return results


def _searcher(index, heads: Optional[list[int]], num_heads: int, parts=None):
  """query [D] -> top-K ids, as CorpusIndex.search runs it (faiss_tools.nearest), with a
  head-subset query's codes cut once, untimed, as a store does on a head set's first query
  (the cut's own time is measured by `cut_seconds`). `parts`: the index's candidate parts
  (faiss_tools.candidate_parts), when the caller has them already."""
  from exbert_lit.corpus import faiss_tools  # pylint: disable=g-import-not-at-top
  head_index = None
  if heads is not None and len(heads) < num_heads:
    if parts is None:
      parts = faiss_tools.candidate_parts(index, _threads())
    head_index = faiss_tools.heads_scan(parts, [h - 1 for h in heads], num_heads)
  return lambda q: faiss_tools.nearest(index, q, K, heads, num_heads, head_index)[1]


def _threads() -> int:
  import faiss  # pylint: disable=g-import-not-at-top
  return faiss.omp_get_max_threads()


def compare_routes(index, layer: int, queries: dict, truth: dict) -> dict[str, dict]:
  """Head-subset queries of a store's C(layer), two routes side by side, interleaved query by
  query (so both see the same load): "full scan" (every sub-quantiser scanned, the other heads
  of the query zeroed: the route before head-set cuts) and "chosen heads" (their codes alone,
  CorpusIndex.nearest). label -> route -> p50_ms, p95_ms, recall@50.

  Args:
    index: a CorpusIndex; queries / truth: label -> [Q, D] / [Q, K] (scale_real's).
  """
  from exbert_lit.bench import scale_real  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import faiss_tools  # pylint: disable=g-import-not-at-top
  out = {}
  for label, (kind, heads) in scale_real.query_kinds(index.num_heads).items():
    if kind != "context" or heads is None:
      continue
    full = index.faiss_index("context", layer)
    routes = {
        "full scan": lambda q, heads=heads: faiss_tools.nearest(full, q, K, heads,
                                                                index.num_heads)[1],
        "chosen heads": lambda q, heads=heads: index.nearest(q, layer=layer, kind="context",
                                                             heads=heads, k=K)[0]}
    seconds = {r: [] for r in routes}
    found = {r: [] for r in routes}
    for q in queries[label][:scale_real.WARM_UP]:
      for search in routes.values():
        search(q)
    for q in queries[label]:
      for r, search in routes.items():
        t0 = time.perf_counter()
        found[r].append(search(q))
        seconds[r].append(time.perf_counter() - t0)
    out[label] = {r: scale_real.figures(seconds[r], found[r], truth[label]) for r in routes}
  return out


def route_metrics(routes: dict[str, dict], where: str) -> list[dict]:
  out = []
  for label, by_route in routes.items():
    full, cut = by_route["full scan"], by_route["chosen heads"]
    out.append(bench.metric(
        f"real store, {label}: full scan -> chosen heads' codes, p50",
        f"{full['p50_ms']:.2f} -> {cut['p50_ms']:.2f}", "ms", "p50 <= 5 ms at 1M",
        f"x{full['p50_ms'] / cut['p50_ms']:.2f} faster; recall@50 {full['recall@50']:.3f} -> "
        f"{cut['recall@50']:.3f}; interleaved query by query; {where}"))
  return out


def _label(n: int) -> str:
  return f"{n // 1000}k" if n < 1_000_000 else f"{n / 1e6:g}M"


def metrics_of(results: list[dict]) -> list[dict]:
  out = []
  for r in results:
    label, name = _label(r["vectors"]), r["factory"] + (f" ({r['params']})" if r["params"] else "")
    out.append(bench.metric(f"{name}, {label}: build", r["build_seconds"], "s", None,
                            f"train + add, {r['note']}"))
    for kind, q in r["queries"].items():
      cut = "" if q.get("cut_ms") is None else f"; first query of the head set +{q['cut_ms']:.0f} ms (cut)"
      out.append(bench.metric(
          f"{name}, {label}: {kind} p50/p95", f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}", "ms",
          "p50 <= 5 ms at 1M, <= 20 ms at 10M",
          f"recall@50 {q['recall@50']:.3f} (goal >= 0.95){cut}"))
    if r.get("id_order_seconds") is not None:
      out.append(bench.metric(f"{name}, {label}: lists put in id order", r["id_order_seconds"],
                              "s", None, "once per index, on its first head-subset query"))
    t = r["bytes_per_token"]
    out.append(bench.metric(
        f"{name}, {label}: bytes per token, all layers", t["total"], "bytes",
        "<= 8 KB at bert-base dims",
        f"25 x {r['bytes_per_vector']:.0f} B vectors + {t['attention']} B attention + "
        f"{t['table']} B table"))
  return out


def run(args) -> dict:
  import faiss  # pylint: disable=g-import-not-at-top
  faiss.omp_set_num_threads(os.cpu_count() or 1)
  if getattr(args, "real", None):
    return scale_real.run(args)
  sizes = parse_sizes(args.scale_sizes)
  if args.scale_factories:
    chosen = [Candidate(*[p.strip() for p in f.split("|", 1)])
              for f in args.scale_factories.split(";") if f.strip()]
  else:
    chosen = candidates()
  results = []
  with tempfile.TemporaryDirectory(prefix="exbert-scale-", dir=args.scale_dir) as tmp:
    for n in sizes:
      todo = candidates_for(n, chosen)
      results += measure_size(n, todo, args.scale_queries, pathlib.Path(tmp),
                              num_heads=BERT_BASE["num_heads"], head_dim=BERT_BASE["head_dim"])
  return {"section": SECTION, "metrics": metrics_of(results), "details": results,
          "threads": faiss.omp_get_max_threads()}
