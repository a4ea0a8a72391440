"""Generation on the key/value cache (models/generation.py, exbert-lit generate, _NAME_generate).

Each quantity is checked against an independent computation: one full forward over the final
sequence (attention rows, probabilities, top-k), Hugging Face's own `generate(do_sample=False)`
(greedy tokens, the end-of-sequence stop), and a plain sampling loop of full forwards with the
same seeded generator (sampled tokens). Tiny random GPT-2 and Llama (grouped-query) models run
everywhere; SmolLM2 under the integration marker.
"""
from __future__ import annotations

import json
import shutil

from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types
from lit_nlp.lib import validation
import numpy as np
import pytest
import torch
from werkzeug import test as werkzeug_test

from exbert_lit import cli
from exbert_lit.errors import ExbertError
from exbert_lit.lit import generate_model
from exbert_lit.lit import internals_model
from exbert_lit.lit import model_group
from exbert_lit.models import fields
from exbert_lit.models import generation
from exbert_lit.models import registry

PROMPT = "The man visited the nurse and"
ATOL = 1e-5        # attention: cached rows against the full forward
# Probabilities: SmolLM2's cached and uncached logits differ by float32 noise (a 576-wide dot
# product per token of 49152); 1e-5 is just below what it reaches at a 0.6 probability.
PROB_ATOL = 5e-5


@pytest.fixture(scope="module")
def tiny(tiny_model_dirs):
  """name -> a loaded tiny model (gpt2, llama; bert for the refusals)."""
  return {name: registry.load_model(str(tiny_model_dirs[name]), name=name,
                                    compute_gradients=False)
          for name in ("gpt2", "llama", "bert")}


@pytest.fixture(scope="module")
def smollm2():
  return registry.load_model("smollm2", compute_gradients=False)


def _model(request, name):
  return request.getfixturevalue("smollm2") if name == "smollm2" else (
      request.getfixturevalue("tiny")[name])


CAUSAL = ["gpt2", "llama", pytest.param("smollm2", marks=[pytest.mark.integration, pytest.mark.slow])]


def _full_forward(model, ids):
  """One forward over the whole sequence, no cache: (attentions L x [H, T, T], logits [T, V])."""
  with torch.no_grad():
    out = model.model(input_ids=torch.tensor([ids]), output_attentions=True, use_cache=False)
  return [a[0].numpy() for a in out.attentions], out.logits[0]


# --- against one full forward over the final sequence ---------------------------------------

@pytest.mark.parametrize("name", CAUSAL)
@pytest.mark.parametrize("temperature,seed", [(None, None), (1.5, 7)])
def test_each_step_equals_the_full_forward(request, name, temperature, seed):
  model = _model(request, name)
  layers = range(1, model.num_layers + 1)
  result = model.generate(PROMPT, 12, temperature, seed, layers=layers, top_k=5)
  assert len(result.steps) == 12 and result.tokens[result.start:] == [s.token for s in result.steps]
  attentions, logits = _full_forward(model, result.token_ids)
  probs = torch.softmax(logits, dim=-1)
  for step in result.steps:
    t = step.position
    for layer in layers:
      row = step.attention[layer]
      assert row.shape == (model.num_heads, t + 1)
      np.testing.assert_allclose(row, attentions[layer - 1][:, t, :t + 1], atol=ATOL, rtol=0)
    assert step.prob == pytest.approx(float(probs[t - 1, step.token_id]), abs=PROB_ATOL)
    top_p, top_ids = torch.topk(probs[t - 1], 5)
    assert [p for _, p in step.top_k] == pytest.approx(top_p.tolist(), abs=PROB_ATOL)
    assert [tok for tok, _ in step.top_k] == model.codec.pieces(top_ids.tolist())
  for layer in layers:   # the whole matrix: prefill rows and generated rows
    np.testing.assert_allclose(result.attention(layer), attentions[layer - 1], atol=ATOL, rtol=0)
  expected = [0.0] + [float(probs[i - 1, result.token_ids[i]])
                      for i in range(1, len(result.token_ids))]
  np.testing.assert_allclose(result.token_probs, expected, atol=PROB_ATOL)
  assert len(result.next_preds) == len(result.tokens)


# --- against Hugging Face's generate ----------------------------------------------------------

