"""`exbert-lit search` reads layers and heads in the one notation: `3-[1-3,7]` is exactly
`--layer 3 --heads 1,2,3,7`, and `3-[]` is every head, like `3`.

A tiny random BERT with 3 layers and 8 heads (the shared tiny models have 2 and 4, too few to
write `3-[1-3,7]`), indexed through the real `exbert-lit index` command.
"""
from __future__ import annotations

import json

import pytest
import transformers

import tiny_models
from exbert_lit import cli
from test_store import CORPUS

TEXT = "The cat sat on the mat."


@pytest.fixture(scope="module")
def store(tmp_path_factory):
  root = tmp_path_factory.mktemp("notation_cli")
  tok = tiny_models._bert_tokenizer()  # pylint: disable=protected-access
  config = transformers.BertConfig(
      vocab_size=len(tok), hidden_size=tiny_models.HIDDEN, num_hidden_layers=3,
      num_attention_heads=8, intermediate_size=tiny_models.INTERMEDIATE,
      max_position_embeddings=tiny_models.MAX_POSITIONS,
      initializer_range=tiny_models.INIT_RANGE)
  transformers.set_seed(0)
  model_dir = tiny_models._save(root / "bert3x8", transformers.BertForMaskedLM(config), tok)  # pylint: disable=protected-access
  (root / "corpus.txt").write_text(CORPUS, encoding="utf-8")
  rc = cli.main(["index", "--model", str(model_dir), "--corpus", str(root / "corpus.txt"),
                 "--out", str(root / "idx"), "--batch-size", "4", "--no-progress"])
  assert rc == 0
  return root / "idx"


def _search(store, capsys, *args: str) -> dict:
  rc = cli.main(["search", "--index", str(store), "--text", TEXT, "--word", "cat",
                 "--kind", "context", "--k", "20", "--json", *args])
  out = capsys.readouterr().out
  assert rc == 0, out
  return json.loads(out)


@pytest.mark.parametrize("same,other", [
    (["--layer", "3-[1-3,7]"], ["--layer", "3", "--heads", "1,2,3,7"]),
    (["--layer", "3-[1-3,7]"], ["--layer", "3", "--heads", "[1-3,7]"]),
    (["--layer", "3-[7,1-3]"], ["--layer", "3-[1,2,3,7]"]),
    (["--layer", "3-[]"], ["--layer", "3"]),
    (["--layer", "3-[]"], ["--layer", "3", "--heads", "[1-8]"]),
    (["--layer", "2-5"], ["--layer", "2", "--heads", "5"]),
])
def test_notations_give_exactly_the_same_result(store, capsys, same, other):
  assert _search(store, capsys, *same) == _search(store, capsys, *other)


def test_the_head_set_matters(store, capsys):
  """The equalities above are not trivially true: another head set ranks differently."""
  subset = _search(store, capsys, "--layer", "3-[1-3,7]")
  every = _search(store, capsys, "--layer", "3-[]")
  assert subset["query"]["heads"] == [1, 2, 3, 7] and every["query"]["heads"] is None
  assert [m["score"] for m in subset["matches"]] != [m["score"] for m in every["matches"]]


@pytest.mark.parametrize("argv,message", [
    (["--layer", "3-[1-9]"], "head 9 is out of range: this model has heads 1..8"),
    (["--layer", "4-[]"], "layer 4 is out of range: this model has layers 1..3 (0 = input embeddings)"),
    (["--layer", "3-[3-1]"], "head range 3-1 is empty: write the lower head first, like 1-3"),
    (["--layer", "3", "--heads", "1-3"], 'heads must look like 1,3,9 or [1-3,7] (1-based; [] = all); got "1-3"'),
    (["--layer", "3-[]", "--k", "x"], 'k must be a whole number like 50; got "x"'),
    (["--layer", "3", "--offsets=0"], "offset 0 is out of range: use -10..-1 or 1..10"),
])
def test_bad_input_is_refused_before_the_model_loads(store, capsys, argv, message):
  """The model directory given does not exist, so reaching the model load would fail
  differently: each error comes from the notation or the store's manifest."""
  rc = cli.main(["search", "--index", str(store), "--text", TEXT, "--word", "cat",
                 "--model", str(store / "no-such-model"), *argv])
  err = capsys.readouterr().err.strip().splitlines()
  assert rc == 2
  assert err == [f"exbert-lit search: error: {message}"]
