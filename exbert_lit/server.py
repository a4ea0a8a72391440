"""Assemble models, datasets, corpora, interpreters, generators and layouts into a LIT server.

For people who already run LIT, three lines add exBERT:

    import exbert_lit
    server = exbert_lit.make_server(models={"bert": "bert-base-uncased"},
                                    corpora=["~/corpora/brown-bert"], port=5432)
    server.serve()

`make_app` returns the WSGI app alone (an `exbert_lit.lit.app.ExbertApp`, for gunicorn or a
test); `ExbertServer.start()` serves it from a background thread (tests, benchmarks,
notebooks) and `.serve()` blocks until Ctrl+C.
The server binds 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import logging
import os
import pathlib
import threading
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from lit_nlp.api import components as lit_components
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from lit_nlp.components import ablation_flip
from lit_nlp.components import gradient_maps
from lit_nlp.components import hotflip
from lit_nlp.components import lime_explainer
from lit_nlp.components import nearest_neighbors
from lit_nlp.components import pca
from lit_nlp.components import projection
from lit_nlp.components import scrambler
from lit_nlp.components import word_replacer

from exbert_lit.lit import app as app_lib
from exbert_lit.lit import corpus_search
from exbert_lit.lit import datasets as datasets_lib
from exbert_lit.lit import head_grid
from exbert_lit.lit import layouts as layouts_lib
from exbert_lit.lit import probe
from exbert_lit.lit import stale_ids
from exbert_lit.errors import ExbertError

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5432           # LIT's default
CORPUS_EXAMPLES = 200         # sentences of each corpus offered as a dataset
LIME_SAMPLES = 64

ModelArg = Union[Mapping[str, Union[lit_model.Model, str]], Sequence[str]]
DatasetArg = Union[Mapping[str, Union[lit_dataset.Dataset, str]], Sequence[str], None]
CorpusArg = Union[Mapping[str, Any], Sequence[str], None]


def stock_client_root() -> str:
  """LIT's own prebuilt client (no exBERT views)."""
  import lit_nlp  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(lit_nlp.__file__), "client", "build", "default")


def exbert_client_root() -> Optional[str]:
  """Our built client bundle (LIT + the exBERT modules), or None if it is not built."""
  try:
    from exbert_lit.lit import client  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  root = client.client_root() if callable(getattr(client, "client_root", None)) else None
  return str(root) if root else None


def resolve_client(client_root: Optional[str] = None) -> tuple[str, bool]:
  """(client root, whether it has the exBERT views); logs clearly when falling back."""
  if client_root:
    return str(client_root), True
  root = exbert_client_root()
  if root:
    return root, True
  logger.warning("exBERT client bundle not built: serving LIT's stock client without the "
                 "attention and corpus views (build it: see lit_modules/README.md)")
  return stock_client_root(), False


def lit_interpreters(
    search: Optional[corpus_search.CorpusSearch] = None,
) -> dict[str, lit_components.Interpreter]:
  """Our corpus search plus the LIT salience and embedding tools that fit language models."""
  interpreters: dict[str, lit_components.Interpreter] = {
      "Grad L2 Norm": gradient_maps.GradientNorm(),
      "Grad ⋅ Input": gradient_maps.GradientDotInput(),
      "Integrated Gradients": gradient_maps.IntegratedGradients(),
      # 64 perturbations instead of LIT's 256: each is a full prediction (with the backward
      # pass for the gradient target's margin), 318 s for one sentence on SmolLM2 at 256 on
      # two shared cores; the UI still lets users raise it.
      "LIME": lime_explainer.LIME(num_samples=LIME_SAMPLES),
      "pca": projection.ProjectionManager(pca.PCAModel),
      "nearest neighbors": nearest_neighbors.NearestNeighbors(),
  }
  search = search or corpus_search.CorpusSearch()
  interpreters[corpus_search.NAME] = search
  interpreters[head_grid.NAME] = head_grid.HeadGrid(search)
  interpreters[probe.NAME] = probe.Probe(search)
  return interpreters


