"""`exbert_probe`: layer probing curves as a LIT Interpreter (exbert_lit/analysis/probing.py).

Two modes (config `mode`):
  token   For the selected example's token at `position`: per layer, the label shares among the
          k corpus matches of its E(l) and C(l) (all heads, or `heads`), the paper's Figure 3.
          Vectors come from the model outputs LIT hands over (the `_NAME_internals` model, cached
          since the attention view showed the sentence), so it costs one search per layer and
          kind.
  corpus  Per layer, the kNN label agreement of E(l) and C(l) for a sample of corpus tokens;
          slow on a big store (a batch search per layer), so each answer is kept in memory.
Both answers are one JSON object, the same for every input.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional, Sequence

import numpy as np
from lit_nlp.api import components as lit_components
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.analysis import probing
from exbert_lit.errors import ExbertError
from exbert_lit.lit import corpus_search
from exbert_lit.models import fields as fields_lib
from exbert_lit.notation import DEFAULT_K, KINDS, MAX_K

NAME = "exbert_probe"
logger = logging.getLogger(__name__)
MODES = ("token", "corpus")
MAX_SAMPLE = 5000


def _open_indexes(corpus) -> None:
  """Opens (and keeps: CorpusIndex caches them) every faiss index of a corpus."""
  try:
    for kind in KINDS:
      for layer in corpus.info.layers.get(kind, []):
        corpus.faiss_index(kind, layer)
  except Exception as e:  # pylint: disable=broad-except
    logger.warning("opening the indexes of %s failed: %s", getattr(corpus, "directory", "?"), e)


class Probe(lit_components.Interpreter):
  """Per layer, what the corpus neighbours of E(l) and C(l) say about a label."""

  def __init__(self, search: corpus_search.CorpusSearch, warm: bool = True):
    """Args: search: the server's corpus search (its corpora and their matching to models);
    warm: open every corpus's indexes in the background now, so the first token's curves do
    not wait for them (13 indexes of a 1.4M-token store: ~19 s here)."""
    self._search = search
    self._corpus_answers: dict[tuple, dict] = {}
    self._lock = threading.Lock()
    if warm:
      for corpus in search.corpora.values():
        threading.Thread(target=_open_indexes, args=(corpus,), daemon=True).start()

  def description(self) -> str:
    return ("exBERT probing curves: per layer, the labels of the corpus matches of a token's "
            "embedding and context, or how well neighbours agree on a label corpus-wide.")

  def is_compatible(self, model: lit_model.Model, dataset: lit_dataset.Dataset) -> bool:
    del dataset
    return any(corpus_search.built_for(c, model) and hasattr(c, "table")
               for c in self._search.corpora.values())

  def config_spec(self) -> lit_types.Spec:
    return {
        "mode": lit_types.CategoryLabel(vocab=list(MODES), required=False),
        "field": lit_types.CategoryLabel(vocab=list(probing.PROBE_FIELDS), required=False),
        "position": lit_types.Scalar(min_val=0, max_val=4096, default=0, step=1, required=False),
        "heads": lit_types.SparseMultilabel(required=False),
        "k": lit_types.Scalar(min_val=1, max_val=MAX_K, default=DEFAULT_K, step=1,
                              required=False),
        "sample": lit_types.Scalar(min_val=10, max_val=MAX_SAMPLE, default=500, step=10,
                                   required=False),
    }

  def meta_spec(self) -> lit_types.Spec:
    return {}

  def corpus_curves(self, name: str, corpus, field: str, sample: int, k: int) -> dict:
    # The store's directory too: a demo switches a corpus name to a larger store while serving.
    key = (name, str(getattr(corpus, "directory", "")), field, sample, k)
    with self._lock:   # one sample search at a time; answers kept
      if key not in self._corpus_answers:
        self._corpus_answers[key] = probing.agreement(corpus, field, sample, k)
      return self._corpus_answers[key]

  def run(self, inputs: Sequence[lit_types.JsonDict], model: lit_model.Model,
          dataset: lit_dataset.Dataset,
          model_outputs: Optional[Sequence[lit_types.JsonDict]] = None,
          config: Optional[lit_types.JsonDict] = None) -> list[dict]:
    del dataset
    config = dict(config or {})
    mode = str(config.get("mode") or "token")
    field = str(config.get("field") or "pos")
    if mode not in MODES:
      raise ExbertError(f"mode must be token or corpus, not {mode!r}")
    if field not in probing.PROBE_FIELDS:
      raise ExbertError(f"field must be one of {', '.join(probing.PROBE_FIELDS)}, not {field!r}")
    k = int(config.get("k") or DEFAULT_K)
    if not 1 <= k <= MAX_K:
      raise ExbertError(f"k must be 1..{MAX_K}, not {k}")
    name, corpus = self._search.corpus_for(model, None)
    if mode == "corpus":
      sample = int(config.get("sample") or 500)
      if not 10 <= sample <= MAX_SAMPLE:
        raise ExbertError(f"sample must be 10..{MAX_SAMPLE}, not {sample}")
      answer = dict(self.corpus_curves(name, corpus, field, sample, k), corpus=name)
      return [answer] * max(1, len(inputs))
    if not inputs:
      return []
    if model_outputs is None:
      model_outputs = list(model.predict(inputs))
    heads = [int(h) for h in (config.get("heads") or [])] or None
    results = []
    for output in model_outputs:
      tokens = output.get("tokens") or []
      position = int(config.get("position") or 0)
      if not 0 <= position < len(tokens):
        raise ExbertError(f"position {position} is out of range: the sentence has "
                          f"{len(tokens)} word-pieces")
      vectors = {}
      for kind in KINDS:
        for layer in corpus.info.layers.get(kind, []):
          value = output.get(fields_lib.vectors(kind, layer))
          if value is None:
            raise ExbertError(f"the model's outputs have no {fields_lib.vectors(kind, layer)!r}")
          vectors[(kind, layer)] = np.asarray(value, dtype=np.float32)[position]
      started = time.perf_counter()
      answer = probing.token_curves(corpus, vectors, field, k, heads)
      answer.update(corpus=name, position=position, token=tokens[position],
                    seconds=round(time.perf_counter() - started, 4))
      results.append(answer)
    return results
