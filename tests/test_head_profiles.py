"""Head profiles (exbert_lit.analysis.head_profiles): the grid counted from a store's attention
summaries equals a brute-force count from the model's full attention (a fresh forward pass over
every stored sentence), for a masked and a causal tiny model; the pure label and base-rate
helpers table-driven; the disk cache; `exbert-lit heads` as text, JSON and CSV."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from exbert_lit import cli
from exbert_lit.analysis import head_profiles as hp
from exbert_lit.analysis import profile_cache
from exbert_lit.corpus import search
from exbert_lit.models import load_model
import tiny_models


# ---------------------------------------------------------------------------------------------
# Pure helpers.

@pytest.mark.parametrize("target,source,special,expected", [
    (5, 6, -1, "-1"), (7, 6, -1, "+1"), (6, 6, -1, "0"), (4, 6, -1, "-2"), (8, 6, -1, "+2"),
    (3, 6, -1, "<-2"), (1, 6, -1, "<-2"), (9, 6, -1, ">+2"), (0, 6, -1, "first"),
    (0, 1, -1, "first"),            # the first token wins over -1
    (0, 6, 8, "[CLS]"), (9, 6, 9, "[SEP]"),   # a special's own text wins over everything
    (-1, 6, -1, None),              # no stored target
])
def test_offset_label_index(target, source, special, expected):
  names = list(hp.OFFSET_LABELS) + ["[CLS]", "[SEP]"]
  got = hp.offset_label_index(np.array([[target]]), np.array([[source]]), np.array([[special]]))
  assert (names[got[0, 0]] if got[0, 0] >= 0 else None) == expected


@pytest.mark.parametrize("causal,expected", [
    # Sentence 0: labels [a, b, b, -], sources rows 0..2; sentence 1: [a, a], source row 5.
    # Masked: rows 0-2 see 1 a + 2 b of 3; row 5 sees 2 a of 2.  a = (1/3 * 3 + 1) / 4.
    (False, [(1 / 3 * 3 + 1) / 4, (2 / 3 * 3) / 4]),
    # Causal: row 0 sees [a]; row 1 [a, b]; row 2 [a, b, b]; row 5 [a, a].
    (True, [(1 + 1 / 2 + 1 / 3 + 1) / 4, (0 + 1 / 2 + 2 / 3 + 0) / 4]),
])
def test_uniform_base(causal, expected):
  label = np.array([0, 1, 1, -1, 0, 0])
  sources = np.array([True, True, True, False, False, True])
  got = hp.uniform_base(label, 2, np.array([0, 4, 6]), sources, causal)
  np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize("text,field,labels", [
    ("dep=det", "dep", ["det"]), ("dep=aux,auxpass", "dep", ["aux", "auxpass"]),
    ("offset=-1", "offset", ["-1"]), ("POS", "pos", []), ("offset=[CLS]", "offset", ["[CLS]"]),
])
def test_parse_label(text, field, labels):
  assert hp.parse_label(text) == (field, labels)


@pytest.mark.parametrize("text", ["", "det", "lemma=be", "dep=", "dep=,"])
def test_parse_label_refuses(text):
  with pytest.raises(ValueError, match="--label"):
    hp.parse_label(text)


def test_rank_and_best_by_lift():
  # 1 layer, 2 heads, labels x (base 0.5), y (0.25), z (0.25).
  p = hp.HeadProfile(field="dep", by="attended", labels=["x", "y", "z"],
                     counts=np.array([[[6, 3, 1], [2, 0, 8]]]), base=np.array([0.5, 0.25, 0.25]),
                     tokens=20, sources=10, skip_special=True, skip_first=False)
  assert [r["name"] for r in p.rank(["z"])] == ["1-2", "1-1"]
  assert p.rank(["Z"])[0]["share"] == pytest.approx(0.8)
  assert p.rank(["y", "z"])[0]["count"] == 8
  top = p.rank()                       # each head's most frequent label, by lift
  assert [(r["name"], r["label"], round(r["lift"], 2)) for r in top] == [
      ("1-2", "z", 3.2), ("1-1", "x", 1.2)]
  best, lift = p.best_by_lift(min_share=0.2)
  assert best.tolist() == [[0, 2]] and lift[0].round(2).tolist() == [1.2, 3.2]
  assert [t["label"] for t in p.top_labels(0, 0, 2)] == ["x", "y"]
  with pytest.raises(ValueError, match="its labels: x, y, z"):
    p.rank(["w"])


# ---------------------------------------------------------------------------------------------
# The grid from the stored summaries equals brute force from the full attention.

@pytest.fixture(scope="module")
def tiny_stores(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  dirs = {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir}
  stores = tiny_models.build_corpus_stores(tmp_path_factory.mktemp("head_profiles"),
                                           tiny_models.SENTENCES, dirs)
  return {name: (search.CorpusIndex.open(stores[f"{name}_corpus"]), load_model(str(path)))
          for name, path in dirs.items()}


def brute_force(index, model, by: str, field: str) -> tuple[list[str], np.ndarray, np.ndarray]:
  """Counts [L, H, V] and base [V] of one profile from a fresh forward pass over every stored
  sentence: argmax of each full attention row, labels read from the store's columns."""
  t = index.table
  causal = index.is_causal
  special = np.asarray(t.columns["special"], dtype=bool)
  pieces = np.asarray(t.columns["piece"])
  column = np.asarray(t.columns["pos" if field == "offset" else field])
  L, H = index.num_layers, index.num_heads
  labels: list[str] = []
  counts: dict[tuple[int, int, str], int] = {}
  base: dict[str, float] = {}
  sources = 0

  def name_of(row: int, pos: int, source_pos: int) -> str:
    if field == "offset":
      if special[row]:
        return t.vocab[pieces[row]]
      if pos == 0:
        return "first"
      d = pos - source_pos
      return "<-2" if d < -2 else ">+2" if d > 2 else (f"+{d}" if d > 0 else str(d))
    return t.vocab[column[row]]

  for s, text in enumerate(t.texts):
    (internals,) = model.internals([text])
    a = t.sentence_start[s]
    n = t.sentence_start[s + 1] - a
    assert len(internals.tokens) == n
    for i in range(n):
      if special[a + i] or (causal and i == 0):
        continue
      sources += 1
      visible = range(i + 1) if causal else range(n)
      can = [j for j in visible if field == "offset" or not (special[a + j] or (causal and j == 0))]
      if by == "attended":
        for j in can:
          base[name_of(a + j, j, i)] = base.get(name_of(a + j, j, i), 0.0) + 1 / len(can)
      else:
        base[name_of(a + i, i, i)] = base.get(name_of(a + i, i, i), 0.0) + 1
      for l in range(L):
        for h in range(H):
          row = internals.attention[l, h, i]
          if by == "attended":
            j = max(can, key=lambda q: row[q])
            label = name_of(a + j, j, i)
          else:
            j = int(np.argmax(row[:i + 1] if causal else row[:n]))
            if special[a + j] or (causal and j == 0):
              continue
            label = name_of(a + i, i, i)
          counts[(l, h, label)] = counts.get((l, h, label), 0) + 1
  labels = sorted({k[2] for k in counts} | set(base))
  grid = np.zeros((L, H, len(labels)), dtype=np.int64)
  for (l, h, label), c in counts.items():
    grid[l, h, labels.index(label)] = c
  return labels, grid, np.array([base.get(x, 0.0) / sources for x in labels])


