"""The notebook API on tiny models and stores: exbert_lit.search / attention give the numbers the
store and the model give, as DataFrames and labelled arrays; their HTML is escaped; mistakes are
one line, before a model loads; the widget serves our bundle and layouts and writes a frame that
works directly and behind a proxy; `import exbert_lit` stays light; the tour is stored stripped."""
from __future__ import annotations

import collections
import json
import pathlib
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

import exbert_lit
import tiny_models
from exbert_lit.errors import ExbertError
from exbert_lit.notebook import api
from exbert_lit.notebook import attention_result
from exbert_lit.notebook import html_table
from exbert_lit.notebook import lit_widget

REPO = pathlib.Path(__file__).resolve().parent.parent
HTML_SENTENCE = 'The <script>__x=1</script> <b>cat</b> sat.'
TEXT = "The cat sat on the mat."
# The only markup a result's HTML may hold: its table structure and the match marker.
ALLOWED_TAGS = {"div", "table", "caption", "thead", "tbody", "tr", "th", "td", "b"}


@pytest.fixture(scope="module")
def stores(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  built = tiny_models.build_corpus_stores(
      tmp_path_factory.mktemp("notebook_stores"), list(tiny_models.SENTENCES) + [HTML_SENTENCE],
      {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir})
  return {"bert": built["bert_corpus"], "gpt2": built["gpt2_corpus"]}


def _direct(store, model_dir, text, position, layer, kind, heads, k):
  """The same search through CorpusIndex, as the CLI runs it."""
  from exbert_lit.corpus import search
  model = api.load(str(model_dir))
  index = search.CorpusIndex.open(store, model)
  (internals,) = model.internals([text])
  return index.search(search.vector_of(internals, kind, layer, position), layer=layer,
                      kind=kind, heads=heads, k=k)


# --- search -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer,heads,kind,want_heads", [
    ("2-[1,3]", None, "context", [1, 3]),
    (2, "1,3", "context", [1, 3]),
    ("1", None, "embedding", None),
    (0, None, "embedding", None),
])
def test_search_matches_the_store(stores, tiny_bert_dir, layer, heads, kind, want_heads):
  result = exbert_lit.search(str(stores["bert"]), TEXT, "cat", layer, kind, heads, k=6)
  assert result.query["heads"] == want_heads and result.query["token"] == "cat"
  direct = _direct(stores["bert"], tiny_bert_dir, TEXT, result.query["position"],
                   int(str(layer)[0]), kind, want_heads, 6)
  m = result.matches
  assert list(m["rank"]) == [1, 2, 3, 4, 5, 6]
  assert list(m["score"]) == pytest.approx([d["score"] for d in direct["matches"]])
  assert list(m["sentence_id"]) == [d["sentence_id"] for d in direct["matches"]]
  for row, d in zip(m.itertuples(), direct["matches"]):
    assert row.token == d["tokens"][d["position"]] and row.text == d["text"]
    assert row.pos == (d["labels"][d["position"]] or {}).get("pos")
    if d["max_att"] is None:
      assert row.max_att is pd_na() and row.max_att_token is None
    else:
      assert row.max_att == d["max_att"] and row.max_att_token == d["tokens"][d["max_att"]]
  # Histograms: every bin of the JSON result, with shares per summary and field.
  h = result.histograms
  for (summary, field), part in h.groupby(["summary", "field"]):
    bins = (direct["max_att"][field] if summary == "max_att"
            else direct["histograms"][summary][field])
    assert list(zip(part["label"], part["count"])) == [(b["label"], b["count"]) for b in bins]
    assert part["share"].sum() == pytest.approx(1.0)
  assert set(h["summary"]) == {"-1", "0", "+1"} | ({"max_att"} if layer != 0 else set())
  # Unpacks as (matches, histograms, ...).
  matches, histograms, query, raw = result
  assert matches is m and raw["query"]["k"] == 6


def pd_na():
  import pandas as pd
  return pd.NA


