"""Server cost benchmark (section `server` of `exbert-lit bench`).

What the attention view costs: one POST /get_preds to the model's internals model
`_NAME_internals` (lit/internals_model.py) asking for what the view shows (`tokens`, one layer's
`layer_{l}/attention_packed`, `special_tokens`, `pred_tokens`) for a new 64-token sentence, sent as
LIT's client sends it (with its `_id`), on a live server (real HTTP on a free local port),
against the raw Hugging Face forward pass of the same loaded model on the same ids
(`model(input_ids, attention_mask)`, no outputs requested, no gradients). Measured side by side:
each repeat times the raw forward, then the request for a sentence the server has not seen
(cache miss), then the same request again (LIT's cache answers), then - for reference - LIT's
full prediction of another unseen sentence by `NAME` (every field plus the gradient backward
pass), which is what the view would cost without the internals model; then, for the same
sentence, what switching the view to value-weighted attention or rollout costs (one request to
`_NAME_measures`, lit/measures_model.py, for the layer's `attention_norm_packed` and
`rollout_packed`: one forward with value hooks computes both) and, for reference, the logit lens
(`_NAME_lens`, all layers). Medians over the repeats.
"Server time" is measured by a WSGI wrapper around the app (handler, model, JSON encoding);
the HTTP round trip seen by the client is reported beside it.

Goals (issue 4): attention request <= 1.5x the forward, response <= 1 MB. Issue 14: the
value-norm/rollout request adds at most 1.5x the forward more.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.request
from typing import Optional, Sequence

from exbert_lit.bench import metric
from exbert_lit.models import fields as fields_lib

SECTION = "server"
DEFAULT_MODELS = ("minilm", "smollm2")
FILLER = ("the committee said that the city council would meet again next week to discuss "
          "new plans for the old harbour and the people who live near it").split()


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--server-models", default=",".join(DEFAULT_MODELS),
                      help="comma-separated models for the server section (names or paths)")
  parser.add_argument("--server-tokens", type=int, default=64,
                      help="sentence length in tokens, specials included")
  parser.add_argument("--server-repeats", type=int, default=7, help="timed repeats per model")


def sentences_of_length(model, num_tokens: int, count: int) -> list[str]:
  """`count` different sentences that the model tokenizes into exactly `num_tokens` tokens."""
  tokenizer = model.tokenizer
  out: list[str] = []
  shift = 0
  while len(out) < count and shift < 50 * count:
    words = [FILLER[(i + shift) % len(FILLER)] for i in range(num_tokens * 2)]
    words[0] = words[0].capitalize()
    # Shrink word by word until the sentence fits, then keep it only if it is exact.
    while words and len(tokenizer(" ".join(words) + ".")["input_ids"]) > num_tokens:
      words.pop()
    text = " ".join(words) + "."
    if len(tokenizer(text)["input_ids"]) == num_tokens and text not in out:
      out.append(text)
    shift += 1
  if len(out) < count:
    raise ValueError(f"could not make {count} sentences of exactly {num_tokens} tokens")
  return out


def _post(url: str, path: str, body: dict, **params) -> tuple[float, int, object]:
  query = "&".join(f"{k}={v}" for k, v in params.items())
  request = urllib.request.Request(f"{url.rstrip('/')}{path}?{query}",
                                   data=json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"}, method="POST")
  start = time.perf_counter()
  with urllib.request.urlopen(request, timeout=600) as response:
    raw = response.read()
  return time.perf_counter() - start, len(raw), json.loads(raw)


class _TimedApp:
  """WSGI middleware recording how long the server spent on the last request (handler,
  model, JSON encoding; not the network or the client)."""

  def __init__(self, app):
    self.app = app
    self.last_seconds = 0.0

  def __call__(self, environ, start_response):
    started = time.perf_counter()
    body = list(self.app(environ, start_response))
    self.last_seconds = time.perf_counter() - started
    return body


def _settle(seconds: float = 0.5) -> None:
  """Lets the OpenMP workers of the previous step stop spinning (their block time is ~200 ms):
  the forward runs on this thread and the request on a server thread, each with its own
  OpenMP team, and a spinning team steals one of the two cores from the other."""
  time.sleep(seconds)


def _raw_forward_seconds(model, text: str) -> float:
  import torch  # pylint: disable=g-import-not-at-top
  enc = model.tokenizer(text, return_tensors="pt")
  start = time.perf_counter()
  with torch.no_grad():
    model.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
  return time.perf_counter() - start


def _raw_forward_seconds_on_new_thread(model, text: str) -> float:
  """The raw forward on a new thread, as the threaded server runs each request. Once the main
  thread has run PyTorch's OpenMP kernels (loading a model does), a forward on another thread
  takes up to ~1.6x as long here (SmolLM2, 2 cores): this separates that from our own cost."""
  seconds: list[float] = []
  worker = threading.Thread(target=lambda: seconds.append(_raw_forward_seconds(model, text)))
  worker.start()
  worker.join()
  return seconds[0]


def _example(text: str) -> dict:
  """A new sentence as LIT's client sends it: its data carries `_id`, the hash LIT indexes by."""
  from lit_nlp.lib import caching  # pylint: disable=g-import-not-at-top
  example_id = caching.input_hash({"text": text})
  return {"inputs": [{"id": example_id, "data": {"text": text, "_id": example_id}, "meta": {}}]}


