"""A real exBERT-LIT server on a free local port, driven over HTTP like LIT's client does.

Tiny random-init models (tests/tiny_models.py): a masked LM (BERT) and a causal LM (GPT-2),
each with a corpus index built from a few sentences, each served as a LIT model group (`bert`
and `_bert_internals`, lit/model_group.py). Covers /get_info, /get_dataset, /get_preds (the
internals model and the full one), /get_interpretations (every salience/embedding tool LIT
lists for our models, and the corpus search), /get_generated (every generator LIT lists),
/create_model (a whole group), one-line errors for bad requests with the traceback in the log
only, and 8 concurrent clients x 50 mixed requests.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import random
import re
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

import tiny_models

SENTENCES = list(tiny_models.SENTENCES)


# --- harness ----------------------------------------------------------------------------------

class LitHttp:
  """A minimal LIT client: JSON POSTs, returns (status, parsed body or error text)."""

  def __init__(self, url: str):
    self.url = url.rstrip("/")

  def post(self, path: str, body=None, timeout: float = 60, **params):
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(
        f"{self.url}{path}?{query}", data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
      with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        return response.status, json.loads(raw), len(raw)
    except urllib.error.HTTPError as e:
      return e.code, e.read().decode("utf-8", "replace"), 0

  def ok(self, path: str, body=None, **params):
    status, result, _ = self.post(path, body, **params)
    assert status == 200, f"{path} {params}: {status} {str(result)[:400]}"
    return result

  def error(self, path: str, body=None, status: int = 400, **params) -> str:
    """The one-line message of an error response (what LIT's client shows in its status bar:
    the text before "\n\nDetails:"), checking that no traceback came with it."""
    got, text, _ = self.post(path, body, **params)
    assert got == status, f"{path} {params}: expected {status}, got {got} {str(text)[:300]}"
    message, details = text.split("\n\nDetails: ")
    assert "\n" not in message and "\n" not in details, text
    assert "Traceback" not in text and 'File "' not in text, text
    return message


def client_config(config_spec: dict, model_spec: dict) -> dict:
  """The config LIT's client sends by default: each field's default, field matchers filled in
  from the model's spec (first match, or all for `select_all`)."""
  config = {}
  for key, field in config_spec.items():
    kind = field.get("__name__")
    if kind in ("SingleFieldMatcher", "MultiFieldMatcher"):
      spec = model_spec["input" if field["spec"] == "input" else "output"]
      matches = [k for k, v in spec.items() if v.get("__name__") in field["types"]]
      if kind == "SingleFieldMatcher":
        config[key] = matches[0] if matches else None
      else:
        config[key] = matches if field.get("select_all") else matches[:1]
    elif kind == "SalienceTargetInfo":   # the salience module's "explain this output"
      outputs = model_spec["output"]
      targets = [k for k, v in outputs.items()
                 if v.get("__name__") in ("RegressionScore", "MulticlassPreds")]
      config[key] = {"field": targets[0], "index": None} if targets else None
    elif "default" in field and field["default"] is not None:
      config[key] = field["default"]
  return config


def interpreter_config(name: str, info: dict, model: str, dataset: str) -> dict:
  """What LIT's modules send to each interpreter (embeddings module, salience module...)."""
  if name == "pca":
    return {"dataset_name": dataset, "model_name": model, "field_name": "mean_emb",
            "use_input": False, "proj_kw": {"n_components": 3}}
  if name == "nearest neighbors":
    return {"embedding_name": "mean_emb", "num_neighbors": 3, "use_input": False}
  if name == "exbert_corpus_search":
    return {"position": 1, "layer": 1, "kind": "context", "heads": [], "k": 5}
  spec = info["interpreters"][name]["configSpec"]
  return client_config(spec, info["models"][model]["spec"])


@pytest.fixture(scope="module")
def corpora(tiny_bert_dir, tiny_gpt2_dir, tmp_path_factory):
  """Corpus indexes of a few sentences, one per tiny model."""
  return tiny_models.build_corpus_stores(
      tmp_path_factory.mktemp("corpora"), SENTENCES, {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir})


