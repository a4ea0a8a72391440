"""faiss helpers the store needs and faiss does not have: merging shard indexes whose type has
no merge_from (IndexRefine), and splitting a fast-scan candidate scan over threads.

Python-side lifetime: a faiss object reached through another (`refine.base_index`) is a view
that does not own its memory; every function here keeps the owners referenced while views are
in use, and the split keeps its parts alive in the returned index's `referenced_objects`
(faiss's own mechanism for this).
"""
from __future__ import annotations

import faiss
import numpy as np

# Below this many vectors a split scan costs more in thread start-up than it saves.
SPLIT_MIN_VECTORS = 131_072


def _keep(owner: faiss.Index, objects: list) -> None:
  """Keeps `objects` alive as long as `owner` (faiss's wrappers allow only this attribute)."""
  owner.referenced_objects = list(getattr(owner, "referenced_objects", [])) + list(objects)


def merge_into(target: faiss.Index, other: faiss.Index) -> None:
  """Appends `other`'s vectors to `target` (same factory, trained alike), codes unchanged.

  IndexRefine has no merge_from of its own: its candidate and re-ranking parts are merged one
  by one. IVF indexes shift the appended ids by `target.ntotal`. Indexes without merge_from
  (e.g. HNSW) get the decoded vectors re-added.
  """
  into, source = faiss.downcast_index(target), faiss.downcast_index(other)
  if isinstance(into, faiss.IndexRefine):
    merge_into(into.base_index, source.base_index)
    merge_into(into.refine_index, source.refine_index)
    into.ntotal = into.refine_index.ntotal
  elif faiss.try_extract_index_ivf(into) is not None:
    into.merge_from(source, into.ntotal)
  else:
    try:
      into.merge_from(source, 0)
    except RuntimeError:
      if source.ntotal:
        into.add(source.reconstruct_n(0, source.ntotal))


def split_fast_scan(index: faiss.IndexPQFastScan, parts: int) -> faiss.IndexShards:
  """The same codes as `parts` consecutive fast-scan indexes searched by parallel threads.

  faiss scans a fast-scan index for a single query on one thread; the store's queries come one
  at a time. The packed codes are blocks of `bbs` vectors, so each part takes whole blocks
  (a byte range of the codes). Ids stay global (successive ids). Scores equal the unsplit
  index's; among equal (quantised) scores the order can differ.
  """
  if not isinstance(index, faiss.IndexPQFastScan):
    raise TypeError(f"split_fast_scan needs an IndexPQFastScan, not {type(index).__name__}")
  codes = faiss.AlignedTable_to_array(index.codes)
  block_bytes = index.bbs * index.M2 // 2
  num_blocks = index.ntotal2 // index.bbs
  bounds = [round(i * num_blocks / parts) for i in range(parts + 1)]
  shards = faiss.IndexShards(index.d, True, True)   # threaded, successive ids
  keep = []
  for first, end in zip(bounds, bounds[1:]):
    if end == first:
      continue
    sub = faiss.IndexPQFastScan(index.d, index.pq.M, index.pq.nbits, index.metric_type,
                                index.bbs)
    sub.pq = index.pq
    sub.is_trained = True
    faiss.copy_array_to_AlignedTable(np.ascontiguousarray(codes[first * block_bytes:
                                                                end * block_bytes]), sub.codes)
    sub.ntotal = min(end * index.bbs, index.ntotal) - first * index.bbs
    sub.ntotal2 = (end - first) * index.bbs
    shards.add_shard(sub)
    keep.append(sub)
  _keep(shards, keep)
  return shards


def parallel_candidates(index: faiss.Index, threads: int) -> faiss.Index:
  """`index` with the fast-scan candidate scan of an IndexRefine split over `threads` threads
  (for indexes of at least SPLIT_MIN_VECTORS); any other index is returned as it is.

  The result is a new IndexRefine over the split candidates and the original's re-ranking
  codes (which it does not own: the original stays referenced), with the original's k_factor;
  the original's own copy of the candidate codes is released.
  """
  loaded = faiss.downcast_index(index)
  if threads < 2 or not isinstance(loaded, faiss.IndexRefine) or \
      loaded.ntotal < SPLIT_MIN_VECTORS:
    return index
  base = faiss.downcast_index(loaded.base_index)
  if not isinstance(base, faiss.IndexPQFastScan):
    return index
  shards = split_fast_scan(base, threads)
  base.codes.resize(0)   # the shards hold copies; the original base is never searched again
  refine_codes = faiss.downcast_index(loaded.refine_index)
  split = faiss.IndexRefine(shards, refine_codes)
  split.k_factor = loaded.k_factor
  _keep(split, [index, loaded, shards, refine_codes])
  return split