@pytest.mark.parametrize("model", ["bert", "gpt2"])
@pytest.mark.parametrize("by,field", [("attended", "dep"), ("attended", "pos"),
                                      ("attended", "offset"), ("attending", "pos")])
def test_stored_grid_equals_brute_force(tiny_stores, model, by, field):
  index, lm = tiny_stores[model]
  profile = hp.compute_profiles(index, fields=[field], by=[by], chunk=7)[(by, field)]
  labels, grid, base = brute_force(index, lm, by, field)
  # Same counts for every label the brute force saw (the profile may list labels no head chose).
  got = {x: profile.counts[..., i] for i, x in enumerate(profile.labels)}
  for i, x in enumerate(labels):
    np.testing.assert_array_equal(got.get(x, 0), grid[..., i], err_msg=f"label {x}")
  assert int(profile.counts.sum()) == int(grid.sum())
  # Same top label per head (ties broken by name on both sides).
  for l in range(index.num_layers):
    for h in range(index.num_heads):
      if grid[l, h].sum():
        assert profile.top_labels(l, h, 1)[0]["label"] == min(
            labels, key=lambda x: (-grid[l, h, labels.index(x)], x))
  if by == "attended":
    np.testing.assert_allclose([profile.base[profile.labels.index(x)] for x in labels], base,
                               atol=1e-12)
  assert profile.base.sum() == pytest.approx(1.0)


