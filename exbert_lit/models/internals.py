"""Where each architecture keeps its per-head outputs and values, and how to capture them.

exBERT's context embedding C(l) is the concatenation over heads of each head's attention-weighted
values *before* the layer's output projection. Every Hugging Face attention implementation
reshapes those into one `[batch, tokens, heads * head_dim]` tensor and feeds it to a linear
output projection, so a forward PRE-hook on that projection sees exactly C(l) un-normalised,
whatever the attention backend. This table says where the projection lives, relative to the
model's `base_model` (so it works for headless encoders and LM-head models alike).

Value-weighted attention (models/measures.py) needs two more things per layer: each token's
value vectors v_j (captured by a forward hook on the module that computes them, VALUE_PROJECTIONS)
and each head's slice W_O^h of that output projection (`output_weights_per_head`).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from exbert_lit.errors import ExbertError

# model_type -> path of layer i's output projection inside `model.base_model`, "{i}" = layer index.
OUTPUT_PROJECTIONS: dict[str, str] = {
    "bert": "encoder.layer.{i}.attention.output.dense",
    "roberta": "encoder.layer.{i}.attention.output.dense",
    "xlm-roberta": "encoder.layer.{i}.attention.output.dense",
    "camembert": "encoder.layer.{i}.attention.output.dense",
    "electra": "encoder.layer.{i}.attention.output.dense",
    "distilbert": "transformer.layer.{i}.attention.out_lin",
    "gpt2": "h.{i}.attn.c_proj",
    "llama": "layers.{i}.self_attn.o_proj",
    "mistral": "layers.{i}.self_attn.o_proj",
    "qwen2": "layers.{i}.self_attn.o_proj",
    "qwen3": "layers.{i}.self_attn.o_proj",
    "gpt_neox": "layers.{i}.attention.dense",
    "opt": "decoder.layers.{i}.self_attn.out_proj",
}


# model_type -> (path of layer i's value-computing module inside `model.base_model`, how its output
# holds the values): "linear" [B, T, Hkv*dh]; "gpt2" the fused c_attn [B, T, 3*D] (q | k | v);
# "neox" the fused query_key_value [B, T, H*3*dh], (q | k | v) per head.
VALUE_PROJECTIONS: dict[str, tuple[str, str]] = {
    "bert": ("encoder.layer.{i}.attention.self.value", "linear"),
    "roberta": ("encoder.layer.{i}.attention.self.value", "linear"),
    "xlm-roberta": ("encoder.layer.{i}.attention.self.value", "linear"),
    "camembert": ("encoder.layer.{i}.attention.self.value", "linear"),
    "electra": ("encoder.layer.{i}.attention.self.value", "linear"),
    "distilbert": ("transformer.layer.{i}.attention.v_lin", "linear"),
    "gpt2": ("h.{i}.attn.c_attn", "gpt2"),
    "llama": ("layers.{i}.self_attn.v_proj", "linear"),
    "mistral": ("layers.{i}.self_attn.v_proj", "linear"),
    "qwen2": ("layers.{i}.self_attn.v_proj", "linear"),
    "qwen3": ("layers.{i}.self_attn.v_proj", "linear"),
    "gpt_neox": ("layers.{i}.attention.query_key_value", "neox"),
    "opt": ("decoder.layers.{i}.self_attn.v_proj", "linear"),
}


class UnsupportedArchitectureError(ExbertError):
  """The model's type is not in OUTPUT_PROJECTIONS, so C(l) cannot be captured."""


def output_projections(model: torch.nn.Module, model_type: str,
                       num_layers: int) -> list[torch.nn.Module]:
  """The output-projection module of each layer 1..L (list index 0 = layer 1)."""
  template = OUTPUT_PROJECTIONS.get(model_type)
  if template is None:
    raise UnsupportedArchitectureError(
        f"model_type '{model_type}' is not supported for context embeddings "
        f"(supported: {', '.join(sorted(OUTPUT_PROJECTIONS))})")
  base = getattr(model, "base_model", model)
  return [base.get_submodule(template.format(i=i)) for i in range(num_layers)]


def projection_width(module: torch.nn.Module) -> int:
  """Input width of a Linear or GPT-2 Conv1D output projection (= heads * head_dim)."""
  if hasattr(module, "in_features"):
    return int(module.in_features)
  return int(module.weight.shape[0])   # transformers' Conv1D stores weight as [in, out]