@pytest.fixture(scope="module")
def live(tiny_bert_dir, tiny_gpt2_dir, corpora):
  """(client, server) for a server on a free port with both tiny models and their corpora."""
  from exbert_lit import server
  from exbert_lit.lit import datasets
  app = server.make_app(
      models={"bert": str(tiny_bert_dir), "gpt2": str(tiny_gpt2_dir)},
      datasets={"sentences": datasets.SentencesDataset(SENTENCES)},
      corpora={k: str(v) for k, v in corpora.items()}, corpus_examples=0)
  srv = server.ExbertServer(app, port=0)
  url = srv.start()
  try:
    yield LitHttp(url), srv
  finally:
    srv.stop()


@pytest.fixture(scope="module")
def client(live):
  return live[0]


@pytest.fixture(scope="module")
def info(client):
  return client.ok("/get_info")


@pytest.fixture(scope="module")
def examples(client):
  return client.ok("/get_dataset", dataset_name="sentences")


# --- metadata and data ------------------------------------------------------------------------

def test_server_binds_localhost_and_serves_the_page(live):
  client, srv = live
  assert srv.host == "127.0.0.1"
  with urllib.request.urlopen(client.url + "/", timeout=30) as response:
    assert response.status == 200
    assert b"<html" in response.read().lower()


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_get_info_lists_our_interpreter_and_lits_tools(info, model):
  listed = info["models"][model]
  for name in ("exbert_corpus_search", "Grad L2 Norm", "Grad ⋅ Input", "Integrated Gradients",
               "LIME", "pca", "nearest neighbors"):
    assert name in listed["interpreters"], name
  assert set(listed["generators"]) == {"Ablation Flip", "Hotflip", "Scrambler", "Word Replacer"}
  assert "sentences" in listed["datasets"]
  assert info["defaultLayout"] == "exbert"
  assert "exbert" in info["layouts"]


def test_get_dataset_returns_the_sentences(examples):
  assert [ex["data"]["text"] for ex in examples] == SENTENCES


# --- predictions --------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_models_are_served_as_groups(info, model):
  """`NAME` has every field; `_NAME_internals` the gradient-free ones the views read."""
  full = info["models"][model]["spec"]["output"]
  internals = info["models"][f"_{model}_internals"]["spec"]["output"]
  assert "token_grad_text" in full and "mean_emb" in full
  shared = {k for k in full if k in ("tokens", "special_tokens", "pred_tokens", "char_start",
                                     "char_end", "segment_ids")
            or k.startswith("layer_")}
  packed = {f"{k}_packed" for k in full if k.endswith("/attention")}
  assert set(internals) == shared | packed
  assert all(internals[k]["__name__"] == "StringLitType" for k in packed)
  assert list(info["models"]).index(model) < list(info["models"]).index(f"_{model}_internals")
  assert "exbert_corpus_search" in info["models"][f"_{model}_internals"]["interpreters"]


@pytest.mark.parametrize("model", ["bert", "_bert_internals", "gpt2", "_gpt2_internals"])
def test_attention_request_returns_only_that_layer(client, examples, model):
  preds = client.ok("/get_preds", {"inputs": examples[:2]}, model=model,
                    dataset_name="sentences", requested_fields="tokens,layer_2/attention")
  assert len(preds) == 2
  for pred in preds:
    assert set(pred) == {"tokens", "layer_2/attention"}
    att = np.asarray(pred["layer_2/attention"])
    num_tokens = len(pred["tokens"])
    assert att.shape == (tiny_models.HEADS, num_tokens, num_tokens)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=num_tokens * 1e-4)


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_packed_attention_is_the_layer_rounded_to_four_decimals(client, examples, model):
  from exbert_lit.lit import internals_model
  fields = "tokens,layer_2/attention,layer_2/attention_packed"
  (pred,) = client.ok("/get_preds", {"inputs": examples[:1]}, model=f"_{model}_internals",
                      dataset_name="sentences", requested_fields=fields)
  att = np.asarray(pred["layer_2/attention"])
  unpacked = internals_model.unpack_attention(pred["layer_2/attention_packed"],
                                              len(pred["tokens"]))
  np.testing.assert_allclose(unpacked, np.round(att, 4), atol=1.01e-4)
  assert np.abs(unpacked - att).max() <= 5.01e-5
  status, _, size = client.post("/get_preds", {"inputs": examples[:1]},
                                model=f"_{model}_internals", dataset_name="sentences",
                                requested_fields="layer_2/attention_packed")
  assert status == 200 and size < 3 * att.size   # vs ~20 characters per weight as JSON floats


