"""Head profiles computed once per store and kept: in memory per open store, and on disk in the
cache (stores may be read-only), so the LIT head grid and `exbert-lit heads` answer in well
under a second after the first count (about 20 s for the 1.4M-token Brown store on 2 cores).

    <cache>/head_profiles/<store directory name>-<16 hex>.npz

The hex digest covers the store's resolved path, its manifest and PROFILE_VERSION, so a rebuilt
store or a change of the counting rules gets a new file. The .npz holds only numbers and one
JSON string (read with allow_pickle=False, like the store).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import threading
from typing import Optional

import numpy as np

from exbert_lit.analysis import head_profiles
from exbert_lit.corpus import sources

logger = logging.getLogger(__name__)

PROFILE_VERSION = 1
Profiles = dict[tuple[str, str], head_profiles.HeadProfile]

_memory: dict[str, Profiles] = {}
_lock = threading.Lock()


def cache_path(index, cache: Optional[os.PathLike] = None) -> pathlib.Path:
  """Where the profiles of `index` (a CorpusIndex) are kept."""
  directory = pathlib.Path(index.directory).resolve()
  key = json.dumps({"path": str(directory), "manifest": index.manifest,
                    "version": PROFILE_VERSION}, sort_keys=True)
  digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
  root = pathlib.Path(cache) if cache is not None else sources.cache_root()
  return root / "head_profiles" / f"{directory.name}-{digest}.npz"


def save(path: pathlib.Path, profiles: Profiles) -> None:
  """Writes the profiles atomically (a reader sees the old file or the whole new one)."""
  meta, arrays = [], {}
  for i, ((by, field), p) in enumerate(sorted(profiles.items())):
    meta.append({"by": by, "field": field, "labels": p.labels, "tokens": p.tokens,
                 "sources": p.sources, "skip_special": p.skip_special,
                 "skip_first": p.skip_first, "model": p.model})
    arrays[f"counts_{i}"] = p.counts
    arrays[f"base_{i}"] = p.base
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp.npz")
  np.savez(tmp, meta=np.asarray(json.dumps(meta)), **arrays)
  os.replace(tmp, path)


def load(path: pathlib.Path) -> Profiles:
  with np.load(path, allow_pickle=False) as data:
    meta = json.loads(str(data["meta"]))
    return {(m["by"], m["field"]): head_profiles.HeadProfile(
        field=m["field"], by=m["by"], labels=m["labels"], counts=data[f"counts_{i}"],
        base=data[f"base_{i}"], tokens=m["tokens"], sources=m["sources"],
        skip_special=m["skip_special"], skip_first=m["skip_first"], model=m["model"])
        for i, m in enumerate(meta)}


def profiles_for(index, *, cache: Optional[os.PathLike] = None, use_disk: bool = True) -> Profiles:
  """Every (by, field) profile of `index` with the default skipping rules: from memory, else
  from the disk cache, else counted (and then written to the cache when it is writable)."""
  path = cache_path(index, cache)
  key = str(path)
  with _lock:
    if key in _memory:
      return _memory[key]
    profiles = None
    if use_disk and path.is_file():
      try:
        profiles = load(path)
      except (OSError, ValueError, KeyError) as e:
        logger.warning("ignoring unreadable head-profile cache %s: %s", path, e)
    if profiles is None:
      profiles = head_profiles.compute_profiles(index)
      if use_disk:
        try:
          save(path, profiles)
        except OSError as e:
          logger.warning("cannot write the head-profile cache %s: %s", path, e)
    _memory[key] = profiles
    return profiles
