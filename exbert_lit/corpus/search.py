"""Corpus search: query vector -> nearest token representations -> label histograms.

Numbering (the same wherever a user types it): layers 1..L, 0 = input embeddings (embedding
search only); heads 1..H; positions 0-based word-piece indices, specials included. What a user
types (the paper's `5-3`, `4-[1,3,9]`, `2-[1-3,7]`, `4-[]`, offsets, k) is read by
exbert_lit/notation.py, which also owns the defaults and the range checks.

Head subsets: context vectors are stored with every head's slice at unit norm, so zeroing the
other heads' slices of the query makes the inner product the sum of per-head cosines over the
chosen heads; dividing by their number gives the reported score, the cosine of the
concatenated chosen slices. For an exact index this ranking equals a brute-force cosine
search over those heads.

Max-attended token for a head set S at layer l (what the `max_att` histograms summarise):
argmax over positions of the attention averaged over S. Exact for one head (stored top-1) and
for all heads (stored argmax of the all-head mean). For other subsets it is computed from each
head's stored top-K (K in the manifest, 3 by default): positions outside a head's top-K count
as 0 for that head, so the result is the exact argmax whenever the winner is in the top-K of
every chosen head, and an approximation otherwise.

Histograms: special tokens are counted under their own text (e.g. `[SEP]`) in the POS, DEP and
entity histograms, so "attends to [SEP]" shows; neighbours outside the sentence are not
counted. Causal models: the representation at position i is the model's guess of token i+1,
so the label and neighbour histograms are centred on the following token (`centre` = "next");
matches at a sentence's last token then have nothing to summarise and are not counted. The
max-attended histograms describe the matched token's own attention (offsets relative to it).
"""
from __future__ import annotations

import collections
import functools
import pathlib
import threading
from typing import Iterable, Optional, Sequence

import numpy as np

from exbert_lit import notation
from exbert_lit.corpus import faiss_tools
from exbert_lit.corpus import manifest as manifest_lib
from exbert_lit.corpus import result as result_lib
from exbert_lit.corpus import store
from exbert_lit.corpus import vectors as vectors_lib
from exbert_lit.errors import ExbertError
from exbert_lit.notation import DEFAULT_K, DEFAULT_OFFSETS

HISTOGRAM_FIELDS = ("pos", "dep", "ent")
# Head-set cuts kept (CorpusIndex.head_scan_index): at most this many layers' worth of
# candidate codes in all (a second copy of two layers' 4-bit codes, at most).
CUT_BUDGET_LAYERS = 2


# ---------------------------------------------------------------------------------------------
# Pure helpers.

def check_heads(heads: Optional[Sequence[int]], num_heads: int) -> Optional[list[int]]:
  """notation.check_heads as the list that search results carry: validated, sorted, 1-based;
  None (= all) for None, empty, or every head."""
  checked = notation.check_heads(heads, num_heads)
  return None if checked is None else list(checked)


def mask_heads(query: np.ndarray, heads: Optional[Sequence[int]], num_heads: int) -> np.ndarray:
  """A context query with each head slice at unit norm and the unchosen heads zeroed.

  Args:
    query: [H*dh] a context vector C(l).
    heads: 1-based heads to keep; None = all.
  Returns: float32 [H*dh].
  """
  q = vectors_lib.normalize_heads(np.asarray(query, dtype=np.float32).reshape(1, -1),
                                num_heads)[0]
  if heads is None:
    return q
  keep = np.zeros(num_heads, dtype=bool)
  keep[np.asarray(heads) - 1] = True
  return (q.reshape(num_heads, -1) * keep[:, None]).reshape(-1)


def vector_of(internals, kind: str, layer: int, position: int) -> np.ndarray:
  """The query vector of one word-piece: E(layer) (layer 0..L) for kind "embedding", C(layer)
  (layer 1..L) for "context", from a model's SentenceInternals.   [D] or [H*dh]"""
  if kind == "embedding":
    return internals.embeddings[layer][position]
  return internals.contexts[layer - 1][position]


