"""LIT with the exBERT views inside a Jupyter cell: LIT's notebook widget, with our server.

LIT's `LitWidget` (lit_nlp/notebook.py) builds a plain `LitApp` (through dev_server.Server) and
serves it with a single-threaded wsgiref loop. The exBERT views need more than a LitApp's flags:
each model served as a model group (`_NAME_internals` for the views), the corpus indexes, the
request checks and one-line errors of `exbert_lit.lit.app.ExbertApp`. So the widget keeps LIT's
notebook behaviour (the app flags it sets, `sync_state` for `ui_state`, `render()` with LIT's
`RenderConfig` URL parameters, `proxy_url` and the `LIT_PROXY_URL` variable, Colab's port
iframe) and takes its app from `exbert_lit.server.make_app` and its server from `ExbertServer`
(threaded: a slow salience request does not hold up the attention view).

Offline: the app serves our client bundle (exbert_lit/client, with its fonts and icons), so the
cell needs nothing from the internet. Behind a proxy (JupyterHub, a remote kernel), pass the
URL the browser reaches the widget's port at, with `%PORT%` for the port, e.g. jupyter-server-
proxy's `proxy_url="/proxy/%PORT%/"`; LIT's client asks the server with relative URLs, so it
works under any path prefix.
"""
from __future__ import annotations

import html
import json
import logging
import os
import random
import warnings
from typing import Any, Mapping, Optional, Sequence

from exbert_lit.errors import ExbertError
from exbert_lit.lit import layouts as layouts_lib
from exbert_lit.notebook import api

DEFAULT_HEIGHT = 1000
# Both views above a small example table: fits a notebook cell's width.
NOTEBOOK_LAYOUT = "exbert_compact"
PROXY_ENV = "LIT_PROXY_URL"   # LIT's own variable, so a set-up made for LitWidget works here


def frame_id() -> str:
  return "exbert-lit-frame-{:08x}".format(random.getrandbits(64))


def proxied_url(proxy_url: str, port: int) -> str:
  """The proxy URL with `%PORT%` replaced by the widget's port."""
  return proxy_url.replace("%PORT%", str(int(port)))


def _js(value: str) -> str:
  """A string as a JavaScript literal that is safe inside <script>: JSON with <, > and &
  escaped, so no value can close the script element."""
  return (json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")
          .replace("&", "\\u0026"))


def frame_html(port: int, height: int, params: str = "", proxy_url: Optional[str] = None,
               open_in_new_tab: bool = False, element_id: Optional[str] = None) -> str:
  """The cell output: an iframe (or a link that opens a tab) whose URL a small script sets.

  Without a proxy the URL is the notebook page's own host with the widget's port, as LIT's
  widget does (the browser may know the host under another name than the kernel does). Every
  value enters the script as JSON and the page as escaped text.

  Args:
    port: the widget server's port.
    height: iframe height in pixels.
    params: LIT URL parameters, "?layout=...&..." (RenderConfig.get_query_str()).
    proxy_url: where the browser reaches the server, `%PORT%` for the port; None: direct.
  """
  element_id = element_id or frame_id()
  base = proxied_url(proxy_url, port) if proxy_url is not None else "/"
  values = {"ID": _js(element_id), "URL": _js(base + params),
            "PORT": "0" if proxy_url is not None else str(int(port))}
  script = """
<script>
(function() {
  const url = new URL(%URL%, window.location);
  const port = %PORT%;
  if (port) { url.port = port; }
  const element = document.getElementById(%ID%);
  %ACTION%
})();
</script>"""
  if open_in_new_tab:
    body = f'<a href="javascript:void(0);" id="{html.escape(element_id, quote=True)}"></a>'
    action = ("element.textContent = url.href;"
              " element.onclick = () => window.open(url, '_blank'); window.open(url, '_blank');")
  else:
    body = (f'<style>div.output_scroll {{ height: {int(height) + 10}px; }}</style>'
            f'<iframe id="{html.escape(element_id, quote=True)}" class="exbert-lit-frame" '
            f'title="exBERT in LIT" width="100%" height="{int(height)}" frameborder="0"></iframe>')
    action = "element.src = url.href;"
  for key, value in {**values, "ACTION": action}.items():
    script = script.replace(f"%{key}%", value)
  return body + script


def notebook_datasets(data: Any) -> Any:
  """make_app's datasets, plus what a notebook user has at hand: a mapping whose values are
  lists of sentences becomes LIT datasets of those sentences."""
  if not isinstance(data, Mapping):
    return data
  from exbert_lit.lit import datasets as datasets_lib  # pylint: disable=g-import-not-at-top
  out = {}
  for name, value in data.items():
    if isinstance(value, (list, tuple)):
      if not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise ExbertError(f"data {name!r}: give a list of non-empty sentences, a data file or a "
                          "LIT Dataset")
      value = datasets_lib.SentencesDataset(list(value), description=f"{len(value)} sentences")
    out[name] = value
  return out


# LIT's notebook module imports tqdm.notebook, and shap (which LIT's server imports) tqdm.auto:
# in a kernel without ipywidgets both warn "IProgress not found" in the cell, about progress
# bars the widget does not use. So these two are imported with warnings off.

def lit_notebook():
  """LIT's notebook module (RenderConfig, is_colab)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lit_nlp import notebook  # pylint: disable=g-import-not-at-top
  return notebook


def server_lib():
  """exbert_lit.server (make_app, ExbertServer)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from exbert_lit import server  # pylint: disable=g-import-not-at-top
  return server