def test_search_by_position_equals_search_by_word(stores):
  by_word = exbert_lit.search(stores["bert"], TEXT, "mat", 2, "context", k=4)
  by_position = exbert_lit.search(stores["bert"], TEXT, by_word.query["position"], 2, "context",
                                  k=4)
  assert by_word.matches.drop(columns="tokens").equals(by_position.matches.drop(columns="tokens"))
  # The second "the" is another token than the first.
  text = "the cat sat on the mat."
  first = exbert_lit.search(stores["bert"], text, "the", 1, k=3)
  second = exbert_lit.search(stores["bert"], text, "the", 1, k=3, occurrence=2)
  assert second.query["position"] > first.query["position"]


def test_causal_search_names_the_following_token(stores):
  result = exbert_lit.search(stores["gpt2"], TEXT, "cat", 1, "context", k=8)
  m = result.matches
  assert result.query["centre"] == "next"
  assert {"next_token", "next_pos", "next_dep", "next_ent"} <= set(m.columns)
  for row in m.itertuples():
    following = row.tokens[row.position + 1] if row.position + 1 < len(row.tokens) else None
    assert row.next_token == following
  # The histogram of the summarised token counts the following tokens' POS.
  h = result.histograms
  counted = dict(zip(*h[(h.summary == "0") & (h.field == "pos")][["label", "count"]].T.values))
  assert counted == dict(collections.Counter(m["next_pos"].dropna()))


def test_search_takes_an_open_index_and_a_loaded_model(stores, tiny_bert_dir):
  from exbert_lit.corpus import search
  model = api.load(str(tiny_bert_dir))
  index = search.CorpusIndex.open(stores["bert"])
  result = exbert_lit.search(index, TEXT, "cat", 2, "context", k=3, model=model,
                             offsets="-2,2")
  assert set(result.histograms["summary"]) == {"-2", "0", "+2", "max_att"}
  assert api.load(str(tiny_bert_dir)) is model   # loaded once per process


def _no_model_load(*unused, **unused_kw):
  raise AssertionError("the model was loaded before the input was checked")


@pytest.mark.parametrize("kwargs,message", [
    ({"layer": 9}, "layer 9 is out of range: this model has layers 1..2"),
    ({"layer": 0, "kind": "context"}, "layer 0 (input embeddings) has no attention context"),
    ({"layer": "2-9"}, "head 9 is out of range: this model has heads 1..4"),
    ({"layer": "2-1", "heads": "2"}, "give the heads once"),
    ({"layer": "two"}, "layer and heads must look like 5, 5-3"),
    ({"k": 0}, "k 0 is out of range: use 1..1000"),
    ({"kind": "contexts"}, 'kind must be embedding or context; got "contexts"'),
    ({"offsets": "0"}, "offset 0 is out of range"),
])
def test_search_refuses_bad_input_before_loading_the_model(stores, monkeypatch, kwargs, message):
  monkeypatch.setattr(api, "load", _no_model_load)
  args = {"index": stores["bert"], "text": TEXT, "word": "cat", "layer": 1, **kwargs}
  with pytest.raises(ExbertError) as e:
    exbert_lit.search(**args)
  assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text,word,message", [
    (TEXT, "dog", "'dog' does not occur 1 time(s)"),
    (TEXT, 99, "token position 99 is out of range: the text has 9 word-pieces (0..8)"),
    (TEXT, "", "word must be a word of the text or a 0-based word-piece index"),
    ("  ", "cat", "empty 'text': type a sentence"),
    ("cat " * 80, "cat", "model '"),
])
def test_search_refuses_bad_text_and_word(stores, text, word, message):
  with pytest.raises(ExbertError) as e:
    exbert_lit.search(stores["bert"], text, word, 1)
  assert message in str(e.value) and "\n" not in str(e.value)


def test_search_refuses_a_missing_store(tmp_path):
  with pytest.raises(ExbertError, match="is not a directory: give a store"):
    exbert_lit.search(tmp_path / "nothing", TEXT, "cat", 1)


