"""A corpus search result (corpus/result.py) as CSV tables: one row per match, one row per
histogram bin.

`exbert-lit search --csv` writes these tables, and the corpus view's download buttons write
the same columns from lit_modules/lib/corpus_export.ts; tests/corpus_export_cases.json holds
results with their expected CSV text, checked against both, so the two stay byte-identical.

Numbers are written in the shortest positional form that reads back as the same float
(0.1, 1e-07 as 0.0000001): Python's repr and JavaScript's String() give the same digits but
different exponent styles, and a spreadsheet reads positional numbers best. Word-pieces are
written raw ("##ing", "Ġcity"), joined by spaces in the context columns; `text` is the
sentence as written, except that a text cell a spreadsheet would run as a formula (starting
with =, +, -, @, a tab or a carriage return: "=SUM(A1)", "-LRB-") is written with a leading
apostrophe (OWASP's advice on CSV injection); numbers ("-0.25", offsets "-1", "+1") are kept.
"""
from __future__ import annotations

import csv
import decimal
import io
import math
import re
from typing import Any, Iterable, Mapping, Sequence

MATCH_COLUMNS = (
    "rank",              # 1 = nearest
    "score",             # as in the result (cosine over the searched heads)
    "sentence_id",
    "position",          # 0-based word-piece index of the match, specials included
    "token",             # the matched word-piece
    "left",              # the word-pieces before it, space-separated
    "right",             # the word-pieces after it
    "pos", "tag", "dep", "ent", "lemma",   # the matched word-piece's labels ("" for a special)
    "max_att_position",  # the position it attends to most ("" for input embeddings)
    "max_att_token",
    "text",
)

HISTOGRAM_COLUMNS = (
    "column",   # the view's histogram column: an offset ("-1", "0", "+1") or "max_att"
    "centre",   # what offset 0 is: "match", or "next" (the following token, causal models)
    "field",    # pos, dep, ent; for max_att also offset
    "label",
    "count",
)

# What a spreadsheet reads as the start of a formula, and the numbers this module writes (kept).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")

_LABEL_FIELDS = ("pos", "dep", "ent")
_MAX_ATT_FIELDS = ("pos", "dep", "ent", "offset")


def format_number(value: Any) -> str:
  """An int as is; a float in the shortest positional form that reads back to it; "" for
  NaN, infinities and None."""
  if value is None:
    return ""
  if isinstance(value, int) and not isinstance(value, bool):
    return str(value)
  x = float(value)
  if not math.isfinite(x):
    return ""
  if x == 0:
    return "0"   # also -0.0, as JavaScript's String(-0)
  text = format(decimal.Decimal(repr(x)), "f")
  if "." in text:
    text = text.rstrip("0").rstrip(".")
  return text


def match_rows(result: Mapping[str, Any]) -> list[list[str]]:
  """One row of MATCH_COLUMNS per match, nearest first."""
  rows = []
  for rank, match in enumerate(result["matches"], start=1):
    tokens: Sequence[str] = match["tokens"]
    position = match["position"]
    labels = match["labels"][position] if position < len(match["labels"]) else None
    labels = labels or {}
    max_att = match.get("max_att")
    rows.append([
        str(rank),
        format_number(match["score"]),
        str(match["sentence_id"]),
        str(position),
        tokens[position],
        " ".join(tokens[:position]),
        " ".join(tokens[position + 1:]),
        *(str(labels.get(field, "")) for field in ("pos", "tag", "dep", "ent", "lemma")),
        "" if max_att is None else str(max_att),
        "" if max_att is None or not 0 <= max_att < len(tokens) else tokens[max_att],
        match["text"],
    ])
  return rows


def _offset_order(key: str) -> int:
  return int(key)   # "+1" -> 1


def histogram_rows(result: Mapping[str, Any]) -> list[list[str]]:
  """One row of HISTOGRAM_COLUMNS per bin: the offset columns left to right (POS, DEP, entity
  each), then the most-attended token's."""
  centre = result["query"]["centre"]
  rows = []
  for key in sorted(result["histograms"], key=_offset_order):
    hist = result["histograms"][key]
    for field in _LABEL_FIELDS:
      rows += [[key, centre, field, b["label"], str(b["count"])] for b in hist[field]]
  for field in _MAX_ATT_FIELDS:
    rows += [["max_att", centre, field, b["label"], str(b["count"])]
             for b in result["max_att"][field]]
  return rows


def guard_cell(text: str) -> str:
  """`text` with a leading apostrophe when a spreadsheet would run it as a formula (it starts
  with =, +, -, @, a tab or a CR and is not a number), so corpus text opened in a spreadsheet
  is shown, never evaluated; "-0.25" and "+1" stay numbers."""
  if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
    return "'" + text
  return text


def guard_row(row: dict) -> dict:
  """`row` with its text values guarded (guard_cell) and its numbers left as they are: for the
  CSV of commands that write dict rows (`exbert-lit heads --csv`, `probe --csv`), whose labels
  come from the corpus (a tag such as `-LRB-`)."""
  return {k: guard_cell(v) if isinstance(v, str) else v for k, v in row.items()}


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
  """RFC 4180 CSV (CRLF line ends, fields quoted only when they hold a quote, a comma or a
  line break), as LIT's own CSV downloads write it; formula-like cells guarded (guard_cell)."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\r\n")
  writer.writerow([guard_cell(c) for c in columns])
  writer.writerows([guard_cell(c) for c in row] for row in rows)
  return out.getvalue()


def matches_csv(result: Mapping[str, Any]) -> str:
  return to_csv(MATCH_COLUMNS, match_rows(result))


def histograms_csv(result: Mapping[str, Any]) -> str:
  return to_csv(HISTOGRAM_COLUMNS, histogram_rows(result))
