"""Corpus search: notation, head masking, head-subset search equal to brute force, recall of a
compressed index against exact search, and search from model + text on a tiny real model."""
from __future__ import annotations

import pathlib

import faiss
from faiss.contrib.evaluation import knn_intersection_measure
import numpy as np
import pytest

from exbert_lit.bench import corpus as bench_corpus
from exbert_lit.corpus import build
from exbert_lit.corpus import search
from exbert_lit.errors import ExbertError
from corpus_fakes import FakeModel
from test_store import CORPUS


# The notation itself (5-3, 4-[1,3,9], 2-[1-3,7], 4-[]) is tested by tests/test_notation.py.
@pytest.mark.parametrize("heads,num_heads,expected", [
    (None, 4, None), ([], 4, None), ([3, 1], 4, [1, 3]), ((3, 1, 3), 4, [1, 3]),
    ([1, 2, 3, 4], 4, None),
])
def test_check_heads(heads, num_heads, expected):
  assert search.check_heads(heads, num_heads) == expected


def test_check_heads_out_of_range():
  with pytest.raises(ExbertError, match=r"^head 5 is out of range: this model has heads 1\.\.4$"):
    search.check_heads([1, 5], 4)
  with pytest.raises(ExbertError, match="head 0 is out of range"):
    search.check_heads([0], 4)


def test_mask_heads():
  q = np.array([3.0, 4.0, 1.0, 0.0, 0.0, 2.0])  # H=3, dh=2
  np.testing.assert_allclose(search.mask_heads(q, None, 3), [0.6, 0.8, 1, 0, 0, 1])
  np.testing.assert_allclose(search.mask_heads(q, [1, 3], 3), [0.6, 0.8, 0, 0, 0, 1])
  np.testing.assert_allclose(search.mask_heads(np.zeros(6), [2], 3), np.zeros(6))


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("search")
  (root / "corpus.txt").write_text(CORPUS * 3, encoding="utf-8")
  build.build(FakeModel(), str(root / "corpus.txt"), root / "store",
              build.BuildConfig(shard_size=8, batch_size=4), progress=False)
  return root / "store"


@pytest.mark.parametrize("heads", [None, [1], [2], [3], [1, 3], [2, 3]])
@pytest.mark.parametrize("layer", [1, 2])
def test_head_subset_search_equals_brute_force_cosine(fake_store, heads, layer):
  index = search.CorpusIndex.open(fake_store)
  stored = index.faiss_index("context", layer).reconstruct_n(0, len(index.table))
  rng = np.random.default_rng(layer)
  chosen = list(range(1, 4)) if heads is None else heads
  # Queries are C vectors: every head slice at unit norm (scaling the whole is harmless).
  random_c = build.normalize_heads(rng.standard_normal(12), 3)
  for query in [random_c, stored[5] * 2.0]:
    result = index.search(query, layer=layer, kind="context", heads=heads, k=10)
    # Brute force: cosine between the concatenated chosen-head slices.   [N, |S|, dh]
    sel = np.asarray(chosen) - 1
    x = stored.reshape(-1, 3, 4)[:, sel].reshape(len(stored), -1)
    qs = query.reshape(3, 4)[sel].reshape(-1)
    cos = x @ qs / (np.linalg.norm(x, axis=1) * np.linalg.norm(qs))
    expected = np.argsort(-cos, kind="stable")[:10]
    got_rows = [index.table.sentence_start[m["sentence_id"]] + m["position"]
                for m in result["matches"]]
    np.testing.assert_allclose([m["score"] for m in result["matches"]], cos[expected],
                               rtol=1e-5, atol=1e-6)
    # Same rows up to the order of exact ties (the corpus repeats, so ties exist).
    assert {round(float(cos[r]), 5) for r in got_rows} == {round(float(cos[r]), 5)
                                                           for r in expected}
    assert np.all(np.diff([m["score"] for m in result["matches"]]) <= 1e-6)


