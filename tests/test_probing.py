"""Layer probing (exbert_lit.analysis.probing and `exbert-lit probe`): the vote helpers
table-driven; corpus-wide agreement equal to a brute-force cosine search over the tiny stores'
vectors (leave-one-sentence-out); one token's curves equal to the corpus search's histograms;
the LIT interpreter's two modes."""
from __future__ import annotations

import collections
import csv
import io
import json

import numpy as np
import pytest

from exbert_lit import cli
from exbert_lit.analysis import layer_labels
from exbert_lit.analysis import probing
from exbert_lit.corpus import search
from exbert_lit.lit import corpus_search
from exbert_lit.lit import probe as probe_lib
from exbert_lit.models import fields as fields_lib
from exbert_lit.models import load_model
import tiny_models


@pytest.mark.parametrize("ids,own_sentence,expected", [
    ([[0, 1, 2, 3]], [0], [[2, 1]]),        # rows 0, 1 are the query's sentence: skipped
    ([[2, 0, 3, -1]], [0], [[2, 1]]),       # rank order kept
    ([[3, -1, -1, -1]], [0], [[1, -1]]),    # too few: padded with -1
    ([[4, 2]], [1], [[-1, -1]]),            # row 4 has no label; row 2 is the own sentence
])
def test_neighbour_votes(ids, own_sentence, expected):
  sentence_of = np.array([0, 0, 1, 1, 2])
  codes = np.array([5, 6, 2, 1, -1])
  got = probing.neighbour_votes(np.array(ids), sentence_of, np.array(own_sentence), codes, 2)
  assert got.tolist() == expected


@pytest.mark.parametrize("votes,own,share,accuracy", [
    ([[1, 1, 2]], [1], 2 / 3, 1.0),
    ([[1, 2, 2]], [1], 1 / 3, 0.0),
    ([[2, 1, -1]], [1], 1 / 2, 1.0),        # tie: the lower code wins
    ([[-1, -1, -1]], [1], 0.0, 0.0),        # no neighbour: a miss
    ([[1, 1, 1], [3, 3, 1]], [1, 1], (1 + 1 / 3) / 2, 0.5),
])
def test_agreement_scores(votes, own, share, accuracy):
  got = probing.agreement_scores(np.array(votes), np.array(own))
  assert got == pytest.approx((share, accuracy))


@pytest.fixture(scope="module")
def tiny_stores(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  dirs = {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir}
  stores = tiny_models.build_corpus_stores(tmp_path_factory.mktemp("probing"),
                                           tiny_models.SENTENCES, dirs)
  return {name: (search.CorpusIndex.open(stores[f"{name}_corpus"]), load_model(str(path)))
          for name, path in dirs.items()}


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_agreement_equals_brute_force(tiny_stores, model):
  index, _ = tiny_stores[model]
  t = index.table
  got = probing.agreement(index, "pos", sample=40, k=5, seed=3)
  rows = probing.sample_rows(t, "pos", 40, 3)
  codes = np.asarray(t.columns["pos"])
  sentence = np.asarray(t.columns["sentence_id"])
  for kind, series in got["layers"].items():
    for entry in series:
      fi = index.faiss_index(kind, entry["layer"])
      everything = fi.reconstruct_n(0, fi.ntotal)          # stored (normalised) vectors
      shares, hits = [], 0
      for r in rows:
        scores = everything @ everything[r]
        order = [j for j in np.argsort(-scores, kind="stable")
                 if sentence[j] != sentence[r] and codes[j] >= 0][:5]
        votes = collections.Counter(codes[order].tolist())
        shares.append(votes[codes[r]] / len(order))
        hits += min(votes, key=lambda c: (-votes[c], c)) == codes[r]
      assert entry["share"] == pytest.approx(np.mean(shares), abs=1e-4), (kind, entry)
      assert entry["accuracy"] == pytest.approx(hits / len(rows), abs=1e-4), (kind, entry)
  assert got["sample"] == 40 and 0 < got["chance"] <= 1


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_token_curves_equal_search_histograms(tiny_stores, model):
  index, lm = tiny_stores[model]
  (internals,) = lm.internals(["The cat sat on the mat."])
  vectors = {("embedding", l): internals.embeddings[l][2] for l in range(index.num_layers + 1)}
  vectors.update({("context", l): internals.contexts[l - 1][2]
                  for l in range(1, index.num_layers + 1)})
  got = probing.token_curves(index, vectors, "pos", k=8)
  want = layer_labels.labels_by_layer(index, internals, 2, field="pos", k=8)
  for kind in ("embedding", "context"):
    assert [r["layer"] for r in got["layers"][kind]] == [r["layer"] for r in want[kind]]
    for mine, theirs in zip(got["layers"][kind], want[kind]):
      assert mine["counted"] == theirs["counted"]
      assert mine["shares"] == pytest.approx(theirs["shares"], abs=1e-4)
      assert list(mine["shares"]) == list(theirs["shares"])   # same order: count, then label


def test_interpreter_modes(tiny_stores):
  index, lm = tiny_stores["bert"]
  interp = probe_lib.Probe(corpus_search.CorpusSearch({"c": index}))
  assert interp.is_compatible(lm, None)
  inputs = [{"text": "The cat sat on the mat."}]
  outputs = list(lm.predict(inputs))
  (token,) = interp.run(inputs, lm, None, outputs, {"mode": "token", "position": 2, "k": 8})
  assert token["token"] == outputs[0]["tokens"][2] and token["corpus"] == "c"
  assert len(token["layers"]["embedding"]) == index.num_layers + 1
  (corpus,) = interp.run([], lm, None, None, {"mode": "corpus", "field": "dep", "sample": 30})
  assert corpus["field"] == "dep" and len(corpus["layers"]["context"]) == index.num_layers
  with pytest.raises(ValueError, match="position 99 is out of range"):
    interp.run(inputs, lm, None, outputs, {"position": 99})
  with pytest.raises(ValueError, match="field must be one of"):
    interp.run(inputs, lm, None, outputs, {"field": "lemma"})


def test_cli(tiny_stores, capsys):
  index, _ = tiny_stores["gpt2"]
  d = str(index.directory)
  assert cli.main(["probe", "--index", d, "--sample", "30", "--json"]) == 0
  out = json.loads(capsys.readouterr().out)
  assert [r["layer"] for r in out["layers"]["embedding"]] == list(range(index.num_layers + 1))
  assert cli.main(["probe", "--index", d, "--sample", "30", "--csv", "--label", "dep"]) == 0
  rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
  assert len(rows) == 2 * index.num_layers + 1 and set(rows[0]) == {"kind", "layer", "share",
                                                                    "accuracy"}
  assert cli.main(["probe", "--index", d, "--word", "cat"]) == 2
  assert "--word needs --text" in capsys.readouterr().err
