"""The on-disk corpus store: layout, reading and writing its files, and opening its manifest
(whose fields are typed in manifest.py).

    DIR/
      manifest.json             written last, atomically: a store without it is unfinished
      sentences.jsonl           {"id": i, "text": "..."} per sentence, as the model saw it, with
                                "meta": {"column": "value", ...} when its corpus record had
                                metadata columns (corpus/readers.py)
      vocab.json                the strings the token columns' codes point into
      tokens/<column>.npy       one row per word-piece of every sentence (specials included):
                                  sentence_id int32, position int32 (0-based piece index),
                                  special bool, start/end int32 (character span in the text),
                                  piece/pos/tag/dep/ent/lemma int32 codes into vocab.json
                                  (-1 = none: special tokens), head int32 (piece index of the
                                  first piece of the syntactic head, -1 = none)
      tokens/sentence_start.npy int64 [S + 1] first row of each sentence
      attention/top_pos.npy     int16 [N, L, H, K] the K positions each token attends to most
      attention/top_weight.npy  float16 [N, L, H, K] their weights
      attention/mean_argmax.npy int16 [N, L] argmax of the attention averaged over all heads
      index/embedding_<l>.faiss E(l), l = 0..L, L2-normalised          } inner product = cosine
      index/context_<l>.faiss   C(l), l = 1..L, each head slice unit  } (per head for context)

All arrays are .npy read with allow_pickle=False; text is JSON. Nothing is pickled.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Any, Optional, Union

import numpy as np

from exbert_lit.corpus import manifest as manifest_lib
from exbert_lit.corpus import result as result_lib
from exbert_lit.errors import ExbertError

# The manifest's format and kinds, defined with its fields in manifest.py.
FORMAT = manifest_lib.FORMAT
FORMAT_VERSION = manifest_lib.FORMAT_VERSION
KINDS = manifest_lib.KINDS
layers_of = manifest_lib.layers_of
MANIFEST = "manifest.json"
TEXT_COLUMNS = ("piece", "pos", "tag", "dep", "ent", "lemma")
INT_COLUMNS = ("sentence_id", "position", "start", "end", "head")


class StoreError(ExbertError):
  """A store that cannot be used as it is (missing, corrupt, other model): one line."""


def write_json_atomic(path: pathlib.Path, obj: Any) -> None:
  """Writes JSON so a reader sees the old file or the whole new one, never half of it."""
  path = pathlib.Path(path)
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=1, ensure_ascii=False)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def save_array(path: pathlib.Path, array: np.ndarray) -> None:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp.npy")
  np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
  os.replace(tmp, path)


def load_array(path: pathlib.Path, mmap: bool = True) -> np.ndarray:
  try:
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
  except (OSError, ValueError) as e:
    raise StoreError(f"cannot read {path}: {e}") from e


def index_filename(kind: str, layer: int) -> str:
  return f"{kind}_{layer:02d}.faiss"


def ondisk_lists_path(index_path: pathlib.Path) -> pathlib.Path:
  """Where an IVF index's on-disk inverted lists live: beside it, same name, `.ivfdata`."""
  return index_path.with_suffix(".ivfdata")


def read_manifest(directory: pathlib.Path) -> dict:
  """The manifest of a finished store as its JSON object (checked: manifest_lib.Manifest reads
  it), or a one-line StoreError saying what is wrong. `read_info` gives it typed."""
  directory = pathlib.Path(directory)
  path = directory / MANIFEST
  if not directory.is_dir():
    raise StoreError(f"no corpus index at {directory}")
  if not path.is_file():
    hint = " (an unfinished build: rerun `exbert-lit index` to resume it)" if (
        directory / "_build").is_dir() else ""
    raise StoreError(f"{directory} has no {MANIFEST}: not a finished corpus index{hint}")
  try:
    manifest = json.loads(path.read_text(encoding="utf-8"))
  except OSError as e:
    raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise StoreError(f"{path} is corrupt: {e}") from e
  if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
    raise StoreError(f"{path} is not an exbert-lit corpus manifest")
  if manifest.get("format_version") != FORMAT_VERSION:
    raise StoreError(f"{path} has format version {manifest.get('format_version')!r}; "
                     f"this exbert-lit reads version {FORMAT_VERSION} (rebuild the index)")
  try:
    manifest_lib.Manifest.from_json(manifest)
  except manifest_lib.ManifestError as e:
    raise StoreError(f"{path} is corrupt: {e}") from None
  return manifest


def read_info(directory: pathlib.Path) -> manifest_lib.Manifest:
  """The typed manifest of a finished store (see read_manifest for the errors)."""
  return manifest_lib.Manifest.from_json(read_manifest(directory))


def weights_id(fingerprint: str) -> str:
  """The hash part of 'name@sha256:...': the same weights loaded by a short name or by path
  are the same model."""
  return fingerprint.split("@", 1)[1] if "@" in fingerprint else fingerprint


