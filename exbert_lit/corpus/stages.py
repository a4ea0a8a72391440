"""The resumable stages of a corpus build (build.py runs them in order), each writing its
result into the work directory DIR/_build atomically, so a killed build continues where it
stopped:
  sentences.jsonl   annotate_stage: spaCy's annotation of the selected sentences
  index.json        index_stage: the faiss factory chosen (exact for small corpora, compressed
                    for large) and the vector sizes
  trained/          train_stage: empty trained indexes, for factories that need training
  shards/NNNNN/     shard_stage, per shard of `shard_size` sentences: token rows, attention
                    summaries and one faiss index per (kind, layer); a shard directory appears
                    by an atomic rename only when complete
Merging the shards into the store is finish.py's job. Within a shard, sentences are sorted by
length into batches (less padding) and put back in corpus order, so a resumed build equals an
uninterrupted one array for array.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import shutil
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import factories
from exbert_lit.corpus import sources
from exbert_lit.corpus import store
from exbert_lit.corpus import vectors as vectors_lib
from exbert_lit.errors import ExbertError

log = logging.getLogger(__name__)

TOKEN_INT_COLUMNS = ("start", "end", "head", "special", "position")


@dataclasses.dataclass(frozen=True)
class BuildConfig:
  """Settings of one build; all must match when a build is resumed."""
  index_type: Optional[str] = None     # faiss factory string; None = by corpus size
  search_params: Optional[str] = None  # faiss ParameterSpace string, e.g. "nprobe=32"
  batch_size: int = 16
  shard_size: int = 256                # sentences per resumable shard
  max_sentences: Optional[int] = None
  max_words: int = 150                 # longer sentences are skipped (model position limit)
  attention_top_k: int = 3             # attended positions kept per token, layer and head
  spacy_pipeline: str = annotate_lib.DEFAULT_PIPELINE
  corpus_format: Optional[str] = None  # readers.FORMATS; None: chosen by the reader
  text_field: Optional[str] = None     # jsonl/csv/hf text column; None: "text"

  def resumable_part(self) -> dict:
    part = dataclasses.asdict(self)
    for key in ("corpus_format", "text_field"):  # left out when unset: older builds resume
      if part[key] is None:
        del part[key]
    return part


@dataclasses.dataclass(frozen=True)
class IndexChoice:
  """What index_stage decided (DIR/_build/index.json): one factory for every (kind, layer)."""
  factory: str
  search_params: str
  dims: dict[str, int]                 # kind -> vector size

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: dict) -> "IndexChoice":
    return cls(factory=data["factory"], search_params=data["search_params"],
               dims=dict(data["dims"]))


# ---------------------------------------------------------------------------------------------
# Pure helpers.

def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
  """[first, end) sentence ranges of the shards of `n` sentences."""
  return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
  """Indices grouped into batches of similar length (stable: ties keep corpus order)."""
  order = sorted(range(len(lengths)), key=lambda i: lengths[i])
  return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def shard_dir(work: pathlib.Path, shard: int) -> pathlib.Path:
  """Where shard number `shard` of the build in `work` is written."""
  return pathlib.Path(work) / "shards" / f"{shard:05d}"


def index_keys(num_layers: int) -> list[tuple[str, int]]:
  """Every (kind, layer) a store indexes, in store order."""
  return [(kind, layer) for kind in store.KINDS for layer in store.layers_of(kind, num_layers)]


def read_jsonl(path: pathlib.Path) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def write_jsonl_atomic(path: pathlib.Path, rows) -> None:
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    for row in rows:
      f.write(json.dumps(row, ensure_ascii=False) + "\n")
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Annotation.

def annotate_corpus(corpus: str, config: BuildConfig
                    ) -> Iterator[annotate_lib.AnnotatedSentence]:
  """spaCy's sentences of `corpus`, in corpus order, annotated in this process."""
  source = sources.open_corpus(corpus, config.corpus_format, config.text_field)
  nlp = annotate_lib.load_pipeline(config.spacy_pipeline)
  yield from annotate_lib.annotate_records(source.records, nlp, split=source.split)


