"""Next-token probabilities of chosen words, and where one token's attention goes, per head.

Used by the gender-bias case study ("The man visited the nurse and told" -> her / him). The
probabilities come from the model wrapper's own LIT output (`pred_tokens`, top-k next tokens
after each position); a word outside the top-k gets no probability, only the bound "below the
k-th probability", so load the model with a generous `top_k`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from exbert_lit.errors import ExbertError


def word_piece(tokenizer, word: str) -> str:
  """The single word-piece of `word` as it follows a space (" her" -> "Ġher" for byte-level BPE,
  "her" for WordPiece). Raises ExbertError if the tokenizer splits it into several pieces."""
  pieces = tokenizer.tokenize(" " + word.strip())
  if len(pieces) != 1:
    raise ExbertError(f"{word!r} is {len(pieces)} word-pieces for this tokenizer ({pieces}); "
                     f"choose words that are one piece")
  return pieces[0]


def candidate_probabilities(top_k: Sequence[tuple[str, float]],
                            pieces: Mapping[str, str]) -> dict[str, dict]:
  """Probability of each candidate among one position's top-k predictions.

  Args:
    top_k: [(piece, probability)] in descending order (one entry of `pred_tokens`).
    pieces: word -> its word-piece, e.g. {"her": "Ġher"}.
  Returns: word -> {"piece", "probability" (None if outside the top-k), "rank" (1-based or
    None), "below" (the k-th probability: an upper bound when outside the top-k)}.
  """
  probs = {piece: (rank, float(p)) for rank, (piece, p) in enumerate(top_k, start=1)}
  floor = float(top_k[-1][1]) if top_k else 1.0
  out = {}
  for word, piece in pieces.items():
    rank, p = probs.get(piece, (None, None))
    out[word] = {"piece": piece, "probability": p, "rank": rank, "below": floor}
  return out


def attention_from(attention: np.ndarray, source: int, targets: Mapping[str, int],
                   layers: Sequence[int]) -> list[dict]:
  """Attention weights from one token to named tokens, per layer and head.

  Args:
    attention: [L, H, T, T] (attention[l, h, i, j] = weight of token i on token j).
    source: 0-based position of the attending token.
    targets: name -> 0-based position, e.g. {"man": 1, "occupation": 4, "first": 0}.
    layers: 1-based layers to report.
  Returns: [{"layer", "head" (1-based), "name" ("30-4"), <target name>: weight, ...,
    "renormalised": {<target name>: weight / (1 - weight on position 0)}}]. The renormalised
    weights leave out position 0, where causal models park most attention (a "sink").
  """
  att = np.asarray(attention)
  num_layers, num_heads, t, _ = att.shape
  rows = []
  for layer in layers:
    if not 1 <= layer <= num_layers:
      raise ExbertError(f"layer {layer} is out of range: layers are numbered 1..{num_layers}")
    for head in range(num_heads):
      weights = att[layer - 1, head, source]
      rest = max(1.0 - float(weights[0]), 1e-12)
      row = {"layer": layer, "head": head + 1, "name": f"{layer}-{head + 1}"}
      row.update({name: float(weights[pos]) for name, pos in targets.items()})
      row["renormalised"] = {name: (float(weights[pos]) / rest if pos != 0 else None)
                             for name, pos in targets.items()}
      rows.append(row)
  return rows


def difference_summary(rows_a: Sequence[dict], rows_b: Sequence[dict], target: str,
                       top: int = 5) -> list[dict]:
  """Heads whose attention to `target` differs most between two sentences (a minus b).

  rows_a, rows_b: outputs of attention_from for the same layers. Returns up to `top` rows
  {"name", "a", "b", "difference"} by descending |difference|.
  """
  pairs = []
  for a, b in zip(rows_a, rows_b):
    if a["name"] != b["name"]:
      raise ValueError("rows_a and rows_b must list the same heads in the same order")
    pairs.append({"name": a["name"], "a": a[target], "b": b[target],
                  "difference": a[target] - b[target]})
  return sorted(pairs, key=lambda r: -abs(r["difference"]))[:top]
