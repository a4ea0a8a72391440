"""The compact index layouts that `exbert-lit bench --section scale --real` compares are usable
as `--index-type`: a store built with each merges its shards, opens (memory-mapped) and answers
every query kind, one head through its own codes (faiss_tools.heads_scan) and re-ranking codes
of any kind (decoded by faiss where they are not 8-bit scalar codes)."""
from __future__ import annotations

import numpy as np
import pytest

from exbert_lit.bench import scale_real
from exbert_lit.corpus import build
from exbert_lit.corpus import search

# Trains 8-bit PQ codebooks per store: minutes, so with the slower tests (`pytest -m slow`).
pytestmark = pytest.mark.slow

# Tiny models: 4 heads x 8 = 32 wide.
FACTORIES = [("PQ16x4fs,Refine(SQ4)", "k_factor_rf=12"),
             ("PQ8x4fs,Refine(PQ16x8)", "k_factor_rf=24")]


@pytest.fixture(scope="module")
def model_and_corpus(tmp_path_factory, tiny_bert_dir):
  import tiny_models
  from exbert_lit.models import load_model
  root = tmp_path_factory.mktemp("compact")
  (root / "c.txt").write_text("\n\n".join(list(tiny_models.SENTENCES) * 12), encoding="utf-8")
  return load_model(str(tiny_bert_dir)), root


@pytest.mark.parametrize("factory,params", FACTORIES)
@pytest.mark.parametrize("kind,heads", [("context", [2]), ("context", [1, 3]),
                                        ("context", None), ("embedding", None)])
def test_compact_store_finds_the_exact_neighbours(model_and_corpus, factory, params, kind,
                                                  heads):
  model, root = model_and_corpus
  if factory.startswith("PQ8x4fs") and heads is not None and len(heads) == 1:
    # 4 dims per 4-bit code: one tiny head is 2 codes, whose 256 possible scores tie most of
    # the corpus (half the queries found none of the top 20): not a layout for one-head search
    # on narrow heads.
    pytest.skip("one head of 8 dims in two 4-bit codes")
  out = root / factory.replace(",", "_").replace("(", "").replace(")", "")
  if not out.is_dir():
    build.build(model, str(root / "c.txt"), out,
                build.BuildConfig(index_type=factory, search_params=params, shard_size=16),
                progress=False)
  index = search.CorpusIndex.open(out)
  assert index.info.index.factory == factory
  n, k = len(index.table), 20
  stored = scale_real.store_vectors(index.faiss_index(kind, 2), np.arange(n))
  good = []
  for row in range(0, n, 37):
    ids, _ = index.nearest(stored[row], layer=2, kind=kind, heads=heads, k=k)
    scores = stored @ scale_real.query_vector(stored[row], kind, heads, index.num_heads)
    kth = np.sort(scores)[-k]
    # The corpus repeats each sentence 12 times: a tie-aware recall, the share of the results
    # that score at least the exact k-th best over the decoded codes (the ground truth).
    good.append(np.mean(scores[ids] >= kth - 1e-5) * len(ids) / k)
  # One head of a tiny model is 8 dims in 4 codes of 4 bits: here one token in three has
  # more candidates tied at its quantised score than are re-ranked (the default SQ8 layout
  # scores the same 0.867 on this store; real heads: `bench --section scale --real`).
  assert np.mean(good) >= (0.85 if heads is not None and len(heads) == 1 else 0.95)
