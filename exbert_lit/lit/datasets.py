"""LIT datasets of sentences: a text file, a JSONL file, a list, or a corpus store's sentences.

Every dataset here has the one field our models read, `text` (TextSegment), so any exbert-lit
model (and any LIT model whose only required input is `text`) is compatible with it. LIT's own
datasets work too: make_server takes any `lit_nlp.api.dataset.Dataset`.
"""
from __future__ import annotations

import json
import pathlib
from typing import Iterable, Optional

from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types

from exbert_lit.errors import ExbertError

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


class SentencesDataset(lit_dataset.Dataset):
  """Sentences given in Python."""

  def __init__(self, sentences: list[str], description: str = "sentences"):
    sentences = _clean(sentences)
    if not sentences:
      raise ExbertError(f"{description}: no sentences")
    self._description = description
    self._examples = [{"text": s} for s in sentences]

  def description(self) -> str:
    return self._description

  def spec(self) -> lit_types.Spec:
    return {"text": lit_types.TextSegment()}


class TextFileDataset(SentencesDataset):
  """One sentence per line of a UTF-8 text file; blank lines and `#` comments skipped."""

  def __init__(self, path: str, max_examples: Optional[int] = None):
    file = pathlib.Path(path)
    if not file.is_file():
      raise FileNotFoundError(f"no such data file: {path}")
    try:
      lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
      raise ExbertError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    sentences = _clean(lines)
    if max_examples:
      sentences = sentences[:max_examples]
    super().__init__(sentences, description=f"sentences from {file.name}")


class JsonlDataset(lit_dataset.Dataset):
  """A JSON Lines file: each line an object with a "text" string (other string fields kept).

  A line that is not JSON, or lacks "text", is an error naming the line: silently skipping
  data would hide a broken file.
  """

  def __init__(self, path: str, max_examples: Optional[int] = None):
    file = pathlib.Path(path)
    if not file.is_file():
      raise FileNotFoundError(f"no such data file: {path}")
    examples = []
    extra_fields: dict[str, None] = {}
    with file.open(encoding="utf-8") as f:
      for number, line in enumerate(f, start=1):
        if not line.strip():
          continue
        try:
          record = json.loads(line)
        except json.JSONDecodeError as e:
          raise ExbertError(f"{path}:{number}: not JSON ({e.msg})") from None
        if isinstance(record, str):
          record = {"text": record}
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
          raise ExbertError(f"{path}:{number}: needs a \"text\" string")
        if not record["text"].strip():
          raise ExbertError(f"{path}:{number}: empty \"text\"")
        example = {"text": record["text"]}
        for key, value in record.items():
          if key != "text" and isinstance(value, str) and not key.startswith("_"):
            example[key] = value
            extra_fields[key] = None
        examples.append(example)
        if max_examples and len(examples) >= max_examples:
          break
    if not examples:
      raise ExbertError(f"{path}: no examples")
    for example in examples:  # LIT wants every field on every example
      for key in extra_fields:
        example.setdefault(key, "")
    self._extra = list(extra_fields)
    self._examples = examples
    self._description = f"examples from {file.name}"

  def description(self) -> str:
    return self._description

  def spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {"text": lit_types.TextSegment()}
    for key in self._extra:
      spec[key] = lit_types.TextSegment(required=False)
    return spec


def load_data_file(path: str, max_examples: Optional[int] = None) -> lit_dataset.Dataset:
  """A dataset from a `.jsonl` / `.json` lines file or any other text file (one sentence a line)."""
  if str(path).endswith((".jsonl", ".ndjson")):
    return JsonlDataset(path, max_examples=max_examples)
  return TextFileDataset(path, max_examples=max_examples)


def examples_dataset() -> SentencesDataset:
  """The demo's example sentences, including the exBERT paper's."""
  return SentencesDataset(EXAMPLES_FILE.read_text(encoding="utf-8").splitlines(),
                          description="exBERT example sentences (incl. the paper's)")


def dataset_name_for(path: str, taken: Iterable[str]) -> str:
  """A short, unique dataset name from a file name (`data/pubs.txt` -> `pubs`)."""
  base = pathlib.Path(path).stem or "data"
  taken = set(taken)
  name, n = base, 2
  while name in taken:
    name, n = f"{base}_{n}", n + 1
  return name
