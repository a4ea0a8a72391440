"""One loaded model, served to LIT as a model group: `NAME`, `_NAME_internals` and, where the model
has them, `_NAME_measures`, `_NAME_lens` and (a causal LM with its head) `_NAME_generate`
(lit/generate_model.py).

`NAME` is the model as given (every field, gradients included): LIT's salience methods,
counterfactual generators, projector and data table use it. `_NAME_internals`
(lit/internals_model.py) is a gradient-free view of the same weights for the exBERT views;
`_NAME_measures` (value-weighted attention, rollout) and `_NAME_lens` (the logit lens) are the
costlier readings, run only when a view asks for them (lit/measures_model.py).
This is LIT's own mechanism for "the same weights, fewer fields" (its prompt-debugging example's
`initialize_model_group_for_salience`); `group_loader` gives LIT's "load model" dialog a loader
that makes the whole group, which LIT recognises by its `ModelMap` return type.

Both members run one call at a time on the loaded model (one lock per group): our models
capture per-head outputs with forward hooks, which are per-model state, and LIT's
CachingModelWrapper does not serialise calls (its per-request locks only de-duplicate).
Both refuse empty text, and `_NAME_internals` over-long text, first (lit/text_checks.py).
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable, Optional

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.lit import generate_model
from exbert_lit.lit import internals_model
from exbert_lit.lit import measures_model
from exbert_lit.lit import text_checks


class SerialModel(lit_model.ModelWrapper):
  """The served model `NAME`: the loaded model's predict, one call at a time, texts checked."""

  def __init__(self, model: lit_model.Model, *, label: str,
               lock: Optional[threading.RLock] = None):
    super().__init__(model)
    self.lock = lock or threading.RLock()
    self.label = label
    self.model_calls = 0   # predict calls that reached the model (LIT's cache answers the rest)

  @classmethod
  def init_spec(cls) -> None:
    return None   # made by model_group; LIT's UI loads models through group_loader

  def predict(self, inputs, *args, **kw) -> list[lit_types.JsonDict]:
    inputs = list(inputs)
    with self.lock:
      text_checks.check_examples(self.wrapped, inputs, self.label, refuse_long=False)
      self.model_calls += 1
      return list(self.wrapped.predict(inputs, *args, **kw))


@dataclasses.dataclass(frozen=True)
class ModelGroup:
  """The LIT models made from one loaded model."""
  name: str
  served: SerialModel
  internals: Optional[internals_model.InternalsModel]   # None: no gradient-free path
  measures: Optional[measures_model.MeasuresModel] = None   # None: no value norms, rollout
  lens: Optional[measures_model.LensModel] = None           # None: no LM head, no lens
  generate: Optional[generate_model.GenerateModel] = None   # None: not a causal LM with a head

  @property
  def internals_name(self) -> str:
    return internals_model.internals_name(self.name)

  @property
  def measures_name(self) -> str:
    return measures_model.measures_name(self.name)

  @property
  def lens_name(self) -> str:
    return measures_model.lens_name(self.name)

  def models(self) -> dict[str, lit_model.Model]:
    """name -> LIT model, `NAME` first (LIT's client selects the first model by default)."""
    members: dict[str, lit_model.Model] = {self.name: self.served}
    if self.internals is not None:
      members[self.internals_name] = self.internals
    if self.measures is not None:
      members[self.measures_name] = self.measures
    if self.lens is not None:
      members[self.lens_name] = self.lens
    if self.generate is not None:
      members[generate_model.generate_name(self.name)] = self.generate
    return members


def model_group(name: str, model: lit_model.Model) -> ModelGroup:
  """`NAME` and, where the model allows them, `_NAME_internals`, `_NAME_measures` and
  `_NAME_lens`, sharing one lock."""
  served = SerialModel(model, label=name)
  internals = None
  if internals_model.supports(served):
    internals = internals_model.InternalsModel(served, lock=served.lock, label=name)
  generate = generate_model.maybe_generate_model(served, lock=served.lock, label=name)
  return ModelGroup(name=name, served=served, internals=internals, generate=generate,
                    **measures_model.members(served, lock=served.lock, label=name))


ModelLoader = tuple[Callable[..., lit_model.ModelMap], Optional[lit_types.Spec]]


def group_loader(model: lit_model.Model,
                 on_group: Optional[Callable[[ModelGroup], None]] = None) -> ModelLoader:
  """LIT's (initializer, init spec) for "load another model like this one" in the UI.

  The initializer makes a new instance of the model's class from the dialog's config and
  returns its whole group; LIT's `/create_model` treats an initializer annotated as returning a
  `ModelMap` as a multiple-model loader and passes it `new_name`. `on_group` hears of each new
  group (the app keeps them for its checks and counters).
  """
  model_class = type(model)

  def load(new_name: str, **config) -> lit_model.ModelMap:
    group = model_group(new_name, model_class(**config))
    if on_group is not None:
      on_group(group)
    return group.models()

  load.__name__ = model_class.__name__
  return load, model_class.init_spec()
