"""Keep LIT's prediction cache from answering for modified copies of an example.

LIT's CachingModelWrapper keys predictions by the example's `_id`. LIT 1.3.1's Ablation Flip
builds each ablated variant with `dict(example)` and so keeps the original's `_id`: behind the
cache every variant gets the original's prediction, the leave-one-out scores are all zero and
no counterfactual is ever found. (HotFlip, LIME, IG, Scrambler and Word Replacer use
`utils.make_modified_input`, which resets the id.) The variants are also returned with that
stale id, under which LIT indexes them. `ContentCheckedGenerator` runs a generator with a model
view that drops an `_id` that no longer matches the example's content, and gives such a variant
the original's `grad_target`, so the margin it reports is the margin of the prediction being
flipped (docs/FIELDS.md), not of the variant's own top-1; it drops stale ids from what it returns.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from lit_nlp.api import components as lit_components
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types
from lit_nlp.lib import caching


def is_stale(example: lit_types.JsonDict) -> bool:
  """True if the example carries an `_id` that is not the hash of its content."""
  example_id = example.get("_id")
  return bool(example_id) and caching.input_hash(example) != example_id


def drop_stale_id(example: lit_types.JsonDict) -> lit_types.JsonDict:
  return {k: v for k, v in example.items() if k != "_id"} if is_stale(example) else example


class ContentCheckedModel(lit_model.ModelWrapper):
  """Predicts modified copies as new examples (see module docstring).

  `originals` are the examples the generator was given: a variant that still carries one's
  `_id` gets that original's `grad_target`, read from the original's prediction (which LIT's
  cache answers: the generators predict the original first).
  """

  def __init__(self, model: lit_model.Model,
               originals: Sequence[lit_types.JsonDict] = ()):
    super().__init__(model)
    self._originals = {ex["_id"]: ex for ex in originals if ex.get("_id")}

  def _original_output(self, example_id: str) -> Optional[lit_types.JsonDict]:
    original = self._originals.get(example_id)
    if original is None or is_stale(original):
      return None
    (output,) = self.wrapped.predict([original])
    return output

  def _fresh(self, example: lit_types.JsonDict) -> lit_types.JsonDict:
    if not is_stale(example):
      return example
    fresh = {k: v for k, v in example.items() if k != "_id"}
    if "grad_target" in self.input_spec() and not fresh.get("grad_target"):
      original = self._original_output(example["_id"])
      if original and original.get("grad_target"):
        fresh["grad_target"] = original["grad_target"]
    return fresh

  def predict(self, inputs, *args, **kw):
    return self.wrapped.predict([self._fresh(ex) for ex in inputs], *args, **kw)


class ContentCheckedGenerator(lit_components.Generator):
  """A LIT generator that sees a ContentCheckedModel instead of the served model."""

  def __init__(self, generator: lit_components.Generator):
    self._generator = generator

  def description(self) -> str:
    return self._generator.description()

  def is_compatible(self, model: lit_model.Model, dataset: lit_dataset.Dataset) -> bool:
    return self._generator.is_compatible(model, dataset)

  def config_spec(self) -> lit_types.Spec:
    return self._generator.config_spec()

  def meta_spec(self) -> lit_types.Spec:
    return self._generator.meta_spec()

  def generate(self, example, model, dataset, config=None) -> list[Any]:
    return [drop_stale_id(cf) for cf in self._generator.generate(
        example, ContentCheckedModel(model, [example]), dataset, config)]

  def run(self, inputs: Sequence[lit_types.JsonDict], model: lit_model.Model,
          dataset: lit_dataset.Dataset,
          model_outputs: Optional[list[lit_types.JsonDict]] = None,
          config: Optional[lit_types.JsonDict] = None):
    generated = self._generator.run(inputs, ContentCheckedModel(model, inputs), dataset,
                                    model_outputs=model_outputs, config=config)
    # LIT indexes the variants under the `_id` they carry: a stale one would make the client
    # show the original's predictions for them.
    return [[drop_stale_id(cf) for cf in group] for group in generated]