def check_model(manifest: Union[dict, manifest_lib.Manifest], model) -> None:
  """Fails, naming both, when `model` is not the model the store was built with.

  Args:
    manifest: the store's manifest, typed or as its JSON object (CorpusIndex.manifest).
  """
  if isinstance(manifest, manifest_lib.Manifest):
    name, built = manifest.model.name, manifest.model.fingerprint
  else:
    name, built = manifest["model"]["name"], manifest["model"]["fingerprint"]
  fingerprint = model.fingerprint()
  if weights_id(fingerprint) != weights_id(built):
    raise StoreError(f"this corpus index was built with model {name!r} ({built}), "
                     f"not {model.name!r} ({fingerprint})")


@dataclasses.dataclass
class TokenTable:
  """The store's token rows (memory-mapped) with their labels and attention summaries."""
  columns: dict[str, np.ndarray]    # name -> [N] (see module docstring)
  sentence_start: np.ndarray        # int64 [S + 1]
  vocab: list[str]
  texts: list[str]                  # [S]
  top_pos: np.ndarray               # int16 [N, L, H, K]
  top_weight: np.ndarray            # float16 [N, L, H, K]
  mean_argmax: np.ndarray           # int16 [N, L]
  meta: list[Optional[dict[str, str]]] = dataclasses.field(default_factory=list)   # [S] or []

  @classmethod
  def load(cls, directory: pathlib.Path) -> "TokenTable":
    directory = pathlib.Path(directory)
    columns = {name: load_array(directory / "tokens" / f"{name}.npy")
               for name in INT_COLUMNS + TEXT_COLUMNS + ("special",)}
    try:
      vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
      with open(directory / "sentences.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
      texts = [row["text"] for row in rows]
      meta = [row.get("meta") for row in rows]
    except (OSError, ValueError, KeyError) as e:
      raise StoreError(f"cannot read the sentences or vocabulary of {directory}: {e}") from e
    return cls(columns=columns,
               sentence_start=load_array(directory / "tokens" / "sentence_start.npy"),
               vocab=vocab, texts=texts,
               top_pos=load_array(directory / "attention" / "top_pos.npy"),
               top_weight=load_array(directory / "attention" / "top_weight.npy"),
               mean_argmax=load_array(directory / "attention" / "mean_argmax.npy"),
               meta=meta if any(m is not None for m in meta) else [])

  def __len__(self) -> int:
    return len(self.columns["sentence_id"])

  def string(self, column: str, row: int) -> Optional[str]:
    code = int(self.columns[column][row])
    return None if code < 0 else self.vocab[code]

  @functools.cached_property
  def vocab_array(self) -> np.ndarray:
    """The vocabulary as an object array with None appended: code -1 indexes None."""
    out = np.empty(len(self.vocab) + 1, dtype=object)
    out[:-1] = self.vocab
    return out

  def decode(self, codes: np.ndarray) -> np.ndarray:
    """Codes of any text column -> object array of strings (None where code < 0).   [n]"""
    codes = np.asarray(codes)
    return self.vocab_array[np.where(codes < 0, -1, codes)]

  def gather(self, rows: np.ndarray, columns) -> dict[str, np.ndarray]:
    """The named columns at token rows `rows` [n], one fancy-indexed read of each memmap."""
    return {c: np.asarray(self.columns[c][rows]) for c in columns}

  def sentence_rows(self, sentence_id: int) -> range:
    return range(int(self.sentence_start[sentence_id]), int(self.sentence_start[sentence_id + 1]))

  def strings(self, column: str, rows: range) -> list[Optional[str]]:
    """`string(column, row)` for a run of rows, reading the column once."""
    return [None if code < 0 else self.vocab[code]
            for code in self.columns[column][rows.start:rows.stop].tolist()]

  def labels(self, row: int) -> Optional[result_lib.TokenLabels]:
    """The labels of one word-piece row; None for special tokens."""
    return self.labels_of(range(row, row + 1))[0]

  def labels_of(self, rows: range) -> list[Optional[result_lib.TokenLabels]]:
    """`labels(row)` for a run of rows (e.g. a sentence), reading each column once: search
    fills every match's sentence with these, so per-row memmap reads dominated its time."""
    cut = slice(rows.start, rows.stop)
    special = self.columns["special"][cut].tolist()
    pos_codes = self.columns["pos"][cut].tolist()
    heads = self.columns["head"][cut].tolist()
    text = {f: self.strings(f, rows) for f in ("pos", "tag", "dep", "ent", "lemma")}
    return [None if special[i] or pos_codes[i] < 0 else result_lib.TokenLabels(
                pos=text["pos"][i], tag=text["tag"][i], dep=text["dep"][i],
                ent=text["ent"][i], lemma=text["lemma"][i], head=int(heads[i]))
            for i in range(len(rows))]


def directory_bytes(directory: pathlib.Path) -> dict[str, int]:
  """Bytes on disk per top-level part of a store (index, tokens, attention, text)."""
  sizes: dict[str, int] = {}
  for path in pathlib.Path(directory).rglob("*"):
    if path.is_file():
      rel = path.relative_to(directory)
      part = rel.parts[0] if len(rel.parts) > 1 else "text"
      sizes[part] = sizes.get(part, 0) + path.stat().st_size
  return sizes