def select_sentences(corpus: str, config: BuildConfig,
                     annotated: Optional[Iterator[annotate_lib.AnnotatedSentence]] = None
                     ) -> tuple[list[annotate_lib.AnnotatedSentence], int]:
  """The sentences a build indexes: spaCy's sentences of `corpus` of at most
  `config.max_words` words, the first `config.max_sentences` of them; and how many longer
  ones were skipped on the way.

  Args:
    annotated: the corpus's annotated sentences in corpus order from elsewhere (an engine's);
      default: annotate_corpus. Closed once enough sentences are taken.
  """
  annotated = annotate_corpus(corpus, config) if annotated is None else annotated
  return select(annotated, config)


def select(sentences: Iterator, config: BuildConfig) -> tuple[list, int]:
  """select_sentences' rule over any sentences with `spans` (annotated, or words alone):
  (the kept ones, how many were too long). `sentences` is closed once enough are taken."""
  skipped = [0]
  return list(kept_sentences(sentences, config, skipped)), skipped[0]


def kept_sentences(sentences: Iterator, config: BuildConfig, skipped: list[int]) -> Iterator:
  """select's rule as a stream (the annotating child process writes each kept sentence as it
  comes): yields the sentences of at most `config.max_words` words, the first
  `config.max_sentences` of them, adding the longer ones to `skipped[0]`; `sentences` is
  closed once enough are taken."""
  taken = 0
  with contextlib.closing(sentences):
    for sentence in sentences:
      if len(sentence.spans) > config.max_words:
        skipped[0] += 1
        continue
      yield sentence
      taken += 1
      if config.max_sentences is not None and taken >= config.max_sentences:
        return


def select_words(source: sources.CorpusSource, config: BuildConfig
                 ) -> Optional[list[annotate_lib.SentenceWords]]:
  """The sentences select_sentences will return, from spaCy's tokenizer alone (text, word
  spans and metadata, no labels), for corpora whose records are sentences already (Brown,
  `lines` files); None for corpora spaCy must split into sentences (its parser decides).

  Args:
    source: sources.open_corpus of the build's corpus, not yet read.
  """
  if source.split:
    return None
  words = annotate_lib.sentence_words(source.records,
                                      annotate_lib.load_tokenizer(config.spacy_pipeline))
  return select(words, config)[0]


def annotate_stage(work: pathlib.Path, corpus: str, config: BuildConfig, engine=None
                   ) -> list[annotate_lib.AnnotatedSentence]:
  """The build's sentences, annotated once (by `engine.annotate` if the engine has it, see
  engine.AnnotatingEngine) and kept in sentences.jsonl."""
  path = work / "sentences.jsonl"
  if path.is_file():
    return [annotate_lib.AnnotatedSentence.from_json(d) for d in read_jsonl(path)]
  annotated = engine.annotate(corpus, config) if hasattr(engine, "annotate") else None
  out, skipped = select_sentences(corpus, config, annotated)
  if not out:
    raise ExbertError(f"corpus {corpus!r} has no sentences")
  if skipped:
    log.info("skipped %d sentences longer than %d words", skipped, config.max_words)
  write_jsonl_atomic(path, (s.to_json() for s in out))
  return out


# ---------------------------------------------------------------------------------------------
# Index choice and training.

def index_stage(work: pathlib.Path, model, sentences, config: BuildConfig) -> IndexChoice:
  """The factory of every index of the store: --index-type, else by the corpus's size."""
  path = work / "index.json"
  if path.is_file():
    return IndexChoice.from_json(json.loads(path.read_text(encoding="utf-8")))
  dims = {"embedding": model.hidden_size, "context": model.num_heads * model.head_dim}
  if config.index_type:
    factory = config.index_type
    params = config.search_params or ""  # build() has checked the factory before annotating
  else:
    # ~1.3 word-pieces per spaCy word plus two specials per sentence.
    estimate = int(1.3 * annotate_lib.word_count(sentences)) + 2 * len(sentences)
    factory, params = factories.default_factory(estimate, dims.values())
    if config.search_params is not None:
      params = config.search_params
  choice = IndexChoice(factory=factory, search_params=params, dims=dims)
  store.write_json_atomic(path, choice.to_json())
  return choice


