"""Histogram counting and max-attention summaries, on pure inputs and a hand-written golden store."""
from __future__ import annotations

import json
import pathlib

import faiss
import numpy as np
import pytest

from exbert_lit.corpus import build
from exbert_lit.corpus import search
from exbert_lit.corpus import store


@pytest.mark.parametrize("labels,expected", [
    ([], []),
    (["NOUN"], [("NOUN", 1)]),
    (["VERB", "NOUN", "NOUN", "ADJ", "VERB"], [("NOUN", 2), ("VERB", 2), ("ADJ", 1)]),
    (["b", "a", "c"], [("a", 1), ("b", 1), ("c", 1)]),   # ties: by label
])
def test_count_bins(labels, expected):
  assert [(b["label"], b["count"]) for b in search.count_bins(labels)] == expected


@pytest.mark.parametrize("offset,label", [(0, "0"), (1, "+1"), (-2, "-2"), (12, "+12")])
def test_offset_label(offset, label):
  assert search.offset_label(offset) == label


TOP_POS = np.array([[3, 1, 0],    # head 1: 3 (0.5), 1 (0.3), 0 (0.2)
                    [1, 2, 0],    # head 2: 1 (0.4), 2 (0.35), 0 (0.25)
                    [2, 0, -1]])  # head 3: 2 (0.9), 0 (0.1), padding
TOP_W = np.array([[0.5, 0.3, 0.2], [0.4, 0.35, 0.25], [0.9, 0.1, 0.0]])


@pytest.mark.parametrize("heads,expected", [
    (None, 7),          # the stored all-head argmax is used as is
    ([1], 3), ([2], 1), ([3], 2),
    ([1, 2], 1),        # 1: 0.3 + 0.4 = 0.7 beats 3: 0.5
    ([2, 3], 2),        # 2: 0.35 + 0.9
    ([1, 3], 2),        # 2: 0.9 beats 3: 0.5
])
def test_max_attended(heads, expected):
  assert search.max_attended(TOP_POS, TOP_W, 7, heads) == expected


def test_summarize_attention():
  # [L=1, H=2, T=3, T=3]
  att = np.array([[[[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]],
                   [[0.6, 0.2, 0.2], [0.5, 0.4, 0.1], [0.0, 0.0, 1.0]]]])
  top_pos, top_w, mean_argmax = build.summarize_attention(att, top_k=4)
  assert top_pos.shape == (3, 1, 2, 4) and top_pos.dtype == np.int16
  assert top_pos[0, 0].tolist() == [[1, 2, 0, -1], [0, 1, 2, -1]]   # padded: T=3 < K=4
  assert top_pos[2, 0, 0].tolist() == [0, 1, 2, -1]                  # ties -> lower position
  np.testing.assert_allclose(top_w[1, 0, 0, :3], [0.8, 0.1, 0.1], atol=1e-3)
  # all-head mean, token 0: [0.4, 0.35, 0.25] -> 0; token 1: [0.3, 0.25, 0.45] -> 2
  assert mean_argmax[:, 0].tolist() == [0, 2, 2]


# ---------------------------------------------------------------------------------------------
# A golden store written by hand: L=1, H=2 heads of dh=1, D=2.

SENTENCES = [
    # piece, pos, dep, ent, head (piece index), special
    [("[CLS]", None, None, None, -1, True), ("the", "DET", "det", "O", 2, False),
     ("cat", "NOUN", "nsubj", "O", 3, False), ("sat", "VERB", "ROOT", "O", 3, False),
     ("[SEP]", None, None, None, -1, True)],
    [("[CLS]", None, None, None, -1, True), ("Rex", "PROPN", "nsubj", "B-PERSON", 2, False),
     ("ran", "VERB", "ROOT", "O", 2, False), ("[SEP]", None, None, None, -1, True)],
]
TEXTS = ["the cat sat", "Rex ran"]
# Layer-1 embedding per row (9 rows): cat and Rex point one way, everything else another.
E1 = np.array([[0, 1], [0, 1], [1, 0], [0, 1], [0, 1], [0, 1], [0.8, 0.6], [0, 1], [0, 1]],
              dtype=np.float32)
