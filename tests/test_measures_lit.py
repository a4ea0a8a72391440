"""`_NAME_measures` and `_NAME_lens` (lit/measures_model.py): in the model group, their fields
as LIT serves them (through the app, as LIT's client asks), and run only when asked."""
from __future__ import annotations

import json

import numpy as np
import pytest
from werkzeug import test as werkzeug_test

from exbert_lit import server
from exbert_lit.lit import datasets
from exbert_lit.lit import internals_model
from exbert_lit.lit import model_group
from exbert_lit.models import fields
from exbert_lit.models import load_model
import tiny_models

TEXT = "The man visited the nurse and told her the news."


@pytest.fixture(scope="module")
def app(tiny_model_dirs):
  models = {name: load_model(str(tiny_model_dirs[name])) for name in ("bert", "llama")}
  models["enc"] = load_model(str(tiny_model_dirs["bert_encoder"]))
  built = server.make_app(models=models, datasets={"d": datasets.SentencesDataset([TEXT])},
                          corpus_examples=0)
  return built, models


def _preds(app, model: str, fields_wanted: str, text: str = TEXT):
  body = {"inputs": [{"id": "x", "data": {"text": text, "_id": "x"}, "meta": {}}]}
  response = werkzeug_test.Client(app[0]).post(
      f"/get_preds?model={model}&dataset_name=d&requested_fields={fields_wanted}",
      data=json.dumps(body), content_type="application/json")
  assert response.status_code == 200, response.get_data(as_text=True)[:300]
  return json.loads(response.get_data(as_text=True))[0]


def test_group_members(app):
  groups = app[0].groups
  assert list(groups["bert"].models()) == ["bert", "_bert_internals", "_bert_measures",
                                           "_bert_lens"]
  assert list(groups["enc"].models()) == ["enc", "_enc_internals", "_enc_measures"]
  for member in ("_bert_measures", "_bert_lens"):
    assert internals_model.served_name(member) == "bert"


def test_measures_fields_are_the_models_own_rescaled_and_packed(app):
  model = app[1]["llama"]
  layer = 2
  out = _preds(app, "_llama_measures", ",".join([
      "tokens", fields.attention_norm(layer), fields.attention_norm_packed(layer),
      fields.rollout(layer), fields.rollout_packed(layer)]))
  (m,) = model.measures([TEXT])
  t = len(out["tokens"])
  norm = np.asarray(out[fields.attention_norm(layer)])
  raw = m.attention_norm[layer - 1]
  np.testing.assert_allclose(norm, raw / raw.sum(-1, keepdims=True), atol=1e-6)
  np.testing.assert_allclose(norm.sum(-1), 1.0, atol=1e-5)
  packed = internals_model.unpack_attention(out[fields.attention_norm_packed(layer)], t)
  np.testing.assert_allclose(packed, norm, atol=0.6e-4)
  rollout = np.asarray(out[fields.rollout(layer)])
  assert rollout.shape == (1, t, t)
  np.testing.assert_allclose(rollout[0], m.rollout[layer - 1], atol=1e-6)
  np.testing.assert_allclose(internals_model.unpack_attention(
      out[fields.rollout_packed(layer)], t), rollout, atol=0.6e-4)


def test_lens_fields(app):
  model = app[1]["bert"]
  last = model.num_layers
  out = _preds(app, "_bert_lens", ",".join(
      ["tokens", fields.lens(0), fields.lens(last), fields.lens_rank(0), fields.lens_rank(last)]))
  own = list(model.predict([{"text": TEXT}]))[0]["pred_tokens"]
  top = out[fields.lens(last)]
  assert len(top) == len(out["tokens"]) and all(len(p) == 3 for p in top)
  assert [[tok for tok, _ in p] for p in top] == [[tok for tok, _ in p[:3]] for p in own]
  assert out[fields.lens_rank(last)] == [1.0] * len(out["tokens"])
  assert min(out[fields.lens_rank(0)]) >= 1


