"""Cheap checks of what a user typed, run by the commands before they load a model.

Loading a model takes seconds to minutes and fills the terminal; a typo in a file name should
not. Every check here reads at most a config, a manifest or the start of a file, and fails with
a one-line `ExbertError` that names the option and says what to change. The checks that need
the model itself (its fingerprint against a store's, exact token counts) still run after it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import socket
from typing import Any

from exbert_lit.errors import ExbertError

MANIFEST = "manifest.json"   # exbert_lit.corpus.store.MANIFEST, read here without numpy


def existing_file(path: str, option: str) -> pathlib.Path:
  """`path` as a Path if it is a readable file, else a one-line error naming `option`."""
  file = pathlib.Path(path).expanduser()
  if file.is_dir():
    raise ExbertError(f"{option} {path}: is a directory, not a file")
  if not file.is_file():
    raise ExbertError(f"{option} {path}: no such file")
  return file


def corpus(name_or_path: str, option: str, fmt: str | None = None,
           text_field: str | None = None) -> str:
  """A corpus for `index --corpus` or `serve --data` (`brown`, a file, hf:NAME...) that its
  reader will read, checked on a sample (corpus/sources.py check_corpus); returns its format."""
  from exbert_lit.corpus import sources  # pylint: disable=g-import-not-at-top
  return sources.check_corpus(name_or_path, fmt, text_field, option)


def add_corpus_format_args(parser) -> None:
  """--format and --text-field, the same for every command that reads a corpus."""
  from exbert_lit.corpus import readers  # pylint: disable=g-import-not-at-top
  parser.add_argument("--format", choices=readers.FORMATS, default=None,
                      help="how to read the corpus (default: by extension, and for a text file "
                      "lines when it has no blank line, else paragraphs; the choice is logged)")
  parser.add_argument("--text-field", default=None, metavar="NAME",
                      help="jsonl/csv/hf: the column holding the text (default text); the other "
                      "columns are metadata, shown with each corpus match")


def model_config(name_or_path: str, option: str = "--model") -> tuple[str, Any]:
  """(where from_pretrained finds it, its Hugging Face config) for a model given by short name,
  directory or hub name; reads no weights. Also checks that it is a masked or causal LM, as
  `load_model` will. (smollm2's first use converts its GGUF file here, once.)
  """
  import transformers  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import hf  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  try:
    source = registry.resolve(name_or_path)
  except registry.ModelNotFoundError as e:
    raise ExbertError(f"{option}: {e}") from None
  try:
    config = transformers.AutoConfig.from_pretrained(source)
  except (OSError, ValueError) as e:
    raise ExbertError(
        f"{option}: model {name_or_path!r}: not a short name ({', '.join(registry.SHORT_NAMES)}), "
        f"not a local directory, and not loadable from the Hugging Face hub "
        f"({type(e).__name__})") from None
  try:
    hf.is_causal_config(config)
  except ValueError as e:
    raise ExbertError(f"{option} {name_or_path}: {e}") from None
  return source, config


def config_shape(config) -> dict[str, Any]:
  """What a store's manifest records about its model, read from a config."""
  from exbert_lit.models import hf  # pylint: disable=g-import-not-at-top
  return {"is_causal": hf.is_causal_config(config),
          "num_layers": int(config.num_hidden_layers),
          "num_heads": int(config.num_attention_heads),
          "hidden_size": int(config.hidden_size)}


def vector_dims(config) -> list[int]:
  """The widths of the vectors a store indexes for this model: E(l), then C(l) (all heads)."""
  heads = int(config.num_attention_heads)
  head_dim = getattr(config, "head_dim", None) or int(config.hidden_size) // heads
  return [int(config.hidden_size), heads * int(head_dim)]


def read_manifest(directory: str, option: str) -> dict:
  """The JSON manifest of a finished corpus index at `directory`, checked as search will read it
  (corpus.store.read_manifest: only manifest.json, no arrays, no faiss), its `model` with the
  sizes a minimal manifest may leave out filled in (store_fits reads them); or the store's
  one-line error, naming `option`."""
  from exbert_lit.corpus import manifest as manifest_lib  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  try:
    manifest = store.read_manifest(pathlib.Path(directory).expanduser())
  except store.StoreError as e:
    raise ExbertError(f"{option}: {e}") from None
  model = manifest_lib.Manifest.from_json(manifest).model
  return {**manifest, "model": {**manifest["model"], **dataclasses.asdict(model)}}


def describe_shape(shape: dict) -> str:
  kind = "causal" if shape["is_causal"] else "masked"
  return (f"{kind}, {shape['num_layers']} layers, {shape['num_heads']} heads, "
          f"hidden size {shape['hidden_size']}")


def store_fits(manifest: dict, shape: dict) -> bool:
  """Whether a model of this shape can be the store's model (the fingerprint decides later)."""
  return all(manifest["model"][k] == shape[k] for k in shape)


def check_listen(host: str, port: int, option: str = "--port") -> None:
  """Fails now if the server could not listen on host:port (in use, no such address)."""
  try:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
  except socket.gaierror as e:
    raise ExbertError(f"--host {host}: not an address of this machine ({e.strerror})") from None
  family, kind, proto, _, address = infos[0]
  with contextlib.closing(socket.socket(family, kind, proto)) as sock:
    # As werkzeug's server does: a port in TIME_WAIT from an earlier run is free.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      sock.bind(address)
    except OSError as e:
      raise ExbertError(f"{option} {port}: cannot listen on {host}:{port} "
                        f"({e.strerror or e})") from None


def check_new_index_dir(directory: str, option: str = "--out") -> None:
  """`exbert-lit index --out`: new, empty, or an unfinished build (which is resumed)."""
  out = pathlib.Path(directory).expanduser()
  if out.exists() and not out.is_dir():
    raise ExbertError(f"{option} {directory}: is a file, not a directory")
  if (out / MANIFEST).exists():
    raise ExbertError(f"{option} {directory}: already holds a finished corpus index; "
                      "choose another --out")
  if out.is_dir() and any(out.iterdir()) and not (out / "_build").is_dir():
    raise ExbertError(f"{option} {directory}: not empty and not an unfinished corpus index")


def check_faiss_factory(factory: str, dims: list[int], search_params: str | None) -> None:
  """A faiss factory string (and its search parameters) that faiss accepts for these dims."""
  import faiss  # pylint: disable=g-import-not-at-top
  for dim in dims:
    try:
      index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
      raise ExbertError(f"--index-type: invalid faiss index type {factory!r}: "
                        f"{str(e).strip().splitlines()[-1][:200]}") from None
    if search_params:
      try:
        faiss.ParameterSpace().set_index_parameters(index, search_params)
      except RuntimeError as e:
        raise ExbertError(f"--search-params {search_params!r} do not fit {factory!r}: "
                          f"{str(e).strip().splitlines()[-1][:200]}") from None
