"""The JSON shape of a corpus search result, shared by the CLI, the LIT interpreter and the
TypeScript corpus view (lit_modules/lib/corpus_types.ts mirrors it).

Numbering: `layer` 1..L (0 = input embeddings, embedding search only); `heads` 1..H;
`position` and token indices 0-based into the sentence's word-pieces (specials included).
Histograms are lists sorted by count (descending, then label) so their order is stable.
"""
from __future__ import annotations

from typing import Literal, Optional, TypedDict

Kind = Literal["embedding", "context"]


class TokenLabels(TypedDict):
  pos: str      # coarse POS (spaCy token.pos_)
  tag: str      # fine tag (token.tag_)
  dep: str      # dependency label (token.dep_)
  ent: str      # entity with IOB, e.g. "B-PERSON", "O"
  lemma: str
  head: int     # index (into the word-pieces) of the first piece of the syntactic head


class _MatchExtras(TypedDict, total=False):
  meta: dict[str, str]     # its corpus record's metadata columns (e.g. a document id), if any


class Match(_MatchExtras):
  sentence_id: int
  position: int            # index of the matched word-piece
  score: float             # cosine similarity over the searched heads (or the whole vector)
  text: str                # the sentence as written
  tokens: list[str]        # its word-pieces
  labels: list[Optional[TokenLabels]]   # per word-piece; None for special tokens
  max_att: Optional[int]   # position the matched token attends to most (chosen heads, this layer); None for E(0)


class Bin(TypedDict):
  label: str
  count: int


class LabelHistograms(TypedDict):
  pos: list[Bin]
  dep: list[Bin]
  ent: list[Bin]


class MaxAttHistograms(LabelHistograms):
  offset: list[Bin]        # relative offset of the max-attended token, as "+2", "-1", "0"


class Query(TypedDict):
  layer: int
  kind: Kind
  heads: Optional[list[int]]
  k: int
  offsets: list[int]       # neighbour offsets, e.g. [-1, 1]
  centre: Literal["match", "next"]   # "next" for causal models: the following token is summarised


class SearchResult(TypedDict):
  query: Query
  matches: list[Match]
  # Keyed by offset from the summarised token as a string: "0" is the token itself,
  # "-1", "+1", ... its neighbours.
  histograms: dict[str, LabelHistograms]
  max_att: MaxAttHistograms
