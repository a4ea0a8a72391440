"""The server's parts without HTTP: layouts, datasets, the internals model's fields, error
bodies and request checks."""
from __future__ import annotations

import json
import traceback

import numpy as np
import pytest
from lit_nlp.lib import serialize

from exbert_lit import errors
from exbert_lit.lit import datasets
from exbert_lit.lit import http_errors
from exbert_lit.lit import internals_model
from exbert_lit.lit import layouts
from exbert_lit.lit import request_checks


def test_default_layout_places_exbert_beside_lits_modules():
  names = layouts.module_names(layouts.exbert_layouts()[layouts.DEFAULT_LAYOUT_NAME])
  assert {"exbert-attention-module", "exbert-corpus-module", "data-table-module",
          "datapoint-editor-module", "salience-map-module", "generator-module"} <= names


def _placements(canonical) -> list[str]:
  """Every module a layout places, once per place (module_names() merges repeats)."""
  return [layouts.module_names(type(canonical)(upper={"one": [entry]})).pop()
          for group in (canonical.upper, canonical.lower, canonical.left)
          for module_list in group.values() for entry in module_list]


@pytest.mark.parametrize("with_views", [True, False])
def test_our_layouts_place_each_module_once(with_views):
  """A module placed twice runs every request twice (two corpus searches per click)."""
  made = layouts.exbert_layouts() if with_views else layouts.stock_layouts()
  for name in (layouts.DEFAULT_LAYOUT_NAME, "exbert_compact"):
    placed = _placements(made[name])
    assert len(placed) == len(set(placed)), (name, placed)


def test_stock_layouts_have_no_exbert_modules():
  for layout in layouts.stock_layouts().values():
    assert not layouts.module_names(layout) & set(layouts.EXBERT_MODULES)


def test_examples_dataset_holds_the_papers_sentences():
  texts = [ex["text"] for ex in datasets.examples_dataset().examples]
  for sentence in ("The girl ran to a local pub to escape the din of her city.",
                   "The man visited the nurse and told him to attend to his patients.",
                   "The man visited the doctor and told him to attend to his patients."):
    assert sentence in texts


def test_jsonl_dataset_keeps_string_fields(tmp_path):
  path = tmp_path / "s.jsonl"
  path.write_text("\n".join(json.dumps(r) for r in (
      {"text": "A b.", "group": "x"}, {"text": "C d."}, "E f.")), encoding="utf-8")
  ds = datasets.load_data_file(str(path))
  assert ds.examples == [{"text": "A b.", "group": "x"}, {"text": "C d.", "group": ""},
                         {"text": "E f.", "group": ""}]
  assert set(ds.spec()) == {"text", "group"}


@pytest.mark.parametrize("content,message", [
    ('{"text": "ok"}\nnot json\n', "s.jsonl:2: not JSON"),
    ('{"label": "x"}\n', "s.jsonl:1: no 'text' field"),
    ('{"text": "  "}\n', "s.jsonl: holds no text"),
    ("\n\n", "s.jsonl: holds no text"),
])
def test_jsonl_errors_name_the_line(tmp_path, content, message):
  path = tmp_path / "s.jsonl"
  path.write_text(content, encoding="utf-8")
  with pytest.raises(ValueError, match=message.replace("(", r"\(")):
    datasets.load_data_file(str(path))


def test_missing_data_file():
  with pytest.raises(ValueError, match="no such file"):
    datasets.load_data_file("/nonexistent/file.txt")


def test_dataset_names_are_unique():
  assert datasets.dataset_name_for("a/pubs.txt", ["pubs", "pubs_2"]) == "pubs_3"


class _Internals:
  tokens = ["[CLS]", "a", "[SEP]"]
  special = np.array([True, False, True])
  attention = np.arange(2 * 4 * 3 * 3, dtype=np.float32).reshape(2, 4, 3, 3)  # [L, H, T, T]
  embeddings = np.zeros((3, 3, 8), np.float32)                                # [L+1, T, D]
  contexts = np.ones((2, 3, 8), np.float32)                                   # [L, T, H*dh]


def test_fields_from_internals_names_and_shapes():
  out = internals_model.fields_from_internals(_Internals())
  assert out["tokens"] == ["[CLS]", "a", "[SEP]"]
  assert out["special_tokens"].tolist() == [1.0, 0.0, 1.0]
  assert set(out) == {"tokens", "special_tokens", "layer_1/attention", "layer_2/attention",
                      "layer_0/token_emb", "layer_1/token_emb", "layer_2/token_emb",
                      "layer_1/context_emb", "layer_2/context_emb"}
  np.testing.assert_array_equal(out["layer_2/attention"], _Internals.attention[1])


