"""What E(l) is, pinned against a plain-PyTorch forward pass written from the weights.

The reference below reads the tiny models' safetensors and config.json directly and runs
GPT-2, Llama and BERT with nothing but torch tensor operations (no transformers module, no
exbert-lit code), keeping the residual stream x_l after each block l. The choice it pins
(docs/FIELDS.md, "What E(l) is"):
  - E(0) is the input to block 1: token + position embeddings for GPT-2, token embeddings for
    Llama, LayerNorm(token + position + type embeddings) for BERT;
  - E(l), 0 < l < L, is the raw residual stream after block l;
  - E(L) of a causal model is final_norm(x_L) (GPT-2's ln_f, Llama's norm): Hugging Face's
    last hidden state, the vector the LM head reads, not the raw stream. BERT has no final
    norm (each block ends in its own LayerNorm), so its E(L) is x_L.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from exbert_lit.models import load_model
import tiny_models

TEXT = "The cat sat on the mat while the dog slept."


def layer_norm(x, weight, bias, eps):
  mean = x.mean(-1, keepdim=True)
  var = ((x - mean) ** 2).mean(-1, keepdim=True)
  return (x - mean) / torch.sqrt(var + eps) * weight + bias


def rms_norm(x, weight, eps):
  return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def attend(q, k, v, causal: bool):
  """q: [H, T, dh], k/v: [H, T, dh] -> [T, H*dh]."""
  scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
  if causal:
    t = q.shape[1]
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
  out = torch.softmax(scores, -1) @ v
  return out.transpose(0, 1).reshape(q.shape[1], -1)


def split_heads(x, heads):
  """[T, H*dh] -> [H, T, dh]."""
  return x.reshape(x.shape[0], heads, -1).transpose(0, 1)


def gpt2_stream(w, c, ids):
  """(residual stream x_0..x_L, ln_f(x_L)). Conv1D weights: y = x @ W + b."""
  eps, heads, d = c["layer_norm_epsilon"], c["n_head"], c["n_embd"]
  x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:len(ids)]
  stream = [x]
  for l in range(c["n_layer"]):
    p = lambda name, l=l: w[f"transformer.h.{l}.{name}"]
    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"), eps)
    q, k, v = (h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")).split(d, -1)
    a = attend(split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), True)
    x = x + a @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"), eps)
    h = torch.nn.functional.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
    x = x + h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    stream.append(x)
  return stream, layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)


def rotate(x, theta):
  """Rotary position embedding of [H, T, dh] (the half-split convention of Llama checkpoints)."""
  dh = x.shape[-1]
  inv = 1.0 / theta ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh)
  angles = torch.arange(x.shape[1], dtype=torch.float32)[:, None] * inv[None]
  cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
  x1, x2 = x[..., :dh // 2], x[..., dh // 2:]
  return x * cos + torch.cat([-x2, x1], -1) * sin


def llama_stream(w, c, ids):
  """(residual stream x_0..x_L, norm(x_L)). Linear weights: y = x @ W.T; GQA by repetition."""
  eps, heads, kv = c["rms_norm_eps"], c["num_attention_heads"], c["num_key_value_heads"]
  theta = (c.get("rope_parameters") or {}).get("rope_theta") or c.get("rope_theta") or 10000.0
  x = w["model.embed_tokens.weight"][ids]
  stream = [x]
  for l in range(c["num_hidden_layers"]):
    p = lambda name, l=l: w[f"model.layers.{l}.{name}.weight"]
    h = rms_norm(x, p("input_layernorm"), eps)
    q = rotate(split_heads(h @ p("self_attn.q_proj").T, heads), theta)
    k = rotate(split_heads(h @ p("self_attn.k_proj").T, kv), theta)
    v = split_heads(h @ p("self_attn.v_proj").T, kv)
    group = heads // kv
    a = attend(q, k.repeat_interleave(group, 0), v.repeat_interleave(group, 0), True)
    x = x + a @ p("self_attn.o_proj").T
    h = rms_norm(x, p("post_attention_layernorm"), eps)
    h = torch.nn.functional.silu(h @ p("mlp.gate_proj").T) * (h @ p("mlp.up_proj").T)
    x = x + h @ p("mlp.down_proj").T
    stream.append(x)
  return stream, rms_norm(x, w["model.norm.weight"], eps)


def bert_stream(w, c, ids):
  """(residual stream x_0..x_L, x_L): post-LN blocks, no final norm."""
  eps, heads = c["layer_norm_eps"], c["num_attention_heads"]
  e = lambda name: w[f"bert.embeddings.{name}"]
  x = layer_norm(e("word_embeddings.weight")[ids] + e("position_embeddings.weight")[:len(ids)]
                 + e("token_type_embeddings.weight")[0], e("LayerNorm.weight"),
                 e("LayerNorm.bias"), eps)
  stream = [x]
  for l in range(c["num_hidden_layers"]):
    prefix = f"bert.encoder.layer.{l}."

    def lin(name, h, prefix=prefix):
      return h @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

    def ln(name, h, prefix=prefix):
      return layer_norm(h, w[prefix + name + ".weight"], w[prefix + name + ".bias"], eps)

    q, k, v = (split_heads(lin(f"attention.self.{n}", x), heads) for n in ("query", "key", "value"))
    x = ln("attention.output.LayerNorm", lin("attention.output.dense", attend(q, k, v, False)) + x)
    h = torch.nn.functional.gelu(lin("intermediate.dense", x))
    x = ln("output.LayerNorm", lin("output.dense", h) + x)
    stream.append(x)
  return stream, x


REFERENCES = {"gpt2": gpt2_stream, "llama": llama_stream, "bert": bert_stream}


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def case(request, tiny_model_dirs):
  name = request.param
  directory = tiny_model_dirs[name]
  model = load_model(str(directory), compute_gradients=False)
  (internals,) = model.internals([TEXT])
  ids = model.encode(TEXT).ids
  weights = load_file(str(directory / "model.safetensors"))
  config = json.loads((directory / "config.json").read_text())
  with torch.no_grad():
    stream, final = REFERENCES[name](weights, config, torch.tensor(ids))
  return name, model, internals, [s.numpy() for s in stream], final.numpy()


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