def run_model(model, texts: list[str], batch_size: int):
  """model.internals over `texts` in length-sorted batches; None for a text the model refuses
  (e.g. longer than its position limit). Returns a list in the order of `texts`."""
  results = [None] * len(texts)
  for batch in length_batches([len(t) for t in texts], batch_size):
    try:
      outs = model.internals([texts[i] for i in batch])
    except ValueError:
      outs = []
      for i in batch:  # find the culprit(s); keep the rest
        try:
          outs.extend(model.internals([texts[i]]))
        except ValueError as e:
          log.warning("skipped a sentence the model refused: %s", e)
          outs.append(None)
    for i, out in zip(batch, outs):
      results[i] = out
  return results


def train_stage(work: pathlib.Path, model, sentences, config: BuildConfig,
                choice: IndexChoice) -> dict[tuple[str, int], Any]:
  """Templates (empty, trained faiss indexes) per (kind, layer), trained on the vectors of the
  first sentences; kept in trained/ for factories that need training."""
  import faiss  # pylint: disable=g-import-not-at-top
  keys = index_keys(model.num_layers)
  templates = {key: factories.make_index(choice.factory, choice.dims[key[0]]) for key in keys}
  if all(t.is_trained for t in templates.values()):
    return templates
  trained_dir = work / "trained"
  if (trained_dir / "done").is_file():
    return {key: faiss.read_index(str(trained_dir / store.index_filename(*key))) for key in keys}
  wanted = factories.train_size(choice.factory)
  log.info("training %s on up to %d vectors per index", choice.factory, wanted)
  sample: dict[tuple[str, int], list[np.ndarray]] = {key: [] for key in keys}
  count, i = 0, 0
  while count < wanted and i < len(sentences):
    texts = [s.text for s in sentences[i:i + config.batch_size]]
    i += config.batch_size
    for out in run_model(model, texts, config.batch_size):
      if out is None:
        continue
      for key, vecs in vectors_lib.sentence_vectors(out, model.num_heads).items():
        sample[key].append(vecs.astype(np.float16))
      count += len(out.tokens)
  tmp = work / "trained.tmp"
  shutil.rmtree(tmp, ignore_errors=True)
  tmp.mkdir(parents=True)
  for key in keys:
    x = np.concatenate(sample.pop(key)).astype(np.float32)[:wanted]
    templates[key].train(x)
    faiss.write_index(templates[key], str(tmp / store.index_filename(*key)))
  (tmp / "done").write_text("ok")
  shutil.rmtree(trained_dir, ignore_errors=True)
  os.replace(tmp, trained_dir)
  return templates


# ---------------------------------------------------------------------------------------------
# Shards.

@dataclasses.dataclass
class ShardOutputs:
  """What the model gives for one shard's sentences, reduced to what the shard keeps: no
  labels yet (shard_write adds them), so it needs only the texts. Rows are the kept
  sentences' tokens in corpus order (N = sum of `lengths`)."""
  kept: list[int]                          # indices (into the shard) of the kept sentences
  tokens: list[list[str]]                  # per kept sentence, its word-pieces [T_s]
  offsets: list[np.ndarray]                # per kept sentence, int [T_s, 2]
  special: list[np.ndarray]                # per kept sentence, bool [T_s]
  top_pos: np.ndarray                      # int16 [N, L, H, K]   (vectors.summarize_sentences)
  top_weight: np.ndarray                   # float16 [N, L, H, K]
  mean_argmax: np.ndarray                  # int16 [N, L]
  vectors: dict[tuple[str, int], np.ndarray]   # (kind, layer) -> float32 [N, D], normalised

  @property
  def lengths(self) -> list[int]:
    return [len(t) for t in self.tokens]


