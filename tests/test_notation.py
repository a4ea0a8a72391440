"""The one grammar of what a user types (exbert_lit/notation.py), driven by tests/notation_cases.json.

The same table drives lit_modules/lib/notation_test.ts, so the Python and TypeScript parsers
accept the same text, give the same values and word the same errors.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Callable

import pytest

from exbert_lit import notation
from exbert_lit.errors import ExbertError

CASES = json.loads((pathlib.Path(__file__).parent / "notation_cases.json").read_text(encoding="utf-8"))


def _heads(value):
  return None if value is None else tuple(value)


def _selection(case):
  selection = notation.parse_selection(case["input"])
  if "num_layers" in case:
    selection = notation.check_selection(selection, case["num_layers"], case["num_heads"])
  return selection


def _heads_checked(case):
  heads = notation.parse_heads(case["input"])
  return notation.check_heads(heads, case["num_heads"]) if "num_heads" in case else heads


def _layer(case):
  layer = notation.parse_layer(case["input"])
  if "num_layers" in case:
    layer = notation.check_layer(layer, case["num_layers"], case.get("kind"))
  return layer


# section -> (parse a case, the case's expected value)
SECTIONS: dict[str, tuple[Callable[[dict], Any], Callable[[dict], Any]]] = {
    "selection": (_selection, lambda c: notation.Selection(c["layer"], _heads(c["heads"]))),
    "heads": (_heads_checked, lambda c: _heads(c["heads"])),
    "offsets": (lambda c: notation.parse_offsets(c["input"]), lambda c: tuple(c["offsets"])),
    "k": (lambda c: notation.parse_k(c["input"]), lambda c: c["k"]),
    "layer": (_layer, lambda c: c["layer"]),
    "kind": (lambda c: notation.parse_kind(c["input"], c["layer"]), lambda c: c["kind"]),
    "heads_field": (lambda c: notation.parse_heads_field(c["input"]),
                    lambda c: (c["layer"], _heads(c["heads"]))),
}


def _cases():
  for section in SECTIONS:
    for case in CASES[section]:
      yield pytest.param(section, case, id=f"{section}:{json.dumps(case['input'])}")


def test_every_section_is_tested():
  assert set(CASES) - {"about", "defaults"} == set(SECTIONS)


@pytest.mark.parametrize("section,case", _cases())
def test_case(section, case):
  parse, expected = SECTIONS[section]
  if "error" in case:
    with pytest.raises(ExbertError) as error:
      parse(case)
    assert str(error.value) == case["error"]
    assert "\n" not in str(error.value)
  else:
    assert parse(case) == expected(case)


@pytest.mark.parametrize("case", [c for c in CASES["selection"] if "text" in c],
                         ids=lambda c: json.dumps(c["input"]))
def test_canonical_text_reads_back(case):
  selection = _selection(case)
  assert notation.format_selection(selection) == case["text"]
  assert notation.parse_selection(case["text"]) == selection


def test_defaults_match_the_table():
  d = CASES["defaults"]
  assert (notation.DEFAULT_K, notation.MAX_K, list(notation.DEFAULT_OFFSETS), notation.MAX_OFFSET,
          notation.MAX_HEAD, list(notation.KINDS)) == (
              d["DEFAULT_K"], d["MAX_K"], d["DEFAULT_OFFSETS"], d["MAX_OFFSET"], d["MAX_HEAD"],
              d["KINDS"])


@pytest.mark.parametrize("value,unset", [
    (None, True), ("", True), ("  ", True), ([], True), ((), True),
    (0, False), ("0", False), ([0], False), ("x", False), (False, False),
])
def test_is_unset(value, unset):
  assert notation.is_unset(value) is unset


@pytest.mark.parametrize("value,expected", [
    (3, 3), (3.0, 3), ("-2", -2), (" +4 ", 4),
    (True, "position must be a whole number; got true"),
    (1.5, "position must be a whole number; got 1.5"),
    ("1e3", 'position must be a whole number; got "1e3"'),
    (None, "position must be a whole number; got null"),
])
def test_whole_number(value, expected):
  if isinstance(expected, str):
    with pytest.raises(ExbertError, match=None) as error:
      notation.whole_number(value, "position")
    assert str(error.value) == expected
  else:
    assert notation.whole_number(value, "position") == expected


def test_errors_are_value_errors():
  """Callers that catch ValueError (LIT, argparse helpers) still see bad input as bad input."""
  with pytest.raises(ValueError):
    notation.parse_k("x")
