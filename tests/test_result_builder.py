"""The vectorised result builder (CorpusIndex.build_result) against the per-row builder it
replaced, kept here as the reference: equal Python objects and equal JSON, on masked and causal
stores with specials, every label kind, offsets -2..+2, one head, head sets, all heads,
embedding search and layer 0."""
from __future__ import annotations

import collections
import json
import pathlib

import numpy as np
import pytest

from exbert_lit.corpus import build
from exbert_lit.corpus import faiss_tools
from exbert_lit.corpus import result as result_lib
from exbert_lit.corpus import search
from corpus_fakes import FakeModel
from test_histograms import write_golden_store
from test_store import CORPUS


# ---------------------------------------------------------------------------------------------
# The reference: CorpusIndex._result and what it called, as they were before the vectorised
# builder (per-row memmap reads and Python loops).

def ref_count_bins(labels):
  counts = collections.Counter(labels)
  return [result_lib.Bin(label=label, count=count)
          for label, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def ref_offset_label(offset):
  return f"+{offset}" if offset > 0 else str(offset)


def ref_max_attended(top_pos, top_weight, mean_argmax, heads):
  if heads is None:
    return int(mean_argmax)
  if len(heads) == 1:
    return int(top_pos[heads[0] - 1, 0])
  scores = collections.defaultdict(float)
  for h in heads:
    for p, w in zip(top_pos[h - 1], top_weight[h - 1]):
      if p >= 0:
        scores[int(p)] += float(w)
  return min(scores, key=lambda p: (-scores[p], p))


def ref_string(t, column, row):
  code = int(t.columns[column][row])
  return None if code < 0 else t.vocab[code]


def ref_strings(t, column, rows):
  return [None if code < 0 else t.vocab[code]
          for code in t.columns[column][rows.start:rows.stop].tolist()]


def ref_labels_of(t, rows):
  cut = slice(rows.start, rows.stop)
  special = t.columns["special"][cut].tolist()
  pos_codes = t.columns["pos"][cut].tolist()
  heads = t.columns["head"][cut].tolist()
  text = {f: ref_strings(t, f, rows) for f in ("pos", "tag", "dep", "ent", "lemma")}
  return [None if special[i] or pos_codes[i] < 0 else result_lib.TokenLabels(
              pos=text["pos"][i], tag=text["tag"][i], dep=text["dep"][i],
              ent=text["ent"][i], lemma=text["lemma"][i], head=int(heads[i]))
          for i in range(len(rows))]


def ref_result(index, rows, layer, kind, heads, k, offsets):
  t = index.table

  def max_att_of(row):
    if layer == 0:
      return None
    return ref_max_attended(t.top_pos[row, layer - 1], t.top_weight[row, layer - 1],
                            int(t.mean_argmax[row, layer - 1]), heads)

  def row_label(row, field):
    if t.columns["special"][row]:
      return ref_string(t, "piece", row)
    return ref_string(t, field, row)

  centre_shift = 1 if index.is_causal else 0
  summarised = {o: [] for o in [0] + offsets}
  att_rows, att_offsets, matches = [], [], []
  for row, score in rows:
    sid = int(t.columns["sentence_id"][row])
    span = range(int(t.sentence_start[sid]), int(t.sentence_start[sid + 1]))
    position = row - span.start
    max_att = max_att_of(row)
    matches.append(result_lib.Match(
        sentence_id=sid, position=position, score=score, text=t.texts[sid],
        tokens=ref_strings(t, "piece", span), labels=ref_labels_of(t, span), max_att=max_att))
    centre = position + centre_shift
    if centre < len(span):
      for o in summarised:
        if 0 <= centre + o < len(span):
          summarised[o].append(span.start + centre + o)
    if max_att is not None and max_att >= 0:
      att_rows.append(span.start + max_att)
      att_offsets.append(ref_offset_label(max_att - position))

  def label_histograms(rs):
    return result_lib.LabelHistograms(
        **{f: ref_count_bins(row_label(r, f) for r in rs) for f in ("pos", "dep", "ent")})

  return result_lib.SearchResult(
      query=result_lib.Query(layer=layer, kind=kind, heads=heads, k=k, offsets=offsets,
                             centre="next" if index.is_causal else "match"),
      matches=matches,
      histograms={ref_offset_label(o): label_histograms(rs)
                  for o, rs in sorted(summarised.items())},
      max_att=result_lib.MaxAttHistograms(offset=ref_count_bins(att_offsets),
                                          **label_histograms(att_rows)))


# ---------------------------------------------------------------------------------------------
# Stores.

def _fake_store(root: pathlib.Path, is_causal: bool) -> pathlib.Path:
  (root / "corpus.txt").write_text(CORPUS * 2, encoding="utf-8")
  build.build(FakeModel(is_causal=is_causal), str(root / "corpus.txt"), root / "store",
              build.BuildConfig(shard_size=8, batch_size=4), progress=False)
  return root / "store"


@pytest.fixture(scope="module")
def stores(tmp_path_factory, tiny_model_dirs) -> dict[str, pathlib.Path]:
  """Masked and causal fake stores (K=3, H=3), the tiny GPT-2 (a real causal model and
  tokenizer, H=4) and the hand-written golden store (K=1, specials attended to)."""
  out = {}
  for name, causal in (("fake", False), ("fake_causal", True)):
    out[name] = _fake_store(tmp_path_factory.mktemp(name), causal)
  from exbert_lit.models import load_model
  model = load_model(str(tiny_model_dirs["gpt2"]), compute_gradients=False)
  root = tmp_path_factory.mktemp("gpt2")
  (root / "c.txt").write_text(CORPUS, encoding="utf-8")
  build.build(model, str(root / "c.txt"), root / "store",
              build.BuildConfig(shard_size=4, batch_size=3), progress=False)
  out["gpt2"] = root / "store"
  for name, causal in (("golden", False), ("golden_causal", True)):
    directory = tmp_path_factory.mktemp(name) / "store"
    directory.mkdir()
    write_golden_store(directory, is_causal=causal)
    out[name] = directory
  return out


def _searches(index):
  """(kind, layer, heads, k, offsets) covering every query kind the builder distinguishes."""
  h, last = index.num_heads, index.num_layers
  head_sets = [None, [1], [h], [1, h], list(range(1, h)), list(range(1, h + 1))]
  out = []
  for heads in head_sets:
    out.append(("context", 1, heads, 50, [-2, -1, 1, 2]))
    out.append(("context", last, heads, 7, [-1, 1]))
    out.append(("embedding", last, heads, 20, [2, -2]))
  out += [("embedding", 0, None, 50, [-2, -1, 1, 2]), ("embedding", 0, [1, h], 10, []),
          ("embedding", 1, None, 10_000, [-2, -1, 1, 2]), ("context", 1, [1, h], 10_000, [1])]
  return out


@pytest.mark.parametrize("store_name", ["fake", "fake_causal", "gpt2", "golden",
                                        "golden_causal"])
def test_builder_equals_the_reference(stores, store_name, monkeypatch):
  index = search.CorpusIndex.open(stores[store_name])
  raw = []
  real_nearest = faiss_tools.nearest

  def recording_nearest(*args, **kwargs):
    raw.append(real_nearest(*args, **kwargs))
    return raw[-1]

  monkeypatch.setattr(faiss_tools, "nearest", recording_nearest)
  rng = np.random.default_rng(0)
  n = len(index.table)
  compared = 0
  for kind, layer, heads, k, offsets in _searches(index):
    stored = index.faiss_index(kind, layer).reconstruct_n(0, n)
    for query in (stored[rng.integers(n)], rng.standard_normal(stored.shape[1])):
      got = index.search(query, layer=layer, kind=kind, heads=heads, k=k, offsets=offsets)
      scores, ids = raw[-1]
      # As search did before: heads and offsets normalised, scores float(s) * scale.
      checked = search.check_heads(heads, index.num_heads)
      scale = 1.0 if kind == "embedding" else 1.0 / (
          index.num_heads if checked is None else len(checked))
      rows = [(int(i), float(s) * scale) for i, s in zip(ids, scores)]
      want = ref_result(index, rows, layer, kind, checked, k,
                        sorted({int(o) for o in offsets} - {0}))
      assert got == want, (kind, layer, heads, k, offsets)
      assert json.dumps(got) == json.dumps(want)
      compared += 1
  assert compared == 2 * len(_searches(index))


def test_builder_covers_specials_labels_and_offsets(stores):
  """The comparison above is not vacuous: its results hold specials in histograms, several
  entity labels, None labels, every offset, and head-set max-attended tokens that differ from
  the single heads'."""
  index = search.CorpusIndex.open(stores["fake"])
  ids = np.arange(len(index.table))
  result = index.build_result(ids, np.zeros(len(ids)), 1, "context", [1, 3], len(ids),
                              [-2, -1, 1, 2])
  assert list(result["histograms"]) == ["-2", "-1", "0", "+1", "+2"]
  assert "[CLS]" in {b["label"] for b in result["histograms"]["-1"]["pos"]}
  assert "[SEP]" in {b["label"] for b in result["histograms"]["+1"]["pos"]}
  ents = {b["label"] for b in result["histograms"]["0"]["ent"]}
  assert len(ents - {"O", "[CLS]", "[SEP]"}) >= 2, ents
  assert any(lab is None for lab in result["matches"][0]["labels"])
  one = index.max_attended_rows(ids, 1, [1])
  pair = index.max_attended_rows(ids, 1, [1, 3])
  assert (one != pair).any()


# ---------------------------------------------------------------------------------------------
# The head-set argmax: ties, zero weights, -1 padding, row by row against max_attended.

EDGE_POS = np.array([
    [[3, 1, 0], [1, 3, 0], [2, 0, -1]],      # ties between 1 and 3 over heads 1+2
    [[0, -1, -1], [0, -1, -1], [0, -1, -1]],  # one position, rest padding
    [[5, 4, 2], [2, 4, 5], [4, 2, 5]],        # equal sums everywhere: the lowest wins
    [[7, 6, -1], [6, 7, -1], [1, -1, -1]],    # a zero weight still makes a candidate
])
EDGE_W = np.array([
    [[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [0.75, 0.25, 0.0]],
    [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
    [[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]],
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
], dtype=np.float16)


@pytest.mark.parametrize("heads", [[1, 2], [2, 3], [1, 3], [1, 2, 3], [3, 1]])
def test_head_set_argmax_edge_cases(heads):
  got = search.max_attended_many(EDGE_POS, EDGE_W, heads)
  want = [search.max_attended(EDGE_POS[i], EDGE_W[i], -9, heads) for i in range(len(EDGE_POS))]
  assert got.tolist() == want


def test_head_set_argmax_random_against_max_attended():
  rng = np.random.default_rng(1)
  n, h, k = 500, 6, 3
  pos = rng.integers(-1, 6, size=(n, h, k)).astype(np.int16)
  pos[:, :, 0] = np.abs(pos[:, :, 0])   # the top-1 is always a position
  # Few distinct weights: many exact ties; some zeros.
  w = rng.choice(np.array([0.0, 0.125, 0.25, 0.5], np.float16), size=(n, h, k))
  for heads in ([1, 2], [2, 4, 6], list(range(1, 7))):
    got = search.max_attended_many(pos, w, heads)
    assert got.tolist() == [search.max_attended(pos[i], w[i], -9, heads) for i in range(n)]
