"""Head-subset scans (faiss_tools.heads_scan): the chosen heads' codes cut out of the candidate
codes (flat, split over threads, or a partitioned index's put back in id order) rank exactly as
the full scan with the other heads of the query zeroed; the packing helpers invert each other
and match faiss; stores of both layouts answer every query kind through CorpusIndex."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from exbert_lit.corpus import build
from exbert_lit.corpus import faiss_tools
from exbert_lit.corpus import search
from exbert_lit.corpus import vectors as vectors_lib
from test_store import CORPUS

NUM_HEADS, HEAD_DIM = 4, 8


def head_vectors(n: int, seed: int) -> np.ndarray:
  x = np.random.default_rng(seed).standard_normal((n, NUM_HEADS * HEAD_DIM)).astype(np.float32)
  return vectors_lib.normalize_heads(x, NUM_HEADS)


def masked(x: np.ndarray, heads: list[int]) -> np.ndarray:
  """x [n, D] with the heads outside 0-based `heads` zeroed."""
  keep = np.zeros(NUM_HEADS, bool)
  keep[heads] = True
  return (x.reshape(len(x), NUM_HEADS, HEAD_DIM) * keep[:, None]).reshape(len(x), -1)


@pytest.mark.parametrize("heads,runs", [
    ([2], [(2, 3)]), ([0, 1, 2], [(0, 3)]), ([3, 0, 1], [(0, 2), (3, 4)]),
    ([1, 1, 3], [(1, 2), (3, 4)]), ([], []),
])
def test_head_runs(heads, runs):
  assert faiss_tools.head_runs(heads) == runs


def test_head_dims():
  np.testing.assert_array_equal(faiss_tools.head_dims([2, 0], 3), [0, 1, 2, 6, 7, 8])


@pytest.mark.parametrize("factory", ["SQ8", "Flat"])
def test_decoded_slice_takes_head_dims(factory):
  x = head_vectors(300, seed=6)
  index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
  index.train(x)
  index.add(x)
  ids, dims = np.array([7, 0, 299, 7]), faiss_tools.head_dims([3, 1], HEAD_DIM)
  np.testing.assert_array_equal(faiss_tools.decoded_slice(index, ids, dims),
                                np.concatenate([faiss_tools.decoded_slice(index, ids, slice(8, 16)),
                                                faiss_tools.decoded_slice(index, ids, slice(24, 32))],
                                               axis=1))


@pytest.mark.parametrize("n,m,bbs", [(1000, 16, 32), (77, 16, 32), (300, 12, 64), (5, 9, 32)])
def test_packed_codes_is_faiss_packing_and_unpacked_codes_inverse(n, m, bbs):
  dim = 2 * m
  x = np.random.default_rng(1).standard_normal((max(n, 600), dim)).astype(np.float32)
  index = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT, bbs)
  index.train(x)
  index.add(x[:n])
  codes = faiss_tools.unpacked_codes(index)
  packed = faiss_tools.packed_codes(codes, index.M2, bbs)
  np.testing.assert_array_equal(packed, faiss_tools._packed_codes(index))  # pylint: disable=protected-access


@pytest.mark.parametrize("factory,parts", [
    ("PQ16x4fs,Refine(SQ8)", 1), ("PQ16x4fs,Refine(SQ8)", 3),
    ("IVF8,PQ16x4fs,Refine(SQ8)", 1), ("IVF8,PQ16x4fs,Refine(SQ8)", 2)])
@pytest.mark.parametrize("heads", [[1], [0, 2], [1, 2, 3], [0, 3], [0, 1, 2, 3]])
def test_heads_scan_ranks_like_the_full_scan_with_other_heads_zeroed(factory, parts, heads,
                                                                      monkeypatch):
  monkeypatch.setattr(faiss_tools, "SPLIT_MIN_VECTORS", 1)
  x = head_vectors(2000, seed=2)
  index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
  index.train(x)
  index.add(x)
  # The whole candidate codes as one flat index in id order (the same quantiser).
  whole = faiss.IndexPQFastScan(x.shape[1], 16, 4, faiss.METRIC_INNER_PRODUCT)
  whole.pq = faiss.downcast_index(faiss.downcast_index(index).base_index).pq
  whole.is_trained = True
  whole.add(x)
  if parts > 1 and faiss_tools.partitioned_base(index) is None:
    index = faiss_tools.parallel_candidates(index, parts)
  cut_from = faiss_tools.candidate_parts(index, parts)
  assert len(cut_from) == parts
  scan = faiss_tools.heads_scan(cut_from, heads, NUM_HEADS)
  assert scan.ntotal == len(x) and scan.d == len(heads) * HEAD_DIM
  queries = masked(head_vectors(8, seed=3), heads)
  want_d, want_i = whole.search(queries, len(x))
  got_d, got_i = scan.search(
      np.ascontiguousarray(queries[:, faiss_tools.head_dims(heads, HEAD_DIM)]), len(x))
  np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-6)
  for a, b, d in zip(got_i, want_i, want_d):   # all ids, each with its score
    assert dict(zip(a.tolist(), d.tolist())) == dict(zip(b.tolist(), d.tolist()))


def test_flat_codes_of_a_partitioned_index_are_the_flat_codes():
  x = head_vectors(1500, seed=4)
  ivf = faiss.index_factory(x.shape[1], "IVF8,PQ16x4fs", faiss.METRIC_INNER_PRODUCT)
  ivf.train(x)
  ivf.add(x)
  flat = faiss.IndexPQFastScan(x.shape[1], 16, 4, faiss.METRIC_INNER_PRODUCT)
  flat.pq = faiss.downcast_index(ivf).pq
  flat.is_trained = True
  flat.add(x)
  (got,) = faiss_tools.flat_codes(faiss.downcast_index(ivf), 1)
  np.testing.assert_array_equal(faiss_tools._packed_codes(got), faiss_tools._packed_codes(flat))  # pylint: disable=protected-access


@pytest.mark.parametrize("factory,declines", [
    ("Flat", True), ("SQ8", True), ("PQ16x4fs", True),       # no candidate codes to cut
    ("IVF8,PQ16x4fsr,Refine(SQ8)", True),                     # residual codes: lists differ
    ("PQ16x4fs,Refine(SQ8)", False), ("IVF8,PQ16x4fs,Refine(SQ8)", False)])
def test_candidate_parts(factory, declines):
  x = head_vectors(700, seed=5)
  index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
  index.train(x)
  index.add(x)
  assert (faiss_tools.candidate_parts(index) == []) == declines


@pytest.mark.parametrize("factory,params", [
    ("PQ16x4fs,Refine(SQ8)", "k_factor_rf=12"),
    ("IVF4,PQ16x4fs,Refine(SQ8)", "nprobe=4,k_factor_rf=12")])
def test_store_answers_head_sets_as_the_zeroed_full_scan(factory, params, tmp_path,
                                                         tiny_model_dirs, monkeypatch):
  """A store of each layout (forced on a small corpus): head-subset queries go through the
  chosen heads' codes alone and return what the full candidate scan (all lists probed) with the
  other heads zeroed returns; whole-vector queries are the index's own search."""
  from exbert_lit.models import load_model
  monkeypatch.setattr(faiss_tools, "SPLIT_MIN_VECTORS", 1)   # the threaded split as well
  model = load_model(str(tiny_model_dirs["bert"]), compute_gradients=False)
  corpus = tmp_path / "c.txt"
  corpus.write_text(CORPUS, encoding="utf-8")
  build.build(model, str(corpus), tmp_path / "s",
              build.BuildConfig(shard_size=4, batch_size=3, index_type=factory,
                                search_params=params), progress=False)
  index = search.CorpusIndex.open(tmp_path / "s", model)
  h = model.num_heads
  (internals,) = model.internals(["The girl ran to a local pub."])
  query = search.vector_of(internals, "context", 2, 2)
  full = index.faiss_index("context", 2)
  ivf = faiss_tools.partitioned_base(full)
  if ivf is not None:
    ivf.nprobe = ivf.nlist      # every list: the full scan
  for heads in ([1], [2, 3], [1, 2, h]):
    assert index.head_scan_index(2, tuple(heads)) is not None
    ids, scores = index.nearest(query, layer=2, kind="context", heads=heads, k=10)
    want_scores, want_ids = full.search(search.mask_heads(query, heads, h)[None], 10)
    np.testing.assert_array_equal(ids, want_ids[0])
    np.testing.assert_allclose(scores, want_scores[0] / len(heads), rtol=1e-4)
  # Kept cuts: the most recent, within the budget (here half a layer's codes: a new [2, 3, h]
  # alone is 3/4 of a layer, so only it stays; then [1] and [2] fit together).
  monkeypatch.setattr(search, "CUT_BUDGET_LAYERS", 0.5)
  index.head_scan_index(2, (h, 3, 2))
  assert list(index._cuts) == [(2, (2, 3, h))]   # pylint: disable=protected-access
  index.head_scan_index(2, 1)
  index.head_scan_index(2, [2])
  assert list(index._cuts) == [(2, (1,)), (2, (2,))]   # pylint: disable=protected-access
  if ivf is not None:
    ivf.nprobe = 4
  for kind, heads in (("context", None), ("embedding", None)):
    q = search.vector_of(internals, kind, 2, 2)
    ids, _ = index.nearest(q, layer=2, kind=kind, heads=heads, k=10)
    q = search.mask_heads(q, None, h) if kind == "context" else vectors_lib.normalize_rows(q)
    np.testing.assert_array_equal(ids, index.faiss_index(kind, 2).search(q[None], 10)[1][0])
