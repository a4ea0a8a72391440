"""`exbert-lit index` and `exbert-lit search` as a user runs them (tiny real BERT, in-process)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from exbert_lit import cli
from exbert_lit.commands import search as search_cmd
from test_store import CORPUS


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_dirs):
  root = tmp_path_factory.mktemp("cli")
  (root / "corpus.txt").write_text(CORPUS, encoding="utf-8")
  model = str(tiny_model_dirs["bert"])
  rc = cli.main(["index", "--model", model, "--corpus", str(root / "corpus.txt"),
                 "--out", str(root / "idx"), "--batch-size", "4", "--no-progress"])
  assert rc == 0
  return root / "idx", model


def test_index_prints_a_summary_and_writes_a_manifest(built, capsys):
  directory, model = built
  manifest = json.loads((directory / "manifest.json").read_text())
  assert manifest["counts"]["sentences"] == 9 and manifest["index"]["factory"] == "Flat"
  assert manifest["model"]["name"] == model


def test_search_json_by_word_with_paper_notation(built, capsys):
  directory, _ = built
  rc = cli.main(["search", "--index", str(directory), "--text", "The cat sat on the mat.",
                 "--word", "cat", "--layer", "2-[1,3]", "--kind", "context", "--k", "5",
                 "--offsets=-2,1", "--json"])
  assert rc == 0
  result = json.loads(capsys.readouterr().out)
  assert result["query"] == {"layer": 2, "kind": "context", "heads": [1, 3], "k": 5,
                             "offsets": [-2, 1], "centre": "match"}
  assert len(result["matches"]) == 5
  assert list(result["histograms"]) == ["-2", "0", "+1"]
  top = result["matches"][0]
  assert top["labels"][top["position"]] is None or top["labels"][top["position"]]["pos"]


def test_search_table_output_for_mask(built, capsys):
  directory, _ = built
  rc = cli.main(["search", "--index", str(directory), "--text", "The girl ran to a [MASK] pub.",
                 "--word", "[MASK]", "--layer", "1", "--k", "7"])
  assert rc == 0
  out = capsys.readouterr().out
  assert "[[[MASK]]]" in out and "embedding search at layer 1 of 2, all heads, k=7" in out
  assert "matched token: POS" in out and "max-attended token: OFFSET" in out


@pytest.mark.parametrize("argv,message", [
    (["--layer", "x"], "layer and heads must look like 5, 5-3, 4-[1,3,9], 2-[1-3,7] or 4-[]"),
    (["--layer", "3"], "layer 3 is out of range: this model has layers 1..2"),
    (["--layer", "0", "--kind", "context"], "layer 0 (input embeddings) has no attention context"),
    (["--layer", "1-[2]", "--heads", "1"], "give the heads once"),
    (["--layer", "1", "--heads", "7"], "head 7 is out of range: this model has heads 1..4"),
    (["--layer", "1", "--offsets", "a"], "offsets must look like -1,1 or [-2,2]"),
    (["--layer", "1", "--token", "99"], "--token 99 is out of range"),
    (["--layer", "1", "--word", "zebra"], "--word 'zebra' does not occur in the text"),
    (["--layer", "1", "--k", "0"], "k 0 is out of range: use 1..1000"),
])
def test_search_errors_are_one_line(built, capsys, argv, message):
  directory, _ = built
  if "--token" not in argv and "--word" not in argv:
    argv = argv + ["--word", "cat"]
  rc = cli.main(["search", "--index", str(directory), "--text", "The cat sat."] + argv)
  err = capsys.readouterr().err.strip().splitlines()
  assert rc == 2
  assert err[-1].startswith("exbert-lit search: error: ") and message in err[-1], err


def test_search_on_missing_or_corrupt_index(tmp_path, built, capsys):
  rc = cli.main(["search", "--index", str(tmp_path / "none"), "--text", "a", "--token", "1",
                 "--layer", "1"])
  assert rc == 2 and "no corpus index at" in capsys.readouterr().err
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "manifest.json").write_text("{oops")
  rc = cli.main(["search", "--index", str(bad), "--text", "a", "--token", "1", "--layer", "1"])
  err = capsys.readouterr().err.strip()
  assert rc == 2 and "manifest.json is corrupt" in err and "\n" not in err, err


def test_index_errors_are_one_line(tmp_path, built, capsys):
  directory, model = built
  rc = cli.main(["index", "--model", model, "--corpus", str(tmp_path / "missing.txt"),
                 "--out", str(tmp_path / "o"), "--no-progress"])
  assert rc == 2 and "missing.txt: no such file" in capsys.readouterr().err
  rc = cli.main(["index", "--model", model, "--corpus", "brown", "--out", str(directory),
                 "--no-progress"])
  assert rc == 2 and "already holds a finished corpus index" in capsys.readouterr().err
  rc = cli.main(["index", "--model", str(tmp_path / "no-model"), "--corpus", "brown",
                 "--out", str(tmp_path / "o2"), "--no-progress"])
  assert rc == 2 and "no such directory" in capsys.readouterr().err
  rc = cli.main(["index", "--model", model, "--corpus", str(directory / "sentences.jsonl"),
                 "--out", str(tmp_path / "o3"), "--index-type", "Nonsense", "--no-progress"])
  assert rc == 2 and "invalid faiss index type 'Nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize("text,word,offsets,special,expected", [
    ("a cat", "a", [(0, 0), (0, 1), (2, 5), (0, 0)], [1, 0, 0, 1], 1),
    ("ran a", "a", [(0, 0), (0, 3), (4, 5), (0, 0)], [1, 0, 0, 1], 2),   # not the a in "ran"
    ("to [MASK] the", "[MASK]", [(0, 2), (3, 9), (10, 13)], [0, 0, 0], 1),
    ("walking", "walking", [(0, 4), (4, 7)], [0, 0], 0),
    ("x, y", ",", [(0, 1), (1, 2), (3, 4)], [0, 0, 0], 1),
])
def test_find_word(text, word, offsets, special, expected):
  assert search_cmd.find_word(text, word, np.array(offsets), np.array(special, bool)) == expected
