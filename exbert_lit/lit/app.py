"""LIT's LitApp with three things exBERT needs: clear errors, one model call at a time,
and predictions limited to the fields a view asks for.

1. Requests naming an unknown model, dataset, interpreter or generator, or carrying an empty
   text, fail with a one-line message naming the problem (LIT's own would be a bare KeyError
   or a model traceback). Errors stay LIT's error response (HTTP 500, "Uncaught error: ...").
2. `SerialModel` runs one predict/internals call per model at a time, so the threaded server
   can take concurrent requests without two threads sharing a model's forward hooks.
3. Field-limited predictions. LIT's `/get_preds` runs the model's full `predict()` (for our
   models: every layer's attention, E(l), C(l), top-k and a backward pass for the gradients)
   and filters the fields afterwards. The attention view asks for tokens, one layer's
   attention and the top-k predictions, none of which needs gradients, so when no requested
   field is a gradient field (TokenGradients, the embeddings they are for, their target, and
   whatever else the model only computes with gradients) and the example carries no
   `input_embs`, the app runs the model's predict with gradients switched off (our models'
   `compute_gradients` switch; for another model with `internals()`, that forward pass) and
   keeps the outputs in a small per-model LRU cache. Gradients are computed only when a
   gradient method or a view asks for them, through LIT's normal (cached) path. The
   corpus-search interpreter reads its query vectors through the same path, so a search
   after the attention view has drawn the sentence runs no model at all. Full predictions
   already in LIT's cache are always preferred.
   Attention weights in a field-limited response are rounded to 4 decimals (1e-4 is below what
   a line's opacity shows), which halves the JSON size, and written to JSON from a table of
   the 10001 values they can take: the response is byte for byte what LIT's encoder gives,
   which formats the ~50k floats of a 64-token layer one by one (~11 ms, most of a cached
   attention request; the table takes ~2 ms).
"""
from __future__ import annotations

import collections
import functools
import json
import re
import threading
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from absl import logging
from lit_nlp import app as lit_app
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types
from lit_nlp.lib import caching
from lit_nlp.lib import serialize
from lit_nlp.lib import utils as lit_utils

from exbert_lit.lit import corpus_search

# Output fields that a model's internals() provides (docs/FIELDS.md names).
_INTERNAL_FIELD = re.compile(r"^(tokens|special_tokens|layer_\d+/(attention|token_emb|context_emb))$")
ATTENTION_DECIMALS = 4
LIGHT_CACHE_SIZE = 32   # examples per model; ~13 MB each for a 64-token SmolLM2 sentence


class SerialModel(lit_model.ModelWrapper):
  """Runs one `predict` or `internals` call at a time; forwards everything else.

  Our models capture per-head outputs with forward hooks, which are per-model state; LIT's
  CachingModelWrapper does not serialise all calls (its per-request locks only de-duplicate).
  """

  def __init__(self, model: lit_model.Model):
    super().__init__(model)
    self._lock = threading.RLock()
    # Specs read once: `predict_without_gradients` flips the model's gradient switch, which
    # its own specs follow, and LIT components on other threads must keep seeing the full one.
    self._input_spec = model.input_spec()
    self._output_spec = model.output_spec()

  def input_spec(self) -> lit_types.Spec:
    return self._input_spec

  def output_spec(self) -> lit_types.Spec:
    return self._output_spec

  @classmethod
  def init_spec(cls):
    return None  # created by make_server, not from the UI

  def predict(self, inputs, *args, **kw):
    inputs = list(inputs)
    with self._lock:
      return list(self.wrapped.predict(inputs, *args, **kw))

  def internals(self, texts: Sequence[str]):
    with self._lock:
      return self.wrapped.internals(texts)

  def predict_without_gradients(self, inputs) -> list[dict[str, Any]]:
    """The wrapped model's predict with its `compute_gradients` switch off for this call."""
    inputs = list(inputs)
    base = self.wrapped
    with self._lock:
      saved = base.compute_gradients
      base.compute_gradients = False
      try:
        return list(base.predict(inputs))
      finally:
        base.compute_gradients = saved

  def __getattr__(self, name: str) -> Any:
    # name, fingerprint, num_layers, ...: the LanguageModel attributes of the wrapped model.
    if name.startswith("_"):
      raise AttributeError(name)
    return getattr(self.wrapped, name)


