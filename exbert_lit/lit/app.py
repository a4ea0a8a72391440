"""The WSGI app `make_server` serves: LIT's own LitApp, with each model served as a model group,
behind request checks and one-line errors.

- Models (lit/model_group.py): each loaded model is served as `NAME` (LIT's full predict,
  gradients included) and `_NAME_internals` (the gradient-free fields the exBERT views read),
  one model call at a time per loaded model. LIT's "load model" dialog makes whole groups.
- Requests (lit/request_checks.py): a request naming an unknown model, dataset, interpreter or
  generator, or asking a model for a field it lacks, is refused with one line before LIT runs it.
- Errors (lit/http_errors.py): LIT's error response (the exception and its traceback) becomes
  the message's first line; the traceback stays in the server log, where LIT writes it.

Nothing of LitApp is overridden: ExbertApp is WSGI middleware around an unmodified LitApp and
reads only LIT's HTTP answers (`/get_info`, error responses).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Iterable, Mapping, Optional

from lit_nlp import app as lit_app
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from exbert_lit.errors import ExbertError
from exbert_lit.lit import http_errors
from exbert_lit.lit import model_group
from exbert_lit.lit import request_checks

logger = logging.getLogger(__name__)

# Endpoints after which LIT's metadata (models, datasets) may have changed.
_CHANGES_METADATA = frozenset({"/create_model", "/create_dataset"})
StartResponse = Callable[..., Any]


class ExbertApp:
  """LIT's LitApp with model groups, request checks and one-line errors (see module doc).

  Attributes:
    lit_app: the LitApp itself (a WSGI app too, without the checks).
    groups: served name -> ModelGroup, including groups loaded later from LIT's UI.
  """

  def __init__(self, models: Mapping[str, lit_model.Model],
               datasets: Mapping[str, lit_dataset.Dataset], **lit_flags):
    """Args: models: name -> loaded LIT model; datasets: name -> LIT dataset; **lit_flags:
    passed to lit_nlp.app.LitApp (client_root, interpreters, layouts, ...)."""
    self.groups: dict[str, model_group.ModelGroup] = {}
    self._lock = threading.Lock()
    served: dict[str, lit_model.Model] = {}
    for name, model in models.items():
      self._add_group(model_group.model_group(name, model), served)
    lit_flags.setdefault("model_loaders", {
        name: model_group.group_loader(model, on_group=self._add_group)
        for name, model in models.items()})
    self._metadata: Optional[request_checks.ServerMetadata] = None
    self.lit_app = lit_app.LitApp(served, datasets, **lit_flags)

  def _add_group(self, group: model_group.ModelGroup,
                 served: Optional[dict[str, lit_model.Model]] = None) -> None:
    """Records a group (at start, into `served`; later, from LIT's "load model" dialog)."""
    members = group.models()
    with self._lock:
      known = {n for g in self.groups.values() for n in g.models()}
      taken = [n for n in members if n in known]
      if taken:
        raise ExbertError(f"model name {taken[0]!r} is taken: name the model differently")
      self.groups[group.name] = group
    if served is not None:
      served.update(members)

  # --- LIT's metadata, as its client sees it ----------------------------------------------------

  def info(self) -> dict[str, Any]:
    """LIT's `/get_info` answer (models with their specs, datasets, components, layouts)."""
    response = werkzeug_test.Client(self.lit_app).post("/get_info")
    if response.status_code != 200:
      raise RuntimeError(f"LIT's /get_info failed: {response.status}")
    return json.loads(response.get_data(as_text=True))

  def metadata(self) -> request_checks.ServerMetadata:
    with self._lock:
      if self._metadata is None:
        self._metadata = request_checks.ServerMetadata.from_info(self.info())
      return self._metadata

  # --- WSGI -------------------------------------------------------------------------------------

  def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    request = wrappers.Request(environ)
    path = request.path.rstrip("/") or "/"
    try:
      if request_checks.names_something(request.args):
        request_checks.check_request(path, request.args, self.metadata())
    except ExbertError as e:
      logger.warning("refused %s: %s", path, e)
      return _respond(http_errors.error_response(str(e), "ExbertError", path,
                                                 traceback_logged=False), start_response)
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list, exc_info=None):
      captured.update(status=status, headers=headers, exc_info=exc_info)
      return _no_write

    try:
      body = self.lit_app(environ, capture)
    finally:
      if path in _CHANGES_METADATA:
        with self._lock:
          self._metadata = None
    if not captured["status"].startswith("500"):
      start_response(captured["status"], captured["headers"], captured["exc_info"])
      return body
    data = b"".join(body)
    ours = http_errors.rewrite_lit_error(data.decode("utf-8", "replace"), path)
    if ours is None:
      start_response(captured["status"], captured["headers"], captured["exc_info"])
      return [data]
    return _respond(ours, start_response)


def _no_write(data: bytes) -> None:
  raise RuntimeError("LIT's handlers return their body; the WSGI write() callable is not used")


def _respond(error: http_errors.ErrorResponse,
             start_response: StartResponse) -> list[bytes]:
  body = error.body.encode("utf-8")
  start_response(error.status_line, [("Content-Type", http_errors.CONTENT_TYPE),
                                     ("Content-Length", str(len(body)))])
  return [body]