def test_search_html_is_escaped(stores):
  result = exbert_lit.search(stores["gpt2"], HTML_SENTENCE, "cat", 1, k=30)
  assert any("<script>" in t for t in result.matches["text"])   # the data keeps its text
  page = result._repr_html_()
  assert "<script" not in page and "&lt;" in page
  assert set(re.findall(r"</?([a-z]+)", page)) <= ALLOWED_TAGS
  assert "matches in" in repr(result) and "\n" not in repr(result)


# --- attention ----------------------------------------------------------------------------------

@pytest.mark.parametrize("family,layer,heads,want", [
    ("bert", 2, None, (1, 2, 3, 4)),
    ("bert", "1-[2,4]", None, (2, 4)),
    ("gpt2", 2, "3", (3,)),
])
def test_attention_equals_the_models_internals(tiny_model_dirs, family, layer, heads, want):
  path = str(tiny_model_dirs[family])
  att = exbert_lit.attention(path, TEXT, layer, heads=heads)
  (internals,) = api.load(path).internals([TEXT])
  number = int(str(layer)[0])
  np.testing.assert_allclose(att.values, internals.attention[number - 1][np.asarray(want) - 1],
                             atol=1e-6)
  assert att.heads == want and att.layer == number and att.tokens == internals.tokens
  assert np.asarray(att).shape == (len(want), len(att.tokens), len(att.tokens)) == att.shape
  np.testing.assert_allclose(att.values.sum(axis=-1), 1.0, atol=1e-4)   # rows of softmax
  frame = att.frame()
  assert list(frame.index) == [f"{i}:{t}" for i, t in enumerate(att.tokens)]
  np.testing.assert_allclose(frame.to_numpy(), att.values.mean(axis=0))
  np.testing.assert_allclose(att.frame(head=want[-1]).to_numpy(), att.values[-1])
  best = att.top(1)
  assert [b[0][0] for b in best] == list(att.mean().argmax(axis=1))


def test_attention_kinds_follow_the_model_groups_fields(tiny_bert_dir):
  path = str(tiny_bert_dir)
  assert exbert_lit.attention_kinds(path) == ["weights", "value-norm", "rollout"]
  with pytest.raises(ExbertError) as e:
    exbert_lit.attention(path, TEXT, 1, kind="value-weighted")
  assert str(e.value) == ('attention kind must be one of weights, value-norm, rollout; '
                          'got "value-weighted"')


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_attention_measures_equal_the_models_own(tiny_model_dirs, family):
  """value-norm and rollout through the model group's `_NAME_measures` equal `measures()`."""
  from exbert_lit.models import load_model
  path = str(tiny_model_dirs[family])
  (want,) = load_model(path).measures([TEXT])
  norm = exbert_lit.attention(path, TEXT, 2, kind="value-norm")
  rollout = exbert_lit.attention(path, TEXT, 2, kind="rollout")
  assert norm.tokens == list(want.tokens) and norm.shape == want.attention_norm[1].shape
  raw = want.attention_norm[1]                 # [H, T, T], raw norms; the view's rows sum to 1
  np.testing.assert_allclose(norm.values, raw / raw.sum(axis=-1, keepdims=True), atol=1e-5)
  np.testing.assert_allclose(rollout.values[0], want.rollout[1], atol=1e-5)


class MeasureModel:
  """A LIT model whose group offers only a one-matrix measure per layer ([1, T, T]), as
  `_NAME_measures` serves rollout: the attention API must read it from the group's specs."""
  name, num_layers, num_heads = "measured", 2, 4

  def __new__(cls):
    from lit_nlp.api import model as lit_model
    from lit_nlp.api import types as lit_types

    class _Model(lit_model.Model):
      name, num_layers, num_heads = cls.name, cls.num_layers, cls.num_heads

      def input_spec(self):
        return {"text": lit_types.TextSegment()}

      def output_spec(self):
        return {"tokens": lit_types.Tokens(),
                **{f"layer_{l}/rollout": lit_types.AttentionHeads(align_in="tokens",
                                                                  align_out="tokens")
                   for l in (1, 2)}}

      def predict(self, inputs, **unused):
        for ex in inputs:
          tokens = ex["text"].split()
          t = len(tokens)
          matrix = np.tril(np.ones((t, t), dtype=np.float32)) / np.arange(1, t + 1)[:, None]
          yield {"tokens": tokens, **{f"layer_{l}/rollout": matrix[None] * l for l in (1, 2)}}

    return _Model()


