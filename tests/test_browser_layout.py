"""The demo's opening page, the layout that gives the exBERT views the screen, and the corpus
view's exports, in Debian's chromium against a real server (as tests/test_browser_exbert.py).

The server is built as `exbert-lit demo` builds its own (lit/opening.py: the bare address
redirects to the paper's sentence with "escape" frozen), with tiny random-init models and corpus
stores from tests/tiny_models.py instead of minilm / smollm2 on Brown. Screenshots at
1600x1000 go to artifacts/ (git-ignored).
"""
from __future__ import annotations

import csv
import io
import json
import pathlib
import urllib.parse

import pytest

import tiny_models
from browser_support import ARTIFACTS, SCREEN, browser, expect, serving  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.browser

TIMEOUT_MS = 30_000

# The attention view's curves: pixels on a canvas at least this big (CSS px), so head
# thumbnails do not count. The curves' canvases are in <exbert-attention-canvas>'s own shadow root.
CURVES_DRAWN_JS = """el => {
  const graph = el.shadowRoot.querySelector('exbert-attention-canvas');
  if (!graph || !graph.shadowRoot) return 0;
  let inked = 0;
  for (const c of graph.shadowRoot.querySelectorAll('canvas')) {
    if (c.clientWidth < 150 || c.clientHeight < 150 || !c.width || !c.height) continue;
    const ctx = c.getContext('2d');
    if (ctx === null) continue;
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
  }
  return graph.shownEdges().length > 0 ? inked : 0;   // the head matrices alone do not count
}"""

# Every head chip of the attention view has pixels on its canvas.
THUMBS_INKED_JS = """el => {
  const thumbs = [...el.shadowRoot.querySelectorAll('canvas.head-thumb')];
  return thumbs.length > 0 && thumbs.every(c => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return true;
    return false;
  });
}"""

# The <lit-widget-group> holding a module (LIT's frame with minimise/maximise buttons).
WIDGET_GROUP_JS = """el => {
  let node = el;
  while (node && node.tagName !== 'LIT-WIDGET-GROUP') node = node.parentNode || node.host;
  return node;
}"""


@pytest.fixture(scope="module")
def demo(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  """A server put together as `exbert-lit demo` does: its bare address and the opening token
  as the views show it (the tiny BERT splits "escape" into e ##s ##c ...: "e")."""
  from exbert_lit import server
  from exbert_lit.lit import client, datasets, opening
  from exbert_lit.models import load_model
  assert client.client_root() is not None, "build the client first: lit_modules/build.sh"
  stores = tiny_models.build_corpus_stores(
      tmp_path_factory.mktemp("layout_corpora"), tiny_models.SENTENCES,
      {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir})
  models = {"bert": load_model(str(tiny_bert_dir)), "gpt2": load_model(str(tiny_gpt2_dir))}
  examples = datasets.examples_dataset()
  app = server.make_app(models=models, datasets={"examples": examples},
                        corpora={k: str(v) for k, v in stores.items()}, corpus_examples=0)
  start = opening.opening("bert", models["bert"], "examples", examples)
  (internals,) = models["bert"].internals([opening.PAPER_SENTENCE])
  token = internals.tokens[start.token].removeprefix("##")
  with serving(opening.redirect_bare_root(app, start.query())) as url:
    yield {"url": f"{url}/", "token": token}


@pytest.fixture(scope="module")
def demo_url(demo) -> str:
  return demo["url"]


@pytest.fixture
def page(browser, tmp_path):
  context = browser.new_context(viewport=SCREEN, accept_downloads=True)
  context.grant_permissions(["clipboard-read", "clipboard-write"])
  tab = context.new_page()
  errors: list[str] = []
  tab.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
  tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
  yield tab
  context.close()
  assert not errors, "\n".join(errors)


def attention(page):
  return page.locator("exbert-attention-module").first


def corpus(page):
  return page.locator("exbert-corpus-module").first


def open_demo(page, url: str):
  page.goto(url)
  corpus(page).locator("tr.match").first.wait_for(timeout=TIMEOUT_MS)


def box(locator) -> dict:
  b = locator.bounding_box()
  assert b is not None, "not rendered"
  return b


# --- the opening state --------------------------------------------------------------------------

def test_demo_opens_with_example_attention_and_corpus_matches_without_a_click(page, demo):
  open_demo(page, demo["url"])
  params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))
  assert params["models"] == "bert" and params["dataset"] == "examples"
  assert params["primary"] and params["exbert_heads"] == "1" and "exbert_token" in params
  # LIT itself has the paper's sentence selected: its data table and its editor show it.
  expect(page.locator("data-table-module tr.selected")).to_contain_text("escape the din",
                                                                        timeout=TIMEOUT_MS)
  # The attention view draws the sentence's curves (waited for: they follow the first request).
  view = attention(page)
  page.wait_for_function(f"el => ({CURVES_DRAWN_JS})(el) > 0", arg=view.element_handle(),
                         timeout=TIMEOUT_MS)
  # The corpus view has searched for "escape" (its first word-piece) at the layer shown.
  expect(corpus(page).locator(".query")).to_contain_text('"%s" (#' % demo["token"])
  expect(corpus(page).locator(".query")).to_contain_text("layer 1")
  assert corpus(page).locator("tr.match").count() > 0
  assert corpus(page).locator(".histogram-column").count() >= 3


def test_a_shared_link_is_not_redirected(page, demo_url):
  """Only the bare address goes to the opening page; any other link opens as written."""
  page.goto(demo_url + "?models=gpt2&dataset=examples")
  page.locator("exbert-attention-module").first.wait_for(timeout=TIMEOUT_MS)
  params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))
  assert params["models"] == "gpt2" and "primary" not in params


