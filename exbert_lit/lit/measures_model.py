"""`_NAME_measures` and `_NAME_lens`: readings beyond raw attention, as members of the model group.

LIT runs a model's whole `predict()` for any field asked of it, so what costs more than the
attention view's light request lives in models of its own, on the same loaded weights, run only
when a view asks them (as `_NAME_internals`, lit/internals_model.py):
- `_NAME_measures`: value-weighted attention (`layer_{l}/attention_norm`, [H, T, T], each row
  rescaled to sum to 1 for display) and attention rollout (`layer_{l}/rollout`, [1, T, T]: one
  "head", the shape LIT's AttentionHeads and its own attention module take), each with its
  `_packed` copy as `layer_{l}/attention_packed` is packed (internals_model.pack_attention), which
  is what the attention view requests. One forward pass with value hooks, no head, no backward:
  bench --section server measures it beside the raw forward.
- `_NAME_lens`: the logit lens, `layer_{l}/lens` (TokenTopKPreds, top LENS_TOP_K per position)
  and `layer_{l}/lens_rank` (TokenScores, the rank at layer l of the final top-1) for
  l = 0..L. It costs L+1 products with the unembedding (SmolLM2: about 6 forwards), so it has
  its own member; a model without an LM head (minilm) has none.
Models and shapes: exbert_lit/models/measures.py and lens.py; names: docs/FIELDS.md.
"""
from __future__ import annotations

import threading
from typing import Optional

import torch
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.lit import corpus_search
from exbert_lit.lit import internals_model
from exbert_lit.lit import text_checks
from exbert_lit.models import fields as fields_lib
from exbert_lit.models import measures as measures_lib

MEASURES_SUFFIX = "_measures"
LENS_SUFFIX = "_lens"
LENS_TOP_K = 3   # the view's lens table shows the top-3 per layer


def measures_name(name: str) -> str:
  return f"_{name}{MEASURES_SUFFIX}"


def lens_name(name: str) -> str:
  return f"_{name}{LENS_SUFFIX}"


def supports_measures(model: lit_model.Model) -> bool:
  return callable(getattr(corpus_search.unwrap(model), "measures", None))


def supports_lens(model: lit_model.Model) -> bool:
  return getattr(corpus_search.unwrap(model), "has_lens", False) is True


class _Member(lit_model.ModelWrapper):
  """What both members share: the served model's lock, its text checks and inputs."""

  def __init__(self, served: lit_model.Model, *, lock: threading.RLock, label: str):
    super().__init__(served)
    self._lock = lock
    self.label = label
    self._base = corpus_search.unwrap(served)
    self._input_spec = {k: v for k, v in served.input_spec().items()
                        if k in ("text", "tokens", fields_lib.TEXT_B)}
    served_spec = served.output_spec()
    self._output_spec: lit_types.Spec = {
        k: served_spec[k] for k in (fields_lib.TOKENS, fields_lib.SPECIAL_TOKENS)}
    self.model_calls = 0   # forward passes run (LIT's cache answers the rest)

  @classmethod
  def init_spec(cls) -> None:
    return None   # made with its served model (model_group), never from LIT's UI

  def input_spec(self) -> lit_types.Spec:
    return self._input_spec

  def output_spec(self) -> lit_types.Spec:
    return self._output_spec

  def predict(self, inputs, *unused_args, **unused_kw) -> list[lit_types.JsonDict]:
    inputs = list(inputs)
    with self._lock:
      text_checks.check_examples(self, inputs, self.label, refuse_long=True)
      self.model_calls += 1
      return self._run([ex.get("text", "") for ex in inputs],
                       [ex.get("tokens") or None for ex in inputs],
                       text_checks.second_segments(self, inputs))

  def _run(self, texts, tokens, texts_b) -> list[lit_types.JsonDict]:
    raise NotImplementedError


class MeasuresModel(_Member):
  """`_NAME_measures` (see module docstring)."""

  def __init__(self, served: lit_model.Model, *, lock: threading.RLock, label: str):
    super().__init__(served, lock=lock, label=label)
    for layer in range(1, self._base.num_layers + 1):
      for name, packed in ((fields_lib.attention_norm(layer),
                            fields_lib.attention_norm_packed(layer)),
                           (fields_lib.rollout(layer), fields_lib.rollout_packed(layer))):
        self._output_spec[name] = lit_types.AttentionHeads(align_in="tokens", align_out="tokens")
        self._output_spec[packed] = lit_types.String()

  def description(self) -> str:
    return f"{self.label}: value-weighted attention and attention rollout for the exBERT views"

  def _run(self, texts, tokens, texts_b) -> list[lit_types.JsonDict]:
    outputs = []
    extra = {} if texts_b is None else {"texts_b": texts_b}
    for item in self._base.measures(texts, tokens=tokens, **extra):
      shown = measures_lib.rescale_rows(torch.from_numpy(item.attention_norm)).numpy()
      out = {fields_lib.TOKENS: list(item.tokens),
             fields_lib.SPECIAL_TOKENS: [float(x) for x in item.special]}
      for layer in range(1, shown.shape[0] + 1):
        norm, roll = shown[layer - 1], item.rollout[layer - 1][None]
        out[fields_lib.attention_norm(layer)] = norm
        out[fields_lib.attention_norm_packed(layer)] = internals_model.pack_attention(norm)
        out[fields_lib.rollout(layer)] = roll
        out[fields_lib.rollout_packed(layer)] = internals_model.pack_attention(roll)
      outputs.append(out)
    return outputs


class LensModel(_Member):
  """`_NAME_lens` (see module docstring)."""

  def __init__(self, served: lit_model.Model, *, lock: threading.RLock, label: str,
               top_k: int = LENS_TOP_K):
    super().__init__(served, lock=lock, label=label)
    self.top_k = int(top_k)
    for layer in range(0, self._base.num_layers + 1):
      self._output_spec[fields_lib.lens(layer)] = lit_types.TokenTopKPreds(align="tokens")
      self._output_spec[fields_lib.lens_rank(layer)] = lit_types.TokenScores(align="tokens")

  def description(self) -> str:
    return f"{self.label}: the logit lens (top-{self.top_k} of the read-out at every layer)"

  def _run(self, texts, tokens, texts_b) -> list[lit_types.JsonDict]:
    outputs = []
    extra = {} if texts_b is None else {"texts_b": texts_b}
    for item in self._base.logit_lens(texts, k=self.top_k, tokens=tokens, **extra):
      out = {fields_lib.TOKENS: list(item.tokens),
             fields_lib.SPECIAL_TOKENS: [float(x) for x in item.special]}
      for layer, (pieces, probs) in enumerate(zip(item.top_tokens, item.top_probs.tolist())):
        out[fields_lib.lens(layer)] = [list(zip(p, q)) for p, q in zip(pieces, probs)]
        out[fields_lib.lens_rank(layer)] = [float(r) for r in item.final_rank[layer]]
      outputs.append(out)
    return outputs


def members(served: lit_model.Model, *, lock: threading.RLock, label: str
            ) -> dict[str, Optional[lit_model.Model]]:
  """{"measures": MeasuresModel or None, "lens": LensModel or None} for a served model."""
  return {
      "measures": (MeasuresModel(served, lock=lock, label=label)
                   if supports_measures(served) else None),
      "lens": LensModel(served, lock=lock, label=label) if supports_lens(served) else None,
  }
