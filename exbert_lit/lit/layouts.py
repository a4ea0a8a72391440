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
# Attention through generation (causal models): a tab below, and a layout of its own with the
# generation view beside the corpus view (`layout=exbert_generate` in the URL).
GENERATION_MODULE = "exbert-generation-module"

DEFAULT_LAYOUT_NAME = "exbert"

# Below the views, one tab each: the data table (to pick an example) with the editor beside it,
# then LIT's own explanations and the embedding projector.
_BELOW = {
    "Data": [modules.DataTableModule, modules.DatapointEditorModule],
    "Salience": [modules.SalienceMapModule],
    "Counterfactuals": [modules.GeneratorModule],
    "Embeddings": [modules.EmbeddingsModule],
}
# Share of the height the views get; the tabs below keep enough for a data table of ~5 rows
# at 1000 px, and LIT's divider moves it (or maximises either part) at run time.
MAIN_HEIGHT = 68
COMPACT_MAIN_HEIGHT = 72


def _views(with_views: bool) -> list:
  """The two exBERT views side by side (equal numCols, so half the width each), or for LIT's
  stock client the datapoint editor in their place."""
  return list(EXBERT_MODULES) if with_views else [modules.DatapointEditorModule]


def _exbert_layout(with_views: bool) -> layout.LitCanonicalLayout:
  # No left column: LIT's left column takes its width from the whole screen, and the views need
  # it (an attention view is two token columns plus the curves between them).
  if with_views:  # the corpus-wide views in their own tabs, after the data table
    data, rest = dict(list(_BELOW.items())[:1]), dict(list(_BELOW.items())[1:])
    below = {**data, "Heads": [HEAD_GRID_MODULE], "Probing": [PROBE_MODULE],
             "Generation": [GENERATION_MODULE], **rest}
  else:
    below = {**_BELOW, "Data": [modules.DataTableModule]}
  return layout.LitCanonicalLayout(
      upper={"exBERT": _views(with_views)},
      lower=below,
      layoutSettings=layout.LayoutSettings(mainHeight=MAIN_HEIGHT),
      description=(
          "exBERT: attention between tokens (select a layer and heads, hover or click a token) "
          "beside the corpus matches for the selected token, over the full width; LIT's data "
          "table and datapoint editor, salience maps, counterfactual generators and embeddings "
          "in the tabs below."),
  )


def _exbert_compact_layout(with_views: bool) -> layout.LitCanonicalLayout:
  return layout.LitCanonicalLayout(
      upper={"exBERT": _views(with_views)},
      lower={
          "Examples": [modules.SimpleDataTableModule],
          "Salience": [modules.SalienceMapModule],
      },
      layoutSettings=layout.LayoutSettings(mainHeight=COMPACT_MAIN_HEIGHT),
      description="exBERT's two views over the full width above a simple example table: for a "
                  "small screen or a talk.",
  )


def _exbert_generate_layout() -> layout.LitCanonicalLayout:
  return layout.LitCanonicalLayout(
      upper={"Generation": [GENERATION_MODULE, CORPUS_MODULE],
             "Attention": [ATTENTION_MODULE]},
      lower={"Data": [modules.DataTableModule, modules.DatapointEditorModule]},
      layoutSettings=layout.LayoutSettings(mainHeight=MAIN_HEIGHT),
      description="Attention through generation (causal models): generate tokens after the "
                  "selected text, step through them, and search the corpus for any token.",
  )


def exbert_layouts() -> dict[str, layout.LitCanonicalLayout]:
  """Our layouts and LIT's defaults; `exbert` is the default (see DEFAULT_LAYOUT_NAME)."""
  return {
      DEFAULT_LAYOUT_NAME: _exbert_layout(with_views=True),
      "exbert_compact": _exbert_compact_layout(with_views=True),
      "exbert_generate": _exbert_generate_layout(),
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
