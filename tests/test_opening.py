"""The page `exbert-lit demo` opens on (exbert_lit/lit/opening.py) and the layouts that give
the exBERT views the screen (exbert_lit/lit/layouts.py); the browser side is in
tests/test_browser_layout.py."""
from __future__ import annotations

import json
import urllib.parse

import pytest
from werkzeug import test as werkzeug_test

from exbert_lit import notation
from exbert_lit.errors import ExbertError
from exbert_lit.lit import datasets
from exbert_lit.lit import layouts
from exbert_lit.lit import opening
from exbert_lit.models import load_model


@pytest.fixture(scope="module")
def models(tiny_model_dirs):
  return {name: load_model(str(tiny_model_dirs[name]), compute_gradients=False)
          for name in ("bert", "gpt2")}


@pytest.fixture(scope="module")
def app(models):
  from exbert_lit import server
  return server.make_app(models=models, datasets={"examples": datasets.examples_dataset()},
                         corpus_examples=0)


def _dataset_ids(app) -> dict[str, str]:
  response = werkzeug_test.Client(app).post(
      "/get_dataset", query_string={"dataset_name": "examples"}, data="{}")
  return {ex["data"]["text"]: ex["id"] for ex in json.loads(response.get_data())}


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_opening_names_lits_example_id_and_the_words_first_piece(models, app, name):
  model = models[name]
  start = opening.opening(name, model, "examples", datasets.examples_dataset())
  assert start.example_id == _dataset_ids(app)[opening.PAPER_SENTENCE]
  (internals,) = model.internals([opening.PAPER_SENTENCE])
  a, b = internals.offsets[start.token]
  word_start = opening.PAPER_SENTENCE.index(" escape") + 1
  assert a <= word_start < b, "the token is the word-piece holding the first letter of 'escape'"
  assert not any(s <= word_start < e for s, e in internals.offsets[:start.token])
  assert 1 <= start.layer <= model.num_layers


def test_query_holds_lits_and_the_views_parameters():
  start = opening.Opening(model="m", dataset="examples", example_id="abc", layer=3, token=9)
  params = dict(urllib.parse.parse_qsl(start.query()))
  assert params == {"models": "m", "dataset": "examples", "selection": "abc", "primary": "abc",
                    "exbert_heads": "3", "exbert_token": "9"}
  assert notation.parse_selection(params["exbert_heads"]) == notation.Selection(3, None)
  assert start.url("http://h:1/") == "http://h:1/?" + start.query()


@pytest.mark.parametrize("num_layers, layer", [(1, 1), (2, 1), (6, 3), (12, 6), (30, 15)])
def test_middle_layer(num_layers, layer):
  assert opening.middle_layer(num_layers) == layer


@pytest.mark.parametrize("sentence, word, message", [
    ("Not in the dataset.", "escape", "has no example"),
    (opening.PAPER_SENTENCE, "escapes", "is not a word"),
    (opening.PAPER_SENTENCE, "cape", "is not a word"),   # whole words only
])
def test_opening_refuses_what_it_cannot_show(models, sentence, word, message):
  with pytest.raises(ExbertError, match=message):
    opening.opening("bert", models["bert"], "examples", datasets.examples_dataset(),
                    sentence=sentence, word=word)


def test_bare_root_redirects_and_nothing_else_does():
  calls = []

  def app(environ, start_response):
    calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"]))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]

  client = werkzeug_test.Client(opening.redirect_bare_root(app, "models=m&primary=abc"))
  response = client.get("/")
  assert response.status_code == 302
  assert response.headers["Location"].endswith("/?models=m&primary=abc")
  assert calls == []
  for method, path, query in [("GET", "/", "models=x"), ("POST", "/", ""),
                              ("GET", "/main.js", ""), ("POST", "/get_info", "")]:
    response = client.open(path, method=method, query_string=query)
    assert response.status_code == 200 and response.get_data() == b"app", (method, path)
  assert [c[:2] for c in calls] == [("GET", "/"), ("POST", "/"), ("GET", "/main.js"),
                                    ("POST", "/get_info")]


# --- layouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [layouts.DEFAULT_LAYOUT_NAME, "exbert_compact"])
def test_views_have_the_full_width_side_by_side(name):
  canonical = layouts.exbert_layouts()[name]
  assert canonical.left == {}, "a left column takes width from the views"
  assert list(canonical.upper.values()) == [list(layouts.EXBERT_MODULES)]
  assert not canonical.layoutSettings.centerPage
  assert canonical.layoutSettings.mainHeight >= 60


def test_default_layout_keeps_lits_modules_in_tabs_below():
  lower = layouts.exbert_layouts()[layouts.DEFAULT_LAYOUT_NAME].lower
  names = layouts.module_names(type(layouts.exbert_layouts()["exbert"])(upper=lower))
  assert {"data-table-module", "datapoint-editor-module", "salience-map-module",
          "generator-module", "embeddings-module"} <= names
  assert list(lower)[0] == "Data", "the data table is the first tab: it picks the example"
