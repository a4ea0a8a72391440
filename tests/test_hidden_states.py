"""What E(l) is, pinned against a plain-PyTorch forward pass written from the weights.

The reference (tests/reference_forward.py, shared with the measures tests) reads the tiny
models' safetensors and config.json directly and runs GPT-2, Llama and BERT with nothing but
torch tensor operations (no transformers module, no exbert-lit code), keeping the residual
stream x_l after each block l and the final norm of x_L. The choice it pins
(docs/FIELDS.md, "What E(l) is"):
  - E(0) is the input to block 1: token + position embeddings for GPT-2, token embeddings for
    Llama, LayerNorm(token + position + type embeddings) for BERT;
  - E(l), 0 < l < L, is the raw residual stream after block l;
  - E(L) of a causal model is final_norm(x_L) (GPT-2's ln_f, Llama's norm): Hugging Face's
    last hidden state, the vector the LM head reads, not the raw stream. BERT has no final
    norm (each block ends in its own LayerNorm), so its E(L) is x_L.
"""
from __future__ import annotations

import numpy as np
import pytest

from exbert_lit.models import load_model
import reference_forward
import tiny_models

TEXT = "The cat sat on the mat while the dog slept."


@pytest.fixture(scope="module", params=sorted(reference_forward.REFERENCES))
def case(request, tiny_model_dirs):
  name = request.param
  directory = tiny_model_dirs[name]
  model = load_model(str(directory), compute_gradients=False)
  (internals,) = model.internals([TEXT])
  rec = reference_forward.run(name, directory, model.encode(TEXT).ids)
  return name, model, internals, [s.numpy() for s in rec.stream], rec.final.numpy()


def _close(a, b):
  return np.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_e0_is_the_input_to_the_first_block(case):
  _, _, internals, stream, _ = case
  assert _close(internals.embeddings[0], stream[0])


def test_middle_layers_are_the_raw_residual_stream(case):
  _, model, internals, stream, _ = case
  assert model.num_layers == tiny_models.LAYERS == len(stream) - 1
  for l in range(1, model.num_layers):
    assert _close(internals.embeddings[l], stream[l]), l


def test_last_layer_is_after_the_final_norm_for_causal_models(case):
  name, model, internals, stream, final = case
  last = internals.embeddings[model.num_layers]
  assert _close(last, final)
  if name in tiny_models.CAUSAL:
    # Not the raw stream: the final norm changes it (so this test can tell the two apart).
    assert not _close(last, stream[-1])
    assert np.abs(last - stream[-1]).max() > 0.1
  else:
    assert _close(last, stream[-1])   # BERT: no final norm, E(L) is x_L


def test_lit_token_emb_fields_are_the_same_vectors(case):
  _, model, internals, _, _ = case
  output = list(model.predict([{"text": TEXT}]))[0]
  for l in range(model.num_layers + 1):
    assert _close(output[f"layer_{l}/token_emb"], internals.embeddings[l]), l