def test_python_clients_still_get_lits_invertible_encoding(client, examples):
  """response_simple_json=0 (LIT's Python client) gets LIT's own typed encoding; same values."""
  args = dict(model="_bert_internals", dataset_name="sentences",
              requested_fields="tokens,layer_1/attention")
  simple = client.ok("/get_preds", {"inputs": examples[:1]}, **args)[0]
  typed = client.ok("/get_preds", {"inputs": examples[:1]}, response_simple_json=0, **args)[0]
  assert typed["layer_1/attention"]["__class__"] == "np.ndarray"
  assert typed["layer_1/attention"]["__value__"] == simple["layer_1/attention"]


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_internals_model_matches_the_full_prediction(live, examples, model):
  """The gradient-free model gives the full prediction's tokens, attention, top-k, E(l), C(l)."""
  client, srv = live
  ex = examples[3]
  fields = ("tokens,special_tokens,pred_tokens,layer_1/attention,layer_2/attention,"
            "layer_0/token_emb,layer_2/token_emb,layer_1/context_emb")
  (light,) = client.ok("/get_preds", {"inputs": [ex]}, model=f"_{model}_internals",
                       dataset_name="sentences", requested_fields=fields)
  (full,) = srv.app.groups[model].served.wrapped.predict([ex["data"]])   # the loaded model
  assert light["tokens"] == full["tokens"]
  assert light["special_tokens"] == list(full["special_tokens"])
  assert [[t for t, _ in p] for p in light["pred_tokens"]] == [
      [t for t, _ in p] for p in full["pred_tokens"]]
  for key in ("layer_1/attention", "layer_2/attention"):
    np.testing.assert_allclose(light[key], full[key], atol=1e-6)
  for key in ("layer_0/token_emb", "layer_2/token_emb", "layer_1/context_emb"):
    np.testing.assert_allclose(light[key], full[key], atol=1e-5)
  # The served model's own switch was never touched.
  assert srv.app.groups[model].served.wrapped.compute_gradients is True


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_attention_view_request_runs_no_backward_pass(live, examples, model):
  """What the attention view asks of `_NAME_internals` (tokens, a layer, specials, top-k) runs
  one gradient-free forward and never the full model; other layers come from LIT's cache."""
  client, srv = live
  group = srv.app.groups[model]
  ex = examples[6]
  internal_calls, full_calls = group.internals.model_calls, group.served.model_calls
  fields = "tokens,layer_1/attention_packed,special_tokens,pred_tokens"
  (pred,) = client.ok("/get_preds", {"inputs": [ex]}, model=f"_{model}_internals",
                      dataset_name="sentences", requested_fields=fields)
  assert set(pred) == set(fields.split(","))
  assert len(pred["pred_tokens"]) == len(pred["tokens"])
  client.ok("/get_preds", {"inputs": [ex]}, model=f"_{model}_internals",
            dataset_name="sentences", requested_fields="tokens,layer_2/attention_packed")
  assert group.internals.model_calls == internal_calls + 1
  assert group.served.model_calls == full_calls
  # A gradient field goes to `NAME`, LIT's full predict.
  (grads,) = client.ok("/get_preds", {"inputs": [ex]}, model=model, dataset_name="sentences",
                       requested_fields="token_grad_text")
  assert len(grads["token_grad_text"]) == len(pred["tokens"])
  assert group.served.model_calls == full_calls + 1


def test_given_tokens_are_honoured_by_the_internals_model(client):
  """The attention view's "mask this token" sends word-pieces; they are used as given."""
  tokens = ["[CLS]", "the", "[MASK]", "visited", "the", "nurse", "[SEP]"]
  (pred,) = client.ok("/get_preds",
                      {"inputs": [{"id": "", "meta": {},
                                   "data": {"text": "the man visited the nurse",
                                            "tokens": tokens}}]},
                      model="_bert_internals",
                      requested_fields="tokens,layer_1/attention,pred_tokens")
  assert pred["tokens"] == tokens


@pytest.mark.parametrize("model,requested", [("_bert_internals", "tokens,layer_1/attention"),
                                             ("bert", "token_grad_text")])
