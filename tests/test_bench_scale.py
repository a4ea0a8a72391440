"""`exbert-lit bench --scale`: its pure helpers, and the whole measurement at a tiny size (no
timing is asserted; the real run is the command)."""
from __future__ import annotations

import pytest

from exbert_lit import bench
from exbert_lit.bench import scale
from exbert_lit.errors import ExbertError


@pytest.mark.parametrize("num_heads,want", [
    (12, {"1 head": [3], "3 heads": [1, 5, 9], "6 heads": [1, 2, 3, 4, 5, 6], "all heads": None}),
    (4, {"1 head": [3], "3 heads": [1, 2, 3], "2 heads": [1, 2], "all heads": None}),
    (2, {"1 head": [2], "2 heads": [1, 2], "1 heads": [1], "all heads": None}),
])
def test_query_kinds(num_heads, want):
  assert scale.query_kinds(num_heads) == want


def test_store_bytes_per_token_bert_base():
  got = scale.store_bytes_per_token(100.0, num_layers=12, num_heads=12)
  assert got["vectors"] == 25 * 100
  assert got["attention"] == 12 * (12 * 3 * 4 + 2)
  assert got["total"] == got["vectors"] + got["attention"] + got["table"]


def test_measure_size_tiny(tmp_path):
  chosen = [scale.Candidate("PQ16x4fs,Refine(SQ8)", "k_factor_rf=12"), scale.Candidate("Flat")]
  results = scale.measure_size(3000, chosen, 5, tmp_path, num_heads=4, head_dim=8, chunk=700)
  assert [r["factory"] for r in results] == ["PQ16x4fs,Refine(SQ8)", "Flat"]
  flat = results[1]
  assert flat["bytes_per_vector"] == pytest.approx(32 * 4, rel=0.01)   # 4 x 8 floats
  for kind, q in flat["queries"].items():   # exact search agrees with the streamed truth
    # (faiss contrib's knn_ground_truth over 5 chunks of 700 and a last one of 200)
    assert q["recall@50"] == 1.0, kind
  assert list(results[0]["queries"]) == ["1 head", "3 heads", "2 heads", "all heads"]
  assert all(q["recall@50"] > 0.8 for q in results[0]["queries"].values())
  assert list(tmp_path.iterdir()) == []   # index files measured, then removed
  names = [m["name"] for m in scale.metrics_of(results)]
  assert "Flat, 3k: all heads p50/p95" in names
  assert bench.format_table([{"section": "scale", "metrics": scale.metrics_of(results)}])


def test_measure_size_tiny_partitioned(tmp_path):
  """The partitioned layout: head-set cuts timed (from the lists put in id order), recall of
  every kind measured."""
  chosen = [scale.Candidate("IVF8,PQ16x4fs,Refine(SQ8)", "nprobe=8,k_factor_rf=12")]
  (result,) = scale.measure_size(3000, chosen, 5, tmp_path, num_heads=4, head_dim=8, chunk=700)
  assert result["id_order_seconds"] >= 0
  queries = result["queries"]
  assert all(q["cut_ms"] >= 0 for kind, q in queries.items() if kind != "all heads")
  assert queries["all heads"]["cut_ms"] is None
  assert all(q["recall@50"] > 0.8 for q in queries.values())   # every list probed here
  names = [m["name"] for m in scale.metrics_of([result])]
  assert "IVF8,PQ16x4fs,Refine(SQ8) (nprobe=8,k_factor_rf=12), 3k: lists put in id order" in names


@pytest.mark.parametrize("n,want", [(300_000, "IVF512,PQ384x4fs,Refine(SQ8)"),
                                    (1_000_000, "IVF1024,PQ384x4fs,Refine(SQ8)"),
                                    (10_000_000, None)])   # not at 10M by default (memory)
def test_candidates_for_sizes_the_partitioned_layout(n, want):
  chosen = scale.candidates_for(n, scale.candidates())
  partitioned = [c for c in chosen if c.factory.startswith("IVF")]
  assert [c.factory for c in partitioned] == ([want] if want else [])
  if want:
    assert partitioned[0].params.startswith(f"nprobe={int(want[3:want.index(',')]) // 16},")


def test_scale_runs_only_when_asked():
  assert scale.DEFAULT is False and "scale" in bench.sections()


@pytest.mark.parametrize("text,sizes", [("1000000,10000000", [1000000, 10000000]),
                                        ("5000", [5000]), (" 10 , 20 ", [10, 20])])
def test_parse_sizes(text, sizes):
  assert scale.parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", "x", "0", "10,-5", "1e6"])
def test_parse_sizes_refuses(text):
  with pytest.raises(ExbertError, match="--scale-sizes must be positive numbers"):
    scale.parse_sizes(text)