@pytest.mark.parametrize("name", CAUSAL)
@pytest.mark.parametrize("layers", [(), (1,)])
def test_greedy_equals_hf_generate(request, name, layers):
  model = _model(request, name)
  result = model.generate(PROMPT, 10, layers=layers)
  prompt = torch.tensor([result.token_ids[:result.start]])
  with torch.no_grad():
    expected = model.model.generate(prompt, do_sample=False, max_new_tokens=10)
  assert result.token_ids == expected[0].tolist()
  assert not result.settings.sampling and result.settings.seed is None


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_stops_after_an_end_of_sequence_token_as_hf_does(tiny_model_dirs, name):
  """With the 4th greedy token made the end-of-sequence token, both stop right after it."""
  model = registry.load_model(str(tiny_model_dirs[name]), compute_gradients=False)
  free = model.generate(PROMPT, 8)
  eos = free.steps[3].token_id
  model.model.generation_config.eos_token_id = eos
  first = next(k for k, s in enumerate(free.steps) if s.token_id == eos)
  for layers in [(), (1, 2)]:
    result = model.generate(PROMPT, 8, layers=layers)
    assert result.stop_reason == generation.STOP_EOS
    assert [s.token_id for s in result.steps] == [s.token_id for s in free.steps[:first + 1]]
  with torch.no_grad():
    expected = model.model.generate(torch.tensor([free.token_ids[:free.start]]),
                                    do_sample=False, max_new_tokens=8)
  assert result.token_ids == expected[0].tolist()


# --- sampling -------------------------------------------------------------------------------

def _reference_sample(model, prompt_ids, steps, temperature, seed):
  """Sampling written plainly: a full forward per token, the same seeded generator."""
  generator = torch.Generator().manual_seed(seed)
  ids = list(prompt_ids)
  for _ in range(steps):
    _, logits = _full_forward(model, ids)
    probs = torch.softmax(logits[-1] / temperature, dim=-1)
    ids.append(int(torch.multinomial(probs, 1, generator=generator)))
  return ids


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("temperature", [0.7, 2.0])
def test_sampling_is_the_seeded_temperature_sample(tiny, name, temperature):
  model = tiny[name]
  result = model.generate(PROMPT, 10, temperature, 11)
  again = model.generate(PROMPT, 10, temperature, 11, layers=(2,))
  assert again.token_ids == result.token_ids   # reproducible, with or without attention
  expected = _reference_sample(model, result.token_ids[:result.start], 10, temperature, 11)
  assert result.token_ids == expected
  assert result.settings.seed == 11


def test_sampling_without_a_seed_reports_the_one_it_drew(tiny):
  model = tiny["gpt2"]
  result = model.generate(PROMPT, 10, 2.0)
  assert result.settings.sampling and result.settings.seed is not None
  assert model.generate(PROMPT, 10, 2.0, result.settings.seed).token_ids == result.token_ids
  others = {tuple(model.generate(PROMPT, 10, 2.0, seed).token_ids) for seed in (1, 2, 3)}
  assert len(others) > 1


# --- the key/value cache ------------------------------------------------------------------------

@pytest.mark.parametrize("layers,forwards", [((), 7), ((1,), 8)])
def test_one_prefill_then_one_token_per_forward(tiny, layers, forwards):
  """After the prompt, every forward takes one new token: the cache holds the rest. Without
  attention the last token is not fed (as in HF's generate); with it, one extra forward."""
  model = tiny["llama"]
  fed = []
  handle = model.model.register_forward_pre_hook(
      lambda module, args, kw: fed.append(kw["input_ids"].shape[1]), with_kwargs=True)
  try:
    result = model.generate(PROMPT, 7, layers=layers)
  finally:
    handle.remove()
  assert fed == [result.start] + [1] * (forwards - 1)
  assert len(result.steps) == 7


# --- settings and refusals ----------------------------------------------------------------------

@pytest.mark.parametrize("given,expected", [
    ((None, None, None), generation.Settings(20, 0.0, None)),
    (("", "", ""), generation.Settings(20, 0.0, None)),
    (([], None, []), generation.Settings(20, 0.0, None)),
    ((5, 0, None), generation.Settings(5, 0.0, None)),
    (("256", "0.7", "3"), generation.Settings(256, 0.7, 3)),
    ((1, 10, 4294967295), generation.Settings(1, 10.0, 4294967295)),
    ((3.0, 1, 0), generation.Settings(3, 1.0, 0)),
])
def test_settings(given, expected):
  assert generation.settings(*given) == expected


