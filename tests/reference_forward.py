"""Plain-PyTorch forward passes of GPT-2, Llama and BERT written from a checkpoint's safetensors
and config.json alone (no transformers module, no exbert-lit code), keeping what the
attention measures are made of: per layer the attention weights alpha, the value vectors
v = x W_V + b_V recomputed from the weight matrices, and each head's slice W_O^h of the output
projection; and the residual stream, its final norm (what the LM head reads) and each model's
read-out for the logit lens.

The measures tests compare exbert-lit's value-weighted attention, rollout and lens with
quantities computed from this record (tests/test_measures.py); the hidden-state tests pin what
E(l) is against its stream (tests/test_hidden_states.py).
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Callable, Optional

import torch
from safetensors.torch import load_file


@dataclasses.dataclass
class Record:
  """What one sentence's reference pass keeps. L layers, H query heads, Hkv value heads."""
  alpha: list[torch.Tensor]       # L x [H, T, T]
  values: list[torch.Tensor]      # L x [Hkv, T, dh]
  out_heads: list[torch.Tensor]   # L x [H, dh, D]: W_O^h, output = sum_h ctx^h @ W_O^h + b
  stream: list[torch.Tensor]      # x_0..x_L, [T, D] (raw residual stream)
  read: Callable[[torch.Tensor], torch.Tensor]   # the read-out of a raw stream x_l -> [T, V]
  final: Optional[torch.Tensor] = None   # [T, D]: final_norm(x_L) (GPT-2's ln_f, Llama's norm);
                                         # x_L for BERT, whose blocks end in their own norm


def layer_norm(x, weight, bias, eps):
  mean = x.mean(-1, keepdim=True)
  var = ((x - mean) ** 2).mean(-1, keepdim=True)
  return (x - mean) / torch.sqrt(var + eps) * weight + bias


def rms_norm(x, weight, eps):
  return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def split_heads(x, heads):
  """[T, H*dh] -> [H, T, dh]."""
  return x.reshape(x.shape[0], heads, -1).transpose(0, 1)


def softmax_attention(q, k, causal: bool):
  """q, k: [H, T, dh] -> alpha [H, T, T]."""
  scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
  if causal:
    t = q.shape[1]
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
  return torch.softmax(scores, -1)


def mix(alpha, v):
  """alpha [H, T, T], v [H, T, dh] -> the pre-projection context [T, H*dh]."""
  return (alpha @ v).transpose(0, 1).reshape(alpha.shape[1], -1)


def rotate(x, theta):
  """Rotary position embedding of [H, T, dh] (the half-split convention of Llama checkpoints)."""
  dh = x.shape[-1]
  inv = 1.0 / theta ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh)
  angles = torch.arange(x.shape[1], dtype=torch.float32)[:, None] * inv[None]
  cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
  x1, x2 = x[..., :dh // 2], x[..., dh // 2:]
  return x * cos + torch.cat([-x2, x1], -1) * sin


def gpt2(w, c, ids) -> Record:
  """Conv1D weights: y = x @ W + b (W [in, out])."""
  eps, heads, d = c["layer_norm_epsilon"], c["n_head"], c["n_embd"]
  rec = Record([], [], [], [], None)
  x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:len(ids)]
  rec.stream.append(x)
  for l in range(c["n_layer"]):
    p = lambda name, l=l: w[f"transformer.h.{l}.{name}"]
    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"), eps)
    w_q, w_k, w_v = p("attn.c_attn.weight").split(d, -1)
    b_q, b_k, b_v = p("attn.c_attn.bias").split(d, -1)
    q, k, v = (split_heads(h @ wm + b, heads) for wm, b in ((w_q, b_q), (w_k, b_k), (w_v, b_v)))
    alpha = softmax_attention(q, k, True)
    w_o = p("attn.c_proj.weight")                                     # [H*dh, D]
    rec.alpha.append(alpha)
    rec.values.append(v)
    rec.out_heads.append(w_o.reshape(heads, -1, w_o.shape[-1]))
    x = x + mix(alpha, v) @ w_o + p("attn.c_proj.bias")
    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"), eps)
    h = torch.nn.functional.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
    x = x + h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    rec.stream.append(x)
  wte = w["transformer.wte.weight"]   # tied unembedding
  final_norm = lambda s: layer_norm(s, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"],
                                    eps)
  rec.read = lambda s: final_norm(s) @ wte.T
  rec.final = final_norm(x)
  return rec


