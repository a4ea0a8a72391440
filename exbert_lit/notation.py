"""What a user types for a layer, a head set, neighbour offsets and k: the one grammar and its defaults.

Every surface (the CLI, the corpus-search interpreter's config, the demos, the bench) parses with
these functions, and lit_modules/lib/notation.ts implements the same grammar for the views; one
table of cases (tests/notation_cases.json) drives the tests of both, so they cannot drift apart.

Numbering is what users see: layers 1..L with 0 = the input embeddings, heads 1..H. The grammar
(spaces are allowed between the parts):

  selection  L | L-H | L-[ITEMS] | L-[]       `5`, `5-3`, `4-[1,3,9]`, `2-[1-3,7]`; `4` and `4-[]` = all heads
  heads      H,H,... | [ITEMS] | [] | all     `1,3,9`, `[1-3,7]`; empty, `[]` and `all` = all heads
  ITEMS      H or A-B (a range, A <= B), comma separated: only inside brackets, because outside
             them `a-b` is layer a, head b
  offsets    O,O,... | [O,O,...]              `-1,1`, `[-2,2]`; each 0 < |O| <= MAX_OFFSET; empty = default
  k          1..MAX_K                         empty = DEFAULT_K
  (and no head number above MAX_HEAD, so a range cannot expand without bound)

Head sets are typed as `Optional[tuple[int, ...]]`: sorted, unique, 1-based, None = all heads.
Lists of numbers (from JSON, or a LIT SparseMultilabel's strings) are accepted where a list makes
sense. Errors are `ExbertError`s of one line that say what to write instead. Standard library only.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Optional, Sequence

from exbert_lit.errors import ExbertError

KINDS = ("embedding", "context")
DEFAULT_K = 50
MAX_K = 1000
DEFAULT_OFFSETS = (-1, 1)
MAX_OFFSET = 10
# Bounds what a head range can expand to (`[1-99999999]` must not allocate a set that size);
# no model has this many heads in a layer, and check_heads applies the model's own H.
MAX_HEAD = 1000

Heads = Optional[tuple[int, ...]]   # sorted, unique, 1-based; None = all heads

_INT = re.compile(r"^[+-]?[0-9]+$")
_DIGITS = re.compile(r"^[0-9]+$")
_SELECTION = re.compile(r"^([0-9]+)(?:\s*-\s*(?:([0-9]+)|\[(.*)\]))?$", re.DOTALL)
_RANGE = re.compile(r"^([0-9]+)\s*-\s*([0-9]+)$")


@dataclasses.dataclass(frozen=True)
class Selection:
  """A layer and a head set, as `4-[1,3,9]` names them."""
  layer: int     # 0..L; 0 = input embeddings
  heads: Heads   # None = all heads


def show(value: Any) -> str:
  """A value as error messages quote it: JSON (strings in double quotes), as the TypeScript
  side's JSON.stringify writes it, so both languages word an error the same."""
  try:
    return json.dumps(value, ensure_ascii=False)
  except (TypeError, ValueError):
    return repr(value)


def is_unset(value: Any) -> bool:
  """Whether a value means "use the default": None, "" (an unset LIT CategoryLabel or text
  field) or an empty list (an unset SparseMultilabel)."""
  return value is None or (isinstance(value, str) and not value.strip()) or (
      isinstance(value, (list, tuple)) and len(value) == 0)


def _number(value: Any) -> Optional[int]:
  """An int from an int, an integral float or a signed digit string; None for anything else."""
  if isinstance(value, bool):
    return None
  if isinstance(value, int):
    return value
  if isinstance(value, float):
    return int(value) if value.is_integer() else None
  if isinstance(value, str) and _INT.fullmatch(value.strip()):
    return int(value.strip())
  return None


def whole_number(value: Any, what: str) -> int:
  """A whole number (int, integral float or digit string, sign allowed) named `what` in errors."""
  number = _number(value)
  if number is None:
    raise ExbertError(f"{what} must be a whole number; got {show(value)}")
  return number


# ---------------------------------------------------------------------------------------------
# Heads and selections.

def _heads_error(value: Any) -> ExbertError:
  return ExbertError(f"heads must look like 1,3,9 or [1-3,7] (1-based; [] = all); got {show(value)}")


def _head(number: int) -> int:
  if number == 0:
    raise ExbertError("heads are numbered from 1; got 0")
  if number > MAX_HEAD:
    raise ExbertError(f"head {number} is out of range: no layer has more than {MAX_HEAD} heads")
  return number


def _items(text: str, value: Any, *, ranges: bool) -> Heads:
  """Comma-separated heads (and `a-b` ranges when `ranges`); "" = all heads."""
  if not text.strip():
    return None
  heads: set[int] = set()
  for part in text.split(","):
    part = part.strip()
    if _DIGITS.fullmatch(part):
      heads.add(_head(int(part)))
      continue
    match = _RANGE.fullmatch(part) if ranges else None
    if match is None:
      raise _heads_error(value)
    lo, hi = _head(int(match.group(1))), _head(int(match.group(2)))
    if hi < lo:
      raise ExbertError(f"head range {lo}-{hi} is empty: write the lower head first, like {hi}-{lo}")
    heads.update(range(lo, hi + 1))
  return tuple(sorted(heads))


