"""Two readings of attention that are more faithful than the raw weights, as pure functions.

- Value-weighted attention (Kobayashi et al. 2020, "Attention is not only a weight"): what token
  j actually adds to token i through head h is alpha_ij^h * f^h(x_j), f^h(x_j) = v_j^h W_O^h, the
  head's value of j sent through that head's slice of the output projection. A weight on a token
  whose transformed value is tiny (often [CLS], [SEP], <s>, punctuation) moves little, so the
  norm ||alpha_ij^h f^h(x_j)|| = alpha_ij^h ||f^h(x_j)|| ranks the tokens by what they give.
  Under grouped-query attention query head h reads the value head it shares (h // (H / Hkv),
  the order of Hugging Face's `repeat_kv`). The output projection's bias is added once per
  token, not per source, so it is left out (as in the paper).
- Attention rollout (Abnar & Zuidema 2020): the residual connection carries each token on, so
  a layer's attention is taken as 0.5 * (mean over heads) + 0.5 * I, row-normalised, and the
  layers compose by matrix product: rollout(l) = A~(l) @ A~(l-1) @ ... @ A~(1). A product of
  lower-triangular row-stochastic matrices stays so: causal rollout stays lower-triangular.

Shapes: L layers, H query heads, Hkv value heads, T tokens, dh head size, D output size.
"""
from __future__ import annotations

import torch


def transformed_values(values: torch.Tensor, out_weights: torch.Tensor) -> torch.Tensor:
  """f^h(x_j) = v_j^{kv(h)} W_O^h for every query head h and token j.

  values: [B, T, Hkv, dh] (internals.read_values); out_weights: [H, dh, D]
  (internals.output_weights_per_head) -> [B, H, T, D].
  """
  heads, kv_heads = out_weights.shape[0], values.shape[2]
  if heads % kv_heads:
    raise ValueError(f"{heads} query heads cannot share {kv_heads} value heads")
  shared = values.repeat_interleave(heads // kv_heads, dim=2)        # [B, T, H, dh]
  return torch.einsum("bthd,hde->bhte", shared.to(out_weights.dtype), out_weights)


def value_norms(values: torch.Tensor, out_weights: torch.Tensor) -> torch.Tensor:
  """||f^h(x_j)||: [B, T, Hkv, dh], [H, dh, D] -> [B, H, T] (the definition; the server uses
  value_norms_from_grams, the same numbers without the [B, H, T, D] vectors)."""
  return torch.linalg.vector_norm(transformed_values(values, out_weights), dim=-1)


def output_grams(out_weights: torch.Tensor) -> torch.Tensor:
  """G^h = W_O^h (W_O^h)^T, [H, dh, D] -> [H, dh, dh], float64: once per model."""
  weights = out_weights.to(torch.float64)
  return weights @ weights.transpose(-1, -2)


def value_norms_from_grams(values: torch.Tensor, grams: torch.Tensor) -> torch.Tensor:
  """||f^h(x_j)|| = sqrt(v G^h v^T): [B, T, Hkv, dh], [H, dh, dh] -> [B, H, T] in the values'
  dtype. dh/D of the work of value_norms (SmolLM2: 1/9), in float64 so that nothing is lost
  to the square."""
  heads, kv_heads = grams.shape[0], values.shape[2]
  if heads % kv_heads:
    raise ValueError(f"{heads} query heads cannot share {kv_heads} value heads")
  shared = values.to(torch.float64).repeat_interleave(heads // kv_heads, dim=2)   # [B, T, H, dh]
  squared = (torch.einsum("bthd,hde->bthe", shared, grams) * shared).sum(-1)     # [B, T, H]
  return squared.clamp_min(0).sqrt().transpose(1, 2).to(values.dtype)


def attention_norm(attention: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
  """||alpha_ij^h f^h(x_j)|| = alpha_ij^h ||f^h(x_j)|| (alpha >= 0).

  attention: [..., H, T, T]; norms: [..., H, T] (per source token j) -> [..., H, T, T].
  """
  return attention * norms.unsqueeze(-2)


def rescale_rows(matrix: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
  """Each row divided by its sum (display scale: a row sums to 1, like attention); [..., T, T].
  An all-zero row stays zero."""
  return matrix / matrix.sum(-1, keepdim=True).clamp_min(eps)


def rollout(attention: torch.Tensor) -> torch.Tensor:
  """Attention rollout after every layer: [L, H, T, T] -> [L, T, T] (float64 products, returned
  in the input's dtype). Entry [l-1, i, j]: how much of token j's input reaches token i after
  layer l, with the residual counted as half of every layer."""
  layers, _, tokens, _ = attention.shape
  eye = torch.eye(tokens, dtype=torch.float64)
  mixed = 0.5 * attention.to(torch.float64).mean(1) + 0.5 * eye          # [L, T, T]
  mixed = mixed / mixed.sum(-1, keepdim=True)
  out = torch.empty_like(mixed)
  current = eye
  for layer in range(layers):
    current = mixed[layer] @ current
    current = current / current.sum(-1, keepdim=True)
    out[layer] = current
  return out.to(attention.dtype)
