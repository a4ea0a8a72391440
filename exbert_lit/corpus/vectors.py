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
  top_pos, top_weight, mean_argmax = summarize_attention_batch(
      np.asarray(attention, dtype=np.float32)[None], top_k)
  return top_pos[0], top_weight[0], mean_argmax[0]


def summarize_attention_batch(attention: np.ndarray, top_k: int
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """summarize_attention of G sentences of one length T at once (one numpy call per step
  instead of one per sentence; every row is ranked on its own, so the result is the same).

  attention: [G, L, H, T, T] -> top_pos int16 [G, T, L, H, K], top_weight float16
  [G, T, L, H, K], mean_argmax int16 [G, T, L].
  """
  att = np.asarray(attention, dtype=np.float32)
  g, num_layers, num_heads, t, _ = att.shape
  k = min(top_k, t)
  if k < t:  # partial selection, then order the k by weight (ties: lower position first)
    candidates = np.sort(np.argpartition(-att, k - 1, axis=-1)[..., :k], axis=-1)
    cand_w = np.take_along_axis(att, candidates, axis=-1)
    order = np.take_along_axis(candidates, np.argsort(-cand_w, axis=-1, kind="stable"), -1)
  else:
    order = np.argsort(-att, axis=-1, kind="stable")                   # [G, L, H, T, k]
  weights = np.take_along_axis(att, order, axis=-1)
  top_pos = np.full((g, t, num_layers, num_heads, top_k), -1, dtype=np.int16)
  top_weight = np.zeros((g, t, num_layers, num_heads, top_k), dtype=np.float16)
  top_pos[..., :k] = order.transpose(0, 3, 1, 2, 4)
  top_weight[..., :k] = weights.transpose(0, 3, 1, 2, 4)
  mean_argmax = att.mean(axis=2).argmax(axis=-1).transpose(0, 2, 1).astype(np.int16)  # [G,T,L]
  return top_pos, top_weight, mean_argmax


def summarize_sentences(attentions: list[np.ndarray], top_k: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """summarize_attention of every sentence, concatenated over their tokens in the given order:
  sentences of equal length are summarised together (summarize_attention_batch).

  attentions: per sentence [L, H, T_s, T_s] -> top_pos [sum T_s, L, H, K], top_weight
  [sum T_s, L, H, K], mean_argmax [sum T_s, L].
  """
  lengths = np.asarray([a.shape[-1] for a in attentions], dtype=np.int64)
  starts = np.concatenate([[0], np.cumsum(lengths)])
  num_layers, num_heads = attentions[0].shape[:2]
  total = int(starts[-1])
  top_pos = np.empty((total, num_layers, num_heads, top_k), dtype=np.int16)
  top_weight = np.empty((total, num_layers, num_heads, top_k), dtype=np.float16)
  mean_argmax = np.empty((total, num_layers), dtype=np.int16)
  for t in np.unique(lengths):
    members = np.flatnonzero(lengths == t)
    pos, weight, mean = summarize_attention_batch(
        np.stack([attentions[i] for i in members]), top_k)
    rows = (starts[members][:, None] + np.arange(t)[None, :]).reshape(-1)
    top_pos[rows] = pos.reshape(-1, num_layers, num_heads, top_k)
    top_weight[rows] = weight.reshape(-1, num_layers, num_heads, top_k)
    mean_argmax[rows] = mean.reshape(-1, num_layers)
  return top_pos, top_weight, mean_argmax


def concatenated_vectors(internals: list, num_heads: int, rows: int = 1024
                         ) -> dict[tuple[str, int], np.ndarray]:
  """sentence_vectors of several sentences, concatenated over their tokens in the given order
  (each row is normalised on its own, so the result equals concatenating sentence_vectors).
  Normalised `rows` rows at a time: one pass over a whole shard's [L+1, N, D] made temporaries
  of hundreds of MB, slower here than the per-sentence calls it replaced.
  (kind, layer) -> [sum T_s, D]
  """
  out = {}
  for layer in range(internals[0].embeddings.shape[0]):
    x = np.concatenate([o.embeddings[layer] for o in internals])
    for a in range(0, len(x), rows):
      x[a:a + rows] = normalize_rows(x[a:a + rows])
    out[("embedding", layer)] = x
  for layer in range(1, internals[0].contexts.shape[0] + 1):
    x = np.concatenate([o.contexts[layer - 1] for o in internals])
    for a in range(0, len(x), rows):
      x[a:a + rows] = normalize_heads(x[a:a + rows], num_heads)
    out[("context", layer)] = x
  return out
