"""Which heads point at tokens with a given label (the paper's head case study, over a whole store).

For a head (l, h), each corpus token's max-attended token is the top-1 position the store kept at
build time (attention/top_pos.npy, exbert_lit.corpus.store), so ranking every head of a model
over a corpus needs no model run. A head's score for a label (e.g. DEP = aux) is the share of
source tokens whose max-attended token carries that label. Word-pieces inherit their word's
labels (a two-piece auxiliary counts twice as a target); special tokens carry no label, so
attention to [CLS]/[SEP]/<s> never counts as a hit; special tokens are never sources.

`label_rate` (the label's share among all non-special tokens) is the chance level: a head that
picked its target at random among the corpus tokens would score about that, so `lift` =
share / label_rate says how much a head prefers the label.
"""
from __future__ import annotations

import collections
from typing import Iterable, Optional, Sequence

import numpy as np


def label_codes(vocab: Sequence[str], labels: Iterable[str]) -> np.ndarray:
  """Vocabulary codes of `labels`, matched case-insensitively ("AUX" finds "aux").  -> int [n]"""
  wanted = {label.lower() for label in labels}
  return np.asarray([i for i, s in enumerate(vocab) if s.lower() in wanted], dtype=np.int32)


def rows_with_label(column: np.ndarray, codes: np.ndarray) -> np.ndarray:
  """bool [N]: the rows of a label column (codes, -1 = none) whose code is in `codes`."""
  return np.isin(np.asarray(column), codes)


def target_rows(top1: np.ndarray, row_starts: np.ndarray) -> np.ndarray:
  """Absolute token rows of max-attended positions.

  Args:
    top1: int [N, ...] the 0-based position (in its sentence) each token attends to most.
    row_starts: int [N] the first row of each token's sentence.
  Returns: int64 [N, ...].
  """
  top1 = np.asarray(top1, dtype=np.int64)
  starts = np.asarray(row_starts, dtype=np.int64).reshape((-1,) + (1,) * (top1.ndim - 1))
  return starts + top1


def hit_shares(top1: np.ndarray, row_starts: np.ndarray, is_label: np.ndarray,
               sources: np.ndarray) -> np.ndarray:
  """Per head, the share of source tokens whose max-attended token carries the label.

  Args:
    top1: int [N, H] max-attended position per token and head (one layer).
    row_starts: int [N] first row of each token's sentence.
    is_label: bool [N] which rows carry the label.
    sources: bool [N] which rows count as sources.
  Returns: float [H] (NaN if there are no sources).
  """
  n_sources = int(np.count_nonzero(sources))
  if n_sources == 0:
    return np.full(np.asarray(top1).shape[1:], np.nan)
  hits = np.asarray(is_label)[target_rows(np.asarray(top1)[sources], row_starts[sources])]
  return hits.mean(axis=0)


def source_mask(table, field: Optional[str] = None,
                labels: Optional[Iterable[str]] = None) -> np.ndarray:
  """bool [N]: non-special tokens, optionally only those whose own `field` is in `labels`."""
  mask = ~np.asarray(table.columns["special"], dtype=bool)
  if field and labels:
    mask &= rows_with_label(table.columns[field], label_codes(table.vocab, labels))
  return mask


def head_label_shares(table, field: str, labels: Iterable[str],
                      sources: Optional[np.ndarray] = None) -> np.ndarray:
  """float [L, H]: per layer and head, the share of source tokens (default: every non-special
  token) whose max-attended token has one of `labels` in column `field` (pos, tag, dep, ent)."""
  labels = list(labels)
  codes = label_codes(table.vocab, labels)
  if codes.size == 0:
    raise ValueError(f"no token of this corpus index has {field} = {', '.join(labels)}")
  is_label = rows_with_label(table.columns[field], codes)
  sources = source_mask(table) if sources is None else sources
  starts = np.asarray(table.sentence_start)[np.asarray(table.columns["sentence_id"])]
  num_layers = table.top_pos.shape[1]
  return np.stack([hit_shares(table.top_pos[:, l, :, 0], starts, is_label, sources)
                   for l in range(num_layers)])


