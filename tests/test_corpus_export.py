"""Corpus search results as CSV (exbert_lit/corpus/export.py), from the table shared with the
corpus view's TypeScript export (tests/corpus_export_cases.json): the same bytes from both."""
from __future__ import annotations

import csv
import io
import json
import pathlib

import pytest

from exbert_lit.corpus import export

TABLE = json.loads((pathlib.Path(__file__).parent / "corpus_export_cases.json").read_text("utf-8"))
CASES = TABLE["cases"]


@pytest.mark.parametrize("value, text", TABLE["numbers"])
def test_numbers_are_shortest_positional(value, text):
  assert export.format_number(value) == text
  assert float(text) == value


@pytest.mark.parametrize("cell, written", TABLE["cells"])
def test_formula_cells_are_guarded_and_numbers_kept(cell, written):
  assert export.guard_cell(cell) == written


def unguard(cell: str) -> str:
  """A cell as the corpus had it: without the apostrophe guard_cell put before a formula."""
  return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_csv_matches_the_shared_table(case):
  assert export.matches_csv(case["result"]) == case["matches_csv"]
  assert export.histograms_csv(case["result"]) == case["histograms_csv"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_csv_reads_back_to_the_result(case):
  """A CSV reader gets every match's sentence, token and context back, quotes and line
  breaks included, and every histogram bin."""
  result = case["result"]
  rows = list(csv.DictReader(io.StringIO(case["matches_csv"], newline="")))
  assert list(rows[0]) == list(export.MATCH_COLUMNS)
  assert len(rows) == len(result["matches"])
  for row, match in zip(rows, result["matches"]):
    row = {k: unguard(v) for k, v in row.items()}
    p = match["position"]
    assert row["text"] == match["text"]
    assert row["token"] == match["tokens"][p]
    assert float(row["score"]) == match["score"]
    assert (row["left"] + " " + row["token"] + " " + row["right"]).strip() == " ".join(match["tokens"])
  bins = list(csv.DictReader(io.StringIO(case["histograms_csv"], newline="")))
  expected = sum(len(h[f]) for h in result["histograms"].values() for f in ("pos", "dep", "ent"))
  expected += sum(len(v) for v in result["max_att"].values())
  assert len(bins) == expected
  assert {b["centre"] for b in bins} <= {result["query"]["centre"]}


def test_special_token_match_has_empty_labels():
  row = export.match_rows(CASES[0]["result"])[2]
  named = dict(zip(export.MATCH_COLUMNS, row))
  assert named["token"] == "[CLS]" and named["pos"] == named["lemma"] == ""


def test_histogram_columns_run_left_to_right_then_max_att():
  columns = [r[0] for r in export.histogram_rows(CASES[0]["result"])]
  firsts = list(dict.fromkeys(columns))
  assert firsts == ["-1", "0", "+1", "max_att"]


def test_no_cell_starts_a_formula():
  """Every cell of every table a spreadsheet would evaluate starts with an apostrophe, unless
  it is a number (scores, positions, offset columns)."""
  for case in CASES:
    for text in (case["matches_csv"], case["histograms_csv"]):
      for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
          if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
            float(cell)   # raises for any text cell left unguarded
