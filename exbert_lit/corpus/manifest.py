"""The manifest of a corpus store, typed: what the build writes (finish.py, through
`Manifest.to_json`) and what search reads back (store.read_info, CorpusIndex.info).

On disk it is manifest.json, a JSON object whose layout is format version 1 (unchanged by this
module: `to_json` writes the keys the first builds wrote, `from_json` reads every store written
since, including hand-made minimal ones that have only what search needs):

  format, format_version, created
  model      name, fingerprint, is_causal, num_layers (L), num_heads (H), head_dim, hidden_size
  spacy      the pipeline's name and version (free-form, from annotate.pipeline_info)
  corpus     source, max_sentences, max_words
  layers     kind -> the layers indexed (embedding 0..L, context 1..L)
  dims       kind -> vector size (embedding D, context H*dh)
  counts     sentences, tokens, annotated_sentences, skipped_sentences
  index      factory, metric, search_params, normalisation
  attention  top_k, mean_argmax
  build      batch_size, shard_size

Required when reading: format, format_version, model, counts, dims, index, attention.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

from exbert_lit.errors import ExbertError
from exbert_lit.notation import KINDS

FORMAT = "exbert-lit-corpus"
FORMAT_VERSION = 1
REQUIRED = ("model", "counts", "dims", "index", "attention")
NORMALISATION = {"embedding": "L2 per vector", "context": "L2 per head"}
MEAN_ARGMAX = "argmax of the mean over all heads"
_TYPE_NAMES = {int: "a whole number", str: "a string", bool: "true or false", dict: "an object"}


class ManifestError(ExbertError):
  """A manifest field is missing or of the wrong type (store.read_info names the file)."""


def layers_of(kind: str, num_layers: int) -> list[int]:
  """E(l) exists for l = 0..L, C(l) for l = 1..L."""
  return list(range(0 if kind == "embedding" else 1, num_layers + 1))


def _field(data: dict, key: str, kind: type, where: str, default: Any = dataclasses.MISSING):
  """data[key] checked to be a `kind` (bool is no int here); `default` if absent and given."""
  if not isinstance(data, dict):
    raise ManifestError(f"{where.rstrip('.') or 'the manifest'} is not an object")
  if key not in data:
    if default is dataclasses.MISSING:
      raise ManifestError(f"no {where + key!r} field")
    return default
  value = data[key]
  if value is None and default is None:   # an optional field written as null
    return None
  wrong_bool = kind is int and isinstance(value, bool)
  if not isinstance(value, kind) or wrong_bool:
    raise ManifestError(f"{where + key!r} is {value!r}, not {_TYPE_NAMES[kind]}")
  return value


@dataclasses.dataclass(frozen=True)
class ModelInfo:
  """The model a store was built with; opening it with another model fails (store.check_model)."""
  name: str
  fingerprint: str          # 'name@sha256:...' (models/fingerprint.py)
  is_causal: bool
  num_layers: int           # L
  num_heads: int            # H
  head_dim: int             # dh
  hidden_size: int          # D

  @classmethod
  def from_json(cls, data: dict, dims: dict[str, int]) -> "ModelInfo":
    w = "model."
    num_heads = _field(data, "num_heads", int, w)
    return cls(name=_field(data, "name", str, w), fingerprint=_field(data, "fingerprint", str, w),
               is_causal=_field(data, "is_causal", bool, w),
               num_layers=_field(data, "num_layers", int, w), num_heads=num_heads,
               head_dim=_field(data, "head_dim", int, w, dims["context"] // num_heads),
               hidden_size=_field(data, "hidden_size", int, w, dims["embedding"]))


@dataclasses.dataclass(frozen=True)
class Counts:
  sentences: int                          # S, sentences stored
  tokens: int                             # N, word-pieces stored (rows of the token table)
  annotated_sentences: Optional[int] = None   # spaCy's sentences the build selected
  skipped_sentences: Optional[int] = None     # of those, refused by the model (too long)


@dataclasses.dataclass(frozen=True)
class IndexInfo:
  factory: str                            # faiss factory string, e.g. "Flat"
  search_params: str = ""                 # faiss ParameterSpace string, e.g. "k_factor_rf=12"
  metric: str = "inner_product"
  normalisation: dict[str, str] = dataclasses.field(default_factory=lambda: dict(NORMALISATION))


@dataclasses.dataclass(frozen=True)
class CorpusInfo:
  source: str                             # "brown" or the file path as given
  max_sentences: Optional[int]
  max_words: int


@dataclasses.dataclass(frozen=True)
class Manifest:
  """A store's manifest.json, typed. `to_json` gives the on-disk object."""
  model: ModelInfo
  dims: dict[str, int]                    # kind -> vector size
  counts: Counts
  index: IndexInfo
  attention_top_k: int                    # K of attention/top_pos.npy
  layers: dict[str, list[int]]            # kind -> layers indexed
  created: Optional[str] = None           # ISO time, UTC
  spacy: Optional[dict[str, Any]] = None  # pipeline name, version, ...
  corpus: Optional[CorpusInfo] = None
  build: Optional[dict[str, int]] = None  # batch_size, shard_size
  format_version: int = FORMAT_VERSION

  def to_json(self) -> dict[str, Any]:
    """The manifest.json object, keys in the order builds have always written them; fields a
    minimal manifest lacked stay absent."""
    out: dict[str, Any] = {"format": FORMAT, "format_version": self.format_version}
    if self.created is not None:
      out["created"] = self.created
    out["model"] = dataclasses.asdict(self.model)
    if self.spacy is not None:
      out["spacy"] = dict(self.spacy)
    if self.corpus is not None:
      out["corpus"] = dataclasses.asdict(self.corpus)
    out["layers"] = {kind: list(layers) for kind, layers in self.layers.items()}
    out["dims"] = dict(self.dims)
    out["counts"] = {k: v for k, v in dataclasses.asdict(self.counts).items() if v is not None}
    out["index"] = dataclasses.asdict(self.index)
    out["attention"] = {"top_k": self.attention_top_k, "mean_argmax": MEAN_ARGMAX}
    if self.build is not None:
      out["build"] = dict(self.build)
    return out

  @classmethod
  def from_json(cls, data: Any) -> "Manifest":
    """The typed manifest of a manifest.json object whose format and version are checked
    (store.read_info); ManifestError naming the first missing or mistyped field."""
    for key in REQUIRED:
      _field(data, key, dict, "")
    dims = {kind: _field(data["dims"], kind, int, "dims.") for kind in KINDS}
    model = ModelInfo.from_json(data["model"], dims)
    c = data["counts"]
    counts = Counts(sentences=_field(c, "sentences", int, "counts."),
                    tokens=_field(c, "tokens", int, "counts."),
                    annotated_sentences=_field(c, "annotated_sentences", int, "counts.", None),
                    skipped_sentences=_field(c, "skipped_sentences", int, "counts.", None))
    i = data["index"]
    index = IndexInfo(factory=_field(i, "factory", str, "index."),
                      search_params=_field(i, "search_params", str, "index.", ""),
                      metric=_field(i, "metric", str, "index.", "inner_product"),
                      normalisation=_field(i, "normalisation", dict, "index.",
                                           dict(NORMALISATION)))
    corpus = None
    if "corpus" in data:
      corpus = CorpusInfo(source=_field(data["corpus"], "source", str, "corpus."),
                          max_sentences=_field(data["corpus"], "max_sentences", int, "corpus.",
                                               None),
                          max_words=_field(data["corpus"], "max_words", int, "corpus."))
    layers = _field(data, "layers", dict, "", None) or {
        kind: layers_of(kind, model.num_layers) for kind in KINDS}
    return cls(model=model, dims=dims, counts=counts, index=index,
               attention_top_k=_field(data["attention"], "top_k", int, "attention."),
               layers=layers, created=_field(data, "created", str, "", None),
               spacy=_field(data, "spacy", dict, "", None), corpus=corpus,
               build=_field(data, "build", dict, "", None),
               format_version=_field(data, "format_version", int, ""))
