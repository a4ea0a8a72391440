"""faiss helpers: merging shard indexes (codes unchanged), the threaded candidate scan, one
head's codes, and the packed fast-scan layout they read (pinned with the faiss version)."""
from __future__ import annotations

import gc
import pathlib
import re

import faiss
import numpy as np
import pytest

from exbert_lit.corpus import faiss_tools

DIM = 16


def vectors(n: int, seed: int) -> np.ndarray:
  x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def trained(factory: str) -> faiss.Index:
  index = faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)
  index.train(vectors(4000, seed=0))
  return index


@pytest.mark.parametrize("factory", ["Flat", "SQ8", "PQ8x4fs", "PQ8x4fs,Refine(SQ8)",
                                     "IVF8,Flat", "IVF8,SQ8"])
def test_merged_shards_equal_one_index(factory):
  x = vectors(3000, seed=1)
  whole = trained(factory)
  whole.add(x)
  template = trained(factory)
  parts = []
  for a, b in [(0, 1000), (1000, 1001), (1001, 3000)]:
    part = faiss.clone_index(template)
    part.add(x[a:b])
    parts.append(part)
  merged = parts[0]
  for part in parts[1:]:
    faiss_tools.merge_into(merged, part)
  assert merged.ntotal == whole.ntotal == 3000
  queries = vectors(20, seed=9)
  if "fs" in factory:  # fast-scan pads its last block of 32 with unset bytes: compare searches
    if "Refine" in factory:
      for index in (merged, whole):
        faiss.ParameterSpace().set_index_parameters(index, "k_factor_rf=4")
    for got, want in zip(merged.search(queries, 100), whole.search(queries, 100)):
      np.testing.assert_array_equal(got, want)
  else:
    assert faiss.serialize_index(merged).tobytes() == faiss.serialize_index(whole).tobytes()


def test_merge_without_merge_from_re_adds_vectors():
  x = vectors(500, seed=2)
  a, b = trained("HNSW8"), trained("HNSW8")
  a.add(x[:200])
  b.add(x[200:])
  faiss_tools.merge_into(a, b)
  assert a.ntotal == 500
  np.testing.assert_allclose(a.reconstruct_n(0, 500), x, atol=1e-6)


@pytest.mark.parametrize("n,parts", [(1000, 2), (1000, 3), (33, 2), (64, 4), (5, 8)])
def test_split_fast_scan_scores_equal_the_whole_scan(n, parts):
  x = vectors(n, seed=3)
  index = trained("PQ8x4fs")
  index.add(x)
  split = faiss_tools.split_fast_scan(faiss.downcast_index(index), parts)
  assert split.ntotal == n
  queries = vectors(20, seed=4)
  k = min(n, 40)
  d_whole, i_whole = index.search(queries, k)
  d_split, i_split = split.search(queries, k)
  np.testing.assert_allclose(d_split, d_whole, rtol=1e-5)
  # Ids are global and each has the score the whole index gives it (order among ties free).
  for row_d, row_i, q in zip(d_split, i_split, queries):
    single = index.search(q[None], n)
    score_of = dict(zip(single[1][0].tolist(), single[0][0].tolist()))
    assert all(score_of[int(i)] == pytest.approx(float(s), rel=1e-5)
               for i, s in zip(row_i, row_d))


