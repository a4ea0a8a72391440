"""Sentence pairs and two models in a real browser (Debian's chromium through Playwright), against
a real exbert-lit server with tiny BERT and tiny GPT-2:
- a sentence pair in the attention view shows its segment boundary (a divider above segment B's
  first row, B's tokens tinted) and curves that cross it;
- in LIT's compare mode (both models selected) each model has its attention view, and clicking a
  word in one freezes the same word, by character offsets, in the other; each model's corpus view
  then searches that word at its own position in its own tokenisation.
The compare-mode screenshot is docs/two_models_attention.png (1600x1000)."""
from __future__ import annotations

import json
import pathlib
import re
import urllib.parse

import pytest

import tiny_models
from browser_support import (ARTIFACTS, TIMEOUT_MS, browser, corpora, open_tab, post,  # noqa: F401  pylint: disable=unused-import
                             sentences_app, serving, sync_api)

pytestmark = pytest.mark.browser

PAIR = ("the cat sat on the mat", "the dog slept by the door")
SENTENCES = [f"{PAIR[0]}\t{PAIR[1]}"] + list(tiny_models.SENTENCES)
COMPARED = tiny_models.SENTENCES[2]   # "A cat sat on the mat while the dog slept by the door."
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def server_url(tiny_bert_dir, tiny_gpt2_dir, corpora):
  with serving(sentences_app({"bert": str(tiny_bert_dir), "gpt2": str(tiny_gpt2_dir)},
                             SENTENCES, corpora)) as url:
    yield url


@pytest.fixture(scope="module")
def example_ids(server_url) -> list[str]:
  examples = post(server_url, "/get_dataset", {}, dataset_name="sentences")
  assert examples[0]["data"]["text_b"] == PAIR[1]
  return [ex["id"] for ex in examples]


@pytest.fixture
def tab(browser, server_url, example_ids):
  with open_tab(browser, server_url, example_ids) as page:
    yield page


def test_pair_divider_and_cross_segment_attention(tab):
  tab.open("bert", example=0)
  tokens = tab.scene("rowTokens.map(t => c.scene.shown[t])")
  segments = tab.scene("segments")
  assert tokens[:2] == ["[CLS]", "the"] and tokens.count("[SEP]") == 2
  first_b = tokens.index("[SEP]") + 1
  assert segments == [0.0] * first_b + [1.0] * (len(tokens) - first_b)
  assert tab.graph.get_attribute("data-segment-divider") == str(first_b)
  # The divider is painted: the orange dashes above B's first row, in the left token column.
  colour = tab.graph.evaluate(f"""c => {{
    const base = c.shadowRoot.querySelector('canvas.base');
    const layout = c.layout, dpr = window.devicePixelRatio || 1;
    const y = layout.top + {first_b} * layout.rowHeight;
    const ctx = base.getContext('2d');
    for (let x = layout.leftX - layout.textWidth; x < layout.leftX; x++) {{
      const [r, g, b, a] = ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
      if (a > 200 && r > 200 && g > 90 && g < 140 && b < 40) return [r, g, b];
    }}
    return null;
  }}""")
  assert colour is not None, "no divider pixels above segment B"
  crossing = [e for e in tab.edges() if (e[0] < first_b) != (e[1] < first_b)]
  assert crossing, "no curve crosses the segment boundary"
  ARTIFACTS.mkdir(exist_ok=True)
  tab.page.screenshot(path=str(ARTIFACTS / "pair_attention.png"))


def test_masking_a_segment_b_token_keeps_the_pair(tab):
  tab.open("bert", example=0)
  tokens = tab.scene("shown")
  index = tokens.index("dog")
  xy = tab.graph.evaluate(f"c => c.tokenPoint({index}, 'left')")
  tab.page.mouse.dblclick(xy["x"], xy["y"])
  tab.wait_until(lambda: tab.scene(f"masked[{index}]"), "the token masked")
  assert tab.scene("segments")[index] == 1.0
  assert tab.graph.get_attribute("data-segment-divider") == str(tokens.index("[SEP]") + 1)
  params = tab.wait_until(lambda: (lambda p: p if "[MASK]" in p.get("data_text_b", "") else None)(
      tab.url_params()), "the new datapoint's text_b in the URL")
  assert params["data_text_b"] == "the [MASK] slept by the door"
  assert params["data_text"] == PAIR[0]


