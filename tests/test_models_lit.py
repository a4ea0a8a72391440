"""LIT's own components and validation on both wrappers (tiny models, no network)."""
from __future__ import annotations

import threading

from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types
from lit_nlp.components import gradient_maps
from lit_nlp.components import hotflip
from lit_nlp.lib import caching
from lit_nlp.lib import validation
import numpy as np
import pytest

from exbert_lit.models import registry
import tiny_models

WITH_HEAD = tiny_models.MASKED + tiny_models.CAUSAL
TEXTS = ["The man visited the nurse and told her the news.", "The cat sat on the [MASK]."]


@pytest.fixture(scope="module")
def models(tiny_model_dirs):
  return {name: registry.load_model(str(path), name=name) for name, path in tiny_model_dirs.items()}


def _dataset(texts=TEXTS) -> lit_dataset.Dataset:
  return lit_dataset.Dataset(spec={"text": lit_types.TextSegment()},
                             examples=[{"text": t} for t in texts])


@pytest.mark.parametrize("name", tuple(tiny_models.BUILDERS))
def test_lit_validation_passes(models, name):
  validation.validate_model(models[name], _dataset(), report_all=False)


@pytest.mark.parametrize("name", WITH_HEAD)
@pytest.mark.parametrize("interpreter, signed", [
    (gradient_maps.GradientNorm(), False),
    (gradient_maps.GradientDotInput(), True),
    (gradient_maps.IntegratedGradients(interpolation_steps=5), True),
])
def test_gradient_salience_runs(models, name, interpreter, signed):
  model = models[name]
  data = _dataset()
  assert interpreter.is_compatible(model, data)
  results = interpreter.run(data.examples, model, data)
  assert len(results) == len(TEXTS)
  for ex, result in zip(data.examples, results):
    salience = result["token_grad_text"]
    tokens = list(model.predict([ex]))[0]["tokens"]
    assert salience.tokens == tokens
    scores = np.asarray(salience.salience)
    assert scores.shape == (len(tokens),) and np.all(np.isfinite(scores))
    assert np.any(scores != 0)
    if not signed:
      assert np.all(scores >= 0)


def test_salience_not_offered_for_headless_encoder(models):
  data = _dataset()
  for interpreter in (gradient_maps.GradientNorm(), gradient_maps.GradientDotInput(),
                      gradient_maps.IntegratedGradients()):
    assert not interpreter.is_compatible(models["bert_encoder"], data)
  assert not hotflip.HotFlip().is_compatible(models["bert_encoder"], data)


@pytest.mark.parametrize("name", WITH_HEAD)
def test_hotflip_finds_counterfactuals_that_flip_the_prediction(models, name):
  """HotFlip (regression on target_margin, threshold 0) flips the focus token's top-1.

  The example carries LIT's `_id`/`_meta` as the server sends it, so counterfactuals explain the
  same target token as their parent and a flip means: the original top-1 is no longer top-1.
  """
  model = models[name]
  data = _dataset()
  generator = hotflip.HotFlip()
  assert generator.is_compatible(model, data)
  example = {"text": TEXTS[0], "_id": f"{name}-ex0",
             "_meta": lit_types.InputMetadata(added=None, parentId=None, source=None)}
  config = {hotflip.PREDICTION_KEY: "target_margin", hotflip.FIELDS_TO_HOTFLIP_KEY: ["tokens"],
            hotflip.NUM_EXAMPLES_KEY: 2, hotflip.MAX_FLIPS_KEY: 3}
  cached = caching.CachingModelWrapper(model, name)
  cfs = generator.generate(example, cached, data, config=config)
  assert cfs, f"HotFlip found no counterfactual for {name}"
  original = list(model.predict([example]))[0]
  for cf in cfs:
    assert cf["tokens"] != original["tokens"]
    assert cf["_meta"]["parentId"] == example["_id"]
    out = list(model.predict([cf]))[0]
    assert out["grad_target"] == original["grad_target"]
    assert out["target_margin"] <= 0 < original["target_margin"]


# --- the model group LIT serves (lit/model_group.py) -------------------------------------------

@pytest.mark.parametrize("name", tuple(tiny_models.BUILDERS))
def test_internals_model_passes_lit_validation(models, name):
  from exbert_lit.lit import model_group
  group = model_group.model_group(name, models[name])
  validation.validate_model(group.internals, _dataset(), report_all=False)
  spec = group.internals.output_spec()
  assert not any(isinstance(v, lit_types.TokenGradients) for v in spec.values())
  assert "mean_emb" not in spec and "input_embs" not in group.internals.input_spec()
  assert ("pred_tokens" in spec) == ("pred_tokens" in models[name].output_spec())


def test_internals_model_shares_the_loaded_weights_and_lock(models):
  """The gradient-free twin is the same weights, tokenizer and forward lock, with its own switch:
  nothing flips the served model's `compute_gradients`."""
  from exbert_lit.lit import internals_model
  model = models["gpt2"]
  twin = internals_model.gradient_free_twin(model)
  assert twin is not model and twin.compute_gradients is False and model.compute_gradients is True
  assert twin.model is model.model and twin.tokenizer is model.tokenizer
  lock_type = type(threading.Lock())
  locks = {k for k, v in vars(model).items() if isinstance(v, lock_type)}
  assert locks and all(getattr(twin, k) is getattr(model, k) for k in locks)
  assert "token_grad_text" in model.output_spec() and "token_grad_text" not in twin.output_spec()
