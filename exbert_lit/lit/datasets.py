"""LIT datasets of sentences: any corpus `exbert-lit index` reads (text, JSONL, CSV, Hugging
Face datasets, brown; the same sentences), a list, or a corpus store's sentences.

Every dataset here has the one field our models read, `text` (TextSegment), so any exbert-lit
model (and any LIT model whose only required input is `text`) is compatible with it; a corpus's
metadata columns come as extra string fields. LIT's own datasets work too: make_server takes
any `lit_nlp.api.dataset.Dataset`.
"""
from __future__ import annotations

import itertools
import logging
import pathlib
from typing import Iterable, Optional

from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import readers
from exbert_lit.corpus import sources
from exbert_lit.errors import ExbertError

log = logging.getLogger(__name__)

# Where `exbert-lit demo` and the docs take their example sentences from.
DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
EXAMPLES_FILE = DATA_DIR / "examples.txt"


def _clean(lines: Iterable[str]) -> list[str]:
  """Strips lines; drops blank ones and `#` comments."""
  out = []
  for line in lines:
    line = line.strip()
    if line and not line.startswith("#"):
      out.append(line)
  return out


PAIR_SEPARATOR = "\t"   # "A<tab>B": a sentence pair, B the masked models' `text_b`


class SentencesDataset(lit_dataset.Dataset):
  """Sentences given in Python; a sentence "A<tab>B" is a pair (`text` A, `text_b` B), and a
  dataset with a pair has the optional `text_b` field (empty for its single sentences)."""

  def __init__(self, sentences: list[str], description: str = "sentences"):
    sentences = _clean(sentences)
    if not sentences:
      raise ExbertError(f"{description}: no sentences")
    self._description = description
    self._pairs = any(PAIR_SEPARATOR in s for s in sentences)
    self._examples = [self._example(s) for s in sentences]

  def _example(self, sentence: str) -> dict[str, str]:
    if not self._pairs:
      return {"text": sentence}
    a, _, b = sentence.partition(PAIR_SEPARATOR)
    return {"text": a.strip(), "text_b": b.strip()}

  def description(self) -> str:
    return self._description

  def spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {"text": lit_types.TextSegment()}
    if self._pairs:
      spec["text_b"] = lit_types.TextSegment(required=False, default="")
    return spec


class CorpusDataset(lit_dataset.Dataset):
  """The sentences `exbert-lit index --corpus` indexes from the same corpus: read by the same
  reader (corpus/sources.py, corpus/readers.py), split by the same spaCy pipeline where the
  format splits (paragraphs, jsonl, csv, hf), each example carrying its record's metadata
  columns as string fields. (index also skips sentences over 150 words; these are kept.)"""

  def __init__(self, corpus: str, max_examples: Optional[int] = None, *,
               fmt: Optional[str] = None, text_field: Optional[str] = None,
               option: Optional[str] = None,
               spacy_pipeline: str = annotate_lib.DEFAULT_PIPELINE):
    source = sources.open_corpus(corpus, fmt, text_field, option)
    label = sources.describe(corpus, option)
    if source.split:
      nlp = annotate_lib.load_pipeline(spacy_pipeline)
      sentences = ((s.text, s.meta)
                   for s in annotate_lib.annotate_records(source.records, nlp, split=True))
    else:
      sentences = source.records
    examples = []
    extra: dict[str, None] = {}
    for text, meta in itertools.islice(sentences, max_examples):
      example = {"text": text}
      for key, value in (meta or {}).items():
        name = field_name(key)
        example[name] = value
        extra[name] = None
      examples.append(example)
    if not examples:
      raise ExbertError(f"{label}: no sentences")
    for example in examples:   # LIT wants every field on every example
      for name in extra:
        example.setdefault(name, "")
    log.info("%s: %d sentences%s", label, len(examples),
             f" with metadata {', '.join(extra)}" if extra else "")
    self._extra = list(extra)
    self._examples = examples
    self._description = f"sentences of {source.name} ({source.format})"

  def description(self) -> str:
    return self._description

  def spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {"text": lit_types.TextSegment()}
    for name in self._extra:
      spec[name] = lit_types.StringLitType(required=False)
    return spec


def field_name(column: str) -> str:
  """A metadata column's LIT field: its own name, unless LIT or our models use that name."""
  return f"meta:{column}" if column == "text" or column.startswith("_") else column


def load_data_file(path: str, max_examples: Optional[int] = None, *, fmt: Optional[str] = None,
                   text_field: Optional[str] = None,
                   option: Optional[str] = None) -> lit_dataset.Dataset:
  """A dataset of the sentences in a corpus file, hf: name or `brown` (CorpusDataset)."""
  return CorpusDataset(str(path), max_examples, fmt=fmt, text_field=text_field, option=option)


def examples_dataset() -> SentencesDataset:
  """The demo's example sentences, including the exBERT paper's."""
  return SentencesDataset(EXAMPLES_FILE.read_text(encoding="utf-8").splitlines(),
                          description="exBERT example sentences (incl. the paper's)")


def dataset_name_for(path: str, taken: Iterable[str]) -> str:
  """A short, unique dataset name from a file name (`data/pubs.txt` -> `pubs`) or a hf: name
  (`hf:wikitext:wikitext-2-raw-v1` -> `wikitext`)."""
  if readers.is_hf_name(str(path)):
    path = str(path)[len(readers.HF_PREFIX):].split(":")[0]
  base = pathlib.Path(path).stem or "data"
  taken = set(taken)
  name, n = base, 2
  while name in taken:
    name, n = f"{base}_{n}", n + 1
  return name
