"""The corpus store an analysis needs: reused from the cache when it exists, else built.

Stores are keyed by model weights, corpus and size, so two demos on the same model and corpus
share one store, and a demo run with another model never opens a store of the wrong model.
Building uses exbert_lit.corpus.build (progress bar, resumable: a killed demo continues its
store on the next run). `finished_stores` lists the cached stores of a model and corpus (a demo
opens the largest), and a `StoreHandle` lets a server switch to a larger store once one is built.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from typing import Optional

from exbert_lit.corpus import build as build_lib
from exbert_lit.corpus import search as search_lib
from exbert_lit.corpus import sources
from exbert_lit.corpus import store


def slug(text: str, max_len: int = 40) -> str:
  """A file-name-safe form of a model name, path or corpus: 'bert-base-cased' stays,
  '/data/my corpus.txt' -> 'data-my-corpus-txt'."""
  out = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
  out = re.sub(r"\.+", "-", out)
  return (out or "x")[-max_len:].strip("-")


def store_name(model_name: str, weights_hash: str, corpus: str,
               max_sentences: Optional[int]) -> str:
  """Directory name of a cached store: '<model>-<8 hex of weights>-<corpus>-<n|all>'."""
  size = "all" if max_sentences is None else str(int(max_sentences))
  return f"{slug(model_name)}-{weights_hash[-8:]}-{slug(corpus)}-{size}"


# Disk budget of a demo's default store, and the Brown corpus' mean word-pieces per sentence
# (27.4 with MiniLM's WordPiece on the first 200 sentences).
DEFAULT_STORE_BYTES = 2 * 2**30
PIECES_PER_SENTENCE = 27


def store_bytes_per_token(num_layers: int, hidden_size: int, num_heads: int, head_dim: int,
                          attention_top_k: int = 3) -> int:
  """Bytes a store spends per token: float32 E(0..L) and C(1..L) in exact indexes, plus the
  kept attention positions (int16) and weights (float16)."""
  vectors = (num_layers + 1) * hidden_size + num_layers * num_heads * head_dim
  return 4 * vectors + 4 * num_layers * num_heads * attention_top_k


def default_max_sentences(model, budget: int = DEFAULT_STORE_BYTES, cap: int = 2000,
                          floor: int = 200) -> int:
  """How many corpus sentences a demo indexes by default: as many as fit in `budget` bytes
  (rounded down to hundreds), between `floor` and `cap`. MiniLM gets 2000, SmolLM2-135M 500,
  BERT-base and GPT-2 1000; indexing time grows about as the store does."""
  per_sentence = PIECES_PER_SENTENCE * store_bytes_per_token(
      model.num_layers, model.hidden_size, model.num_heads, model.head_dim)
  return max(floor, min(cap, budget // per_sentence // 100 * 100))


def default_store_dir(model, corpus: str, max_sentences: Optional[int],
                      cache: Optional[os.PathLike] = None) -> pathlib.Path:
  """<cache>/stores/<store_name>; cache defaults to $EXBERT_LIT_CACHE or ~/.cache/exbert-lit."""
  corpus_key = corpus if corpus == "brown" else str(pathlib.Path(corpus).resolve())
  weights = store.weights_id(model.fingerprint()).replace("sha256:", "")
  root = pathlib.Path(cache) if cache is not None else sources.cache_root()
  return root / "stores" / store_name(model.name, weights, corpus_key, max_sentences)


def store_prefix(model, corpus: str) -> str:
  """The part of the store name every size of (model, corpus) shares: '<model>-<hash>-<corpus>-'."""
  one = default_store_dir(model, corpus, 1).name
  return one[:-1]                                  # store_name ends with the size, here "1"


def ensure_store(model, corpus: str = "brown", max_sentences: Optional[int] = 2000, *,
                 directory: Optional[os.PathLike] = None, progress: bool = True,
                 config: Optional[build_lib.BuildConfig] = None,
                 cache: Optional[os.PathLike] = None) -> search_lib.CorpusIndex:
  """Opens the store for (model, corpus, max_sentences), building or resuming it first if needed.

  Args:
    model: a LanguageModel (exbert_lit.models.load_model(...)).
    corpus: "brown" or a UTF-8 text file.
    max_sentences: first N sentences of the corpus (None = all).
    directory: where the store lives (default: default_store_dir(...)). An existing finished
      store there is opened as it is (and must have been built with `model`).
    config: build settings (max_sentences is overridden by the argument). A store already
      cached for (model, corpus, max_sentences) is reused whatever its index type: every type
      ranks by the same cosine, exactly or to its precision.
    cache: cache root for the default directory (default $EXBERT_LIT_CACHE or ~/.cache/exbert-lit).
  """
  path = (pathlib.Path(directory) if directory
          else default_store_dir(model, corpus, max_sentences, cache))
  if not (path / store.MANIFEST).is_file():
    config = dataclasses.replace(config or build_lib.BuildConfig(), max_sentences=max_sentences)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = "all" if max_sentences is None else f"{max_sentences:,}"
    print(f"indexing {size} sentences of {corpus} with {model.name} into {path} "
          "(once; an interrupted run resumes)", flush=True)
    build_lib.build(model, corpus, path, config, progress=progress)
  return search_lib.CorpusIndex.open(path, model)


def sentence_count(directory: os.PathLike) -> Optional[int]:
  """Sentences of a finished store (its manifest's count, read by store.read_manifest), or None
  if it is not a finished store."""
  try:
    return int(store.read_manifest(pathlib.Path(directory))["counts"]["sentences"])
  except store.StoreError:
    return None


@dataclasses.dataclass(frozen=True)
class FinishedStore:
  requested: Optional[int]   # the sentence limit it was built with (None: the whole corpus)
  sentences: int             # sentences it holds (fewer when some were too long to index)
  path: pathlib.Path


def finished_stores(model, corpus: str = "brown",
                    cache: Optional[os.PathLike] = None) -> list[FinishedStore]:
  """Every finished cached store of (model, corpus), smallest limit first (the whole corpus
  last). Unfinished builds (no manifest yet) are left out."""
  root = default_store_dir(model, corpus, 1, cache).parent
  prefix = store_prefix(model, corpus)
  found = []
  if root.is_dir():
    for path in root.iterdir():
      size = path.name[len(prefix):]
      if path.name.startswith(prefix) and (size == "all" or size.isdigit()):
        count = sentence_count(path)
        if count is not None:
          found.append(FinishedStore(None if size == "all" else int(size), count, path))
  return sorted(found, key=lambda f: (f.requested is None, f.requested or 0, f.sentences))


class StoreHandle:
  """An open store that can be swapped for a larger one while a server searches it.

  The corpus-search interpreter, head grid and probe hold this handle where they would hold a
  CorpusIndex: every attribute (manifest, table, search, faiss_index, directory, ...) is the
  current store's, looked up at each use, so a request that started on the old store finishes
  on it and the next one reads the new. `switch` refuses a store of other weights.
  """

  def __init__(self, index: search_lib.CorpusIndex):
    self._index = index

  @property
  def current(self) -> search_lib.CorpusIndex:
    return self._index

  def switch(self, index: search_lib.CorpusIndex) -> None:
    old = self._index.manifest.get("model", {}).get("fingerprint", "")
    new = index.manifest.get("model", {}).get("fingerprint", "")
    if store.weights_id(old) != store.weights_id(new):
      raise store.StoreError(f"{index.directory} was built with model {index.model_name!r}, "
                             f"not with the weights of {self._index.model_name!r}")
    self._index = index       # one reference assignment: atomic for the server's threads

  def __getattr__(self, name: str):
    # Only called for names this class does not define: the store's own attributes.
    return getattr(self.__dict__["_index"], name)

  def __repr__(self) -> str:
    return f"StoreHandle({self._index.directory})"
