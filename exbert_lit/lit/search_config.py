"""The corpus-search interpreter's config: parsed and checked against the model once.

Pure functions, so every one-line error a user can get is covered by a table-driven test
(tests/test_interpreter_config.py). The wire format is docs/FIELDS.md's:
{"position": int, "layer": int, "kind": "embedding"|"context", "heads": [int] | [],
 "k": int, "offsets": [int], "corpus": str (optional)}.
Numbering follows what users see: layers 1..L (0 = input embeddings, embedding search only),
heads 1..H; `position` is a 0-based word-piece index (special tokens included).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Optional

KINDS = ("embedding", "context")
DEFAULT_K = 50
MAX_K = 1000
DEFAULT_OFFSETS = (-1, 1)
MAX_OFFSET = 10

# The paper's head notation: "4-[1,3,9]", "5-3", "[1,3]", "1,3", "3".
_LAYER_HEADS = re.compile(r"^\s*(\d+)\s*-\s*(.+)$")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  """One corpus query, checked against the model it runs on."""
  position: int                 # 0-based word-piece index into the sentence
  layer: int                    # 0..L; 0 = input embeddings
  kind: str                     # "embedding" (E(l)) or "context" (C(l))
  # 1-based, sorted, unique; None = all heads. A context search masks the other heads;
  # both kinds use them for the max-attention summary.
  heads: Optional[tuple[int, ...]]
  k: int = DEFAULT_K
  offsets: tuple[int, ...] = DEFAULT_OFFSETS
  corpus: Optional[str] = None  # a corpus name; None = the one built for this model

  @property
  def field(self) -> str:
    """The model output field holding this query's vectors, [T, D] or [T, H*dh]."""
    suffix = "token_emb" if self.kind == "embedding" else "context_emb"
    return f"layer_{self.layer}/{suffix}"


def parse_heads(value: Any) -> tuple[Optional[int], Optional[tuple[int, ...]]]:
  """Parses heads given as a list of ints or in the paper's notation.

  Returns (layer or None, heads or None for "all heads"). "4-[1,3,9]" gives (4, (1, 3, 9)),
  "[1,3]" or "1,3" gives (None, (1, 3)), [] / None / "" gives (None, None).
  """
  if value is None:
    return None, None
  if isinstance(value, (list, tuple)):
    items = list(value)
    layer = None
  elif isinstance(value, str):
    text = value.strip()
    layer = None
    match = _LAYER_HEADS.match(text)
    if match:
      layer = int(match.group(1))
      text = match.group(2).strip()
    text = text.strip("[]").strip()
    items = [part.strip() for part in text.split(",")] if text else []
  else:
    raise ValueError(f"heads must be a list of head numbers like [1, 3], got {value!r}")
  heads = []
  for item in items:
    if isinstance(item, bool) or not isinstance(item, (int, str)):
      raise ValueError(f"heads must be whole numbers (1-based), got {item!r}")
    try:
      heads.append(int(item))
    except ValueError:
      raise ValueError(f"heads must be whole numbers (1-based), got {item!r}") from None
  if not heads:
    return layer, None
  return layer, tuple(sorted(set(heads)))


def _as_int(config: Mapping[str, Any], key: str, default: Optional[int] = None) -> int:
  value = config.get(key, default)
  if value is None:
    raise ValueError(f"corpus search needs '{key}'")
  if isinstance(value, bool):
    raise ValueError(f"'{key}' must be a whole number, got {value!r}")
  if isinstance(value, float) and value.is_integer():
    return int(value)
  if isinstance(value, str) and value.strip().lstrip("-").isdigit():
    return int(value)
  if not isinstance(value, int):
    raise ValueError(f"'{key}' must be a whole number, got {value!r}")
  return value


def _as_offsets(value: Any) -> tuple[int, ...]:
  if value is None:
    return DEFAULT_OFFSETS
  if isinstance(value, str):
    value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
  if not isinstance(value, (list, tuple)):
    raise ValueError(f"'offsets' must be a list of whole numbers like [-1, 1], got {value!r}")
  offsets = []
  for item in value:
    try:
      offset = int(item)
    except (TypeError, ValueError):
      raise ValueError(f"'offsets' must be whole numbers, got {item!r}") from None
    if offset == 0 or abs(offset) > MAX_OFFSET:
      raise ValueError(f"offset {offset} out of range: use -{MAX_OFFSET}..-1 or 1..{MAX_OFFSET}")
    offsets.append(offset)
  return tuple(sorted(set(offsets)))


def parse_search_config(config: Optional[Mapping[str, Any]], *, num_layers: int,
                        num_heads: int, num_tokens: int) -> SearchConfig:
  """Checks a request's config against the model and the sentence; raises ValueError.

  Args:
    config: the request's config dict (docs/FIELDS.md).
    num_layers: L, the model's layer count.
    num_heads: H, query heads per layer.
    num_tokens: T, word-pieces in the selected sentence (specials included).
  """
  config = dict(config or {})
  heads_layer, heads = parse_heads(config.get("heads"))
  layer = heads_layer if heads_layer is not None and "layer" not in config else _as_int(
      config, "layer", 1)
  if heads_layer is not None and heads_layer != layer:
    raise ValueError(f"heads '{config.get('heads')}' name layer {heads_layer} but layer is {layer}")
  kind = config.get("kind", "context" if layer > 0 else "embedding")
  if kind not in KINDS:
    raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
  if not 0 <= layer <= num_layers:
    raise ValueError(f"layer {layer} out of range: this model has layers 1..{num_layers} "
                     "(0 = input embeddings)")
  if kind == "context" and layer == 0:
    raise ValueError("layer 0 (input embeddings) has no attention context: use kind 'embedding'")
  if heads is not None:
    bad = [h for h in heads if not 1 <= h <= num_heads]
    if bad:
      raise ValueError(f"head {bad[0]} out of range: this model has heads 1..{num_heads}")
    if len(heads) == num_heads:
      heads = None
  position = _as_int(config, "position")
  if not 0 <= position < num_tokens:
    raise ValueError(f"position {position} out of range: the sentence has {num_tokens} "
                     f"tokens (0..{num_tokens - 1})")
  k = _as_int(config, "k", DEFAULT_K)
  if not 1 <= k <= MAX_K:
    raise ValueError(f"k {k} out of range: use 1..{MAX_K}")
  corpus = config.get("corpus") or None
  if corpus is not None and not isinstance(corpus, str):
    raise ValueError(f"corpus must be a corpus name, got {corpus!r}")
  return SearchConfig(position=position, layer=layer, kind=kind, heads=heads, k=k,
                      offsets=_as_offsets(config.get("offsets")), corpus=corpus)
