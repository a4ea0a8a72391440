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

  @functools.lru_cache(maxsize=4)
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

  @functools.lru_cache(maxsize=32)
  def head_scan_index(self, layer: int, head: int):
    """One head's candidate codes of C(layer) as their own fast-scan index (1-based head), or
    None for index types without them (see faiss_tools.head_scan)."""
    return faiss_tools.head_scan(self.faiss_index("context", layer), head - 1, self.num_heads)

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
    if kind == "context" and heads is not None and len(heads) == 1:
      head_index = self.head_scan_index(layer, heads[0])
    scores, ids = faiss_tools.nearest(index, q, int(k), heads if kind == "context" else None,
                                      self.num_heads, head_index)
    rows = [(int(i), float(s) * scale) for i, s in zip(ids, scores)]
    return self._result(rows, layer, kind, heads, int(k), offsets)

  # -------------------------------------------------------------------------------------------

  def _max_att(self, row: int, layer: int, heads) -> Optional[int]:
    if layer == 0:
      return None
    t = self.table
    return max_attended(t.top_pos[row, layer - 1], t.top_weight[row, layer - 1],
                        int(t.mean_argmax[row, layer - 1]), heads)

  def _row_label(self, row: int, field: str) -> str:
    """A row's label for histograms; special tokens count under their own text."""
    t = self.table
    if t.columns["special"][row]:
      return t.string("piece", row)
    return t.string(field, row)

  def _result(self, rows, layer, kind, heads, k, offsets) -> result_lib.SearchResult:
    t = self.table
    centre_shift = 1 if self.is_causal else 0
    summarised: dict[int, list[int]] = {o: [] for o in [0] + offsets}
    att_rows: list[int] = []
    att_offsets: list[str] = []
    matches: list[result_lib.Match] = []
    for row, score in rows:
      sid = int(t.columns["sentence_id"][row])
      span = t.sentence_rows(sid)
      position = row - span.start
      max_att = self._max_att(row, layer, heads)
      matches.append(result_lib.Match(
          sentence_id=sid, position=position, score=score, text=t.texts[sid],
          tokens=t.strings("piece", span), labels=t.labels_of(span), max_att=max_att))
      centre = position + centre_shift
      if centre < len(span):
        for o in summarised:
          if 0 <= centre + o < len(span):
            summarised[o].append(span.start + centre + o)
      if max_att is not None and max_att >= 0:
        att_rows.append(span.start + max_att)
        att_offsets.append(offset_label(max_att - position))

    def label_histograms(rs: list[int]) -> result_lib.LabelHistograms:
      return result_lib.LabelHistograms(
          **{f: count_bins(self._row_label(r, f) for r in rs) for f in ("pos", "dep", "ent")})

    return result_lib.SearchResult(
        query=result_lib.Query(layer=layer, kind=kind, heads=heads, k=k, offsets=offsets,
                               centre="next" if self.is_causal else "match"),
        matches=matches,
        histograms={offset_label(o): label_histograms(rs) for o, rs in sorted(summarised.items())},
        max_att=result_lib.MaxAttHistograms(offset=count_bins(att_offsets),
                                            **label_histograms(att_rows)))