@pytest.mark.parametrize("given,message", [
    ((0, None, None), "max_new_tokens 0 is out of range: use 1..256"),
    ((257, None, None), "max_new_tokens 257 is out of range: use 1..256"),
    (("ten", None, None), 'max_new_tokens must be a whole number; got "ten"'),
    ((2.5, None, None), "max_new_tokens must be a whole number; got 2.5"),
    ((None, -0.5, None), "temperature -0.5 is out of range: use 0 (greedy) or a number above 0"),
    ((None, 11, None), "temperature 11 is out of range"),
    ((None, "hot", None), 'temperature must be a number like 0.7 (0 = greedy); got "hot"'),
    ((None, float("inf"), None), "temperature must be a number like 0.7"),
    ((None, True, None), "temperature must be a number like 0.7"),
    ((None, None, 3), "seed applies to sampling only: give a temperature above 0 too"),
    ((None, 0, 3), "seed applies to sampling only"),
    ((None, 1, -1), "seed -1 is out of range: use 0..4294967295"),
    ((None, 1, 2**32), "seed 4294967296 is out of range"),
    ((None, 1, "x"), 'seed must be a whole number; got "x"'),
])
def test_bad_settings_are_one_line_errors(given, message):
  with pytest.raises(ExbertError) as error:
    generation.settings(*given)
  assert message in str(error.value) and "\n" not in str(error.value)


def test_refusals_of_the_model(tiny):
  with pytest.raises(ExbertError, match="'bert' is a masked model: generation needs a causal LM"):
    generation.generate(tiny["bert"], PROMPT, generation.Settings())
  assert not hasattr(tiny["bert"], "generate")
  gpt2 = tiny["gpt2"]   # 64 positions
  count = len(gpt2.encode(PROMPT).ids)
  with pytest.raises(ExbertError, match=f"the text is {count} tokens and max_new_tokens is 60, "
                     f"together more than the 64 positions model 'gpt2' takes; use "
                     f"max_new_tokens {64 - count} or less"):
    gpt2.generate(PROMPT, 60)
  assert len(gpt2.generate(PROMPT, 64 - count).tokens) == 64   # exactly at the limit
  with pytest.raises(ExbertError, match="layer 3 is out of range: this model has layers 1..2"):
    gpt2.generate(PROMPT, 2, layers=(3,))
  with pytest.raises(ExbertError, match="layer 0 is out of range"):
    gpt2.generate(PROMPT, 2, layers=(0,))
  with pytest.raises(ExbertError, match="takes at most 64: shorten it"):
    gpt2.generate("the man told " * 30, 2)


# --- the LIT model group member -----------------------------------------------------------------

@pytest.fixture(scope="module")
def groups(tiny):
  return {name: model_group.model_group(name, model) for name, model in tiny.items()}


def test_only_causal_models_get_a_generate_member(groups):
  assert list(groups["gpt2"].models()) == [
      "gpt2", "_gpt2_internals", "_gpt2_measures", "_gpt2_lens", "_gpt2_generate"]
  assert list(groups["bert"].models()) == ["bert", "_bert_internals", "_bert_measures", "_bert_lens"]
  member = groups["gpt2"].generate
  assert member._lock is groups["gpt2"].served.lock  # pylint: disable=protected-access


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_generate_member_passes_lit_validation(groups, name):
  data = lit_dataset.Dataset(spec={"text": lit_types.TextSegment()},
                             examples=[{"text": PROMPT}, {"text": "A cat sat"}])
  validation.validate_model(groups[name].generate, data, report_all=False)


@pytest.mark.parametrize("config", [{}, {"max_new_tokens": "", "temperature": "", "seed": ""},
                                    {"max_new_tokens": 6, "temperature": 1.2, "seed": 4}])
