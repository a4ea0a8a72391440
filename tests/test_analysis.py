"""exbert_lit.analysis: the arithmetic of the case studies (table-driven), and the store-wide
head ranking checked against a brute-force count over a store built with the fake model."""
from __future__ import annotations

import pathlib
import types

import numpy as np
import pytest

from exbert_lit.analysis import heads
from exbert_lit.analysis import layer_labels
from exbert_lit.analysis import next_token
from exbert_lit.analysis import positions
from exbert_lit.analysis import stores
from exbert_lit.corpus import build
from exbert_lit.corpus import search
from corpus_fakes import FakeModel
from test_store import CORPUS


# ---------------------------------------------------------------------------------------------
# stores

@pytest.mark.parametrize("text,expected", [
    ("minilm", "minilm"), ("bert-base-cased", "bert-base-cased"),
    ("/data/my corpus.txt", "data-my-corpus-txt"), ("gpt2", "gpt2"), ("///", "x"),
    ("a" * 60, "a" * 40),
])
def test_slug(text, expected):
  assert stores.slug(text) == expected


def test_store_name():
  assert stores.store_name("minilm", "abcdef0123456789", "brown", 2000) == \
      "minilm-23456789-brown-2000"
  assert stores.store_name("/m/x", "ff", "brown", None) == "m-x-ff-brown-all"


def _dims(layers, hidden, heads_, head_dim):
  return types.SimpleNamespace(num_layers=layers, hidden_size=hidden, num_heads=heads_,
                               head_dim=head_dim)


@pytest.mark.parametrize("dims,expected", [
    (_dims(6, 384, 12, 32), 2000),     # minilm
    (_dims(30, 576, 9, 64), 500),      # SmolLM2-135M
    (_dims(12, 768, 12, 64), 1000),    # bert-base, gpt2
    (_dims(48, 1600, 25, 64), 200),    # gpt2-xl: the floor
])
def test_default_max_sentences(dims, expected):
  assert stores.default_max_sentences(dims) == expected


def test_ensure_store_builds_once_then_reuses(tmp_path, monkeypatch):
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(tmp_path / "cache"))
  corpus = tmp_path / "c.txt"
  corpus.write_text(CORPUS, encoding="utf-8")
  model = FakeModel()
  first = stores.ensure_store(model, str(corpus), 5, progress=False)
  assert first.directory.parent == tmp_path / "cache" / "stores"
  assert first.manifest["counts"]["sentences"] == 5
  calls = model.calls
  again = stores.ensure_store(model, str(corpus), 5, progress=False)
  assert model.calls == calls and again.directory == first.directory
  other = stores.ensure_store(model, str(corpus), 3, progress=False)
  assert other.directory != first.directory
  with pytest.raises(ValueError, match="built with model"):
    stores.ensure_store(FakeModel(seed=1), str(corpus), 5, directory=first.directory)


# ---------------------------------------------------------------------------------------------
# layer_labels

def _bins(**counts):
  return [{"label": k, "count": v} for k, v in counts.items()]


@pytest.mark.parametrize("bins,expected", [
    (_bins(VERB=3, NOUN=1), {"VERB": 0.75, "NOUN": 0.25}),
    ([], {}),
    (_bins(X=0), {}),
])
def test_shares(bins, expected):
  assert layer_labels.shares(bins) == expected


ROWS = [{"layer": 1, "shares": {"NOUN": 0.6, "VERB": 0.4}},
        {"layer": 2, "shares": {}},
        {"layer": 3, "shares": {"NOUN": 0.5, "VERB": 0.5}},
        {"layer": 4, "shares": {"VERB": 0.9, "NOUN": 0.1}}]


@pytest.mark.parametrize("label,on_top,at_half", [
    ("VERB", 3, 3), ("NOUN", 1, 1), ("ADJ", None, None),
])
def test_first_layers(label, on_top, at_half):
  assert layer_labels.first_layer_on_top(ROWS, label) == on_top
  assert layer_labels.first_layer_reaching(ROWS, label, 0.5) == at_half


def test_series():
  assert layer_labels.series(ROWS, "VERB") == [0.4, 0.0, 0.5, 0.9]


