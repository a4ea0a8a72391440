"""`exbert-lit bench --section scale --real STORE` on a tiny store of a tiny model: every part
runs (store figures, a compared factory, synthetic beside, the exact check), recall is computed
against exact search and the side-by-side table is printed. No timing is asserted."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from exbert_lit import bench
from exbert_lit.bench import scale
from exbert_lit.bench import scale_real
from exbert_lit.errors import ExbertError

FACTORY = "PQ16x4fs,Refine(SQ8)"   # tiny models: 4 heads x 8 = 32 wide; 2 dims per code


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory, tiny_bert_dir):
  import tiny_models
  from exbert_lit.corpus import build
  from exbert_lit.models import load_model
  root = tmp_path_factory.mktemp("scale_real")
  (root / "c.txt").write_text("\n\n".join(list(tiny_models.SENTENCES) * 12), encoding="utf-8")
  build.build(load_model(str(tiny_bert_dir)), str(root / "c.txt"), root / "store",
              build.BuildConfig(index_type=FACTORY, search_params="k_factor_rf=12",
                                shard_size=16), progress=False)
  return root / "store"


def _args(store, **kw) -> argparse.Namespace:
  parser = argparse.ArgumentParser()
  scale.add_arguments(parser)
  args = parser.parse_args(["--real", str(store), "--scale-queries", "20",
                            "--scale-real-layer", "2"])
  for key, value in kw.items():
    setattr(args, key, value)
  return args


def test_real_store_measured_against_exact_search(tiny_store, capsys):
  args = _args(tiny_store, scale_real_factories="Flat;PQ16x4fs", scale_real_synthetic=400,
               scale_real_exact_sentences=20)
  result = scale.run(args)
  d = result["details"]
  labels = ["1 head", "3 heads", "2 heads", "all heads", "embedding"]
  assert d["factory"] == FACTORY and d["layer"] == 2 and d["queries"] == 20
  assert list(d["store_figures"]) == labels
  for label, f in d["store_figures"].items():
    assert 0.5 <= f["recall@50"] <= 1.0 and f["queries"] == 20, label
  flat, pq = d["factories"]
  # The exact index over the decoded vectors is the ground truth itself.
  assert all(f["recall@50"] == 1.0 for f in flat["queries"].values())
  assert flat["bytes_per_vector"]["context"] == pytest.approx(32 * 4, rel=0.05)
  # 16 codes x 4 bits = 8 bytes per vector (+ a little for the trained quantiser).
  assert 8 <= pq["bytes_per_vector"]["context"] < 12
  assert pq["bytes_per_token"]["bert_base_dims"] > pq["bytes_per_token"]["store_dims"]
  assert set(d["synthetic"]) == {"PQ16x4fs,Refine(SQ8) (k_factor_rf=12)", "Flat", "PQ16x4fs"}
  assert list(d["exact_check"]) == labels
  for label, f in d["exact_check"].items():   # 8-bit codes: nearly the model's vectors
    assert f["mean_cosine"] > 0.99 and f["recall@50"] > 0.8, label
  total = d["bytes_per_token"]["total"]
  assert total == pytest.approx(sum(v for p, v in d["bytes_per_token"].items() if p != "total"))
  table = result["table"].splitlines()
  assert "real p50 ms" in table[1] and "synthetic p50 ms" in table[1]
  assert len(table) == 3 + 5 + 2 * 5
  assert bench.format_table([result])


def test_head_subset_routes_side_by_side(tiny_store):
  """--scale-real-routes: every head-subset kind timed both ways on the store; the chosen
  heads' codes rank as the full scan with other heads zeroed, so recall matches."""
  args = _args(tiny_store, scale_real_routes=True, scale_real_synthetic=0,
               scale_real_exact_sentences=0)
  result = scale.run(args)
  routes = result["details"]["routes"]
  assert list(routes) == ["1 head", "3 heads", "2 heads"]
  for label, by_route in routes.items():
    assert list(by_route) == ["full scan", "chosen heads"]
    assert by_route["chosen heads"]["queries"] == 20
    if label != "1 head":   # one head re-ranks more candidates (at least 1 in 500)
      assert by_route["chosen heads"]["recall@50"] == pytest.approx(
          by_route["full scan"]["recall@50"], abs=0.02), label
  names = [m["name"] for m in result["metrics"]]
  assert "real store, 3 heads: full scan -> chosen heads' codes, p50" in names


