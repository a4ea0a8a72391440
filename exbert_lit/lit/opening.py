"""The page `exbert-lit demo` opens on: the paper's example selected, its attention drawn and
one of its tokens searched in the corpus, so every part is working before the first click.

This is LIT's own way to share a state: URL parameters. LIT reads `models`, `dataset`,
`selection` and `primary` (client/services/url_service.ts); the exBERT views read their
`exbert_*` parameters (lit_modules/lib/url_state.ts: `exbert_heads` is the layer and heads in
the notation, `exbert_token` the frozen token, which the corpus view searches for). The demo
prints that URL and `redirect_bare_root` sends a visit to the bare address there too, so
both the printed link and a typed `localhost:5432` open the same page.
"""
from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any, Callable, Iterable, Mapping, Optional

from lit_nlp.api import dataset as lit_dataset

from exbert_lit import notation
from exbert_lit.analysis import positions
from exbert_lit.errors import ExbertError

# The exBERT paper's first case study (Hoover, Strobelt & Gehrmann, ACL 2020), and the token
# whose corpus neighbours it reads.
PAPER_SENTENCE = "The girl ran to a local pub to escape the din of her city."
PAPER_WORD = "escape"


@dataclasses.dataclass(frozen=True)
class Opening:
  """A LIT page state: model, dataset, the selected example, layer and frozen token."""
  model: str
  dataset: str
  example_id: str
  layer: int
  token: int

  def query(self) -> str:
    """The URL query (no leading '?') that opens this state."""
    return urllib.parse.urlencode([
        ("models", self.model),
        ("dataset", self.dataset),
        ("selection", self.example_id),
        ("primary", self.example_id),
        ("exbert_heads", notation.format_selection(notation.Selection(self.layer, None))),
        ("exbert_token", str(self.token)),
    ])

  def url(self, base: str) -> str:
    return base.rstrip("/") + "/?" + self.query()


def middle_layer(num_layers: int) -> int:
  """Layer shown first: the middle one (1-based), past the first layers' mostly positional
  heads and before the last layers' prediction-specific ones."""
  return (num_layers + 1) // 2


def opening(model_name: str, model: Any, dataset_name: str, dataset: lit_dataset.Dataset,
            sentence: str = PAPER_SENTENCE, word: str = PAPER_WORD,
            layer: Optional[int] = None) -> Opening:
  """The state showing `word` of `sentence` (an example of `dataset`) under `model`.

  The example id is LIT's own (lit_dataset.input_hash, as LitApp indexes datasets); the token
  is the first word-piece of the first whole-word `word`, in the model's own tokenisation.
  """
  example = next((ex for ex in dataset.examples if ex.get("text") == sentence), None)
  if example is None:
    raise ExbertError(f"dataset {dataset_name!r} has no example {sentence!r}: add it to open "
                      "the demo on it")
  (internals,) = model.internals([sentence])
  found = positions.whole_word_matches(sentence, word)
  token = (positions.first_piece(internals.offsets, internals.special, found[0].start(),
                                 found[0].end()) if found else None)
  if token is None:
    raise ExbertError(f"{word!r} is not a word of {sentence!r} for {model_name}")
  return Opening(model=model_name, dataset=dataset_name, example_id=lit_dataset.input_hash(example),
                 layer=middle_layer(model.num_layers) if layer is None else layer, token=token)


StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


def redirect_bare_root(app: WsgiApp, query: str) -> WsgiApp:
  """`app`, except that GET / with no query answers 302 to /?query. Any other request (and
  `/` with parameters, e.g. a shared link or a reload) goes to `app` unchanged."""

  def wrapped(environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if (environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO", "/") in ("", "/")
        and not environ.get("QUERY_STRING")):
      root = environ.get("SCRIPT_NAME", "").rstrip("/")
      start_response("302 Found", [("Location", f"{root}/?{query}"),
                                   ("Content-Length", "0"), ("Cache-Control", "no-store")])
      return [b""]
    return app(environ, start_response)

  return wrapped