def test_parallel_candidates_keeps_results_and_survives_gc(monkeypatch):
  monkeypatch.setattr(faiss_tools, "SPLIT_MIN_VECTORS", 1000)
  x = vectors(5000, seed=5)
  index = trained("PQ8x4fs,Refine(SQ8)")
  index.add(x)
  faiss.ParameterSpace().set_index_parameters(index, "k_factor_rf=12")
  queries = vectors(30, seed=6)
  d_whole, i_whole = index.search(queries, 50)
  split = faiss_tools.parallel_candidates(faiss.clone_index(index), 2)
  gc.collect()   # the clone's only reference is now inside `split`
  assert isinstance(split, faiss.IndexRefine) and split.k_factor == 12
  assert isinstance(faiss.downcast_index(split.base_index), faiss.IndexShards)
  d_split, i_split = split.search(queries, 50)
  overlap = np.mean([len(set(a) & set(b)) / 50 for a, b in zip(i_split, i_whole)])
  assert overlap >= 0.98   # only ties at the candidate cut-off can differ
  # Every returned score is the SQ8 re-ranking score of that id.
  refine = faiss.downcast_index(faiss.downcast_index(index).refine_index)
  decoded = refine.reconstruct_n(0, refine.ntotal)
  np.testing.assert_allclose(d_split, np.take_along_axis(queries @ decoded.T, i_split, 1),
                             rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("factory,threads,n", [("PQ8x4fs,Refine(SQ8)", 1, 5000),
                                               ("PQ8x4fs,Refine(SQ8)", 2, 500),
                                               ("SQ8", 2, 5000), ("Flat", 2, 5000)])
def test_parallel_candidates_leaves_other_indexes_alone(monkeypatch, factory, threads, n):
  monkeypatch.setattr(faiss_tools, "SPLIT_MIN_VECTORS", 1000)
  index = trained(factory)
  index.add(vectors(n, seed=7))
  assert faiss_tools.parallel_candidates(index, threads) is index


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("head", [0, 1, 3])
def test_head_scan_ranks_like_the_whole_scan_with_other_heads_zeroed(head, parts, monkeypatch):
  """Cutting one head's codes out of the packed candidate codes (unsplit or split) gives the
  scores of the full scan with the other heads of the query zeroed."""
  num_heads, head_dim = 4, 8
  monkeypatch.setattr(faiss_tools, "SPLIT_MIN_VECTORS", 1)
  x = np.random.default_rng(8).standard_normal((1000, num_heads * head_dim)).astype(np.float32)
  loaded = faiss.index_factory(x.shape[1], "PQ16x4fs,Refine(SQ8)", faiss.METRIC_INNER_PRODUCT)
  loaded.train(x)
  loaded.add(x)
  whole_scan = faiss.downcast_index(faiss.downcast_index(loaded).base_index)
  queries = np.zeros((10, x.shape[1]), np.float32)
  sl = slice(head * head_dim, (head + 1) * head_dim)
  queries[:, sl] = np.random.default_rng(9).standard_normal((10, head_dim))
  want_d, want_i = whole_scan.search(queries, 1000)
  index = loaded if parts == 1 else faiss_tools.parallel_candidates(faiss.clone_index(loaded),
                                                                      parts)
  one = faiss_tools.heads_scan(faiss_tools.candidate_parts(index), [head], num_heads)
  assert one.ntotal == 1000 and one.d == head_dim
  got_d, got_i = one.search(np.ascontiguousarray(queries[:, sl]), 1000)
  np.testing.assert_allclose(got_d, want_d, rtol=1e-5)
  for a, b, d in zip(got_i, want_i, want_d):  # all ids, each with its score
    assert dict(zip(a.tolist(), d.tolist())) == dict(zip(b.tolist(), d.tolist()))


@pytest.mark.parametrize("factory,num_heads,head", [
    ("Flat", 4, 0), ("SQ8", 4, 0), ("PQ16x4fs", 4, 0),      # no candidate codes to cut
    ("PQ16x4fs,Refine(SQ8)", 16, 0),                         # 1 sub-quantiser a head: no pair
    ("PQ16x4fs,Refine(SQ8)", 3, 0),                          # heads do not divide them
    ("PQ16x4fs,Refine(SQ8)", 4, 4),                          # no such head
])
def test_head_scan_declines(factory, num_heads, head):
  index = faiss.index_factory(32, factory, faiss.METRIC_INNER_PRODUCT)
  x = np.random.default_rng(10).standard_normal((700, 32)).astype(np.float32)
  index.train(x)
  index.add(x)
  assert faiss_tools.heads_scan(faiss_tools.candidate_parts(index), [head], num_heads) is None


def test_rescore():
  refine = faiss.IndexFlatIP(2)
  refine.add(np.array([[1, 0], [0, 1], [1, 1], [2, 0]], np.float32))
  scores, ids = faiss_tools.rescore(refine, np.array([3, 0, 2, -1, 0]), np.array([1, 0.5],
                                                                               np.float32), 3)
  np.testing.assert_array_equal(ids, [3, 2, 0])
  np.testing.assert_allclose(scores, [2, 1.5, 1])
  assert faiss_tools.rescore(refine, np.array([-1]), np.ones(2, np.float32), 3)[1].size == 0


@pytest.mark.parametrize("k,k_factor,ntotal,chosen,want", [
    (50, 12, 1_000, 1, 600),           # small index: k * k_factor
    (50, 12, 100, 1, 100),             # never more than the index
    (50, 12, 1_000_000, 1, 2_000),     # large index, one head: a share of it
    (50, 12, 10_000_000, 1, 20_000),
    (1, 1, 1_001, 1, 3),               # a share, rounded up
    (50, 12, 1_000_000, 3, 600),       # head sets: k * k_factor
    (50, 12, 300, 2, 300),
])
def test_candidates_wanted(k, k_factor, ntotal, chosen, want):
  assert faiss_tools.candidates_wanted(k, k_factor, ntotal, chosen) == want


@pytest.mark.parametrize("factory", ["SQ8", "SQfp16", "Flat"])
def test_decoded_slice_equals_faiss_decoding(factory, tmp_path):
  x = vectors(300, seed=11)
  index = trained(factory)
  index.add(x)
  path = tmp_path / "codes.faiss"
  faiss.write_index(index, str(path))
  mapped = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)   # read in place, as search does
  ids = np.array([5, 0, 299, 17])
  for index_ in (index, mapped):
    np.testing.assert_allclose(faiss_tools.decoded_slice(index_, ids, slice(4, 12)),
                               index.reconstruct_batch(ids)[:, 4:12], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# The packed fast-scan layout faiss_tools reads (heads_scan, split_fast_scan), pinned.

LAYOUT_CHANGED = ("faiss {version} packs fast-scan codes differently from the layout "
                  "corpus/faiss_tools.py reads (unpacked_codes' docstring): heads_scan and "
                  "split_fast_scan would cut wrong codes. Keep faiss-cpu at the version pinned in "
                  "pyproject.toml, or update faiss_tools for the new layout and move the pin.")


def pq_codes(pq, x: np.ndarray) -> np.ndarray:
  """The product quantiser's own 4-bit codes of x, one per sub-quantiser.   -> [n, M]"""
  packed = pq.compute_codes(x)                                   # [n, ceil(M/2)], low nibble first
  return np.stack([packed & 15, packed >> 4], axis=-1).reshape(len(x), -1)[:, :pq.M]


@pytest.mark.parametrize("dim,m,n,bbs", [
    (32, 16, 1000, 32),     # the store's shape: 2 dims a sub-quantiser
    (32, 16, 77, 32),       # a padded last block
    (24, 12, 300, 64),      # two 32-vector chunks a block
    (20, 10, 5, 32),        # fewer vectors than a block
    (18, 9, 100, 32),       # an odd number of sub-quantisers (M2 = 10)
])
def test_fast_scan_layout_is_the_one_faiss_tools_reads(dim, m, n, bbs):
  x = np.random.default_rng(12).standard_normal((max(n, 1000), dim)).astype(np.float32)
  index = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT, bbs)
  index.train(x)
  index.add(x[:n])
  want = pq_codes(index.pq, x[:n])
  # The same codes from a plain IndexPQ with the same trained quantiser (no packing).
  plain = faiss.IndexPQ(dim, m, 4, faiss.METRIC_INNER_PRODUCT)
  plain.pq = index.pq
  plain.is_trained = True
  plain.add(x[:n])
  np.testing.assert_array_equal(pq_codes(plain.pq, x[:n]), want)
  got = faiss_tools.unpacked_codes(index)
  assert got.shape == (n, m)
  assert np.array_equal(got, want), LAYOUT_CHANGED.format(version=faiss.__version__)