def test_generate_member_outputs_the_final_sequence(tiny, groups, config):
  model, member = tiny["llama"], groups["llama"].generate
  (out,) = member.predict([{"text": PROMPT, **config}])
  new_tokens = config.get("max_new_tokens") or generation.DEFAULT_NEW_TOKENS
  expected = model.generate(PROMPT, new_tokens, config.get("temperature") or None,
                            config.get("seed") or None, layers=(1, 2))
  if expected.settings.sampling is False:
    assert out[fields.USED_SEED] == -1
  else:
    assert out[fields.USED_SEED] == 4
  assert out[fields.TOKENS] == expected.tokens
  size = len(expected.tokens)
  assert out[fields.GENERATION_START] == expected.start == len(model.encode(PROMPT).ids)
  assert len(out[fields.PRED_TOKENS]) == len(out[fields.TOKEN_PROBS]) == size
  assert out[fields.GENERATED_TEXT] == model.tokenizer.decode(expected.token_ids[expected.start:])
  for step in expected.steps:
    assert out[fields.TOKEN_PROBS][step.position] == pytest.approx(step.prob, abs=1e-6)
    assert out[fields.PRED_TOKENS][step.position - 1] == step.top_k
  for layer in (1, 2):
    weights = expected.attention(layer)
    np.testing.assert_allclose(out[fields.attention(layer)], weights, atol=1e-6)
    unpacked = internals_model.unpack_attention(out[fields.attention_packed(layer)], size)
    np.testing.assert_allclose(unpacked, weights, atol=0.5e-4 + 1e-7)


def test_generate_member_refuses_bad_settings_before_generating(groups):
  member = groups["gpt2"].generate
  calls = member.model_calls
  with pytest.raises(ExbertError, match="max_new_tokens 999 is out of range"):
    member.predict([{"text": PROMPT}, {"text": PROMPT, "max_new_tokens": 999}])
  with pytest.raises(ExbertError, match="empty 'text'"):
    member.predict([{"text": "  "}])
  assert member.model_calls == calls


def test_generate_member_over_lit_http(tiny_gpt2_dir):
  """`/get_info` lists `_gpt2_generate` with its spec; `/get_preds` generates with the
  settings in the example and returns the requested fields."""
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import datasets  # pylint: disable=g-import-not-at-top
  app = server.make_app(models={"gpt2": str(tiny_gpt2_dir)},
                        datasets={"sentences": datasets.SentencesDataset([PROMPT])})
  client = werkzeug_test.Client(app)
  info = json.loads(client.post("/get_info").get_data(as_text=True))
  spec = info["models"]["_gpt2_generate"]["spec"]
  assert {"max_new_tokens", "temperature", "seed"} <= set(spec["input"])
  assert {"generation_start", "token_probs", "layer_2/attention_packed"} <= set(spec["output"])
  body = {"inputs": [{"id": "", "data": {"text": PROMPT, "max_new_tokens": 5, "temperature": "",
                                         "seed": ""}, "meta": {}}]}
  response = client.post("/get_preds?model=_gpt2_generate&requested_fields=tokens,"
                         "generation_start,token_probs,pred_tokens,layer_1/attention_packed",
                         json=body)
  assert response.status_code == 200, response.get_data(as_text=True)
  (pred,) = json.loads(response.get_data(as_text=True))
  assert set(pred) == {"tokens", "generation_start", "token_probs", "pred_tokens",
                       "layer_1/attention_packed"}
  assert len(pred["tokens"]) == pred["generation_start"] + 5
  body["inputs"][0]["data"]["max_new_tokens"] = 0
  response = client.post("/get_preds?model=_gpt2_generate&requested_fields=tokens", json=body)
  assert response.status_code == 400
  assert response.get_data(as_text=True).startswith("max_new_tokens 0 is out of range")


