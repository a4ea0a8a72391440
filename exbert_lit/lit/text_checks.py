"""Checks on the sentences a model is asked to run on: empty and over-long text are user errors.

Our models would fail on an empty text with a ValueError from deep inside the tokenisation, and
cut an over-long one to their limit with a logged warning, so the exBERT views would show a
prefix of what the user typed without saying so. The served models (lit/model_group.py) run
these checks before every prediction and raise an `ExbertError` naming the field, the model and
the fix. Only the views' model (`_NAME_internals`) refuses over-long text: `NAME` also serves
LIT's components, whose perturbations (LIME, the counterfactual generators) can lengthen a
sentence past the limit, and keeps LIT's behaviour of cutting it (with the logged warning).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.errors import ExbertError
from exbert_lit.lit import corpus_search
from exbert_lit.models import fields as fields_lib

# The longest input the exBERT views show. A model may take more (SmolLM2: 8,192 tokens), but every
# forward keeps all layers' attention (L x H x T x T floats: 1.1 GB for SmolLM2 at 1,024 tokens,
# 72 GB at 8,192) and the browser gets a layer of H x T x T weights per request; measured with
# `exbert-lit bench --section browser` (README) at 1,024 tokens.
VIEW_MAX_TOKENS = 1024


def text_fields(model: lit_model.Model) -> list[str]:
  """The required TextSegment inputs of a model (for ours: `text`)."""
  return [k for k, v in model.input_spec().items()
          if isinstance(v, lit_types.TextSegment) and v.required]


def check_examples(model: lit_model.Model, examples: Iterable[Mapping[str, Any]],
                   label: str, *, refuse_long: bool) -> None:
  """Raises ExbertError for an example whose text is empty or, with `refuse_long`, longer than
  the model takes.

  An example that gives its word-pieces (`tokens`, e.g. the attention view's "mask this token")
  is used as given and not checked here. `label` is the model's name as the user knows it.
  """
  keys = text_fields(model)
  for example in examples:
    if example.get("tokens"):
      continue
    for key in keys:
      value = example.get(key)
      if not isinstance(value, str) or not value.strip():
        raise ExbertError(f"empty {key!r}: type a sentence for model {label!r}")
      if refuse_long:
        check_length(model, key, value, label)


def check_length(model: lit_model.Model, key: str, text: str, label: str) -> None:
  """Refuses text with more tokens than the model's `max_length` or the views' VIEW_MAX_TOKENS
  (specials included)."""
  base = corpus_search.unwrap(model)
  tokenizer = getattr(base, "tokenizer", None)
  max_length = getattr(base, "max_length", None)
  if tokenizer is None or not isinstance(max_length, int):
    return
  limit = min(max_length, VIEW_MAX_TOKENS)
  if len(text) + 8 < limit:   # a token covers >= 1 character, plus a few specials
    return
  count = len(tokenizer(text, add_special_tokens=True)["input_ids"])
  if count > max_length:
    raise ExbertError(f"{key!r} is {count} tokens; model {label!r} takes at most "
                      f"{max_length}: shorten it")
  if count > limit:
    raise ExbertError(f"{key!r} is {count} tokens; the exBERT views show at most {limit} "
                      f"(model {label!r} takes {max_length}): shorten it")


def second_segments(model: lit_model.Model, examples: list[Mapping[str, Any]]
                    ) -> Optional[list[Optional[str]]]:
  """Each example's `text_b` (None where empty) when the model takes pairs and any example has
  one; None otherwise, so single sentences run exactly as before pairs existed."""
  if fields_lib.TEXT_B not in model.input_spec():
    return None
  texts_b = [ex.get(fields_lib.TEXT_B) or None for ex in examples]
  return texts_b if any(texts_b) else None