def test_embedding_search_equals_brute_force(fake_store):
  index = search.CorpusIndex.open(fake_store)
  stored = index.faiss_index("embedding", 0).reconstruct_n(0, len(index.table))
  query = np.random.default_rng(0).standard_normal(8)
  result = index.search(query, layer=0, kind="embedding", k=5)
  cos = stored @ query / np.linalg.norm(query)
  np.testing.assert_allclose([m["score"] for m in result["matches"]], np.sort(cos)[::-1][:5],
                             rtol=1e-5)


def test_search_from_model_text_position(fake_store):
  model = FakeModel()
  index = search.CorpusIndex.open(fake_store, model)
  by_text = index.search(layer=2, kind="context", heads=[1, 2], text="A cat sat on the mat.",
                         position=2, k=5)
  (internals,) = model.internals(["A cat sat on the mat."])
  by_vector = index.search(internals.contexts[1][2], layer=2, kind="context", heads=[1, 2], k=5)
  assert by_text == by_vector
  # The sentence is in the corpus: its own "cat" is a perfect match.
  top = by_text["matches"][0]
  assert top["tokens"][top["position"]] == "cat" and top["score"] == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(layer=3, kind="embedding"), r"layer 3 is out of range: this model has layers 1..2 "
     r"\(0 = input embeddings\)"),
    (dict(layer=0, kind="context"), "layer 0 \\(input embeddings\\) has no attention context"),
    (dict(layer=1, kind="attention"), "kind must be embedding or context; got \"attention\""),
    (dict(layer=1, kind="context", heads=[4]), "head 4 is out of range"),
    (dict(layer=1, k=0), "k must be a positive number"),
    (dict(layer=1, kind="embedding", query=np.zeros(5)), "query has 5 values; embedding vectors "
     "of this index have 8"),
    (dict(layer=1), "give a query vector, or a model with text and position"),
    (dict(layer=1, text="A cat", position=9, model=FakeModel()), "token position 9 is out of "
     r"range: the text has 4 word-pieces \(0..3\)"),
])
def test_search_errors(fake_store, kwargs, message):
  index = search.CorpusIndex.open(fake_store)
  kwargs.setdefault("query", None if "text" in kwargs or kwargs == {"layer": 1} else np.ones(8))
  with pytest.raises(ValueError, match=message):
    index.search(**kwargs)


def test_k_larger_than_corpus(fake_store):
  index = search.CorpusIndex.open(fake_store)
  result = index.search(np.ones(8), layer=1, k=10_000)
  assert len(result["matches"]) == len(index.table)


def test_compressed_index_recall_against_exact():
  """Approximate search with the default large-corpus factory (scaled down) keeps recall@50
  against exact search on synthetic head-normalised vectors, with a head subset."""
  num_heads, head_dim = 4, 16
  x = bench_corpus.synthetic_context_vectors(20_000, num_heads, head_dim, seed=0)
  queries = bench_corpus.synthetic_context_vectors(50, num_heads, head_dim, seed=1)
  queries = np.stack([search.mask_heads(q, [1, 3], num_heads) for q in queries])
  exact = faiss.IndexFlatIP(x.shape[1])
  exact.add(x)
  _, truth = exact.search(queries, 50)
  factory, params = build.default_factory(5_000_000, [x.shape[1]])
  assert factory != "Flat"
  index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
  index.train(x[:10_000])
  index.add(x)
  if params:
    faiss.ParameterSpace().set_index_parameters(index, params)
  _, approx = index.search(queries, 50)
  recall = knn_intersection_measure(approx, truth)
  assert recall >= 0.95, (factory, recall)
  # Exact search has recall 1 by this measure, a random ranking ~50/20000.
  assert knn_intersection_measure(truth, truth) == 1.0
  rand = np.random.default_rng(0).integers(0, len(x), truth.shape)
  assert knn_intersection_measure(rand, truth) < 0.05