# --- the command line -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def weightless(tmp_path_factory, tiny_model_dirs):
  """Tiny model directories without weights: a command that loaded one would crash."""
  root = tmp_path_factory.mktemp("weightless")
  out = {}
  for name in ("gpt2", "bert"):
    shutil.copytree(tiny_model_dirs[name], root / name,
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    out[name] = str(root / name)
  return out


@pytest.mark.parametrize("args,message", [
    (["--model", "{bert}"], "--model {bert}: a masked model cannot generate; give a causal LM"),
    (["--model", "{gpt2}", "--max-new-tokens", "0"], "--max-new-tokens 0 is out of range"),
    (["--model", "{gpt2}", "--temperature", "warm"], "--temperature must be a number like 0.7"),
    (["--model", "{gpt2}", "--seed", "3"], "--seed applies to sampling only: give a "
     "--temperature above 0 too"),
    (["--model", "{gpt2}", "--layer", "3"], "--layer 3 is out of range: this model has layers 1..2"),
    (["--model", "{gpt2}", "--top-k", "100000"], "--top-k 100000 is more than the model's"),
    (["--model", "{gpt2}", "--max-new-tokens", "60"], "and --max-new-tokens is 60, together more "
     "than the 64 positions model '{gpt2}' takes; use --max-new-tokens"),
    (["--model", "{gpt2}", "--text", " "], "--text: empty or whitespace-only input"),
])
def test_cli_refuses_before_loading(capsys, weightless, args, message):
  argv = ["generate", "--text", PROMPT] + [a.format(**weightless) for a in args]
  assert cli.main(argv) == 2
  captured = capsys.readouterr()
  assert captured.out == ""
  (line,) = captured.err.splitlines()
  assert line.startswith("exbert-lit generate: error: ") and message.format(**weightless) in line


def test_cli_json_is_the_python_structure(capsys, tiny, tiny_model_dirs):
  argv = ["generate", "--model", str(tiny_model_dirs["llama"]), "--text", PROMPT,
          "--max-new-tokens", "4", "--temperature", "0.9", "--seed", "2", "--layer", "2",
          "--top-k", "3", "--json"]
  assert cli.main(argv) == 0
  doc = json.loads(capsys.readouterr().out)
  expected = tiny["llama"].generate(PROMPT, 4, 0.9, 2, layers=(2,), top_k=3).to_json()
  for key, value in expected.items():
    if key == "model":
      continue
    if key == "steps":
      for got, want in zip(doc["steps"], value):
        assert got["token"] == want["token"] and got["text"]
        assert [p["token"] for p in got["top_k"]] == [p["token"] for p in want["top_k"]]
        np.testing.assert_allclose(got["attention"]["2"], want["attention"]["2"], atol=1e-6)
        assert np.asarray(got["attention"]["2"]).shape == (4, got["position"] + 1)
    else:
      assert doc[key] == value, key
  assert doc["seed"] == 2 and doc["sampling"] and len(doc["token_text"]) == len(doc["tokens"])


def test_cli_plain_output(capsys, tiny_model_dirs):
  assert cli.main(["generate", "--model", str(tiny_model_dirs["gpt2"]), "--text", PROMPT,
                   "--max-new-tokens", "3", "--layer", "1"]) == 0
  out = capsys.readouterr().out.splitlines()
  assert "3 tokens generated (greedy; stopped: max_new_tokens)" in out[0]
  assert sum("layer 1, mean over heads, attends most to" in line for line in out) == 3


# --- corpus search on generated tokens ----------------------------------------------------------

def test_corpus_search_runs_on_a_generated_token(tmp_path, tiny_gpt2_dir, groups):
  """The view searches a generated token through `_NAME_internals` given the final sequence's
  word-pieces (`tokens`): the same forward over the same sequence, so the attention matches the
  generation's, and the corpus-search interpreter finds neighbours of the generated token."""
  from exbert_lit.corpus.search import CorpusIndex  # pylint: disable=g-import-not-at-top
  from exbert_lit.lit import corpus_search  # pylint: disable=g-import-not-at-top
  import tiny_models  # pylint: disable=g-import-not-at-top
  group = groups["gpt2"]
  (generated,) = group.generate.predict([{"text": PROMPT, "max_new_tokens": 4}])
  example = {"text": PROMPT, "tokens": generated[fields.TOKENS]}
  (internal,) = group.internals.predict([example])
  assert internal[fields.TOKENS] == generated[fields.TOKENS]
  np.testing.assert_allclose(internal[fields.attention(2)], generated[fields.attention(2)],
                             atol=ATOL)
  stores = tiny_models.build_corpus_stores(tmp_path, tiny_models.SENTENCES,
                                           {"gpt2": tiny_gpt2_dir})
  index = CorpusIndex.open(str(stores["gpt2_corpus"]))
  search = corpus_search.CorpusSearch({"gpt2_corpus": index})
  position = generated[fields.GENERATION_START] + 1
  data = lit_dataset.Dataset(spec={"text": lit_types.TextSegment()}, examples=[example])
  (result,) = search.run([example], group.internals, data,
                         config={"position": position, "layer": 2, "k": 5})
  assert result["query"]["layer"] == 2 and result["query"]["centre"] == "next"
  assert len(result["matches"]) == 5
