"""Where exbert-lit keeps what it makes once and reuses: converted models (models/registry.py),
fetched corpora (corpus/sources.py) and corpus stores (analysis/stores.py), all under one root.
Standard library only, at the bottom of the layers: every layer may import it."""
from __future__ import annotations

import os
import pathlib


def cache_root() -> pathlib.Path:
  """$EXBERT_LIT_CACHE (a leading ~ expanded), else ~/.cache/exbert-lit: the one cache root
  of converted models (models.registry), corpora and corpus stores (analysis.stores)."""
  root = os.environ.get("EXBERT_LIT_CACHE")
  return pathlib.Path(root).expanduser() if root else pathlib.Path.home() / ".cache" / "exbert-lit"
