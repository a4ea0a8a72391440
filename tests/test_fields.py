"""The output field names (exbert_lit/models/fields.py): built and parsed in one place."""
import pytest

from exbert_lit.models import fields


@pytest.mark.parametrize("name,expected", [
    (fields.attention(3), "layer_3/attention"),
    (fields.attention_packed(3), "layer_3/attention_packed"),
    (fields.token_emb(0), "layer_0/token_emb"),
    (fields.context_emb(12), "layer_12/context_emb"),
    (fields.vectors("embedding", 2), "layer_2/token_emb"),
    (fields.vectors("context", 2), "layer_2/context_emb"),
])
def test_names(name, expected):
  assert name == expected


@pytest.mark.parametrize("name,parsed", [
    ("layer_3/attention", (3, "attention")),
    ("layer_0/token_emb", (0, "token_emb")),
    ("layer_3/attention_packed", (3, "attention_packed")),
    ("tokens", None),
    ("layer_x/attention", None),
    ("layer_3/", None),
])
def test_parse_layer_field(name, parsed):
  assert fields.parse_layer_field(name) == parsed
