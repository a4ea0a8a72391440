"""Table-driven tests of the corpus-search interpreter's config parsing (exbert_lit/lit/search_config.py)."""
from __future__ import annotations

import pytest

from exbert_lit.lit import search_config as sc

MODEL = dict(num_layers=6, num_heads=12, num_tokens=10)


@pytest.mark.parametrize("config,expected", [
    ({"position": 3, "layer": 2}, dict(position=3, layer=2, kind="context", heads=None, k=50,
                                       offsets=(-1, 1))),
    ({"position": 0, "layer": 0}, dict(layer=0, kind="embedding")),
    ({"position": 1, "layer": 4, "heads": [9, 1, 3, 3]}, dict(heads=(1, 3, 9))),
    ({"position": 1, "heads": "4-[1,3,9]"}, dict(layer=4, heads=(1, 3, 9))),
    ({"position": 1, "heads": "5-3"}, dict(layer=5, heads=(3,))),
    ({"position": 1, "layer": 2, "heads": "[2, 4]"}, dict(heads=(2, 4))),
    ({"position": 1, "layer": 2, "heads": []}, dict(heads=None)),
    ({"position": 1, "layer": 2, "heads": list(range(1, 13))}, dict(heads=None)),
    ({"position": 1, "layer": 2, "kind": "embedding", "heads": [2]},
     dict(kind="embedding", heads=(2,))),
    ({"position": "2", "layer": 3.0, "k": 5, "offsets": [2, -2, 1]},
     dict(position=2, layer=3, k=5, offsets=(-2, 1, 2))),
    ({"position": 9, "layer": 6, "corpus": "brown"}, dict(position=9, corpus="brown")),
])
def test_valid_configs(config, expected):
  parsed = sc.parse_search_config(config, **MODEL)
  for key, value in expected.items():
    assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("config,message", [
    ({"layer": 2}, "corpus search needs 'position'"),
    ({"position": 10, "layer": 2}, "position 10 out of range: the sentence has 10 tokens (0..9)"),
    ({"position": -1, "layer": 2}, "position -1 out of range"),
    ({"position": 1, "layer": 7}, "layer 7 out of range: this model has layers 1..6"),
    ({"position": 1, "layer": -1}, "layer -1 out of range"),
    ({"position": 1, "layer": 0, "kind": "context"}, "layer 0 (input embeddings) has no attention"),
    ({"position": 1, "layer": 2, "heads": [0]}, "head 0 out of range: this model has heads 1..12"),
    ({"position": 1, "layer": 2, "heads": [13]}, "head 13 out of range"),
    ({"position": 1, "layer": 2, "heads": ["x"]}, "heads must be whole numbers"),
    ({"position": 1, "layer": 2, "heads": 3}, "heads must be a list"),
    ({"position": 1, "layer": 2, "heads": "4-[1]"}, "name layer 4 but layer is 2"),
    ({"position": 1, "layer": 2, "kind": "attention"}, "kind must be one of embedding, context"),
    ({"position": 1, "layer": 2, "k": 0}, "k 0 out of range"),
    ({"position": 1, "layer": 2, "offsets": [0]}, "offset 0 out of range"),
    ({"position": 1, "layer": 2, "offsets": [11]}, "offset 11 out of range"),
    ({"position": True, "layer": 2}, "'position' must be a whole number"),
    ({"position": 1.5, "layer": 2}, "'position' must be a whole number"),
    ({"position": 1, "layer": 2, "corpus": 3}, "corpus must be a corpus name"),
])
def test_invalid_configs_fail_with_one_line(config, message):
  with pytest.raises(ValueError) as error:
    sc.parse_search_config(config, **MODEL)
  assert message in str(error.value)
  assert "\n" not in str(error.value)


@pytest.mark.parametrize("value,expected", [
    (None, (None, None)), ("", (None, None)), ([], (None, None)),
    ([3, 1], (None, (1, 3))), ("1,3", (None, (1, 3))), ("4-[1,3,9]", (4, (1, 3, 9))),
    ("5-3", (5, (3,))), (" 2 - [ 4 ] ", (2, (4,))),
])
def test_parse_heads(value, expected):
  assert sc.parse_heads(value) == expected


def test_field_names():
  assert sc.SearchConfig(position=0, layer=3, kind="context", heads=None).field == (
      "layer_3/context_emb")
  assert sc.SearchConfig(position=0, layer=0, kind="embedding", heads=None).field == (
      "layer_0/token_emb")