@pytest.mark.parametrize("position,centre,expected", [
    (1, "match", "b"), (1, "next", "c"), (2, "next", None), (0, "match", "a"),
])
def test_summarised_token(position, centre, expected):
  match = {"position": position, "tokens": ["a", "b", "c"]}
  assert layer_labels.summarised_token(match, centre) == expected


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory):
  root = tmp_path_factory.mktemp("analysis")
  (root / "c.txt").write_text(CORPUS * 2, encoding="utf-8")
  model = FakeModel()
  build.build(model, str(root / "c.txt"), root / "store",
              build.BuildConfig(shard_size=4, batch_size=4), progress=False)
  return search.CorpusIndex.open(root / "store", model), model


def test_labels_by_layer_matches_direct_searches(fake_index):
  index, model = fake_index
  (internals,) = model.internals(["The girl ran to a local pub."])
  got = layer_labels.labels_by_layer(index, internals, 2, k=7)
  assert [r["layer"] for r in got["embedding"]] == [0, 1, 2]
  assert [r["layer"] for r in got["context"]] == [1, 2]
  for kind, rows in got.items():
    for row in rows:
      vec = (internals.embeddings[row["layer"]] if kind == "embedding"
             else internals.contexts[row["layer"] - 1])[2]
      direct = index.search(vec, layer=row["layer"], kind=kind, k=7)["histograms"]["0"]["pos"]
      assert row["shares"] == layer_labels.shares(direct)
      assert row["counted"] == row["matches"] == 7
      assert sum(row["shares"].values()) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="out of range"):
    layer_labels.labels_by_layer(index, internals, 99)


# ---------------------------------------------------------------------------------------------
# heads

def test_label_codes_case_insensitive():
  vocab = ["the", "aux", "AUX", "nsubj", "auxpass"]
  assert heads.label_codes(vocab, ["AUX"]).tolist() == [1, 2]
  assert heads.label_codes(vocab, ["aux", "auxpass"]).tolist() == [1, 2, 4]
  assert heads.label_codes(vocab, ["dobj"]).tolist() == []


# Two sentences: rows 0-2 ([CLS] x [SEP]) and rows 3-5 ([CLS] y [SEP]).
SPECIAL = np.array([True, False, True, True, False, True])


@pytest.mark.parametrize("top_pos,starts,special,expected", [
    ([[1, 0, 2]], [0], None, [1]),                    # top-1
    ([[0, 2, 1]], [0], None, [0]),                    # top-1 even if special
    ([[0, 2, 1]], [0], SPECIAL, [1]),                 # first non-special of the top-K
    ([[0, 2, -1]], [0], SPECIAL, [-1]),               # none qualifies
    ([[2, -1, -1]], [3], None, [5]),                  # padding after the top-1
    ([[0, 1, 2], [2, 1, 0]], [3, 0], SPECIAL, [4, 1]),
])
def test_max_targets(top_pos, starts, special, expected):
  got = heads.max_targets(np.array(top_pos), np.array(starts), special)
  assert got.tolist() == expected


def test_max_targets_keeps_leading_shape():
  top_pos = np.array([[[0, 1, 2], [1, 0, 2]]])       # [N=1, H=2, K=3]
  assert heads.max_targets(top_pos, np.array([3]), SPECIAL).tolist() == [[4, 4]]


@pytest.mark.parametrize("targets,expected", [
    ([[1, 0], [2, 1]], [0.5, 0.5]),
    ([[0, -1]], [1.0, 0.0]),                          # -1 is a miss, not row 0
    ([[0, 1], [1, 2], [1, 0]], [1 / 3, 2 / 3]),
])
def test_hit_shares(targets, expected):
  is_label = np.array([True, False, True])
  got = heads.hit_shares(np.array(targets), is_label)
  np.testing.assert_allclose(got, expected)


def test_hit_shares_without_sources_is_nan():
  got = heads.hit_shares(np.zeros((0, 3), int), np.zeros(2, bool))
  assert got.shape == (3,) and np.isnan(got).all()


