"""`exbert-lit search --csv`: the matches (or with `histograms`, the histogram bins) as CSV, the
same table as the corpus view's downloads (exbert_lit/corpus/export.py), for the same search
as `--json`; a tiny BERT and a tiny GPT-2 indexed over tests/tiny_models.py's sentences."""
from __future__ import annotations

import csv
import io
import json

import pytest

import tiny_models
from exbert_lit import cli
from exbert_lit.corpus import export

TEXT = "The cat sat on the mat."


@pytest.fixture(scope="module")
def stores(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  return tiny_models.build_corpus_stores(
      tmp_path_factory.mktemp("search_csv"), tiny_models.SENTENCES,
      {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir})


def _run(capsys, store, *args: str) -> str:
  rc = cli.main(["search", "--index", str(store), "--text", TEXT, "--word", "cat",
                 "--layer", "2", "--kind", "context", "--k", "5", *args])
  out = capsys.readouterr().out
  assert rc == 0, out
  return out


@pytest.mark.parametrize("model", ["bert", "gpt2"])
@pytest.mark.parametrize("flag, table, columns", [
    (["--csv"], export.matches_csv, export.MATCH_COLUMNS),
    (["--csv", "matches"], export.matches_csv, export.MATCH_COLUMNS),
    (["--csv", "histograms"], export.histograms_csv, export.HISTOGRAM_COLUMNS),
])
def test_csv_is_the_json_results_table(stores, capsys, model, flag, table, columns):
  result = json.loads(_run(capsys, stores[f"{model}_corpus"], "--json"))
  text = _run(capsys, stores[f"{model}_corpus"], *flag)
  assert text == table(result)
  rows = list(csv.reader(io.StringIO(text, newline="")))
  assert tuple(rows[0]) == columns
  if columns == export.MATCH_COLUMNS:
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert [r[-1] for r in rows[1:]] == [m["text"] for m in result["matches"]]
  else:
    centre = "next" if model == "gpt2" else "match"
    assert rows[1:] and {r[1] for r in rows[1:]} == {centre}


def test_csv_and_json_are_one_choice(stores, capsys):
  with pytest.raises(SystemExit):
    cli.main(["search", "--index", str(stores["bert_corpus"]), "--text", TEXT, "--token", "1",
              "--layer", "1", "--csv", "--json"])
  assert "not allowed with" in capsys.readouterr().err
