"""What bounds stored bytes against recall on a real store (`exbert-lit bench --section scale
--real STORE --scale-real-bound`).

Any compressed layout re-ranks its candidates by approximate scores: q . decode(code) instead of
q . x. Whatever the code, its loss of recall@50 is set by how large those score errors are
against the gaps between the exact scores near rank 50. This module measures both on the real
vectors:

1. The noise oracle: per query kind, the exact top-M scores of each query (M = BOUND_TOP, over
   every vector of the layer, streamed), each plus independent Gaussian noise of std sigma, and
   recall@50 of the noisy top 50 against the exact one, for a grid of sigmas. It is optimistic
   (vectors below rank M get no noise, and real code errors are no better than independent), so
   the largest sigma keeping recall@50 >= 0.95 is an upper bound on the score error a layout
   may make.
2. Each compared layout's own score error: std of q . decode(code) - q . x over the exact top
   BOUND_ERROR_ROWS of every query (its re-ranking codes; layouts without decodable codes are
   left out).

Bytes set the error: each bit per dimension halves it at best, so (1) and (2) side by side say
how many bytes per vector recall@50 >= 0.95 needs on these vectors.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from exbert_lit import notation

K = notation.DEFAULT_K
BOUND_TOP = 1000
BOUND_ERROR_ROWS = 200
SIGMAS = (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064)
TARGET = 0.95


def noise_recall(scores: np.ndarray, sigmas=SIGMAS, repeats: int = 3, seed: int = 0,
                 k: int = K) -> list[float]:
  """recall@k of the top k of `scores` plus N(0, sigma^2) noise, against the top k of
  `scores`, for each sigma (mean over queries and `repeats` draws).

  Args:
    scores: [Q, M] each query's exact top-M scores, best first (M > k).
  """
  rng = np.random.default_rng(seed)
  out = []
  for sigma in sigmas:
    found = 0.0
    for _ in range(repeats):
      noisy = scores + rng.normal(0.0, sigma, scores.shape)
      picked = np.argpartition(-noisy, k - 1, axis=1)[:, :k]
      found += float((picked < k).mean())
    out.append(found / repeats)
  return out


def sigma_for(recalls: list[float], sigmas=SIGMAS, target: float = TARGET) -> Optional[float]:
  """The largest sigma with recall >= target, interpolated on log(sigma) between grid points;
  None when even the smallest sigma misses it, the largest when none does."""
  if recalls[0] < target:
    return None
  for (s0, r0), (s1, r1) in zip(zip(sigmas, recalls), zip(sigmas[1:], recalls[1:])):
    if r1 < target:
      t = (r0 - target) / (r0 - r1)
      return float(np.exp(np.log(s0) + t * (np.log(s1) - np.log(s0))))
  return float(sigmas[-1])


def exact_top(queries: np.ndarray, chunks, m: int = BOUND_TOP) -> tuple[np.ndarray, np.ndarray]:
  """Exact inner-product top-m (scores, ids) of `queries` [Q, D] over streamed chunks."""
  import faiss  # pylint: disable=g-import-not-at-top
  from faiss.contrib import exhaustive_search  # pylint: disable=g-import-not-at-top
  return exhaustive_search.knn_ground_truth(np.ascontiguousarray(queries, np.float32), chunks,
                                            m, faiss.METRIC_INNER_PRODUCT)


def oracle(top_scores: dict[str, np.ndarray]) -> dict[str, dict]:
  """label -> the noise oracle of one query kind (see the module docstring)."""
  out = {}
  for label, scores in top_scores.items():
    recalls = noise_recall(scores)
    out[label] = {"sigmas": list(SIGMAS), "recall@50": recalls, "sigma_at_0.95": sigma_for(recalls)}
  return out


def code_error(faiss_index, query: np.ndarray, ids: np.ndarray, exact: np.ndarray
               ) -> Optional[np.ndarray]:
  """q . decode(code) - exact score for rows `ids` [n] of one query [D], decoded as the index
  re-ranks them (bench.scale_real.store_vectors), or None for an index without decodable codes."""
  import faiss  # pylint: disable=g-import-not-at-top
  from exbert_lit.bench import scale_real  # pylint: disable=g-import-not-at-top
  if not isinstance(faiss.downcast_index(faiss_index), faiss.IndexRefine):
    return None
  return scale_real.store_vectors(faiss_index, ids) @ query - exact


def code_errors(faiss_index, queries: np.ndarray, top: tuple[np.ndarray, np.ndarray],
                rows: int = BOUND_ERROR_ROWS) -> Optional[float]:
  """Std of an index's score errors over each query's exact top `rows` (None: not decodable)."""
  scores, ids = top
  errors = []
  for q, s, i in zip(queries, scores[:, :rows], ids[:, :rows]):
    e = code_error(faiss_index, q, i, s)
    if e is None:
      return None
    errors.append(e)
  return float(np.std(np.concatenate(errors)))


def errors_text(errors: dict[str, Optional[float]]) -> str:
  """'; score error std LABEL X, ...' of a layout's measured errors ('' when none)."""
  known = {label: e for label, e in errors.items() if e is not None}
  return ("; score error std " + ", ".join(f"{label} {e:.4f}" for label, e in known.items())
          if known else "")