def bench_model(name: str, num_tokens: int = 64, repeats: int = 7) -> dict:
  """Times for one model (see module docstring); seconds and bytes."""
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import datasets  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import internals_model  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import measures_model  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top

  model = load_model(name)
  texts = sentences_of_length(model, num_tokens, 2 * repeats + 1)
  layer = max(1, model.num_layers // 2)
  # What the attention view (lit_modules/src/attention_module.ts) asks for.
  fields = f"tokens,{fields_lib.attention_packed(layer)},special_tokens"
  if "pred_tokens" in model.output_spec():
    fields += ",pred_tokens"
  app = server.make_app(models={"m": model},
                        datasets={"d": datasets.SentencesDataset(texts[:1])}, corpus_examples=0)
  internals = internals_model.internals_name("m")
  measures, lens = measures_model.measures_name("m"), measures_model.lens_name("m")
  measures_fields = (f"tokens,{fields_lib.attention_norm_packed(layer)},"
                     f"{fields_lib.rollout_packed(layer)}")
  has_lens = getattr(model, "has_lens", False)
  lens_fields = ",".join(["tokens"] + [fields_lib.lens(l) for l in range(model.num_layers + 1)]
                         + [fields_lib.lens_rank(l) for l in range(model.num_layers + 1)])
  forward, forward_thread, miss, hit, full, sizes, round_trip = [], [], [], [], [], [], []
  measures_miss, measures_sizes, lens_miss = [], [], []
  timed = _TimedApp(app)
  with server.ExbertServer(timed, port=0) as srv:
    # Warm-up: first calls pay for lazy initialisation (threads, allocator, JIT'd kernels).
    _raw_forward_seconds(model, texts[0])
    _post(srv.url, "/get_preds", _example(texts[0]), model=internals, requested_fields=fields)
    for i in range(repeats):
      text, other = texts[1 + 2 * i], texts[2 + 2 * i]
      _settle()
      forward.append(_raw_forward_seconds(model, text))
      _settle()
      forward_thread.append(_raw_forward_seconds_on_new_thread(model, text))
      _settle()
      seconds, size, preds = _post(srv.url, "/get_preds", _example(text), model=internals,
                                   requested_fields=fields)
      miss.append(timed.last_seconds)
      round_trip.append(seconds)
      sizes.append(size)
      if len(preds[0]["tokens"]) != num_tokens:
        raise RuntimeError(f"server saw {len(preds[0]['tokens'])} tokens, not {num_tokens}")
      _settle()
      _post(srv.url, "/get_preds", _example(text), model=internals, requested_fields=fields)
      hit.append(timed.last_seconds)
      _settle()
      _post(srv.url, "/get_preds", _example(other), model="m", requested_types="TokenGradients")
      full.append(timed.last_seconds)
      _settle()
      _, size, _ = _post(srv.url, "/get_preds", _example(text), model=measures,
                         requested_fields=measures_fields)
      measures_miss.append(timed.last_seconds)
      measures_sizes.append(size)
      if has_lens:
        _settle()
        _post(srv.url, "/get_preds", _example(text), model=lens, requested_fields=lens_fields)
        lens_miss.append(timed.last_seconds)
  med = statistics.median
  return {"model": name, "layer": layer, "tokens": num_tokens, "repeats": repeats,
          "fields": fields,
          "forward_s": med(forward), "forward_new_thread_s": med(forward_thread),
          "request_miss_s": med(miss), "request_hit_s": med(hit),
          "request_miss_round_trip_s": med(round_trip),
          "full_predict_request_s": med(full), "response_bytes": int(med(sizes)),
          "measures_request_s": med(measures_miss),
          "measures_response_bytes": int(med(measures_sizes)),
          "lens_request_s": med(lens_miss) if lens_miss else None,
          "num_layers": model.num_layers, "num_heads": model.num_heads}


def run_server_bench(models: Sequence[str] = DEFAULT_MODELS, num_tokens: int = 64,
                     repeats: int = 7) -> dict:
  """The `server` section: per-model figures and their metrics (exbert_lit.bench format)."""
  results = [bench_model(m, num_tokens, repeats) for m in models]
  metrics = []
  for r in results:
    name = r["model"]
    ratio = r["request_miss_s"] / r["forward_s"]
    metrics += [
        metric(f"{name} raw HF forward ({num_tokens} tok)", r["forward_s"] * 1e3, "ms"),
        metric(f"{name} attention request, new sentence: server time",
               r["request_miss_s"] * 1e3, "ms",
               note=f"layer {r['layer']} of {r['num_layers']}, {r['num_heads']} heads; "
                    f"round trip over HTTP {r['request_miss_round_trip_s'] * 1e3:.0f} ms"),
        metric(f"{name} attention request / forward", ratio, "x", goal="<= 1.5"),
        metric(f"{name} raw HF forward on a new thread", r["forward_new_thread_s"] * 1e3, "ms",
               note=f"{r['request_miss_s'] / r['forward_new_thread_s']:.2f}x: the request / "
                    "the same forward on a thread like the server's"),
        metric(f"{name} attention request, cached: server time", r["request_hit_s"] * 1e3, "ms",
               note="LIT's cache answers: request handling and JSON encoding"),
        metric(f"{name} full LIT predict request (with gradients)",
               r["full_predict_request_s"] * 1e3, "ms",
               note=f"{r['full_predict_request_s'] / r['forward_s']:.2f}x forward: "
                    "what the view would cost without the internals model"),
        metric(f"{name} attention response size", r["response_bytes"] / 1e6, "MB",
               goal="<= 1"),
        metric(f"{name} value-norm + rollout request (_measures), same sentence: server time",
               r["measures_request_s"] * 1e3, "ms",
               note=f"{r['measures_response_bytes'] / 1e6:.2f} MB; raw attention + this = "
                    f"{(r['request_miss_s'] + r['measures_request_s']) / r['forward_s']:.2f}x "
                    "forward"),
        metric(f"{name} value-norm + rollout request / forward",
               r["measures_request_s"] / r["forward_s"], "x", goal="<= 1.5",
               note=f"{r['measures_request_s'] / r['forward_new_thread_s']:.2f}x the forward on "
                    "a new thread"),
    ]
    if r["lens_request_s"] is not None:
      metrics.append(metric(
          f"{name} logit lens request (_lens, all {r['num_layers'] + 1} layers)",
          r["lens_request_s"] * 1e3, "ms",
          note=f"{r['lens_request_s'] / r['forward_s']:.2f}x forward; only when asked"))
  return {"section": SECTION, "metrics": metrics, "results": results}


def run(args: argparse.Namespace) -> dict:
  models = [m.strip() for m in str(getattr(args, "server_models", "")).split(",") if m.strip()]
  return run_server_bench(models or DEFAULT_MODELS,
                          num_tokens=int(getattr(args, "server_tokens", 64)),
                          repeats=int(getattr(args, "server_repeats", 7)))


def main(argv: Optional[Sequence[str]] = None) -> None:
  """`python -m exbert_lit.bench.server`: this section alone (until the bench runner lands)."""
  from exbert_lit import bench  # pylint: disable=g-import-not-at-top
  bench.run_alone(__doc__.splitlines()[0], add_arguments, run, argv)


if __name__ == "__main__":
  main()