def model_loader(model: lit_model.Model):
  """LIT's (initializer, init spec) for "load another model like this one" in the UI: the
  model's own class with its inferred init spec, wrapped like the models given at start."""
  model_class = type(model)

  def load(**config) -> lit_model.Model:
    return SerialModel(model_class(**config))

  load.__name__ = model_class.__name__
  return load, model_class.init_spec()


def fields_from_internals(internals) -> dict[str, Any]:
  """LIT output fields (docs/FIELDS.md names) from one SentenceInternals.

  Shapes: attention[l-1] is [H, T, T]; embeddings[l] [T, D] (l = 0..L); contexts[l-1] [T, H*dh].
  """
  out: dict[str, Any] = {
      "tokens": list(internals.tokens),
      "special_tokens": np.asarray(internals.special, dtype=np.float32),
  }
  num_layers = internals.attention.shape[0]
  for layer in range(1, num_layers + 1):
    out[f"layer_{layer}/attention"] = internals.attention[layer - 1]
    out[f"layer_{layer}/context_emb"] = internals.contexts[layer - 1]
  for layer in range(num_layers + 1):
    out[f"layer_{layer}/token_emb"] = internals.embeddings[layer]
  return out


def is_plain_text_example(example: lit_types.JsonDict) -> bool:
  """True if the model would tokenize the example's text itself (no token/embedding override)."""
  return not example.get("tokens") and example.get("input_embs") is None


def round_attention(pred: dict[str, Any], attention_keys: set[str]) -> dict[str, Any]:
  """A copy of `pred` with its attention fields rounded to ATTENTION_DECIMALS (float64 lists
  serialise to short JSON numbers)."""
  return {k: (np.round(np.asarray(v, dtype=np.float64), ATTENTION_DECIMALS)
              if k in attention_keys else v) for k, v in pred.items()}


# JSON text of every value a rounded weight in [0, 1] can take, as Python's encoder writes it.
_WEIGHT_TEXT = np.array([repr(k / 10**ATTENTION_DECIMALS)
                         for k in range(10**ATTENTION_DECIMALS + 1)], dtype=object)


def rounded_weights_json(values: Any) -> Optional[str]:
  """LIT's (simple) JSON of a float64 array of weights in [0, 1] already rounded to
  ATTENTION_DECIMALS, by table lookup; None for any other value (encode it the usual way).

  Shapes: any, e.g. [H, T, T].
  """
  if not isinstance(values, np.ndarray) or values.dtype != np.float64 or values.size == 0:
    return None
  scale = 10**ATTENTION_DECIMALS
  steps = np.rint(values * scale)
  if (values.ndim == 0 or np.signbit(values).any() or not np.all(steps <= scale)
      or not np.array_equal(steps / scale, values)):
    return None   # not rounded, out of range, -0.0 or NaN: the table would not give LIT's text
  return _nested_json(_WEIGHT_TEXT[steps.astype(np.int64)])


def _nested_json(texts: np.ndarray) -> str:
  if texts.ndim == 1:
    return "[" + ", ".join(texts) + "]"
  return "[" + ", ".join(_nested_json(row) for row in texts) + "]"


def preds_json(preds: Sequence[Mapping[str, Any]], attention_keys: set[str]) -> str:
  """`serialize.to_json(preds, simple=True)`, byte for byte, with the attention fields written
  by rounded_weights_json where it applies."""
  items = []
  for pred in preds:
    fields = []
    for key, value in pred.items():
      text = rounded_weights_json(value) if key in attention_keys else None
      if text is None:
        text = serialize.to_json(value, simple=True)
      fields.append(f"{json.dumps(key)}: {text}")
    items.append("{" + ", ".join(fields) + "}")
  return "[" + ", ".join(items) + "]"