def test_members_run_only_when_asked(app):
  groups = app[0].groups
  before = {n: m.model_calls for n, m in groups["bert"].models().items()}
  text = "A cat sat on the mat while the dog slept by the door."
  _preds(app, "_bert_internals", "tokens," + fields.attention_packed(1), text)
  after = {n: m.model_calls for n, m in groups["bert"].models().items()}
  assert {n for n in after if after[n] != before[n]} == {"_bert_internals"}
  _preds(app, "_bert_measures", fields.rollout_packed(1), text)
  _preds(app, "_bert_measures", fields.attention_norm_packed(2), text)   # LIT's cache answers
  assert groups["bert"].measures.model_calls == before["_bert_measures"] + 1
  assert groups["bert"].lens.model_calls == before["_bert_lens"]


def test_a_field_the_member_lacks_is_refused_by_the_models_name(app):
  body = {"inputs": [{"id": "x", "data": {"text": TEXT, "_id": "x"}, "meta": {}}]}
  response = werkzeug_test.Client(app[0]).post(
      "/get_preds?model=_bert_measures&dataset_name=d&requested_fields=layer_9/rollout",
      data=json.dumps(body), content_type="application/json")
  assert response.status_code == 400
  assert response.get_data(as_text=True).startswith(
      "model 'bert' has no output 'layer_9/rollout'; its layers are 1..2")


def test_over_long_text_is_refused(tiny_model_dirs):
  model = load_model(str(tiny_model_dirs["gpt2"]))
  group = model_group.model_group("g", model)
  with pytest.raises(ValueError, match="takes at most 64: shorten it"):
    group.measures.predict([{"text": "the man told " * 50}])
  with pytest.raises(ValueError, match="empty 'text'"):
    group.lens.predict([{"text": " "}])
  assert tiny_models.MAX_POSITIONS == 64


@pytest.mark.parametrize("name,expected", [
    (fields.attention_norm(3), "layer_3/attention_norm"),
    (fields.attention_norm_packed(3), "layer_3/attention_norm_packed"),
    (fields.rollout(1), "layer_1/rollout"),
    (fields.rollout_packed(1), "layer_1/rollout_packed"),
    (fields.lens(0), "layer_0/lens"),
    (fields.lens_rank(30), "layer_30/lens_rank"),
])
def test_field_names(name, expected):
  assert name == expected
  layer, kind = fields.parse_layer_field(name)
  assert fields.layer_field(layer, kind) == name


@pytest.mark.parametrize("name", tuple(tiny_models.BUILDERS))
def test_members_pass_lit_validation(tiny_model_dirs, name):
  from lit_nlp.api import dataset as lit_dataset
  from lit_nlp.api import types as lit_types
  from lit_nlp.lib import validation
  group = model_group.model_group(name, load_model(str(tiny_model_dirs[name])))
  data = lit_dataset.Dataset(spec={"text": lit_types.TextSegment()},
                             examples=[{"text": TEXT}, {"text": "The cat sat on the [MASK]."}])
  validation.validate_model(group.measures, data, report_all=False)
  assert (group.lens is None) == (name == "bert_encoder")
  if group.lens is not None:
    validation.validate_model(group.lens, data, report_all=False)


@pytest.mark.integration
@pytest.mark.parametrize("name, layers, heads, has_lens", [
    ("minilm", 6, 12, False), ("smollm2", 30, 9, True)])
def test_registry_models(name, layers, heads, has_lens):
  group = model_group.model_group(name, load_model(name))
  assert (group.lens is not None) == has_lens
  (out,) = group.measures.predict([{"text": TEXT}])
  t = len(out["tokens"])
  assert np.asarray(out[fields.attention_norm(layers)]).shape == (heads, t, t)
  rollout = np.asarray(out[fields.rollout(layers)])
  assert rollout.shape == (1, t, t)
  if has_lens:
    assert np.triu(rollout[0], 1).max() == 0
    (lens,) = group.lens.predict([{"text": TEXT}])
    assert len(lens[fields.lens(layers)]) == t and min(lens[fields.lens_rank(layers)]) == 1
