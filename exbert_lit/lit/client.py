"""Where the exbert-lit LIT client bundle lives, and which TypeScript sources it was built from.

The bundle (LIT's client compiled with the exBERT attention and corpus modules, see lit_modules/build.sh)
is committed inside the package at exbert_lit/client/, so `pip install` users never need node. The server
passes `client_root()` to LIT; `None` means the bundle is absent and LIT's stock client must be used.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Optional

CLIENT_DIR = pathlib.Path(__file__).resolve().parent.parent / "client"
BUILD_INFO = "BUILD_INFO.json"

# Files under lit_modules/ that go into the bundle. Tests of the pure helpers do not.
_SOURCE_GLOBS = ("src/**/*.ts", "lib/*.ts", "static/**/*", "build.sh", "webpack.exbert.js", "package-lock.json")


def client_root() -> Optional[str]:
  """The directory to pass to LIT as `client_root`, or None if the bundle was not built."""
  if (CLIENT_DIR / "main.js").is_file() and (CLIENT_DIR / "static" / "index.html").is_file():
    return str(CLIENT_DIR)
  return None


def source_files(lit_modules: pathlib.Path) -> list[pathlib.Path]:
  """The files the bundle is built from, sorted by their path relative to lit_modules/."""
  files = set()
  for pattern in _SOURCE_GLOBS:
    for path in lit_modules.glob(pattern):
      if path.is_file() and not path.name.endswith("_test.ts"):
        files.add(path)
  return sorted(files, key=lambda p: p.relative_to(lit_modules).as_posix())


def sources_digest(lit_modules: pathlib.Path) -> str:
  """sha256 over (relative path, content hash) of every source file: changes iff a source changes."""
  outer = hashlib.sha256()
  for path in source_files(lit_modules):
    inner = hashlib.sha256(path.read_bytes()).hexdigest()
    outer.update(f"{path.relative_to(lit_modules).as_posix()}\0{inner}\n".encode())
  return outer.hexdigest()


def build_info() -> Optional[dict]:
  """The record the build wrote beside the bundle (sources digest, LIT client version), if any."""
  path = CLIENT_DIR / BUILD_INFO
  if not path.is_file():
    return None
  return json.loads(path.read_text(encoding="utf-8"))