def shard_compute(model, texts: Sequence[str], config: BuildConfig) -> ShardOutputs:
  """The model over one shard's texts (run_model), and the vectors and attention summaries
  of every kept sentence, computed over the whole shard at once."""
  outs = run_model(model, list(texts), config.batch_size)
  kept = [j for j, out in enumerate(outs) if out is not None]
  live = [outs[j] for j in kept]
  shape = (0, model.num_layers, model.num_heads, config.attention_top_k)
  if live:
    top_pos, top_w, mean_argmax = vectors_lib.summarize_sentences(
        [o.attention for o in live], config.attention_top_k)
    vectors = vectors_lib.concatenated_vectors(live, model.num_heads)
  else:
    top_pos, top_w = np.zeros(shape, np.int16), np.zeros(shape, np.float16)
    mean_argmax = np.zeros((0, model.num_layers), np.int16)
    vectors = {}
  return ShardOutputs(kept=kept, tokens=[o.tokens for o in live],
                      offsets=[o.offsets for o in live], special=[o.special for o in live],
                      top_pos=top_pos, top_weight=top_w, mean_argmax=mean_argmax,
                      vectors=vectors)


def shard_write(shard_directory: pathlib.Path, outputs: ShardOutputs, sentences, first: int,
                templates) -> int:
  """Writes one shard (atomically: the directory appears by a rename when complete): the
  token rows with the spaCy labels of `sentences` (the shard's annotated sentences, `first`
  the build index of the first), the attention summaries and one faiss index per (kind,
  layer). Returns the shard's token count."""
  import faiss  # pylint: disable=g-import-not-at-top
  rows: dict[str, list] = {c: [] for c in store.TEXT_COLUMNS}
  ints: dict[str, list] = {c: [] for c in TOKEN_INT_COLUMNS}
  for j, tokens, offsets, special in zip(outputs.kept, outputs.tokens, outputs.offsets,
                                         outputs.special):
    _, labels = annotate_lib.piece_labels(sentences[j], offsets, special)
    rows["piece"].extend(tokens)
    for column in ("pos", "tag", "dep", "ent", "lemma"):
      rows[column].extend(None if lab is None else lab[column] for lab in labels)
    ints["head"].extend(-1 if lab is None else lab["head"] for lab in labels)
    ints["start"].extend(int(o) for o in offsets[:, 0])
    ints["end"].extend(int(o) for o in offsets[:, 1])
    ints["special"].extend(bool(s) for s in special)
    ints["position"].extend(range(len(tokens)))
  tmp = shard_directory.with_name(shard_directory.name + ".tmp")
  shutil.rmtree(tmp, ignore_errors=True)
  tmp.mkdir(parents=True)
  store.write_json_atomic(tmp / "tokens.json", rows)
  store.save_array(tmp / "kept.npy", np.asarray([first + j for j in outputs.kept],
                                                dtype=np.int64))
  store.save_array(tmp / "lengths.npy", np.asarray(outputs.lengths, dtype=np.int64))
  for name, values in ints.items():
    store.save_array(tmp / f"{name}.npy",
                     np.asarray(values, dtype=bool if name == "special" else np.int32))
  store.save_array(tmp / "top_pos.npy", outputs.top_pos)
  store.save_array(tmp / "top_weight.npy", outputs.top_weight)
  store.save_array(tmp / "mean_argmax.npy", outputs.mean_argmax)
  for key, template in templates.items():
    index = faiss.clone_index(template)
    if key in outputs.vectors:
      index.add(outputs.vectors[key])
    faiss.write_index(index, str(tmp / store.index_filename(*key)))
  os.replace(tmp, shard_directory)
  return sum(outputs.lengths)


def shard_stage(shard_directory: pathlib.Path, model, sentences, first: int, templates,
                config: BuildConfig) -> int:
  """Runs the model over one shard's sentences and writes the shard (shard_compute, then
  shard_write). Every engine writes shards with this or those two.

  Args:
    shard_directory: shard_dir(work, shard).
    sentences: the shard's annotated sentences; `first` = the build index of the first.
    templates: (kind, layer) -> empty trained faiss index (train_stage).
  Returns the shard's token count.
  """
  outputs = shard_compute(model, [s.text for s in sentences], config)
  return shard_write(shard_directory, outputs, sentences, first, templates)
