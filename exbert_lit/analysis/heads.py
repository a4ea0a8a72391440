"""Which heads point at tokens with a given label (the paper's head case study, over a whole store).

For a head (l, h), each corpus token's max-attended token comes from the top-K positions the
store kept at build time (attention/top_pos.npy, see exbert_lit.corpus.store), so ranking every
head of a model over a corpus needs no model run. A head's score for a label (e.g. DEP = aux)
is the share of source tokens whose max-attended token carries that label.

Special tokens. Many heads park their attention on [CLS]/[SEP] (or <s>) when they have nothing
to do (Clark et al. 2019), which would drown every label in "[CLS]". By default the max-attended
token is therefore the most-attended *non-special* token, as in the attention view with special
tokens hidden and the weights renormalised (the argmax of the renormalised weights). It is read
from the stored top-K (K = 3 by default), so it is exact whenever a sentence has fewer than K
special tokens (BERT: 2; GPT-2 and SmolLM2: none); a token whose K stored targets are all
special has no target and counts as a miss. `skip_special=False` uses the raw top-1, as the
corpus search's `max_att` histograms do.

Causal models without a beginning-of-sequence token (GPT-2, SmolLM2) use the sentence's first
token as their sink instead: in SmolLM2-135M two thirds of all max-attention goes to position 0.
`skip_first` (default: on for causal models) treats position 0 like a special token: it is
never a target, and tokens at position 0 (which see only themselves) are not sources.

Word-pieces inherit their word's labels (a two-piece auxiliary is two targets); special tokens
are never sources. `chance` is the share a head attending to a random visible non-special token
would get (see chance_rate), and `lift` = share / chance says how much a head prefers the
label; `label_rate` is the label's share among all non-special tokens of the store.
"""
from __future__ import annotations

import collections
from typing import Iterable, Optional, Sequence

import numpy as np

from exbert_lit.errors import ExbertError
from exbert_lit.notation import DEFAULT_K


def label_codes(vocab: Sequence[str], labels: Iterable[str]) -> np.ndarray:
  """Vocabulary codes of `labels`, matched case-insensitively ("AUX" finds "aux").  -> int [n]"""
  wanted = {label.lower() for label in labels}
  return np.asarray([i for i, s in enumerate(vocab) if s.lower() in wanted], dtype=np.int32)


def rows_with_label(column: np.ndarray, codes: np.ndarray) -> np.ndarray:
  """bool [N]: the rows of a label column (codes, -1 = none) whose code is in `codes`."""
  return np.isin(np.asarray(column), codes)


def max_targets(top_pos: np.ndarray, row_starts: np.ndarray,
                excluded: Optional[np.ndarray] = None) -> np.ndarray:
  """Token rows of the max-attended tokens, skipping the `excluded` rows (e.g. special tokens).

  Args:
    top_pos: int [N, ..., K] the K most attended positions (0-based in the sentence, in
      descending weight, -1 = padding) of N tokens, e.g. [N, H, K] for one layer.
    row_starts: int [N] the first row of each token's sentence.
    excluded: bool [rows of the store], rows that cannot be targets; None: the top-1 is the
      target, whatever it is.
  Returns: int64 [N, ...] the target rows; -1 where no stored position qualifies.
  """
  top_pos = np.asarray(top_pos, dtype=np.int64)
  starts = np.asarray(row_starts, dtype=np.int64).reshape((-1,) + (1,) * (top_pos.ndim - 1))
  rows = np.where(top_pos >= 0, starts + top_pos, -1)
  valid = rows >= 0
  if excluded is not None:
    valid &= ~np.asarray(excluded, dtype=bool)[np.maximum(rows, 0)]
  first = valid.argmax(axis=-1)[..., None]
  chosen = np.take_along_axis(rows, first, axis=-1)[..., 0]
  return np.where(valid.any(axis=-1), chosen, -1)


def hit_shares(targets: np.ndarray, is_label: np.ndarray) -> np.ndarray:
  """Share of sources whose target row carries the label (-1 = no target = miss).

  targets: int [N_sources, H]; is_label: bool [rows]. Returns float [H] (NaN if no sources).
  """
  targets = np.asarray(targets)
  if targets.shape[0] == 0:
    return np.full(targets.shape[1:], np.nan)
  hits = (targets >= 0) & np.asarray(is_label)[np.maximum(targets, 0)]
  return hits.mean(axis=0)


def source_mask(table, field: Optional[str] = None, labels: Optional[Iterable[str]] = None,
                skip_first: bool = False) -> np.ndarray:
  """bool [N]: non-special tokens, optionally only those whose own `field` is in `labels`;
  with skip_first, not at a sentence's position 0 (which sees only itself in a causal model)."""
  mask = ~np.asarray(table.columns["special"], dtype=bool)
  if field and labels:
    mask &= rows_with_label(table.columns[field], label_codes(table.vocab, labels))
  if skip_first:
    mask &= np.asarray(table.columns["position"]) != 0
  return mask