@pytest.mark.parametrize("weights,expected", [
    (np.full((1, 2, 2), 1 / 3, np.float32), np.full((1, 2, 2), 0.3333)),
    (np.array([[[1.0, 0.0], [0.00004, 0.99996]]]), np.array([[[1.0, 0.0], [0.0, 1.0]]])),
    # float32(0.12345) is just below 0.12345
    (np.array([[[0.12345]], [[0.5]]]), np.array([[[0.1234]], [[0.5]]])),
    (np.zeros((3, 5, 5)), np.zeros((3, 5, 5))),
])
def test_packed_attention_round_trips_to_four_decimals(weights, expected):
  packed = internals_model.pack_attention(weights)
  assert isinstance(packed, str) and len(packed) == 4 * -(-2 * weights.size // 3)
  unpacked = internals_model.unpack_attention(packed, weights.shape[-1])
  assert unpacked.shape == weights.shape
  np.testing.assert_array_equal(unpacked, expected)
  # JSON of the unpacked weights is what LIT would write for the rounded floats.
  assert serialize.to_json(unpacked, simple=True) == serialize.to_json(np.round(expected, 4),
                                                                       simple=True)


@pytest.mark.parametrize("name,served", [
    ("_bert_internals", "bert"), ("__x_internals", "_x"), ("bert", "bert"),
    ("_internals", "_internals"), ("_bert_internals_2", "_bert_internals_2"),
])
def test_internals_names_round_trip(name, served):
  assert internals_model.served_name(name) == served
  if name != served:
    assert internals_model.internals_name(served) == name


# --- errors over HTTP ---------------------------------------------------------------------------

def _traceback(exception: BaseException) -> str:
  try:
    raise exception
  except BaseException:  # pylint: disable=broad-except
    return traceback.format_exc()


class _Custom(Exception):
  pass


@pytest.mark.parametrize("exception,name", [
    (ValueError("bad\nsecond line"), "ValueError"),
    (errors.ExbertError("layer 9 out of range"), "ExbertError"),
    (KeyError("inputs"), "KeyError"),
    (_Custom(), "_Custom"),
    (TypeError("x: y"), "TypeError"),
])
def test_exception_type_of_a_traceback(exception, name):
  assert http_errors.exception_type(_traceback(exception)) == name


def test_exception_type_of_a_chained_traceback_is_the_last_one():
  try:
    try:
      raise KeyError("a")
    except KeyError as e:
      raise errors.ExbertError("unknown thing") from e
  except errors.ExbertError:
    text = traceback.format_exc()
  assert http_errors.exception_type(text) == "ExbertError"
  assert http_errors.exception_type("no traceback here") == ""


@pytest.mark.parametrize("exception,status,head", [
    (errors.ExbertError("empty 'text': type a sentence"), 400, "empty 'text': type a sentence"),
    (ValueError("Must provide a model\nmore"), 400, "Must provide a model"),
    (KeyError("inputs"), 500, "Uncaught error: KeyError: 'inputs'"),
    (RuntimeError(""), 500, "Uncaught error: RuntimeError: no message"),
])
def test_lit_error_bodies_become_one_line(exception, status, head):
  lit_body = f"Uncaught error: {exception}\n\nDetails: {_traceback(exception)}"
  ours = http_errors.rewrite_lit_error(lit_body, "/get_preds")
  assert ours.status == status
  first, details = ours.body.split("\n\nDetails: ")
  assert first == head
  assert "Traceback" not in ours.body and "File " not in ours.body and "\n" not in details
  assert http_errors.rewrite_lit_error("<html>not LIT's</html>", "/") is None


# --- request checks -----------------------------------------------------------------------------

_METADATA = request_checks.ServerMetadata(
    models={"bert": frozenset({"tokens", "layer_1/attention", "layer_2/attention"}),
            "_bert_internals": frozenset({"tokens", "layer_1/attention", "layer_2/attention",
                                          "layer_0/token_emb"})},
    datasets=frozenset({"sentences"}), interpreters=frozenset({"pca"}),
    generators=frozenset({"Scrambler"}))


@pytest.mark.parametrize("path,args,message", [
    ("/get_preds", {"model": "bert", "requested_fields": "tokens,layer_2/attention"}, None),
    ("/get_preds", {"model": "_bert_internals", "requested_types": "Tokens"}, None),
    ("/get_info", {}, None),
    ("/get_preds", {"model": "nope"}, "unknown model 'nope'; this server has: bert"),
    ("/get_preds", {"model": "bert", "dataset_name": "x"},
     "unknown dataset 'x'; this server has: sentences"),
    ("/get_interpretations", {"interpreter": "x"}, "unknown interpreter 'x'; this server has: pca"),
    ("/get_generated", {"generator": "x"}, "unknown generator 'x'; this server has: Scrambler"),
    ("/get_preds", {"model": "_bert_internals", "requested_fields": "tokens,layer_9/attention"},
     "model 'bert' has no output 'layer_9/attention'; its layers are 1..2"),
    ("/get_preds", {"model": "bert", "requested_fields": "layer_0/token_emb"},
     "model 'bert' has no output 'layer_0/token_emb'"),
    ("/get_preds", {"model": "bert", "requested_types": "Nope"},
     "'Nope' is not a LIT type (requested_types)"),
    ("/get_preds", {"model": "bert", "requested_types": "JsonDict"},
     "'JsonDict' is not a LIT type (requested_types)"),
])
def test_request_checks(path, args, message):
  assert request_checks.names_something(args) is bool(args)
  if message is None:
    request_checks.check_request(path, args, _METADATA)
  else:
    with pytest.raises(errors.ExbertError) as raised:
      request_checks.check_request(path, args, _METADATA)
    assert str(raised.value) == message


def test_model_paths_with_the_same_short_name_are_refused_not_overwritten():
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="both be named 'bert'"):
    server.load_models(["a/bert", "b/bert"])
