"""Head profiles: for every layer x head of a store, the labels of the tokens it attends to (or
from), counted over the whole corpus from the attention summaries stored at build time.

A store keeps, for each token, layer and head, the K positions it attends to most
(attention/top_pos.npy [N, L, H, K], K = 3 by default; see exbert_lit.corpus.store). A head's
profile is a counting job over those arrays joined with the label columns: numpy, no model run.

Two grids (`by`):
  attended   For every source token, the label of the token the head attends to most.
             Fields dep, pos, tag, ent: the most-attended *non-special* token (as the attention
             view with special tokens hidden), read from the stored top-K; for causal models each
             sentence's first token, their attention sink, is skipped too (`skip_first`). Exact
             for every single head whenever a sentence has fewer than K skipped tokens (BERT: 2
             specials; causal: 1 first token; K = 3), which every store of ours satisfies.
             Field `offset`: the raw top-1 position, named by where it is: the special token's
             own text ([CLS], [SEP], <s>), `first` for a non-special sentence start, else its
             offset from the source, -2..+2 (0 = itself), `<-2` or `>+2`.
  attending  The label of the source token itself, counted only where the head does something
             with it: its top-1 target is a content token (not special; for causal models not
             the first token). Heads park attention on [CLS]/[SEP] or the first token when they
             have nothing to do (Clark et al. 2019), so "which heads do nouns use" is "for which
             heads are nouns over-represented among the tokens that attend to content".
Sources are the non-special tokens (causal: not at position 0, which sees only itself).

Base rate and lift. `base` is what a head without preference would score: attended, the share
of the label among the tokens a source may attend to (those it can see, causal: at or before
it, minus the skipped ones) averaged over the sources, i.e. uniform attention; attending, the
label's share among all sources. `lift` = share / base.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence

import numpy as np

from exbert_lit.analysis import heads as heads_lib
from exbert_lit.errors import ExbertError

LABEL_FIELDS = ("dep", "pos", "ent", "tag")
FIELDS = LABEL_FIELDS + ("offset",)
BY = ("attended", "attending")
OFFSET_LABELS = ("<-2", "-2", "-1", "0", "+1", "+2", ">+2", "first")
NEAR = 2   # offsets -NEAR..+NEAR are labels of their own


@dataclasses.dataclass
class HeadProfile:
  """Label counts of one field for every head of a store.

  counts: int64 [L, H, V] per head, how many sources had each label (labels[v]).
  base: float64 [V] a preference-free head's share of each label (module docstring).
  """
  field: str
  by: str
  labels: list[str]
  counts: np.ndarray
  base: np.ndarray
  tokens: int                 # rows of the store
  sources: int                # tokens counted as sources
  skip_special: bool
  skip_first: bool
  model: str = ""

  @property
  def num_layers(self) -> int:
    return int(self.counts.shape[0])

  @property
  def num_heads(self) -> int:
    return int(self.counts.shape[1])

  def totals(self) -> np.ndarray:
    """int64 [L, H]: sources counted per head (attending: those that attend to content)."""
    return self.counts.sum(axis=-1)

  def shares(self) -> np.ndarray:
    """float64 [L, H, V]: counts over each head's total (0 where a head counted nothing)."""
    totals = self.totals()[..., None]
    return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

  def lifts(self) -> np.ndarray:
    """float64 [L, H, V]: share / base (NaN where the base rate is 0)."""
    base = np.where(self.base > 0, self.base, np.nan)
    return self.shares() / base

  def label_indices(self, labels: Iterable[str]) -> list[int]:
    """Indices of `labels` (case-insensitive: "aux" finds "AUX"); a one-line error names the
    labels this field has when one is missing."""
    lower = {s.lower(): i for i, s in enumerate(self.labels)}
    out = []
    for label in labels:
      if label.lower() not in lower:
        known = ", ".join(sorted(self.labels)[:60])
        raise ExbertError(f"no token of this store has {self.field} = {label} "
                          f"(by {self.by}); its labels: {known}")
      out.append(lower[label.lower()])
    return out

  def top_labels(self, layer: int, head: int, n: int = 5) -> list[dict]:
    """The n most frequent labels of one head (0-based layer, head): label, count, share,
    base, lift; by count, then label."""
    counts = self.counts[layer, head]
    total = int(counts.sum())
    order = sorted(np.flatnonzero(counts), key=lambda v: (-int(counts[v]), self.labels[v]))[:n]
    return [_row(self.labels[v], int(counts[v]), total, float(self.base[v])) for v in order]

  def best_by_lift(self, min_share: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per head, the label with the largest lift among those holding at least `min_share` of
    the head's counts (a rare label seen twice is not what a head is for); falls back to the
    most frequent label.   -> (int [L, H] label index, float [L, H] its lift)"""
    shares = self.shares()
    lifts = np.nan_to_num(self.lifts(), nan=0.0)
    eligible = np.where(shares >= min_share, lifts, -1.0)
    best = eligible.argmax(axis=-1)
    fallback = shares.argmax(axis=-1)
    best = np.where(eligible.max(axis=-1) >= 0, best, fallback)
    return best, np.take_along_axis(lifts, best[..., None], axis=-1)[..., 0]

  def rank(self, labels: Optional[Sequence[str]] = None, top: Optional[int] = None,
           min_sources: int = 1) -> list[dict]:
    """Every head ranked. With labels (alternatives summed, e.g. ["aux", "auxpass"]): by the
    share of those labels. Without: each head's most frequent label, by its lift. Heads that
    counted fewer than `min_sources` tokens (attending: heads that rarely attend to content)
    come last, whatever their share.
    Rows: layer, head (1-based), name ("5-3"), label, share, base, lift, count, sources."""
    totals = self.totals()
    rows = []
    for l in range(self.num_layers):
      for h in range(self.num_heads):
        if labels:
          idx = self.label_indices(labels)
          count, base, label = int(self.counts[l, h, idx].sum()), float(self.base[idx].sum()), \
              ",".join(self.labels[i] for i in idx)
        else:
          if totals[l, h] == 0:
            continue
          v = int(self.counts[l, h].argmax())
          count, base, label = int(self.counts[l, h, v]), float(self.base[v]), self.labels[v]
        row = _row(label, count, int(totals[l, h]), base)
        rows.append({"layer": l + 1, "head": h + 1, "name": f"{l + 1}-{h + 1}", **row})
    key = "share" if labels else "lift"
    rows.sort(key=lambda r: (r["sources"] < min_sources, bool(np.isnan(r[key])),
                             -float(np.nan_to_num(r[key])), r["layer"], r["head"]))
    return rows[:top] if top else rows

  def to_json(self) -> dict:
    """Everything a view needs to draw the grid: labels, base rates, counts [L][H][V]."""
    return {"field": self.field, "by": self.by, "model": self.model, "labels": list(self.labels),
            "base": [round(float(b), 6) for b in self.base], "counts": self.counts.tolist(),
            "tokens": self.tokens, "sources": self.sources, "skip_special": self.skip_special,
            "skip_first": self.skip_first,
            "num_layers": self.num_layers, "num_heads": self.num_heads}


def _row(label: str, count: int, total: int, base: float) -> dict:
  share = count / total if total else float("nan")
  lift = share / base if base > 0 else float("nan")
  return {"label": label, "count": count, "sources": total, "share": share, "base": base,
          "lift": lift}


# ---------------------------------------------------------------------------------------------
# Label codes per row.

def _dense(codes: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Vocabulary codes -> dense label indices 0..V-1 over the codes of the `keep` rows.
  Returns (int32 [N] index, -1 where not kept or code < 0; int [V] the vocabulary codes)."""
  used = np.unique(codes[keep & (codes >= 0)])
  lookup = np.full(int(codes.max(initial=0)) + 2, -1, dtype=np.int32)
  lookup[used] = np.arange(used.size, dtype=np.int32)
  out = np.where(keep & (codes >= 0), lookup[np.maximum(codes, 0)], -1)
  return out.astype(np.int32), used


def target_labels(table, field: str, skip_special: bool) -> tuple[np.ndarray, list[str]]:
  """The label index of every row as a target, and the label names.

  skip_special: specials are never targets (-1); else they count under their own text.
  Returns (int32 [N], -1 = no label; [V] names)."""
  special = np.asarray(table.columns["special"], dtype=bool)
  codes = np.asarray(table.columns[field], dtype=np.int64)
  if not skip_special:
    codes = np.where(special, np.asarray(table.columns["piece"], dtype=np.int64), codes)
    keep = np.ones_like(special)
  else:
    keep = ~special
  dense, used = _dense(codes, keep)
  return dense, [table.vocab[c] for c in used.tolist()]


def offset_names(table) -> tuple[list[str], np.ndarray]:
  """Names of the offset labels: OFFSET_LABELS then the special tokens' texts; and the label
  index of each row as a special target (-1 for non-special rows).   -> (names, int32 [N])"""
  special = np.asarray(table.columns["special"], dtype=bool)
  pieces = np.asarray(table.columns["piece"], dtype=np.int64)
  dense, used = _dense(pieces, special)
  names = list(OFFSET_LABELS) + [table.vocab[c] for c in used.tolist()]
  return names, np.where(dense >= 0, dense + len(OFFSET_LABELS), -1).astype(np.int32)


def offset_label_index(target_pos: np.ndarray, source_pos: np.ndarray,
                       special_label: np.ndarray) -> np.ndarray:
  """Offset label of targets: special text, `first`, then -2..+2, `<-2`, `>+2`.

  target_pos: int [n, ...] target positions (-1 = none); source_pos: int [n, 1...] the
  sources' positions; special_label: int [n, ...] the targets' special label (-1 = none).
  Returns int32 [n, ...] indices into offset_names (-1 where there is no target)."""
  d = target_pos - source_pos
  near = np.clip(d, -NEAR - 1, NEAR + 1) + NEAR + 1          # 0 = "<-2", ..., 6 = ">+2"
  out = np.where(target_pos == 0, OFFSET_LABELS.index("first"), near)
  out = np.where(special_label >= 0, special_label, out)
  return np.where(target_pos >= 0, out, -1).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Base rates.

def uniform_base(label: np.ndarray, num_labels: int, sentence_start: np.ndarray,
                 sources: np.ndarray, causal: bool) -> np.ndarray:
  """Per label, the share a head attending uniformly to the candidates it sees would give it,
  averaged over the sources.

  label: int [N] label index of each row as a target, -1 = not a candidate; sources: bool [N];
  sentence_start: int [S + 1]. Masked: a source sees its sentence; causal: rows up to itself.
  Returns float64 [num_labels]."""
  label = np.asarray(label)
  rows = np.flatnonzero(sources)
  if rows.size == 0:
    return np.zeros(num_labels)
  bounds = np.asarray(sentence_start, dtype=np.int64)
  sentence = np.searchsorted(bounds, rows, side="right") - 1
  first = bounds[sentence]
  last = rows + 1 if causal else bounds[sentence + 1]
  cand = np.concatenate([[0], np.cumsum(label >= 0)])
  seen = np.maximum(cand[last] - cand[first], 1).astype(np.float64)
  out = np.zeros(num_labels)
  if not causal:   # counts per sentence [S, V], weighted by each sentence's sources / seen
    num_sentences = bounds.size - 1
    row_sentence = np.repeat(np.arange(num_sentences), np.diff(bounds))
    ok = label >= 0
    per = np.bincount(row_sentence[ok] * num_labels + label[ok],
                      minlength=num_sentences * num_labels).reshape(num_sentences, num_labels)
    weight = np.bincount(sentence, weights=1.0 / seen, minlength=num_sentences)
    return (per * weight[:, None]).sum(axis=0) / rows.size
  for v in range(num_labels):
    cum = np.concatenate([[0], np.cumsum(label == v)])
    out[v] = np.mean((cum[last] - cum[first]) / seen)
  return out


def offset_base(table, special_label: np.ndarray, num_labels: int, sources: np.ndarray,
                causal: bool) -> np.ndarray:
  """uniform_base for the offset labels (which depend on the source): per source, each
  visible position's label under uniform attention over every visible position."""
  position = np.asarray(table.columns["position"], dtype=np.int64)
  bounds = np.asarray(table.sentence_start, dtype=np.int64)
  rows = np.flatnonzero(sources)
  out = np.zeros(num_labels)
  if rows.size == 0:
    return out
  sentence = np.searchsorted(bounds, rows, side="right") - 1
  a, p = bounds[sentence], position[rows]
  end = p + 1 if causal else bounds[sentence + 1] - a          # visible positions [0, end)
  seen = end.astype(np.float64)
  plain = (special_label < 0) & (position != 0)                # labelled by their offset
  cum_plain = np.concatenate([[0], np.cumsum(plain)])
  # Specials by their text, `first` when position 0 is not special.
  for v in range(len(OFFSET_LABELS), num_labels):
    cum = np.concatenate([[0], np.cumsum(special_label == v)])
    out[v] = np.mean((cum[a + end] - cum[a]) / seen)
  out[OFFSET_LABELS.index("first")] = np.mean((special_label[a] < 0) / seen)
  for i, d in enumerate(range(-NEAR, NEAR + 1), start=1):
    q = p + d
    ok = (q >= 0) & (q < end)
    out[i] = np.mean(np.where(ok, plain[a + np.clip(q, 0, None) * ok], False) / seen)
  below = np.maximum(p - NEAR, 0)                              # positions [0, p-2)
  out[0] = np.mean((cum_plain[a + below] - cum_plain[a]) / seen)
  lo = np.minimum(p + NEAR + 1, end)                           # positions [p+3, end)
  out[NEAR * 2 + 2] = np.mean((cum_plain[a + end] - cum_plain[a + lo]) / seen)
  return out


# ---------------------------------------------------------------------------------------------

def sources_of(table, skip_first: bool) -> np.ndarray:
  """bool [N]: non-special rows; with skip_first, not at position 0."""
  return heads_lib.source_mask(table, skip_first=skip_first)


def compute_profiles(index, fields: Sequence[str] = FIELDS, by: Sequence[str] = BY, *,
                     skip_special: bool = True, skip_first: Optional[bool] = None,
                     chunk: int = 1 << 17) -> dict[tuple[str, str], HeadProfile]:
  """Every (by, field) profile of a store in one pass over its attention summaries.

  index: a CorpusIndex (its table, is_causal, model_name). skip_first: None = on for causal
  models. `offset` is a field of `attended` only (an attending token has no offset).
  Returns {(by, field): HeadProfile}."""
  for f in fields:
    if f not in FIELDS:
      raise ExbertError(f"unknown label field {f!r}; choose one of {', '.join(FIELDS)}")
  for b in by:
    if b not in BY:
      raise ExbertError(f"--by must be attended or attending, not {b!r}")
  table = index.table
  causal = bool(index.is_causal)
  skip_first = causal if skip_first is None else bool(skip_first)
  sources = sources_of(table, skip_first)
  src = np.flatnonzero(sources)
  position = np.asarray(table.columns["position"], dtype=np.int64)
  special = np.asarray(table.columns["special"], dtype=bool)
  row_starts = heads_lib._row_starts(table)     # pylint: disable=protected-access
  excluded = heads_lib.excluded_targets(table, skip_special, skip_first)
  sink = special | (position == 0) if causal else special   # not content, for `attending`
  L, H = table.top_pos.shape[1], table.top_pos.shape[2]
  label_fields = [f for f in fields if f in LABEL_FIELDS]
  targets_of = {f: target_labels(table, f, skip_special) for f in label_fields}
  offset_of = offset_names(table) if "offset" in fields and "attended" in by else None
  own = {f: target_labels(table, f, True) for f in label_fields} if "attending" in by else {}
  plans = []
  for f in label_fields:
    if "attended" in by:
      plans.append(("attended", f, len(targets_of[f][1])))
    if "attending" in by:
      plans.append(("attending", f, len(own[f][1])))
  if offset_of is not None:
    plans.append(("attended", "offset", len(offset_of[0])))
  counts = {(b, f): np.zeros((L, H, v), dtype=np.int64) for b, f, v in plans}
  excluded_or_none = excluded if (skip_special or skip_first) else None
  heads_col = np.arange(H, dtype=np.int64)
  # Row chunks with every layer at once: top_pos is [N, L, H, K] on disk, so one chunk is one
  # contiguous read (a per-layer slice would stride through the whole file L times).
  for lo in range(0, src.size, chunk):
    rows = src[lo:lo + chunk]
    block = np.asarray(table.top_pos[rows[0]:rows[-1] + 1])[rows - rows[0]]   # [n, L, H, K]
    starts = row_starts[rows][:, None]
    src_pos = position[rows][:, None]
    for layer in range(L):
      top = block[:, layer]                                            # [n, H, K]
      top1 = top[..., 0].astype(np.int64)                              # [n, H]
      top1_rows = np.where(top1 >= 0, starts + top1, -1)
      if excluded_or_none is not None and any(b == "attended" and f != "offset" for b, f in counts):
        chosen = heads_lib.max_targets(top, row_starts[rows], excluded_or_none)
      else:
        chosen = top1_rows
      for (b, f), out in counts.items():
        v = out.shape[-1]
        if b == "attended" and f == "offset":
          lab = offset_label_index(top1, src_pos, offset_of[1][np.maximum(top1_rows, 0)])
        elif b == "attended":
          lab = np.where(chosen >= 0, targets_of[f][0][np.maximum(chosen, 0)], -1)
        else:
          content = (top1_rows >= 0) & ~sink[np.maximum(top1_rows, 0)]
          lab = np.where(content, own[f][0][rows][:, None], -1)
        ok = lab >= 0
        flat = (heads_col[None, :] * v + lab)[ok]
        out[layer] += np.bincount(flat, minlength=H * v).reshape(H, v)
  profiles = {}
  for (b, f), out in counts.items():
    if b == "attended" and f == "offset":
      names = offset_of[0]
      base = offset_base(table, offset_of[1], len(names), sources, causal)
    elif b == "attended":
      lab, names = targets_of[f]
      candidates = np.where(excluded, -1, lab) if excluded is not None else lab
      base = uniform_base(candidates, len(names), table.sentence_start, sources, causal)
    else:
      lab, names = own[f]
      base = np.bincount(lab[src][lab[src] >= 0], minlength=len(names)) / max(src.size, 1)
    profiles[(b, f)] = HeadProfile(
        field=f, by=b, labels=names, counts=out, base=np.asarray(base, dtype=np.float64),
        tokens=len(table), sources=int(src.size), skip_special=skip_special,
        skip_first=skip_first, model=str(getattr(index, "model_name", "")))
  return profiles


def parse_label(text: str) -> tuple[str, list[str]]:
  """`dep=det` -> ("dep", ["det"]); `dep=aux,auxpass` -> two labels; `offset=-1`; `dep` ->
  ("dep", []) (every head's top label). One-line error otherwise."""
  field, eq, labels = (text or "").partition("=")
  field = field.strip().lower()
  if field not in FIELDS:
    raise ExbertError(f"--label {text!r}: the field before '=' must be one of "
                      f"{', '.join(FIELDS)} (e.g. dep=det, pos=NOUN, offset=-1)")
  names = [x.strip() for x in labels.split(",") if x.strip()]
  if eq and not names:
    raise ExbertError(f"--label {text!r}: give a label after '=', e.g. {field}=det")
  return field, names
