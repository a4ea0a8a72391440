"""Corpus benchmarks (section `corpus` of `exbert-lit bench`).

1. Indexing throughput: `exbert-lit index`'s whole build (build.build: spaCy, model, faiss,
   store, merge; not the model's loading) on the first N Brown sentences, against a raw batched
   forward of the same HF model on the same sentences with the same batch size and length
   sorting, measured side by side in one run (raw, index, raw again; the ratio uses the mean
   raw rate). The CPU-time ratio counts the build's spaCy process (annotator.py) too.
2. Search latency and recall: single-query p50/p95 at k=50 with a head subset, on synthetic
   context vectors at bert-base dimensions (12 heads x 64) for 100k and 1M vectors, for the
   exact index and for the compressed factory the build chooses for large corpora; recall@50
   of the compressed index against exact search (faiss contrib's knn_intersection_measure).
3. Stored bytes per token for every layer of both kinds at bert-base dimensions: the measured
   bytes per vector of each index type (serialised size / vectors) x 25 indexes (E(0..12),
   C(1..12)) + the attention summaries + the token table measured on the store of (1).
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import resource
import tempfile
import time

import numpy as np

from exbert_lit import bench
from exbert_lit import notation

SECTION = "corpus"
log = logging.getLogger(__name__)

BERT_BASE = dict(num_layers=12, num_heads=12, head_dim=64, hidden_size=768)


# ---------------------------------------------------------------------------------------------
# Pure helpers (tested in tests/test_search.py).

def synthetic_context_vectors(n: int, num_heads: int, head_dim: int, *, seed: int,
                              clusters: int = 256, noise: float = 1.0) -> np.ndarray:
  """Clustered stand-ins for C(l): each head slice = unit(centre + noise * gaussian).

  Real token representations cluster (by word type and syntactic role); uniformly random
  vectors would be a different, unrealistic case for quantisers. The centres are fixed so that
  vectors of different seeds come from one distribution.   -> float32 [n, H*dh]
  """
  centres = np.random.default_rng(12345).standard_normal(
      (num_heads, clusters, head_dim)).astype(np.float32)
  rng = np.random.default_rng(seed)
  which = rng.integers(0, clusters, size=(n, num_heads))
  x = centres[np.arange(num_heads)[None, :], which]                     # [n, H, dh]
  x += noise * rng.standard_normal((n, num_heads, head_dim), dtype=np.float32)
  x /= np.linalg.norm(x, axis=-1, keepdims=True)
  return x.reshape(n, num_heads * head_dim)


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
  return (float(np.percentile(seconds, 50) * 1000), float(np.percentile(seconds, 95) * 1000))


# ---------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("corpus section")
  g.add_argument("--corpus-model", default="minilm",
                 help="model for the indexing throughput (short name or path; "
                 "'bert-base-random' = random-init BERT-base with minilm's tokenizer, "
                 "'llama-1b-random' = random-init 1.1B Llama with smollm2's)")
  g.add_argument("--corpus-sentences", type=int, default=500,
                 help="Brown sentences for the throughput run (default 500)")
  g.add_argument("--corpus-batch-size", type=int, default=16)
  g.add_argument("--corpus-sizes", default="100000,1000000",
                 help="synthetic index sizes for search latency (default 100000,1000000)")
  g.add_argument("--corpus-queries", type=int, default=200)
  g.add_argument("--corpus-heads", default="1,5,9",
                 help="head subset of the queries, e.g. 1,5,9 or [1-3,7] (1-based)")
  g.add_argument("--corpus-factories", default="",
                 help="more faiss factories to compare in the search benchmark, ';'-separated, "
                 "each optionally FACTORY|PARAMS, e.g. 'IVF4096,SQ8|nprobe=64;SQ4'")
  g.add_argument("--corpus-skip", default="", help="comma list of: throughput,search")


def _random_bert_base(directory: pathlib.Path) -> pathlib.Path:
  """BertForMaskedLM at bert-base size, random weights, minilm's (bert-base-uncased) tokenizer:
  the same compute as the real bert-base, which no registry here ships."""
  import transformers  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  tokenizer = transformers.AutoTokenizer.from_pretrained(str(registry.minilm_dir()))
  config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=768,
                                   num_hidden_layers=12, num_attention_heads=12,
                                   intermediate_size=3072, architectures=["BertForMaskedLM"])
  model = transformers.BertForMaskedLM(config)
  model.save_pretrained(directory)
  tokenizer.save_pretrained(directory)
  return directory


def _random_llama_1b(directory: pathlib.Path) -> pathlib.Path:
  """LlamaForCausalLM of 1.1B parameters (TinyLlama-1.1B's shape: 22 layers, 2048 wide, 32
  query and 4 key/value heads), random weights, smollm2's tokenizer: the compute of a
  1B-parameter causal model for the throughput figure."""
  import transformers  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  tokenizer = transformers.AutoTokenizer.from_pretrained(str(registry.smollm2_dir()))
  config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=2048,
                                    intermediate_size=5632, num_hidden_layers=22,
                                    num_attention_heads=32, num_key_value_heads=4,
                                    max_position_embeddings=2048,
                                    architectures=["LlamaForCausalLM"])
  model = transformers.LlamaForCausalLM(config)
  model.save_pretrained(directory)
  tokenizer.save_pretrained(directory)
  return directory


RANDOM_MODELS = {"bert-base-random": _random_bert_base, "llama-1b-random": _random_llama_1b}


def _raw_forward(model, texts: list[str], batch_size: int) -> tuple[float, int, float]:
  """Wall seconds, tokens and CPU seconds for plain HF forwards of `texts` (length-sorted
  batches, no hooks)."""
  import torch  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import stages  # pylint: disable=g-import-not-at-top
  tokens = 0
  cpu = time.process_time()
  started = time.perf_counter()
  with torch.inference_mode():
    for batch in stages.length_batches([len(t) for t in texts], batch_size):
      enc = model.tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                            max_length=model.max_length, return_tensors="pt")
      model.model(**enc)
      tokens += int(enc["attention_mask"].sum())
  return time.perf_counter() - started, tokens, time.process_time() - cpu


def _children_cpu() -> float:
  """CPU seconds of this process's finished (waited-for) child processes."""
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def throughput(model_name: str, n_sentences: int, batch_size: int, workdir: pathlib.Path
               ) -> tuple[list[dict], dict]:
  from exbert_lit.corpus import annotate  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import build  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  source = model_name
  if model_name in RANDOM_MODELS:
    source = str(RANDOM_MODELS[model_name](workdir / model_name))
  model = load_model(source, batch_size=batch_size, compute_gradients=False)
  # Warm-up (first-call allocations), not timed.
  _raw_forward(model, ["A short warm-up sentence for the model."] * batch_size, batch_size)
  build.build(model, "brown", workdir / "warm-up", build.BuildConfig(max_sentences=batch_size),
              progress=False)
  out = workdir / "store"
  config = build.BuildConfig(batch_size=batch_size, max_sentences=n_sentences)
  # The build's sentences, read back after it, are what the raw forward runs on; to run raw
  # first we select them as the build will (spaCy is deterministic).
  texts = [s.text for s in build.select_sentences("brown", config)[0]]
  nlp = annotate.load_pipeline(config.spacy_pipeline)
  raw1, raw_tokens, raw1_cpu = _raw_forward(model, texts, batch_size)
  cpu = time.process_time() + _children_cpu()
  started = time.perf_counter()
  manifest = build.build(model, "brown", out, config, progress=False)
  index_seconds = time.perf_counter() - started
  index_cpu = time.process_time() + _children_cpu() - cpu   # with the spaCy process's
  raw2, _, raw2_cpu = _raw_forward(model, texts, batch_size)
  t0 = time.perf_counter()
  list(annotate.annotate(texts, nlp, split=False))
  spacy_seconds = time.perf_counter() - t0
  with open(out / "sentences.jsonl", encoding="utf-8") as f:
    stored = [json.loads(line)["text"] for line in f]
  if stored != texts:
    raise RuntimeError("the benchmark's sentences differ from the build's")
  tokens = manifest["counts"]["tokens"]
  raw_rate = raw_tokens / ((raw1 + raw2) / 2)
  index_rate = tokens / index_seconds
  sizes = store.directory_bytes(out)
  raw_cpu_rate = raw_tokens / ((raw1_cpu + raw2_cpu) / 2)
  cpu_ratio = (tokens / index_cpu) / raw_cpu_rate
  details = {"model": model_name, "sentences": len(texts), "tokens": tokens,
             "batch_size": batch_size, "raw_seconds": [raw1, raw2],
             "raw_cpu_seconds": [raw1_cpu, raw2_cpu], "index_cpu_seconds": index_cpu,
             "index_seconds": index_seconds, "spacy_seconds": spacy_seconds,
             "store_bytes": sizes, "dims": manifest["dims"],
             "layers": manifest["model"]["num_layers"], "heads": manifest["model"]["num_heads"]}
  metrics = [
      bench.metric(f"index throughput ({model_name})", index_rate, "tokens/s"),
      bench.metric(f"raw forward throughput ({model_name})", raw_rate, "tokens/s"),
      bench.metric("index / raw forward", index_rate / raw_rate, "ratio", ">= 0.9",
                   f"{len(texts)} Brown sentences, batch {batch_size}; build {index_seconds:.1f} s "
                   f"(spaCy, in its own process beside the model, takes {spacy_seconds:.1f} s "
                   f"alone); raw wall seconds {raw1:.1f} and {raw2:.1f}"),
      bench.metric("index / raw forward, CPU time", cpu_ratio, "ratio", None,
                   "tokens per CPU-second of the build's processes (spaCy's included): less "
                   "sensitive to other load on the machine"),
      bench.metric(f"store bytes per token ({model_name}, {manifest['index']['factory']})",
                   sum(sizes.values()) / tokens, "bytes",
                   None, f"L={details['layers']}, dims {manifest['dims']}"),
  ]
  return metrics, details


