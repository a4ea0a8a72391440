"""How far the stored top-K attention summaries pin down the max-attended token of a head set.

For one head the stored top-1 is exact. For a set S of heads (the corpus view's `max_att` for
4-[1,3,9]; a head-set grid), the position attended most is the argmax of the mean over S, and
the store has only each head's K largest weights. Every weight it did not keep is at most that
head's K-th kept weight w_h(K), so for each position j:

    low(j)  = (1/|S|) * sum of the kept weights of j            (what the search uses)
    high(j) = low(j) + (1/|S|) * sum over heads not keeping j of w_h(K)

The stored argmax j* is certainly the true one when low(j*) >= high(j) for every other j,
including positions no head kept (high = (1/|S|) * sum of all w_h(K)). `certified` counts the
tokens for which this holds: a measured lower bound on how often a head-set profile is exact.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def certified(top_pos: np.ndarray, top_weight: np.ndarray, heads: Sequence[int]) -> np.ndarray:
  """Whether the stored argmax of the mean over `heads` is provably the true argmax.

  top_pos: int [n, H, K] (-1 = padding); top_weight: float [n, H, K], descending per head;
  heads: 1-based. Returns bool [n]."""
  chosen = np.asarray(heads, dtype=np.int64) - 1
  pos = np.asarray(top_pos[:, chosen], dtype=np.int64)                 # [n, S, K]
  weight = np.asarray(top_weight[:, chosen], dtype=np.float64)
  n, s, k = pos.shape
  kth = np.where(pos[..., -1] >= 0, weight[..., -1], 0.0)              # [n, S] w_h(K)
  width = int(pos.max(initial=0)) + 1
  low = np.zeros((n, width))
  kept_by = np.zeros((n, s, width), dtype=bool)
  rows = np.broadcast_to(np.arange(n)[:, None, None], pos.shape)
  heads_idx = np.broadcast_to(np.arange(s)[None, :, None], pos.shape)
  ok = pos >= 0
  np.add.at(low, (rows[ok], pos[ok]), weight[ok])
  kept_by[rows[ok], heads_idx[ok], pos[ok]] = True
  slack = (kth[:, :, None] * ~kept_by).sum(axis=1)                     # [n, width]
  low, slack = low / s, slack / s
  seen = kept_by.any(axis=1)
  best = np.where(seen, low, -np.inf).argmax(axis=1)
  high = np.where(seen, low + slack, -np.inf)
  high[np.arange(n), best] = -np.inf
  unseen_high = kth.sum(axis=1) / s                                    # any position none kept
  rival = np.maximum(high.max(axis=1), unseen_high)
  return low[np.arange(n), best] >= rival


def certified_share(table, layer: int, heads: Sequence[int], rows: np.ndarray) -> float:
  """The share of token `rows` whose head-set max-attended token at `layer` (1-based) is
  provably exact from the store's summaries (see module docstring)."""
  rows = np.asarray(rows, dtype=np.int64)
  if rows.size == 0:
    return float("nan")
  return float(certified(np.asarray(table.top_pos[rows, layer - 1]),
                         np.asarray(table.top_weight[rows, layer - 1]), heads).mean())
