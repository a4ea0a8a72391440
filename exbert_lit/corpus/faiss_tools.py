"""faiss helpers the store needs and faiss does not have: merging shard indexes whose type has
no merge_from (IndexRefine); splitting the fast-scan candidate scan of one query over threads;
cutting the chosen heads' codes out of the packed candidate codes (head-major access without a
second copy on disk), and re-ranking candidates on the query's own dimensions.

Head-subset scans (heads_scan, search_heads): a head-subset query zeroes the other heads of
the query, and scanning all codes with those zeros costs what a whole-vector scan costs (every
sub-quantiser is read). The default candidate codes (`PQ{D/2}x4fs`, factories.default_factory)
have sub-quantisers that never straddle heads, so a head set's codes are whole groups of
faiss's packed layout (unpacked_codes): cut out, they make a fast-scan index over the chosen
heads' slices whose scores equal the full scan's with the other heads zeroed, at |S|/H of the
bytes. A cut costs one copy of |S|/H of the codes; CorpusIndex keeps the recent ones.
Partitioned candidate codes (`IVF{n},PQ{D/2}x4fs`, not by residual: whole-vector queries scan
only the probed lists) are put back in id order once per index (flat_codes) and cut from there.

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
# A one-head query re-ranks at least 1 in this many vectors (see candidates_wanted).
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
  shards = faiss.IndexShards(index.d, True, True)   # threaded, successive ids
  keep = split_parts(index, parts)
  for sub in keep:
    shards.add_shard(sub)
  _keep(shards, keep)
  return shards


def split_parts(index: faiss.IndexPQFastScan, parts: int) -> list:
  """split_fast_scan's parts: IndexPQFastScan copies of consecutive whole blocks of the codes,
  each owning its codes."""
  if not isinstance(index, faiss.IndexPQFastScan):
    raise TypeError(f"split_fast_scan needs an IndexPQFastScan, not {type(index).__name__}")
  codes = _packed_codes(index)
  block_bytes = index.bbs * index.M2 // 2
  num_blocks = index.ntotal2 // index.bbs
  bounds = [round(i * num_blocks / parts) for i in range(parts + 1)]
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
    keep.append(sub)
  return keep


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


def decoded_slice(refine_index: faiss.Index, ids: np.ndarray, dims) -> np.ndarray:
  """The re-ranking codes of `ids`, decoded in the dimensions `dims` only (a slice or an
  index array).   -> [n, |dims|]

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
    if isinstance(dims, np.ndarray):   # one slice per run of consecutive dims (a head run):
      # a fancy index over the columns costs several times more (ms per head-set query)
      cuts = np.flatnonzero(np.diff(dims) != 1) + 1
      picked = np.concatenate([codes[ids, int(run[0]):int(run[-1]) + 1]
                               for run in np.split(dims, cuts)], axis=1)
    else:
      picked = codes[ids, dims]
    return vmin + (picked.astype(np.float32) + 0.5) * (vdiff / 255)
  return index.reconstruct_batch(ids)[:, dims]


def rescore(refine_index: faiss.Index, ids: np.ndarray, query: np.ndarray, k: int,
            dims=slice(None)) -> tuple[np.ndarray, np.ndarray]:
  """The top k of candidate `ids` by inner product of `query` with their decoded re-ranking
  codes (what IndexRefine does after its candidate scan), over `dims` (a slice or an index
  array: where the query is non-zero).   -> scores [k'], ids [k'], best first, ties by id."""
  ids = np.unique(ids[ids >= 0])
  if not len(ids):
    return np.zeros(0, np.float32), np.zeros(0, np.int64)
  scores = decoded_slice(refine_index, ids, dims) @ np.asarray(query, np.float32)[dims]
  order = np.lexsort((ids, -scores))[:k]
  return scores[order], ids[order]


def head_runs(heads: Sequence[int]) -> list[tuple[int, int]]:
  """Sorted 0-based heads as runs [first, end) of consecutive heads: [0, 1, 2, 5] ->
  [(0, 3), (5, 6)]."""
  runs: list[list[int]] = []
  for h in sorted(set(int(h) for h in heads)):
    if runs and runs[-1][1] == h:
      runs[-1][1] = h + 1
    else:
      runs.append([h, h + 1])
  return [(a, b) for a, b in runs]


def head_dims(heads: Sequence[int], head_dim: int) -> np.ndarray:
  """The dimensions of the 0-based `heads`' slices, in head order.   int64 [|S| * dh]"""
  return np.concatenate([np.arange(h * head_dim, (h + 1) * head_dim)
                         for h in sorted(set(int(h) for h in heads))]).astype(np.int64)


def candidate_parts(index: faiss.Index, threads: int = 1) -> list:
  """The 4-bit candidate codes of an IndexRefine as IndexPQFastScan parts in id order (what
  heads_scan cuts): the parts of a flat candidate index as they are, a partitioned one's codes
  put back in id order (flat_codes, a copy, split into `threads` parts); [] for other indexes."""
  refine = faiss.downcast_index(index)
  if not isinstance(refine, faiss.IndexRefine):
    return []
  ivf = partitioned_base(refine)
  if ivf is not None:
    return flat_codes(ivf, threads)
  return fast_scan_parts(refine.base_index)


