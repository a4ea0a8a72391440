"""The corpus store an analysis needs: reused from the cache when it exists, else built.

Stores are keyed by model weights, corpus and size, so two demos on the same model and corpus
share one store, and a demo run with another model never opens a store of the wrong model.
Building uses exbert_lit.corpus.build (progress bar, resumable: a killed demo continues its
store on the next run).
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
