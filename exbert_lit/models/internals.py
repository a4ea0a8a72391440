"""Where each architecture keeps its per-head outputs, and how to capture them.

exBERT's context embedding C(l) is the concatenation over heads of each head's attention-weighted
values *before* the layer's output projection. Every Hugging Face attention implementation
reshapes those into one `[batch, tokens, heads * head_dim]` tensor and feeds it to a linear
output projection, so a forward PRE-hook on that projection sees exactly C(l) un-normalised,
whatever the attention backend. This table says where the projection lives, relative to the
model's `base_model` (so it works for headless encoders and LM-head models alike).
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
