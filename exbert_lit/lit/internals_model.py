"""`_NAME_internals`: the exBERT views' gradient-free LIT model over the weights served as `NAME`.

LIT's `/get_preds` runs a model's whole `predict()` and filters the fields afterwards. For our
models the full prediction includes a backward pass for the token gradients (2-4x a forward),
which the attention view and the corpus search never read. So each served model gets a second
LIT model sharing its loaded weights, as LIT's prompt-debugging example serves `NAME` with
`_NAME_salience` and `_NAME_tokenizer` (`initialize_model_group_for_salience`); LIT's client
hides `_`-prefixed models from its model selector, and the exBERT views request this one by name.

It returns, from one forward pass and no backward pass:
- `tokens`, `special_tokens`, `pred_tokens` (if the model has an LM head);
- `layer_{l}/attention` for every layer, as `NAME` does (AttentionHeads, float32);
- `layer_{l}/attention_packed` for every layer: the same weights rounded to ATTENTION_DECIMALS
  (1e-4 is below what a curve's opacity or a thumbnail pixel shows) and packed (`pack_attention`).
  This is what the attention view requests, one layer at a time through LIT's
  `requested_fields`: LIT's JSON encoder writes floats one by one, ~9 ms for a 64-token layer of
  12 heads even rounded (0.37 MB; half of a minilm forward), where the packed layer is one
  string (~0.3 ms, 0.13 MB). LIT filters the fields and its cache answers the other layers;
- `layer_{l}/token_emb` and `layer_{l}/context_emb` for every layer: the corpus search's query
  vectors, so a search on a sentence the attention view has shown runs no model.

Shapes as in docs/FIELDS.md: attention [H, T, T], token_emb [T, D], context_emb [T, H*dh].
"""
from __future__ import annotations

import base64
import copy
import threading
from typing import Any, Optional

import numpy as np
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.lit import corpus_search
from exbert_lit.lit import text_checks
from exbert_lit.models import fields as fields_lib

ATTENTION_DECIMALS = 4
_SUFFIX = "_internals"
_PACKED_DTYPE = np.dtype("<u2")
# The output fields of the internals model (docs/FIELDS.md names): no gradients, no mean_emb.
_INTERNAL_FIELDS = frozenset({fields_lib.TOKENS, fields_lib.SPECIAL_TOKENS,
                              fields_lib.PRED_TOKENS, fields_lib.SEGMENT_IDS,
                              fields_lib.CHAR_START, fields_lib.CHAR_END})
_INTERNAL_LAYER_FIELDS = frozenset({fields_lib.ATTENTION, fields_lib.TOKEN_EMB,
                                    fields_lib.CONTEXT_EMB})


def is_internal_field(name: str) -> bool:
  """Whether the internals model keeps this output field of the served model."""
  per_layer = fields_lib.parse_layer_field(name)
  return name in _INTERNAL_FIELDS or (per_layer is not None
                                      and per_layer[1] in _INTERNAL_LAYER_FIELDS)


def internals_name(name: str) -> str:
  """The LIT name of the internals model of the model served as `name`."""
  return f"_{name}{_SUFFIX}"


# The suffixes of the model group's hidden members (this one, lit/measures_model.py's).
_MEMBER_SUFFIXES = (_SUFFIX, "_measures", "_lens")


def served_name(name: str) -> str:
  """The name users know a model by: `_bert_internals` (or `_bert_measures`, `_bert_lens`) ->
  `bert`; any other name as it is."""
  for suffix in _MEMBER_SUFFIXES:
    if name.startswith("_") and name.endswith(suffix) and len(name) > len(suffix) + 1:
      return name[1:-len(suffix)]
  return name


def gradient_free_twin(model: lit_model.Model) -> Optional[lit_model.Model]:
  """The loaded model with its `compute_gradients` switch off, as a second object: a shallow
  copy, so weights, tokenizer and forward lock are the same objects and only the switch is
  its own (no switch is flipped on the model other threads use). None for a model without
  that switch (exbert-lit's MaskedLM and CausalLM have it)."""
  if not isinstance(getattr(model, "compute_gradients", None), bool):
    return None
  twin = copy.copy(model)
  twin.compute_gradients = False
  return twin


def pack_attention(weights: Any) -> str:
  """Attention weights in [0, 1] as `layer_{l}/attention_packed` carries them: each weight
  rounded to ATTENTION_DECIMALS and stored as the integer weight * 10^4 in a little-endian
  uint16, row-major over [H, T, T], base64-encoded. T comes from the example's tokens, H from
  the length. The attention view decodes it (lit_modules/src/packed_attention.ts).

  Shapes: weights [H, T, T] -> a string of 4 * ceil(2 * H * T * T / 3) characters.
  """
  scaled = np.rint(np.asarray(weights, dtype=np.float32) * 10**ATTENTION_DECIMALS)
  return base64.b64encode(np.clip(scaled, 0, 10**ATTENTION_DECIMALS)
                          .astype(_PACKED_DTYPE).tobytes()).decode("ascii")