def _latencies(index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
  seconds, ids = [], []
  for q in queries:
    t0 = time.perf_counter()
    _, i = index.search(q[None, :], k)
    seconds.append(time.perf_counter() - t0)
    ids.append(i[0])
  return seconds, np.stack(ids)


def search_latency(sizes: list[int], n_queries: int, heads: list[int],
                   extra: tuple[tuple[str, str], ...] = ()) -> tuple[list[dict], dict]:
  import faiss  # pylint: disable=g-import-not-at-top
  from faiss.contrib import evaluation  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import factories  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  h, dh = BERT_BASE["num_heads"], BERT_BASE["head_dim"]
  dim, k = h * dh, 50
  queries = synthetic_context_vectors(n_queries, h, dh, seed=999)
  queries = np.stack([search.mask_heads(q, heads, h) for q in queries])
  metrics, details = [], {}
  chunk = 50_000
  for n in sizes:
    default = factories.default_factory(max(n, factories.EXACT_MAX_VECTORS + 1), [dim])
    candidates = [default] + list(extra)
    exact = faiss.IndexFlatIP(dim)
    indexes = []
    for factory, params in candidates:
      index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
      t0 = time.perf_counter()
      index.train(synthetic_context_vectors(min(n, factories.train_size(factory)), h, dh,
                                            seed=0))
      indexes.append((factory, params, index, time.perf_counter() - t0))
    for start in range(0, n, chunk):
      x = synthetic_context_vectors(min(chunk, n - start), h, dh, seed=1 + start // chunk)
      exact.add(x)
      for _, _, index, _ in indexes:
        index.add(x)
    exact_s, truth = _latencies(exact, queries, k)
    e50, e95 = percentiles_ms(exact_s)
    label = f"{n // 1000}k" if n < 1_000_000 else f"{n / 1e6:g}M"
    hs = ",".join(map(str, heads))
    metrics.append(bench.metric(f"exact (Flat) search p50/p95, {label} vectors",
                                f"{e50:.1f} / {e95:.1f}", "ms", None, f"k=50, heads {hs}"))
    details[label] = {"exact_ms": [e50, e95], "factories": []}
    for factory, params, index, train_seconds in indexes:
      if params:
        faiss.ParameterSpace().set_index_parameters(index, params)
      comp_s, approx = _latencies(index, queries, k)
      recall = evaluation.knn_intersection_measure(approx, truth)
      bytes_per_vector = faiss.serialize_index(index).size / n
      c50, c95 = percentiles_ms(comp_s)
      details[label]["factories"].append({
          "factory": factory, "search_params": params, "train_seconds": train_seconds,
          "bytes_per_vector": bytes_per_vector, "ms": [c50, c95], "recall@50": recall,
          "default": (factory, params) == default})
      name = factory + (f" ({params})" if params else "")
      metrics += [
          bench.metric(f"{name} search p50/p95, {label} vectors", f"{c50:.1f} / {c95:.1f}",
                       "ms", "p50 <= 10 ms at 1M", "the build's default" if
                       (factory, params) == default else "--index-type alternative"),
          bench.metric(f"{name} recall@50 vs exact, {label}", recall, "", ">= 0.95",
                       f"{n_queries} queries, heads {hs}"),
          bench.metric(f"{name} bytes per vector, {label}", bytes_per_vector, "bytes"),
      ]
    del exact, indexes
  return metrics, details


def bytes_per_token(search_details: dict, throughput_details: dict | None) -> list[dict]:
  """Stored bytes per token at bert-base dimensions, for the exact and the compressed store."""
  n_indexes = (BERT_BASE["num_layers"] + 1) + BERT_BASE["num_layers"]
  top_k = 3
  attention = BERT_BASE["num_layers"] * (BERT_BASE["num_heads"] * top_k * (2 + 2) + 2)
  table = None
  if throughput_details:
    sizes = throughput_details["store_bytes"]
    table = (sizes.get("tokens", 0) + sizes.get("text", 0)) / throughput_details["tokens"]
  table_note = "token table + text measured on the throughput store" if table else \
      "token table not measured (throughput skipped): 0 counted"
  table = table or 0.0
  flat = n_indexes * (BERT_BASE["hidden_size"] * 4)
  metrics = [bench.metric("bytes per token, exact store (Flat), bert-base dims",
                          flat + attention + table, "bytes", None,
                          f"25 x 3072 B vectors + {attention} B attention + {table:.0f} B table")]
  if search_details:
    largest = list(search_details.values())[-1]
    for f in largest["factories"]:
      per_index = f["bytes_per_vector"]
      metrics.append(bench.metric(
          f"bytes per token, {f['factory']} store, bert-base dims",
          n_indexes * per_index + attention + table, "bytes", "<= 8 KB with recall@50 >= 0.95",
          f"25 x {per_index:.0f} B (measured) + {attention} B attention + {table:.0f} B table; "
          f"{table_note}; recall@50 {f['recall@50']:.3f}"))
  return metrics


def run(args) -> dict:
  skip = {s.strip() for s in args.corpus_skip.split(",") if s.strip()}
  # The query head subset in the notation (1,5,9 or [1-3,7]; all = every head), checked first.
  heads = notation.check_heads(notation.parse_heads(args.corpus_heads), BERT_BASE["num_heads"])
  heads = list(heads or range(1, BERT_BASE["num_heads"] + 1))
  metrics, details = [], {}
  tdetails = None
  if "throughput" not in skip:
    with tempfile.TemporaryDirectory(prefix="exbert-bench-") as tmp:
      m, tdetails = throughput(args.corpus_model, args.corpus_sentences, args.corpus_batch_size,
                               pathlib.Path(tmp))
    metrics += m
    details["throughput"] = tdetails
  sdetails = {}
  if "search" not in skip:
    sizes = [int(s) for s in args.corpus_sizes.split(",") if s.strip()]
    extra = tuple((f.split("|")[0].strip(), f.split("|")[1].strip() if "|" in f else "")
                  for f in args.corpus_factories.split(";") if f.strip())
    m, sdetails = search_latency(sizes, args.corpus_queries, heads, extra)
    metrics += m
    details["search"] = sdetails
  metrics += bytes_per_token(sdetails, tdetails)
  return {"section": SECTION, "metrics": metrics, "details": details}