def gradient_fields(spec: lit_types.Spec) -> set[str]:
  """Output fields that need a backward pass: TokenGradients, their inputs and targets."""
  fields = set()
  for key, field in spec.items():
    if isinstance(field, lit_types.TokenGradients):
      fields.add(key)
      fields.update(f for f in (field.grad_for, field.grad_target_field_key) if f)
  return fields


class FieldLimitedPredictor:
  """Gradient-free outputs of one model, with an LRU cache by example id.

  Uses the model's own predict with `compute_gradients` off when it has that switch (all
  non-gradient fields, given `tokens` honoured), else `internals()` (tokens, special_tokens,
  per-layer attention / token_emb / context_emb of the text).
  """

  def __init__(self, model: "SerialModel", cache_size: int = LIGHT_CACHE_SIZE):
    self._model = model
    self._cache: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
    self._cache_size = cache_size
    self._lock = threading.Lock()
    base = corpus_search.unwrap(model)
    spec = model.output_spec()
    self.uses_predict = isinstance(getattr(base, "compute_gradients", None), bool)
    if self.uses_predict:
      self.fields = frozenset(spec) - gradient_fields(spec)
    else:
      self.fields = frozenset(k for k in spec if _INTERNAL_FIELD.match(k))
    self.model_calls = 0   # forward passes run, for tests and the benchmark

  @staticmethod
  def key(example: lit_types.JsonDict) -> str:
    return example.get("_id") or caching.input_hash(example)

  def can_serve(self, example: lit_types.JsonDict) -> bool:
    if example.get("input_embs") is not None:
      return False
    return self.uses_predict or is_plain_text_example(example)

  def _run(self, examples: Sequence[lit_types.JsonDict]) -> list[dict[str, Any]]:
    self.model_calls += 1
    if self.uses_predict:
      outputs = self._model.predict_without_gradients(examples)
      # A field the model leaves out without gradients (e.g. a margin of the gradient target)
      # is not servable here: narrow the set once, the caller falls back to the full path.
      produced = frozenset().union(*(o.keys() for o in outputs)) if outputs else self.fields
      self.fields = self.fields & produced
      return outputs
    return [fields_from_internals(item)
            for item in self._model.internals([ex["text"] for ex in examples])]

  def predict(self, examples: Sequence[lit_types.JsonDict]) -> list[dict[str, Any]]:
    keys = [self.key(ex) for ex in examples]
    with self._lock:
      found = {k: self._cache[k] for k in keys if k in self._cache}
      for k in found:
        self._cache.move_to_end(k)
    missing = [i for i, k in enumerate(keys) if k not in found]
    if missing:
      outputs = self._run([examples[i] for i in missing])
      with self._lock:
        for i, output in zip(missing, outputs):
          found[keys[i]] = output
          self._cache[keys[i]] = output
        while len(self._cache) > self._cache_size:
          self._cache.popitem(last=False)
    return [found[k] for k in keys]


def _one_line(message: str) -> str:
  lines = [line.strip() for line in str(message).splitlines() if line.strip()]
  return lines[0] if lines else "error"