def lit_generators() -> dict[str, lit_components.Generator]:
  """LIT's counterfactual generators (names as in LIT's default set)."""
  return {
      # LIT 1.3.1's Ablation Flip keeps the original's `_id` on its variants; see stale_ids.
      "Ablation Flip": stale_ids.ContentCheckedGenerator(ablation_flip.AblationFlip()),
      "Hotflip": hotflip.HotFlip(),
      "Scrambler": scrambler.Scrambler(),
      "Word Replacer": word_replacer.WordReplacer(),
  }


def load_models(models: ModelArg) -> dict[str, lit_model.Model]:
  """name -> LIT model; strings are loaded with exbert_lit.models.load_model."""
  if isinstance(models, (str, os.PathLike)):
    models = [str(models)]
  if not isinstance(models, Mapping):
    named: dict[str, str] = {}
    for m in models:
      name = model_short_name(str(m))
      if name in named:
        raise ExbertError(f"models {named[name]!r} and {str(m)!r} would both be named {name!r}: "
                         "pass a mapping {name: path} to name them")
      named[name] = str(m)
    models = named
  if not models:
    raise ExbertError("no models: give at least one model name or path")
  loaded = {}
  for name, model in models.items():
    if isinstance(model, (str, os.PathLike)):
      from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
      logger.info("loading model %s from %s", name, model)
      model = load_model(str(model), name=name)
    if not isinstance(model, lit_model.Model):
      raise ValueError(f"model {name!r} is not a LIT Model ({type(model).__name__})")
    loaded[name] = model
  return loaded


def model_short_name(name_or_path: str) -> str:
  """`minilm` -> `minilm`; `/models/bert-base/` -> `bert-base`; `org/name` -> `name`."""
  return pathlib.PurePath(name_or_path.rstrip("/")).name or name_or_path


def _by_name(items: Union[Mapping[str, Any], Sequence[Any], str]) -> Mapping[str, Any]:
  """A mapping as given; a path or a list of paths keyed by their file names, made unique
  (`data/pubs.txt` -> `pubs`, a second `pubs` -> `pubs_2`)."""
  if isinstance(items, (str, os.PathLike)):
    items = [str(items)]
  if isinstance(items, Mapping):
    return items
  named: dict[str, Any] = {}
  for path in items:
    named[datasets_lib.dataset_name_for(str(path).rstrip("/"), named)] = str(path)
  return named


def open_corpora(corpora: CorpusArg) -> dict[str, Any]:
  """name -> open corpus index; strings are store directories opened with CorpusIndex.open."""
  if not corpora:
    return {}
  opened = {}
  for name, corpus in _by_name(corpora).items():
    if isinstance(corpus, (str, os.PathLike)):
      from exbert_lit.corpus.search import CorpusIndex  # pylint: disable=g-import-not-at-top
      corpus = CorpusIndex.open(str(corpus))
    opened[name] = corpus
  return opened


def check_corpora_match(corpora: Mapping[str, Any], models: Mapping[str, lit_model.Model]) -> None:
  """Every corpus must belong to a served model: a one-line error names both otherwise."""
  for name, corpus in corpora.items():
    if not any(corpus_search.built_for(corpus, model) for model in models.values()):
      served = ", ".join(f"{n!r}" for n in models)
      raise ExbertError(f"corpus {name!r} was built with model {corpus.model_name!r}, which this "
                       f"server does not serve ({served}): index it with one of them")


def load_datasets(datasets: DatasetArg) -> dict[str, lit_dataset.Dataset]:
  if datasets is None:
    return {"examples": datasets_lib.examples_dataset()}
  return {name: (datasets_lib.load_data_file(str(ds)) if isinstance(ds, (str, os.PathLike))
                 else ds) for name, ds in _by_name(datasets).items()}


