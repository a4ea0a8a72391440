"""Layer probing curves: where in depth a model's representations encode a label.

Corpus-wide (`agreement`): for a sample of corpus tokens, per layer and kind (E(l), l = 0..L;
C(l), l = 1..L, all heads), the token's own stored vector is searched in that layer's index and
its k nearest tokens *from other sentences* (leave-one-sentence-out: a token's own sentence
would give away its neighbours' labels) vote on its label. Two numbers per layer: `share`, the
mean share of the k neighbours that carry the token's label, and `accuracy`, the share of tokens
whose neighbours' majority label is their own (ties: the first in label order). No model run:
vectors come back from the index (exactly for Flat, to the refine codes' precision for
compressed indexes). A token's own label is used for causal models too: the question is what
E(l) or C(l) at a token says about that token.

One token (`token_curves`): per layer and kind, the share of each label among the k corpus
matches of the token's E(l) / C(l) (over all heads or chosen ones), the paper's Figure 3 for any
token. As in corpus search (and analysis/layer_labels.py), a causal model's match is summarised
by the token after it, and matches at a sentence's end are not counted.
"""
from __future__ import annotations

import collections
from typing import Mapping, Optional, Sequence

import numpy as np

from exbert_lit.corpus import search as search_lib
from exbert_lit.corpus import store
from exbert_lit.errors import ExbertError
from exbert_lit.notation import DEFAULT_K, KINDS

PROBE_FIELDS = ("pos", "dep", "ent", "tag")
MARGIN = 64   # extra neighbours asked for, to drop those of the token's own sentence


def sample_rows(table, field: str, n: int, seed: int = 0) -> np.ndarray:
  """n distinct non-special rows that have a `field` label, uniformly at random (sorted)."""
  codes = np.asarray(table.columns[field])
  ok = np.flatnonzero(~np.asarray(table.columns["special"], dtype=bool) & (codes >= 0))
  if ok.size == 0:
    raise ExbertError(f"no token of this store has a {field} label")
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(ok, size=min(n, ok.size), replace=False))


def neighbour_votes(ids: np.ndarray, sentence_of: np.ndarray, own_sentence: np.ndarray,
                    codes: np.ndarray, k: int) -> np.ndarray:
  """Label codes of each query's k best neighbours outside its own sentence.

  ids: int [n, k + margin] faiss ids, best first (-1 = none); sentence_of: int [N] sentence of
  every row; own_sentence: int [n]; codes: int [N] label codes (-1 = none).
  Returns int [n, k], -1 where fewer than k neighbours qualify."""
  valid = (ids >= 0)
  safe = np.maximum(ids, 0)
  valid &= sentence_of[safe] != own_sentence[:, None]
  valid &= codes[safe] >= 0
  order = np.argsort(~valid, axis=1, kind="stable")[:, :k]        # valid ones first, in rank
  picked = np.take_along_axis(safe, order, axis=1)
  ok = np.take_along_axis(valid, order, axis=1)
  return np.where(ok, codes[picked], -1)


def agreement_scores(votes: np.ndarray, own: np.ndarray) -> tuple[float, float]:
  """(mean share of neighbours with the token's label, share of tokens whose majority label
  is their own). votes: int [n, k] (-1 = none); own: int [n]."""
  have = (votes >= 0).sum(axis=1)
  same = (votes == own[:, None]).sum(axis=1)
  share = float(np.mean(np.where(have > 0, same / np.maximum(have, 1), 0.0)))
  hits = 0
  for row, label in zip(votes, own):
    counts = collections.Counter(int(v) for v in row if v >= 0)
    if counts:
      best = min(counts, key=lambda c: (-counts[c], c))
      hits += best == int(label)
  return share, hits / max(len(own), 1)


