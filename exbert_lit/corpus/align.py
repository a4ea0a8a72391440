"""Word-piece to word alignment from character offsets: one pure function.

Tokenizers mark word boundaries differently (`##` continuations in WordPiece, `Ġ` in byte-level
BPE, `▁` in sentencepiece) and some include the preceding space in a piece's span. Character
offsets (`return_offsets_mapping`, `SentenceInternals.offsets`) sidestep all of that: a piece
belongs to the word it overlaps most. The text is never rewritten to make this work.
"""
from __future__ import annotations

import numpy as np


def align_pieces(piece_offsets: np.ndarray, special: np.ndarray,
                 word_spans: np.ndarray) -> np.ndarray:
  """Maps every word-piece to the index of the word it belongs to.

  Args:
    piece_offsets: int [T, 2] character span [start, end) of each piece in the text.
    special: bool [T] True for special tokens ([CLS], <s>, ...), which belong to no word.
    word_spans: int [W, 2] character span of each word (e.g. spaCy token) in the same text,
      in order and non-overlapping.

  Returns:
    int32 [T]: word index per piece, -1 for special pieces (and for every piece if W == 0).
    A piece overlapping several words goes to the one it overlaps most (the first on a tie),
    e.g. WordPiece `didn` of "didn't" -> spaCy's "did". A piece covering no word character
    (a bare `▁`/`Ġ` or a zero-width piece) goes to the next word, or the last word if none
    follows.
  """
  piece_offsets = np.asarray(piece_offsets, dtype=np.int64).reshape(-1, 2)
  special = np.asarray(special, dtype=bool).reshape(-1)
  word_spans = np.asarray(word_spans, dtype=np.int64).reshape(-1, 2)
  if len(special) != len(piece_offsets):
    raise ValueError(
        f"special has {len(special)} entries but piece_offsets has {len(piece_offsets)}")
  out = np.full(len(piece_offsets), -1, dtype=np.int32)
  if not len(word_spans) or not len(piece_offsets):
    return out
  starts, ends = piece_offsets[:, :1], piece_offsets[:, 1:]
  # overlap[t, w] = number of characters piece t shares with word w.   [T, W]
  overlap = (np.minimum(ends, word_spans[None, :, 1]) -
             np.maximum(starts, word_spans[None, :, 0])).clip(min=0)
  best = overlap.argmax(axis=1)  # first maximum on ties
  has_overlap = overlap.max(axis=1) > 0
  # Fallback: the first word ending after the piece's start, else the last word.
  following = np.searchsorted(word_spans[:, 1], piece_offsets[:, 0], side="right")
  following = np.minimum(following, len(word_spans) - 1)
  out[:] = np.where(has_overlap, best, following)
  out[special] = -1
  return out
