"""`exbert_corpus_search`: exBERT's corpus search as a LIT Interpreter.

Given the selected example and a token position, layer, kind and heads (docs/FIELDS.md), it looks up
that token's E(l) or C(l) in the model's outputs for the example and asks the model's corpus
index for the nearest tokens, returning a `SearchResult` (exbert_lit/corpus/result.py) per
example. It never runs the model itself when LIT hands it model outputs: the corpus view asks
with the gradient-free `_NAME_internals` model (lit/internals_model.py), whose outputs for the
sentence LIT has cached since the attention view showed it, so a search costs only the faiss
lookup.

Corpora are matched to models by the model's fingerprint (config + tokenizer hash): a corpus
built with another model is refused with a message naming both.
"""
from __future__ import annotations

import threading
from typing import Mapping, Optional, Protocol, Sequence

import numpy as np
from lit_nlp.api import components as lit_components
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.corpus import result as result_lib
from exbert_lit.corpus import store
from exbert_lit.lit import search_config
from exbert_lit.models import fields as fields_lib
from exbert_lit.errors import ExbertError

NAME = "exbert_corpus_search"


class SearchableCorpus(Protocol):
  """What the interpreter needs from a corpus index (exbert_lit.corpus.search.CorpusIndex)."""

  manifest: dict   # manifest["model"]: {"name", "fingerprint", ...}

  @property
  def model_name(self) -> str: ...

  def search(self, query: np.ndarray, *, layer: int, kind: str,
             heads: Optional[Sequence[int]], k: int,
             offsets: Sequence[int]) -> result_lib.SearchResult: ...


def corpus_fingerprint(corpus: SearchableCorpus) -> Optional[str]:
  """The fingerprint of the model a corpus index was built with."""
  return corpus.manifest.get("model", {}).get("fingerprint")


def same_weights(fingerprint: Optional[str], other: Optional[str]) -> bool:
  """Whether two model fingerprints name the same weights and tokenizer (a model loaded by
  short name and by path differ only in the name part)."""
  if fingerprint is None or other is None:
    return False
  return store.weights_id(fingerprint) == store.weights_id(other)


def built_for(corpus: SearchableCorpus, model: lit_model.Model) -> bool:
  return same_weights(corpus_fingerprint(corpus), model_fingerprint(model))


def unwrap(model: lit_model.Model) -> lit_model.Model:
  """The innermost model under LIT's wrappers (CachingModelWrapper, our serialising lock)."""
  seen = 0
  while isinstance(model, lit_model.ModelWrapper) and seen < 16:
    model = model.wrapped
    seen += 1
  return model


def layer_count(model: lit_model.Model) -> int:
  """L: the model's `num_layers`, else the number of `layer_{l}/attention` output fields."""
  base = unwrap(model)
  num_layers = getattr(base, "num_layers", None)
  if isinstance(num_layers, int):
    return num_layers
  spec = model.output_spec()
  per_layer = [fields_lib.parse_layer_field(key) for key in spec]
  return sum(1 for parsed in per_layer if parsed and parsed[1] == fields_lib.ATTENTION)


def is_causal(model: lit_model.Model) -> bool:
  return bool(getattr(unwrap(model), "is_causal", False))


def model_label(model: lit_model.Model) -> str:
  return str(getattr(unwrap(model), "name", type(unwrap(model)).__name__))


def model_fingerprint(model: lit_model.Model) -> Optional[str]:
  fingerprint = getattr(unwrap(model), "fingerprint", None)
  return fingerprint() if callable(fingerprint) else None


def parse_config(model: lit_model.Model, config: Optional[lit_types.JsonDict],
                 num_tokens: int) -> search_config.SearchConfig:
  """A request's config checked against the model's layers and heads and a sentence of
  `num_tokens` word-pieces (one-line ValueError otherwise)."""
  num_heads = int(getattr(unwrap(model), "num_heads", 0) or 0)
  return search_config.parse_search_config(
      config, num_layers=layer_count(model), num_heads=num_heads or 1_000_000,
      num_tokens=num_tokens)


