"""exbert_lit.notebook.widget in a real JupyterLab, in Debian's chromium driven by Playwright.

The test starts JupyterLab (PyPI `jupyterlab`) on a free local port with a notebook whose cells
make the widget on a tiny random-init BERT and its corpus store, runs the cells as a user would
(JupyterLab's own "run all cells" command), and checks that the cell's frame shows the exBERT
views with curves drawn and corpus matches, that every request stays on this machine (bundle,
fonts and icons are served locally), and that the second cell's frame, rendered with a
`proxy_url`, works through a path-prefix proxy (as jupyter-server-proxy's /proxy/PORT/ serves
it). A screenshot goes to artifacts/notebook.png (git-ignored). docs/notebook.png is the one
taken with a real model: EXBERT_NOTEBOOK_MODEL=minilm EXBERT_NOTEBOOK_STORE=<its store> run the
same test on them.
"""
from __future__ import annotations

import http.server
import os
import pathlib
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import tiny_models
from browser_support import ARTIFACTS, browser  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = pathlib.Path(__file__).resolve().parent.parent
SENTENCES = list(tiny_models.SENTENCES)
SHOWN = "The man visited the nurse and told her the news."
START_TIMEOUT_S = 60
VIEW_TIMEOUT_MS = 60_000


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# --- a path-prefix proxy, as jupyter-server-proxy serves /proxy/PORT/ ----------------------------

class PrefixProxy(http.server.ThreadingHTTPServer):
  """Forwards /proxy/PORT/REST to http://127.0.0.1:PORT/REST and records the paths it served."""
  daemon_threads = True

  def __init__(self):
    super().__init__(("127.0.0.1", 0), _ProxyHandler)
    self.paths: list[str] = []


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
  protocol_version = "HTTP/1.0"

  def log_message(self, *unused):
    pass

  def _forward(self):
    match = re.match(r"^/proxy/(\d+)(/.*)$", self.path)
    if match is None:
      self.send_error(404)
      return
    self.server.paths.append(self.path)
    body = None
    if self.command == "POST":
      body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
    request = urllib.request.Request(f"http://127.0.0.1:{match.group(1)}{match.group(2)}",
                                     data=body, method=self.command,
                                     headers={"Content-Type": self.headers.get("Content-Type",
                                                                               "text/plain")})
    try:
      with urllib.request.urlopen(request, timeout=120) as response:
        status, headers, data = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
      status, headers, data = e.code, e.headers, e.read()
    self.send_response(status)
    for key in ("Content-Type",):
      if headers.get(key):
        self.send_header(key, headers[key])
    self.send_header("Content-Length", str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  do_GET = _forward
  do_POST = _forward


@pytest.fixture(scope="module")
def proxy():
  server = PrefixProxy()
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield server
  server.shutdown()
  server.server_close()


# --- JupyterLab with the widget notebook ----------------------------------------------------

def widget_notebook(name: str, model_dir, store, proxy_port: int) -> dict:
  import nbformat
  setup = (
      "import exbert_lit.notebook\n"
      f"w = exbert_lit.notebook.widget(models={{{name!r}: {str(model_dir)!r}}},\n"
      f"                               corpora={{'brown': {str(store)!r}}},\n"
      f"                               data={{'sentences': {SENTENCES!r}}}, height=760,\n"
      "                               render=False)\n"
      f"w.render(data=[{{'text': {SHOWN!r}}}])")
  proxied = (f"w.render(data=[{{'text': {SHOWN!r}}}], height=760,\n"
             f"         proxy_url='http://127.0.0.1:{proxy_port}/proxy/%PORT%/')")
  notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup),
                                             nbformat.v4.new_code_cell(proxied)])
  notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
  return notebook