def make_app(models: ModelArg, datasets: DatasetArg = None, corpora: CorpusArg = None, *,
             corpus_examples: int = CORPUS_EXAMPLES, client_root: Optional[str] = None,
             **lit_flags) -> app_lib.ExbertApp:
  """The LIT WSGI app with exBERT's interpreter, LIT's salience/counterfactual tools, our layouts.

  Args:
    models: name -> LIT model (or a name/path to load), or a list of names/paths.
    datasets: name -> LIT dataset (or a data file), a list of data files, or None for the
      built-in example sentences.
    corpora: name -> open CorpusIndex (or a store directory), or a list of store directories.
      Each must have been built with one of the models.
    corpus_examples: offer the first N sentences of each corpus as a dataset (0 = none).
    client_root: a built LIT client; default: our bundle, else LIT's stock client.
    **lit_flags: passed to lit_nlp.app.LitApp (page_title, warm_start, demo_mode, ...).
  """
  loaded_models = load_models(models)
  loaded_datasets = load_datasets(datasets)
  opened = open_corpora(corpora)
  check_corpora_match(opened, loaded_models)
  if corpus_examples:
    for name, corpus in opened.items():
      sentences = corpus_sentences(corpus, corpus_examples)
      if sentences:
        ds_name = datasets_lib.dataset_name_for(name, loaded_datasets)
        loaded_datasets[ds_name] = datasets_lib.SentencesDataset(
            sentences, description=f"the first {len(sentences)} sentences of corpus {name!r}")
  root, has_views = resolve_client(client_root)
  search = corpus_search.CorpusSearch(opened)
  lit_flags.setdefault("interpreters", lit_interpreters(search))
  lit_flags.setdefault("generators", lit_generators())
  lit_flags.setdefault("layouts",
                       layouts_lib.exbert_layouts() if has_views else layouts_lib.stock_layouts())
  lit_flags.setdefault("default_layout", layouts_lib.DEFAULT_LAYOUT_NAME)
  lit_flags.setdefault("page_title", "exBERT in LIT")
  lit_flags.setdefault("warm_start_progress_indicator", lambda x: x)
  return app_lib.ExbertApp(loaded_models, loaded_datasets, client_root=root, **lit_flags)


def corpus_sentences(corpus: Any, limit: int) -> list[str]:
  """The first `limit` sentences of a corpus index (empty if it does not expose them)."""
  table = getattr(corpus, "table", None)
  texts = getattr(table, "texts", None)
  return [str(t) for t in texts[:limit]] if texts else []


class ExbertServer:
  """A LIT server for an ExbertApp (or any WSGI app): `.serve()` blocks, `.start()` runs it in
  a thread.

  Uses werkzeug's threaded WSGI server (LIT's dev server handles one request at a time), so a
  slow salience request does not hold up the attention view; each loaded model still runs one
  call at a time (lit/model_group.py).
  """

  def __init__(self, app: Callable[..., Any], host: str = DEFAULT_HOST,
               port: int = DEFAULT_PORT):
    self.app = app
    self.host = host
    self.port = port
    self._server = None
    self._thread: Optional[threading.Thread] = None

  @property
  def url(self) -> str:
    host = f"[{self.host}]" if ":" in self.host else self.host
    return f"http://{host}:{self.port}/"

  def _bind(self):
    from werkzeug import serving  # pylint: disable=g-import-not-at-top
    try:
      self._server = serving.make_server(self.host, self.port, self.app, threaded=True)
    except OSError as e:
      raise ExbertError(f"cannot listen on {self.host}:{self.port}: {e.strerror or e}") from e
    self.port = self._server.socket.getsockname()[1]   # port 0 picks a free one

  def serve(self, on_ready: Optional[Callable[[str], None]] = None) -> None:
    """Serve until Ctrl+C; `on_ready(url)` is called once the socket listens."""
    self._bind()
    logger.info("exBERT-LIT serving at %s", self.url)
    if on_ready is not None:
      on_ready(self.url)
    try:
      self._server.serve_forever()
    except KeyboardInterrupt:
      pass
    finally:
      self._server.server_close()

  def start(self) -> str:
    """Serve from a daemon thread; returns the URL once the socket is listening."""
    self._bind()
    self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                    name=f"exbert-lit-{self.port}")
    self._thread.start()
    return self.url

  def stop(self) -> None:
    if self._server is not None:
      self._server.shutdown()
      self._server.server_close()
    if self._thread is not None:
      self._thread.join(timeout=10)
    self._server = self._thread = None

  def __enter__(self) -> "ExbertServer":
    self.start()
    return self

  def __exit__(self, *exc) -> None:
    self.stop()


def make_server(models: ModelArg, datasets: DatasetArg = None, corpora: CorpusArg = None, *,
                host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                **lit_flags) -> ExbertServer:
  """A LIT server with exBERT, ready to `.serve()` (see make_app for the arguments)."""
  return ExbertServer(make_app(models, datasets, corpora, **lit_flags), host=host, port=port)
