"""The vector maths of a corpus store: what is indexed for each token, normalised so that an
inner product is a cosine (per head for contexts), and the attention summaries kept instead of
the full attention. Pure numpy; the build writes these, search normalises queries alike."""
from __future__ import annotations

import numpy as np


def normalize_rows(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
  """L2-normalises the last axis (zero rows stay zero).   [..., D] -> [..., D] float32"""
  x = np.asarray(x, dtype=np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def normalize_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
  """Each head's dh-slice of the last axis to unit norm.   [..., H*dh] -> [..., H*dh]"""
  shape = x.shape
  heads = np.asarray(x, dtype=np.float32).reshape(*shape[:-1], num_heads, -1)
  return normalize_rows(heads).reshape(shape)


def sentence_vectors(internals, num_heads: int) -> dict[tuple[str, int], np.ndarray]:
  """(kind, layer) -> one sentence's normalised vectors, as the store indexes them:
  E(l) [T, D] per vector for l = 0..L, C(l) [T, H*dh] per head for l = 1..L.

  Args:
    internals: the sentence's api.SentenceInternals.
  """
  out = {}
  for layer in range(internals.embeddings.shape[0]):
    out[("embedding", layer)] = normalize_rows(internals.embeddings[layer])
  for layer in range(1, internals.contexts.shape[0] + 1):
    out[("context", layer)] = normalize_heads(internals.contexts[layer - 1], num_heads)
  return out


def summarize_attention(attention: np.ndarray, top_k: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """What the histograms need of one sentence's attention, so search needs no model run.

  Args:
    attention: [L, H, T, T], attention[l, h, i, j] = weight of token i on token j.
  Returns:
    top_pos: int16 [T, L, H, K] the K positions token i attends to most (descending weight;
      ties to the lower position), K = min(top_k, T) padded with -1 up to top_k.
    top_weight: float16 [T, L, H, K] their weights (0 where padded).
    mean_argmax: int16 [T, L] argmax over j of the attention averaged over all heads.
  """
  att = np.asarray(attention, dtype=np.float32)
  num_layers, num_heads, t, _ = att.shape
  k = min(top_k, t)
  if k < t:  # partial selection, then order the k by weight (ties: lower position first)
    candidates = np.sort(np.argpartition(-att, k - 1, axis=-1)[..., :k], axis=-1)
    cand_w = np.take_along_axis(att, candidates, axis=-1)
    order = np.take_along_axis(candidates, np.argsort(-cand_w, axis=-1, kind="stable"), -1)
  else:
    order = np.argsort(-att, axis=-1, kind="stable")                   # [L, H, T, k]
  weights = np.take_along_axis(att, order, axis=-1)
  top_pos = np.full((t, num_layers, num_heads, top_k), -1, dtype=np.int16)
  top_weight = np.zeros((t, num_layers, num_heads, top_k), dtype=np.float16)
  top_pos[..., :k] = order.transpose(2, 0, 1, 3)
  top_weight[..., :k] = weights.transpose(2, 0, 1, 3)
  mean_argmax = att.mean(axis=1).argmax(axis=-1).T.astype(np.int16)  # [T, L]
  return top_pos, top_weight, mean_argmax