def test_examples_sent_by_id(client, examples, model, requested):
  """LIT's client sends dataset examples as bare ids; the app looks them up (read-only data)."""
  preds = client.ok("/get_preds", {"inputs": [ex["id"] for ex in examples[:2]]}, model=model,
                    dataset_name="sentences", requested_fields=requested)
  assert len(preds) == 2 and all(requested.split(",")[0] in p for p in preds)
  (found,) = client.ok("/get_interpretations",
                       {"inputs": [examples[0]["id"]], "config": {"position": 1, "layer": 1}},
                       model="_bert_internals", dataset_name="sentences",
                       interpreter="exbert_corpus_search")
  assert found["matches"]


def test_full_prediction_has_gradients_and_topk(client, examples):
  preds = client.ok("/get_preds", {"inputs": examples[:1]}, model="bert",
                    dataset_name="sentences",
                    requested_types="TokenGradients,TokenTopKPreds,RegressionScore")
  assert {"token_grad_text", "pred_tokens", "target_margin"} <= set(preds[0])


def test_load_another_model_from_the_ui(live, info, tiny_distilbert_dir):
  """LIT's "load model" dialog: /create_model with the class of a served model, the init
  spec's defaults filled in as the dialog does. LIT takes our loader for a multiple-model
  loader (its return type is a ModelMap) and adds the whole group."""
  client, srv = live
  assert set(info["initSpecs"]["models"]) == {"bert", "gpt2"}   # no loader for _NAME_internals
  config = {k: v.get("default") for k, v in info["initSpecs"]["models"]["bert"].items()}
  config.update(new_name="distil", name_or_path=str(tiny_distilbert_dir))
  info, names = client.ok("/create_model", {"config": config}, model_name="bert")
  assert names == ["distil", "_distil_internals", "_distil_measures", "_distil_lens"]
  assert "exbert_corpus_search" in info["models"]["_distil_internals"]["interpreters"]
  assert "Grad L2 Norm" in info["models"]["distil"]["interpreters"]
  (pred,) = client.ok("/get_preds", _text(SENTENCES[0]), model="_distil_internals",
                      requested_fields="tokens,layer_1/attention,pred_tokens")
  assert pred["tokens"][0] == "[CLS]"
  assert srv.app.groups["distil"].internals.model_calls == 1
  # A name in use, by a model or by a group's internals model, is refused.
  for taken in ("distil", "_bert_internals"):
    assert client.error("/create_model", {"config": dict(config, new_name=taken)},
                        model_name="bert") == (f"model name {taken!r} is taken: name the model "
                                               "differently")
  # The new names are known to the request checks at once.
  assert "unknown model 'distil2'; this server has: bert, distil, gpt2" == client.error(
      "/get_preds", _text(SENTENCES[0]), model="distil2")


# --- interpreters and generators --------------------------------------------------------------

@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_every_listed_interpreter_runs(client, info, examples, model):
  for name in info["models"][model]["interpreters"]:
    inputs = examples[:1] if name in ("nearest neighbors", "exbert_corpus_search") else examples[:2]
    result = client.ok("/get_interpretations",
                       {"inputs": inputs,
                        "config": interpreter_config(name, info, model, "sentences")},
                       model=model, dataset_name="sentences", interpreter=name)
    assert isinstance(result, (list, dict)), name
    if name in ("Grad L2 Norm", "Grad ⋅ Input", "Integrated Gradients", "LIME"):
      salience = result[0]
      (field,) = salience.values() if len(salience) == 1 else [salience["text"]]
      assert len(field["salience"]) > 0, name
      assert np.all(np.isfinite(field["salience"])), name
    if name == "pca":
      assert len(result) == 2 and len(result[0]["z"]) == 3


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_every_listed_generator_runs(client, info, examples, model):
  for name in info["models"][model]["generators"]:
    config = client_config(info["generators"][name]["configSpec"], info["models"][model]["spec"])
    if name == "Word Replacer":
      config["Substitutions"] = "man -> woman, nurse -> doctor"
    result = client.ok("/get_generated", {"inputs": examples[:1], "config": config},
                       model=model, dataset_name="sentences", generator=name)
    assert isinstance(result, list) and len(result) == 1, name
    for generated in result[0]:
      assert generated["data"]["text"], name
      assert generated["meta"]["source"] == name
    if name in ("Word Replacer", "Scrambler"):
      assert result[0], f"{name} made nothing"


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_ablation_flip_finds_counterfactuals(client, info, examples, model):
  """LIT 1.3.1's Ablation Flip keeps the original's id on its variants, so behind LIT's cache
  it found nothing for any of these sentences; the server's content check fixes that."""
  config = client_config(info["generators"]["Ablation Flip"]["configSpec"],
                         info["models"][model]["spec"])
  found = 0
  for ex in examples:
    (generated,) = client.ok("/get_generated", {"inputs": [ex], "config": config}, model=model,
                             dataset_name="sentences", generator="Ablation Flip")
    for cf in generated:
      assert cf["data"]["text"] != ex["data"]["text"]
      assert cf["data"]["_id"] != ex["id"]
    found += len(generated)
  assert found > 0


