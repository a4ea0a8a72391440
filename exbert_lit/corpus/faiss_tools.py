"""faiss helpers the store needs and faiss does not have: merging shard indexes whose type has
no merge_from (IndexRefine); splitting the fast-scan candidate scan of one query over threads;
cutting one head's codes out of the packed candidate codes (head-major access without a second
copy on disk), and re-ranking candidates on the query's own dimensions.

Python-side lifetime: a faiss object reached through another (`refine.base_index`) is a view
that does not own its memory; every function here keeps the owners referenced while views are
in use, and the split keeps its parts alive in the returned index's `referenced_objects`
(faiss's own mechanism for this).
"""
from __future__ import annotations

from typing import Optional, Sequence

import faiss
import numpy as np

# Smaller indexes are scanned whole (a scan of them is short already).
SPLIT_MIN_VECTORS = 131_072
# A one-head query re-ranks at least 1 in this many vectors (see one_head_candidates).
ONE_HEAD_CANDIDATE_SHARE = 500


def _keep(owner: faiss.Index, objects: list) -> None:
  """Keeps `objects` alive as long as `owner` (faiss's wrappers allow only this attribute)."""
  owner.referenced_objects = list(getattr(owner, "referenced_objects", [])) + list(objects)


def _packed_codes(index: faiss.IndexPQFastScan) -> np.ndarray:
  """A view (no copy) of a fast-scan index's packed codes, [ntotal2 * M2 / 2] uint8; valid
  while the index lives, so only for use inside one call."""
  return faiss.rev_swig_ptr(index.codes.get(), index.codes.size())


# Within each 32-vector chunk of a group, byte j < 16 holds the code of vector PACK_ORDER[j]
# (low nibble) and of vector PACK_ORDER[j] + 16 (high nibble) for the group's first
# sub-quantiser; byte 16 + j the same for its second (faiss's pq4_pack_codes).
PACK_ORDER = np.array([0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15])


