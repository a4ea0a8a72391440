"""Sentence pairs for masked models (exBERT issue #12): `text_b`, the tokenizer's pair encoding and
token type ids through every field, pinned against a plain Hugging Face forward of the same pair."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers
from lit_nlp.lib import validation

from exbert_lit.errors import ExbertError
from exbert_lit.lit import datasets as datasets_lib
from exbert_lit.lit import model_group as model_group_lib
from exbert_lit.models import fields
from exbert_lit.models import load_model

TEXT_A, TEXT_B = "the cat sat on the mat", "a dog ran in the park"


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
  return load_model(str(tiny_bert_dir), name="bert", compute_gradients=False)


@pytest.fixture(scope="module")
def reference(tiny_bert_dir):
  """A plain Hugging Face forward of the pair: (encoding, outputs)."""
  tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert_dir)
  net = transformers.AutoModelForMaskedLM.from_pretrained(tiny_bert_dir,
                                                          attn_implementation="eager")
  enc = tokenizer(TEXT_A, TEXT_B, return_tensors="pt")
  assert enc["token_type_ids"].max() == 1   # the pair encoding has a segment B
  with torch.no_grad():
    out = net(**enc, output_attentions=True, output_hidden_states=True)
  return enc, out


def test_pair_equals_plain_hf_forward(bert, reference):
  enc, out = reference
  (pred,) = bert.predict([{"text": TEXT_A, fields.TEXT_B: TEXT_B}])
  ids = enc["input_ids"][0].tolist()
  assert pred["tokens"] == bert.tokenizer.convert_ids_to_tokens(ids)
  assert pred[fields.SEGMENT_IDS] == [float(t) for t in enc["token_type_ids"][0]]
  for l, att in enumerate(out.attentions, start=1):
    np.testing.assert_allclose(pred[fields.attention(l)], att[0].numpy(), atol=1e-5)
  for l, hidden in enumerate(out.hidden_states):
    np.testing.assert_allclose(pred[fields.token_emb(l)], hidden[0].numpy(), atol=1e-5)
  probs = torch.softmax(out.logits[0], -1)
  for i, position in enumerate(pred["pred_tokens"]):
    token, prob = position[0]
    assert token == bert.tokenizer.convert_ids_to_tokens(int(probs[i].argmax()))
    assert prob == pytest.approx(float(probs[i].max()), abs=1e-5)


def test_pair_differs_from_concatenation_without_types(bert):
  """The token types reach the model: segment B's states differ from the same pieces typed A."""
  (pair,) = bert.predict([{"text": TEXT_A, fields.TEXT_B: TEXT_B}])
  enc = bert.encode(TEXT_A, None, TEXT_B)
  assert enc.token_type_ids is not None and max(enc.token_type_ids) == 1
  (given,) = bert.predict([{"text": "", "tokens": pair["tokens"]}])   # given pieces: all type 0
  assert not np.allclose(pair[fields.token_emb(0)], given[fields.token_emb(0)])


@pytest.mark.parametrize("text_b,segments", [
    ("", None),                 # empty = one sentence
    (None, None),
    ("   ", None),
    (TEXT_B, "pair"),
])
def test_empty_text_b_is_one_sentence(bert, text_b, segments):
  enc = bert.encode(TEXT_A, None, text_b)
  if segments is None:
    assert enc.token_type_ids is None and enc.segments.sum() == 0
    assert enc.ids == bert.encode(TEXT_A).ids
  else:
    first_sep = enc.ids.index(bert.tokenizer.sep_token_id)
    assert enc.segments.tolist() == [0] * (first_sep + 1) + [1] * (enc.length - first_sep - 1)


def test_offsets_of_segment_b_point_into_text_b(bert):
  enc = bert.encode(TEXT_A, None, TEXT_B)
  pieces = bert.codec.pieces(enc.ids)
  spans_b = []
  for piece, (start, end), seg, special in zip(pieces, enc.offsets, enc.segments, enc.special):
    if not special:
      assert (TEXT_B if seg else TEXT_A)[start:end] == piece.removeprefix("##")
      if seg:
        spans_b.append(TEXT_B[start:end])
  assert "".join(spans_b) == TEXT_B.replace(" ", "")