def test_rank_heads_order_ties_and_nan():
  scores = np.array([[0.1, 0.5], [np.nan, 0.5], [0.7, 0.0]])
  ranked = heads.rank_heads(scores)
  assert [r["name"] for r in ranked] == ["3-1", "1-2", "2-2", "1-1", "3-2", "2-1"]
  assert ranked[0] == {"layer": 3, "head": 1, "name": "3-1", "share": pytest.approx(0.7)}
  assert len(heads.rank_heads(scores, top=2)) == 2


def _brute_force_target(table, row, layer, head, skip_special, skip_first=False):
  """The max-attended row of `row` for (layer, head), read position by position."""
  span = table.sentence_rows(int(table.columns["sentence_id"][row]))
  for position in table.top_pos[row, layer - 1, head - 1]:
    if position < 0 or (skip_first and position == 0):
      continue
    target = span[int(position)]
    if not (skip_special and table.columns["special"][target]):
      return target
  return None


def _brute_force_share(table, layer, head, field, label, source_pos, skip_special,
                       skip_first=False):
  hits = total = 0
  for row in range(len(table)):
    labels = table.labels(row)
    if labels is None or (source_pos and labels["pos"] != source_pos):
      continue
    if skip_first and table.columns["position"][row] == 0:
      continue
    target = _brute_force_target(table, row, layer, head, skip_special, skip_first)
    target_labels = None if target is None else table.labels(target)
    total += 1
    hits += target_labels is not None and target_labels[field] == label
  return hits / total


@pytest.mark.parametrize("skip_special", [True, False])
@pytest.mark.parametrize("field,label,source_pos", [
    ("dep", "det", None), ("pos", "NOUN", None), ("pos", "DET", "NOUN"), ("dep", "punct", None),
])
def test_rank_equals_brute_force(fake_index, field, label, source_pos, skip_special):
  index, _ = fake_index
  ranked = heads.rank(index, field, label, source_field="pos" if source_pos else None,
                      source_label=source_pos, skip_special=skip_special)
  shares = np.asarray(ranked["shares"])
  assert shares.shape == (index.num_layers, index.num_heads)
  for layer in range(1, index.num_layers + 1):
    for head in range(1, index.num_heads + 1):
      assert shares[layer - 1, head - 1] == pytest.approx(_brute_force_share(
          index.table, layer, head, field, label, source_pos, skip_special), abs=1e-6)
  assert ranked["ranking"][0]["share"] == pytest.approx(shares.max(), abs=1e-6)
  first = ranked["ranking"][0]
  assert first["lift"] == pytest.approx(first["share"] / ranked["chance"])
  assert 0 < ranked["chance"] < 1 and 0 < ranked["label_rate"] < 1


@pytest.fixture(scope="module")
def causal_index(tmp_path_factory, tiny_model_dirs):
  """A store of the tiny GPT-2: no special tokens, so position 0 is a real word."""
  from exbert_lit.models import load_model
  root = tmp_path_factory.mktemp("analysis_causal")
  (root / "c.txt").write_text(CORPUS * 2, encoding="utf-8")
  model = load_model(str(tiny_model_dirs["gpt2"]), compute_gradients=False)
  build.build(model, str(root / "c.txt"), root / "store",
              build.BuildConfig(shard_size=4, batch_size=4), progress=False)
  return search.CorpusIndex.open(root / "store", model), model


@pytest.mark.parametrize("skip_first", [None, True, False])
@pytest.mark.parametrize("field,label", [("dep", "det"), ("pos", "NOUN")])
def test_causal_rank_skips_the_first_token_by_default(causal_index, field, label,
                                                       skip_first):
  index, _ = causal_index
  ranked = heads.rank(index, field, label, skip_first=skip_first)
  expect_skip = skip_first is not False     # None = on for causal models
  assert ranked["skip_first"] is expect_skip
  shares = np.asarray(ranked["shares"])
  for layer in range(1, index.num_layers + 1):
    for head in range(1, index.num_heads + 1):
      assert shares[layer - 1, head - 1] == pytest.approx(_brute_force_share(
          index.table, layer, head, field, label, None, True, expect_skip), abs=1e-6)
  positions_ = np.asarray(index.table.columns["position"])
  assert not np.asarray(index.table.columns["special"]).any()
  assert ranked["sources"] == int(((positions_ != 0) | (not expect_skip)).sum())