def parse_heads(value: Any) -> Heads:
  """A head set alone: "1,3,9", "[1-3,7]", a list like [3, 1] or ["1", "3"], one int; None, "",
  "[]", [] and "all" mean all heads (None)."""
  if is_unset(value):
    return None
  if isinstance(value, (int, list, tuple)) and not isinstance(value, bool):
    numbers = [_number(item) for item in (value if isinstance(value, (list, tuple)) else [value])]
    if any(n is None or n < 0 for n in numbers):
      raise _heads_error(value)
    return tuple(sorted({_head(n) for n in numbers}))
  if not isinstance(value, str):
    raise _heads_error(value)
  text = value.strip()
  if text == "all":
    return None
  if text.startswith("[") and text.endswith("]"):
    return _items(text[1:-1], value, ranges=True)
  return _items(text, value, ranges=False)


def parse_selection(value: Any) -> Selection:
  """A layer with its heads: "5", "5-3", "4-[1,3,9]", "2-[1-3,7]", "4-[]"; an int is a layer."""
  if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
    return Selection(value, None)
  match = _SELECTION.fullmatch(value.strip()) if isinstance(value, str) else None
  if match is None:
    raise ExbertError("layer and heads must look like 5, 5-3, 4-[1,3,9], 2-[1-3,7] or 4-[] "
                      f"(all heads); got {show(value)}")
  layer = int(match.group(1))
  if match.group(2) is not None:
    return Selection(layer, (_head(int(match.group(2))),))
  if match.group(3) is not None:
    return Selection(layer, _items(match.group(3), value, ranges=True))
  return Selection(layer, None)


def parse_heads_field(value: Any) -> tuple[Optional[int], Heads]:
  """The interpreter config's `heads`, which may name its layer: "4-[1,3,9]" and "5-3" give
  (layer, heads); "1,3", "[1-3]" and lists give (None, heads)."""
  if isinstance(value, str) and "-" in value.split("[")[0]:
    selection = parse_selection(value)
    return selection.layer, selection.heads
  return None, parse_heads(value)


def format_selection(selection: Selection) -> str:
  """The canonical text of a selection: `4`, `5-3` or `4-[1,3,9]` (parse_selection reads it back)."""
  if selection.heads is None:
    return str(selection.layer)
  if len(selection.heads) == 1:
    return f"{selection.layer}-{selection.heads[0]}"
  return f"{selection.layer}-[{','.join(map(str, selection.heads))}]"


# ---------------------------------------------------------------------------------------------
# Layer, kind, offsets, k.

def parse_layer(value: Any) -> int:
  """A layer number: 0..; 0 = input embeddings."""
  number = _number(value)
  if number is None or number < 0:
    raise ExbertError(f"layer must be a whole number like 5 (0 = input embeddings); got {show(value)}")
  return number


def parse_kind(value: Any, layer: int) -> str:
  """"embedding" or "context"; unset means context, or embedding at layer 0 (no attention)."""
  if is_unset(value):
    return "context" if layer > 0 else "embedding"
  if value not in KINDS:
    raise ExbertError(f"kind must be embedding or context; got {show(value)}")
  return value


def parse_offsets(value: Any) -> tuple[int, ...]:
  """Neighbour offsets: "-1,1", "[-2,2]", a list; sorted and unique. Unset means DEFAULT_OFFSETS."""
  if is_unset(value):
    return DEFAULT_OFFSETS
  if isinstance(value, str):
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
      text = text[1:-1]
    if not text.strip():
      return DEFAULT_OFFSETS
    items: Sequence[Any] = text.split(",")
  elif isinstance(value, (list, tuple)):
    items = value
  else:
    items = [value]
  numbers = [_number(item) for item in items]
  if any(n is None for n in numbers):
    raise ExbertError(f"offsets must look like -1,1 or [-2,2] (whole numbers); got {show(value)}")
  for offset in numbers:
    if offset == 0 or abs(offset) > MAX_OFFSET:
      raise ExbertError(f"offset {offset} is out of range: use -{MAX_OFFSET}..-1 or 1..{MAX_OFFSET}")
  return tuple(sorted(set(numbers)))


def parse_k(value: Any) -> int:
  """The number of matches, 1..MAX_K; unset means DEFAULT_K."""
  if is_unset(value):
    return DEFAULT_K
  k = _number(value)
  if k is None:
    raise ExbertError(f"k must be a whole number like {DEFAULT_K}; got {show(value)}")
  if not 1 <= k <= MAX_K:
    raise ExbertError(f"k {k} is out of range: use 1..{MAX_K}")
  return k


# ---------------------------------------------------------------------------------------------
# Range checks against a model or a store, worded the same on every surface.

def check_layer(layer: int, num_layers: int, kind: Optional[str] = None) -> int:
  """0 <= layer <= L; layer 0 has no attention, so not for kind "context"."""
  if not 0 <= layer <= num_layers:
    raise ExbertError(f"layer {layer} is out of range: this model has layers 1..{num_layers} "
                      "(0 = input embeddings)")
  if layer == 0 and kind == "context":
    raise ExbertError('layer 0 (input embeddings) has no attention context: use kind "embedding"')
  return layer


def check_heads(heads: Optional[Sequence[int]], num_heads: int) -> Heads:
  """Heads within 1..H, sorted and unique; None (= all) for None, empty or every head."""
  if heads is None or len(heads) == 0:
    return None
  chosen = tuple(sorted({int(h) for h in heads}))
  bad = [h for h in chosen if not 1 <= h <= num_heads]
  if bad:
    raise ExbertError(f"head {bad[0]} is out of range: "
                      f"this model has heads 1..{num_heads}")
  return None if len(chosen) == num_heads else chosen


def check_selection(selection: Selection, num_layers: int, num_heads: int,
                    kind: Optional[str] = None) -> Selection:
  """A selection checked against a model: layer 0..L, heads 1..H (every head = all)."""
  return Selection(check_layer(selection.layer, num_layers, kind),
                   check_heads(selection.heads, num_heads))
