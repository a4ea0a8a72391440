"""The exBERT attention and corpus views in a real browser against a real exbert-lit server.

Debian's chromium driven by Playwright, a server from `exbert_lit.server.make_app` on a free local
port with tiny random-init models and corpus stores built from a few sentences, one of them full of
HTML (fixtures and helpers in tests/browser_support.py, shared by every browser test). What a user
does: hover, click, hide special tokens, pick heads, mask a token, search the corpus, reload a
shared link.

Screenshots of both views go to artifacts/ (git-ignored).
"""
from __future__ import annotations

import re
import urllib.parse

import pytest

import tiny_models
from browser_support import (ARTIFACTS, SENTENCES, TIMEOUT_MS, Page, app_page, assert_drawn_above_threshold,  # noqa: F401  pylint: disable=unused-import
                             browser, corpora, example_ids, expect, post, server_attention, server_url,
                             weights_by_edge)

pytestmark = pytest.mark.browser


# --- the server as LIT's client uses it ---------------------------------------------------------

def test_server_accepts_examples_sent_as_ids(server_url, example_ids):
  """LIT's client sends dataset examples by id (api_service.ts); LIT's app looks them up in the
  dataset's index, whose `data` is a read-only mapping (types.MappingProxyType), not a dict."""
  preds = post(server_url, "/get_preds", {"inputs": example_ids[:2]}, model="bert",
               dataset_name="sentences", requested_fields="tokens")
  assert [p["tokens"][0] for p in preds] == ["[CLS]", "[CLS]"]


# --- attention view -----------------------------------------------------------------------------

def test_page_loads_without_errors_draws_curves_and_has_local_icon_fonts(app_page, server_url,
                                                                         example_ids):
  app_page.open("bert", 0)
  tokens, att = server_attention(server_url, example_ids[0], "bert", 1)
  assert app_page.token_texts()[1:-1] == [t.lstrip("#") for t in tokens[1:-1]]
  edges = app_page.edges()
  mean = att.mean(axis=0)
  # The edges the 70% threshold keeps are drawn, with the server's values (all heads, layer 1).
  assert_drawn_above_threshold(edges, mean)
  for f, t, w in edges:
    assert w == pytest.approx(mean[f, t], abs=2e-5)
  # The view asks the gradient-free internals model for what it shows: one layer's attention,
  # tokens, specials, predictions, segments and character spans.
  queries = [urllib.parse.parse_qs(urllib.parse.urlparse(u).query)
             for u in app_page.requests if "/get_preds" in u and "attention" in u]
  assert queries and all(q["model"] == ["_bert_internals"] for q in queries), queries
  requested = {"tokens", "layer_1/attention_packed", "special_tokens", "pred_tokens",
               "segment_ids", "char_start", "char_end"}   # pairs, linking two models' views
  assert all(set(q["requested_fields"][0].split(",")) == requested for q in queries), queries
  # LIT's model selector hides the group's `_`-prefixed member, as it hides `_NAME_salience`.
  assert app_page.page.get_by_text("_bert_internals").count() == 0
  assert app_page.page.locator("lit-app-toolbar").get_by_text("bert", exact=True).count() > 0
  fonts_ok = app_page.page.evaluate(
      "async () => { await document.fonts.ready;"
      " return [document.fonts.check('24px \"Material Icons\"'), document.fonts.check('13px Roboto')]; }")
  assert fonts_ok == [True, True]
  assert app_page.page.locator("link[href*='fonts.googleapis.com']").count() == 0
  ARTIFACTS.mkdir(exist_ok=True)
  app_page.attention.screenshot(path=str(ARTIFACTS / "attention_view.png"))


def test_hover_reduces_curves_to_the_tokens_attention(app_page):
  app_page.open("bert", 0)
  total = len(app_page.edges())
  app_page.token(3, "left").hover()
  outgoing = app_page.wait_until(
      lambda: (e := app_page.edges()) and all(f == 3 for f, _, _ in e) and e, "outgoing only")
  assert 0 < len(outgoing) < total
  app_page.token(4, "right").hover()
  incoming = app_page.wait_until(
      lambda: (e := app_page.edges()) and all(t == 4 for _, t, _ in e) and e, "incoming only")
  assert 0 < len(incoming) < total
  app_page.page.mouse.move(2, 1000)
  app_page.wait_until(lambda: len(app_page.edges()) == total, "all curves back")