def agreement(index, field: str = "pos", sample: int = 2000, k: int = 10, seed: int = 0,
              kinds: Sequence[str] = KINDS) -> dict:
  """Per kind and layer, the kNN label agreement of a token sample (module docstring).

  Returns {"field", "k", "sample", "model", "layers": {kind: [{"layer", "share", "accuracy"}]},
  "chance": share of the majority label among the sample (a constant-label probe's accuracy)}."""
  if field not in PROBE_FIELDS:
    raise ExbertError(f"--label must be one of {', '.join(PROBE_FIELDS)}, not {field!r}")
  table = index.table
  rows = sample_rows(table, field, sample, seed)
  codes = np.asarray(table.columns[field], dtype=np.int64)
  sentence_of = np.asarray(table.columns["sentence_id"], dtype=np.int64)
  own = codes[rows]
  out: dict = {"field": field, "k": k, "sample": int(rows.size), "model": index.model_name,
               "tokens": len(table), "layers": {}}
  for kind in kinds:
    series = []
    for layer in store.layers_of(kind, index.num_layers):
      faiss_index = index.faiss_index(kind, layer)
      vectors = faiss_index.reconstruct_batch(rows.astype(np.int64))
      _, ids = faiss_index.search(np.ascontiguousarray(vectors, dtype=np.float32),
                                  min(k + MARGIN, faiss_index.ntotal))
      votes = neighbour_votes(ids, sentence_of, sentence_of[rows], codes, k)
      share, accuracy = agreement_scores(votes, own)
      series.append({"layer": layer, "share": round(share, 4), "accuracy": round(accuracy, 4)})
    out["layers"][kind] = series
  values, counts = np.unique(own, return_counts=True)
  out["chance"] = round(float(counts.max() / counts.sum()), 4)
  out["majority_label"] = table.vocab[int(values[counts.argmax()])]
  return out


def match_labels(table, ids: np.ndarray, field: str, causal: bool) -> list[str]:
  """The `field` label of each match (causal: of the token after it; None-free: matches with
  nothing to summarise are left out). Special tokens count under their own text."""
  ids = np.asarray(ids, dtype=np.int64)
  if causal:
    sentence_of = np.asarray(table.columns["sentence_id"])
    nxt = ids + 1
    ok = nxt < len(table)
    ok[ok] &= sentence_of[nxt[ok]] == sentence_of[ids[ok]]
    ids = nxt[ok]
  special = np.asarray(table.columns["special"], dtype=bool)[ids]
  codes = np.where(special, np.asarray(table.columns["piece"])[ids],
                   np.asarray(table.columns[field])[ids])
  return [table.vocab[c] if c >= 0 else "(none)" for c in codes.tolist()]


def token_curves(index, vectors: Mapping[tuple[str, int], np.ndarray], field: str = "pos",
                 k: int = DEFAULT_K, heads: Optional[Sequence[int]] = None) -> dict:
  """Per kind and layer, the label shares among the k matches of one token's vectors.

  vectors: (kind, layer) -> the token's E(layer) [D] or C(layer) [H*dh]; heads: 1-based heads
  for context search (None = all). Returns {"field", "k", "heads", "layers": {kind: [{"layer",
  "counted", "shares": {label: share}}]}} with shares by descending count, then label."""
  if field not in PROBE_FIELDS:
    raise ExbertError(f"field must be one of {', '.join(PROBE_FIELDS)}, not {field!r}")
  heads = search_lib.check_heads(heads, index.num_heads)
  out: dict = {"field": field, "k": k, "heads": heads, "model": index.model_name,
               "layers": {}}
  for (kind, layer), vector in sorted(vectors.items()):
    ids, _ = index.nearest(vector, layer=layer, kind=kind,
                           heads=heads if kind == "context" else None, k=k)
    labels = match_labels(index.table, ids, field, bool(index.is_causal))
    counts = collections.Counter(labels)
    total = sum(counts.values())
    shares = {label: round(c / total, 4) for label, c in
              sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
    out["layers"].setdefault(kind, []).append({"layer": layer, "counted": total,
                                               "shares": shares})
  return out
