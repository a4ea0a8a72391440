"""exBERT in notebooks: LIT with the exBERT views in a cell, and results for analysis cells.

    import exbert_lit.notebook
    w = exbert_lit.notebook.widget(models=["minilm"], corpora=["runs/brown-minilm"],
                                   data={"mine": ["The cat sat on the mat."]})

  lit_widget.py  `widget(...)`: LIT's notebook widget with our server, client bundle and layouts
  api.py         `search(...)` (also `exbert_lit.search`): matches and histograms as DataFrames,
                 no server; loading models once per process
  attention_result.py  `attention(...)` (also `exbert_lit.attention`): an array with token labels
  html_table.py  the compact, escaped HTML tables the results show in a cell

Exports are lazy (PEP 562): importing this package loads neither torch nor LIT.
"""
import importlib

_LAZY = {
    "widget": "exbert_lit.notebook.lit_widget",
    "ExbertWidget": "exbert_lit.notebook.lit_widget",
    "search": "exbert_lit.notebook.api",
    "attention": "exbert_lit.notebook.attention_result",
    "attention_kinds": "exbert_lit.notebook.attention_result",
    "load": "exbert_lit.notebook.api",
    "SearchResult": "exbert_lit.notebook.api",
    "Attention": "exbert_lit.notebook.attention_result",
}


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'exbert_lit.notebook' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_LAZY))