def test_causal_skip_first_changes_the_targets(causal_index):
  """The tiny GPT-2 sends some max-attention to position 0, so skipping it matters."""
  index, _ = causal_index
  table = index.table
  assert (np.asarray(table.top_pos[..., 0])[np.asarray(table.columns["position"]) > 0] == 0).any()
  kept = heads.rank(index, "pos", "DET", skip_first=False)["shares"]
  skipped = heads.rank(index, "pos", "DET", skip_first=True)["shares"]
  assert not np.allclose(kept, skipped)


def test_excluded_targets(causal_index):
  table = causal_index[0].table
  special = np.asarray(table.columns["special"])
  first = np.asarray(table.columns["position"]) == 0
  assert heads.excluded_targets(table, False, False) is None
  assert (heads.excluded_targets(table, True, False) == special).all()
  assert (heads.excluded_targets(table, False, True) == first).all()
  assert (heads.excluded_targets(table, True, True) == (special | first)).all()


def test_fake_store_heads_do_attend_to_special_tokens(fake_index):
  """The skip_special cases above differ only if some top-1 targets are special."""
  table = fake_index[0].table
  starts = np.asarray(table.sentence_start)[np.asarray(table.columns["sentence_id"])]
  top1 = starts[:, None, None] + np.asarray(table.top_pos[..., 0])
  assert np.asarray(table.columns["special"])[top1].any()


# Sentence 0: rows 0-3 = [CLS] a(L) b [SEP]; sentence 1: rows 4-6 = c(L) d(L) e.
CHANCE_SPECIAL = np.array([True, False, False, True, False, False, False])
CHANCE_LABEL = np.array([False, True, False, False, True, True, False])
CHANCE_STARTS = np.array([0, 4, 7])


@pytest.mark.parametrize("sources,causal,expected", [
    ([1, 2], False, 0.5),                     # 1 of 2 plain tokens in sentence 0
    ([4, 5, 6], False, 2 / 3),
    ([1, 2, 4], False, (0.5 + 0.5 + 2 / 3) / 3),
    ([1, 2], True, (1 / 1 + 1 / 2) / 2),       # a sees a; b sees a, b
    ([4, 5, 6], True, (1 + 1 + 2 / 3) / 3),
    ([], False, None),
])
def test_chance_rate(sources, causal, expected):
  mask = np.zeros(7, bool)
  mask[sources] = True
  got = heads.chance_rate(CHANCE_LABEL, CHANCE_SPECIAL, CHANCE_STARTS, mask, causal)
  if expected is None:
    assert np.isnan(got)
  else:
    assert got == pytest.approx(expected)


def test_rank_unknown_label(fake_index):
  with pytest.raises(ValueError, match="no token of this corpus index has dep = nonesuch"):
    heads.rank(fake_index[0], "dep", "nonesuch")


@pytest.mark.parametrize("skip_special", [True, False])
def test_head_target_distribution_agrees_with_rank(fake_index, skip_special):
  index, _ = fake_index
  ranked = heads.rank(index, "dep", "det", skip_special=skip_special)
  for layer, head in [(1, 1), (2, 3)]:
    bins = heads.head_target_distribution(index.table, layer, head, "dep", skip_special)
    total = sum(b["count"] for b in bins)
    assert total == ranked["sources"]
    det = next((b["count"] for b in bins if b["label"] == "det"), 0)
    assert det / total == pytest.approx(ranked["shares"][layer - 1][head - 1], abs=1e-6)
    assert [b["count"] for b in bins] == sorted((b["count"] for b in bins), reverse=True)
    assert any(b["label"] == "[CLS]" or b["label"] == "[SEP]" for b in bins) != skip_special


def test_query_target_distribution_raw_equals_the_search_histogram(fake_index):
  index, model = fake_index
  (internals,) = model.internals(["A cat sat on the mat."])
  vec = internals.contexts[1][3]
  direct = index.search(vec, layer=2, kind="context", heads=[3], k=6)
  raw = heads.query_target_distribution(index, vec, 2, 3, field="dep", k=6, skip_special=False)
  assert raw["histogram"] == direct["max_att"]["dep"]
  assert raw["result"]["matches"] == direct["matches"]
  plain = heads.query_target_distribution(index, vec, 2, 3, field="dep", k=6)
  assert sum(b["count"] for b in plain["histogram"]) == 6
  assert not any(b["label"].startswith("[") for b in plain["histogram"])


