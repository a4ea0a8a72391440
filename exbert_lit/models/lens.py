"""The logit lens (nostalgebraist 2020): what the model would predict if it stopped at layer l.

The model's own read-out applied to E(l), for l = 0..L:
- causal LMs: final norm (and OPT's project_out), then the unembedding (`lm_head`). E(L) is
  already after the final norm (docs/FIELDS.md, "What E(l) is"), so at l = L only the unembedding
  is applied, and the lens at the last layer is exactly the model's own prediction;
- masked LMs: the whole MLM head (BERT's `cls`: dense, activation, LayerNorm, decoder), which
  is what the model applies to its last layer too (encoders have no final norm).
A model without an LM head (a sentence encoder such as minilm) has no read-out: no lens.

Cost: L+1 products of [T, D] with [D, V] (SmolLM2: 31 x 64 x 576 x 49152, about 6 forwards),
so it is computed only when asked for, one layer at a time ([T, V] logits live at once).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import torch

from exbert_lit.errors import ExbertError

# Masked LMs: the modules of the MLM head, applied in order, relative to the LM model.
MASKED_HEADS: dict[str, tuple[str, ...]] = {
    "bert": ("cls",),
    "roberta": ("lm_head",),
    "xlm-roberta": ("lm_head",),
    "camembert": ("lm_head",),
    "electra": ("generator_predictions", "generator_lm_head"),
    "distilbert": ("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
}
# Causal LMs: what the model applies to the last block's output before the unembedding,
# relative to `model.base_model`; a path whose module is None (OPT without them) is skipped.
FINAL_NORMS: dict[str, tuple[str, ...]] = {
    "gpt2": ("ln_f",),
    "llama": ("norm",),
    "mistral": ("norm",),
    "qwen2": ("norm",),
    "qwen3": ("norm",),
    "gpt_neox": ("final_layer_norm",),
    "opt": ("decoder.final_layer_norm", "decoder.project_out"),
}

Readout = Callable[[torch.Tensor, int], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class LensResult:
  """One sentence's lens. ids/probs: [L+1, T, k] top-k per layer (probabilities from the softmax
  over the whole vocabulary, descending); final_rank: [L+1, T], the 1-based rank at layer l of
  the last layer's top-1 token (1 = it is layer l's top-1 too)."""
  ids: torch.Tensor
  probs: torch.Tensor
  final_rank: torch.Tensor


def _modules(root: torch.nn.Module, paths: Sequence[str]) -> list[torch.nn.Module]:
  out = []
  for path in paths:
    parent, _, last = path.rpartition(".")
    module = getattr(root.get_submodule(parent) if parent else root, last, None)
    if module is not None:
      out.append(module)
  return out


def readout(model: torch.nn.Module, model_type: str, *, is_causal: bool, has_head: bool,
            num_layers: int) -> Optional[Readout]:
  """The function (E(l) [..., D], l) -> logits [..., V] of this model, or None where there is
  none (no LM head, or an architecture missing from the tables above)."""
  if not has_head:
    return None
  if is_causal:
    if model_type not in FINAL_NORMS:
      return None
    norms = _modules(getattr(model, "base_model", model), FINAL_NORMS[model_type])
    unembed = model.get_output_embeddings()

    def causal(hidden: torch.Tensor, layer: int) -> torch.Tensor:
      if layer < num_layers:
        for module in norms:
          hidden = module(hidden)
      return unembed(hidden)
    return causal
  if model_type not in MASKED_HEADS:
    return None
  head = _modules(model, MASKED_HEADS[model_type])

  def masked(hidden: torch.Tensor, layer: int) -> torch.Tensor:  # pylint: disable=unused-argument
    for module in head:
      hidden = module(hidden)
    return hidden
  return masked


def no_lens_error(name: str, model_type: str, has_head: bool) -> ExbertError:
  if not has_head:
    return ExbertError(f"model '{name}' has no language-model head (an encoder): it has no "
                       "logit lens; use a masked or causal LM")
  return ExbertError(f"model '{name}' ({model_type}): the logit lens knows no read-out for this "
                     f"architecture (known: {', '.join(sorted({**MASKED_HEADS, **FINAL_NORMS}))})")


def logit_lens(hidden: Sequence[torch.Tensor], read: Readout, k: int) -> LensResult:
  """The lens of one sentence. hidden: L+1 x [T, D] (E(0)..E(L)); k: tokens kept per layer."""
  with torch.no_grad():
    last = len(hidden) - 1
    final_logits = read(hidden[last], last)                           # [T, V]
    final_ids = final_logits.argmax(-1)                               # [T]
    ids, probs, ranks = [], [], []
    for layer, states in enumerate(hidden):
      logits = final_logits if layer == last else read(states, layer)
      values, top = torch.topk(logits, min(k, logits.shape[-1]), dim=-1)
      probs.append(torch.exp(values - torch.logsumexp(logits, dim=-1, keepdim=True)))
      ids.append(top)
      target = logits.gather(-1, final_ids[:, None])                  # [T, 1]
      ranks.append(1 + (logits > target).sum(-1))
  return LensResult(ids=torch.stack(ids), probs=torch.stack(probs),
                    final_rank=torch.stack(ranks))


def first_layer_in_top(final_rank: torch.Tensor, top: int) -> torch.Tensor:
  """Per position, the first layer at which the final top-1 token is within the lens' top
  `top` ([L+1, T] -> [T] ints; it always is at the last layer, so every position has one)."""
  inside = final_rank <= top
  return inside.to(torch.int64).argmax(0)