def test_head_scan_codes_are_that_heads_sub_quantisers():
  """Through the layout: the codes heads_scan cuts are the head's columns of the PQ codes."""
  num_heads, head_dim = 4, 8
  x = np.random.default_rng(13).standard_normal((700, num_heads * head_dim)).astype(np.float32)
  index = faiss.index_factory(x.shape[1], "PQ16x4fs,Refine(SQ8)", faiss.METRIC_INNER_PRODUCT)
  index.train(x)
  index.add(x)
  scan = faiss.downcast_index(faiss.downcast_index(index).base_index)
  codes = pq_codes(scan.pq, x)
  for head in range(num_heads):
    cut = faiss_tools.unpacked_codes(
        faiss_tools.heads_scan(faiss_tools.candidate_parts(index), [head], num_heads))
    assert np.array_equal(cut, codes[:, head * 4:(head + 1) * 4]), \
        LAYOUT_CHANGED.format(version=faiss.__version__)


def test_installed_faiss_is_the_pinned_one():
  pyproject = (pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
  pin = re.search(r'"faiss-cpu==(\d+)\.(\d+)\.\*"', pyproject)
  assert pin, "pyproject.toml must pin faiss-cpu to one minor version (faiss-cpu==X.Y.*)"
  installed = tuple(faiss.__version__.split(".")[:2])
  assert installed == pin.groups(), (
      f"faiss {faiss.__version__} is installed but pyproject.toml pins faiss-cpu=="
      f"{'.'.join(pin.groups())}.*: run tests/test_faiss_tools.py's layout tests before moving "
      f"the pin")