@pytest.mark.parametrize("approx,truth,expected", [
    ([[1, 2, 3]], [[3, 2, 1]], 1.0),
    ([[1, 2, 9]], [[3, 2, 1]], 2 / 3),
    ([[1, -1, -1]], [[1, 2, 3]], 1 / 3),      # -1 (no result) finds nothing
    ([[1, 1, 2]], [[1, 2, 3]], 2 / 3),        # a repeated id counts once
    ([[1, 2], [5, 6]], [[1, 2], [7, 8]], 0.5),
])
def test_recall_is_the_share_of_the_exact_top_k_found(approx, truth, expected):
  """What the benchmarks report as recall@k (faiss contrib's knn_intersection_measure)."""
  assert knn_intersection_measure(np.array(approx), np.array(truth)) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# A tiny real model (random-init BERT and GPT-2 from tests/tiny_models.py).

@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_build_and_search_with_tiny_model(tmp_path, tiny_model_dirs, family):
  from exbert_lit.models import load_model
  model = load_model(str(tiny_model_dirs[family]), compute_gradients=False)
  corpus = tmp_path / "c.txt"
  corpus.write_text(CORPUS, encoding="utf-8")
  manifest = build.build(model, str(corpus), tmp_path / "s",
                         build.BuildConfig(shard_size=4, batch_size=3), progress=False)
  assert manifest["model"]["is_causal"] == (family == "gpt2")
  index = search.CorpusIndex.open(tmp_path / "s", model)
  text = "The girl ran to a local pub."
  (internals,) = model.internals([text])
  position = int(np.flatnonzero(~internals.special)[1])   # "girl" (or its first piece)
  for kind, layer in [("embedding", 0), ("embedding", 2), ("context", 1)]:
    result = index.search(layer=layer, kind=kind, heads=[1, 3] if kind == "context" else None,
                          text=text, position=position, k=5)
    top = result["matches"][0]
    # The sentence is in the corpus, so its own token is the best match, with score 1.
    assert top["text"] == text and top["position"] == position, (kind, layer)
    assert top["score"] == pytest.approx(1.0, abs=1e-4)
    assert top["tokens"] == internals.tokens
    assert result["query"]["centre"] == ("next" if family == "gpt2" else "match")
  # Labels came through the real tokenizer's offsets.
  labels = top["labels"]
  assert labels[position]["pos"] == "NOUN" and labels[position]["lemma"] == "girl"
  assert sum(lab is None for lab in labels) == int(internals.special.sum())


def test_single_head_search_scans_one_head_and_agrees_with_the_full_scan(
    tmp_path, tiny_model_dirs, monkeypatch):
  """A compressed store (the large-corpus default's type, forced on a small corpus): one-head
  context queries go through that head's codes alone and return what the full candidate scan
  with the other heads zeroed returns."""
  from exbert_lit.corpus import faiss_tools
  from exbert_lit.models import load_model
  monkeypatch.setattr(faiss_tools, "SPLIT_MIN_VECTORS", 1)   # the threaded split as well
  model = load_model(str(tiny_model_dirs["bert"]), compute_gradients=False)
  corpus = tmp_path / "c.txt"
  corpus.write_text(CORPUS, encoding="utf-8")
  factory, params = build.default_factory(10**9, [model.hidden_size])
  build.build(model, str(corpus), tmp_path / "s",
              build.BuildConfig(shard_size=4, batch_size=3, index_type=factory,
                                search_params=params), progress=False)
  index = search.CorpusIndex.open(tmp_path / "s", model)
  (internals,) = model.internals(["The girl ran to a local pub."])
  for head in range(1, model.num_heads + 1):
    assert index.head_scan_index(2, head) is not None
    query = search.vector_of(internals, "context", 2, 2)
    got = index.search(query, layer=2, kind="context", heads=[head], k=10)
    full = index.faiss_index("context", 2)
    scores, ids = full.search(search.mask_heads(query, [head], model.num_heads)[None], 10)
    assert [(m["sentence_id"], m["position"]) for m in got["matches"]] == [
        (int(index.table.columns["sentence_id"][i]),
         int(i - index.table.sentence_start[index.table.columns["sentence_id"][i]]))
        for i in ids[0]]
    np.testing.assert_allclose([m["score"] for m in got["matches"]], scores[0], rtol=1e-4)