def test_stale_ids_are_not_answered_from_the_cache(live, examples):
  from lit_nlp.lib import caching
  from exbert_lit.lit import stale_ids
  _, srv = live
  served = caching.CachingModelWrapper(srv.app.groups["bert"].served, "bert")   # as LIT serves it
  original = dict(examples[2]["data"])
  (before,) = served.predict([original])
  variant = dict(original, text="A cat sat on the mat.")   # same _id, other content
  assert stale_ids.is_stale(variant) and not stale_ids.is_stale(original)
  (after,) = stale_ids.ContentCheckedModel(served, [original]).predict([variant])
  assert after["tokens"] != before["tokens"]
  assert after["grad_target"] == before["grad_target"]   # the original's target is explained
  (cached,) = served.predict([variant])                    # what LIT alone would return
  assert cached["tokens"] == before["tokens"]


@pytest.mark.parametrize("model,centre", [("_bert_internals", "match"), ("bert", "match"),
                                          ("_gpt2_internals", "next")])
def test_corpus_search_returns_matches_and_histograms(client, examples, model, centre):
  result = client.ok(
      "/get_interpretations",
      {"inputs": examples[:1],
       "config": {"position": 2, "layer": 2, "kind": "context", "heads": [1, 3], "k": 7,
                  "offsets": [-1, 1]}},
      model=model, dataset_name="sentences", interpreter="exbert_corpus_search")
  (found,) = result
  assert found["query"] == {"layer": 2, "kind": "context", "heads": [1, 3], "k": 7,
                            "offsets": [-1, 1], "centre": centre}
  assert len(found["matches"]) == 7
  scores = [m["score"] for m in found["matches"]]
  assert scores == sorted(scores, reverse=True)
  # The sentence itself is in the corpus: its own token is the best match (cosine 1).
  best = found["matches"][0]
  assert best["text"] == SENTENCES[0] and best["position"] == 2
  assert best["score"] == pytest.approx(1.0, abs=1e-4)
  assert set(found["histograms"]) == {"-1", "0", "+1"}
  assert sum(b["count"] for b in found["max_att"]["offset"]) == 7


def test_corpus_search_embedding_layer_zero(client, examples):
  (found,) = client.ok(
      "/get_interpretations",
      {"inputs": examples[1:2], "config": {"position": 1, "layer": 0, "kind": "embedding"}},
      model="_bert_internals", dataset_name="sentences", interpreter="exbert_corpus_search")
  assert found["query"]["layer"] == 0 and found["query"]["kind"] == "embedding"
  assert len(found["matches"]) == 50 or len(found["matches"]) > 0
  assert all(m["max_att"] is None for m in found["matches"])


def test_corpus_search_reuses_cached_outputs(live, examples):
  """After the attention view drew a sentence, a search (as the corpus view sends it, to the
  internals model) runs no model: LIT's cache holds the query vectors."""
  client, srv = live
  group = srv.app.groups["bert"]
  ex = examples[5]
  client.ok("/get_preds", {"inputs": [ex]}, model="_bert_internals", dataset_name="sentences",
            requested_fields="tokens,layer_1/attention")
  calls = (group.internals.model_calls, group.served.model_calls)
  for config in ({"layer": 1, "kind": "context"}, {"layer": 2, "kind": "embedding"},
                 {"layer": 0}, {"heads": "2-[1,4]"}):
    client.ok("/get_interpretations", {"inputs": [ex], "config": {"position": 1, **config}},
              model="_bert_internals", dataset_name="sentences",
              interpreter="exbert_corpus_search")
  assert (group.internals.model_calls, group.served.model_calls) == calls


