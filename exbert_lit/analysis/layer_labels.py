"""What the corpus says about one token, layer by layer (the paper's "behind the mask", Fig. 3).

For every layer, search the corpus with the token's E(l) (embedding search, l = 0..L) and with
its C(l) over all heads (context search, l = 1..L), and turn the label histogram of the top-k
matches into shares. For a causal model the search centres its histograms on the token *after*
each match (exbert_lit.corpus.search), so querying the token before a blank describes what the
model expects in the blank.

Shares are over the matches that have a summarised token: all k for a masked model; for a causal
model, matches at a sentence's last token have no following token and are not counted (the
`counted` field says how many were).
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from exbert_lit.corpus import result as result_lib
from exbert_lit.corpus import search as search_lib
from exbert_lit.corpus import store
from exbert_lit.errors import ExbertError
from exbert_lit.notation import DEFAULT_K, KINDS


def shares(bins: Iterable[result_lib.Bin]) -> dict[str, float]:
  """[{label, count}] -> {label: count / total}, in the bins' order; {} when nothing was counted."""
  bins = list(bins)
  total = sum(b["count"] for b in bins)
  return {b["label"]: b["count"] / total for b in bins} if total else {}


def summarised_token(match: result_lib.Match, centre: str) -> Optional[str]:
  """The word-piece a match contributes to the histograms: itself, or (centre "next") the one
  after it; None when there is none (a causal match at the end of its sentence)."""
  i = match["position"] + (1 if centre == "next" else 0)
  return match["tokens"][i] if i < len(match["tokens"]) else None


def layer_row(result: result_lib.SearchResult, field: str = "pos", examples: int = 8) -> dict:
  """One layer's summary of a search result: shares of `field` among the summarised tokens,
  and the first `examples` summarised word-pieces (best match first) to see what they are."""
  bins = result["histograms"]["0"][field]
  centre = result["query"]["centre"]
  return {"layer": result["query"]["layer"],
          "counted": sum(b["count"] for b in bins),
          "matches": len(result["matches"]),
          "top": bins[0]["label"] if bins else None,
          "shares": shares(bins),
          "examples": [summarised_token(m, centre) for m in result["matches"][:examples]]}


def series(rows: Sequence[dict], label: str) -> list[float]:
  """The share of `label` at each row (0.0 where it does not occur)."""
  return [row["shares"].get(label, 0.0) for row in rows]


def first_layer_on_top(rows: Sequence[dict], label: str) -> Optional[int]:
  """The first layer where `label` has the largest share (ties included); None if never."""
  for row in rows:
    if row["shares"] and row["shares"].get(label, 0.0) >= max(row["shares"].values()):
      return row["layer"]
  return None


def first_layer_reaching(rows: Sequence[dict], label: str, threshold: float) -> Optional[int]:
  """The first layer where the share of `label` is at least `threshold`; None if never."""
  for row in rows:
    if row["shares"].get(label, 0.0) >= threshold:
      return row["layer"]
  return None


def labels_by_layer(index, internals, position: int, *, field: str = "pos", k: int = DEFAULT_K,
                    kinds: Sequence[str] = KINDS) -> dict[str, list[dict]]:
  """Per kind, one `layer_row` per layer for the token at `position` of one sentence.

  Args:
    index: a CorpusIndex built with the model that produced `internals`.
    internals: the model's SentenceInternals of the query sentence (one forward pass serves
      every layer: E(l) = internals.embeddings[l], C(l) = internals.contexts[l - 1]).
    position: 0-based word-piece index of the query token.
    field: "pos", "dep" or "ent".
  Returns: {"embedding": [rows for l = 0..L], "context": [rows for l = 1..L]}.
  """
  if not 0 <= position < len(internals.tokens):
    raise ExbertError(f"position {position} is out of range: the sentence has "
                     f"{len(internals.tokens)} word-pieces")
  out: dict[str, list[dict]] = {}
  for kind in kinds:
    rows = []
    for layer in store.layers_of(kind, index.num_layers):
      vector = search_lib.vector_of(internals, kind, layer, position)
      rows.append(layer_row(index.search(vector, layer=layer, kind=kind, k=k), field))
    out[kind] = rows
  return out