def label_rate(table, field: str, labels: Iterable[str]) -> float:
  """The share of non-special tokens whose `field` is one of `labels` (the chance level)."""
  plain = source_mask(table)
  if not plain.any():
    return float("nan")
  is_label = rows_with_label(table.columns[field], label_codes(table.vocab, labels))
  return float(is_label[plain].mean())


def rank_heads(scores: np.ndarray, top: Optional[int] = None) -> list[dict]:
  """Heads by descending score (ties: lower layer, then lower head first), 1-based.

  scores: float [L, H]. Returns [{"layer", "head", "name" ("5-3"), "share"}] (NaN last).
  """
  scores = np.asarray(scores, dtype=np.float64)
  cells = [(l, h) for l in range(scores.shape[0]) for h in range(scores.shape[1])]
  key = lambda c: (np.isnan(scores[c]), -np.nan_to_num(scores[c], nan=0.0), c)
  ranked = sorted(cells, key=key)[:top]
  return [{"layer": l + 1, "head": h + 1, "name": f"{l + 1}-{h + 1}",
           "share": float(scores[l, h])} for l, h in ranked]


def rank(index, field: str, label: str, *, source_field: Optional[str] = None,
         source_label: Optional[str] = None, top: Optional[int] = None) -> dict:
  """Ranks every head of `index` (a CorpusIndex) by how often its max-attention target carries
  `label` (comma-separated alternatives allowed, e.g. "aux,auxpass").

  source_field/source_label restrict the sources (e.g. pos = VERB: what verbs attend to).
  Returns a JSON-ready dict: the setting, chance level, the [L, H] share matrix and the ranking.
  """
  labels = [x.strip() for x in label.split(",") if x.strip()]
  source_labels = ([x.strip() for x in source_label.split(",") if x.strip()]
                   if source_label else None)
  table = index.table
  sources = source_mask(table, source_field, source_labels)
  scores = head_label_shares(table, field, labels, sources)
  rate = label_rate(table, field, labels)
  ranking = rank_heads(scores, top)
  for row in ranking:
    row["lift"] = row["share"] / rate if rate > 0 else float("nan")
  return {"field": field, "label": label, "source_field": source_field,
          "source_label": source_label, "sources": int(sources.sum()),
          "tokens": len(table), "label_rate": rate,
          "shares": np.round(scores, 6).tolist(), "ranking": ranking}


def head_target_distribution(table, layer: int, head: int, field: str = "dep",
                             sources: Optional[np.ndarray] = None) -> list[dict]:
  """Labels of one head's max-attended tokens over the whole store (all source tokens).

  The corpus-wide profile of a head, to set beside the distribution over one query's matches.
  layer, head: 1-based. Special targets count under their own text (e.g. "[SEP]"), as in the
  search histograms. Returns [{"label", "count"}] by descending count, then label.
  """
  sources = source_mask(table) if sources is None else sources
  starts = np.asarray(table.sentence_start)[np.asarray(table.columns["sentence_id"])]
  rows = target_rows(np.asarray(table.top_pos[:, layer - 1, head - 1, 0])[sources],
                     starts[sources])
  column = np.asarray(table.columns[field])
  pieces = np.asarray(table.columns["piece"])
  special = np.asarray(table.columns["special"], dtype=bool)
  codes = np.where(special[rows], pieces[rows], column[rows])
  counts = collections.Counter(codes.tolist())
  named = {("(none)" if c < 0 else table.vocab[c]): n for c, n in counts.items()}
  return [{"label": k, "count": v}
          for k, v in sorted(named.items(), key=lambda kv: (-kv[1], kv[0]))]


def max_att_distribution(index, vector: np.ndarray, layer: int, head: int, *,
                         field: str = "dep", k: int = 50) -> dict:
  """Labels of the max-attended tokens of the k corpus matches of a query, for one head.

  The matches come from context search with that head only (C(l) restricted to `head`); each
  match's max-attended token is the one `head` attends to most. Returns the SearchResult's
  `max_att` histogram of `field` and of the offsets, and the search result itself.
  """
  result = index.search(vector, layer=layer, kind="context", heads=[head], k=k)
  return {"layer": layer, "head": head, "field": field,
          "histogram": result["max_att"][field], "offsets": result["max_att"]["offset"],
          "result": result}
