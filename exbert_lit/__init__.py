"""exbert-lit: exBERT's attention view and corpus search as a plugin for Google's LIT."""

__version__ = "0.1.0"

# Exported lazily (PEP 562) so `import exbert_lit` stays light: no torch, no LIT until used.
_LAZY = {
    "make_server": ("exbert_lit.server", "make_server"),
    "make_app": ("exbert_lit.server", "make_app"),
    # Plain-Python results for notebooks and scripts (exbert_lit/notebook/api.py): DataFrames and
    # arrays with token labels, and an HTML table in a cell. `heads` (head profiles from a store)
    # and `probe` are to join them here when their analyses exist.
    "search": ("exbert_lit.notebook.api", "search"),
    "attention": ("exbert_lit.notebook.attention_result", "attention"),
    "attention_kinds": ("exbert_lit.notebook.attention_result", "attention_kinds"),
}


def __getattr__(name):
  if name in _LAZY:
    import importlib  # pylint: disable=g-import-not-at-top
    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
  raise AttributeError(f"module 'exbert_lit' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_LAZY))
