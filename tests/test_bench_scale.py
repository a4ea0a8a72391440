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