@pytest.mark.parametrize("kind,heads", [("context", [2]), ("context", None),
                                        ("embedding", None)])
def test_query_vector(kind, heads):
  v = np.arange(1, 33, dtype=np.float32)
  q = scale_real.query_vector(v, kind, heads, 4).reshape(4, 8)
  norms = np.linalg.norm(q, axis=1)
  if kind == "embedding":
    assert np.linalg.norm(q) == pytest.approx(1.0)
  elif heads is None:
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
  else:
    np.testing.assert_allclose(norms, [0, 1, 0, 0], atol=1e-6)


def test_recall_pads_short_results():
  truth = np.arange(100).reshape(2, 50)
  assert scale_real.recall([np.arange(50), np.arange(50, 75)], truth) == pytest.approx(0.75)


def test_exact_top_k_streams_chunks():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((500, 8)).astype(np.float32)
  q = x[:3]
  want = np.argsort(-(q @ x.T), axis=1)[:, :50]
  got = scale_real.exact_top_k(q, [x[:170], x[170:400], x[400:]])
  np.testing.assert_array_equal(got, want)


def test_a_store_that_cannot_give_back_vectors_is_refused():
  import faiss
  index = faiss.index_factory(32, "IVF4,Flat", faiss.METRIC_INNER_PRODUCT)   # no direct map
  index.train(np.random.default_rng(0).standard_normal((200, 32)).astype(np.float32))
  index.add(np.zeros((10, 32), np.float32))
  with pytest.raises(ExbertError, match="cannot give back its vectors"):
    scale_real.store_vectors(index, np.arange(3))


def test_the_bound_measures_the_oracle_and_each_layouts_score_error(tiny_store):
  args = _args(tiny_store, scale_real_factories="PQ16x4fs,Refine(SQ4)|k_factor_rf=12;PQ16x4fs",
               scale_real_synthetic=0, scale_real_exact_sentences=0, scale_real_bound=True)
  result = scale.run(args)
  d = result["details"]
  assert list(d["bound"]) == ["1 head", "3 heads", "2 heads", "all heads", "embedding"]
  for label, b in d["bound"].items():
    assert b["recall@50"][0] > 0.9 and b["recall@50"][-1] < b["recall@50"][0], label
  sq4, pq = d["factories"]
  assert all(0 < e < 0.5 for e in sq4["score_error_std"].values())
  assert all(e is None for e in pq["score_error_std"].values())   # no decodable codes
  assert "what bounds bytes against recall" in result["table"]
  assert any(m["name"].startswith("largest score error std") for m in result["metrics"])


@pytest.mark.parametrize("recalls, expected", [
    ([0.99, 0.97, 0.93, 0.5], np.exp((np.log(2) + 0.5 * np.log(4 / 2)))),   # halfway, log scale
    ([0.94, 0.9, 0.8, 0.5], None),
    ([0.99, 0.99, 0.98, 0.96], 8.0),
])
def test_sigma_for_interpolates_on_log_sigma(recalls, expected):
  from exbert_lit.bench import scale_bound
  got = scale_bound.sigma_for(recalls, sigmas=(1.0, 2.0, 4.0, 8.0))
  assert got == (None if expected is None else pytest.approx(expected))


def test_noise_recall_falls_with_noise():
  from exbert_lit.bench import scale_bound
  scores = -np.sort(-np.random.default_rng(0).normal(size=(20, 300)), axis=1)
  small, large = scale_bound.noise_recall(scores, sigmas=(0.0, 10.0))
  assert small == 1.0 and large < 0.5