def llama(w, c, ids) -> Record:
  """Linear weights: y = x @ W.T; grouped-query attention: query head h reads kv head
  h // (H / Hkv)."""
  eps, heads, kv = c["rms_norm_eps"], c["num_attention_heads"], c["num_key_value_heads"]
  theta = (c.get("rope_parameters") or {}).get("rope_theta") or c.get("rope_theta") or 10000.0
  rec = Record([], [], [], [], None)
  x = w["model.embed_tokens.weight"][ids]
  rec.stream.append(x)
  group = heads // kv
  for l in range(c["num_hidden_layers"]):
    p = lambda name, l=l: w[f"model.layers.{l}.{name}.weight"]
    h = rms_norm(x, p("input_layernorm"), eps)
    q = rotate(split_heads(h @ p("self_attn.q_proj").T, heads), theta)
    k = rotate(split_heads(h @ p("self_attn.k_proj").T, kv), theta)
    v = split_heads(h @ p("self_attn.v_proj").T, kv)
    alpha = softmax_attention(q, k.repeat_interleave(group, 0), True)
    w_o = p("self_attn.o_proj").T                                     # [H*dh, D]
    rec.alpha.append(alpha)
    rec.values.append(v)
    rec.out_heads.append(w_o.reshape(heads, -1, w_o.shape[-1]))
    x = x + mix(alpha, v.repeat_interleave(group, 0)) @ w_o
    h = rms_norm(x, p("post_attention_layernorm"), eps)
    h = torch.nn.functional.silu(h @ p("mlp.gate_proj").T) * (h @ p("mlp.up_proj").T)
    x = x + h @ p("mlp.down_proj").T
    rec.stream.append(x)
  unembed = w.get("lm_head.weight", w["model.embed_tokens.weight"])   # tied in SmolLM2
  final_norm = lambda s: rms_norm(s, w["model.norm.weight"], eps)
  rec.read = lambda s: final_norm(s) @ unembed.T
  rec.final = final_norm(x)
  return rec


def bert(w, c, ids) -> Record:
  """Post-LN blocks, no final norm; the MLM head is dense, gelu, LayerNorm, tied decoder."""
  eps, heads = c["layer_norm_eps"], c["num_attention_heads"]
  e = lambda name: w[f"bert.embeddings.{name}"]
  x = layer_norm(e("word_embeddings.weight")[ids] + e("position_embeddings.weight")[:len(ids)]
                 + e("token_type_embeddings.weight")[0], e("LayerNorm.weight"),
                 e("LayerNorm.bias"), eps)
  rec = Record([], [], [], [x], None)
  for l in range(c["num_hidden_layers"]):
    prefix = f"bert.encoder.layer.{l}."

    def lin(name, h, prefix=prefix):
      return h @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

    def ln(name, h, prefix=prefix):
      return layer_norm(h, w[prefix + name + ".weight"], w[prefix + name + ".bias"], eps)

    q, k, v = (split_heads(lin(f"attention.self.{n}", x), heads) for n in ("query", "key", "value"))
    alpha = softmax_attention(q, k, False)
    w_o = w[prefix + "attention.output.dense.weight"].T
    rec.alpha.append(alpha)
    rec.values.append(v)
    rec.out_heads.append(w_o.reshape(heads, -1, w_o.shape[-1]))
    x = ln("attention.output.LayerNorm", lin("attention.output.dense", mix(alpha, v)) + x)
    h = torch.nn.functional.gelu(lin("intermediate.dense", x))
    x = ln("output.LayerNorm", lin("output.dense", h) + x)
    rec.stream.append(x)
  t = lambda name: w[f"cls.predictions.transform.{name}"]

  def read(s):
    h = torch.nn.functional.gelu(s @ t("dense.weight").T + t("dense.bias"))
    h = layer_norm(h, t("LayerNorm.weight"), t("LayerNorm.bias"), eps)
    return h @ e("word_embeddings.weight").T + w["cls.predictions.bias"]
  rec.read = read
  rec.final = x
  return rec


REFERENCES = {"gpt2": gpt2, "llama": llama, "bert": bert}


def run(kind: str, directory: pathlib.Path, ids) -> Record:
  """The reference pass of the checkpoint in `directory` (of architecture `kind`) over `ids`."""
  weights = load_file(str(pathlib.Path(directory) / "model.safetensors"))
  config = json.loads((pathlib.Path(directory) / "config.json").read_text())
  with torch.no_grad():
    return REFERENCES[kind](weights, config, torch.tensor(ids))