def unpacked_codes(index: faiss.IndexPQFastScan) -> np.ndarray:
  """The 4-bit codes of a fast-scan index, one per (vector, sub-quantiser).   -> uint8 [N, M]

  This is the packed layout the functions here read (faiss 1.15, pinned in pyproject.toml;
  tests/test_faiss_tools.py checks it against the product quantiser's own codes): the codes
  are blocks of `bbs` vectors; a block is M2/2 groups of bbs bytes, group g holding
  sub-quantisers 2g and 2g+1 of the block's vectors (head_scan and split_fast_scan rely on
  exactly this much); inside a group, chunks of 32 vectors in PACK_ORDER.
  """
  bbs, groups = index.bbs, index.M2 // 2
  nibbles = _packed_codes(index).reshape(index.ntotal2 // bbs, groups, bbs // 32, 2, 16)
  # [block, group, chunk, sub-quantiser of the pair, low/high nibble, 16] -> 32 vectors a chunk
  by_slot = np.stack([nibbles & 15, nibbles >> 4], axis=4).reshape(*nibbles.shape[:4], 32)
  vectors = by_slot[..., np.argsort(np.concatenate([PACK_ORDER, PACK_ORDER + 16]))]
  codes = vectors.transpose(0, 2, 4, 1, 3).reshape(index.ntotal2, groups * 2)
  return np.ascontiguousarray(codes[:index.ntotal, :index.pq.M])


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
  codes = _packed_codes(index)
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


def fast_scan_parts(index: faiss.Index) -> list:
  """The IndexPQFastScan parts of a candidate index, in id order: itself, or the parts of a
  split (`split_fast_scan`); [] for any other index."""
  index = faiss.downcast_index(index)
  if isinstance(index, faiss.IndexPQFastScan):
    return [index]
  if isinstance(index, faiss.IndexShards):
    parts = [faiss.downcast_index(index.at(i)) for i in range(index.count())]
    if parts and all(isinstance(p, faiss.IndexPQFastScan) for p in parts):
      return parts
  return []


def head_scan(index: faiss.Index, head: int, num_heads: int):
  """A fast-scan index of one head's codes only, cut out of an IndexRefine's candidate codes.

  Head-major access without storing codes twice on disk: the candidate product quantiser's
  sub-quantisers never straddle heads (default_factory), so head h owns sub-quantisers
  [h*m, (h+1)*m) with m = M / num_heads, and in faiss's packed layout (unpacked_codes: blocks of
  `bbs` vectors, each a run of bbs-byte groups, one group per pair of sub-quantisers) its codes
  are the groups [h*m/2, (h+1)*m/2) of every block. Scanning them ranks candidates exactly as scanning all
  codes with the other heads of the query zeroed (same scores), at 1/num_heads of the bytes.

  Args:
    index: an IndexRefine whose candidate index is an IndexPQFastScan or a split of one.
    head: 0-based.
  Returns: IndexPQFastScan over [dh] slices with ids 0..N-1, or None when the index is of
    another kind or its heads do not own whole pairs of sub-quantisers.
  """
  refine = faiss.downcast_index(index)
  if not isinstance(refine, faiss.IndexRefine):
    return None
  parts = fast_scan_parts(refine.base_index)
  if not parts:
    return None
  pq = parts[0].pq
  per_head, rest = divmod(pq.M, num_heads)
  if rest or per_head % 2 or not 0 <= head < num_heads:
    return None
  bbs = parts[0].bbs
  centroids = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)
  out = faiss.IndexPQFastScan(per_head * pq.dsub, per_head, pq.nbits, parts[0].metric_type, bbs)
  out.pq.centroids.resize(0)
  faiss.copy_array_to_vector(
      np.ascontiguousarray(centroids[head * per_head:(head + 1) * per_head]).ravel(),
      out.pq.centroids)
  out.is_trained = True
  groups = slice(head * per_head // 2, (head + 1) * per_head // 2)
  # A group holds 2 sub-quantisers x 4 bits for each of the block's bbs vectors: bbs bytes.
  codes = np.concatenate([
      _packed_codes(p).reshape(p.ntotal2 // bbs, p.M2 // 2, bbs)[:, groups]
      .reshape(-1) for p in parts])
  faiss.copy_array_to_AlignedTable(codes, out.codes)
  out.ntotal = sum(p.ntotal for p in parts)
  out.ntotal2 = sum(p.ntotal2 for p in parts)
  return out


def decoded_slice(refine_index: faiss.Index, ids: np.ndarray, dims: slice) -> np.ndarray:
  """The re-ranking codes of `ids`, decoded in the dimensions `dims` only.   -> [n, |dims|]

  8-bit scalar-quantised codes (the default) are read in place (memory-mapped or not) and only
  the slice decoded, as faiss decodes them: vmin + (code + 0.5) / 255 * vdiff per dimension.
  Other codes are decoded whole by faiss.
  """
  index = faiss.downcast_index(refine_index)
  if isinstance(index, faiss.IndexScalarQuantizer) and \
      index.sq.qtype == faiss.ScalarQuantizer.QT_8bit:
    codes = faiss.rev_swig_ptr(index.codes.data(), index.ntotal * index.code_size)
    codes = codes.reshape(index.ntotal, index.code_size)
    trained = faiss.vector_to_array(index.sq.trained)
    vmin, vdiff = trained[:index.d][dims], trained[index.d:][dims]
    return vmin + (codes[ids, dims].astype(np.float32) + 0.5) * (vdiff / 255)
  return index.reconstruct_batch(ids)[:, dims]


def rescore(refine_index: faiss.Index, ids: np.ndarray, query: np.ndarray, k: int,
            dims: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
  """The top k of candidate `ids` by inner product of `query` with their decoded re-ranking
  codes (what IndexRefine does after its candidate scan), over `dims` (where the query is
  non-zero).   -> scores [k'], ids [k'], best first, ties by id."""
  ids = np.unique(ids[ids >= 0])
  if not len(ids):
    return np.zeros(0, np.float32), np.zeros(0, np.int64)
  scores = decoded_slice(refine_index, ids, dims) @ np.asarray(query, np.float32)[dims]
  order = np.lexsort((ids, -scores))[:k]
  return scores[order], ids[order]


def one_head_candidates(k: int, k_factor: float, ntotal: int) -> int:
  """Candidates a one-head query re-ranks: k * k_factor, and at least one in
  ONE_HEAD_CANDIDATE_SHARE of the index. One head's 4-bit codes are coarser than a head set's
  sum, and their near-ties grow with the index: with 600 candidates (k=50, k_factor=12)
  `exbert-lit bench --scale` measured recall@50 0.947 at 1M vectors and 0.760 at 10M; with
  this floor see README's table."""
  return int(min(ntotal, max(k * k_factor, -(-ntotal // ONE_HEAD_CANDIDATE_SHARE))))


def search_one_head(index: faiss.Index, head_index, query: np.ndarray, head: int,
                    num_heads: int, k: int) -> tuple[np.ndarray, np.ndarray]:
  """Top k of an IndexRefine for a query of one head, scanning only that head's codes and
  re-ranking on that head's dimensions of the re-ranking codes.

  Args:
    index: the IndexRefine `head_index` was cut from (its k_factor and re-ranking codes).
    head_index: head_scan(index, head, num_heads).
    query: [D] the full-width query (other heads zeroed).
    head: 0-based.
  Returns: scores [k'], ids [k'] (k' = min(k, ntotal)), best first.
  """
  refine = faiss.downcast_index(index)
  head_dim = query.shape[0] // num_heads
  dims = slice(head * head_dim, (head + 1) * head_dim)
  q_head = np.ascontiguousarray(query[dims], dtype=np.float32)
  wanted = one_head_candidates(k, refine.k_factor, head_index.ntotal)
  _, candidates = head_index.search(q_head[None, :], wanted)
  return rescore(refine.refine_index, candidates[0], query, k, dims)


def nearest(index: faiss.Index, query: np.ndarray, k: int, heads: Optional[Sequence[int]],
            num_heads: int, head_index=None) -> tuple[np.ndarray, np.ndarray]:
  """Top k of `index` for `query` [D] (unchosen heads zeroed), the one way the store searches:
  a one-head query with a `head_index` (head_scan of that head) scans only that head's codes
  (search_one_head); anything else is the index's own search.

  Args:
    heads: 1-based chosen heads, or None for all.
  Returns: scores [k'], ids [k'], best first, no -1 padding.
  """
  if head_index is not None and heads is not None and len(heads) == 1:
    return search_one_head(index, head_index, query, heads[0] - 1, num_heads, k)
  scores, ids = index.search(np.asarray(query, np.float32)[None, :], int(min(k, index.ntotal)))
  keep = ids[0] >= 0
  return scores[0][keep], ids[0][keep]