def test_attention_reads_a_measure_the_group_declares(monkeypatch):
  monkeypatch.setitem(attention_result.ATTENTION_KINDS, "rollout", "rollout")
  model = MeasureModel()
  assert exbert_lit.attention_kinds(model) == ["rollout"]
  att = exbert_lit.attention(model, "a b c", 2, kind="rollout")
  assert att.heads == () and att.shape == (1, 3, 3) and att.tokens == ["a", "b", "c"]
  np.testing.assert_allclose(att.values[0, 2], [2 / 3, 2 / 3, 2 / 3])
  assert "one matrix for all heads" in repr(att)
  with pytest.raises(ExbertError, match="'rollout' is one matrix for all heads: leave out heads"):
    exbert_lit.attention(model, "a b c", "2-1", kind="rollout")
  with pytest.raises(ExbertError, match="does not offer attention kind 'weights' at layer 1: "
                     "it offers rollout"):
    exbert_lit.attention(model, "a b c", 1)


@pytest.mark.parametrize("layer,heads,message", [
    (3, None, "layer 3 is out of range: this model has layers 1..2"),
    (0, None, "layer 0 (input embeddings) has no attention"),
    ("1-5", None, "head 5 is out of range: this model has heads 1..4"),
    ("1-2", "3", "give the heads once"),
])
def test_attention_refuses_bad_layers_and_heads(tiny_bert_dir, layer, heads, message):
  with pytest.raises(ExbertError) as e:
    exbert_lit.attention(str(tiny_bert_dir), TEXT, layer, heads=heads)
  assert message in str(e.value) and "\n" not in str(e.value)


def test_attention_html_is_escaped(tiny_gpt2_dir):
  att = exbert_lit.attention(str(tiny_gpt2_dir), HTML_SENTENCE, 1)
  assert any("<" in t for t in att.tokens)
  page = att._repr_html_()
  assert "<script" not in page and "&lt;" in page
  assert set(re.findall(r"</?([a-z]+)", page)) <= ALLOWED_TAGS
  with pytest.raises(ExbertError, match="head 9 is not in this result"):
    att.frame(head=9)


# --- the HTML tables ----------------------------------------------------------------------------

@pytest.mark.parametrize("tokens,position,max_chars,want", [
    (["a", "b", "c"], 1, 100, "a <b>b</b> c"),
    (["<s>", "x"], 0, 100, "<b>&lt;s&gt;</b> x"),
    ([f"w{i}" for i in range(40)], 20, 12, "… w18 w19 <b>w20</b> w21 …"),
    ([f"w{i}" for i in range(40)], 0, 8, "<b>w0</b> w1 w2 …"),
    ([f"w{i}" for i in range(40)], 39, 8, "… w37 w38 <b>w39</b>"),
])
def test_marked_tokens(tokens, position, max_chars, want):
  assert html_table.marked_tokens(tokens, position, max_chars) == want


def test_table_escapes_counts_and_cuts():
  page = html_table.table(["a<", "b"], [["<i>x</i>", 0.12345], [None, float("nan")]] * 3,
                          caption="c&", max_rows=4)
  assert "<i>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page and "a&lt;" in page
  assert "0.123" in page and "nan" not in page and "c&amp;" in page
  assert page.count("<tr>") == 5 and "… 2 more rows" in page
  assert html_table.cell_text("x" * 200, 10) == "x" * 9 + "…"


# --- the widget ---------------------------------------------------------------------------------

@pytest.mark.parametrize("proxy,want_url,want_port", [
    (None, '"/?layout=exbert_compact"', "const port = 4321;"),
    ("/proxy/%PORT%/", '"/proxy/4321/?layout=exbert_compact"', "const port = 0;"),
    ("https://hub.example/user/a/proxy/%PORT%/",
     '"https://hub.example/user/a/proxy/4321/?layout=exbert_compact"', "const port = 0;"),
])
def test_frame_html_direct_and_behind_a_proxy(proxy, want_url, want_port):
  page = lit_widget.frame_html(4321, 700, "?layout=exbert_compact", proxy, element_id="f1")
  assert f"new URL({want_url}, window.location)" in page and want_port in page
  assert '<iframe id="f1"' in page and 'height="700"' in page
  assert 'document.getElementById("f1")' in page