def partitioned_base(index: faiss.Index):
  """The IndexIVFPQFastScan (not by residual) candidate index of an IndexRefine, or None."""
  refine = faiss.downcast_index(index)
  if not isinstance(refine, faiss.IndexRefine):
    return None
  base = faiss.downcast_index(refine.base_index)
  if isinstance(base, faiss.IndexIVFPQFastScan) and not base.by_residual:
    return base
  return None


def flat_codes(ivf: faiss.IndexIVFPQFastScan, parts: int, chunk: int = 1 << 16) -> list:
  """The codes of a partitioned fast-scan index in id order, as `parts` IndexPQFastScan parts
  (consecutive ids, whole blocks each; what split_fast_scan gives for a flat one).

  The lists' packed codes are unpacked (unpacked_codes: each list is whole blocks of the same
  layout) about `chunk` vectors at a time, put at their ids, and packed again (packed_codes),
  `chunk` vectors at a time. Ids must be 0..N-1 (the build adds in order).
  """
  invlists = faiss.downcast_InvertedLists(ivf.invlists)
  m, bbs = ivf.pq.M, ivf.bbs
  codes = np.zeros((ivf.ntotal, m), dtype=np.uint8)
  probe = faiss.IndexPQFastScan(ivf.d, m, ivf.pq.nbits, ivf.metric_type, bbs)
  pending_codes, pending_ids, slots = [], [], 0

  def unpack_pending():
    probe.ntotal = probe.ntotal2 = slots
    faiss.copy_array_to_AlignedTable(np.concatenate(pending_codes), probe.codes)
    ids = np.concatenate(pending_ids)
    codes[ids[ids >= 0]] = unpacked_codes(probe)[ids >= 0]

  for lst in range(ivf.nlist):
    size = invlists.list_size(lst)
    if not size:
      continue
    blocks = -(-size // bbs)
    pending_codes.append(faiss.rev_swig_ptr(invlists.get_codes(lst), blocks * invlists.block_size))
    ids = np.full(blocks * bbs, -1, dtype=np.int64)   # the list's padding slots: -1
    ids[:size] = faiss.rev_swig_ptr(invlists.get_ids(lst), size)
    pending_ids.append(ids)
    slots += blocks * bbs
    if slots >= chunk:
      unpack_pending()
      pending_codes, pending_ids, slots = [], [], 0
  if slots:
    unpack_pending()
  flat = faiss.IndexPQFastScan(ivf.d, m, ivf.pq.nbits, ivf.metric_type, bbs)
  flat.pq = ivf.pq
  flat.is_trained = True
  flat.ntotal, flat.ntotal2 = ivf.ntotal, -(-ivf.ntotal // bbs) * bbs
  flat.codes.resize(flat.ntotal2 * flat.M2 // 2)
  into = _packed_codes(flat)
  step = max(bbs, chunk // bbs * bbs)     # whole blocks
  for first in range(0, ivf.ntotal, step):
    packed = packed_codes(codes[first:first + step], flat.M2, bbs)
    into[first * flat.M2 // 2:first * flat.M2 // 2 + len(packed)] = packed
  del codes
  if parts < 2 or flat.ntotal < SPLIT_MIN_VECTORS:
    return [flat]
  return split_parts(flat, parts)


def packed_codes(codes: np.ndarray, m2: int, bbs: int) -> np.ndarray:
  """The inverse of unpacked_codes: [n, M] 4-bit codes (one per byte) in faiss's packed
  fast-scan layout, blocks of `bbs` vectors, M2 (M rounded up to even) sub-quantisers, the
  padding vectors' codes 0 (as faiss pads).   -> uint8 [ceil(n / bbs) * bbs * M2 / 2]"""
  n, m = codes.shape
  n2 = -(-n // bbs) * bbs
  full = np.zeros((n2, m2), dtype=np.uint8)
  full[:n, :m] = codes
  # [vector, sub-quantiser] -> [block, group, chunk, sub-quantiser of the pair, 32 vectors]
  vectors = full.reshape(n2 // bbs, bbs // 32, 32, m2 // 2, 2).transpose(0, 3, 1, 4, 2)
  by_slot = vectors[..., np.concatenate([PACK_ORDER, PACK_ORDER + 16])]
  return np.ascontiguousarray(by_slot[..., :16] | (by_slot[..., 16:] << 4)).reshape(-1)


def heads_scan(parts: list, heads: Sequence[int], num_heads: int) -> Optional[faiss.Index]:
  """A fast-scan index over the chosen heads' slices only, cut out of candidate `parts`
  (candidate_parts or flat_codes), one part per thread as the parts are split.

  Head h owns sub-quantisers [h*m, (h+1)*m) (m = M / num_heads) and, in the packed layout,
  the groups [h*m/2, (h+1)*m/2) of every block; each run of consecutive chosen heads is one
  slice of groups. Scores equal the full codes' scores with the other heads of the query
  zeroed.

  Args:
    heads: 0-based chosen heads.
  Returns: an IndexPQFastScan over [|S| * dh] (or a threaded IndexShards of them, ids
    successive), ids 0..N-1; None when the heads do not own whole pairs of sub-quantisers.
  """
  if not parts:
    return None
  pq = parts[0].pq
  per_head, rest = divmod(pq.M, num_heads)
  heads = sorted(set(int(h) for h in heads))
  if rest or per_head % 2 or not heads or heads[0] < 0 or heads[-1] >= num_heads:
    return None
  bbs = parts[0].bbs
  runs = head_runs(heads)
  centroids = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)
  chosen = np.concatenate([centroids[a * per_head:b * per_head] for a, b in runs])
  m = len(heads) * per_head
  cut = []
  for p in parts:
    out = faiss.IndexPQFastScan(m * pq.dsub, m, pq.nbits, p.metric_type, bbs)
    out.pq.centroids.resize(0)
    faiss.copy_array_to_vector(np.ascontiguousarray(chosen).ravel(), out.pq.centroids)
    out.is_trained = True
    # A group holds 2 sub-quantisers x 4 bits for each of a block's bbs vectors: bbs bytes.
    # Copied once, straight into the new index's codes (no temporary).
    blocks = _packed_codes(p).reshape(p.ntotal2 // bbs, p.M2 // 2, bbs)
    out.codes.resize(blocks.shape[0] * (m // 2) * bbs)
    into = _packed_codes(out).reshape(blocks.shape[0], m // 2, bbs)
    at = 0
    for a, b in runs:
      width = (b - a) * per_head // 2
      into[:, at:at + width] = blocks[:, a * per_head // 2:b * per_head // 2]
      at += width
    out.ntotal, out.ntotal2 = p.ntotal, p.ntotal2
    cut.append(out)
  if len(cut) == 1:
    return cut[0]
  shards = faiss.IndexShards(m * pq.dsub, True, True)   # threaded, successive ids
  for c in cut:
    shards.add_shard(c)
  _keep(shards, cut)
  return shards


def candidates_wanted(k: int, k_factor: float, ntotal: int, num_chosen: int) -> int:
  """Candidates a head-subset query re-ranks: k * k_factor, and for one head at least one in
  ONE_HEAD_CANDIDATE_SHARE of the index. One head's 4-bit codes are coarser than a head set's
  sum, and their near-ties grow with the index: with 600 candidates (k=50, k_factor=12)
  `exbert-lit bench --scale` measured recall@50 0.947 at 1M vectors and 0.760 at 10M."""
  floor = -(-ntotal // ONE_HEAD_CANDIDATE_SHARE) if num_chosen == 1 else 0
  return int(min(ntotal, max(k * k_factor, floor)))


def search_heads(index: faiss.Index, scan: faiss.Index, query: np.ndarray,
                 heads: Sequence[int], num_heads: int, k: int) -> tuple[np.ndarray, np.ndarray]:
  """Top k of an IndexRefine for a head-subset query, scanning only the chosen heads' codes
  (`scan` = heads_scan of them) and re-ranking on their dimensions of the re-ranking codes.

  Args:
    index: the IndexRefine the cut was taken from (its k_factor and re-ranking codes).
    query: [D] the full-width query (other heads zeroed).
    heads: 0-based.
  Returns: scores [k'], ids [k'] (k' = min(k, ntotal)), best first, ties by id.
  """
  refine = faiss.downcast_index(index)
  dims = head_dims(heads, query.shape[0] // num_heads)
  q = np.ascontiguousarray(np.asarray(query, np.float32)[dims])
  wanted = candidates_wanted(k, refine.k_factor, scan.ntotal, len(set(heads)))
  _, candidates = scan.search(q[None, :], wanted)
  return rescore(refine.refine_index, candidates[0], query, k, dims)


def nearest(index: faiss.Index, query: np.ndarray, k: int, heads: Optional[Sequence[int]],
            num_heads: int, head_index=None) -> tuple[np.ndarray, np.ndarray]:
  """Top k of `index` for `query` [D] (unchosen heads zeroed), the one way the store searches:
  a head-subset query with a `head_index` (heads_scan of those heads) scans only their codes
  (search_heads); anything else (whole-vector queries, indexes without candidate codes to
  cut) is the index's own search (for a partitioned index: its probed lists).

  Args:
    heads: 1-based chosen heads, or None for all.
  Returns: scores [k'], ids [k'], best first, no -1 padding.
  """
  if head_index is not None and heads is not None and len(heads) < num_heads:
    return search_heads(index, head_index, query, [h - 1 for h in heads], num_heads, k)
  scores, ids = index.search(np.asarray(query, np.float32)[None, :], int(min(k, index.ntotal)))
  keep = ids[0] >= 0
  return scores[0][keep], ids[0][keep]