# --- the layout ---------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["exbert", "exbert_compact"])
def test_views_side_by_side_over_the_full_width(page, demo_url, layout):
  open_demo(page, _opening_url(page, demo_url) + f"&layout={layout}")
  att, cor = box(attention(page)), box(corpus(page))
  for b in (att, cor):
    assert b["width"] >= 0.45 * SCREEN["width"], (layout, b)
    assert b["height"] >= 0.5 * SCREEN["height"], (layout, b)
  assert abs(att["y"] - cor["y"]) < 2 and att["x"] + att["width"] <= cor["x"]
  assert att["x"] < 40 and cor["x"] + cor["width"] > SCREEN["width"] - 40, "not centred"
  ARTIFACTS.mkdir(exist_ok=True)
  page.wait_for_timeout(500)
  page.screenshot(path=str(ARTIFACTS / f"layout_{layout}_1600x1000.png"))


def _opening_url(page, demo_url: str) -> str:
  """Where the bare address redirects (without loading the app)."""
  response = page.request.get(demo_url, max_redirects=0)
  assert response.status == 302
  return urllib.parse.urljoin(demo_url, response.headers["location"])


def test_views_minimise_maximise_and_narrow_as_lits_modules(page, demo_url):
  open_demo(page, demo_url)
  group = corpus(page).evaluate_handle(WIDGET_GROUP_JS).as_element()
  other = attention(page).evaluate_handle(WIDGET_GROUP_JS).as_element()
  # Maximised: the corpus view covers (nearly) the whole page; Escape restores it.
  group.evaluate_handle("g => g.shadowRoot.querySelector('.header mwc-icon:not(.min-button)')"
                        ).as_element().click()
  page.wait_for_function("g => g.hasAttribute('maximized')", arg=group)
  page.wait_for_timeout(300)
  assert box(corpus(page))["width"] > 0.85 * SCREEN["width"]
  page.keyboard.press("Escape")
  page.wait_for_function("g => !g.hasAttribute('maximized')", arg=group)
  # Minimised attention view: the corpus view takes its width.
  other.evaluate_handle("g => g.shadowRoot.querySelector('mwc-icon.min-button')"
                        ).as_element().click()
  page.wait_for_function("g => g.hasAttribute('minimized')", arg=other)
  page.wait_for_timeout(300)
  assert box(corpus(page))["width"] > 0.8 * SCREEN["width"]
  other.evaluate_handle("g => g.shadowRoot.querySelector('mwc-icon.min-button')"
                        ).as_element().click()
  page.wait_for_function("g => !g.hasAttribute('minimized')", arg=other)
  # Restored, the attention view's head chips are drawn again (LIT rebuilt their canvases).
  page.wait_for_function(THUMBS_INKED_JS, arg=attention(page).element_handle(), timeout=TIMEOUT_MS)
  # Narrow: at 1100 px (LIT lays its modules out 1000 px wide at the least, plus padding:
  # modules.css) each view gets about half and the corpus body wraps instead of scrolling
  # sideways.
  page.set_viewport_size({"width": 1100, "height": 900})
  page.wait_for_timeout(500)
  b = box(corpus(page))
  assert 480 <= b["width"] <= 560 and b["x"] + b["width"] <= 1100, b
  overflow = corpus(page).evaluate(
      "el => { const body = el.shadowRoot.querySelector('.corpus-body');"
      " return body.scrollWidth - body.clientWidth; }")
  assert overflow <= 1, f"the corpus view scrolls sideways by {overflow}px at 900 px"
  ARTIFACTS.mkdir(exist_ok=True)
  page.screenshot(path=str(ARTIFACTS / "layout_1100x900.png"))


# --- the corpus view's exports ------------------------------------------------------------------

def _download(page, button: str) -> str:
  view = corpus(page)
  view.locator("mwc-icon.download").click()
  with page.expect_download() as info:
    view.locator(f"button.{button}").click()
  download = info.value
  path = download.path()
  assert path is not None
  return download.suggested_filename, pathlib.Path(path).read_bytes().decode("utf-8")


def test_corpus_exports_download_and_parse(page, demo):
  from exbert_lit.corpus import export
  open_demo(page, demo["url"])
  view = corpus(page)
  shown = view.locator("tr.match").evaluate_all(
      "rows => rows.map(r => [+r.dataset.sentence, +r.dataset.position])")
  name, text = _download(page, "download-json")
  assert name == "exbert-corpus-%s-L1-context-result.json" % demo["token"]
  result = json.loads(text)
  assert [[m["sentence_id"], m["position"]] for m in result["matches"]] == shown
  name, text = _download(page, "download-matches-csv")
  assert name == "exbert-corpus-%s-L1-context-matches.csv" % demo["token"]
  # Byte for byte what the CLI's --csv writes from the same result (corpus/export.py).
  assert text == export.matches_csv(result)
  rows = list(csv.DictReader(io.StringIO(text, newline="")))
  assert [(int(r["sentence_id"]), int(r["position"])) for r in rows] == [tuple(s) for s in shown]
  assert [r["text"] for r in rows] == [m["text"] for m in result["matches"]]
  name, text = _download(page, "download-histograms-csv")
  assert name.endswith("-histograms.csv") and text == export.histograms_csv(result)
  bins = list(csv.DictReader(io.StringIO(text, newline="")))
  pos_total = sum(int(b["count"]) for b in bins if b["column"] == "0" and b["field"] == "pos")
  assert pos_total == len(shown)
  # The copy button puts the matches CSV on the clipboard.
  view.locator("mwc-icon.copy-matches").click()
  assert page.evaluate("navigator.clipboard.readText()") == export.matches_csv(result)