# --- bad requests: one line, and the server keeps serving --------------------------------------

def _search(client, examples, config, model="_bert_internals"):
  return client.error("/get_interpretations", {"inputs": examples[:1], "config": config},
                      model=model, dataset_name="sentences", interpreter="exbert_corpus_search")


def _text(text):
  return {"inputs": [{"id": "", "data": {"text": text}, "meta": {}}]}


def test_bad_requests_get_one_line_errors(client, examples):
  assert re.fullmatch(r"unknown model 'nope'; this server has: bert, (distil, )?gpt2", client.error(
      "/get_preds", {"inputs": examples[:1]}, model="nope", dataset_name="sentences"))
  assert "unknown dataset 'nope'" in client.error(
      "/get_preds", {"inputs": examples[:1]}, model="bert", dataset_name="nope")
  assert "unknown interpreter" in client.error(
      "/get_interpretations", {"inputs": examples[:1]}, model="bert",
      dataset_name="sentences", interpreter="nope")
  assert "unknown generator 'nope'" in client.error(
      "/get_generated", {"inputs": examples[:1]}, model="bert", dataset_name="sentences",
      generator="nope")
  assert "model 'bert' has no output 'layer_3/attention'; its layers are 1..2" == client.error(
      "/get_preds", {"inputs": examples[:1]}, model="_bert_internals", dataset_name="sentences",
      requested_fields="tokens,layer_3/attention")
  assert "layer 9 is out of range" in _search(client, examples, {"position": 1, "layer": 9})
  assert "head 5 is out of range" in _search(client, examples,
                                          {"position": 1, "layer": 1, "heads": [1, 5]})
  assert "position 99 out of range" in _search(client, examples, {"position": 99, "layer": 1})
  assert "unknown corpus 'nope'; loaded corpora: bert_corpus, gpt2_corpus" in _search(
      client, examples, {"position": 1, "layer": 1, "corpus": "nope"})
  message = _search(client, examples, {"position": 1, "layer": 1, "corpus": "gpt2_corpus"})
  assert "built with model" in message and "gpt2" in message
  for model in ("bert", "_bert_internals"):
    assert "empty 'text': type a sentence for model 'bert'" == client.error(
        "/get_preds", _text("   "), model=model, requested_fields="tokens")
  long_text = " ".join(["news"] * 10_000)
  message = client.error("/get_preds", _text(long_text), model="_gpt2_internals",
                         requested_fields="tokens,layer_1/attention")
  assert re.search(r"^'text' is \d{5} tokens; model 'gpt2' takes at most 64: shorten it$",
                   message), message
  # `gpt2` itself serves LIT's components, whose perturbations may lengthen a sentence: it cuts.
  (cut,) = client.ok("/get_preds", _text(long_text), model="gpt2", requested_fields="tokens")
  assert len(cut["tokens"]) == 64
  # A malformed request is not the user's doing: 500, the exception's type, still one line.
  assert "Uncaught error: KeyError: 'inputs'" == client.error(
      "/get_preds", {}, status=500, model="bert", requested_fields="tokens")
  # ... and the server still answers.
  assert client.ok("/get_preds", {"inputs": examples[:1]}, model="bert",
                   dataset_name="sentences", requested_fields="tokens")


def test_tracebacks_go_to_the_server_log_only(client, examples, caplog):
  with caplog.at_level(logging.ERROR):
    message = _search(client, examples, {"position": 1, "layer": 9})
  assert "layer 9 is out of range" in message
  logged = "\n".join(r.getMessage() for r in caplog.records)
  assert "Traceback (most recent call last)" in logged and "layer 9 is out of range" in logged


def test_error_responses_are_plain_text(client):
  """A name echoed from the request is never served as HTML."""
  request = urllib.request.Request(f"{client.url}/get_preds?model=%3Cb%3Ex%3C/b%3E",
                                   data=b"{}", method="POST")
  with pytest.raises(urllib.error.HTTPError) as raised:
    urllib.request.urlopen(request, timeout=30)
  assert raised.value.code == 400
  assert raised.value.headers["Content-Type"].startswith("text/plain")
  assert raised.value.read().decode().startswith("unknown model '<b>x</b>';")