def test_group_members_take_the_pair(bert):
  group = model_group_lib.model_group("bert", bert)
  example = {"text": TEXT_A, fields.TEXT_B: TEXT_B}
  (served,) = group.served.predict([example])
  (internals,) = group.internals.predict([example])
  (measures,) = group.measures.predict([example])
  (lens,) = group.lens.predict([example])
  assert fields.TEXT_B in group.internals.input_spec()
  assert fields.TEXT_B in group.measures.input_spec()
  for out in (internals, measures, lens):
    assert out["tokens"] == served["tokens"]
  assert internals[fields.SEGMENT_IDS] == served[fields.SEGMENT_IDS]
  np.testing.assert_allclose(internals[fields.attention(1)], served[fields.attention(1)])
  np.testing.assert_allclose(internals[fields.context_emb(2)], served[fields.context_emb(2)])
  (m,) = bert.measures([TEXT_A], texts_b=[TEXT_B])
  np.testing.assert_allclose(m.attention[0], served[fields.attention(1)], atol=1e-6)
  (alone,) = group.internals.predict([{"text": TEXT_A}])
  assert len(alone["tokens"]) < len(internals["tokens"])


@pytest.mark.parametrize("member", ["served", "internals", "measures", "lens"])
def test_lit_member_validates(bert, member):
  """LIT's own validation (lit_nlp.lib.validation) of each group member on a dataset of a pair
  and a single sentence."""
  group = model_group_lib.model_group("bert", bert)
  data = datasets_lib.SentencesDataset([f"{TEXT_A}\t{TEXT_B}", "one sentence alone"])
  assert data.examples[1] == {"text": "one sentence alone", "text_b": ""}
  validation.validate_dataset(data)
  validation.validate_model(getattr(group, member), data, report_all=False)


def test_causal_model_ignores_a_datasets_text_b_and_refuses_a_given_one(tiny_gpt2_dir):
  gpt2 = load_model(str(tiny_gpt2_dir), name="gpt2", compute_gradients=False)
  assert fields.TEXT_B not in gpt2.input_spec()
  assert fields.SEGMENT_IDS not in gpt2.output_spec()
  (out,) = gpt2.predict([{"text": TEXT_A, fields.TEXT_B: TEXT_B}])
  (alone,) = gpt2.predict([{"text": TEXT_A}])
  assert out["tokens"] == alone["tokens"]
  with pytest.raises(ExbertError, match="text_b"):
    gpt2.encode(TEXT_A, None, TEXT_B)


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "exbert_lit", *args], capture_output=True,
                        text=True, timeout=300)


def test_cli_predict_pair(tiny_bert_dir, bert):
  import json
  done = _cli("predict", "--model", str(tiny_bert_dir), "--text", TEXT_A, "--text-b", TEXT_B,
              "--json")
  assert done.returncode == 0, done.stderr
  doc = json.loads(done.stdout)
  (pred,) = bert.predict([{"text": TEXT_A, fields.TEXT_B: TEXT_B}])
  assert doc["tokens"] == pred["tokens"]
  assert doc["text_b"] == TEXT_B
  assert doc["segments"] == [int(s) for s in pred[fields.SEGMENT_IDS]]
  done = _cli("predict", "--model", str(tiny_bert_dir), "--text", TEXT_A, "--text-b", TEXT_B,
              "--attention", "weights", "--layer", "1", "--json")
  assert done.returncode == 0, done.stderr
  np.testing.assert_allclose(json.loads(done.stdout)["attention"]["values"],
                             pred[fields.attention(1)], atol=1e-5)


def test_cli_causal_refuses_text_b_before_loading(tiny_gpt2_dir, tmp_path):
  # A directory with the config and tokenizer but no weights: the refusal must come first.
  import shutil
  partial = tmp_path / "gpt2"
  shutil.copytree(tiny_gpt2_dir, partial)
  for weights in partial.glob("*.safetensors"):
    weights.unlink()
  done = _cli("predict", "--model", str(partial), "--text", TEXT_A, "--text-b", TEXT_B)
  assert done.returncode != 0
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and "--text-b" in lines[0] and "causal" in lines[0], done.stderr
