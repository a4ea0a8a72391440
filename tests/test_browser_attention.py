"""exBERT's attention-view features in a real browser: the cumulative threshold, the per-head
matrices (click and shift-click), double-click masking, zeroing the specials, the measure
selector, and the SVG/PNG/JSON exports (downloaded and parsed). Same server, models and browser
as tests/test_browser_exbert.py (fixtures from tests/browser_support.py). A 1,024-token input on the real
SmolLM2 runs when that model is installed (tests/test_server_real_models.py's rule).

Screenshots at 1600x1000 go to artifacts/ (git-ignored); docs/ keeps the chosen ones.
"""
from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tiny_models
from browser_support import (ARTIFACTS, TIMEOUT_MS, Page, app_page, browser, corpora,  # noqa: F401  pylint: disable=unused-import
                             example_ids, expect, open_tab, post, row_cuts, server_attention,
                             server_url, serving)

pytestmark = pytest.mark.browser


def kept(matrix: np.ndarray, threshold: float) -> set:
  cuts = row_cuts(matrix, threshold)
  return {(i, j) for i, j in np.argwhere((matrix >= cuts[:, None]) & (matrix > 0.005))}


def assert_edges_match(app_page: Page, matrix: np.ndarray, threshold: float):
  """The canvas shows the edges the threshold keeps, with the matrix's weights."""
  cuts = row_cuts(matrix, threshold)
  edges = app_page.edges()
  drawn = {(f, t) for f, t, _ in edges}
  for i, j in drawn ^ kept(matrix, threshold):
    assert abs(matrix[i, j] - cuts[i]) < 1e-5, (i, j, threshold)
  for f, t, w in edges:
    assert w == pytest.approx(matrix[f, t], abs=2e-5)


def set_threshold(app_page: Page, percent: int):
  app_page.attention.locator("input.threshold").fill(str(percent))
  expect(app_page.graph).to_have_attribute("data-threshold", f"{percent / 100:g}")   # as JS writes it


def test_cumulative_threshold_slider(app_page, server_url, example_ids):
  app_page.open("bert", 0)
  _, att = server_attention(server_url, example_ids[0], "bert", 1)
  mean = att.mean(axis=0)
  expect(app_page.graph).to_have_attribute("data-threshold", "0.7")   # exBERT's default
  assert_edges_match(app_page, mean, 0.7)
  counts = {}
  for percent in (30, 100, 70):
    set_threshold(app_page, percent)
    assert_edges_match(app_page, mean, percent / 100)
    counts[percent] = len(app_page.edges())
  assert counts[30] < counts[70] < counts[100]
  # At 100% every weight above the lightest curve is drawn.
  assert counts[100] == int((mean > 0.005).sum())
  # Per row, the kept weights reach the threshold.
  for row in range(mean.shape[0]):
    kept_row = [w for f, _, w in app_page.edges() if f == row]
    assert sum(kept_row) >= 0.7 * mean[row].sum() - 1e-3 or max(mean[row]) <= 0.005
  expect(app_page.attention.locator(".threshold-value")).to_have_text("70%")


def test_threshold_zeroing_and_measure_are_kept_in_the_url(app_page):
  """A link keeps the threshold, "zero attention to specials" and the measure asked for."""
  app_page.open("bert", 0)
  assert "exbert_threshold" not in app_page.url_params()   # defaults keep links short
  set_threshold(app_page, 30)
  app_page.attention.locator("input.zero-specials").check()
  app_page.wait_until(lambda: app_page.url_params().get("exbert_zero_specials") == "1", "URL updated")
  assert app_page.url_params()["exbert_threshold"] == "30"
  link = app_page.page.url
  app_page.page.goto("about:blank")
  app_page.page.goto(link)
  app_page.wait_for_curves()
  expect(app_page.graph).to_have_attribute("data-threshold", "0.3")
  expect(app_page.attention.locator(".threshold-value")).to_have_text("30%")
  expect(app_page.attention.locator("input.zero-specials")).to_be_checked()
  # The measure picked in the selector goes into the link, and a link opens with its measure.
  app_page.attention.locator("select.measure-select").select_option("value-weighted")
  expect(app_page.graph).to_have_attribute("data-measure", "value-weighted")
  app_page.wait_until(lambda: app_page.url_params().get("exbert_measure") == "value-weighted",
                      "URL updated")
  app_page.open("bert", 0, threshold="45", measure="rollout")
  expect(app_page.graph).to_have_attribute("data-threshold", "0.45")
  expect(app_page.graph).to_have_attribute("data-measure", "rollout")
  expect(app_page.attention.locator("select.measure-select")).to_have_value("rollout")
  expect(app_page.attention.locator("input.zero-specials")).not_to_be_checked()
  # Back to the defaults: the parameters leave the URL.
  set_threshold(app_page, 70)
  app_page.wait_until(lambda: "exbert_threshold" not in app_page.url_params(), "URL updated")


