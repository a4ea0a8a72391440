"""Corpus files and datasets as records (text, metadata): one reader for `index --corpus` and
`serve --data`, so both commands see the same sentences.

Formats (`FORMATS`; `--format` overrides the choice, which is logged):
  lines       a text file with no blank line: one sentence per line (spaCy does not re-split)
  paragraphs  a text file with blank lines: blank-line separated paragraphs, a single newline
              inside one is a space (hard-wrapped prose, e.g. Project Gutenberg, reads as
              whole sentences); spaCy splits them into sentences
  jsonl       one JSON object per line; its `--text-field` (default "text") is the text, every
              other field is metadata
  csv         a header row, then rows; the `--text-field` column is the text, the others
              metadata (`.tsv`: tab separated)
  hf          anything Hugging Face `datasets` opens: local parquet, arrow, json, csv files, a
              `save_to_disk` directory, or `hf:NAME[:CONFIG[:SPLIT]]` from the hub
A text file is `lines` or `paragraphs` by whether its first MiB holds a blank line between two
lines of text; other formats go by the file's extension. jsonl, csv and hf records are split into
sentences by spaCy (a record may be a document), each sentence keeping its record's metadata.

Metadata values are strings (other JSON values as JSON: `3`, `true`, `[1, 2]`; null as "").
Records whose text is empty or blank hold no sentence and are skipped (counted in the log); any
other bad record (not JSON, no text field, text that is not a string) is an error naming its
line: a reader never drops data silently.
"""
from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import logging
import pathlib
import sys
from typing import Any, Iterable, Iterator, Optional

from exbert_lit.errors import ExbertError

log = logging.getLogger(__name__)

FORMATS = ("lines", "paragraphs", "jsonl", "csv", "hf")
SPLIT = {"lines": False, "paragraphs": True, "jsonl": True, "csv": True, "hf": True}
DEFAULT_TEXT_FIELD = "text"
HF_PREFIX = "hf:"
SAMPLE_CHARS = 1 << 20          # what the checks and the text-format choice read of a file
HF_SAMPLE_ROWS = 10_000         # rows the check scans for some text
_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
              ".parquet": "hf", ".arrow": "hf", ".json": "hf"}
_HF_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json",
                ".ndjson": "json", ".csv": "csv", ".tsv": "csv"}
_DISK_DATASET_FILES = ("state.json", "dataset_dict.json")

Meta = Optional[dict[str, str]]
Record = tuple[str, Meta]


@dataclasses.dataclass(frozen=True)
class Choice:
  """The format a corpus is read in, and why (for the log line)."""
  format: str
  reason: str

  def describe(self) -> str:
    what = {"lines": "one sentence per line", "paragraphs": "paragraphs split by spaCy"
            }.get(self.format, f"{self.format} records split by spaCy")
    return f"{self.format} ({what}; {self.reason})"


# ---------------------------------------------------------------------------------------------
# Choosing the format.

def is_hf_name(spec: str) -> bool:
  return spec.startswith(HF_PREFIX)


def _is_disk_dataset(path: pathlib.Path) -> bool:
  return path.is_dir() and any((path / name).is_file() for name in _DISK_DATASET_FILES)