def test_model_without_a_corpus(tiny_encoder_dir):
  from exbert_lit import server
  from exbert_lit.lit import datasets
  app = server.make_app(models={"enc": str(tiny_encoder_dir)},
                        datasets={"s": datasets.SentencesDataset(SENTENCES[:2])})
  with server.ExbertServer(app, port=0) as srv:
    client = LitHttp(srv.url)
    info = client.ok("/get_info")
    assert "exbert_corpus_search" in info["models"]["enc"]["interpreters"]
    assert "Grad L2 Norm" not in info["models"]["enc"]["interpreters"]   # no LM head
    examples = client.ok("/get_dataset", dataset_name="s")
    for model in ("enc", "_enc_internals"):
      message = client.error("/get_interpretations",
                             {"inputs": examples[:1], "config": {"position": 1, "layer": 1}},
                             model=model, dataset_name="s", interpreter="exbert_corpus_search")
      assert "no corpus index for model" in message
    assert "pred_tokens" not in info["models"]["_enc_internals"]["spec"]["output"]
    for name in info["models"]["enc"]["interpreters"]:
      client.ok("/get_interpretations",
                {"inputs": examples[:1], "config": interpreter_config(name, info, "enc", "s")},
                model="enc", dataset_name="s", interpreter=name) if name != (
                    "exbert_corpus_search") else None


def test_corpus_pairs_with_the_same_weights_under_another_name(tiny_bert_dir, corpora):
  from exbert_lit import server
  from exbert_lit.lit import datasets
  from exbert_lit.models import load_model
  model = load_model(str(tiny_bert_dir), name="renamed")
  app = server.make_app(models={"renamed": model},
                        datasets={"s": datasets.SentencesDataset(SENTENCES[:1])},
                        corpora={"bert_corpus": str(corpora["bert_corpus"])}, corpus_examples=0)
  with server.ExbertServer(app, port=0) as srv:
    client = LitHttp(srv.url)
    examples = client.ok("/get_dataset", dataset_name="s")
    (found,) = client.ok("/get_interpretations",
                         {"inputs": examples, "config": {"position": 1, "layer": 1}},
                         model="_renamed_internals", dataset_name="s",
                         interpreter="exbert_corpus_search")
    assert found["matches"][0]["text"] == SENTENCES[0]


def test_corpus_for_a_model_not_served_is_refused(tiny_bert_dir, corpora):
  from exbert_lit import server
  with pytest.raises(ValueError, match="was built with model .*which this server does not serve"):
    server.make_app(models={"bert": str(tiny_bert_dir)},
                    corpora={"gpt2_corpus": str(corpora["gpt2_corpus"])})


# --- concurrency -----------------------------------------------------------------------------

def test_eight_concurrent_clients_fifty_mixed_requests_each(client, examples):
  def one_client(seed: int) -> list[str]:
    rng = random.Random(seed)
    errors = []
    for i in range(50):
      model = rng.choice(["bert", "gpt2"])
      ex = rng.choice(examples)
      choice = i % 5
      if choice == 0:
        args = ("/get_preds", {"inputs": [ex]},
                dict(requested_fields=f"tokens,layer_{rng.randint(1, 2)}/attention"))
        model = f"_{model}_internals"
      elif choice == 1:
        args = ("/get_preds", {"inputs": [ex]}, dict(requested_types="TokenTopKPreds"))
      elif choice == 2:
        args = ("/get_interpretations", {"inputs": [ex], "config": {}},
                dict(interpreter=rng.choice(["Grad L2 Norm", "Grad ⋅ Input"])))
      else:
        args = ("/get_interpretations",
                {"inputs": [ex], "config": {"position": 1, "layer": rng.randint(0, 2),
                                            "kind": "embedding", "k": 5}},
                dict(interpreter="exbert_corpus_search"))
        model = rng.choice([model, f"_{model}_internals"])
      path, body, params = args
      status, result, _ = client.post(path, body, model=model, dataset_name="sentences",
                                      timeout=120, **params)
      expected_key = {0: "tokens", 1: "pred_tokens", 2: "token_grad_text"}.get(choice, "matches")
      if (status != 200 or not isinstance(result, list) or len(result) != 1
          or not isinstance(result[0], dict) or expected_key not in result[0]):
        errors.append(f"{path} {params}: {status} {str(result)[:200]}")
    return errors

  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    errors = [e for errs in pool.map(one_client, range(8)) for e in errs]
  assert errors == []