def head_cell(app_page: Page, head: int) -> tuple[float, float]:
  xy = app_page.graph.evaluate(f"c => c.headPoint({head})")
  return xy["x"], xy["y"]


def test_head_matrices_click_and_shift_click(app_page, server_url, example_ids):
  app_page.open("bert", 0)
  _, att = server_attention(server_url, example_ids[0], "bert", 1)
  # One column per head beside each token column: strongest weight out, mean attention in.
  overview = app_page.graph.evaluate(
      "c => [c.scene.overview.left.map(a => Array.from(a)), c.scene.overview.right.map(a => Array.from(a))]")
  assert np.allclose(overview[0], att.max(axis=2), atol=1e-4)
  assert np.allclose(overview[1], att.mean(axis=1), atol=1e-4)
  chips = app_page.attention.locator(".head-chip")
  selected = lambda: [c.get_attribute("class").split().count("selected") for c in chips.all()]  # noqa: E731
  # Click selects one head; the chips, the box and the URL follow.
  app_page.page.mouse.click(*head_cell(app_page, 2))
  expect(app_page.graph).to_have_attribute("data-heads", "2")
  assert selected() == [0, 1, 0, 0]
  expect(app_page.attention.locator("input.head-set")).to_have_value("1-2")
  assert_edges_match(app_page, att[1], 0.7)
  # Shift-click adds a head.
  app_page.page.keyboard.down("Shift")
  app_page.page.mouse.click(*head_cell(app_page, 4))
  app_page.page.keyboard.up("Shift")
  expect(app_page.graph).to_have_attribute("data-heads", "2,4")
  assert selected() == [0, 1, 0, 1]
  assert app_page.url_params()["exbert_heads"] == "1-[2,4]"
  assert_edges_match(app_page, att[[1, 3]].mean(axis=0), 0.7)
  # Shift-click on a selected head removes it; a click on the only head goes back to all.
  app_page.page.keyboard.down("Shift")
  app_page.page.mouse.click(*head_cell(app_page, 2))
  app_page.page.keyboard.up("Shift")
  expect(app_page.graph).to_have_attribute("data-heads", "4")
  app_page.page.mouse.click(*head_cell(app_page, 4))
  expect(app_page.graph).to_have_attribute("data-heads", "")
  assert selected() == [1, 1, 1, 1]
  # Pointing at a token fills the other side's matrix with its attention in every head.
  app_page.token(3, "left").hover()
  right = app_page.wait_until(lambda: app_page.graph.evaluate(
      "c => c.hover && Array.from({length: 4}, (_, h) => Array.from(c.scene.att[h][3]))"), "hover")
  assert np.allclose(right, att[:, 3, :], atol=1e-4)
  ARTIFACTS.mkdir(exist_ok=True)
  app_page.page.set_viewport_size({"width": 1600, "height": 1000})
  app_page.page.screenshot(path=str(ARTIFACTS / "attention_heads.png"))


def test_double_click_masks_and_reruns(app_page):
  app_page.open("bert", 0)
  word = app_page.token_texts()[2]
  app_page.token(2, "left").dblclick()
  masked = app_page.wait_until(
      lambda: (m := app_page.scene("masked.flatMap((m, i) => m ? [i] : [])")) and m, "masked")
  assert masked == [2]
  assert app_page.token_texts()[2] == "[MASK]"
  params = app_page.url_params()
  assert "[MASK]" in params.get("data_text", "") and word not in params.get("data_text", "")
  expect(app_page.attention.locator("table.predictions")).to_have_attribute("data-index", "2")


def test_zeroing_specials_renormalises_every_head(app_page, server_url, example_ids):
  app_page.open("bert", 0)
  tokens, att = server_attention(server_url, example_ids[0], "bert", 1)
  specials = [0, len(tokens) - 1]
  app_page.attention.locator("input.zero-specials").check()
  set_threshold(app_page, 100)
  zeroed = att.copy()
  zeroed[:, :, specials] = 0
  zeroed /= zeroed.sum(axis=2, keepdims=True)
  app_page.wait_until(lambda: not any(t in specials for _, t, _ in app_page.edges()), "zeroed")
  assert_edges_match(app_page, zeroed.mean(axis=0), 1.0)
  # The specials keep their rows (unlike "hide special tokens") and still show.
  assert app_page.token_texts()[0] == "[CLS]"
  assert any(f == 0 for f, _, _ in app_page.edges())
  expect(app_page.graph).to_have_attribute("data-caption", "bert · layer 1 · all heads · weights · threshold 100% · specials zeroed")


def test_measure_selector_offers_only_what_the_server_declares(app_page):
  app_page.open("bert", 0)
  options = app_page.attention.locator("select.measure-select option").all_text_contents()
  # `_bert_measures` declares both other kinds (tests/test_browser_measures.py draws each)
  assert options == ["weights", "value-weighted", "rollout"]
  expect(app_page.graph).to_have_attribute("data-measure", "weights")


def png_size(data: bytes) -> tuple[int, int]:
  assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
  return struct.unpack(">II", data[16:24])