def test_one_sentence_has_no_divider(tab):
  tab.open("bert", example=1)
  assert tab.scene("segments") is None
  assert tab.graph.get_attribute("data-segment-divider") == ""


def _compare(tab, example: int):
  tab.visit("bert,gpt2", example)
  views = tab.page.locator("exbert-attention-module")
  tab.wait_until(lambda: views.count() == 2, "two attention views")
  graphs = {}
  for i in range(2):
    graph = views.nth(i).locator("exbert-attention-canvas")
    graph.wait_for(state="attached", timeout=TIMEOUT_MS)
    tab.wait_until(lambda g=graph: g.evaluate("c => c.scene !== null && c.shownEdges().length > 0"),
                   "curves drawn")
    graphs[views.nth(i).get_attribute("model")] = graph
  assert set(graphs) == {"bert", "gpt2"}
  return graphs


def _click(tab, graph, index: int, side: str = "left"):
  xy = graph.evaluate(f"c => c.tokenPoint({index}, '{side}')")
  tab.page.mouse.click(xy["x"], xy["y"])


@pytest.mark.parametrize("clicked,word", [("bert", "cat"), ("gpt2", "mat"), ("bert", "door")])
def test_compare_mode_links_the_selected_word(tab, clicked, word):
  graphs = _compare(tab, example=COMPARED_INDEX)
  other = "gpt2" if clicked == "bert" else "bert"
  shown = {name: g.evaluate("c => c.scene.shown") for name, g in graphs.items()}
  index = shown[clicked].index(word)
  _click(tab, graphs[clicked], index)
  tab.wait_until(lambda: graphs[clicked].evaluate(f"c => c.frozen && c.frozen.index === {index}"),
                 "the clicked token frozen")
  frozen = tab.wait_until(lambda: graphs[other].evaluate("c => c.frozen && c.frozen.index"),
                          f"{other}'s view follows")
  assert shown[other][frozen] == word
  if (clicked, word) == ("bert", "cat"):
    # LIT's "maximize upper area" button, so both views show their whole sentence.
    tab.page.locator("mwc-icon", has_text="vertical_align_bottom").first.click()
    tab.page.wait_for_timeout(800)
    tab.page.screenshot(path=str(DOCS / "two_models_attention.png"))


@pytest.mark.parametrize("clicked,word", [("bert", "cat"), ("gpt2", "mat")])
def test_compare_mode_corpus_views_search_the_linked_word(tab, clicked, word):
  """Each model's corpus view names and searches the clicked word at that model's own position
  ("cat" is WordPiece token 2 after [CLS], byte-level token 1): not the other model's index."""
  searched: dict[str, list[int]] = {"bert": [], "gpt2": []}

  def record(request):
    if "/get_interpretations" in request.url and "exbert_corpus_search" in request.url:
      model = urllib.parse.parse_qs(urllib.parse.urlparse(request.url).query)["model"][0]
      name = "bert" if "bert" in model else "gpt2"
      searched[name].append(json.loads(request.post_data)["config"]["position"])

  tab.page.on("request", record)
  graphs = _compare(tab, example=COMPARED_INDEX)
  shown = {name: g.evaluate("c => c.scene.shown") for name, g in graphs.items()}
  positions = {name: tokens.index(word) for name, tokens in shown.items()}
  assert positions["bert"] != positions["gpt2"], "the word must sit at different indices"
  _click(tab, graphs[clicked], positions[clicked])
  tab.wait_until(lambda: graphs[clicked].evaluate(
      f"c => c.frozen && c.frozen.index === {positions[clicked]}"), "the clicked token frozen")
  for name, position in positions.items():
    query = tab.page.locator(f"exbert-corpus-module[model={name}] .query")
    sync_api.expect(query).to_have_text(
        re.compile(rf'^"{word}" \(#{position}\) · '), timeout=TIMEOUT_MS)
    tab.wait_until(lambda n=name: searched[n], f"{name}'s corpus search sent")
    assert searched[name][-1] == position, (name, searched[name])
    matches = tab.page.locator(f"exbert-corpus-module[model={name}] tr.match")
    sync_api.expect(matches.first).to_be_visible(timeout=TIMEOUT_MS)


COMPARED_INDEX = SENTENCES.index(COMPARED)