def test_cache_round_trip_and_cli(tiny_stores, tmp_path, monkeypatch, capsys):
  index, _ = tiny_stores["bert"]
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(tmp_path))
  path = profile_cache.cache_path(index)
  assert path.parent == tmp_path / "head_profiles"
  counted = hp.compute_profiles(index)
  profile_cache.save(path, counted)
  loaded = profile_cache.load(path)
  assert sorted(loaded) == sorted(counted)
  for key, p in counted.items():
    np.testing.assert_array_equal(loaded[key].counts, p.counts)
    assert loaded[key].labels == p.labels
  store_dir = str(index.directory)
  assert cli.main(["heads", "--index", store_dir, "--label", "offset=[CLS]", "--json"]) == 0
  out = json.loads(capsys.readouterr().out)
  assert len(out["ranking"]) == index.num_layers * index.num_heads
  assert out["shares"] == np.round(
      counted[("attended", "offset")].shares()[..., counted[("attended", "offset")]
                                               .labels.index("[CLS]")], 6).tolist()
  assert cli.main(["heads", "--index", store_dir, "--label", "pos", "--csv", "--top", "3"]) == 0
  rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
  assert len(rows) == 3 and set(rows[0]) == {"rank", "layer", "head", "name", "label", "share",
                                             "base", "lift", "count", "sources"}
  assert cli.main(["heads", "--index", store_dir, "--label", "dep=nosuch"]) == 2
  assert "no token of this store has dep = nosuch" in capsys.readouterr().err


def test_head_grid_interpreter(tiny_stores, tmp_path, monkeypatch):
  from exbert_lit.lit import corpus_search
  from exbert_lit.lit import head_grid
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(tmp_path))
  index, lm = tiny_stores["gpt2"]
  other, bert = tiny_stores["bert"]
  interp = head_grid.HeadGrid(corpus_search.CorpusSearch({"g": index, "b": other}), warm=False)
  assert interp.is_compatible(lm, None)
  (grid,) = interp.run([], lm, None, None, {"field": "offset"})
  assert grid["corpus"] == "g" and grid["field"] == "offset" and grid["by"] == "attended"
  assert np.asarray(grid["counts"]).shape == (index.num_layers, index.num_heads,
                                              len(grid["labels"]))
  assert grid["skip_first"] is True            # a causal model's first token is its sink
  (bert_grid,) = interp.run([{"text": "x"}], bert, None, None, {"by": "attending"})
  assert bert_grid["corpus"] == "b" and bert_grid["field"] == "dep"
  with pytest.raises(ValueError, match="offset describes the attended token"):
    interp.run([], lm, None, None, {"field": "offset", "by": "attending"})
  with pytest.raises(ValueError, match="field must be one of"):
    interp.run([], lm, None, None, {"field": "lemma"})


# ---------------------------------------------------------------------------------------------
# Head sets: when the stored top-K provably give the true argmax of the mean over heads.

@pytest.mark.parametrize("pos,weight,expected", [
    # Two heads agree on position 1 with weight 0.9: nothing unstored can beat it.
    ([[1, 0, 2], [1, 2, 0]], [[0.9, 0.05, 0.03], [0.9, 0.05, 0.02]], True),
    # Head 1 favours 1, head 2 favours 3; 3 is unstored in head 1, whose 3rd weight 0.1 could
    # lift 3 to (0.1 + 0.5) / 2 = 0.3 > low(1) = (0.5 + 0.05) / 2.
    ([[1, 0, 2], [3, 1, 0]], [[0.5, 0.2, 0.1], [0.5, 0.05, 0.04]], False),
    # Padding (-1) in a short sentence: no unstored position at all in that head.
    ([[1, 0, -1], [1, 0, -1]], [[0.6, 0.4, 0.0], [0.7, 0.3, 0.0]], True),
])
def test_head_set_certified(pos, weight, expected):
  from exbert_lit.analysis import head_sets
  got = head_sets.certified(np.array([pos]), np.array([weight]), [1, 2])
  assert got.tolist() == [expected]


def test_head_set_certified_is_never_wrong(tiny_stores):
  """Wherever `certified` says so, the stored argmax equals the argmax of the full attention."""
  from exbert_lit.analysis import head_sets
  index, lm = tiny_stores["bert"]
  t = index.table
  checked = 0
  for s, text in enumerate(t.texts):
    (internals,) = lm.internals([text])
    rows = np.arange(t.sentence_start[s], t.sentence_start[s + 1])
    for layer in range(1, index.num_layers + 1):
      for heads in ([1, 2], [1, 3, 4], [1, 2, 3, 4]):
        ok = head_sets.certified(np.asarray(t.top_pos[rows, layer - 1]),
                                 np.asarray(t.top_weight[rows, layer - 1]), heads)
        stored = search.max_attended_many(np.asarray(t.top_pos[rows, layer - 1]),
                                          np.asarray(t.top_weight[rows, layer - 1]), heads)
        true = internals.attention[layer - 1, np.asarray(heads) - 1].mean(axis=0).argmax(axis=-1)
        assert (stored[ok] == true[ok]).all()
        checked += int(ok.sum())
  assert checked > 0