# ---------------------------------------------------------------------------------------------
# next_token

TOP = [("Ġher", 0.6), ("Ġhim", 0.2), ("Ġthem", 0.1)]


@pytest.mark.parametrize("pieces,expected", [
    ({"her": "Ġher"}, {"her": {"piece": "Ġher", "probability": 0.6, "rank": 1, "below": 0.1}}),
    ({"him": "Ġhim", "it": "Ġit"},
     {"him": {"piece": "Ġhim", "probability": 0.2, "rank": 2, "below": 0.1},
      "it": {"piece": "Ġit", "probability": None, "rank": None, "below": 0.1}}),
])
def test_candidate_probabilities(pieces, expected):
  assert next_token.candidate_probabilities(TOP, pieces) == expected


def test_word_piece():
  tok = types.SimpleNamespace(tokenize=lambda s: {" her": ["Ġher"], " nurse": ["Ġnur", "se"]}[s])
  assert next_token.word_piece(tok, "her") == "Ġher"
  with pytest.raises(ValueError, match="2 word-pieces"):
    next_token.word_piece(tok, "nurse")


def test_attention_from():
  att = np.zeros((2, 2, 3, 3))      # [L, H, T, T]
  att[1, 0, 2] = [0.5, 0.3, 0.2]
  att[1, 1, 2] = [0.0, 0.0, 1.0]
  rows = next_token.attention_from(att, 2, {"first": 0, "x": 1}, [2])
  assert [r["name"] for r in rows] == ["2-1", "2-2"]
  assert rows[0]["first"] == 0.5 and rows[0]["x"] == 0.3
  assert rows[0]["renormalised"] == {"first": None, "x": pytest.approx(0.6)}
  assert rows[1]["x"] == 0.0
  with pytest.raises(ValueError, match="layer 3 is out of range"):
    next_token.attention_from(att, 2, {"x": 1}, [3])


def test_difference_summary():
  a = [{"name": "1-1", "o": 0.5}, {"name": "1-2", "o": 0.1}, {"name": "1-3", "o": 0.2}]
  b = [{"name": "1-1", "o": 0.4}, {"name": "1-2", "o": 0.4}, {"name": "1-3", "o": 0.2}]
  got = next_token.difference_summary(a, b, "o", top=2)
  assert [r["name"] for r in got] == ["1-2", "1-1"]
  assert got[0]["difference"] == pytest.approx(-0.3)
  with pytest.raises(ValueError, match="same heads"):
    next_token.difference_summary(a, b[::-1], "o")


# ---------------------------------------------------------------------------------------------
# positions

def _internals(text, spans, special=None):
  offsets = np.array(spans, dtype=np.int32)
  special = np.array(special or [False] * len(spans))
  tokens = [text[a:b] or "[S]" for a, b in spans]
  return types.SimpleNamespace(text=text, tokens=tokens, offsets=offsets, special=special)


# "[CLS] she ran to a [MASK] to [SEP]" with WordPiece-like spans.
MASKED = _internals("She ran to a [MASK] to.", [(0, 0), (0, 3), (4, 7), (8, 10), (11, 12),
                                                 (13, 19), (20, 22), (22, 23), (0, 0)],
                    [True] + [False] * 7 + [True])


@pytest.mark.parametrize("word,occurrence,expected", [
    ("[MASK]", 1, 5), ("to", 1, 3), ("to", 2, 6), ("a", 1, 4), ("She", 1, 1), (".", 1, 7),
])
def test_word_position(word, occurrence, expected):
  assert positions.word_position(MASKED, word, occurrence) == expected


@pytest.mark.parametrize("word,occurrence", [("x", 1), ("to", 3), ("ra", 1)])
def test_word_position_missing(word, occurrence):
  with pytest.raises(ValueError, match="does not occur"):
    positions.word_position(MASKED, word, occurrence)


def test_word_position_byte_level_pieces_with_leading_space():
  # GPT-2 style: the piece "Ġtold" may span the space before the word.
  inside = _internals("he told", [(0, 2), (2, 7)])
  assert positions.word_position(inside, "told") == 1