class ExbertWidget:
  """LIT with the exBERT views, served from this kernel and shown in cells (see module doc).

  As LIT's LitWidget: `render()` shows it (again), `stop()` stops the server, `ui_state` is the
  state the UI last pushed (selection, primary example, layout).
  """

  def __init__(self, app, *, height: int = DEFAULT_HEIGHT, proxy_url: Optional[str] = None,
               host: str = "127.0.0.1", port: int = 0):
    self.app = app
    self._height = height
    self._proxy_url = proxy_url
    # werkzeug logs every request at INFO; in a kernel that line lands in whichever cell runs
    # next (LIT configures the root logger for INFO). Its warnings and errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    self._server = server_lib().ExbertServer(app, host=host, port=port)
    self.url = self._server.start()

  @property
  def port(self) -> int:
    return self._server.port

  @property
  def ui_state(self):
    tracker = self.app.lit_app.ui_state_tracker
    return tracker.state if tracker is not None else None

  def stop(self) -> None:
    """Stops the server (a stopped widget's cells show nothing)."""
    self._server.stop()

  def __repr__(self) -> str:
    models = ", ".join(self.app.groups)
    return f"<ExbertWidget serving {models} at {self.url}; .render() shows it, .stop() stops it>"

  def frame(self, height: Optional[int] = None, open_in_new_tab: bool = False,
            ui_params=None, data: Optional[Sequence[Mapping[str, Any]]] = None,
            proxy_url: Optional[str] = None) -> str:
    """The HTML `render` displays (see render for the arguments)."""
    params = ui_params or lit_notebook().RenderConfig()
    if data:
      params.datapoints = data
    proxy = proxy_url if proxy_url is not None else self._proxy_url
    if proxy is None:
      proxy = os.environ.get(PROXY_ENV)
    return frame_html(self.port, height or self._height, params.get_query_str(), proxy,
                      open_in_new_tab)

  def render(self, height: Optional[int] = None, open_in_new_tab: bool = False,
             ui_params=None, data: Optional[Sequence[Mapping[str, Any]]] = None,
             proxy_url: Optional[str] = None) -> None:
    """Shows the UI in the output of the current cell.

    Args:
      height: pixels (default: the widget's).
      open_in_new_tab: open a browser tab instead (and show its link).
      ui_params: lit_nlp.notebook.RenderConfig (layout, dataset, models, tab).
      data: examples to add and select, e.g. [{"text": "The cat sat."}]: the views show the
        first at once.
      proxy_url: this time only, instead of the widget's proxy_url.
    """
    from IPython import display  # pylint: disable=g-import-not-at-top
    lit = lit_notebook()
    if lit.is_colab:   # Colab serves kernel ports itself (as LIT's widget does there)
      from google.colab import output  # pylint: disable=g-import-not-at-top
      params = ui_params or lit.RenderConfig()
      if data:
        params.datapoints = data
      show = output.serve_kernel_port_as_window if open_in_new_tab else \
          output.serve_kernel_port_as_iframe
      kwargs = {} if open_in_new_tab else {"height": str(height or self._height)}
      show(self.port, path="/" + params.get_query_str(), **kwargs)
      return
    display.display(display.HTML(self.frame(height, open_in_new_tab, ui_params, data,
                                            proxy_url)))


def widget(models, corpora=None, data=None, *, height: int = DEFAULT_HEIGHT, render: bool = True,
           proxy_url: Optional[str] = None, warm_start: bool = False,
           layout: Optional[str] = None, port: int = 0,
           **lit_flags) -> ExbertWidget:
  """Starts LIT with the exBERT views for this kernel and shows it in the cell.

  Args:
    models: as make_server: names ("minilm"), paths, LIT models, or a mapping name -> those.
    corpora: corpus stores (directories or open indexes), a list or a mapping name -> store.
    data: datasets as make_server takes them, or a mapping name -> list of sentences; default
      the built-in example sentences (and the first sentences of each corpus).
    height: of the cell's frame, in pixels.
    render: show it now (else call .render()).
    proxy_url: where the browser reaches the server, with %PORT%, e.g. "/proxy/%PORT%/"
      (default: $LIT_PROXY_URL, else this host at the server's port).
    warm_start: run every model over every dataset before showing it.
    layout: the LIT layout to open (default exbert_compact: both views above the examples).
    port: 0 picks a free port.
    **lit_flags: passed to make_app and LIT's LitApp (page_title, corpus_examples, ...).
  """
  lit_flags.setdefault("sync_state", True)    # LitWidget's: the UI pushes its state (ui_state)
  if warm_start:
    from tqdm import auto  # pylint: disable=g-import-not-at-top
    lit_flags.update(warm_start=1.0, warm_start_progress_indicator=auto.tqdm)
  chosen = layout or lit_flags.get("default_layout") or NOTEBOOK_LAYOUT
  offered = lit_flags.get("layouts") or layouts_lib.exbert_layouts()   # stock ones: same names
  if chosen not in offered:
    raise ExbertError(f"layout {chosen!r} is not one of {', '.join(offered)}")
  lit_flags["default_layout"] = chosen
  with api.quiet_libraries():
    app = server_lib().make_app(models, notebook_datasets(data), corpora, **lit_flags)
  shown = ExbertWidget(app, height=height, proxy_url=proxy_url, port=port)
  if render:
    shown.render()
  return shown