@pytest.fixture(scope="module")
def jupyter(tiny_bert_dir, tmp_path_factory, proxy):
  import nbformat
  root = tmp_path_factory.mktemp("jupyter")
  model, store = os.environ.get("EXBERT_NOTEBOOK_MODEL"), os.environ.get("EXBERT_NOTEBOOK_STORE")
  name = pathlib.Path(model or "").name
  if not (model and store):
    name, model = "bert", tiny_bert_dir
    store = tiny_models.build_corpus_stores(root, SENTENCES, {"bert": model})["bert_corpus"]
  nbformat.write(nbformat.from_dict(widget_notebook(name, model, store,
                                                    proxy.server_address[1])),
                 str(root / "widget.ipynb"))
  port, token = free_port(), secrets.token_hex(16)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
      JUPYTER_CONFIG_DIR=str(root / ".config"), JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
      JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
      JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"))
  env.pop("LIT_PROXY_URL", None)
  log = open(root / "jupyter.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
  process = subprocess.Popen(
      [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
       "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
       f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
       "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
       "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
      + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
      cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
  base = f"http://127.0.0.1:{port}"
  try:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
      try:
        with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
          break
      except OSError:
        if process.poll() is not None or time.monotonic() > deadline:
          log.flush()
          pytest.fail("JupyterLab did not start:\n" + (root / "jupyter.log").read_text()[-3000:])
        time.sleep(0.3)
    yield {"base": base, "token": token, "root": root}
  finally:
    process.terminate()
    try:
      process.wait(timeout=20)
    except subprocess.TimeoutExpired:
      process.kill()
    log.close()


def test_widget_in_jupyterlab_draws_the_views_directly_and_behind_a_proxy(jupyter, browser,
                                                                          proxy):
  context = browser.new_context(viewport={"width": 1500, "height": 1500})
  page = context.new_page()
  hosts, errors = set(), []
  page.on("request", lambda r: hosts.add(re.sub(r"^(\w+://[^/]+).*$", r"\1", r.url)))
  page.on("pageerror", lambda e: errors.append(str(e)))
  try:
    page.goto(f"{jupyter['base']}/lab/tree/widget.ipynb?token={jupyter['token']}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=VIEW_TIMEOUT_MS)
    page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext"
                           "?.session?.kernel", timeout=VIEW_TIMEOUT_MS)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    frames = page.locator("iframe.exbert-lit-frame")
    for n, frame in enumerate((frames.nth(0), frames.nth(1))):
      frame.wait_for(timeout=VIEW_TIMEOUT_MS)
      inside = page.frame_locator("iframe.exbert-lit-frame").nth(n)
      attention = inside.locator("exbert-attention-module").first
      graph = attention.locator("exbert-attention-canvas")   # the curves are drawn on canvases
      graph.wait_for(state="attached", timeout=VIEW_TIMEOUT_MS)
      deadline = time.monotonic() + VIEW_TIMEOUT_MS / 1000
      while not graph.evaluate("c => c.scene != null && c.shownEdges().length > 0"):
        assert time.monotonic() < deadline, "no curves drawn in the widget"
        time.sleep(0.2)
      texts = graph.evaluate("c => c.scene.rowTokens.map(t => c.scene.shown[t])")
      assert texts[:4] == ["[CLS]", "the", "man", "visited"], texts
      assert graph.evaluate("c => c.shownEdges().length") > len(texts)
      # Clicking a token runs a corpus search over the store the widget was given: the token's
      # point is in the frame's coordinates, the mouse in the page's.
      xy = graph.evaluate("c => c.tokenPoint(2, 'left')")
      box = frame.bounding_box()
      page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
      inside.locator("exbert-corpus-module tr.match").first.wait_for(timeout=VIEW_TIMEOUT_MS)
    # The cells show the views and nothing else: no warnings, logs or progress bars.
    stderr = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert not stderr, stderr
    src = [frames.nth(i).get_attribute("src") for i in range(2)]
    port = int(re.match(r"http://127\.0\.0\.1:(\d+)/\?", src[0]).group(1))
    assert src[1].startswith(f"http://127.0.0.1:{proxy.server_address[1]}/proxy/{port}/?")
    assert "data0_text=" in src[0] and "data0_text=" in src[1]
    # Behind the proxy: the page, the bundle, its fonts and every LIT call went through it.
    served = {re.sub(r"\?.*$", "", p.split(f"/proxy/{port}", 1)[1]) for p in proxy.paths}
    # (/push_ui_state: the UI reports its selection to the kernel, LitWidget's `ui_state`.)
    assert {"/", "/main.js", "/static/fonts/fonts.css", "/get_info", "/get_preds",
            "/get_interpretations", "/push_ui_state"} <= served, sorted(served)
    assert any(p.endswith(".woff2") for p in served), sorted(served)
    # Nothing came from the internet: JupyterLab, the widget, the proxy, all on this machine.
    assert all(h.startswith("http://127.0.0.1:") or not h.startswith("http") for h in hosts), hosts
    assert not errors, errors
    ARTIFACTS.mkdir(exist_ok=True)
    frames.nth(0).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "notebook.png"),
                    clip={"x": 0, "y": 0, "width": 1500, "height": 1050})
  finally:
    context.close()