def choose_format(spec: str, fmt: Optional[str], label: str) -> Choice:
  """The format of `spec` (a path or hf:NAME...): `fmt` if given, else by name or content."""
  if fmt is not None:
    if fmt not in FORMATS:
      raise ExbertError(f"{label}: unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    if is_hf_name(spec) and fmt != "hf":
      raise ExbertError(f"{label}: a hf: name is read with --format hf, not {fmt}")
    return Choice(fmt, "--format")
  if is_hf_name(spec):
    return Choice("hf", "a hf: name")
  path = pathlib.Path(spec).expanduser()
  if _is_disk_dataset(path):
    return Choice("hf", "a datasets save_to_disk directory")
  by_suffix = _BY_SUFFIX.get(path.suffix.lower())
  if by_suffix:
    return Choice(by_suffix, f"by its extension {path.suffix}")
  if _has_paragraphs(path, label):
    return Choice("paragraphs", "blank lines in its first MiB; --format lines reads lines")
  return Choice("lines", "no blank line in its first MiB; --format paragraphs reads prose")


def _has_paragraphs(path: pathlib.Path, label: str) -> bool:
  """Whether a blank line separates two lines of text within the first SAMPLE_CHARS."""
  seen_text = blank_after_text = False
  for _, line in _numbered_lines(path, label, budget=SAMPLE_CHARS):
    if not line.strip():
      blank_after_text = seen_text
    elif blank_after_text:
      return True
    else:
      seen_text = True
  return False


# ---------------------------------------------------------------------------------------------
# Text, JSONL and CSV files.

class _Budget:
  """Counts characters read; `spent` once more than `limit` were (None: no limit)."""

  def __init__(self, limit: Optional[int]):
    self.limit, self.used, self.spent = limit, 0, False

  def take(self, n: int) -> bool:
    self.used += n
    self.spent = self.limit is not None and self.used > self.limit
    return not self.spent


def _numbered_lines(path: pathlib.Path, label: str, budget: Optional[int] = None,
                    counter: Optional[_Budget] = None) -> Iterator[tuple[int, str]]:
  """(1-based line number, line without its newline) of a UTF-8 file; stops after `budget`
  characters (the checks read a sample). \\r\\n and \\r are newlines too."""
  counter = counter or _Budget(budget)
  number = 0
  with open(path, encoding="utf-8-sig") as f:   # a BOM (Gutenberg, Excel CSV) is not text
    try:
      for number, line in enumerate(f, start=1):
        yield number, line.rstrip("\n")
        if not counter.take(len(line)):
          return
    except UnicodeDecodeError as e:
      raise ExbertError(f"{label}: is not UTF-8 text ({e.reason} after line {number})") from None


def _lines(path, label, counter=None) -> Iterator[Record]:
  for _, line in _numbered_lines(path, label, counter=counter):
    if line.strip():
      yield line.strip(), None


def _paragraphs(path, label, counter=None) -> Iterator[Record]:
  lines: list[str] = []
  for _, line in itertools.chain(_numbered_lines(path, label, counter=counter), [(0, "")]):
    if line.strip():
      lines.append(line.strip())
    elif lines:
      yield " ".join(lines), None
      lines = []


def meta_value(value: Any) -> str:
  """A metadata value as shown and stored: strings as they are, None as "", others as JSON."""
  if isinstance(value, str):
    return value
  if value is None:
    return ""
  return json.dumps(value, ensure_ascii=False, default=str)


def _record(row: Any, field: str, where: str) -> Optional[Record]:
  """(text, metadata) of one JSON object or CSV row; None when its text is blank."""
  if isinstance(row, str) and field == DEFAULT_TEXT_FIELD:   # a JSON line that is a string
    row = {field: row}
  if not isinstance(row, dict):
    raise ExbertError(f"{where}: not a JSON object")
  if field not in row:
    have = ", ".join(map(str, list(row)[:8])) or "none"
    raise ExbertError(f"{where}: no {field!r} field (its fields: {have}); "
                      f"name the text with --text-field")
  text = row[field]
  if text is None:
    return None
  if not isinstance(text, str):
    raise ExbertError(f"{where}: {field!r} is {type(text).__name__}, not text")
  if not text.strip():
    return None
  meta = {str(k): meta_value(v) for k, v in row.items() if k != field}
  return text.strip(), (meta or None)


def _jsonl(path, field, label, counter=None) -> Iterator[Optional[Record]]:
  for number, line in _numbered_lines(path, label, counter=counter):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      raise ExbertError(f"{label}:{number}: not JSON ({e.msg})") from None
    yield _record(row, field, f"{label}:{number}")


def _csv(path, field, label, counter=None) -> Iterator[Optional[Record]]:
  csv.field_size_limit(min(sys.maxsize, 2**31 - 1))   # a text cell may be a long document
  delimiter = "\t" if pathlib.Path(path).suffix.lower() == ".tsv" else ","
  lines = (line + "\n" for _, line in _numbered_lines(path, label, counter=counter))
  reader = csv.DictReader(lines, delimiter=delimiter, restval="")
  try:
    header = reader.fieldnames
    if not header:
      return
    if field not in header:
      raise ExbertError(f"{label}: no {field!r} column (its columns: "
                        f"{', '.join(header[:8])}); name the text with --text-field")
    for row in reader:
      if None in row:
        raise ExbertError(f"{label}:{reader.line_num}: more values than the header has columns")
      yield _record(row, field, f"{label}:{reader.line_num}")
  except csv.Error as e:
    raise ExbertError(f"{label}:{reader.line_num}: not CSV ({e})") from None


# ---------------------------------------------------------------------------------------------
# Hugging Face datasets.

def parse_hf_name(spec: str, label: str) -> tuple[str, Optional[str], str]:
  """hf:NAME[:CONFIG[:SPLIT]] -> (NAME, CONFIG or None, SPLIT, default train)."""
  parts = spec[len(HF_PREFIX):].split(":")
  if not parts[0] or len(parts) > 3 or any(not p for p in parts[1:]):
    raise ExbertError(f"{label}: expected hf:NAME[:CONFIG[:SPLIT]], e.g. "
                      f"hf:wikitext:wikitext-103-raw-v1:train")
  name, config, split = parts[0], (parts[1] if len(parts) > 1 else None), (
      parts[2] if len(parts) > 2 else "train")
  return name, config, split


_OPENED: dict[str, Any] = {}   # the last dataset opened, by spec (see open_hf)


def open_hf(spec: str, label: str):
  """The `datasets.Dataset` of a local file, save_to_disk directory or hf:NAME. The last one
  opened is kept: the check before the model loads and the build then open it once (a Dataset
  maps its Arrow files; it holds no copy of the rows)."""
  key = spec if is_hf_name(spec) else str(pathlib.Path(spec).expanduser().resolve())
  if key not in _OPENED:
    data = _open_hf(spec, label)
    _OPENED.clear()
    _OPENED[key] = data
  return _OPENED[key]


def forget_opened() -> None:
  """Drops the kept dataset (open_hf), e.g. between tests that change datasets' cache."""
  _OPENED.clear()


def _open_hf(spec: str, label: str):
  try:
    import datasets  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ExbertError(f"{label}: reading this format needs the datasets library "
                      f"(pip install 'datasets==4.0.*')") from None
  try:
    if is_hf_name(spec):
      name, config, split = parse_hf_name(spec, label)
      data = datasets.load_dataset(name, config, split=split)
    elif pathlib.Path(spec).expanduser().is_dir():
      data = datasets.load_from_disk(str(pathlib.Path(spec).expanduser()))
      if isinstance(data, datasets.DatasetDict):
        if "train" not in data:
          raise ExbertError(f"{label}: a dataset with splits {', '.join(data)} and no train "
                            f"split; give the split's own directory")
        data = data["train"]
    else:
      suffix = pathlib.Path(spec).suffix.lower()
      builder = _HF_BUILDERS.get(suffix)
      if builder is None:
        raise ExbertError(f"{label}: --format hf reads {', '.join(sorted(_HF_BUILDERS))} files, "
                          f"save_to_disk directories or hf:NAME, not {suffix or 'this'} files")
      kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
      data = datasets.load_dataset(builder, data_files=str(pathlib.Path(spec).expanduser()),
                                   split="train", **kwargs)
  except ExbertError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # datasets reports a missing name, no network, a bad file... with its own and pyarrow's
    # exception types; each is the user's input, told in one line.
    detail = (str(e).strip().splitlines() or [""])[0][:200]
    raise ExbertError(f"{label}: the datasets library cannot open it "
                      f"({type(e).__name__}: {detail})") from None
  return data


def _hf(spec, field, label, max_rows=None) -> Iterator[Optional[Record]]:
  data = open_hf(spec, label)
  if field not in data.column_names:
    raise ExbertError(f"{label}: no {field!r} column (its columns: "
                      f"{', '.join(data.column_names[:8])}); name the text with --text-field")
  rows = data if max_rows is None else data.select(range(min(max_rows, data.num_rows)))
  for first, batch in zip(itertools.count(0, 1000), rows.iter(batch_size=1000)):
    columns = list(batch)
    for i, values in enumerate(zip(*batch.values())):
      yield _record(dict(zip(columns, values)), field, f"{label}: row {first + i}")


# ---------------------------------------------------------------------------------------------
# Entry points.

def records(spec: str, choice: Choice, field: str, label: str) -> Iterator[Record]:
  """Every record of the corpus in order; blank ones skipped and counted in the log."""
  path = pathlib.Path(spec).expanduser()
  if choice.format == "lines":
    yield from _lines(path, label)
    return
  if choice.format == "paragraphs":
    yield from _paragraphs(path, label)
    return
  rows = _rows(spec, path, choice, field, label)
  blank = 0
  for row in rows:
    if row is None:
      blank += 1
    else:
      yield row
  if blank:
    log.info("%s: skipped %d records with empty %r", label, blank, field)


def _rows(spec, path, choice, field, label, counter=None) -> Iterable[Optional[Record]]:
  if choice.format == "jsonl":
    return _jsonl(path, field, label, counter)
  if choice.format == "csv":
    return _csv(path, field, label, counter)
  return _hf(spec, field, label, None if counter is None else HF_SAMPLE_ROWS)


def check(spec: str, fmt: Optional[str], field: str, label: str) -> Choice:
  """Fails now, in one line, for a corpus `records` would fail on later: no such file, a
  directory, unknown format, not UTF-8, no such text field or column, no text at all, a bad
  record in the first MiB (a later one still fails when it is read). Returns the format."""
  if not is_hf_name(spec):
    path = pathlib.Path(spec).expanduser()
    if path.is_dir() and not (_is_disk_dataset(path) and fmt in (None, "hf")):
      raise ExbertError(f"{label}: is a directory; give a file, 'brown' or hf:NAME")
    if not path.exists():
      raise ExbertError(f"{label}: no such file (a corpus is a file, 'brown' or "
                        f"hf:NAME[:CONFIG[:SPLIT]])")
  choice = choose_format(spec, fmt, label)
  if field != DEFAULT_TEXT_FIELD and choice.format in ("lines", "paragraphs"):
    raise ExbertError(f"{label}: --text-field is for jsonl, csv and hf corpora, not "
                      f"{choice.format}")
  counter = _Budget(SAMPLE_CHARS)
  path = pathlib.Path(spec).expanduser()
  if choice.format == "lines":
    sample: Iterable = _lines(path, label, counter)
  elif choice.format == "paragraphs":
    sample = _paragraphs(path, label, counter)
  else:
    sample = _rows(spec, path, choice, field, label, counter)
  found = any(row is not None for row in sample)   # reads (and checks) up to the first text
  if choice.format == "hf" and open_hf(spec, label).num_rows > HF_SAMPLE_ROWS:
    counter.spent = True   # only a sample of its rows was read
  if not found and not counter.spent:
    where = (f" (every {field!r} is empty)" if choice.format not in ("lines", "paragraphs")
             else "")
    raise ExbertError(f"{label}: holds no text{where}")
  if found and choice.format not in ("lines", "paragraphs", "hf"):
    for _ in sample:   # the rest of the sample: a bad record there fails now
      pass
  return choice