def test_frame_html_escapes_what_it_is_given():
  page = lit_widget.frame_html(1, 10, '?data0_text=%3C%2Fscript%3E', '"</script><b>%PORT%',
                               element_id='x"<y')
  assert page.count("</script>") == 1 and "<b>" not in page
  assert 'id="x&quot;&lt;y"' in page and '"x\\"\\u003cy"' in page
  tab = lit_widget.frame_html(5, 10, "", None, open_in_new_tab=True, element_id="t")
  assert "<iframe" not in tab and "window.open(url, '_blank')" in tab


def test_notebook_datasets():
  out = lit_widget.notebook_datasets({"mine": ["The cat sat.", "A dog."], "file": "x.txt"})
  assert [ex["text"] for ex in out["mine"].examples] == ["The cat sat.", "A dog."]
  assert out["file"] == "x.txt"
  assert lit_widget.notebook_datasets(None) is None
  with pytest.raises(ExbertError, match="data 'mine': give a list of non-empty sentences"):
    lit_widget.notebook_datasets({"mine": ["ok", " "]})


def test_widget_serves_our_bundle_and_layouts(tiny_bert_dir, stores, monkeypatch):
  from exbert_lit.lit import client
  if client.client_root() is None:
    pytest.skip("client bundle not built")
  shown = []
  from IPython import display
  monkeypatch.setattr(display, "display", shown.append)
  monkeypatch.setenv("LIT_PROXY_URL", "/proxy/%PORT%/")
  w = exbert_lit.notebook.widget(models={"bert": str(tiny_bert_dir)},
                                 corpora={"bert": str(stores["bert"])},
                                 data={"mine": [TEXT]}, height=600)
  try:
    # Rendered at once, through LIT's proxy variable.
    assert len(shown) == 1 and f'"/proxy/{w.port}/?layout=exbert_compact"' not in shown[0].data
    assert f'"/proxy/{w.port}/?"' in shown[0].data and 'height="600"' in shown[0].data
    with urllib.request.urlopen(w.url, timeout=30) as response:
      page = response.read().decode()
    assert "static/fonts/fonts.css" in page and "googleapis" not in page
    request = urllib.request.Request(w.url + "get_info", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
      info = json.loads(response.read())
    assert info["defaultLayout"] == "exbert_compact" and "exbert" in info["layouts"]
    assert {"bert", "_bert_internals"} <= set(info["models"]) and "mine" in info["datasets"]
    assert info["syncState"] is True
    again = w.frame(data=[{"text": "A new one."}], proxy_url="http://h/p/%PORT%/")
    assert f'"http://h/p/{w.port}/?data0_text=A+new+one."' in again
    assert "bert" in repr(w) and str(w.port) in repr(w)
  finally:
    w.stop()


def test_widget_refuses_an_unknown_layout(tiny_bert_dir):
  with pytest.raises(ExbertError, match="layout 'nope' is not one of exbert, exbert_compact"):
    exbert_lit.notebook.widget(models=[str(tiny_bert_dir)], layout="nope", render=False)


# --- packaging ----------------------------------------------------------------------------------

def test_import_stays_light():
  code = ("import sys, exbert_lit, exbert_lit.notebook; exbert_lit.search; exbert_lit.attention;"
          " print(sorted(m for m in ('torch', 'lit_nlp', 'pandas', 'transformers', 'IPython')"
          " if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=REPO)
  assert out.stdout.strip() == "[]"


def test_tour_is_stored_without_outputs():
  notebook = json.loads((REPO / "demos" / "exbert_tour.ipynb").read_text(encoding="utf-8"))
  code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
  assert code, "the tour has code cells"
  for cell in code:
    assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"][:1]
  assert "widgets" not in notebook["metadata"]