def test_click_freezes_a_token(app_page):
  app_page.open("bert", 0)
  app_page.token(2, "left").click()
  app_page.page.mouse.move(2, 1000)
  edges = app_page.wait_until(
      lambda: (e := app_page.edges()) and all(f == 2 for f, _, _ in e) and e, "frozen")
  assert edges
  assert app_page.token(2, "left").is_frozen()
  assert app_page.url_params()["exbert_token"] == "2"
  # Hovering another token shows it while hovered; leaving returns to the frozen one.
  app_page.token(5, "left").hover()
  app_page.wait_until(lambda: all(f == 5 for f, _, _ in app_page.edges()), "hover wins")
  app_page.page.mouse.move(2, 1000)
  app_page.wait_until(lambda: all(f == 2 for f, _, _ in app_page.edges()), "frozen again")
  # A second click on the frozen token releases it.
  app_page.token(2, "left").click()
  app_page.page.mouse.move(2, 1000)
  app_page.wait_until(lambda: len({f for f, _, _ in app_page.edges()}) > 1, "released")


def test_hiding_special_tokens_renormalises(app_page, server_url, example_ids):
  app_page.open("bert", 0)
  tokens, att = server_attention(server_url, example_ids[0], "bert", 1)
  specials = {0, len(tokens) - 1}           # [CLS] ... [SEP]
  before = weights_by_edge(app_page.edges())
  app_page.attention.locator("input.hide-specials").check()
  app_page.wait_until(lambda: not any(f in specials or t in specials
                                      for f, t, _ in app_page.edges()), "specials hidden")
  after = weights_by_edge(app_page.edges())
  assert app_page.token_texts().count("[CLS]") == 0
  mean = att.mean(axis=0)
  for (f, t), w in after.items():
    visible_total = sum(mean[f, j] for j in range(len(tokens)) if j not in specials)
    assert w == pytest.approx(mean[f, t] / visible_total, abs=1e-4)
    if (f, t) in before:
      assert w > before[(f, t)]
  assert app_page.url_params()["exbert_hide_specials"] == "1"


def test_head_selection_aggregates_heads(app_page, server_url, example_ids):
  app_page.open("bert", 0)
  _, att = server_attention(server_url, example_ids[0], "bert", 2)
  box = app_page.attention.locator("input.head-set")
  box.fill("2-[1,3]")
  box.press("Enter")
  graph = app_page.graph
  expect(graph).to_have_attribute("data-layer", "2")
  expect(graph).to_have_attribute("data-heads", "1,3")
  expected = att[[0, 2]].mean(axis=0)
  edges = app_page.wait_until(
      lambda: (e := app_page.edges()) and all(
          w == pytest.approx(expected[f, t], abs=2e-5) for f, t, w in e) and e, "heads 1,3")
  assert_drawn_above_threshold(edges, expected)
  # The head chips show the selection; clicking one adds it to the aggregate.
  chips = app_page.attention.locator(".head-chip")
  assert chips.count() == tiny_models.HEADS
  assert [c.get_attribute("class").split().count("selected") for c in chips.all()] == [1, 0, 1, 0]
  # Each chip's canvas holds that head's heat map (differs between heads, never blank).
  ink = app_page.attention.locator("canvas.head-thumb").evaluate_all(
      "cs => cs.map(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
      " let s = 0; for (let i = 0; i < d.length; i += 4) s += 255 - d[i]; return s; })")
  assert len(ink) == tiny_models.HEADS and all(v > 0 for v in ink) and len(set(ink)) > 1
  chips.nth(1).click()
  expect(graph).to_have_attribute("data-heads", "1,2,3")
  expect(box).to_have_value("2-[1,2,3]")
  expected = att[[0, 1, 2]].mean(axis=0)
  app_page.wait_until(lambda: all(w == pytest.approx(expected[f, t], abs=2e-5)
                                  for f, t, w in app_page.edges()), "heads 1,2,3")
  # A head set the model does not have is refused with a message, not applied.
  box.fill("2-9")
  box.press("Enter")
  expect(app_page.attention.locator(".head-error")).to_contain_text("head 9 is out of range: this model has heads 1..4")
  expect(graph).to_have_attribute("data-heads", "1,2,3")