class ExbertLitApp(lit_app.LitApp):
  """LitApp with clear errors, serialised models and field-limited predictions (see module doc)."""

  def __init__(self, models, datasets, *args, **kw):
    models = {name: m if isinstance(m, SerialModel) else SerialModel(m)
              for name, m in models.items()}
    kw.setdefault("model_loaders", {name: model_loader(m.wrapped) for name, m in models.items()})
    self._field_limited: dict[str, Optional[FieldLimitedPredictor]] = {}
    super().__init__(models, datasets, *args, **kw)

  # --- request checks -------------------------------------------------------------------------

  def _check_names(self, args: dict[str, str]) -> None:
    checks = (("model", self._models, "model"), ("dataset_name", self._datasets, "dataset"),
              ("interpreter", self._interpreters, "interpreter"),
              ("generator", self._generators, "generator"),
              ("model_name", self._models, "model"))
    for arg, known, what in checks:
      value = args.get(arg)
      if value is not None and value not in known:
        names = ", ".join(sorted(k for k in known if not k.startswith("_"))) or "none"
        raise ValueError(f"unknown {what} {value!r}; this server has: {names}")

  def _check_texts(self, model: Optional[str], inputs: Optional[Sequence[Any]]) -> None:
    """Empty text is a user error, not something to run a model on."""
    if not model or not inputs or model not in self._models:
      return
    spec = self._models[model].input_spec()
    text_keys = [k for k, v in spec.items()
                 if isinstance(v, lit_types.TextSegment) and v.required]
    for example in inputs:
      # Dataset examples sent by id come back from LIT's index with a read-only `data`
      # (types.MappingProxyType), so test for a Mapping, not a dict.
      data = example.get("data") if isinstance(example, Mapping) else None
      if not isinstance(data, Mapping):
        raise ValueError("each input must be an object with a 'data' field")
      if data.get("tokens"):
        continue  # the model uses the given word-pieces as they are
      for key in text_keys:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
          raise ValueError(f"empty {key!r}: type a sentence for model {model!r}")
        self._check_length(model, key, value)

  def _check_length(self, model: str, key: str, text: str) -> None:
    """Over-long text is refused rather than silently cut (the views would show a prefix)."""
    base = corpus_search.unwrap(self._models[model])
    tokenizer = getattr(base, "tokenizer", None)
    max_length = getattr(base, "max_length", None)
    if tokenizer is None or not isinstance(max_length, int):
      return
    if len(text) + 8 < max_length:  # a token covers >= 1 character, plus a few specials
      return
    count = len(tokenizer(text, add_special_tokens=True)["input_ids"])
    if count > max_length:
      raise ValueError(f"{key!r} is {count} tokens; model {model!r} takes at most "
                       f"{max_length}: shorten it")

  def make_handler(self, fn: Callable[..., Any]):
    handler = super().make_handler(fn)
    if fn == self._get_preds:
      handler = self._preds_json_handler(handler)

    @functools.wraps(fn)
    def _checked_handler(app, request, environ):
      try:
        self._check_names(request.args.to_dict())
        return handler(app, request, environ)
      except KeyError as e:  # LIT raises KeyError for missing params; str() would quote it
        raise ValueError(_one_line(e.args[0] if e.args else "missing key")) from e
      except Exception as e:  # pylint: disable=broad-except
        message = str(e)
        if "\n" in message.strip() or not message.strip():
          raise RuntimeError(f"{type(e).__name__}: {_one_line(message)}") from e
        raise

    return _checked_handler

  def _preds_json_handler(self, lit_handler):
    """LIT's /get_preds handler with the response written by preds_json (same bytes, faster)."""

    def handler(app, request, environ):
      kw = request.args.to_dict()
      if not lit_utils.coerce_bool(kw.pop("response_simple_json", True)):
        return lit_handler(app, request, environ)  # LIT's invertible encoding (Python clients)
      data = serialize.from_json(request.data) if len(request.data) else None
      if data and data.get("inputs") and "dataset_name" in kw:  # as LIT's handler does
        data["inputs"] = self._reconstitute_inputs(data["inputs"], kw["dataset_name"])
        for ex in data["inputs"]:
          if ex["id"] != ex["data"].get("_id"):
            raise ValueError(f"Error: malformed example with inconsistent ids: {ex}\nfrom "
                             f"request {request.path} {request.args.to_dict()}")
      preds = self._get_preds(data, **kw)
      spec = self._get_model_spec(kw["model"])["output"]
      attention_keys = {k for k, v in spec.items() if isinstance(v, lit_types.AttentionHeads)}
      return app.respond(request, preds_json(preds, attention_keys), "application/json", 200)

    return handler

  # --- field-limited predictions ----------------------------------------------------------------

  def field_limited_predictor(self, model: str) -> Optional[FieldLimitedPredictor]:
    """The model's gradient-free path, or None if it has neither switch nor internals()."""
    if model not in self._field_limited:
      serial = self._models[model].wrapped
      base = corpus_search.unwrap(serial)
      usable = isinstance(serial, SerialModel) and (
          isinstance(getattr(base, "compute_gradients", None), bool)
          or callable(getattr(base, "internals", None)))
      self._field_limited[model] = FieldLimitedPredictor(serial) if usable else None
    return self._field_limited[model]

  def _requested_keys(self, model: str, requested_types: Optional[str],
                      requested_fields: Optional[str]) -> set[str]:
    spec = self._get_model_spec(model)["output"]
    keys = set(requested_fields.split(",")) if requested_fields else set()
    for type_name in (requested_types.split(",") if requested_types else []):
      type_class = getattr(lit_types, type_name, None)
      if not (isinstance(type_class, type) and issubclass(type_class, lit_types.LitType)):
        raise ValueError(f"{type_name!r} is not a LIT type")
      keys.update(lit_utils.find_spec_keys(spec, type_class))
    keys.discard("")
    return keys

  def _cached_full_preds(self, model: str, examples: Sequence[lit_types.JsonDict]):
    """LIT's cached full predictions for the examples (None where not cached)."""
    served = self._models[model]
    lookup = getattr(served, "_get_results_from_cache", None)
    if not isinstance(served, caching.CachingModelWrapper) or lookup is None:
      return [None] * len(examples)
    return lookup([served.key_fn(ex) for ex in examples])

  def field_limited_preds(self, model: str, examples: Sequence[lit_types.JsonDict],
                          keys: set[str]) -> Optional[list[dict[str, Any]]]:
    """Outputs restricted to `keys` without a full predict, or None if that is not possible."""
    predictor = self.field_limited_predictor(model)
    if predictor is None or not keys or not keys <= predictor.fields:
      return None
    cached = self._cached_full_preds(model, examples)
    todo = [i for i, c in enumerate(cached) if c is None]
    if any(not predictor.can_serve(examples[i]) for i in todo):
      return None
    computed = predictor.predict([examples[i] for i in todo]) if todo else []
    if not keys <= predictor.fields:
      return None   # the model turned out not to give these without gradients
    preds = list(cached)
    for i, pred in zip(todo, computed):
      preds[i] = pred
    return [{k: v for k, v in pred.items() if k in keys} for pred in preds]

  def _get_preds(self, data: lit_types.JsonDict, model: Optional[str] = None,
                 requested_types: Optional[str] = None,
                 requested_fields: Optional[str] = None, **kw):
    if model is None:
      raise ValueError("Must provide a \"model\" name to get preds from.")
    inputs = (data or {}).get("inputs") or []
    self._check_texts(model, inputs)
    if not requested_types and not requested_fields:
      return super()._get_preds(data, model=model, **kw)
    keys = self._requested_keys(model, requested_types, requested_fields)
    preds = self.field_limited_preds(model, [ex["data"] for ex in inputs], keys)
    if preds is None:
      preds = super()._get_preds(data, model=model, requested_types=requested_types,
                                 requested_fields=requested_fields, **kw)
    spec = self._get_model_spec(model)["output"]
    attention_keys = {k for k in keys if isinstance(spec.get(k), lit_types.AttentionHeads)}
    if attention_keys:
      preds = [round_attention(p, attention_keys) for p in preds]
    return preds

  def _get_interpretations(self, data: lit_types.JsonDict, model: Optional[str] = None,
                           dataset_name: Optional[str] = None,
                           interpreter: Optional[str] = None, do_predict: str = "1", **kw):
    inputs = (data or {}).get("inputs") or []
    self._check_texts(model, inputs)
    interp = self._interpreters.get(interpreter) if interpreter else None
    if (isinstance(interp, corpus_search.CorpusSearch) and model in self._models
        and dataset_name in self._datasets and lit_utils.coerce_bool(do_predict)):
      config = data.get("config")
      examples = [ex["data"] for ex in inputs]
      # Layer/head/kind errors before any model call; the position is checked per sentence.
      checked = corpus_search.parse_config(self._models[model], {**(config or {}), "position": 0},
                                           num_tokens=1)
      keys = {"tokens", checked.field}
      outputs = self.field_limited_preds(model, examples, keys) if examples else []
      if outputs is None:
        outputs = list(self._models[model].predict(examples))
      return interp.run(examples, self._models[model], self._datasets[dataset_name],
                        model_outputs=outputs, config=config)
    return super()._get_interpretations(data, model=model, dataset_name=dataset_name,
                                        interpreter=interpreter, do_predict=do_predict, **kw)