def output_weights_per_head(module: torch.nn.Module, num_heads: int) -> torch.Tensor:
  """W_O^h of every head: [H, dh, D_out], so that the projection's output is
  sum_h C^h @ W_O^h + bias, C^h the head's [.., dh] slice of its input."""
  weight = module.weight.detach()
  if hasattr(module, "in_features"):     # Linear: weight [out, in]
    weight = weight.T
  width, out = weight.shape               # now [in = H*dh, out]
  return weight.reshape(num_heads, width // num_heads, out)


def value_modules(model: torch.nn.Module, model_type: str, num_layers: int
                  ) -> tuple[list[torch.nn.Module], str]:
  """Each layer's value-computing module (list index 0 = layer 1) and its layout (see
  VALUE_PROJECTIONS)."""
  if model_type not in VALUE_PROJECTIONS:
    raise UnsupportedArchitectureError(
        f"model_type '{model_type}' is not supported for value-weighted attention "
        f"(supported: {', '.join(sorted(VALUE_PROJECTIONS))})")
  template, layout = VALUE_PROJECTIONS[model_type]
  base = getattr(model, "base_model", model)
  return [base.get_submodule(template.format(i=i)) for i in range(num_layers)], layout


def read_values(output: torch.Tensor, layout: str, head_dim: int) -> torch.Tensor:
  """The values [B, T, Hkv, dh] from the output of a value-computing module (its layout)."""
  batch, tokens, width = output.shape
  if layout == "gpt2":
    output = output[..., 2 * width // 3:]
  elif layout == "neox":
    return output.reshape(batch, tokens, -1, 3 * head_dim)[..., 2 * head_dim:]
  return output.reshape(batch, tokens, -1, head_dim)


@contextlib.contextmanager
def capture_values(modules: list[torch.nn.Module], layout: str, head_dim: int
                   ) -> Iterator[list[torch.Tensor | None]]:
  """Records each layer's values [B, T, Hkv, dh] (detached) during the forward passes inside
  the block; one slot per layer, as capture_projection_inputs."""
  captured: list[torch.Tensor | None] = [None] * len(modules)

  def make_hook(layer: int):
    def hook(module, args, output):  # pylint: disable=unused-argument
      captured[layer] = read_values(output.detach(), layout, head_dim)
    return hook

  handles = [m.register_forward_hook(make_hook(i)) for i, m in enumerate(modules)]
  try:
    yield captured
  finally:
    for h in handles:
      h.remove()


@contextlib.contextmanager
def capture_projection_inputs(
    projections: list[torch.nn.Module]) -> Iterator[list[torch.Tensor | None]]:
  """Records the input of each output projection during the forward passes inside the block.

  Yields a list (one slot per layer) that the hooks fill with the detached, un-normalised
  `[batch, tokens, heads * head_dim]` input of the last forward pass. No copy is made.
  """
  captured: list[torch.Tensor | None] = [None] * len(projections)

  def make_hook(layer: int):
    def hook(module, args):  # pylint: disable=unused-argument
      captured[layer] = args[0].detach()
    return hook

  handles = [p.register_forward_pre_hook(make_hook(i)) for i, p in enumerate(projections)]
  try:
    yield captured
  finally:
    for h in handles:
      h.remove()


def normalize_heads(contexts: torch.Tensor, num_heads: int, eps: float = 1e-12) -> torch.Tensor:
  """L2-normalises each head's slice of `[..., heads * head_dim]` on its own.

  With unit-norm slices, an inner product over any subset of heads (other slices zeroed) ranks
  like the cosine similarity over those heads. An all-zero slice stays zero.
  """
  shape = contexts.shape
  per_head = contexts.reshape(*shape[:-1], num_heads, shape[-1] // num_heads)
  norms = torch.linalg.vector_norm(per_head, dim=-1, keepdim=True).clamp_min(eps)
  return (per_head / norms).reshape(shape)


def substitute_mask(text: str, typed: str, mask_token: str) -> tuple[str, list[tuple[int, int]]]:
  """Replaces each `typed` (e.g. "[MASK]") in `text` by the tokenizer's `mask_token`.

  Returns the new text and the replacements as (start in new text, length change), so
  character offsets into the new text can be mapped back to the user's text.
  """
  if not typed or typed == mask_token or typed not in text:
    return text, []
  pieces = text.split(typed)
  out, edits, pos = [], [], 0
  for i, piece in enumerate(pieces):
    out.append(piece)
    pos += len(piece)
    if i < len(pieces) - 1:
      out.append(mask_token)
      edits.append((pos, len(mask_token) - len(typed)))
      pos += len(mask_token)
  return "".join(out), edits


def map_offset_back(offset: int, edits: list[tuple[int, int]]) -> int:
  """Maps a character offset in substituted text back to the original text (see substitute_mask)."""
  shift = 0
  for start, delta in edits:
    if offset > start:
      shift += delta
  return offset - shift
