"""What exbert-lit relies on in LIT 1.3 beyond its documented Python API, pinned so that a LIT
release that changes it fails here, loudly, instead of in a user's browser.

- LIT's error response: HTTP 500, `Uncaught error: <str(e)>\\n\\nDetails: <traceback>`
  (lit/http_errors.py rewrites it; LIT's client splits on `\\n\\nDetails:`).
- `/create_model` takes a loader annotated as returning a `ModelMap` for a multiple-model loader
  and passes it `new_name` (lit/model_group.py's group_loader).
- LIT's client hides `_`-prefixed models from its model selector (the `_NAME_internals` members).
- CachingModelWrapper caches by the example's `_id`, so the attention view's other layers and the
  corpus search on a shown sentence are answered without a model run.
"""
from __future__ import annotations

import json
import pathlib

import pytest
from lit_nlp import app as lit_app
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types
from lit_nlp.lib import caching
from werkzeug import test as werkzeug_test

from exbert_lit import server
from exbert_lit.lit import client as client_lib
from exbert_lit.lit import http_errors

REPO = pathlib.Path(__file__).resolve().parent.parent
VENDOR_CLIENT = REPO.parent / "shared" / "vendor" / "lit-client-v1.3" / "lit_nlp" / "client"


class _Echo(lit_model.BatchedModel):
  """A LIT model that returns its text's words, and fails on the text "boom"."""

  def __init__(self):
    self.calls = 0

  def input_spec(self):
    return {"text": lit_types.TextSegment()}

  def output_spec(self):
    return {"tokens": lit_types.Tokens(parent="text")}

  def predict_minibatch(self, inputs):
    self.calls += 1
    if any(ex["text"] == "boom" for ex in inputs):
      raise ValueError("boom: first line\nsecond line")
    return [{"tokens": ex["text"].split()} for ex in inputs]


def _lit(**kw) -> lit_app.LitApp:
  dataset = lit_dataset.Dataset(spec={"text": lit_types.TextSegment()}, examples=[{"text": "a b"}])
  return lit_app.LitApp({"echo": _Echo()}, {"d": dataset}, client_root=server.stock_client_root(),
                        warm_start_progress_indicator=lambda x: x, **kw)


def _post(app, path: str, body: dict, **params):
  return werkzeug_test.Client(app).post(path, query_string=params, data=json.dumps(body))


def test_lit_error_response_format():
  response = _post(_lit(), "/get_preds", {"inputs": [{"id": "", "data": {"text": "boom"},
                                                      "meta": {}}]}, model="echo")
  body = response.get_data(as_text=True)
  assert response.status_code == 500
  assert body.startswith("Uncaught error: boom: first line\nsecond line\n\nDetails: Traceback ")
  assert http_errors.exception_type(body.split("\n\nDetails: ", 1)[1]) == "ValueError"
  ours = http_errors.rewrite_lit_error(body, "/get_preds")
  assert ours.status == 400 and ours.body.startswith("boom: first line\n\nDetails: ValueError ")


def test_lit_client_splits_errors_on_details():
  """api_service.ts shows the text before "\\n\\nDetails:" in the status bar."""
  if not VENDOR_CLIENT.is_dir():
    pytest.skip("LIT's client sources are not vendored here")
  source = (VENDOR_CLIENT / "services" / "api_service.ts").read_text(encoding="utf-8")
  assert "err.message.match('^.*?(?=\\n\\nDetails:)')" in source


def test_create_model_calls_a_model_map_loader_with_new_name():
  def load(new_name: str, **unused_config) -> lit_model.ModelMap:
    return {new_name: _Echo(), f"_{new_name}_internals": _Echo()}

  app = _lit(model_loaders={"echo": (load, {})})
  response = _post(app, "/create_model", {"config": {"new_name": "x"}}, model_name="echo")
  assert response.status_code == 200, response.get_data(as_text=True)[:300]
  info, names = json.loads(response.get_data(as_text=True))
  assert names == ["x", "_x_internals"]
  assert {"echo", "x", "_x_internals"} <= set(info["models"])


def test_lit_client_hides_underscored_models():
  """The model selector (app_toolbar.ts) and the settings dialog (global_settings.ts) skip
  `_`-prefixed models, in LIT's sources and in the bundle we ship."""
  if VENDOR_CLIENT.is_dir():
    for path in ("core/app_toolbar.ts", "core/global_settings.ts"):
      source = (VENDOR_CLIENT / path).read_text(encoding="utf-8")
      assert "startsWith('_')" in source and "hidden models" in source, path
  root = client_lib.client_root()
  if root is None:
    pytest.skip("the client bundle is not built")
  assert pathlib.Path(root, "main.js").read_text(encoding="utf-8").count('startsWith("_")') >= 2


def test_caching_model_wrapper_answers_by_example_id():
  model = _Echo()
  cached = caching.CachingModelWrapper(model, "echo", id_hash_fn=caching.input_hash)
  example = {"text": "a b", "_id": caching.input_hash({"text": "a b"})}
  assert cached.predict([example]) == cached.predict([dict(example)])
  assert model.calls == 1
  cached.predict([{"text": "a b"}])   # no id: not cached (LIT's client always sends one)
  cached.predict([{"text": "a b"}])
  assert model.calls == 3
