"""The bench runner and the corpus section's search part at a tiny size (the real run is
`exbert-lit bench`; no timing is asserted here)."""
from __future__ import annotations

import numpy as np

from exbert_lit import bench
from exbert_lit.bench import corpus as bench_corpus


def test_sections_are_discovered():
  sections = bench.sections()
  assert "corpus" in sections and sections["corpus"] is bench_corpus


def test_format_table():
  table = bench.format_table([{"section": "corpus", "metrics": [
      bench.metric("ratio", 0.91234, "ratio", ">= 0.85", "note"),
      bench.metric("p50/p95", "1.0 / 2.0", "ms")]}])
  lines = table.splitlines()
  assert lines[0].split() == ["section", "metric", "value", "unit", "goal", "note"]
  assert "0.9123" in lines[2] and ">= 0.85" in lines[2]
  assert lines[3].split()[:4] == ["corpus", "p50/p95", "1.0", "/"]


def test_synthetic_vectors_have_unit_head_slices():
  x = bench_corpus.synthetic_context_vectors(100, 3, 8, seed=0)
  assert x.shape == (100, 24) and x.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(x.reshape(100, 3, 8), axis=-1), 1, rtol=1e-5)
  np.testing.assert_array_equal(x, bench_corpus.synthetic_context_vectors(100, 3, 8, seed=0))


def test_search_latency_and_bytes_at_tiny_size():
  metrics, details = bench_corpus.search_latency([3000], 5, [1, 5, 9], extra=(("SQ4", ""),))
  assert details["3k"]["factories"][0]["default"] is True
  assert [f["factory"] for f in details["3k"]["factories"]] == ["PQ384x4fs,Refine(SQ8)", "SQ4"]
  default = details["3k"]["factories"][0]
  # 192 B of fast-scan candidate codes (4 bits x 384) + 768 B of SQ8 re-ranking codes.
  assert default["recall@50"] >= 0.9 and 960 <= default["bytes_per_vector"] < 1100
  names = [m["name"] for m in metrics]
  assert "exact (Flat) search p50/p95, 3k vectors" in names
  bytes_metrics = bench_corpus.bytes_per_token(details, None)
  flat = bytes_metrics[0]
  assert flat["value"] == 25 * 3072 + 12 * (12 * 3 * 4 + 2)
  assert [m["name"] for m in bytes_metrics][1:] == [
      "bytes per token, PQ384x4fs,Refine(SQ8) store, bert-base dims",
      "bytes per token, SQ4 store, bert-base dims"]


def test_results_section_on_a_fake_store(tmp_path):
  """Section `results` times nearest and build_result per query kind on a real store (here a
  fake one); the JSON carries p50/p95 per part and kind."""
  import argparse
  from corpus_fakes import FakeModel
  from test_store import CORPUS
  from exbert_lit.bench import results as bench_results
  from exbert_lit.corpus import build
  (tmp_path / "c.txt").write_text(CORPUS * 3, encoding="utf-8")
  build.build(FakeModel(), str(tmp_path / "c.txt"), tmp_path / "s",
              build.BuildConfig(shard_size=8, batch_size=4), progress=False)
  args = argparse.Namespace(results_store=str(tmp_path / "s"), results_queries=20,
                            results_layer=4)
  out = bench_results.run(args)
  assert out["details"]["layer"] == 2 and out["details"]["queries"] == 20
  assert list(out["details"]["kinds"]) == ["one head (3)", "heads 1,3", "all heads", "embedding"]
  for figures in out["details"]["kinds"].values():
    assert set(figures) == {"nearest", "build", "search"}
    assert all(0 < p50 <= p95 for p50, p95 in figures.values())
  assert len(out["metrics"]) == 12
