"""What the browser tests share: Debian's chromium driven by Playwright (`playwright install` cannot
download a browser here), a real exbert-lit server on a free local port, a tab that records console
errors and failed requests, and cross-checks against the server's own fields.

Test modules import the fixtures they use from here (`browser`, `corpora`, `server_url`,
`example_ids`, `app_page`): the server is the one of tests/test_browser_exbert.py, tiny random-init
models (tests/tiny_models.py) and corpus stores built from a few sentences, one of them full of HTML.
Importing this module skips the importing test module where Playwright or chromium is missing.
"""
from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator

import numpy as np
import pytest

import tiny_models

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not pathlib.Path(CHROMIUM).exists():
  pytest.skip("Debian's chromium is not installed (setup.sh installs it)", allow_module_level=True)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "artifacts"
TIMEOUT_MS = 20_000
SCREEN = {"width": 1600, "height": 1000}

# Short enough for the tiny models' 64 positions even with every symbol a word-piece.
HTML_SENTENCE = 'The <script>__x=1</script> <b>cat</b> <img src=x onerror="__x=2"> sat.'
SENTENCES = list(tiny_models.SENTENCES) + [HTML_SENTENCE]
expect = sync_api.expect


# --- browser, server, tab -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
  with sync_api.sync_playwright() as p:
    instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


def sentences_app(models: dict, sentences: list[str], corpora: dict, **options):
  """An exbert-lit app serving `models` on the dataset "sentences" (one example a line)."""
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import client, datasets  # pylint: disable=g-import-not-at-top
  assert client.client_root() is not None, "build the client first: lit_modules/build.sh"
  return server.make_app(models=models, datasets={"sentences": datasets.SentencesDataset(sentences)},
                         corpora=corpora, corpus_examples=0, **options)


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
  """`app` served on a free local port: its address without the trailing slash."""
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  srv = server.ExbertServer(app, port=0)
  url = srv.start()
  try:
    yield url.rstrip("/")
  finally:
    srv.stop()


@contextlib.contextmanager
def open_tab(browser, base_url: str, example_ids: list[str], page_class=None,  # pylint: disable=redefined-outer-name
             screen: dict | None = None, **context_options):
  """A tab (a Page, or `page_class`) in a browser context of its own, closed afterwards; then,
  when the body did not fail, fails on any console error or failed request the tab saw."""
  context = browser.new_context(viewport=screen or SCREEN, **context_options)
  tab = (page_class or Page)(context.new_page(), base_url, example_ids)
  try:
    yield tab
  finally:
    context.close()
  assert not tab.errors, "\n".join(tab.errors)


def post(url: str, path: str, body: dict, **params):
  query = urllib.parse.urlencode(params)
  request = urllib.request.Request(f"{url}{path}?{query}", data=json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"}, method="POST")
  try:
    with urllib.request.urlopen(request, timeout=60) as response:
      return json.loads(response.read())
  except urllib.error.HTTPError as e:
    message = e.read().decode("utf-8", "replace").split("\n")[0]
    raise AssertionError(f"{path} {params}: HTTP {e.code}: {message}") from None


@pytest.fixture(scope="module")
def corpora(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  """A corpus store per tiny model, from the test sentences (HTML one included)."""
  stores = tiny_models.build_corpus_stores(
      tmp_path_factory.mktemp("browser_corpora"), SENTENCES,
      {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir})
  return {name: str(path) for name, path in stores.items()}


@pytest.fixture(scope="module")
def server_url(tiny_bert_dir, tiny_gpt2_dir, corpora):  # pylint: disable=redefined-outer-name
  with serving(sentences_app({"bert": str(tiny_bert_dir), "gpt2": str(tiny_gpt2_dir)},
                             SENTENCES, corpora)) as url:
    yield url


@pytest.fixture(scope="module")
def example_ids(server_url) -> list[str]:  # pylint: disable=redefined-outer-name
  examples = post(server_url, "/get_dataset", {}, dataset_name="sentences")
  assert [ex["data"]["text"] for ex in examples] == SENTENCES
  ids = [ex["id"] for ex in examples]
  try:   # what LIT's client does first; without it no view can load, so fail fast
    post(server_url, "/get_preds", {"inputs": ids[:1]}, model="bert", dataset_name="sentences",
         requested_fields="tokens")
  except AssertionError as e:
    pytest.fail(f"the server rejects examples sent by id, as LIT's client sends them: {e}")
  return ids


@pytest.fixture
def app_page(browser, server_url, example_ids):  # pylint: disable=redefined-outer-name
  with open_tab(browser, server_url, example_ids, screen={"width": 1600, "height": 1100}) as tab:
    yield tab


# --- the tab ---------------------------------------------------------------------------------

class Page:
  """A browser tab on the LIT app that records console errors and failed requests."""

  def __init__(self, page, base_url: str, example_ids: list[str]):
    self.page = page
    self.base_url = base_url
    self.example_ids = example_ids
    self.errors: list[str] = []
    self.requests: list[str] = []
    page.on("request", lambda r: self.requests.append(r.url))
    page.on("console", lambda m: self.errors.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
    page.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 else None)

  dataset = "sentences"

  def visit(self, models: str, example: int, **params: str):
    """The app with `models` ("bert", or "bert,gpt2": LIT's compare mode) on one example."""
    ex = self.example_ids[example]
    query = {"models": models, "dataset": self.dataset, "selection": ex, "primary": ex, **params}
    self.page.goto(f"{self.base_url}/?{urllib.parse.urlencode(query)}")

  def open(self, model: str = "bert", example: int = 0, **state: str):
    self.visit(model, example, **{f"exbert_{k}": v for k, v in state.items()})
    self.wait_for_curves()

  def wait_for_curves(self):
    self.graph.wait_for(state="attached", timeout=TIMEOUT_MS)
    self.wait_until(lambda: self.graph.evaluate("c => c.shownEdges().length > 0"), "curves drawn")

  @property
  def attention(self):
    return self.page.locator("exbert-attention-module").first

  @property
  def graph(self):
    """The canvas element: data-layer, data-heads, data-measure, data-threshold attributes."""
    return self.attention.locator("exbert-attention-canvas")

  @property
  def corpus(self):
    return self.page.locator("exbert-corpus-module").first

  def edges(self) -> list[tuple[int, int, float]]:
    """(from, to, weight) of every curve the canvas shows (all rows, not only those on screen)."""
    return self.graph.evaluate("c => c.shownEdges().map(e => [e.from, e.to, e.weight])")

  def token(self, index: int, side: str = "left") -> "Token":
    return Token(self, index, side)

  def token_texts(self) -> list[str]:
    """The tokens as the columns show them (hidden ones left out)."""
    return self.graph.evaluate("c => c.scene.rowTokens.map(t => c.scene.shown[t])")

  def scene(self, expression: str):
    """A value of the canvas's scene, e.g. 'masked' or 'heads'."""
    return self.graph.evaluate(f"c => c.scene.{expression}")

  def wait_until(self, predicate, message: str, timeout_s: float = TIMEOUT_MS / 1000):
    """Polls a Python predicate (the DOM changes asynchronously after a request)."""
    deadline = timeout_s * 1000
    waited = 0
    while waited < deadline:
      value = predicate()
      if value:
        return value
      self.page.wait_for_timeout(100)
      waited += 100
    raise AssertionError(f"timed out waiting: {message}")

  def url_params(self) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.page.url).query))