# Context per row: head 1 slice, head 2 slice (dh = 1, values +-1).
C1 = np.array([[1, 1], [1, 1], [1, -1], [1, 1], [1, 1], [1, 1], [1, 1], [-1, 1], [1, 1]],
              dtype=np.float32)
# Attention per row, one layer: head 1 looks one to the left, head 2 at [SEP];
# the stored all-head argmax is head 1's choice.
ROW_POS = [0, 1, 2, 3, 4, 0, 1, 2, 3]
ROW_LEN = [5, 5, 5, 5, 5, 4, 4, 4, 4]


def write_golden_store(directory: pathlib.Path, is_causal: bool) -> None:
  rows = [r for s in SENTENCES for r in s]
  vocab: list[str] = []

  def code(v):
    if v is None:
      return -1
    if v not in vocab:
      vocab.append(v)
    return vocab.index(v)

  cols = {
      "piece": [code(r[0]) for r in rows], "pos": [code(r[1]) for r in rows],
      "tag": [code(r[1]) for r in rows], "dep": [code(r[2]) for r in rows],
      "ent": [code(r[3]) for r in rows], "lemma": [code(r[0] if r[1] else None) for r in rows],
      "head": [r[4] for r in rows], "special": [r[5] for r in rows],
      "sentence_id": [0] * 5 + [1] * 4, "position": ROW_POS,
      "start": [0] * 9, "end": [0] * 9,
  }
  for name, values in cols.items():
    store.save_array(directory / "tokens" / f"{name}.npy",
                     np.asarray(values, dtype=bool if name == "special" else np.int32))
  store.save_array(directory / "tokens" / "sentence_start.npy", np.array([0, 5, 9], np.int64))
  top_pos = np.zeros((9, 1, 2, 1), np.int16)
  top_pos[:, 0, 0, 0] = [max(p - 1, 0) for p in ROW_POS]
  top_pos[:, 0, 1, 0] = [n - 1 for n in ROW_LEN]
  store.save_array(directory / "attention" / "top_pos.npy", top_pos)
  store.save_array(directory / "attention" / "top_weight.npy", np.ones((9, 1, 2, 1), np.float16))
  store.save_array(directory / "attention" / "mean_argmax.npy", top_pos[:, :, 0, 0])
  (directory / "vocab.json").write_text(json.dumps(vocab))
  (directory / "sentences.jsonl").write_text(
      "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
  (directory / "index").mkdir()
  for kind, layer, x in (("embedding", 0, E1), ("embedding", 1, E1), ("context", 1, C1)):
    index = faiss.IndexFlatIP(2)
    index.add(x if kind == "context" else build.normalize_rows(x))
    faiss.write_index(index, str(directory / "index" / store.index_filename(kind, layer)))
  store.write_json_atomic(directory / store.MANIFEST, {
      "format": store.FORMAT, "format_version": store.FORMAT_VERSION,
      "model": {"name": "golden", "fingerprint": "golden@1", "is_causal": is_causal,
                "num_layers": 1, "num_heads": 2, "head_dim": 1, "hidden_size": 2},
      "counts": {"sentences": 2, "tokens": 9}, "dims": {"embedding": 2, "context": 2},
      "index": {"factory": "Flat", "metric": "inner_product", "search_params": ""},
      "attention": {"top_k": 1}})


def bins(histogram) -> dict[str, int]:
  return {b["label"]: b["count"] for b in histogram}


@pytest.fixture
def golden(tmp_path) -> search.CorpusIndex:
  write_golden_store(tmp_path / "masked", is_causal=False)
  return search.CorpusIndex.open(tmp_path / "masked")


def test_golden_embedding_search(golden):
  result = golden.search(np.array([1.0, 0.0]), layer=1, kind="embedding", k=2)
  assert [(m["sentence_id"], m["position"]) for m in result["matches"]] == [(0, 2), (1, 1)]
  assert [round(m["score"], 4) for m in result["matches"]] == [1.0, 0.8]
  assert result["matches"][0]["tokens"] == ["[CLS]", "the", "cat", "sat", "[SEP]"]
  assert result["matches"][0]["text"] == "the cat sat"
  assert result["matches"][0]["labels"][2] == {"pos": "NOUN", "tag": "NOUN", "dep": "nsubj",
                                               "ent": "O", "lemma": "cat", "head": 3}
  assert result["matches"][0]["labels"][0] is None
  assert result["query"] == {"layer": 1, "kind": "embedding", "heads": None, "k": 2,
                             "offsets": [-1, 1], "centre": "match"}
  h = result["histograms"]
  assert list(h) == ["-1", "0", "+1"]
  assert bins(h["0"]["pos"]) == {"NOUN": 1, "PROPN": 1}
  assert bins(h["0"]["ent"]) == {"O": 1, "B-PERSON": 1}
  assert bins(h["-1"]["pos"]) == {"DET": 1, "[CLS]": 1}     # specials count under their text
  assert bins(h["+1"]["dep"]) == {"ROOT": 2}
  # All heads: the stored argmax (one to the left).
  assert [m["max_att"] for m in result["matches"]] == [1, 0]
  assert bins(result["max_att"]["offset"]) == {"-1": 2}
  assert bins(result["max_att"]["pos"]) == {"DET": 1, "[CLS]": 1}


def test_golden_heads_choose_the_max_attended_token(golden):
  result = golden.search(np.array([1.0, 0.0]), layer=1, kind="embedding", k=2, heads=[2])
  assert [m["max_att"] for m in result["matches"]] == [4, 3]   # [SEP] of each sentence
  assert bins(result["max_att"]["offset"]) == {"+2": 2}
  assert bins(result["max_att"]["pos"]) == {"[SEP]": 2}


def test_golden_offsets_and_layer_zero(golden):
  result = golden.search(np.array([1.0, 0.0]), layer=0, kind="embedding", k=1, offsets=[2, -2])
  assert list(result["histograms"]) == ["-2", "0", "+2"]
  assert bins(result["histograms"]["-2"]["pos"]) == {"[CLS]": 1}
  assert bins(result["histograms"]["+2"]["pos"]) == {"[SEP]": 1}
  assert result["matches"][0]["max_att"] is None and result["max_att"]["offset"] == []


def test_golden_context_head_subset(golden):
  # Head 1 alone: every row has +1 there except row 7 -> many ties, row 7 last.
  # Head 2 alone with query -1: rows 2 (cat) best.
  result = golden.search(np.array([0.0, -1.0]), layer=1, kind="context", heads=[2], k=1)
  assert [(m["sentence_id"], m["position"], m["score"]) for m in result["matches"]] == [(0, 2, 1.0)]
  result = golden.search(np.array([-1.0, 1.0]), layer=1, kind="context", k=1)
  assert [(m["sentence_id"], m["position"], m["score"]) for m in result["matches"]] == [(1, 2, 1.0)]


def test_golden_causal_centres_on_the_next_token(tmp_path):
  write_golden_store(tmp_path / "causal", is_causal=True)
  index = search.CorpusIndex.open(tmp_path / "causal")
  result = index.search(np.array([1.0, 0.0]), layer=1, kind="embedding", k=2)
  assert result["query"]["centre"] == "next"
  h = result["histograms"]
  assert bins(h["0"]["pos"]) == {"VERB": 2}          # cat -> sat, Rex -> ran
  assert bins(h["-1"]["pos"]) == {"NOUN": 1, "PROPN": 1}
  assert bins(h["+1"]["pos"]) == {"[SEP]": 2}
  # Max attention stays the matched token's own.
  assert bins(result["max_att"]["offset"]) == {"-1": 2}