def unpack_attention(packed: str, num_tokens: int) -> np.ndarray:
  """The inverse of pack_attention: float64 weights, [H, T, T] with T = num_tokens."""
  steps = np.frombuffer(base64.b64decode(packed), dtype=_PACKED_DTYPE)
  return (steps / 10**ATTENTION_DECIMALS).reshape(-1, num_tokens, num_tokens)


def fields_from_internals(internals) -> dict[str, Any]:
  """LIT output fields (docs/FIELDS.md names) from one api.SentenceInternals.

  Shapes: attention[l-1] is [H, T, T]; embeddings[l] [T, D] (l = 0..L); contexts[l-1] [T, H*dh].
  """
  out: dict[str, Any] = {
      "tokens": list(internals.tokens),
      "special_tokens": np.asarray(internals.special, dtype=np.float32),
  }
  num_layers = internals.attention.shape[0]
  for layer in range(1, num_layers + 1):
    out[fields_lib.attention(layer)] = internals.attention[layer - 1]
    out[fields_lib.context_emb(layer)] = internals.contexts[layer - 1]
  for layer in range(num_layers + 1):
    out[fields_lib.token_emb(layer)] = internals.embeddings[layer]
  return out


def supports(model: lit_model.Model) -> bool:
  """Whether an internals model can be made for this (served) model."""
  base = corpus_search.unwrap(model)
  return (isinstance(getattr(base, "compute_gradients", None), bool)
          or callable(getattr(base, "internals", None)))


class InternalsModel(lit_model.ModelWrapper):
  """`_NAME_internals` (see module docstring). Wraps the served model, so code that unwraps LIT
  models (corpus_search.unwrap) reaches the loaded one: fingerprint, layers, tokenizer.

  Our models' forward passes capture per-head outputs with hooks, so the internals model takes
  the lock of the served model it shares the weights with: one call at a time per loaded model.
  """

  def __init__(self, served: lit_model.Model, *, lock: threading.RLock, label: str):
    """Args: served: the served LIT model; lock: the lock its predictions hold; label: the name
    users know the model by (in error messages)."""
    super().__init__(served)
    self._lock = lock
    self.label = label
    self._base = corpus_search.unwrap(served)
    self._twin = gradient_free_twin(self._base)
    if self._twin is not None:
      self._input_spec = dict(self._twin.input_spec())
      output_spec = self._twin.output_spec()
    elif callable(getattr(self._base, "internals", None)):
      self._input_spec = {k: v for k, v in served.input_spec().items()
                          if k in ("text", fields_lib.TEXT_B)}
      output_spec = served.output_spec()
    else:
      raise ValueError(f"model {label!r} has neither a compute_gradients switch nor internals()")
    self._output_spec = {k: v for k, v in output_spec.items() if is_internal_field(k)}
    self._attention_keys = [k for k, v in self._output_spec.items()
                            if isinstance(v, lit_types.AttentionHeads)]
    for key in self._attention_keys:
      self._output_spec[key + fields_lib.PACKED] = lit_types.String()
    self.model_calls = 0   # forward passes run (LIT's cache answers the rest); tests, benchmark

  @classmethod
  def init_spec(cls) -> None:
    return None   # made with its served model (model_group), never from LIT's UI

  def description(self) -> str:
    return (f"{self.label} without gradients: tokens, attention, top-k, E(l) and C(l) for the "
            "exBERT views")

  def input_spec(self) -> lit_types.Spec:
    return self._input_spec

  def output_spec(self) -> lit_types.Spec:
    return self._output_spec

  def predict(self, inputs, *unused_args, **unused_kw) -> list[lit_types.JsonDict]:
    inputs = list(inputs)
    with self._lock:
      text_checks.check_examples(self, inputs, self.label, refuse_long=True)
      self.model_calls += 1
      if self._twin is not None:
        outputs = list(self._twin.predict(inputs))
      else:
        texts_b = text_checks.second_segments(self, inputs)
        args = ([ex["text"] for ex in inputs],) + ((texts_b,) if texts_b else ())
        outputs = [fields_from_internals(item) for item in self._base.internals(*args)]
    return [self._fields(output) for output in outputs]

  def _fields(self, output: lit_types.JsonDict) -> lit_types.JsonDict:
    fields = {k: v for k, v in output.items() if k in self._output_spec}
    for key in self._attention_keys:
      if key in fields:
        fields[key + fields_lib.PACKED] = pack_attention(fields[key])
    return fields

