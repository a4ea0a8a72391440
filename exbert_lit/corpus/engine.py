"""What runs a build's shards: the engine protocol, and the local engine.

An engine is handed the shards a build still needs and yields (shard, tokens) as each shard
directory appears, in any order. Every engine writes shards with stages.shard_stage, and
finish.py reads them by number, so the store does not depend on the engine. The local engine is
below; ray_engine.RayEngine runs shards (and annotation) on Ray.
"""
from __future__ import annotations

import concurrent.futures
import pathlib
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import stages

# A pending shard: (shard number, first sentence, end sentence) into the build's sentences.
PendingShard = tuple[int, int, int]


@runtime_checkable
class ShardEngine(Protocol):
  """Runs the pending shards of a build."""

  def __call__(self, work: pathlib.Path, model, sentences: Sequence[annotate_lib.AnnotatedSentence],
               pending: Sequence[PendingShard], templates: dict[tuple[str, int], Any],
               config: stages.BuildConfig) -> Iterator[tuple[int, int]]:
    """Writes each pending shard to stages.shard_dir(work, shard) with stages.shard_stage and
    yields (shard, its token count) once its directory is in place.

    Args:
      work: the build's work directory (DIR/_build).
      model: the driver's model (an engine may load its own copies instead).
      sentences: all the build's annotated sentences; a shard takes [first, end).
      templates: (kind, layer) -> empty trained faiss index (stages.train_stage).
    """


@runtime_checkable
class AnnotatingEngine(ShardEngine, Protocol):
  """An engine that also runs the spaCy stage (build() uses it when the engine has it)."""

  def annotate(self, corpus: str, config: stages.BuildConfig
               ) -> Iterator[annotate_lib.AnnotatedSentence]:
    """The corpus's annotated sentences in corpus order; closed early once enough are taken."""


def run_shards_locally(work: pathlib.Path, model, sentences, pending: Sequence[PendingShard],
                       templates, config: stages.BuildConfig) -> Iterator[tuple[int, int]]:
  """The default engine: the pending shards one after another with the driver's model."""
  for i, a, b in pending:
    yield i, stages.shard_stage(stages.shard_dir(work, i), model, sentences[a:b], a, templates,
                                config)


def run_shards_beside_annotation(work: pathlib.Path, model, words, pending: Sequence[PendingShard],
                                 templates, config: stages.BuildConfig, labels
                                 ) -> Iterator[tuple[int, int]]:
  """The local engine while spaCy still runs (annotator.py): each shard's forward needs only
  its texts (`words`, the tokenizer's sentences); `labels(a, b)` then waits for the annotated
  sentences [a, b) the shard is written with. A shard is written on a second thread while the
  next one's forward runs (the wait for labels and the file writes overlap the model; torch
  and faiss release the GIL), so at most two shards' outputs are in memory."""
  def write(i: int, a: int, outputs: stages.ShardOutputs, b: int) -> tuple[int, int]:
    return i, stages.shard_write(stages.shard_dir(work, i), outputs, labels(a, b), a, templates)

  with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="exbert-shard-write") as pool:
    writing = None
    for i, a, b in pending:
      outputs = stages.shard_compute(model, [w.text for w in words[a:b]], config)
      if writing is not None:
        yield writing.result()
      writing = pool.submit(write, i, a, outputs, b)
      del outputs
    if writing is not None:
      yield writing.result()