def count_bins(labels: Iterable[str]) -> list[result_lib.Bin]:
  """Counts labels; sorted by count descending, then label, so the order is stable."""
  counts = collections.Counter(labels)
  return [result_lib.Bin(label=label, count=count)
          for label, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def offset_label(offset: int) -> str:
  return f"+{offset}" if offset > 0 else str(offset)


def max_attended(top_pos: np.ndarray, top_weight: np.ndarray, mean_argmax: int,
                 heads: Optional[Sequence[int]]) -> int:
  """Position a token attends to most, for a head set (see the module docstring).

  Args:
    top_pos: int [H, K] the K most attended positions per head (-1 = padding).
    top_weight: float [H, K] their weights.
    mean_argmax: argmax of the all-head mean (used when heads is None).
    heads: 1-based heads, or None for all.
  """
  if heads is None:
    return int(mean_argmax)
  if len(heads) == 1:
    return int(top_pos[heads[0] - 1, 0])
  scores: dict[int, float] = collections.defaultdict(float)
  for h in heads:
    for p, w in zip(top_pos[h - 1], top_weight[h - 1]):
      if p >= 0:
        scores[int(p)] += float(w)
  return min(scores, key=lambda p: (-scores[p], p))


def max_attended_many(top_pos: np.ndarray, top_weight: np.ndarray,
                      heads: Sequence[int]) -> np.ndarray:
  """`max_attended` for a head set of two or more heads, for n tokens in one pass.

  The same sums and choice as max_attended: per token, every position that appears (>= 0) in
  a chosen head's top-K is a candidate, even with weight 0; its score is the float64 sum of
  its weights in head order, then K order; the highest score wins, ties to the lower position.

  Args:
    top_pos: int [n, H, K] (-1 = padding); top_weight: float [n, H, K].
    heads: 1-based heads.
  Returns: int64 [n].
  """
  n = top_pos.shape[0]
  chosen = np.asarray(heads, dtype=np.int64) - 1
  pos = np.asarray(top_pos[:, chosen], dtype=np.int64).reshape(n, -1)       # [n, |S|*K]
  weight = np.asarray(top_weight[:, chosen], dtype=np.float64).reshape(n, -1)
  present = pos >= 0
  scratch = np.full((n, int(pos.max(initial=0)) + 1), -np.inf)              # [n, maxT]
  which = np.broadcast_to(np.arange(n)[:, None], pos.shape)[present]
  at = pos[present]
  scratch[which, at] = 0.0
  np.add.at(scratch, (which, at), weight[present])   # in order: head, then K
  return scratch.argmax(axis=1)                      # the first maximum: the lower position


# ---------------------------------------------------------------------------------------------

class CorpusIndex:
  """A finished corpus store opened for search (read-only; indexes loaded on first use).

  Attributes:
    info: the manifest, typed (manifest.Manifest).
    manifest: the same manifest as the JSON object on disk, for readers of its raw fields.
    table: the token rows, labels and attention summaries (memory-mapped).
  """

  def __init__(self, directory: pathlib.Path, manifest: dict, table: store.TokenTable):
    self.directory = pathlib.Path(directory)
    self.manifest = manifest
    self.info = manifest_lib.Manifest.from_json(manifest)
    self.table = table
    self.num_layers: int = self.info.model.num_layers
    self.num_heads: int = self.info.model.num_heads
    self.is_causal: bool = self.info.model.is_causal
    self._model = None
    self._cuts: collections.OrderedDict = collections.OrderedDict()  # head_scan_index
    self._cut_lock = threading.Lock()

  @classmethod
  def open(cls, directory: str | pathlib.Path, model=None) -> "CorpusIndex":
    """Opens a store; with `model`, fails (naming both) unless it is the model it was built with."""
    directory = pathlib.Path(directory)
    manifest = store.read_manifest(directory)
    if model is not None:
      store.check_model(manifest, model)
    index = cls(directory, manifest, store.TokenTable.load(directory))
    if len(index.table) != index.info.counts.tokens:
      raise store.StoreError(f"{directory} is corrupt: the manifest counts "
                             f"{index.info.counts.tokens} tokens, the token table "
                             f"{len(index.table)}")
    index._model = model
    return index

  @property
  def model_name(self) -> str:
    return self.info.model.name

  def check_layer(self, layer: int, kind: str) -> None:
    """The notation's range check (worded as on every surface) against this store's layers."""
    if kind not in notation.KINDS:
      raise ExbertError(f"kind must be embedding or context; got {notation.show(kind)}")
    notation.check_layer(layer, self.num_layers, kind)

  # Every index of both kinds stays open once used (a 6-layer model has 13): probing curves
  # search all of them per token, and reloading one costs seconds on a 1M-token store.
  @functools.lru_cache(maxsize=256)
  def faiss_index(self, kind: str, layer: int):
    """The faiss index of (kind, layer) with the manifest's search parameters applied."""
    import faiss  # pylint: disable=g-import-not-at-top
    path = self.directory / "index" / store.index_filename(kind, layer)
    if not path.is_file():
      raise store.StoreError(f"{self.directory} is incomplete: {path.name} is missing")
    try:
      # Flat and scalar-quantised codes are memory-mapped, not read, and IVF lists stay on
      # disk (finish.py): a store larger than RAM still opens, and processes serving one store
      # share the page cache. On-disk lists are found beside the index, wherever it moved.
      # (faiss takes one of the two flags per read: on-disk lists need a plain file reader.)
      on_disk = store.ondisk_lists_path(path).is_file()
      index = faiss.read_index(str(path), faiss.IO_FLAG_ONDISK_SAME_DIR if on_disk
                               else faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError as e:
      raise store.StoreError(f"{path} is corrupt: {str(e).strip().splitlines()[-1]}") from e
    index = faiss_tools.parallel_candidates(index, faiss.omp_get_max_threads())
    params = self.info.index.search_params
    if params:
      faiss.ParameterSpace().set_index_parameters(index, params)
    return index

  @functools.lru_cache(maxsize=8)
  def candidate_parts(self, layer: int) -> list:
    """The 4-bit candidate codes of C(layer) in id order, the parts head-set cuts are taken
    from (faiss_tools.candidate_parts: the index's own, or a partitioned index's put back in
    id order once)."""
    import faiss  # pylint: disable=g-import-not-at-top
    return faiss_tools.candidate_parts(self.faiss_index("context", layer),
                                       faiss.omp_get_max_threads())

  def head_scan_index(self, layer: int, heads):
    """The chosen heads' candidate codes of C(layer) as their own fast-scan index (1-based
    heads; one head also as an int), or None for index types without them (see
    faiss_tools.heads_scan). Cut on a head set's first query and kept, most recent first,
    while all kept cuts together hold at most CUT_BUDGET_LAYERS layers' worth of candidate
    codes (a cut of S holds |S|/H of a layer's: one head of the 1.4M-token minilm store 11 MB).
    """
    key = (layer, tuple(sorted({heads} if isinstance(heads, int) else set(heads))))
    with self._cut_lock:
      if key in self._cuts:
        self._cuts.move_to_end(key)
        return self._cuts[key][0]
    parts = self.candidate_parts(layer)
    cut = faiss_tools.heads_scan(parts, [h - 1 for h in key[1]], self.num_heads)
    size = sum(p.codes.size() for p in parts) * len(key[1]) // self.num_heads
    budget = CUT_BUDGET_LAYERS * sum(p.codes.size() for p in parts)
    with self._cut_lock:
      self._cuts[key] = (cut, size)
      while len(self._cuts) > 1 and sum(v[1] for v in self._cuts.values()) > budget:
        self._cuts.popitem(last=False)
    return cut

  def query_vector(self, model, text: str, position: int, layer: int, kind: str) -> np.ndarray:
    """The model's E(layer) or C(layer) of word-piece `position` of `text`.   [D] or [H*dh]"""
    store.check_model(self.info, model)
    self.check_layer(layer, kind)
    (internals,) = model.internals([text])
    if not 0 <= position < len(internals.tokens):
      raise ExbertError(f"token position {position} is out of range: the text has "
                       f"{len(internals.tokens)} word-pieces (0..{len(internals.tokens) - 1})")
    return vector_of(internals, kind, layer, position)

  def search(self, query: Optional[np.ndarray] = None, *, layer: int, kind: str = "embedding",
             heads: Optional[Sequence[int]] = None, k: int = DEFAULT_K,
             offsets: Sequence[int] = DEFAULT_OFFSETS, model=None, text: Optional[str] = None,
             position: Optional[int] = None) -> result_lib.SearchResult:
    """The k nearest corpus tokens to a query and the histograms summarising them.

    Args:
      query: the vector ([D] for embedding, [H*dh] for context); or None and give
        model + text + position (0-based word-piece index) to compute it.
      layer: 1..L, or 0 (input embeddings) for kind "embedding".
      kind: "embedding" (E(l), whole-vector cosine) or "context" (C(l), cosine over `heads`).
      heads: 1-based heads (None = all). Context search uses only these heads; both kinds use
        them to find each match's max-attended token.
      k: number of matches.
      offsets: neighbour offsets to summarise besides the token itself (0).
    """
    self.check_layer(layer, kind)
    heads = check_heads(heads, self.num_heads)
    # No MAX_K here: the Python API may ask for more matches than the views show.
    if not isinstance(k, (int, np.integer)) or k < 1:
      raise ExbertError(f"k must be a positive number of matches, not {k!r}")
    offsets = sorted({int(o) for o in offsets} - {0})
    if query is None:
      model = model or self._model
      if model is None or text is None or position is None:
        raise ExbertError("give a query vector, or a model with text and position")
      query = self.query_vector(model, text, position, layer, kind)
    ids, scores = self.nearest(query, layer=layer, kind=kind, heads=heads, k=int(k))
    return self.build_result(ids, scores, layer, kind, heads, int(k), offsets)

  def nearest(self, query: np.ndarray, *, layer: int, kind: str, heads: Optional[list[int]],
              k: int) -> tuple[np.ndarray, np.ndarray]:
    """The faiss part of `search` (arguments already checked; heads as check_heads gives them).

    Returns: ids int64 [k'] (token rows, best first) and their reported scores float64 [k']
    (cosine over the chosen heads, or of the whole vector).
    """
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    dim = self.info.dims[kind]
    if q.shape[0] != dim:
      raise ExbertError(f"query has {q.shape[0]} values; {kind} vectors of this index have {dim}")
    if kind == "embedding":
      q, scale = vectors_lib.normalize_rows(q), 1.0
    else:
      q = mask_heads(q, heads, self.num_heads)
      scale = 1.0 / (self.num_heads if heads is None else len(heads))
    index = self.faiss_index(kind, layer)
    head_index = None
    if kind == "context" and heads is not None:
      head_index = self.head_scan_index(layer, tuple(heads))
    scores, ids = faiss_tools.nearest(index, q, int(k), heads if kind == "context" else None,
                                      self.num_heads, head_index)
    # float32 -> float64, then the scale: the same doubles as float(s) * scale.
    return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64) * scale

  # -------------------------------------------------------------------------------------------

  def max_attended_rows(self, ids: np.ndarray, layer: int,
                        heads: Optional[Sequence[int]]) -> Optional[np.ndarray]:
    """`max_attended` for token rows `ids` [n] at once: int64 [n], or None at layer 0."""
    if layer == 0:
      return None
    t = self.table
    if heads is None:
      return t.mean_argmax[ids, layer - 1].astype(np.int64)
    if len(heads) == 1:
      return t.top_pos[ids, layer - 1, heads[0] - 1, 0].astype(np.int64)
    return max_attended_many(t.top_pos[ids, layer - 1], t.top_weight[ids, layer - 1], heads)

  def build_result(self, ids: np.ndarray, scores: np.ndarray, layer: int, kind: str,
                   heads: Optional[list[int]], k: int,
                   offsets: list[int]) -> result_lib.SearchResult:
    """The matches and histograms of token rows `ids` [n] with `scores` [n] (see `search`).

    Vectorised over the rows: each column of the memory-mapped token table is read once, for
    the matched rows and for all matched sentences' rows together (the view shows every
    match in context); per-row Python work is only building the JSON objects.
    """
    t = self.table
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    sid = t.columns["sentence_id"][ids].astype(np.int64)
    start = t.sentence_start[sid].astype(np.int64)
    length = t.sentence_start[sid + 1].astype(np.int64) - start
    position = ids - start
    max_att = self.max_attended_rows(ids, layer, heads)
    # Every matched sentence's rows, concatenated: match i owns [first[i], first[i + 1]).
    first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=first[1:])
    rows = np.arange(first[-1], dtype=np.int64) + np.repeat(start - first[:-1], length)
    cols = t.gather(rows, ("piece", "pos", "tag", "dep", "ent", "lemma", "head", "special"))
    text = {f: t.decode(cols[f]) for f in store.TEXT_COLUMNS}
    pieces = text["piece"].tolist()
    labels = [None if unlabeled else {"pos": p, "tag": tg, "dep": d, "ent": e, "lemma": lm,
                                      "head": h}
              for unlabeled, p, tg, d, e, lm, h in zip(
                  (cols["special"] | (cols["pos"] < 0)).tolist(), text["pos"].tolist(),
                  text["tag"].tolist(), text["dep"].tolist(), text["ent"].tolist(),
                  text["lemma"].tolist(), cols["head"].tolist())]
    bounds = first.tolist()
    sids, positions = sid.tolist(), position.tolist()
    score_list = np.asarray(scores, dtype=np.float64).tolist()
    att_list = [None] * n if max_att is None else max_att.tolist()
    matches = [result_lib.Match(
        sentence_id=sids[i], position=positions[i], score=score_list[i], text=t.texts[sids[i]],
        tokens=pieces[bounds[i]:bounds[i + 1]], labels=labels[bounds[i]:bounds[i + 1]],
        max_att=att_list[i]) for i in range(n)]
    if t.meta:   # the corpus had metadata columns (document id...): each match carries its own
      for match, s in zip(matches, sids):
        if t.meta[s] is not None:
          match["meta"] = t.meta[s]

    # Histogram labels: special tokens count under their piece's text.
    special = cols["special"]
    hist_text = {f: np.where(special, text["piece"], text[f]) for f in HISTOGRAM_FIELDS}

    def label_histograms(local: np.ndarray, by_field: dict) -> result_lib.LabelHistograms:
      return result_lib.LabelHistograms(
          **{f: count_bins(by_field[f][local].tolist()) for f in HISTOGRAM_FIELDS})

    centre = position + (1 if self.is_causal else 0)
    summarised = centre < length
    histograms = {}
    for o in sorted([0] + list(offsets)):
      at = centre + o
      keep = summarised & (at >= 0) & (at < length)
      histograms[offset_label(o)] = label_histograms(first[:-1][keep] + at[keep], hist_text)
    if max_att is None:
      att_rows, att_offsets = rows[:0], []
    else:   # read by table row, as the stored position says (not via the sentences above)
      keep = max_att >= 0
      att_rows = start[keep] + max_att[keep]
      att_offsets = [offset_label(d) for d in (max_att[keep] - position[keep]).tolist()]
    att_cols = t.gather(att_rows, ("piece",) + HISTOGRAM_FIELDS + ("special",))
    att_piece = t.decode(att_cols["piece"])
    att_text = {f: np.where(att_cols["special"], att_piece, t.decode(att_cols[f]))
                for f in HISTOGRAM_FIELDS}
    return result_lib.SearchResult(
        query=result_lib.Query(layer=layer, kind=kind, heads=heads, k=k, offsets=offsets,
                               centre="next" if self.is_causal else "match"),
        matches=matches,
        histograms=histograms,
        max_att=result_lib.MaxAttHistograms(
            offset=count_bins(att_offsets),
            **label_histograms(np.arange(len(att_rows)), att_text)))
