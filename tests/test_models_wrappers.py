"""MaskedLM / CausalLM on tiny random-init models loaded through the real from_pretrained code."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import transformers

from exbert_lit.errors import ExbertError
from exbert_lit.models import api
from exbert_lit.models import hf
from exbert_lit.models import internals
from exbert_lit.models import registry
from exbert_lit.models import targets
import tiny_models

ALL = tuple(tiny_models.BUILDERS)
WITH_HEAD = tiny_models.MASKED + tiny_models.CAUSAL
SENTENCES = ["The man visited the nurse and told her.", "A cat sat."]


@pytest.fixture(scope="module")
def models(tiny_model_dirs):
  return {name: registry.load_model(str(path), name=name) for name, path in tiny_model_dirs.items()}


@pytest.fixture(scope="module")
def hf_models(tiny_model_dirs):
  """The same checkpoints loaded directly with HF, as the reference."""
  out = {}
  for name, path in tiny_model_dirs.items():
    auto = (transformers.AutoModel if name == "bert_encoder" else
            transformers.AutoModelForCausalLM if name in tiny_models.CAUSAL else
            transformers.AutoModelForMaskedLM)
    out[name] = auto.from_pretrained(path, attn_implementation="eager").eval()
  return out


@pytest.mark.parametrize("name, cls, has_head", [
    ("bert", hf.MaskedLM, True), ("roberta", hf.MaskedLM, True),
    ("distilbert", hf.MaskedLM, True), ("gpt2", hf.CausalLM, True),
    ("llama", hf.CausalLM, True), ("bert_encoder", hf.MaskedLM, False),
])
def test_load_model_picks_the_wrapper_from_the_config(models, name, cls, has_head):
  model = models[name]
  assert type(model) is cls  # pylint: disable=unidiomatic-typecheck
  assert model.has_head == has_head
  assert isinstance(model, api.LanguageModel)
  assert (model.num_layers, model.num_heads, model.head_dim, model.hidden_size) == (
      tiny_models.LAYERS, tiny_models.HEADS, tiny_models.HIDDEN // tiny_models.HEADS,
      tiny_models.HIDDEN)


@pytest.mark.parametrize("name", ALL)
def test_output_spec_field_names(models, name):
  model = models[name]
  spec = model.output_spec()
  layers = tiny_models.LAYERS
  expected = {"tokens", "special_tokens", "mean_emb", "char_start", "char_end"}
  if not model.is_causal:
    expected.add("segment_ids")   # sentence pairs (text_b)
  expected |= {f"layer_{l}/attention" for l in range(1, layers + 1)}
  expected |= {f"layer_{l}/token_emb" for l in range(0, layers + 1)}
  expected |= {f"layer_{l}/context_emb" for l in range(1, layers + 1)}
  if name != "bert_encoder":
    expected |= {"pred_tokens", "input_embs", "token_grad_text", "grad_target", "target_margin"}
  assert set(spec) == expected
  assert spec["tokens"].mask_token == (None if model.is_causal else model.tokenizer.mask_token)
  inputs = set(model.input_spec()) - ({"text_b"} if not model.is_causal else set())
  assert ("text_b" in model.input_spec()) == (not model.is_causal)
  assert inputs == ({"text", "tokens"} if name == "bert_encoder"
                    else {"text", "tokens", "input_embs", "grad_target"})


@pytest.mark.parametrize("name", ALL)
def test_outputs_have_documented_shapes_and_invariants(models, name):
  model = models[name]
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  t, layers, heads = len(out["tokens"]), model.num_layers, model.num_heads
  assert len(out["special_tokens"]) == t
  for l in range(1, layers + 1):
    att = out[f"layer_{l}/attention"]
    assert att.shape == (heads, t, t)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    if model.is_causal:
      assert np.allclose(np.triu(att, k=1), 0.0)
    ctx = out[f"layer_{l}/context_emb"]
    assert ctx.shape == (t, heads * model.head_dim)
    np.testing.assert_allclose(
        np.linalg.norm(ctx.reshape(t, heads, -1), axis=-1), 1.0, atol=1e-5)
  for l in range(0, layers + 1):
    assert out[f"layer_{l}/token_emb"].shape == (t, model.hidden_size)
  assert out["mean_emb"].shape == (model.hidden_size,)
  if model.has_head:
    assert len(out["pred_tokens"]) == t
    assert all(len(p) == model.top_k for p in out["pred_tokens"])


@pytest.mark.parametrize("name", WITH_HEAD)
def test_predictions_are_softmax_of_direct_hf_logits(models, hf_models, name):
  model = models[name]
  enc = model.encode(SENTENCES[0])
  with torch.no_grad():
    logits = hf_models[name](input_ids=torch.tensor([enc.ids])).logits[0]
  probs = torch.softmax(logits, -1)
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  for i, preds in enumerate(out["pred_tokens"]):
    ids = model.tokenizer.convert_tokens_to_ids([tok for tok, _ in preds])
    np.testing.assert_allclose([p for _, p in preds], probs[i, ids].numpy(), atol=1e-5)
    assert ids[0] == int(probs[i].argmax())


@pytest.mark.parametrize("name", ALL)
def test_attention_and_hidden_states_equal_direct_hf(models, hf_models, name):
  model = models[name]
  enc = model.encode(SENTENCES[0])
  with torch.no_grad():
    ref = hf_models[name](input_ids=torch.tensor([enc.ids]), output_attentions=True,
                          output_hidden_states=True)
  [si] = model.internals([SENTENCES[0]])
  np.testing.assert_allclose(si.attention, torch.cat(ref.attentions).numpy(), atol=1e-5)
  np.testing.assert_allclose(si.embeddings, torch.cat(ref.hidden_states).numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_batching_with_padding_changes_nothing(models, name):
  model = models[name]
  alone = [list(model.predict([{"text": s}]))[0] for s in SENTENCES]
  together = list(model.predict([{"text": s} for s in SENTENCES]))
  for a, b in zip(alone, together):
    assert a["tokens"] == b["tokens"]
    for key in a:
      if isinstance(a[key], np.ndarray):
        np.testing.assert_allclose(a[key], b[key], atol=2e-5, err_msg=key)


@pytest.mark.parametrize("name", ALL)
def test_internals_match_predict_and_contract(models, name):
  model = models[name]
  [si] = model.internals([SENTENCES[0]])
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  t, layers = len(out["tokens"]), model.num_layers
  assert si.tokens == out["tokens"] and si.text == SENTENCES[0]
  assert si.embeddings.shape == (layers + 1, t, model.hidden_size)
  assert si.contexts.shape == (layers, t, model.num_heads * model.head_dim)
  assert si.attention.shape == (layers, model.num_heads, t, t)
  assert si.offsets.shape == (t, 2) and si.offsets.dtype == np.int32
  assert si.special.dtype == bool
  assert all(a.dtype == np.float32 for a in (si.embeddings, si.contexts, si.attention))
  np.testing.assert_allclose(si.contexts[0], out["layer_1/context_emb"], atol=1e-5)
  np.testing.assert_allclose(si.embeddings[layers], out[f"layer_{layers}/token_emb"], atol=1e-5)
  for tok, (start, end), special in zip(si.tokens, si.offsets, si.special):
    if not special and end > start:
      piece = SENTENCES[0][start:end].lower()
      assert piece.strip() in tok.lower().replace("##", "").replace("ġ", " ").replace("▁", " ")


def test_llama_grouped_query_attention_has_all_query_heads(models):
  model = models["llama"]
  assert model.config.num_key_value_heads == tiny_models.KV_HEADS < model.num_heads
  [si] = model.internals(["The man told the nurse."])
  assert si.attention.shape[1] == tiny_models.HEADS
  assert si.contexts.shape[-1] == tiny_models.HEADS * model.head_dim


@pytest.mark.parametrize("name, typed", [
    ("bert", "[MASK]"), ("distilbert", "[MASK]"), ("roberta", "[MASK]"), ("roberta", "<mask>"),
])
def test_typed_mask_is_the_model_mask_token(models, name, typed):
  model = models[name]
  text = f"The man visited the {typed} and told her."
  out = list(model.predict([{"text": text}]))[0]
  mask = model.tokenizer.mask_token
  assert out["tokens"].count(mask) == 1
  [si] = model.internals([text])
  i = si.tokens.index(mask)
  start, end = si.offsets[i]
  assert text[start:end].strip() == typed
  assert model.focus_position(model.encode(text)) == i


def test_special_tokens_flagged(models):
  out = list(models["bert"].predict([{"text": "The [MASK] man"}]))[0]
  assert out["tokens"][0] == "[CLS]" and out["tokens"][-1] == "[SEP]"
  assert out["special_tokens"] == [1.0, 0.0, 0.0, 0.0, 1.0]  # [MASK] is a position, not special


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_a_user_error_naming_the_field(models, name, text):
  with pytest.raises(ExbertError, match="^text: "):
    list(models[name].predict([{"text": text}]))


@pytest.mark.parametrize("name", ALL)
def test_overlong_text_is_truncated_with_warning(models, name, caplog):
  model = models[name]
  text = " ".join(["the man visited the nurse"] * 40)
  with caplog.at_level(logging.WARNING):
    out = list(model.predict([{"text": text}]))[0]
  assert len(out["tokens"]) == model.max_length == tiny_models.MAX_POSITIONS
  assert "truncated" in caplog.text
  assert model.encode(text).truncated and not model.encode("short").truncated
  if name in ("bert", "roberta", "distilbert", "bert_encoder"):
    assert out["special_tokens"][-1] == 1.0  # the closing special token is kept


def test_max_tokens_caps_below_the_model_limit(tiny_model_dirs):
  model = registry.load_model(str(tiny_model_dirs["roberta"]), max_tokens=10)
  assert model.max_length == 10
  out = list(model.predict([{"text": "the man visited the nurse " * 5}]))[0]
  assert len(out["tokens"]) == 10 and out["tokens"][-1] == "</s>"


def test_given_tokens_are_used_as_is(models):
  model = models["bert"]
  tokens = ["[CLS]", "the", "[MASK]", "visited", "the", "nurse", "[SEP]"]
  out = list(model.predict([{"text": "ignored", "tokens": tokens}]))[0]
  assert out["tokens"] == tokens
  assert out["layer_1/attention"].shape[-1] == len(tokens)


def test_headless_encoder_has_no_predictions_or_gradients(models):
  model = models["bert_encoder"]
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  for absent in ("pred_tokens", "token_grad_text", "input_embs", "grad_target", "target_margin"):
    assert absent not in out and absent not in model.output_spec()


@pytest.mark.parametrize("name", WITH_HEAD)
def test_gradients_equal_direct_autograd(models, hf_models, name):
  """token_grad_text = d log p(target at focus) / d word embeddings, computed independently."""
  model = models[name]
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  enc = model.encode(SENTENCES[0])
  ref = hf_models[name]
  embs = ref.get_input_embeddings()(torch.tensor([enc.ids])).detach().requires_grad_(True)
  logits = ref(inputs_embeds=embs).logits[0, model.focus_position(enc)]
  target = model.tokenizer.convert_tokens_to_ids(out["grad_target"])
  assert target == int(logits.argmax())  # default target: the top-1 prediction
  torch.log_softmax(logits, -1)[target].backward()
  np.testing.assert_allclose(out["token_grad_text"], embs.grad[0].numpy(), atol=1e-5)
  np.testing.assert_allclose(out["input_embs"], embs[0].detach().numpy(), atol=1e-6)
  assert out["target_margin"] > 0


@pytest.mark.parametrize("name", WITH_HEAD)
def test_grad_target_pins_the_explained_token(models, name):
  model = models[name]
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  second = out["pred_tokens"][model.focus_position(model.encode(SENTENCES[0]))][1][0]
  pinned = list(model.predict([{"text": SENTENCES[0], "grad_target": second}]))[0]
  assert pinned["grad_target"] == second
  assert pinned["target_margin"] < 0
  assert not np.allclose(pinned["token_grad_text"], out["token_grad_text"])
  with pytest.raises(ExbertError, match="^grad_target: "):
    list(model.predict([{"text": SENTENCES[0], "grad_target": "no-such-piece-xyz"}]))


def test_compute_gradients_false_drops_gradient_fields(tiny_model_dirs):
  model = registry.load_model(str(tiny_model_dirs["gpt2"]), compute_gradients=False)
  out = list(model.predict([{"text": SENTENCES[0]}]))[0]
  assert "token_grad_text" not in model.output_spec() and "token_grad_text" not in out
  assert "pred_tokens" in out


def test_fingerprint_is_stable_and_tells_models_apart(models, tiny_model_dirs):
  again = registry.load_model(str(tiny_model_dirs["bert"]), name="bert")
  assert again.fingerprint() == models["bert"].fingerprint()
  assert again.fingerprint().startswith("bert@sha256:")
  prints = {models[n].fingerprint().split("@")[1] for n in ALL}
  assert len(prints) == len(ALL)


def test_embedding_table_matches_vocab(models):
  vocab, table = models["roberta"].get_embedding_table()
  assert len(vocab) == table.shape[0] == len(models["roberta"].tokenizer)
  assert table.shape[1] == tiny_models.HIDDEN
  assert vocab[models["roberta"].tokenizer.mask_token_id] == "<mask>"


@pytest.mark.parametrize("bad", ["./no-such-model-dir", "/nonexistent/path/model"])
def test_unknown_path_is_one_line_error(bad):
  with pytest.raises(registry.ModelNotFoundError, match=bad) as e:
    registry.load_model(bad)
  assert "\n" not in str(e.value)


def test_directory_without_config_is_one_line_error(tmp_path):
  with pytest.raises(registry.ModelNotFoundError, match="no config.json"):
    registry.load_model(str(tmp_path))


def test_unsupported_architecture_is_one_line_error_naming_it(tmp_path, tiny_bert_dir):
  """A masked LM whose type has no entry in the output-projection table (MPNet)."""
  tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert_dir)
  config = transformers.MPNetConfig(
      vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
      intermediate_size=64, max_position_embeddings=66)
  transformers.MPNetForMaskedLM(config).save_pretrained(tmp_path)
  tokenizer.save_pretrained(tmp_path)
  with pytest.raises(ExbertError, match="model_type 'mpnet' is not supported") as e:
    registry.load_model(str(tmp_path))
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("typed", ["<mask>", "[MASK]"])
def test_given_tokens_with_a_mask_use_the_mask_id(models, typed):
  model = models["roberta"]
  tokens = ["<s>", "The", "Ġman", typed, "</s>"]
  enc = model.encode("ignored", tokens)
  assert enc.ids[3] == model.tokenizer.mask_token_id
  assert enc.special.tolist() == [True, False, False, False, True]
  assert model.focus_position(enc) == 3


def test_tokenizer_without_offsets_gives_zero_offsets(tiny_model_dirs, monkeypatch):
  model = registry.load_model(str(tiny_model_dirs["bert"]))
  real = model.tokenizer.__class__.__call__

  def no_offsets(self, *args, **kwargs):
    if kwargs.get("return_offsets_mapping"):
      raise NotImplementedError("offsets need a fast tokenizer")
    return real(self, *args, **kwargs)

  monkeypatch.setattr(model.tokenizer.__class__, "__call__", no_offsets)
  enc = model.encode("the man [MASK] the nurse")
  assert enc.offsets.shape == (7, 2) and not enc.offsets.any()
  assert enc.ids[3] == model.tokenizer.mask_token_id


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_device_option_moves_weights_and_returns_cpu_outputs(models, tiny_model_dirs, name):
  """`device=` (and `.to()`, used by GPU Ray workers) runs the model there and hands back CPU
  arrays; on this CPU-only machine "cpu" is the device that can be checked end to end."""
  moved = registry.load_model(str(tiny_model_dirs[name]), name=name, device="cpu")
  assert moved.device == torch.device("cpu")
  assert next(moved.model.parameters()).device == torch.device("cpu")
  assert moved.to("cpu") is moved
  (want,) = models[name].predict([{"text": SENTENCES[0]}])
  (got,) = moved.predict([{"text": SENTENCES[0]}])
  for field in ("layer_1/attention", "layer_1/context_emb", "token_grad_text"):
    np.testing.assert_allclose(got[field], want[field], rtol=1e-5, atol=1e-6)
  assert moved.fingerprint() == models[name].fingerprint()
  with pytest.raises(RuntimeError):
    registry.load_model(str(tiny_model_dirs[name]), name=name, device="no-such-device")


@pytest.mark.parametrize("error", [registry.ModelNotFoundError,
                                   internals.UnsupportedArchitectureError])
def test_model_user_errors_are_exbert_errors(error):
  assert issubclass(error, ExbertError)


@pytest.mark.parametrize("example,want", [
    ({"grad_target": "cat"}, "cat"),                              # given
    ({"_meta": {"parentId": "a"}}, "dog"),                        # inherited from the parent
    ({"grad_target": "cat", "_meta": {"parentId": "a"}}, "cat"),  # given wins
    ({"_meta": {"parentId": "unknown"}}, None),
    ({"_meta": {"parentId": "evicted"}}, None),                   # past the memory's size
    ({}, None),
])
def test_target_memory(example, want):
  """HotFlip's children explain their parent's target (see targets.py)."""
  memory = targets.TargetMemory(size=2)
  memory.remember("evicted", "bird")
  memory.remember("a", "dog")
  memory.remember("b", "fish")
  assert len(memory) == 2
  assert memory.requested(example) == want
