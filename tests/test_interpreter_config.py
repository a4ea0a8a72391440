"""Table-driven tests of the corpus-search interpreter's config parsing (exbert_lit/lit/search_config.py)."""
from __future__ import annotations

import pytest

from exbert_lit.errors import ExbertError
from exbert_lit.lit import search_config as sc

MODEL = dict(num_layers=6, num_heads=12, num_tokens=10)


DEFAULTS = dict(layer=1, kind="context", heads=None, k=50, offsets=(-1, 1), corpus=None)


@pytest.mark.parametrize("config,expected", [
    ({"position": 3, "layer": 2}, dict(position=3, layer=2, kind="context", heads=None, k=50,
                                       offsets=(-1, 1))),
    ({"position": 0, "layer": 0}, dict(layer=0, kind="embedding")),
    ({"position": 1, "layer": 4, "heads": [9, 1, 3, 3]}, dict(heads=(1, 3, 9))),
    ({"position": 1, "heads": "4-[1,3,9]"}, dict(layer=4, heads=(1, 3, 9))),
    ({"position": 1, "heads": "5-3"}, dict(layer=5, heads=(3,))),
    ({"position": 1, "heads": "3-[1-3,7]"}, dict(layer=3, heads=(1, 2, 3, 7))),
    ({"position": 1, "heads": "3-[]"}, dict(layer=3, heads=None)),
    ({"position": 1, "layer": 3, "heads": "3-[]"}, dict(layer=3, heads=None)),
    ({"position": 1, "layer": 2, "heads": "[2, 4]"}, dict(heads=(2, 4))),
    ({"position": 1, "layer": 2, "heads": "[1-3,7]"}, dict(heads=(1, 2, 3, 7))),
    ({"position": 1, "layer": 2, "heads": ["2", "4"]}, dict(heads=(2, 4))),  # SparseMultilabel
    ({"position": 1, "layer": 2, "heads": []}, dict(heads=None)),
    ({"position": 1, "layer": 2, "heads": list(range(1, 13))}, dict(heads=None)),
    ({"position": 1, "layer": 2, "kind": "embedding", "heads": [2]},
     dict(kind="embedding", heads=(2,))),
    ({"position": "2", "layer": 3.0, "k": 5, "offsets": [2, -2, 1]},
     dict(position=2, layer=3, k=5, offsets=(-2, 1, 2))),
    ({"position": 1, "layer": 2, "offsets": "[-2,2]"}, dict(offsets=(-2, 2))),
    ({"position": 1, "layer": 2, "offsets": ["-3", "1"]}, dict(offsets=(-3, 1))),
    ({"position": 9, "layer": 6, "corpus": "brown"}, dict(position=9, corpus="brown")),
    # What a generic LIT client sends for fields left unset: the defaults.
    ({"position": 1}, DEFAULTS),
    ({"position": 1, "kind": ""}, DEFAULTS),             # unset CategoryLabel
    ({"position": 1, "heads": []}, DEFAULTS),            # unset SparseMultilabel
    ({"position": 1, "offsets": []}, DEFAULTS),
    ({"position": 1, "corpus": ""}, DEFAULTS),
    ({"position": 1, "k": ""}, DEFAULTS),
    ({"position": 1, "k": None}, DEFAULTS),              # unset Scalar
    ({"position": 1, "layer": ""}, DEFAULTS),
    ({"position": 1, "layer": None, "heads": None, "offsets": None, "kind": None}, DEFAULTS),
    ({"position": 1, "layer": "", "kind": "", "heads": [], "k": "", "offsets": [], "corpus": ""},
     DEFAULTS),
    ({"position": 1, "layer": "", "heads": "4-[2]"}, dict(layer=4, heads=(2,))),
    ({"position": 1, "layer": 0, "kind": ""}, dict(layer=0, kind="embedding")),
])
def test_valid_configs(config, expected):
  parsed = sc.parse_search_config(config, **MODEL)
  for key, value in expected.items():
    assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("config,message", [
    ({"layer": 2}, "corpus search needs 'position' (0-based word-piece index)"),
    ({"position": "", "layer": 2}, "corpus search needs 'position'"),
    ({"position": 10, "layer": 2}, "position 10 out of range: the sentence has 10 tokens (0..9)"),
    ({"position": -1, "layer": 2}, "position -1 out of range"),
    ({"position": 1, "layer": 7},
     "layer 7 is out of range: this model has layers 1..6 (0 = input embeddings)"),
    ({"position": 1, "layer": -1}, "layer must be a whole number like 5 (0 = input embeddings); got -1"),
    ({"position": 1, "layer": "x"}, 'layer must be a whole number like 5 (0 = input embeddings); got "x"'),
    ({"position": 1, "layer": 0, "kind": "context"},
     'layer 0 (input embeddings) has no attention context: use kind "embedding"'),
    ({"position": 1, "layer": 2, "heads": [0]}, "heads are numbered from 1; got 0"),
    ({"position": 1, "layer": 2, "heads": [13]}, "head 13 is out of range: this model has heads 1..12"),
    ({"position": 1, "heads": "2-[1-13]"}, "head 13 is out of range: this model has heads 1..12"),
    ({"position": 1, "layer": 2, "heads": ["x"]},
     'heads must look like 1,3,9 or [1-3,7] (1-based; [] = all); got ["x"]'),
    ({"position": 1, "layer": 2, "heads": {"a": 1}}, "heads must look like 1,3,9 or [1-3,7]"),
    ({"position": 1, "layer": 2, "heads": "[3-1]"}, "head range 3-1 is empty"),
    ({"position": 1, "layer": 2, "heads": "4-[1]"},
     'heads "4-[1]" name layer 4 but layer is 2: give the layer once'),
    ({"position": 1, "heads": "7-[]"}, "layer 7 is out of range"),
    ({"position": 1, "layer": 2, "kind": "attention"},
     'kind must be embedding or context; got "attention"'),
    ({"position": 1, "layer": 2, "k": 0}, "k 0 is out of range: use 1..1000"),
    ({"position": 1, "layer": 2, "k": "many"}, 'k must be a whole number like 50; got "many"'),
    ({"position": 1, "layer": 2, "offsets": [0]}, "offset 0 is out of range: use -10..-1 or 1..10"),
    ({"position": 1, "layer": 2, "offsets": [11]}, "offset 11 is out of range"),
    ({"position": 1, "layer": 2, "offsets": "1,x"}, "offsets must look like -1,1 or [-2,2]"),
    ({"position": True, "layer": 2}, "position must be a whole number; got true"),
    ({"position": 1.5, "layer": 2}, "position must be a whole number; got 1.5"),
    ({"position": 1, "layer": 2, "corpus": 3}, "corpus must be a corpus name; got 3"),
])
def test_invalid_configs_fail_with_one_line(config, message):
  with pytest.raises(ExbertError) as error:
    sc.parse_search_config(config, **MODEL)
  assert message in str(error.value)
  assert "\n" not in str(error.value)


def test_field_names():
  assert sc.SearchConfig(position=0, layer=3, kind="context", heads=None).field == (
      "layer_3/context_emb")
  assert sc.SearchConfig(position=0, layer=0, kind="embedding", heads=None).field == (
      "layer_0/token_emb")
