"""The last step of a build: merge the shards of DIR/_build into the store's files (store.py's
layout), write manifest.json last (a store without it is unfinished) and remove _build.

Shards are read by number, whichever engine wrote them. A finish that is killed is rerun by the
next build: an index already moved into place is not moved again.
"""
from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil
from typing import Optional, Sequence

import numpy as np

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import faiss_tools
from exbert_lit.corpus import manifest as manifest_lib
from exbert_lit.corpus import stages
from exbert_lit.corpus import store


def merge_indexes(paths: list[pathlib.Path], ivfdata: Optional[pathlib.Path] = None):
  """One index holding the shards' vectors in order (ids 0..N-1).

  An IVF index (at the top level) is merged into on-disk inverted lists in `ivfdata` (faiss
  contrib's merge_ondisk): the lists of a store larger than RAM are then read from disk as
  searches need them. The index file refers to them by name in its own directory.
  """
  import faiss  # pylint: disable=g-import-not-at-top
  merged = faiss.read_index(str(paths[0]))
  if ivfdata is not None and isinstance(faiss.downcast_index(merged), faiss.IndexIVF):
    from faiss.contrib import ondisk  # pylint: disable=g-import-not-at-top
    merged.reset()   # trained and empty, as merge_ondisk wants it
    ondisk.merge_ondisk(merged, [str(p) for p in paths], str(ivfdata), shift_ids=True)
    return merged
  for path in paths[1:]:
    faiss_tools.merge_into(merged, faiss.read_index(str(path)))
  return merged


def _merge_tokens(out: pathlib.Path, shard_dirs: Sequence[pathlib.Path], sentences
                  ) -> tuple[int, int]:
  """Writes the token table, attention summaries, vocabulary and sentences of all shards.
  Returns (sentences kept, tokens)."""
  vocab: dict[str, int] = {}

  def codes(values):
    return np.asarray([-1 if v is None else vocab.setdefault(v, len(vocab)) for v in values],
                      dtype=np.int32)

  columns: dict[str, list[np.ndarray]] = {}
  kept, lengths = [], []
  for d in shard_dirs:
    rows = json.loads((d / "tokens.json").read_text(encoding="utf-8"))
    for column in store.TEXT_COLUMNS:
      columns.setdefault(column, []).append(codes(rows[column]))
    for column in stages.TOKEN_INT_COLUMNS:
      columns.setdefault(column, []).append(store.load_array(d / f"{column}.npy", mmap=False))
    kept.append(store.load_array(d / "kept.npy", mmap=False))
    lengths.append(store.load_array(d / "lengths.npy", mmap=False))
  kept_all, lengths_all = np.concatenate(kept), np.concatenate(lengths)
  sentence_start = np.concatenate([[0], np.cumsum(lengths_all)]).astype(np.int64)
  for column, parts in columns.items():
    store.save_array(out / "tokens" / f"{column}.npy", np.concatenate(parts))
  store.save_array(out / "tokens" / "sentence_id.npy",
                   np.repeat(np.arange(len(lengths_all), dtype=np.int32), lengths_all))
  store.save_array(out / "tokens" / "sentence_start.npy", sentence_start)
  for name in ("top_pos", "top_weight", "mean_argmax"):
    store.save_array(out / "attention" / f"{name}.npy",
                     np.concatenate([store.load_array(d / f"{name}.npy", mmap=False)
                                     for d in shard_dirs]))
  store.write_json_atomic(out / "vocab.json", list(vocab))
  stages.write_jsonl_atomic(out / "sentences.jsonl", (
      {"id": i, "text": sentences[int(k)].text,
       **({"meta": sentences[int(k)].meta} if sentences[int(k)].meta else {})}
      for i, k in enumerate(kept_all)))
  return int(len(lengths_all)), int(sentence_start[-1])


def _merge_index_files(out: pathlib.Path, shard_dirs: Sequence[pathlib.Path], keys) -> None:
  """index/<kind>_<layer>.faiss for every key: moved from the one shard, or merged."""
  import faiss  # pylint: disable=g-import-not-at-top
  (out / "index").mkdir(exist_ok=True)
  for key in keys:
    target = out / "index" / store.index_filename(*key)
    if len(shard_dirs) == 1:  # nothing to merge: move, don't rewrite
      source = shard_dirs[0] / store.index_filename(*key)
      if source.is_file() or not target.is_file():  # (a resumed finish moved it already)
        os.replace(source, target)
      continue
    merged = merge_indexes([d / store.index_filename(*key) for d in shard_dirs],
                           ivfdata=store.ondisk_lists_path(target))
    faiss.write_index(merged, str(target))
    del merged


def finish(out: pathlib.Path, work: pathlib.Path, model, sentences,
           config: stages.BuildConfig, choice: stages.IndexChoice, n_shards: int, corpus: str,
           keys) -> manifest_lib.Manifest:
  """Merges the `n_shards` shards of `work` into the store `out`, writes its manifest and
  removes `work`. Returns the manifest."""
  shard_dirs = [stages.shard_dir(work, i) for i in range(n_shards)]
  n_sentences, n_tokens = _merge_tokens(out, shard_dirs, sentences)
  _merge_index_files(out, shard_dirs, keys)
  nlp = annotate_lib.load_tokenizer(config.spacy_pipeline)   # its meta is all this reads
  manifest = manifest_lib.Manifest(
      format_version=store.FORMAT_VERSION,
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      model=manifest_lib.ModelInfo(
          name=model.name, fingerprint=model.fingerprint(), is_causal=bool(model.is_causal),
          num_layers=model.num_layers, num_heads=model.num_heads, head_dim=model.head_dim,
          hidden_size=model.hidden_size),
      spacy=dict(annotate_lib.pipeline_info(nlp), name=config.spacy_pipeline),
      corpus=manifest_lib.CorpusInfo(source=corpus, max_sentences=config.max_sentences,
                                     max_words=config.max_words),
      layers={kind: store.layers_of(kind, model.num_layers) for kind in store.KINDS},
      dims=dict(choice.dims),
      counts=manifest_lib.Counts(sentences=n_sentences, tokens=n_tokens,
                                 annotated_sentences=len(sentences),
                                 skipped_sentences=len(sentences) - n_sentences),
      index=manifest_lib.IndexInfo(factory=choice.factory, search_params=choice.search_params),
      attention_top_k=config.attention_top_k,
      build={"batch_size": config.batch_size, "shard_size": config.shard_size})
  store.write_json_atomic(out / store.MANIFEST, manifest.to_json())
  shutil.rmtree(work)
  return manifest
