"""Which faiss index a store gets: the choice by size, the training sample, and making one from
a factory string (a bad one is the user's error, named in one line)."""
from __future__ import annotations

import math
from typing import Iterable

from exbert_lit.errors import ExbertError

# Below this many vectors per index the exact (Flat) index is the default.
EXACT_MAX_VECTORS = 200_000
# Training sample for trainable factories, per index (vectors): partitioned indexes (IVF
# k-means) need ~40 per list; scalar quantisers only per-dimension ranges.
TRAIN_VECTORS = 65_536
TRAIN_VECTORS_NO_PARTITION = 16_384
# Candidates re-ranked per result by the default compressed index: k x this many. 12 kept
# recall@50 >= 0.95 for head sets and all heads at 1M and 10M vectors (bench --scale); one-head
# queries re-rank more (faiss_tools.candidates_wanted).
REFINE_K_FACTOR = 12


def train_size(factory: str) -> int:
  """Vectors to train one index of `factory` on."""
  return TRAIN_VECTORS if "IVF" in factory.upper() else TRAIN_VECTORS_NO_PARTITION


def default_factory(num_vectors: int, dims: Iterable[int]) -> tuple[str, str]:
  """(faiss factory, search params) for indexes of `num_vectors` vectors of sizes `dims`.

  Exact (Flat, 4 bytes per dimension) while small. Beyond that, one scan of 4-bit fast-scan
  product-quantiser codes (PQ{D/2}x4fs: half a byte per dimension) picks 12k candidates, and
  8-bit scalar-quantised codes (SQ8) re-rank them (faiss's IndexRefine, `k_factor_rf`).

  Why this and not a partitioned index (IVF/HNSW): a head-subset query zeroes most of the
  vector, and its neighbours over the chosen heads are scattered over partitions made from
  whole vectors (IVF lost most of recall@50 on head subsets in `exbert-lit bench --scale`).
  Every sub-quantiser here covers 2 dimensions, so none straddles two heads (head sizes are
  even): a zeroed head adds exactly 0 to every candidate's score, and the candidate scan ranks
  by the chosen heads only. Needs one vector size for both kinds (true of the supported
  architectures, where hidden size = heads x head size); otherwise SQ8 alone.
  Why 8 bits and not fewer: on the whole Brown corpus's real vectors, recall@50 >= 0.95 for
  one-head and embedding queries allows a score error std of about 0.0027; 6-bit codes make
  about 0.005 (recall@50 0.90 for one head at 1.4M tokens). `exbert-lit bench --section scale
  --real STORE --scale-real-bound` measures both (README "Search on real vectors").
  `exbert-lit bench --scale` reports recall@50, latency and bytes per token;
  `--index-type` overrides the choice.
  """
  if num_vectors <= EXACT_MAX_VECTORS:
    return "Flat", ""
  sizes = set(dims)
  if len(sizes) == 1 and next(iter(sizes)) % 2 == 0:
    return f"PQ{next(iter(sizes)) // 2}x4fs,Refine(SQ8)", f"k_factor_rf={REFINE_K_FACTOR}"
  return "SQ8", ""


# The partitioned layout (partitioned_factory) probes this share of its lists: 1/16 kept
# recall@50 >= 0.95 for all-head and embedding queries on the whole-Brown minilm store
# (IVF1024, nprobe 64: 0.967 and 0.979; `exbert-lit bench --section scale --real STORE
# --scale-real-factories "IVF1024,PQ192x4fs,Refine(SQ8)|nprobe=64,k_factor_rf=12"`).
PROBE_SHARE = 16


def partitioned_factory(num_vectors: int, dims: Iterable[int]) -> tuple[str, str]:
  """(faiss factory, search params) of the partitioned layout: default_factory's codes, the
  4-bit ones kept in inverted lists (`IVF{n},PQ{D/2}x4fs,Refine(SQ8)`, n a power of two near
  sqrt(num_vectors), codes not by residual) and 1/PROBE_SHARE of the lists probed.

  Whole-vector queries (all heads, embeddings) then scan only the probed lists (sub-linear);
  head-subset queries, whose neighbours partitions of whole vectors scatter, scan the chosen
  heads' codes of every vector (faiss_tools.candidate_parts puts the lists back in id order
  once, in memory). Costs 8 bytes of id per vector and the centroids beyond default_factory.
  Falls back to default_factory where that is not a 4-bit candidate layout.
  """
  factory, params = default_factory(num_vectors, dims)
  if not factory.startswith("PQ"):
    return factory, params
  nlist = 1 << max(4, round(math.log2(max(num_vectors, 1)) / 2))
  return (f"IVF{nlist},{factory}",
          f"nprobe={max(1, nlist // PROBE_SHARE)},{params}" if params else
          f"nprobe={max(1, nlist // PROBE_SHARE)}")


def make_index(factory: str, dim: int):
  """An empty inner-product faiss index of `factory` for `dim`-sized vectors; ExbertError
  (one line, faiss's reason) for a factory faiss does not understand."""
  import faiss  # pylint: disable=g-import-not-at-top
  try:
    return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
  except RuntimeError as e:
    raise ExbertError(f"invalid faiss index type {factory!r}: "
                      f"{str(e).strip().splitlines()[-1][:200]}") from e
