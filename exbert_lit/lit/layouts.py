"""LIT layouts placing exBERT's attention and corpus views beside LIT's own modules.

The two custom modules are the TypeScript elements in lit_modules/ (registered in our client
bundle under these tag names). LIT's stock client does not know them, so when the bundle is
missing the server uses `stock_layouts()`: the same arrangement without our two views.
"""
from __future__ import annotations

from lit_nlp.api import layout

modules = layout.LitModuleName

ATTENTION_MODULE = "exbert-attention-module"
CORPUS_MODULE = "exbert-corpus-module"
EXBERT_MODULES = (ATTENTION_MODULE, CORPUS_MODULE)
# Corpus-wide views (helper `heads`): the head grid and the probing curves, each in a tab below
# the attention and corpus views (a grid click moves the attention view above; the probing
# curves follow the token clicked there).
HEAD_GRID_MODULE = "exbert-head-grid-module"
PROBE_MODULE = "exbert-probe-module"

DEFAULT_LAYOUT_NAME = "exbert"

_DATA = {
    "Data": [modules.DataTableModule, modules.DatapointEditorModule],
    "Embeddings": [modules.EmbeddingsModule],
}
_EXPLANATIONS = {
    "Salience": [modules.SalienceMapModule],
    "Counterfactuals": [modules.GeneratorModule],
}


def _exbert_layout(with_views: bool) -> layout.LitCanonicalLayout:
  if with_views:
    views, data = list(EXBERT_MODULES), dict(_DATA)
  else:  # the editor moves up into the views' place, so no module is placed twice
    views, data = [modules.DatapointEditorModule], {**_DATA, "Data": [modules.DataTableModule]}
  return layout.LitCanonicalLayout(
      left=data,
      upper={"exBERT": views},
      lower=({"Heads": [HEAD_GRID_MODULE], "Probing": [PROBE_MODULE],
              **_EXPLANATIONS} if with_views
             else dict(_EXPLANATIONS)),
      layoutSettings=layout.LayoutSettings(leftWidth=35, mainHeight=55),
      description=(
          "exBERT: attention between tokens (select a layer and heads, hover or click a token) "
          "and the corpus matches for the selected token, beside LIT's data table, datapoint "
          "editor, salience maps and counterfactual generators."),
  )


def _exbert_compact_layout(with_views: bool) -> layout.LitCanonicalLayout:
  main = list(EXBERT_MODULES) if with_views else [modules.DatapointEditorModule]
  return layout.LitCanonicalLayout(
      upper={"exBERT": main},
      lower={
          "Examples": [modules.SimpleDataTableModule],
          "Salience": [modules.SalienceMapModule],
      },
      layoutSettings=layout.LayoutSettings(hideToolbar=False, mainHeight=65, centerPage=True),
      description="exBERT's two views above a simple example table: for a narrow screen or a talk.",
  )


def exbert_layouts() -> dict[str, layout.LitCanonicalLayout]:
  """Our layouts and LIT's defaults; `exbert` is the default (see DEFAULT_LAYOUT_NAME)."""
  return {
      DEFAULT_LAYOUT_NAME: _exbert_layout(with_views=True),
      "exbert_compact": _exbert_compact_layout(with_views=True),
      **layout.DEFAULT_LAYOUTS,
  }


def stock_layouts() -> dict[str, layout.LitCanonicalLayout]:
  """The same arrangement for LIT's stock client, which cannot render our two views."""
  return {
      DEFAULT_LAYOUT_NAME: _exbert_layout(with_views=False),
      "exbert_compact": _exbert_compact_layout(with_views=False),
      **layout.DEFAULT_LAYOUTS,
  }


def module_names(canonical: layout.LitCanonicalLayout) -> set[str]:
  """Every module tag name a layout places, for tests and checks."""
  names = set()
  for group in (canonical.upper, canonical.lower, canonical.left):
    for module_list in group.values():
      for entry in module_list:
        if isinstance(entry, layout.ModuleConfig):
          entry = entry.module
        names.add(entry.value if isinstance(entry, modules) else str(entry))
  return names