def test_masking_a_token_reruns_and_shows_predictions(app_page, server_url):
  app_page.open("bert", 0)
  target = 2
  word = app_page.token_texts()[target]
  app_page.token(target, "left").click()
  app_page.attention.locator("button.mask-button").click()
  masked = app_page.wait_until(
      lambda: (m := app_page.scene("masked.flatMap((m, i) => m ? [i] : [])")) and m, "masked token")
  assert masked == [target]
  assert app_page.token_texts()[target] == "[MASK]"
  # The new sentence is a real LIT datapoint: selected, and in the URL.
  params = app_page.url_params()
  assert params["primary"] not in app_page.example_ids
  assert "[MASK]" in params.get("data_text", "") and word not in params.get("data_text", "")
  # Predictions for the masked position are shown, and equal the server's.
  table = app_page.attention.locator("table.predictions")
  expect(table).to_have_attribute("data-index", str(target))
  rows = table.locator("tr")
  assert rows.count() > 0
  shown = [float(p) for p in table.locator("td.pred-prob").all_text_contents()]
  example = {"data": {"text": params["data_text"], "_id": ""}, "id": "", "meta": {}}
  pred = post(server_url, "/get_preds", {"inputs": [example]}, model="bert",
              dataset_name="sentences", requested_fields="tokens,pred_tokens")[0]
  assert pred["tokens"][target] == "[MASK]"
  assert shown == pytest.approx([p for _, p in pred["pred_tokens"][target]], abs=1.5e-3)


def test_causal_model_greys_future_tokens_and_predicts_next(app_page):
  app_page.open("gpt2", 1)
  expect(app_page.attention.locator(".causal-badge")).to_be_visible()
  # Causal attention never looks ahead.
  assert all(t <= f for f, t, _ in app_page.edges())
  app_page.token(3, "left").hover()
  future = app_page.wait_until(lambda: app_page.graph.evaluate("c => c.greyedTokens()"),
                               "future tokens greyed")
  n = len(app_page.token_texts())
  assert future == list(range(4, n))
  expect(app_page.attention.locator(".info-title")).to_contain_text("Next token after")
  # No masking for a causal model.
  assert app_page.attention.locator("button.mask-button").count() == 0


# --- corpus view --------------------------------------------------------------------------------

OFFSET_COLOURS = {"-2": "rgb(107, 174, 214)", "-1": "rgb(31, 119, 180)", "0": "rgb(255, 127, 14)",
                  "+1": "rgb(44, 160, 44)"}


def test_corpus_search_shows_matches_and_histograms(app_page):
  app_page.open("bert", 0)
  app_page.token(2, "left").click()
  corpus = app_page.corpus
  matches = corpus.locator("tr.match")
  expect(matches.first).to_be_visible(timeout=TIMEOUT_MS)
  assert 0 < matches.count() <= 50
  # A context search over every head says so (the notation's bare `1` could read as head 1).
  expect(corpus.locator(".query")).to_contain_text("layer 1, all heads")
  # The search goes to the internals model, whose cached outputs hold the query vectors.
  searches = [urllib.parse.parse_qs(urllib.parse.urlparse(u).query)
              for u in app_page.requests
              if "/get_interpretations" in u and "exbert_corpus_search" in u]
  assert searches and all(q["model"] == ["_bert_internals"] for q in searches), searches
  # The hit is highlighted and its labels show on hover (title).
  hit = matches.first.locator(".piece.hit")
  expect(hit).to_have_count(1)
  assert re.match(r"POS \S+ \(\S+\) · DEP \S+ · ENT \S+ · lemma", hit.get_attribute("title"))
  columns = corpus.locator(".histogram-column")
  assert columns.evaluate_all("els => els.map(e => e.dataset.offset)") == ["-1", "0", "+1", "max_att"]
  for offset in ("-1", "0", "+1"):
    bars = corpus.locator(f".histogram-column[data-offset='{offset}'] .bar")
    assert bars.count() > 0
    colour = bars.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == OFFSET_COLOURS[offset]
  # Counts of the matched token's POS add up to the number of matches.
  counts = corpus.locator(".histogram-column[data-offset='0'] .histogram[data-name='POS'] .bar-count")
  assert sum(int(c) for c in counts.all_text_contents()) == matches.count()
  # Neighbour offsets are adjustable.
  offsets = corpus.locator("input.offsets")
  offsets.fill("-2,-1,1")
  offsets.press("Enter")
  expect(corpus.locator(".histogram-column[data-offset='-2'] .bar").first).to_be_visible(
      timeout=TIMEOUT_MS)
  colour = corpus.locator(".histogram-column[data-offset='-2'] .bar").first.evaluate(
      "e => getComputedStyle(e).backgroundColor")
  assert colour == OFFSET_COLOURS["-2"]
  # Switching to embedding search runs a new search.
  corpus.locator("input.kind-embedding").check()
  expect(corpus.locator(".query")).to_contain_text("layer 1")
  assert app_page.url_params()["exbert_kind"] == "embedding"
  table = corpus.locator("table.matches")
  expect(table).to_have_attribute("data-kind", "embedding", timeout=TIMEOUT_MS)
  expect(table).to_have_attribute("data-layer", "1")
  # Embedding search can also run on the input embeddings E(0).
  corpus.locator("input.input-layer").check()
  expect(corpus.locator(".query")).to_contain_text("layer 0 (input embeddings)")
  expect(table).to_have_attribute("data-layer", "0", timeout=TIMEOUT_MS)
  assert matches.count() > 0
  assert app_page.url_params()["exbert_input_layer"] == "1"
  corpus.locator("input.input-layer").uncheck()
  expect(table).to_have_attribute("data-layer", "1", timeout=TIMEOUT_MS)
  ARTIFACTS.mkdir(exist_ok=True)
  corpus.screenshot(path=str(ARTIFACTS / "corpus_view.png"))
  app_page.page.screenshot(path=str(ARTIFACTS / "exbert_lit.png"))