def _row_starts(table) -> np.ndarray:
  """int64 [N]: the first row of each token's sentence."""
  return np.asarray(table.sentence_start)[np.asarray(table.columns["sentence_id"])]


def excluded_targets(table, skip_special: bool = True,
                     skip_first: bool = False) -> Optional[np.ndarray]:
  """bool [N]: rows that cannot be max-attended targets (special tokens; with skip_first, each
  sentence's first token); None when nothing is excluded."""
  if not skip_special and not skip_first:
    return None
  excluded = np.zeros(len(table.columns["special"]), dtype=bool)
  if skip_special:
    excluded |= np.asarray(table.columns["special"], dtype=bool)
  if skip_first:
    excluded |= np.asarray(table.columns["position"]) == 0
  return excluded


def head_label_shares(table, field: str, labels: Iterable[str],
                      sources: Optional[np.ndarray] = None,
                      skip_special: bool = True, skip_first: bool = False) -> np.ndarray:
  """float [L, H]: per layer and head, the share of source tokens (default: every non-special
  token) whose max-attended token has one of `labels` in column `field` (pos, tag, dep, ent)."""
  labels = list(labels)
  codes = label_codes(table.vocab, labels)
  if codes.size == 0:
    raise ExbertError(f"no token of this corpus index has {field} = {', '.join(labels)}")
  is_label = rows_with_label(table.columns[field], codes)
  sources = source_mask(table) if sources is None else np.asarray(sources, dtype=bool)
  starts = _row_starts(table)[sources]
  excluded = excluded_targets(table, skip_special, skip_first)
  out = []
  for layer in range(table.top_pos.shape[1]):
    targets = max_targets(np.asarray(table.top_pos[:, layer])[sources], starts, excluded)
    out.append(hit_shares(targets, is_label))
  return np.stack(out)


def label_rate(table, field: str, labels: Iterable[str]) -> float:
  """The share of non-special tokens whose `field` is one of `labels` (the chance level)."""
  plain = source_mask(table)
  if not plain.any():
    return float("nan")
  is_label = rows_with_label(table.columns[field], label_codes(table.vocab, labels))
  return float(is_label[plain].mean())


def chance_rate(is_label: np.ndarray, excluded: np.ndarray, sentence_start: np.ndarray,
                sources: np.ndarray, causal: bool) -> float:
  """The share a head would score by attending to a random token it can see and may target.

  For each source token: the share of labelled tokens among the non-excluded tokens of its
  sentence (causal: among those at or before it), averaged over the sources. This is the
  baseline `lift` divides by: it accounts for sentence length and, for restricted sources
  (e.g. verbs), for the sentences those sources occur in.

  Args:
    is_label: bool [N]; excluded: bool [N] rows that are never targets (special tokens, ...);
    sentence_start: int [S + 1] (row of each sentence's
    first token, then N); sources: bool [N]; causal: whether tokens only see earlier tokens.
  """
  plain = ~np.asarray(excluded, dtype=bool)
  labelled = np.asarray(is_label, dtype=bool) & plain
  rows = np.flatnonzero(sources)
  if rows.size == 0:
    return float("nan")
  cum_plain = np.concatenate([[0], np.cumsum(plain)])        # [N + 1]: count before row i
  cum_label = np.concatenate([[0], np.cumsum(labelled)])
  bounds = np.asarray(sentence_start, dtype=np.int64)
  sentence = np.searchsorted(bounds, rows, side="right") - 1
  first = bounds[sentence]
  last = rows + 1 if causal else bounds[sentence + 1]       # exclusive end of what is visible
  seen_plain = cum_plain[last] - cum_plain[first]
  seen_label = cum_label[last] - cum_label[first]
  return float(np.mean(seen_label / np.maximum(seen_plain, 1)))


def rank_heads(scores: np.ndarray, top: Optional[int] = None) -> list[dict]:
  """Heads by descending score (ties: lower layer, then lower head first), 1-based.

  scores: float [L, H]. Returns [{"layer", "head", "name" ("5-3"), "share"}] (NaN last).
  """
  scores = np.asarray(scores, dtype=np.float64)
  cells = [(l, h) for l in range(scores.shape[0]) for h in range(scores.shape[1])]
  key = lambda c: (bool(np.isnan(scores[c])), -float(np.nan_to_num(scores[c], nan=0.0)), c)
  ranked = sorted(cells, key=key)[:top]
  return [{"layer": l + 1, "head": h + 1, "name": f"{l + 1}-{h + 1}",
           "share": float(scores[l, h])} for l, h in ranked]


def _split(labels: Optional[str]) -> list[str]:
  return [x.strip() for x in (labels or "").split(",") if x.strip()]


