"""`_NAME_generate`: generation from a causal model served as `NAME`, as a LIT model.

A third member of the model group (lit/model_group.py) on the same loaded weights, so the
attention view can generate N tokens after a sentence and step through them with LIT's own
`/get_preds`. Its input is the text and the generation settings; its output is the final
sequence (prompt + generated tokens) in the fields the attention view already reads for
`_NAME_internals` (`tokens`, `special_tokens`, `pred_tokens`, `layer_{l}/attention_packed`),
plus where generation starts and the probability of each token. Because each generated token's
attention row equals that row of a full forward over the final sequence
(models/generation.py), the layer's `[H, T, T]` matrix is that of the final sequence: at step k
the view draws row `generation_start + k` over columns 0..generation_start + k.

LIT's prediction cache is keyed by the example's `_id`: send the example without one (or with
LIT's content hash of all its fields, settings included), or a cached answer for other settings
would come back. docs/FIELDS.md ("Generation") lists the fields.
"""
from __future__ import annotations

import threading
from typing import Optional

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.lit import corpus_search
from exbert_lit.lit import internals_model
from exbert_lit.lit import text_checks
from exbert_lit.models import fields as fields_lib
from exbert_lit.models import generation as generation_lib

_SUFFIX = "_generate"


def generate_name(name: str) -> str:
  """The LIT name of the generation model of the model served as `name`."""
  return f"_{name}{_SUFFIX}"


def supports(model: lit_model.Model) -> bool:
  """Whether the (served) model can generate: a causal LM with its LM head and `generate`."""
  base = corpus_search.unwrap(model)
  return (bool(getattr(base, "is_causal", False)) and bool(getattr(base, "has_head", False))
          and callable(getattr(base, "generate", None)))


class GenerateModel(lit_model.ModelWrapper):
  """`_NAME_generate` (see module docstring). Wraps the served model, so text checks and
  corpus_search.unwrap reach the loaded one; takes the group's lock, one call at a time."""

  def __init__(self, served: lit_model.Model, *, lock: threading.RLock, label: str):
    super().__init__(served)
    self._lock = lock
    self.label = label
    self._base = corpus_search.unwrap(served)
    self.model_calls = 0   # generations run (LIT's cache answers repeats of an `_id`)

  @classmethod
  def init_spec(cls) -> None:
    return None   # made with its served model (model_group), never from LIT's UI

  def description(self) -> str:
    return f"{self.label}: generate tokens after a text, with every layer's attention"

  def input_spec(self) -> lit_types.Spec:
    return {
        "text": lit_types.TextSegment(),
        fields_lib.MAX_NEW_TOKENS: lit_types.Integer(
            default=generation_lib.DEFAULT_NEW_TOKENS, min_val=1,
            max_val=generation_lib.MAX_NEW_TOKENS, required=False),
        fields_lib.TEMPERATURE: lit_types.Scalar(
            default=0.0, min_val=0.0, max_val=generation_lib.MAX_TEMPERATURE, step=0.1,
            required=False),
        fields_lib.SEED: lit_types.Integer(default=0, min_val=0,
                                           max_val=generation_lib.MAX_SEED, required=False),
    }

  def output_spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {
        fields_lib.TOKENS: lit_types.Tokens(parent="text"),
        fields_lib.SPECIAL_TOKENS: lit_types.TokenScores(align=fields_lib.TOKENS),
        fields_lib.PRED_TOKENS: lit_types.TokenTopKPreds(align=fields_lib.TOKENS),
        fields_lib.GENERATION_START: lit_types.Integer(min_val=0, max_val=2**31 - 1),
        fields_lib.TOKEN_PROBS: lit_types.TokenScores(align=fields_lib.TOKENS),
        fields_lib.GENERATED_TEXT: lit_types.GeneratedText(),
        fields_lib.STOP_REASON: lit_types.String(),
        fields_lib.USED_SEED: lit_types.Integer(min_val=-1, max_val=generation_lib.MAX_SEED),
    }
    for layer in range(1, self._base.num_layers + 1):
      spec[fields_lib.attention(layer)] = lit_types.AttentionHeads(
          align_in=fields_lib.TOKENS, align_out=fields_lib.TOKENS)
      spec[fields_lib.attention_packed(layer)] = lit_types.String()
    return spec

  def predict(self, inputs, *unused_args, **unused_kw) -> list[lit_types.JsonDict]:
    inputs = list(inputs)
    with self._lock:
      text_checks.check_examples(self, inputs, self.label, refuse_long=True)
      configs = [generation_lib.settings(ex.get(fields_lib.MAX_NEW_TOKENS),
                                         ex.get(fields_lib.TEMPERATURE), ex.get(fields_lib.SEED))
                 for ex in inputs]
      outputs = []
      for example, config in zip(inputs, configs):
        self.model_calls += 1
        layers = range(1, self._base.num_layers + 1)
        result = self._base.generate(example["text"], config.max_new_tokens,
                                     config.temperature, config.seed, layers=layers)
        outputs.append(fields(result))
    return outputs


def fields(result: generation_lib.Generation) -> lit_types.JsonDict:
  """The LIT output of one Generation (every layer's attention captured)."""
  out: lit_types.JsonDict = {
      fields_lib.TOKENS: list(result.tokens),
      fields_lib.SPECIAL_TOKENS: [float(s) for s in result.special],
      fields_lib.PRED_TOKENS: result.next_preds,
      fields_lib.GENERATION_START: result.start,
      fields_lib.TOKEN_PROBS: [float(p) for p in result.token_probs],
      fields_lib.GENERATED_TEXT: result.generated_text,
      fields_lib.STOP_REASON: result.stop_reason,
      fields_lib.USED_SEED: -1 if result.settings.seed is None else result.settings.seed,
  }
  for layer in result.layers:
    weights = result.attention(layer)
    out[fields_lib.attention(layer)] = weights
    out[fields_lib.attention_packed(layer)] = internals_model.pack_attention(weights)
  return out


def maybe_generate_model(served: lit_model.Model, *, lock: threading.RLock,
                         label: str) -> Optional[GenerateModel]:
  """`_NAME_generate` for a causal model with an LM head; None for any other."""
  return GenerateModel(served, lock=lock, label=label) if supports(served) else None