class CorpusSearch(lit_components.Interpreter):
  """Nearest tokens in an annotated corpus, with label histograms (the exBERT corpus view)."""

  def __init__(self, corpora: Optional[Mapping[str, SearchableCorpus]] = None):
    """Args: corpora: name -> an open corpus index; more can be added with `add_corpus`."""
    self._corpora: dict[str, SearchableCorpus] = {}
    self._locks: dict[str, threading.Lock] = {}
    for name, corpus in (corpora or {}).items():
      self.add_corpus(name, corpus)

  def add_corpus(self, name: str, corpus: SearchableCorpus) -> None:
    self._corpora[name] = corpus
    # Searches on one index are serialised: faiss reads are thread-safe, but the index's own
    # lazily loaded parts need not be, and one search takes milliseconds.
    self._locks[name] = threading.Lock()

  @property
  def corpora(self) -> Mapping[str, SearchableCorpus]:
    return dict(self._corpora)

  def description(self) -> str:
    return ("exBERT corpus search: the corpus tokens whose embedding (or attention context over "
            "chosen heads) is most similar to the selected token's, with histograms of their "
            "linguistic labels and of the tokens they attend to.")

  def is_compatible(self, model: lit_model.Model, dataset: lit_dataset.Dataset) -> bool:
    del dataset  # any dataset the model accepts
    spec = model.output_spec()
    return ("tokens" in spec and isinstance(spec.get(fields_lib.context_emb(1)),
                                            lit_types.TokenEmbeddings)
            and isinstance(spec.get(fields_lib.token_emb(0)), lit_types.TokenEmbeddings))

  def config_spec(self) -> lit_types.Spec:
    return {
        "position": lit_types.Scalar(min_val=0, max_val=4096, default=0, step=1),
        "layer": lit_types.Scalar(min_val=0, max_val=128, default=1, step=1, required=False),
        "kind": lit_types.CategoryLabel(vocab=list(search_config.KINDS), required=False),
        "heads": lit_types.SparseMultilabel(required=False),
        "k": lit_types.Scalar(min_val=1, max_val=search_config.MAX_K,
                              default=search_config.DEFAULT_K, step=1, required=False),
        "offsets": lit_types.SparseMultilabel(required=False),
        "corpus": lit_types.CategoryLabel(vocab=sorted(self._corpora), required=False),
    }

  def meta_spec(self) -> lit_types.Spec:
    return {}  # JSON results read by the exBERT corpus view only

  def corpus_for(self, model: lit_model.Model, name: Optional[str]) -> tuple[str, SearchableCorpus]:
    """The named corpus, or the one built for this model; a one-line error otherwise."""
    label = model_label(model)
    fingerprint = model_fingerprint(model)
    if name is not None:
      if name not in self._corpora:
        loaded = ", ".join(sorted(self._corpora)) or "none"
        raise ExbertError(f"unknown corpus {name!r}; loaded corpora: {loaded}")
      corpus = self._corpora[name]
      if fingerprint is not None and not built_for(corpus, model):
        raise ExbertError(f"corpus {name!r} was built with model {corpus.model_name!r}, "
                         f"not {label!r}: index the corpus with this model")
      return name, corpus
    for corpus_name, corpus in self._corpora.items():
      if built_for(corpus, model):
        return corpus_name, corpus
    raise ExbertError(f"no corpus index for model {label!r}: build one with "
                     f"`exbert-lit index --model {label} ...` and pass it with --corpus")

  def run(self, inputs: Sequence[lit_types.JsonDict], model: lit_model.Model,
          dataset: lit_dataset.Dataset,
          model_outputs: Optional[Sequence[lit_types.JsonDict]] = None,
          config: Optional[lit_types.JsonDict] = None) -> list[result_lib.SearchResult]:
    del dataset
    if not inputs:
      return []
    if model_outputs is None:
      model_outputs = list(model.predict(inputs))
    results = []
    for output in model_outputs:
      tokens = output.get("tokens")
      if tokens is None:
        raise ExbertError("the model's outputs have no 'tokens' field")
      cfg = parse_config(model, config, num_tokens=len(tokens))
      name, corpus = self.corpus_for(model, cfg.corpus)
      vectors = output.get(cfg.field)
      if vectors is None:
        raise ExbertError(f"the model's outputs have no {cfg.field!r} field")
      vector = np.asarray(vectors, dtype=np.float32)[cfg.position]
      with self._locks[name]:
        results.append(corpus.search(
            vector, layer=cfg.layer, kind=cfg.kind,
            heads=list(cfg.heads) if cfg.heads else None, k=cfg.k, offsets=list(cfg.offsets)))
    return results