class Token:
  """A token row of the attention canvas: pointed at through its row's geometry, as a user does."""

  def __init__(self, tab: Page, index: int, side: str):
    self.tab, self.index, self.side = tab, index, side

  def point(self) -> tuple[float, float]:
    xy = self.tab.graph.evaluate(f"c => c.tokenPoint({self.index}, '{self.side}')")
    assert xy is not None, f"token {self.index} is not shown"
    return xy["x"], xy["y"]

  def hover(self):
    self.tab.page.mouse.move(*self.point())

  def click(self, **kw):
    self.tab.page.mouse.click(*self.point(), **kw)

  def dblclick(self):
    self.tab.page.mouse.dblclick(*self.point())

  def is_frozen(self) -> bool:
    return self.tab.graph.evaluate(
        f"c => c.frozen !== null && c.frozen.index === {self.index} && c.frozen.side === '{self.side}'")


# --- cross-checks against the server -------------------------------------------------------------

def server_attention(url: str, example_id: str, model: str, layer: int) -> tuple[list, np.ndarray]:
  """tokens and `[heads, T, T]` attention (rounded, as the view gets it from the model's
  internals model) straight from the server, for cross-checks."""
  examples = post(url, "/get_dataset", {}, dataset_name="sentences")
  example = next(ex for ex in examples if ex["id"] == example_id)
  pred = post(url, "/get_preds", {"inputs": [example]}, model=f"_{model}_internals",
              dataset_name="sentences",
              requested_fields=f"tokens,layer_{layer}/attention_packed")[0]
  from exbert_lit.lit import internals_model  # pylint: disable=g-import-not-at-top
  return pred["tokens"], internals_model.unpack_attention(
      pred[f"layer_{layer}/attention_packed"], len(pred["tokens"]))


def row_cuts(matrix: np.ndarray, threshold: float = 0.7, min_weight: float = 0.005) -> np.ndarray:
  """exBERT's cumulative threshold, written again here: per row the smallest weight kept, where
  the row's weights sorted descending first sum to `threshold` of the row, and at least the view's
  lightest curve (inf for an empty row)."""
  cuts = np.full(len(matrix), np.inf)
  for i, row in enumerate(matrix):
    ordered = np.sort(row)[::-1]
    reach = np.nonzero(np.cumsum(ordered) >= threshold * row.sum() * (1 - 1e-9))[0]
    if row.sum() > 0 and len(reach):
      cuts[i] = max(ordered[reach[0]], min_weight)
  return cuts


def assert_drawn_above_threshold(edges, matrix: np.ndarray, threshold: float = 0.7):
  """The curves drawn are exactly the edges the cumulative threshold keeps: per row every weight
  >= the row's cut (weights within float32 noise of the cut may go either way)."""
  cuts = row_cuts(matrix, threshold)
  kept = {(i, j) for i, j in np.argwhere((matrix >= cuts[:, None]) & (matrix > 0.005))}
  drawn = {(f, t) for f, t, _ in edges}
  assert drawn, "nothing drawn"
  for i, j in drawn ^ kept:
    assert abs(matrix[i, j] - cuts[i]) < 1e-5, (i, j, matrix[i, j], cuts[i], (i, j) in drawn)


def weights_by_edge(edges) -> dict[tuple[int, int], float]:
  return {(f, t): w for f, t, w in edges}
