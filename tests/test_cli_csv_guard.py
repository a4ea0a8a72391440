"""`exbert-lit heads --csv` and `probe --csv` guard corpus labels a spreadsheet would run as a
formula (a spaCy tag such as `-LRB-`, or any label text), as the corpus export does, and keep
numbers (negative lifts or shares) as numbers."""
from __future__ import annotations

import csv
import io
import types

import pytest

from exbert_lit.commands import heads as heads_command

# (label as counted, as written to the CSV)
CASES = [
    ("det", "det"),
    ("-LRB-", "'-LRB-"),
    ("=SUM(A1)", "'=SUM(A1)"),
    ("@cmd", "'@cmd"),
    ("+1", "+1"),
]


@pytest.mark.parametrize("label,written", CASES)
def test_heads_csv_guards_labels(label, written, monkeypatch, capsys):
  row = {"rank": 1, "layer": 2, "head": 3, "name": "2-3", "label": label, "share": 0.5,
         "base": 0.25, "lift": -0.125, "count": 7, "sources": 9}
  monkeypatch.setattr(heads_command, "ranking", lambda args: {"ranking": [row]})
  assert heads_command.run(types.SimpleNamespace(json=False, csv=True)) == 0
  (out,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
  assert out["label"] == written
  assert out["lift"] == "-0.125" and out["name"] == "2-3"


@pytest.mark.parametrize("label,written", CASES)
def test_probe_csv_guards_labels(label, written, monkeypatch, capsys):
  from exbert_lit.analysis import probing
  from exbert_lit.corpus import search
  monkeypatch.setattr(search.CorpusIndex, "open", classmethod(lambda cls, d: object()))
  result = {"layers": {"embedding": [{"layer": 0, "agreement": -0.5, "label": label}]}}
  monkeypatch.setattr(probing, "agreement", lambda *a, **k: result)
  monkeypatch.setattr("exbert_lit.commands.probe.COLUMNS", ("kind", "layer", "agreement", "label"))
  args = types.SimpleNamespace(word=None, text=None, index="STORE", label="pos", sample=1, k=1,
                               seed=0, json=False, csv=True)
  from exbert_lit.commands import probe as probe_command
  assert probe_command.run(args) == 0
  (out,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
  assert out["label"] == written and out["agreement"] == "-0.5"
