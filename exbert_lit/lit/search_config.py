"""The corpus-search interpreter's config: parsed and checked against the model once.

Pure functions, so every one-line error a user can get is covered by a table-driven test
(tests/test_interpreter_config.py). The wire format is docs/FIELDS.md's:
{"position": int, "layer": int, "kind": "embedding"|"context", "heads": [int] | [],
 "k": int, "offsets": [int], "corpus": str (optional)}.
Layer, heads, offsets and k are read by exbert_lit/notation.py, the grammar every surface uses:
`heads` may also be text in the paper's notation ("4-[1,3,9]", "5-3", "3-[]", "[1-3,7]"), which
names the layer too. Numbering follows what users see: layers 1..L (0 = input embeddings,
embedding search only), heads 1..H; `position` is a 0-based word-piece index (special tokens
included).

An empty value means "use the default", because a generic LIT client sends one for every field
of the interpreter's spec that the user left unset: "" for a CategoryLabel or text field, [] for
a SparseMultilabel, null for a Scalar. Defaults: layer 1 (or the layer `heads` names), kind
context (embedding at layer 0), all heads, k DEFAULT_K, offsets DEFAULT_OFFSETS, the model's own
corpus. Only `position` is required.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from exbert_lit import notation
from exbert_lit.errors import ExbertError
from exbert_lit.models import fields as fields_lib
# The defaults live in notation.py; these names are what the interpreter's spec reads.
from exbert_lit.notation import DEFAULT_K, DEFAULT_OFFSETS, KINDS, MAX_K, MAX_OFFSET  # pylint: disable=unused-import

DEFAULT_LAYER = 1


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
    return fields_lib.vectors(self.kind, self.layer)


def parse_search_config(config: Optional[Mapping[str, Any]], *, num_layers: int,
                        num_heads: int, num_tokens: int) -> SearchConfig:
  """Checks a request's config against the model and the sentence; raises ExbertError.

  Args:
    config: the request's config dict (docs/FIELDS.md).
    num_layers: L, the model's layer count.
    num_heads: H, query heads per layer.
    num_tokens: T, word-pieces in the selected sentence (specials included).
  """
  config = dict(config or {})
  heads_layer, heads = notation.parse_heads_field(config.get("heads"))
  if notation.is_unset(config.get("layer")):
    layer = DEFAULT_LAYER if heads_layer is None else heads_layer
  else:
    layer = notation.parse_layer(config["layer"])
    if heads_layer is not None and heads_layer != layer:
      raise ExbertError(f"heads {notation.show(config['heads'])} name layer {heads_layer} but "
                        f"layer is {layer}: give the layer once")
  kind = notation.parse_kind(config.get("kind"), layer)
  notation.check_layer(layer, num_layers, kind)
  heads = notation.check_heads(heads, num_heads)
  if notation.is_unset(config.get("position")):
    raise ExbertError("corpus search needs 'position' (0-based word-piece index)")
  position = notation.whole_number(config["position"], "position")
  if not 0 <= position < num_tokens:
    raise ExbertError(f"position {position} out of range: the sentence has {num_tokens} "
                      f"tokens (0..{num_tokens - 1})")
  corpus = config.get("corpus")
  if notation.is_unset(corpus):
    corpus = None
  elif not isinstance(corpus, str):
    raise ExbertError(f"corpus must be a corpus name; got {notation.show(corpus)}")
  return SearchConfig(position=position, layer=layer, kind=kind, heads=heads,
                      k=notation.parse_k(config.get("k")),
                      offsets=notation.parse_offsets(config.get("offsets")), corpus=corpus)
