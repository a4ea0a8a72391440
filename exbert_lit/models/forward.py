"""One padded forward pass over a batch (eager attention, so the weights come back), and with
gradients one backward of one scalar.

The pass yields attention, hidden states E(l) and, through pre-hooks on the output
projections (internals.py), the context embeddings C(l). When gradients are asked for, the
word embeddings are a leaf tensor and one backward of the sum over the batch of
log p(target) at each example's focus position gives every example's token gradients.
"""
from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import numpy as np
import torch

from exbert_lit.errors import ExbertError
from exbert_lit.models import internals as internals_lib
from exbert_lit.models import measures as measures_lib
from exbert_lit.models import tokens as tokens_lib


def topk_from_logits(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
  """Top-k probabilities (softmax of the logits) and ids, without a full softmax copy.

  logits: [..., V] -> (probs [..., k], ids [..., k]), probabilities in descending order.
  """
  values, ids = torch.topk(logits, k, dim=-1)
  return torch.exp(values - torch.logsumexp(logits, dim=-1, keepdim=True)), ids


def target_margin(logits: torch.Tensor, target: int) -> float:
  """logit(target) - max logit of any other token; > 0 iff target is the unique top-1. logits: [V]."""
  top2_values, top2_ids = torch.topk(logits, 2)
  other = top2_values[1] if int(top2_ids[0]) == target else top2_values[0]
  return float(logits[target] - other)


def _padded_ids(batch: Sequence[tokens_lib.Encoded], pad_id: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
  """ids [B, T] padded with `pad_id`, attention mask [B, T] (1 = real token)."""
  n = max(e.length for e in batch)
  ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
  mask = torch.zeros((len(batch), n), dtype=torch.long)
  for b, e in enumerate(batch):
    ids[b, :e.length] = torch.tensor(e.ids, dtype=torch.long)
    mask[b, :e.length] = 1
  return ids, mask


def _padded_types(batch: Sequence[tokens_lib.Encoded], width: int) -> torch.Tensor:
  """Token type ids [B, T] (sentence pairs: 0 = segment A, 1 = B; padding and single
  sentences 0), as the model's `token_type_ids`."""
  types = torch.zeros((len(batch), width), dtype=torch.long)
  for b, e in enumerate(batch):
    types[b, :e.length] = torch.as_tensor(e.segments, dtype=torch.long)
  return types


def _word_embeddings(net: torch.nn.Module, ids: torch.Tensor, batch, input_embs
                     ) -> torch.Tensor:
  """The word embeddings of `ids` [B, T, D], with the given ones (LIT's `input_embs`, e.g.
  HotFlip's) in place of the looked-up ones where an example has them."""
  with torch.no_grad():
    word_embs = net.get_input_embeddings()(ids)
    for b, given in enumerate(input_embs or []):
      if given is not None:
        given = torch.as_tensor(np.asarray(given), dtype=word_embs.dtype, device=ids.device)
        if given.shape != (batch[b].length, word_embs.shape[-1]):
          raise ExbertError(
              f"input_embs: shape {tuple(given.shape)} does not match "
              f"{batch[b].length} tokens x {word_embs.shape[-1]} dims")
        word_embs[b, :batch[b].length] = given
  return word_embs


def forward(net: torch.nn.Module, batch: Sequence[tokens_lib.Encoded], *,
            codec: tokens_lib.TokenCodec, projections: Sequence[torch.nn.Module],
            num_heads: int, has_head: bool, is_causal: bool, device: torch.device,
            input_embs: Optional[list] = None, targets: Optional[list[Optional[str]]] = None,
            with_gradients: bool, with_logits: bool = True,
            values: Optional[tuple[Sequence[torch.nn.Module], str, int]] = None,
            out_grams: Optional[Sequence[torch.Tensor]] = None,
            with_contexts: bool = True) -> dict[str, Any]:
  """One padded forward pass of `net` (and, with gradients, one backward).

  Args:
    net: the Hugging Face model (with its LM head where `has_head`), eager attention.
    projections: each layer's attention output projection (internals.output_projections).
    input_embs: per example, given word embeddings [T, D] or None.
    targets: per example, the word-piece whose log-probability the gradients explain, or None
      (the top prediction at the focus position).
    values: (each layer's value module, its layout, head size) (internals.value_modules) to
      capture the values, with `out_grams` (each layer's W_O^h W_O^h^T, measures.output_grams):
      adds value_norms.
    with_contexts: False leaves out `contexts` (the measures do not read them).
  Returns tensors on the CPU with the batch first, padded to the longest input:
    attention: L x [B, H, T, T]; hidden: L+1 x [B, T, D]; contexts: L x [B, T, H*dh]
    (head-normalised, if with_contexts); word_embs [B, T, D]; logits [B, T, V] (if a head and
    with_logits);
    grads [B, T, D], targets [B] ids, margins [B] floats (if gradients and a head);
    value_norms: L x [B, H, T] ||v_j^h W_O^h|| (if `values`).
  The caller serialises calls: the capture hooks belong to the model.
  """
  ids, mask = _padded_ids(batch, codec.pad_id)
  ids, mask = ids.to(device), mask.to(device)
  extra: dict[str, torch.Tensor] = {}
  if codec.uses_token_types and any(e.token_type_ids is not None for e in batch):
    extra["token_type_ids"] = _padded_types(batch, ids.shape[1]).to(device)
  word_embs = _word_embeddings(net, ids, batch, input_embs)
  run: dict[str, Any] = {}
  with torch.set_grad_enabled(with_gradients):
    if with_gradients:
      word_embs.requires_grad_(True)
    with contextlib.ExitStack() as stack:
      captured = stack.enter_context(internals_lib.capture_projection_inputs(projections))
      if values is not None:
        captured_values = stack.enter_context(internals_lib.capture_values(*values))
      # Without logits or gradients the LM head (for SmolLM2 ~20% of the compute) is skipped.
      needs_head = has_head and (with_logits or with_gradients)
      runner = net if needs_head else net.base_model
      out = runner(inputs_embeds=word_embs, attention_mask=mask,
                   output_attentions=True, output_hidden_states=True, **extra)
    logits = getattr(out, "logits", None) if needs_head else None
    if with_gradients and logits is not None:
      focus = [codec.focus_position(e, is_causal) for e in batch]
      focus_logits = logits[torch.arange(len(batch)), focus]          # [B, V]
      target_ids = focus_logits.detach().argmax(-1)
      for b, t in enumerate(targets or []):
        if t:
          target_ids[b] = codec.target_id(t)
      log_probs = torch.log_softmax(focus_logits, dim=-1)
      log_probs.gather(1, target_ids[:, None]).sum().backward()
      run["grads"] = word_embs.grad.cpu()
      run["targets"] = target_ids.cpu()
      run["margins"] = [target_margin(focus_logits[b].detach(), int(target_ids[b]))
                        for b in range(len(batch))]
  # Everything returned is on the CPU (a no-op there), where numpy and LIT read it.
  run["attention"] = [a.detach().cpu() for a in out.attentions]
  run["hidden"] = [h.detach().cpu() for h in out.hidden_states]
  if with_contexts:
    run["contexts"] = [internals_lib.normalize_heads(c, num_heads).cpu() for c in captured]
  run["word_embs"] = word_embs.detach().cpu()
  if values is not None:
    with torch.no_grad():
      run["value_norms"] = [measures_lib.value_norms_from_grams(v, g).cpu()
                            for v, g in zip(captured_values, out_grams)]
  if with_logits and logits is not None:
    run["logits"] = logits.detach().cpu()
  return run
