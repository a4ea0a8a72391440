"""exBERT for analysis cells: corpus search as pandas DataFrames, no server.

    import exbert_lit
    hits = exbert_lit.search("runs/brown-minilm", "The girl ran to a pub to [MASK] the din.",
                             "[MASK]", layer=6, kind="context", heads="1,3,9", k=50)
    hits.matches      # one row per corpus match: score, token, its labels, sentence
    hits.histograms   # summary ("0", "-1", "+1", "max_att"), field, label, count, share

Numbering as everywhere (exbert_lit/notation.py): layers 1..L (0 = input embeddings, embedding
search only), heads 1..H, token positions 0-based word-pieces with specials. `layer` takes the
paper's notation ("5-3", "4-[1,3,9]") or an int; `word` a word of the text (its first
word-piece) or an int position. Everything that can be checked against the store is checked
before a model loads; mistakes raise `ExbertError` with one line.

Models named by a string ("minilm", a path) are loaded once per process and reused (without
gradients). Results show as compact, escaped HTML tables in a notebook (`_repr_html_`).

Also here: what the notebook results share (loading models once, the model group, the checks
of text, word and layer). Attention is in attention_result.py. Head profiles
(`exbert_lit.heads`) and probes (`exbert_lit.probe`) belong beside these two, in the same style
(DataFrames with an HTML display), once their analyses exist.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import threading
import warnings
from typing import Any, NamedTuple, Sequence, Union

import numpy as np

from exbert_lit import notation
from exbert_lit.errors import ExbertError
from exbert_lit.notebook import html_table

_LABELS = ("pos", "tag", "dep", "ent", "lemma")
_SUMMARY_FIELDS = ("pos", "dep", "ent")
_lock = threading.Lock()
_models: dict[str, Any] = {}
_groups: dict[int, Any] = {}


# --- models and stores ------------------------------------------------------------------------

@contextlib.contextmanager
def quiet_libraries():
  """Within: no LIT notes for its developers (absl's "Unable to infer init spec ..."), no
  weight-loading progress bars and no tqdm "IProgress not found" warning (a kernel without
  ipywidgets) in the cell, as `exbert-lit` shows them only with -v; the user's settings are
  restored afterwards."""
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", module="tqdm")
    import transformers  # pylint: disable=g-import-not-at-top
    hf_logging = transformers.utils.logging
    absl = logging.getLogger("absl")
    level, bars = absl.level, hf_logging.is_progress_bar_enabled()
    absl.setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    try:
      yield
    finally:
      absl.setLevel(level)
      if bars:
        hf_logging.enable_progress_bar()


def load(model: Any) -> Any:
  """A loaded model: a name or path is loaded once per process (without gradients) and reused;
  a model object is returned as it is."""
  if not isinstance(model, (str, os.PathLike)):
    return model
  key = str(model)
  with _lock:
    if key not in _models:
      from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
      with quiet_libraries():
        _models[key] = load_model(key, compute_gradients=False)
    return _models[key]


def open_index(index: Any) -> Any:
  """A CorpusIndex: a store directory (`~` expanded) is opened; an open index is kept."""
  if not isinstance(index, (str, os.PathLike)):
    return index
  from exbert_lit.corpus.search import CorpusIndex  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(index).expanduser()
  if not path.is_dir():
    raise ExbertError(f"corpus index {str(index)!r} is not a directory: give a store written by "
                      "`exbert-lit index` (or an open CorpusIndex)")
  return CorpusIndex.open(path)


def model_group_of(model: Any):
  """The LIT model group of a loaded model (`NAME`, `_NAME_internals`, ...), made once."""
  from exbert_lit.lit import model_group  # pylint: disable=g-import-not-at-top
  with _lock:
    if id(model) not in _groups:
      _groups[id(model)] = (model, model_group.model_group(model_name(model), model))
    return _groups[id(model)][1]


def model_name(model: Any) -> str:
  return str(getattr(model, "name", None) or type(model).__name__)


def check_text(model: Any, text: Any) -> str:
  from exbert_lit.lit import text_checks  # pylint: disable=g-import-not-at-top
  if not isinstance(text, str):
    raise ExbertError(f"text must be a string (a sentence), not {type(text).__name__}")
  text_checks.check_examples(model, [{"text": text}], model_name(model), refuse_long=True)
  return text


def _position(internals, word: Union[str, int], occurrence: int = 1) -> int:
  """A word of the text (its first word-piece) or a 0-based word-piece index."""
  from exbert_lit.analysis import positions  # pylint: disable=g-import-not-at-top
  if isinstance(word, (int, np.integer)) and not isinstance(word, bool):
    if not 0 <= word < len(internals.tokens):
      raise ExbertError(f"token position {word} is out of range: the text has "
                        f"{len(internals.tokens)} word-pieces (0..{len(internals.tokens) - 1})")
    return int(word)
  if not isinstance(word, str) or not word.strip():
    raise ExbertError(f"word must be a word of the text or a 0-based word-piece index, not "
                      f"{notation.show(word)}")
  return positions.word_position(internals, word.strip(), occurrence)


def selection_of(layer: Any, heads: Any) -> notation.Selection:
  """`layer` in the notation ("5-3", 4) and `heads` ("1,3", [1, 3]): given once."""
  selection = notation.parse_selection(layer)
  if heads is not None and not notation.is_unset(heads):
    if selection.heads is not None:
      raise ExbertError("give the heads once: in layer (4-[1,3,9]) or in heads")
    selection = notation.Selection(selection.layer, notation.parse_heads(heads))
  return selection


# --- corpus search ----------------------------------------------------------------------------

class SearchResult(NamedTuple):
  """What `search` returns; unpacks as `matches, histograms = exbert_lit.search(...)`.

  matches: one row per corpus match, best first: rank, score, the matched `token` and its
    labels (pos, tag, dep, ent, lemma), the word-piece it attends to most (`max_att`,
    `max_att_token`; empty at layer 0), the sentence (`text`, `sentence_id`, `position`,
    `tokens`). For a causal model also `next_token` and its labels, which the histograms count.
  histograms: `summary` ("0" the summarised token, "-1"/"+1" its neighbours, "max_att" the
    max-attended token), `field` (pos, dep, ent; "offset" for max_att), `label`, `count`, and
    `share` of the summary's count.
  query: the query as run (text, word-piece, layer, kind, heads, k, offsets, model, store).
  raw: the search result as JSON (exbert_lit/corpus/result.py), as the views and CLI get it.
  """
  matches: Any
  histograms: Any
  query: dict
  raw: dict

  def __repr__(self) -> str:
    return (f"<exbert_lit.SearchResult: {self.describe()}; "
            f".matches ({len(self.matches)} rows), .histograms ({len(self.histograms)} rows)>")

  def describe(self) -> str:
    q = self.query
    heads = "all heads" if q["heads"] is None else heads_text(tuple(q["heads"]))
    centre = "; histograms of the following token" if q["centre"] == "next" else ""
    return (f"{q['kind']} search at layer {q['layer']} ({heads}), k={q['k']}, for "
            f"{q['token']!r} (position {q['position']}) in {q['text']!r}: "
            f"{len(self.matches)} matches in {q['store']}{centre}")

  def _repr_html_(self) -> str:
    m = self.matches
    rows = ([r.rank, r.score, html_table.marked_tokens(r.tokens, r.position), r.pos, r.dep,
             r.max_att_token] for r in m.itertuples())
    matches = html_table.table(["#", "score", "match in its sentence", "pos", "dep", "max att"],
                               rows, caption=self.describe(), total=len(m),
                               raw_html_columns=["match in its sentence"], max_rows=10)
    tables = [matches]
    h = self.histograms
    for summary, field in (("0", "pos"), ("0", "dep"), ("max_att", "offset")):
      part = h[(h["summary"] == summary) & (h["field"] == field)]
      title = {"0": "following token" if self.query["centre"] == "next" else "matched token",
               "max_att": "max-attended"}[summary]
      tables.append(html_table.table(
          [f"{title}: {field}", "count", "share"],
          ([r.label, r.count, r.share] for r in part.itertuples()), total=len(part), max_rows=8))
    return html_table.block(*tables)


def search(index: Any, text: str, word: Union[str, int], layer: Union[int, str],
           kind: str = "embedding", heads: Any = None, k: Union[int, str] = notation.DEFAULT_K,
           *, offsets: Any = None, model: Any = None, occurrence: int = 1) -> SearchResult:
  """The corpus tokens nearest to one token of `text`, as DataFrames (see SearchResult).

  Args:
    index: a store directory (`exbert-lit index`, `exbert-lit demo`) or an open CorpusIndex.
    text: the sentence; `[MASK]` is the mask token of a masked model.
    word: a word of `text` (its first word-piece; `occurrence` picks a later one), or a 0-based
      word-piece index (specials included).
    layer: 1..L, 0 = input embeddings (embedding search only); with heads in the paper's
      notation: "5-3", "4-[1,3,9]".
    kind: "embedding" (E(l), whole-vector cosine) or "context" (C(l), cosine over the heads).
    heads: "1,3,9", "[1-3,7]" or a list of 1-based heads (default all), unless `layer` names them.
    k: matches, 1..1000.
    offsets: neighbour offsets summarised besides the token ("-2,2", [-1, 1]; default -1,1).
    model: the store's model (a name, path or loaded model); default: the name in its manifest.
  """
  from exbert_lit.corpus import search as search_lib  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  selection = selection_of(layer, heads)
  k = notation.parse_k(k)
  offsets = notation.parse_offsets(offsets)
  if kind not in notation.KINDS:
    raise ExbertError(f"kind must be embedding or context; got {notation.show(kind)}")
  corpus = open_index(index)
  # Everything the store can check, before the (slow) model load.
  corpus.check_layer(selection.layer, kind)
  chosen = search_lib.check_heads(selection.heads, corpus.num_heads)
  lm = load(model if model is not None else corpus.model_name)
  store.check_model(corpus.manifest, lm)
  (internals,) = lm.internals([check_text(lm, text)])
  position = _position(internals, word, occurrence)
  vector = search_lib.vector_of(internals, kind, selection.layer, position)
  raw = corpus.search(vector, layer=selection.layer, kind=kind, heads=chosen, k=k,
                      offsets=offsets)
  query = dict(raw["query"], text=text, position=position, token=internals.tokens[position],
               model=model_name(lm), store=str(corpus.directory))
  return SearchResult(matches_frame(raw), histograms_frame(raw), query, raw)


def matches_frame(result: dict):
  """The matches of a search result (exbert_lit/corpus/result.py) as a DataFrame (see
  SearchResult.matches)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  causal = result["query"]["centre"] == "next"
  rows = []
  for rank, m in enumerate(result["matches"], start=1):
    i, tokens, labels = m["position"], m["tokens"], m["labels"]
    row = {"rank": rank, "score": m["score"], "token": tokens[i]}
    row.update({f: (labels[i] or {}).get(f) for f in _LABELS})
    att = m["max_att"]
    row["max_att"] = att
    row["max_att_token"] = tokens[att] if att is not None and 0 <= att < len(tokens) else None
    if causal:
      nxt = i + 1 if i + 1 < len(tokens) else None
      row["next_token"] = tokens[nxt] if nxt is not None else None
      row.update({f"next_{f}": ((labels[nxt] or {}).get(f) if nxt is not None else None)
                  for f in _SUMMARY_FIELDS})
    row.update(text=m["text"], sentence_id=m["sentence_id"], position=i, tokens=list(tokens))
    rows.append(row)
  columns = (["rank", "score", "token", *_LABELS, "max_att", "max_att_token"]
             + ([ "next_token", *(f"next_{f}" for f in _SUMMARY_FIELDS)] if causal else [])
             + ["text", "sentence_id", "position", "tokens"])
  frame = pd.DataFrame(rows, columns=columns)
  return frame.astype({"max_att": "Int64"})


def histograms_frame(result: dict):
  """The histograms of a search result in long form (see SearchResult.histograms)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  rows = []

  def add(summary: str, field: str, bins: Sequence[dict]) -> None:
    total = sum(b["count"] for b in bins)
    rows.extend({"summary": summary, "field": field, "label": b["label"], "count": b["count"],
                 "share": b["count"] / total} for b in bins)

  for offset, hist in result["histograms"].items():
    for field in _SUMMARY_FIELDS:
      add(offset, field, hist[field])
  for field in ("offset", *_SUMMARY_FIELDS):
    add("max_att", field, result["max_att"][field])
  return pd.DataFrame(rows, columns=["summary", "field", "label", "count", "share"])


def heads_text(heads: tuple) -> str:
  if not heads:
    return "one matrix for all heads"
  if heads == tuple(range(heads[0], heads[0] + len(heads))) and len(heads) > 2:
    return f"heads {heads[0]}..{heads[-1]}"
  return "head " + str(heads[0]) if len(heads) == 1 else "heads " + ",".join(map(str, heads))