def rank(index, field: str, label: str, *, source_field: Optional[str] = None,
         source_label: Optional[str] = None, skip_special: bool = True,
         skip_first: Optional[bool] = None, top: Optional[int] = None) -> dict:
  """Ranks every head of `index` (a CorpusIndex) by how often its max-attended token carries
  `label` (comma-separated alternatives allowed, e.g. "aux,auxpass").

  source_field/source_label restrict the sources (e.g. pos = VERB: what verbs attend to).
  skip_first: None = on for causal models (see the module docstring).
  Returns a JSON-ready dict: the setting, chance level, the [L, H] share matrix and the ranking.
  """
  labels = _split(label)
  if not labels:
    raise ExbertError("give a label, e.g. aux")
  table = index.table
  if skip_first is None:
    skip_first = bool(index.is_causal)
  sources = source_mask(table, source_field, _split(source_label) or None, skip_first)
  scores = head_label_shares(table, field, labels, sources, skip_special, skip_first)
  excluded = excluded_targets(table, True, skip_first)
  chance = chance_rate(rows_with_label(table.columns[field], label_codes(table.vocab, labels)),
                       excluded, table.sentence_start, sources,
                       bool(index.is_causal))
  ranking = rank_heads(scores, top)
  for row in ranking:
    row["lift"] = row["share"] / chance if chance > 0 else float("nan")
  return {"field": field, "label": label, "source_field": source_field,
          "source_label": source_label, "skip_special": skip_special, "skip_first": skip_first,
          "sources": int(sources.sum()), "tokens": len(table),
          "label_rate": label_rate(table, field, labels), "chance": chance,
          "shares": np.round(scores, 6).tolist(), "ranking": ranking}


def head_targets(table, rows: np.ndarray, layer: int, head: int, skip_special: bool = True,
                 skip_first: bool = False) -> np.ndarray:
  """Token rows one head (1-based layer, head) attends to most from the given source rows;
  -1 where no stored position qualifies (see max_targets).   int64 [len(rows)]"""
  rows = np.asarray(rows, dtype=np.int64)
  return max_targets(np.asarray(table.top_pos[:, layer - 1, head - 1])[rows],
                     _row_starts(table)[rows], excluded_targets(table, skip_special, skip_first))


def target_histogram(table, targets: np.ndarray, field: str = "dep") -> list[dict]:
  """Labels of target rows (from head_targets): a special target counts under its own text
  (e.g. "[CLS]"), as in the search histograms; -1 (no target) under "(none)".
  Returns [{"label", "count"}] by descending count, then label."""
  column = np.asarray(table.columns[field])
  pieces = np.asarray(table.columns["piece"])
  special = np.asarray(table.columns["special"], dtype=bool)
  safe = np.maximum(targets, 0)
  codes = np.where(special[safe], pieces[safe], column[safe])
  codes = np.where(targets >= 0, codes, -1)
  counts = collections.Counter(codes.tolist())
  named = {("(none)" if c < 0 else table.vocab[c]): n for c, n in counts.items()}
  return [{"label": k, "count": v}
          for k, v in sorted(named.items(), key=lambda kv: (-kv[1], kv[0]))]


def target_distribution(table, rows: np.ndarray, layer: int, head: int, field: str = "dep",
                        skip_special: bool = True, skip_first: bool = False) -> list[dict]:
  """Labels of one head's (1-based layer, head) max-attended tokens for the given source rows,
  as target_histogram counts them."""
  return target_histogram(
      table, head_targets(table, rows, layer, head, skip_special, skip_first), field)


def head_target_distribution(table, layer: int, head: int, field: str = "dep",
                             skip_special: bool = True, skip_first: bool = False) -> list[dict]:
  """The corpus-wide profile of a head: labels of the max-attended tokens of every non-special
  token of the store (not at position 0 with skip_first; see target_distribution)."""
  sources = source_mask(table, skip_first=skip_first)
  return target_distribution(table, np.flatnonzero(sources), layer, head, field,
                             skip_special, skip_first)


def match_rows(index, result) -> np.ndarray:
  """Token rows of a SearchResult's matches.   -> int64 [k]"""
  starts = np.asarray(index.table.sentence_start)
  return np.asarray([starts[m["sentence_id"]] + m["position"] for m in result["matches"]],
                    dtype=np.int64)


def query_target_distribution(index, vector: np.ndarray, layer: int, head: int, *,
                              field: str = "dep", k: int = DEFAULT_K,
                              skip_special: bool = True, skip_first: bool = False) -> dict:
  """Labels of the max-attended tokens of the k corpus matches of a query, for one head.

  The matches come from context search with that head only (C(l) restricted to `head`); each
  match's max-attended token is the one `head` attends to most (see the module docstring for
  special tokens). Returns {"histogram", "offsets" (per match: target position minus the
  match's position, None without a target), "result" (the SearchResult)}.
  """
  result = index.search(vector, layer=layer, kind="context", heads=[head], k=k)
  rows = match_rows(index, result)
  targets = head_targets(index.table, rows, layer, head, skip_special, skip_first)
  return {"histogram": target_histogram(index.table, targets, field),
          "offsets": [None if t < 0 else int(t - r) for t, r in zip(targets, rows)],
          "result": result}
