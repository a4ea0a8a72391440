"""Builds (or resumes building) a corpus store (see store.py): annotate, choose and train the
indexes, run the model over the shards, merge.

The jobs live in their own modules; this one runs them in order and checks that a resumed build
has the settings it started with:
  stages.py     the resumable stages in DIR/_build (annotation, index choice, training, shards)
  engine.py     what runs the shards (the ShardEngine protocol; local here, Ray in ray_engine)
  finish.py     merging the shards into the store, manifest.json last
  vectors.py    the normalised vectors and attention summaries a store keeps
  factories.py  which faiss index by corpus size
  manifest.py   the manifest's fields, typed
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import time
from typing import Callable, Optional

from exbert_lit.corpus import engine as engine_lib
from exbert_lit.corpus import factories
from exbert_lit.corpus import finish as finish_lib
from exbert_lit.corpus import stages
from exbert_lit.corpus import store
# Re-exported: the names callers know this module by (commands, analysis, bench, tests).
from exbert_lit.corpus.engine import ShardEngine  # pylint: disable=unused-import
from exbert_lit.corpus.engine import run_shards_locally
from exbert_lit.corpus.factories import default_factory  # pylint: disable=unused-import
from exbert_lit.corpus.factories import EXACT_MAX_VECTORS  # pylint: disable=unused-import
from exbert_lit.corpus.factories import train_size  # pylint: disable=unused-import
from exbert_lit.corpus.stages import BuildConfig
from exbert_lit.corpus.stages import length_batches  # pylint: disable=unused-import
from exbert_lit.corpus.stages import select_sentences  # pylint: disable=unused-import
from exbert_lit.corpus.stages import shard_dir
from exbert_lit.corpus.stages import shard_ranges
from exbert_lit.corpus.vectors import normalize_heads  # pylint: disable=unused-import
from exbert_lit.corpus.vectors import normalize_rows  # pylint: disable=unused-import
from exbert_lit.corpus.vectors import summarize_attention  # pylint: disable=unused-import

log = logging.getLogger(__name__)


def build(model, corpus: str, out_dir: str | os.PathLike, config: BuildConfig = BuildConfig(),
          *, progress: bool = True,
          after_shard: Optional[Callable[[int], None]] = None,
          engine: Optional[engine_lib.ShardEngine] = None) -> dict:
  """Builds (or resumes building) the store for `corpus` with `model` in `out_dir`.

  Args:
    model: a LanguageModel (exbert_lit/models/api.py).
    corpus: "brown" or a UTF-8 text file path.
    after_shard: called with the shard number after each shard is written (tests inject
      failures here).
    engine: runs the pending shards (engine.ShardEngine), and the annotation if it is an
      engine.AnnotatingEngine; default: both locally, in order.
  Returns the manifest as written to manifest.json (manifest.Manifest.to_json; store.read_info
  reads it back typed).
  """
  out = pathlib.Path(out_dir)
  work = out / "_build"
  if (out / store.MANIFEST).exists():
    raise store.StoreError(f"{out} already holds a finished corpus index; choose another --out")
  if out.exists() and any(out.iterdir()) and not work.is_dir():
    raise store.StoreError(f"{out} is not empty and is not an unfinished corpus index")
  work.mkdir(parents=True, exist_ok=True)
  run = {"model": model.fingerprint(), "corpus": corpus, "config": config.resumable_part()}
  run_path = work / "run.json"
  if run_path.is_file():
    before = json.loads(run_path.read_text(encoding="utf-8"))
    if before != run:
      diff = _first_difference(before, run)
      raise store.StoreError(f"{out} holds an unfinished build with other settings ({diff}); "
                             f"rerun it as before or choose another --out")
    log.info("resuming the unfinished build in %s", out)
  else:
    store.write_json_atomic(run_path, run)

  if config.index_type:  # a bad factory fails now, not after annotating the corpus
    for dim in (model.hidden_size, model.num_heads * model.head_dim):
      factories.make_index(config.index_type, dim)
  sentences = stages.annotate_stage(work, corpus, config, engine)
  choice = stages.index_stage(work, model, sentences, config)
  templates = stages.train_stage(work, model, sentences, config, choice)
  ranges = shard_ranges(len(sentences), config.shard_size)
  (work / "shards").mkdir(exist_ok=True)
  pending = [(i, a, b) for i, (a, b) in enumerate(ranges) if not shard_dir(work, i).is_dir()]
  sizes = {i: b - a for i, a, b in pending}
  bar = _progress_bar(len(sentences), len(sentences) - sum(sizes.values()), progress)
  tokens, started = 0, time.perf_counter()
  try:
    for i, shard_tokens in (engine or run_shards_locally)(work, model, sentences, pending,
                                                           templates, config):
      tokens += shard_tokens
      if bar is not None:
        bar.update(sizes[i])
        bar.set_postfix_str(f"{tokens / (time.perf_counter() - started):.0f} tok/s")
      if after_shard is not None:
        after_shard(i)
  finally:
    if bar is not None:
      bar.close()
  if pending:
    seconds = time.perf_counter() - started
    log.info("indexed %d shards, %d tokens in %.1f s (%.0f tokens/s)", len(pending), tokens,
             seconds, tokens / max(seconds, 1e-9))
  manifest = finish_lib.finish(out, work, model, sentences, config, choice, len(ranges), corpus,
                               list(templates))
  return manifest.to_json()


def _first_difference(before: dict, now: dict, prefix: str = "") -> str:
  for key in sorted(set(before) | set(now)):
    a, b = before.get(key), now.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      if a != b:
        return _first_difference(a, b, f"{prefix}{key}.")
    elif a != b:
      return f"{prefix}{key} was {a!r}, now {b!r}"
  return "unknown"


def _progress_bar(total: int, initial: int, enabled: bool):
  if not enabled:
    return None
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, initial=initial, unit="sent", desc="indexing", smoothing=0.1)
