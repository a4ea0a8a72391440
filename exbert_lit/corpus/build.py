"""Builds (or resumes building) a corpus store (see store.py): annotate, choose and train the
indexes, run the model over the shards, merge.

The jobs live in their own modules; this one runs them in order and checks that a resumed build
has the settings it started with:
  stages.py     the resumable stages in DIR/_build (annotation, index choice, training, shards)
  engine.py     what runs the shards (the ShardEngine protocol; local here, Ray in ray_engine)
  annotator.py  spaCy in its own process beside the model (local builds of sentence-per-line
                corpora: _build_beside_annotation)
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
import shutil
import time
from typing import Any, Callable, Optional

from exbert_lit.corpus import annotator
from exbert_lit.corpus import engine as engine_lib
from exbert_lit.corpus import factories
from exbert_lit.corpus import finish as finish_lib
from exbert_lit.corpus import readers
from exbert_lit.corpus import sources
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
from exbert_lit.errors import ExbertError

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
  staged = None   # (annotated sentences, index choice, trained templates), shards written
  if (engine is None and not (work / "sentences.jsonl").is_file()
      and os.environ.get("EXBERT_SPACY_BESIDE", "1") != "0"):   # "0": annotate first (A/B)
    if not _needs_split(corpus, config):   # else spaCy must split the records first
      try:
        with annotator.BackgroundAnnotation(corpus, config) as background:
          source = sources.open_corpus(corpus, config.corpus_format, config.text_field)
          words = stages.select_words(source, config)  # while the spaCy process starts
          staged = _build_beside_annotation(work, model, corpus, config, words, background,
                                            progress, after_shard)
      except _WordsDiffer as e:
        log.warning("%s; annotating first, then running the model", e)
        (work / "index.json").unlink(missing_ok=True)
        for name in ("trained", "shards"):
          shutil.rmtree(work / name, ignore_errors=True)
  if staged is None:
    sentences = stages.annotate_stage(work, corpus, config, engine)
    choice = stages.index_stage(work, model, sentences, config)
    templates = stages.train_stage(work, model, sentences, config, choice)
    _run_shards(work, len(sentences), config, progress, after_shard,
                lambda pending: (engine or run_shards_locally)(work, model, sentences, pending,
                                                               templates, config))
    staged = sentences, choice, templates
  sentences, choice, templates = staged
  ranges = shard_ranges(len(sentences), config.shard_size)
  manifest = finish_lib.finish(out, work, model, sentences, config, choice, len(ranges), corpus,
                               list(templates))
  return manifest.to_json()


def _needs_split(corpus: str, config: BuildConfig) -> bool:
  """Whether spaCy must split the corpus's records into sentences (readers.SPLIT), from its
  format alone (a hf: dataset always: it is not opened twice to ask)."""
  if corpus.startswith(readers.HF_PREFIX):
    return True
  fmt = sources.check_corpus(corpus, config.corpus_format, config.text_field)
  return fmt != "brown" and readers.SPLIT[fmt]


class _WordsDiffer(Exception):
  """The tokenizer's sentences differ from the annotated ones (not expected: the pipeline's
  components do not retokenise); the build then annotates first."""


def _build_beside_annotation(work: pathlib.Path, model, corpus: str, config: BuildConfig,
                             words: list, background: annotator.BackgroundAnnotation,
                             progress: bool, after_shard) -> tuple[list, Any, dict]:
  """The stages with spaCy in its own process (annotator.py) while the model runs: the index
  choice, training and every shard's forward use `words` (the tokenizer's sentences: the same
  texts and word counts the annotation gives); a shard is written once its labels are in.
  Writes sentences.jsonl as annotate_stage does and returns the annotated sentences, the index
  choice and the trained templates."""
  if not words:
    raise ExbertError(f"corpus {corpus!r} has no sentences")

  def check(annotated, a: int) -> None:
    for j, (got, want) in enumerate(zip(annotated, words[a:a + len(annotated)])):
      if (got.text, [tuple(s) for s in got.spans], got.meta) != \
         (want.text, [tuple(s) for s in want.spans], want.meta):
        raise _WordsDiffer(f"sentence {a + j}: spaCy's tokenizer alone gave {want.text!r}, "
                           f"the pipeline {got.text!r}")

  waited = [0.0, 0.0]   # seconds the shard writer, then the build's end, waited for spaCy

  def labels(a: int, b: int):
    started = time.perf_counter()
    annotated = background.take(b)[a:b]
    waited[0] += time.perf_counter() - started
    if len(annotated) != b - a:
      raise _WordsDiffer(f"spaCy's tokenizer alone kept {len(words)} sentences, the pipeline "
                         f"{a + len(annotated)}")
    check(annotated, a)
    return annotated

  choice = stages.index_stage(work, model, words, config)
  templates = stages.train_stage(work, model, words, config, choice)
  _run_shards(work, len(words), config, progress, after_shard,
              lambda pending: engine_lib.run_shards_beside_annotation(
                  work, model, words, pending, templates, config, labels))
  started = time.perf_counter()
  sentences = background.take()
  waited[1] = time.perf_counter() - started
  log.info("waited for spaCy's labels: %.1f s in the shard writer (beside the model's next "
           "shard), %.1f s after the last shard", *waited)
  check(sentences, 0)
  if len(sentences) != len(words):
    raise _WordsDiffer(f"spaCy's tokenizer alone kept {len(words)} sentences, the pipeline "
                       f"{len(sentences)}")
  if background.skipped:
    log.info("skipped %d sentences longer than %d words", background.skipped, config.max_words)
  stages.write_jsonl_atomic(work / "sentences.jsonl", (s.to_json() for s in sentences))
  return sentences, choice, templates


def _run_shards(work: pathlib.Path, n_sentences: int, config: BuildConfig, progress: bool,
                after_shard, run) -> None:
  """Runs the shards not yet in `work` with `run(pending)` (an engine bound to its arguments),
  with the progress bar and the after_shard hook."""
  ranges = shard_ranges(n_sentences, config.shard_size)
  (work / "shards").mkdir(exist_ok=True)
  pending = [(i, a, b) for i, (a, b) in enumerate(ranges) if not shard_dir(work, i).is_dir()]
  sizes = {i: b - a for i, a, b in pending}
  bar = _progress_bar(n_sentences, n_sentences - sum(sizes.values()), progress)
  tokens, started = 0, time.perf_counter()
  shards = run(pending)
  try:
    for i, shard_tokens in shards:
      tokens += shard_tokens
      if bar is not None:
        bar.update(sizes[i])
        bar.set_postfix_str(f"{tokens / (time.perf_counter() - started):.0f} tok/s")
      if after_shard is not None:
        after_shard(i)
  finally:
    if hasattr(shards, "close"):   # an engine's shards in flight end before this returns
      shards.close()
    if bar is not None:
      bar.close()
  if pending:
    seconds = time.perf_counter() - started
    log.info("indexed %d shards, %d tokens in %.1f s (%.0f tokens/s)", len(pending), tokens,
             seconds, tokens / max(seconds, 1e-9))


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