def test_exports_svg_png_json(app_page, tmp_path):
  app_page.open("bert", 0)
  app_page.attention.locator("input.head-set").fill("2-[1,3]")
  app_page.attention.locator("input.head-set").press("Enter")
  expect(app_page.graph).to_have_attribute("data-heads", "1,3")
  edges = app_page.edges()
  files = {}
  for kind in ("svg", "png", "json"):
    with app_page.page.expect_download() as info:
      app_page.attention.locator(f"button.export-{kind}").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    files[kind] = path
  assert files["svg"].name == "exbert_attention_bert_layer2.svg"
  svg = ET.parse(files["svg"]).getroot()
  ns = {"s": "http://www.w3.org/2000/svg"}
  caption = svg.find("s:text[@class='caption']", ns).text
  assert caption == "bert · layer 2 · heads 1,3 · weights · threshold 70%"
  paths = svg.findall("s:g[@class='edges']/s:path", ns)
  assert sorted((int(p.get("data-from")), int(p.get("data-to"))) for p in paths) == \
      sorted((f, t) for f, t, _ in edges)
  left = [t.text for t in svg.findall("s:g[@class='left-column']/s:text", ns)]
  assert left == app_page.token_texts()
  width, height = png_size(files["png"].read_bytes())
  assert width == 2 * int(svg.get("width")) and height == 2 * int(svg.get("height"))
  data = json.loads(files["json"].read_text())
  assert data["layer"] == 2 and data["heads"] == [1, 3] and data["threshold"] == 0.7
  assert data["measure"] == "weights" and len(data["matrix"]) == len(data["tokens"])
  assert sorted(map(tuple, ([f, t] for f, t, _ in data["edges"]))) == sorted((f, t) for f, t, _ in edges)
  matrix = np.array(data["matrix"])
  assert np.allclose(matrix.sum(axis=1), 1, atol=2e-3)
  assert tiny_models.HEADS == 4


# --- a long input on the real causal model ------------------------------------------------------

LONG_TOKENS = 1024


@pytest.fixture(scope="module")
def long_server():
  """SmolLM2 with one 1,024-token sentence, in a layout with the attention view alone (LIT's
  salience modules would run gradients over 1,024 tokens on the same model)."""
  from lit_nlp.api import layout  # pylint: disable=g-import-not-at-top
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import server as server_bench  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import datasets, layouts  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  model = load_model("smollm2", compute_gradients=False)
  assert model.max_length == 8192          # the model's own position limit, no product cap
  text = server_bench.sentences_of_length(model, LONG_TOKENS, 1)[0]
  app = server.make_app(
      models={"smollm2": model}, datasets={"sentences": datasets.SentencesDataset([text])},
      corpus_examples=0, default_layout="attention",
      layouts={"attention": layout.LitCanonicalLayout(upper={"exBERT": [layouts.ATTENTION_MODULE]})})
  with serving(app) as url:
    examples = post(url, "/get_dataset", {}, dataset_name="sentences")
    yield url, [ex["id"] for ex in examples]


@pytest.mark.slow
def test_a_1024_token_input_on_smollm2_scrolls_with_a_minimap(browser, long_server):
  url, ids = long_server
  with open_tab(browser, url, ids) as tab:
    tab.page.set_default_timeout(300_000)
    tab.page.goto(f"{url}/?models=smollm2&dataset=sentences&selection={ids[0]}&primary={ids[0]}"
                  "&exbert_heads=15")
    tab.graph.wait_for(state="attached", timeout=300_000)
    tab.wait_until(lambda: tab.scene("shown.length") == LONG_TOKENS, "1,024 tokens", timeout_s=300)
    expect(tab.attention.locator(".causal-badge")).to_be_visible()
    edges = tab.edges()
    assert edges and all(t <= f for f, t, _ in edges)        # causal: never ahead
    assert {f for f, _, _ in edges} == set(range(LONG_TOKENS))   # every row keeps an edge
    # Both columns scroll together in one window much shorter than the 1,024 rows; the
    # minimap beside it shows where the attention goes, also beyond the rows on screen.
    scroller = tab.graph.locator(".scroller")
    heights = scroller.evaluate("s => [s.clientHeight, s.scrollHeight]")
    assert heights[0] < 1000 < heights[1]
    expect(tab.graph.locator("canvas.minimap")).to_be_visible()
    expect(tab.graph.locator(".beyond")).to_contain_text("of the drawn attention goes beyond view")
    # A token near the end: scrolled into view, its attention (to tokens before it) drawn.
    tab.token(1000, "left").hover()
    out = tab.wait_until(lambda: (e := tab.edges()) and all(f == 1000 for f, _, _ in e) and e,
                         "token 1000's attention")
    assert all(t <= 1000 for _, t, _ in out)
    assert scroller.evaluate("s => s.scrollTop") > 10_000
    assert tab.graph.evaluate("c => c.greyedTokens().length") == LONG_TOKENS - 1001
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / "attention_long.png"))
