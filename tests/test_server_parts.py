"""The server's parts without HTTP: layouts, datasets, the field-limited output mapping."""
from __future__ import annotations

import json

import numpy as np
import pytest
from lit_nlp.lib import serialize

from exbert_lit.lit import app as app_lib
from exbert_lit.lit import datasets
from exbert_lit.lit import layouts


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


def test_text_file_dataset_skips_blanks_and_comments(tmp_path):
  path = tmp_path / "s.txt"
  path.write_text("# comment\nOne sentence.\n\n  Two sentences.  \n", encoding="utf-8")
  assert [ex["text"] for ex in datasets.TextFileDataset(str(path)).examples] == [
      "One sentence.", "Two sentences."]


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
    ('{"label": "x"}\n', "s.jsonl:1: needs a \"text\" string"),
    ('{"text": "  "}\n', "s.jsonl:1: empty \"text\""),
    ("\n\n", "no examples"),
])
def test_jsonl_errors_name_the_line(tmp_path, content, message):
  path = tmp_path / "s.jsonl"
  path.write_text(content, encoding="utf-8")
  with pytest.raises(ValueError, match=message.replace("(", r"\(")):
    datasets.JsonlDataset(str(path))


def test_missing_data_file():
  with pytest.raises(FileNotFoundError, match="no such data file"):
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
  out = app_lib.fields_from_internals(_Internals())
  assert out["tokens"] == ["[CLS]", "a", "[SEP]"]
  assert out["special_tokens"].tolist() == [1.0, 0.0, 1.0]
  assert set(out) == {"tokens", "special_tokens", "layer_1/attention", "layer_2/attention",
                      "layer_0/token_emb", "layer_1/token_emb", "layer_2/token_emb",
                      "layer_1/context_emb", "layer_2/context_emb"}
  np.testing.assert_array_equal(out["layer_2/attention"], _Internals.attention[1])


def test_round_attention_keeps_other_fields_and_shortens_json():
  pred = {"layer_1/attention": np.full((1, 2, 2), 1 / 3, np.float32), "x": [1.23456789]}
  rounded = app_lib.round_attention(pred, {"layer_1/attention"})
  assert rounded["x"] == [1.23456789]
  assert json.dumps(rounded["layer_1/attention"].tolist()) == (
      "[[[0.3333, 0.3333], [0.3333, 0.3333]]]")


_RNG = np.random.default_rng(0)
_WEIGHTS = _RNG.random((3, 5, 5)).astype(np.float32)


@pytest.mark.parametrize("pred,fast", [
    ({"layer_1/attention": np.round(_WEIGHTS.astype(np.float64), 4), "tokens": ["a", "é"]}, True),
    ({"layer_1/attention": np.array([[0.0, 1.0], [0.5, 0.0001]])}, True),
    ({"layer_1/attention": _WEIGHTS}, False),                           # float32, not rounded
    ({"layer_1/attention": _WEIGHTS.astype(np.float64)}, False),        # not rounded
    ({"layer_1/attention": np.array([0.5, -0.0])}, False),              # -0.0 prints as such
    ({"layer_1/attention": np.array([0.5, np.nan])}, False),
    ({"layer_1/attention": np.array([1.5, 2.0])}, False),               # outside [0, 1]
    ({"layer_1/attention": np.zeros((0, 2))}, False),
    ({"layer_1/attention": [0.5], "special_tokens": np.array([1.0, 0.0], np.float32)}, False),
])
def test_preds_json_is_lits_json_byte_for_byte(pred, fast):
  preds = [pred, {}, {"x": (1, 2)}]
  assert app_lib.preds_json(preds, {"layer_1/attention"}) == serialize.to_json(preds, simple=True)
  assert (app_lib.rounded_weights_json(pred["layer_1/attention"]) is not None) is fast


def test_preds_json_of_no_preds():
  assert app_lib.preds_json([], {"layer_1/attention"}) == "[]"


@pytest.mark.parametrize("example,plain", [
    ({"text": "a"}, True), ({"text": "a", "tokens": []}, True),
    ({"text": "a", "tokens": ["a"]}, False), ({"text": "a", "input_embs": [[0.0]]}, False),
])
def test_plain_text_examples(example, plain):
  assert app_lib.is_plain_text_example(example) is plain


def test_model_paths_with_the_same_short_name_are_refused_not_overwritten():
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="both be named 'bert'"):
    server.load_models(["a/bert", "b/bert"])
