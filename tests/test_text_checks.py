"""The length checks of the views' model (exbert_lit/lit/text_checks.py): a model's own limit, and
the views' stated limit VIEW_MAX_TOKENS below it for models that take more (SmolLM2: 8,192)."""
from __future__ import annotations

import pytest

from exbert_lit.errors import ExbertError
from exbert_lit.lit import text_checks


class _WordTokenizer:
  """One token per word plus two specials, like [CLS] ... [SEP]."""

  def __call__(self, text, add_special_tokens=True):
    return {"input_ids": list(range(len(text.split()) + (2 if add_special_tokens else 0)))}


class _Model:
  def __init__(self, max_length: int):
    self.tokenizer = _WordTokenizer()
    self.max_length = max_length


@pytest.mark.parametrize("max_length, words, error", [
    (8192, 1022, None),                       # 1,024 tokens: the views' limit, accepted
    (8192, 1023, "'text' is 1025 tokens; the exBERT views show at most 1024 (model 'm' takes 8192): shorten it"),
    (8192, 9000, "'text' is 9002 tokens; model 'm' takes at most 8192: shorten it"),
    (512, 510, None),
    (512, 511, "'text' is 513 tokens; model 'm' takes at most 512: shorten it"),
])
def test_length_limits(max_length, words, error):
  text = " ".join(["word"] * words)
  if error is None:
    text_checks.check_length(_Model(max_length), "text", text, "m")
  else:
    with pytest.raises(ExbertError) as e:
      text_checks.check_length(_Model(max_length), "text", text, "m")
    assert str(e.value) == error