def test_causal_corpus_search_summarises_the_following_token(app_page):
  app_page.open("gpt2", 1)
  app_page.token(2, "left").click()
  expect(app_page.corpus.locator(".causal-note")).to_be_visible(timeout=TIMEOUT_MS)
  expect(app_page.corpus.locator(".histogram-column[data-offset='0'] .column-title")).to_contain_text(
      "following token")


def test_corpus_html_is_shown_as_text_and_never_run(app_page):
  app_page.open("gpt2", len(SENTENCES) - 1)     # the HTML sentence, byte-level BPE keeps '<', '>'
  tokens = app_page.token_texts()
  position = tokens.index("<")
  app_page.token(position, "left").click()
  corpus = app_page.corpus
  expect(corpus.locator("tr.match").first).to_be_visible(timeout=TIMEOUT_MS)
  sentences = corpus.locator("td.sentence").all_text_contents()
  assert any("<script>" in s and "<img" in s for s in sentences), sentences[:3]
  for tag in ("script", "b", "img"):
    assert corpus.locator(f"td.sentence {tag}").count() == 0, tag
    assert app_page.attention.locator(f"exbert-attention-canvas {tag}").count() == 0, tag
  assert app_page.page.evaluate("() => window.__x") is None


# --- state in the URL ---------------------------------------------------------------------------

def test_reloading_the_url_restores_the_view(app_page, example_ids):
  app_page.open("bert", 3)
  box = app_page.attention.locator("input.head-set")
  box.fill("2-[2,4]")
  box.press("Enter")
  app_page.attention.locator("input.hide-specials").check()
  app_page.token(4, "right").click()
  app_page.corpus.locator("input.kind-embedding").check()
  offsets = app_page.corpus.locator("input.offsets")
  offsets.fill("-2,1")
  offsets.press("Enter")
  app_page.wait_until(lambda: app_page.url_params().get("exbert_offsets") == "-2,1", "URL updated")
  params = app_page.url_params()
  assert params["exbert_heads"] == "2-[2,4]" and params["exbert_token"] == "4"
  assert params["exbert_side"] == "right" and params["exbert_hide_specials"] == "1"
  assert params["exbert_kind"] == "embedding" and params["primary"] == example_ids[3]
  link = app_page.page.url

  app_page.page.goto("about:blank")
  app_page.page.goto(link)
  app_page.wait_for_curves()
  graph = app_page.graph
  expect(graph).to_have_attribute("data-layer", "2")
  expect(graph).to_have_attribute("data-heads", "2,4")
  expect(app_page.attention.locator("input.head-set")).to_have_value("2-[2,4]")
  expect(app_page.attention.locator("input.hide-specials")).to_be_checked()
  assert app_page.token(4, "right").is_frozen()
  assert all(t == 4 for _, t, _ in app_page.edges())
  expect(app_page.corpus.locator("input.kind-embedding")).to_be_checked()
  expect(app_page.corpus.locator("input.offsets")).to_have_value("-2,+1")
  expect(app_page.corpus.locator(".histogram-column[data-offset='-2']")).to_have_count(1,
                                                                                    timeout=TIMEOUT_MS)
  assert app_page.url_params()["primary"] == example_ids[3]
