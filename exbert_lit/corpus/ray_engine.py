"""Runs a corpus build's spaCy annotation and its shards as Ray Data jobs
(`exbert-lit index --engine ray`).

Annotation: the corpus's texts in chunks of TEXTS_PER_TASK -> `map_batches(SpacyWorker)` on a
pool of one actor per cluster CPU, each loading the spaCy pipeline once and running the same
annotate.annotate as the local build -> the driver reads the sentences back in chunk order and
stages.select_sentences filters them as it does locally (texts are annotated independently, so
the result is the local one; tests/test_ray_engine.py checks it).

Shards: a dataset with one row per pending shard (shard number, first sentence, the
shard's sentences as `AnnotatedSentence.to_json`) -> `map_batches(ShardWorker)` on a pool of
`workers` actors, one shard per call, each actor loading the model once -> each call writes its
shard with stages.shard_stage, exactly as the local engine does -> the driver iterates the
{shard, tokens} rows to drive the progress bar, and build() merges the shards with the same
finish.finish. Nothing of annotation, alignment, extraction, shard writing or merging is written twice.

The workers get the faiss templates (empty, trained indexes) serialised with
faiss.serialize_index as an argument of the actors (Ray Data stores it in the object store
once; each node fetches it once) rather than reading DIR/_build/trained: they are then exactly
the templates the driver's stages.train_stage returned, including untrained factories (Flat) for
which nothing is written to disk, whatever train_stage's on-disk layout.

Faults. A shard directory appears by an atomic rename only when complete, and a worker skips a
shard whose directory exists, so a retried shard is neither lost nor written twice. A worker
process that dies mid-shard (killed, preempted node) is restarted by Ray and its shard retried
(`max_restarts`, `max_task_retries` below, set explicitly although Ray Data 2.60 defaults to -1
for both: an endless retry of a shard that kills every worker, e.g. out of memory, would hang
the job). A killed driver takes its (non-detached) actors with it; rerunning the same command
resumes from the finished shards (stages.py).

Across machines (`--address`), every node needs exbert-lit installed and must see --out at the
same path (a shared filesystem): workers write the shards there and the driver merges them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import time
import warnings
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import sources
from exbert_lit.corpus import stages
from exbert_lit.corpus import store
from exbert_lit.errors import ExbertError

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray: pip install 'exbert-lit[scale]'"
# Restarts of one worker actor over the job (-1: unlimited; a lost node must not end a long
# job) and retries of one shard after its worker died (then the job fails, and a rerun resumes).
MAX_ACTOR_RESTARTS = -1
MAX_SHARD_RETRIES = 3
# Texts (paragraphs, or Brown's sentences) per annotation task.
TEXTS_PER_TASK = 512
# Without a GPU, one worker per this many CPUs of the cluster by default.
CPUS_PER_DEFAULT_WORKER = 4


def require_ray():
  """The `ray` module (with Ray Data), or a one-line error saying how to install it."""
  try:
    import ray  # pylint: disable=g-import-not-at-top
    import ray.data  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    raise ExbertError(INSTALL_HINT) from None
  return ray


def worker_resources(cluster: dict[str, float], workers: int) -> tuple[dict[str, float], int]:
  """(Ray resources of one worker actor, torch threads it should use) for a cluster.

  One GPU per actor where the cluster has GPUs; otherwise each actor's share of the CPUs, and as
  many torch threads (so `workers` actors do not oversubscribe the cores).
  """
  if cluster.get("GPU", 0) >= 1:
    return {"num_gpus": 1}, 0   # 0: leave torch's threads alone
  share = max(1, int(cluster.get("CPU", 1)) // workers)
  return {"num_cpus": share}, share


def default_workers(cluster: dict[str, float]) -> int:
  if cluster.get("GPU", 0) >= 1:
    return int(cluster["GPU"])
  return max(1, int(cluster.get("CPU", 1)) // CPUS_PER_DEFAULT_WORKER)


def serialize_templates(templates: dict) -> list[tuple[str, int, np.ndarray]]:
  import faiss  # pylint: disable=g-import-not-at-top
  return [(kind, layer, faiss.serialize_index(index)) for (kind, layer), index in
          templates.items()]


def deserialize_templates(rows) -> dict:
  import faiss  # pylint: disable=g-import-not-at-top
  return {(kind, int(layer)): faiss.deserialize_index(data) for kind, layer, data in rows}


def last_line(message: str, limit: int = 300) -> str:
  """The last non-blank line of a Ray error (the worker's own exception), shortened."""
  lines = [line.strip() for line in message.splitlines() if line.strip()]
  return (lines[-1] if lines else "unknown error")[:limit]


def shard_rows(sentences, pending) -> list[dict]:
  """One dataset row per pending shard (plain types, so Arrow stores them as they are)."""
  return [{"shard": i, "first": a,
           "sentences": json.dumps([s.to_json() for s in sentences[a:b]], ensure_ascii=False)}
          for i, a, b in pending]


def text_chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
  """Consecutive lists of `size` texts (the last may be shorter)."""
  chunk = []
  for text in texts:
    chunk.append(text)
    if len(chunk) == size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


class SpacyWorker:
  """A Ray Data actor: loads the spaCy pipeline once, then annotates one chunk of texts per
  call with annotate.annotate, exactly as the local build does (texts are independent)."""

  def __init__(self, pipeline: str, split: bool):
    self.nlp = annotate_lib.load_pipeline(pipeline)
    self.split = split

  def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = []
    for texts in batch["texts"]:
      sentences = annotate_lib.annotate_records(
          [(text, meta) for text, meta in json.loads(texts)], self.nlp, split=self.split)
      out.append(json.dumps([s.to_json() for s in sentences], ensure_ascii=False))
    return {"chunk": np.asarray(batch["chunk"], np.int64), "sentences": np.asarray(out)}


class ShardWorker:
  """A Ray Data actor: loads the model once, then writes one shard per call."""

  def __init__(self, loader: Callable[[], Any], work: str, templates: list,
               config: stages.BuildConfig, threads: int, device: Optional[str] = None):
    self.work = pathlib.Path(work)
    if not (self.work / "run.json").is_file():
      raise store.StoreError(f"{self.work} is not visible on this worker's node; with "
                             f"--address, --out must be on a filesystem every node mounts")
    if threads:
      import torch  # pylint: disable=g-import-not-at-top
      torch.set_num_threads(threads)
    self.model = loader()
    if device is not None:  # Ray made the actor's GPU the only visible one: "cuda"
      self.model.to(device)
    self.templates = deserialize_templates(templates)
    self.config = config

  def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tokens, seconds = [], []
    for shard, first, text in zip(batch["shard"], batch["first"], batch["sentences"]):
      started = time.perf_counter()
      directory = stages.shard_dir(self.work, int(shard))
      if directory.is_dir():  # written by an earlier attempt whose worker died after the rename
        tokens.append(int(store.load_array(directory / "lengths.npy", mmap=False).sum()))
      else:
        sentences = [annotate_lib.AnnotatedSentence.from_json(d) for d in json.loads(text)]
        tokens.append(stages.shard_stage(
            directory, self.model, sentences, int(first), self.templates, self.config))
      seconds.append(time.perf_counter() - started)
    return {"shard": np.asarray(batch["shard"], np.int64),
            "tokens": np.asarray(tokens, np.int64),
            "seconds": np.asarray(seconds, np.float64),
            "pid": np.full(len(tokens), os.getpid(), np.int64)}


@dataclasses.dataclass
class RayEngine:
  """An engine.AnnotatingEngine (shards and annotation) on Ray Data (see the module docstring).

  Attributes:
    loader: picklable, returns the model in a worker, e.g.
      functools.partial(load_model, "minilm", batch_size=16, compute_gradients=False).
    workers: model actors; None: one per GPU, else one per CPUS_PER_DEFAULT_WORKER CPUs.
    address: a Ray cluster to join; None starts a local Ray for the build (unless this process
      has initialised Ray already, which is then used as it is).
  """
  loader: Callable[[], Any]
  workers: Optional[int] = None
  address: Optional[str] = None

  def __post_init__(self):
    if self.workers is not None and self.workers < 1:
      raise ExbertError(f"workers must be at least 1, not {self.workers}")

  def annotate(self, corpus: str, config: stages.BuildConfig
               ) -> Iterator[annotate_lib.AnnotatedSentence]:
    """The corpus's annotated sentences in corpus order, spaCy running on Ray: chunks of
    TEXTS_PER_TASK texts -> a pool of SpacyWorker actors, one per cluster CPU -> read back in
    chunk order. Closing the iterator early (build's --max-sentences) ends the job."""
    require_ray()
    source = sources.open_corpus(corpus, config.corpus_format, config.text_field)
    rows = [{"chunk": i, "texts": json.dumps(chunk, ensure_ascii=False)}   # [[text, meta], ...]
            for i, chunk in enumerate(text_chunks(source.records, TEXTS_PER_TASK))]
    if not rows:
      return
    started = time.perf_counter()
    with _ray_job(self.address, "the Ray annotation job") as ray:
      workers = min(max(1, int(ray.cluster_resources().get("CPU", 1))), len(rows))
      log.info("ray: annotating %d chunks with %d spaCy workers (up in %.1f s)", len(rows),
               workers, time.perf_counter() - started)
      results = _map_on_actors(
          ray, ray.data.from_items(rows, override_num_blocks=len(rows)), SpacyWorker, workers,
          {"pipeline": config.spacy_pipeline, "split": source.split}, num_cpus=1)
      for row in results.iter_rows():
        for data in json.loads(row["sentences"]):
          yield annotate_lib.AnnotatedSentence.from_json(data)

  def __call__(self, work: pathlib.Path, model, sentences, pending, templates,
               config: stages.BuildConfig) -> Iterator[tuple[int, int]]:
    del model  # the workers load their own
    require_ray()
    if not pending:
      return
    started = time.perf_counter()
    with _ray_job(self.address, "the Ray job", " (the finished shards are kept: rerun the same "
                  "command to resume)") as ray:
      yield from self._run(ray, work, sentences, pending, templates, config, started)

  def _run(self, ray, work, sentences, pending, templates, config, started):
    cluster = ray.cluster_resources()
    workers = min(self.workers or default_workers(cluster), len(pending))
    resources, threads = worker_resources(cluster, workers)
    log.info("ray: %d workers with %s each on a cluster of %s (up in %.1f s)", workers,
             resources, {k: v for k, v in cluster.items() if k in ("CPU", "GPU")},
             time.perf_counter() - started)
    results = _map_on_actors(
        ray, ray.data.from_items(shard_rows(sentences, pending), override_num_blocks=len(pending)),
        ShardWorker, workers,
        {"loader": self.loader, "work": str(work), "templates": serialize_templates(templates),
         "config": config, "threads": threads,
         "device": "cuda" if "num_gpus" in resources else None}, **resources)
    busy: dict[int, list[float]] = {}
    first_result = None
    for row in results.iter_rows():
      if first_result is None:
        first_result = time.perf_counter() - started
      totals = busy.setdefault(int(row["pid"]), [0.0, 0.0])
      totals[0] += float(row["tokens"])
      totals[1] += float(row["seconds"])
      yield int(row["shard"]), int(row["tokens"])
    log.info("ray: first shard after %.1f s; %s tokens/s per worker process while busy",
             first_result or 0.0,
             ", ".join(f"{t / max(s, 1e-9):.0f}" for t, s in busy.values()))


@contextlib.contextmanager
def _ray_job(address: Optional[str], what: str, advice: str = ""):
  """Ray for one job: joined (`address`) or started locally unless this process has Ray
  already, and then shut down after the job; Ray Data quietened; a failed job becomes the
  one-line ExbertError "<what> failed: <the worker's exception><advice>"."""
  ray = require_ray()
  own = not ray.is_initialized()
  if own:
    _init_ray(ray, address)
  try:
    _quiet_data_context(ray)
    yield ray
  except (ray.exceptions.RayError, ray.data.exceptions.UserCodeException) as e:
    log.debug("%s failed", what, exc_info=True)
    raise ExbertError(f"{what} failed: {last_line(str(e))}{advice}") from None
  finally:
    if own:
      ray.shutdown()


def _map_on_actors(ray, dataset, actor_class, size: int, constructor_kwargs: dict,
                   **resources):
  """dataset.map_batches on a pool of `size` actors of `actor_class`, one row per call and one
  call in flight per actor (even load; a dead actor loses one row, which is retried)."""
  with warnings.catch_warnings():
    # Ray 2.60 deprecates passing actor options as keyword arguments (hence the pin to
    # ray 2.60.* in pyproject.toml) but offers no other way to set these two.
    warnings.simplefilter("ignore", DeprecationWarning)
    return dataset.map_batches(
        actor_class, batch_size=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
        fn_constructor_kwargs=constructor_kwargs,
        max_restarts=MAX_ACTOR_RESTARTS, max_task_retries=MAX_SHARD_RETRIES, **resources)


def _quiet_data_context(ray) -> None:
  """Ray Data without its progress bars and banners (build() draws the one progress bar), and
  with results in input order (shards are numbered anyway; annotation needs corpus order)."""
  import ray.data  # pylint: disable=g-import-not-at-top,redefined-outer-name
  from ray.util.debug import log_once  # pylint: disable=g-import-not-at-top
  context = ray.data.DataContext.get_current()
  context.enable_progress_bars = False
  context.print_on_execution_start = False
  context.execution_options.preserve_order = True
  logging.getLogger("ray.data").setLevel(logging.WARNING)
  log_once("ray_data_progress_manager_disabled")  # (no "progress bars disabled" warning)


def _init_ray(ray, address: Optional[str]) -> None:
  """Joins the cluster at `address`, or starts a fresh local Ray ("local": never an orphaned
  instance of an earlier, killed run), quietly: build() prints the progress."""
  kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                configure_logging=True)
  # Token authentication is on by default since Ray 2.5x; its notice is not for our users.
  logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
  try:
    if address:
      ray.init(address=address, **kwargs)
    else:
      ray.init(address="local", num_cpus=os.cpu_count(), **kwargs)
  except ConnectionError as e:
    raise ExbertError(f"cannot join the Ray cluster at {address!r}: "
                    f"{str(e).strip().splitlines()[0][:200]}") from None
