"""Finding a word of the user's text among the model's word-pieces (by character offsets)."""
from __future__ import annotations

import re
from typing import Optional, Sequence

from exbert_lit.errors import ExbertError


def whole_word_matches(text: str, word: str) -> list[re.Match]:
  """Every occurrence of `word` in `text`; a word made of letters/digits must match whole
  (`a` does not match inside `ran`), punctuation and `[MASK]` match anywhere."""
  pattern = re.escape(word)
  if re.match(r"\w", word):
    pattern = r"(?<!\w)" + pattern
  if re.search(r"\w$", word):
    pattern += r"(?!\w)"
  return list(re.finditer(pattern, text))


def first_piece(offsets, special: Sequence[bool], start: int, end: int) -> Optional[int]:
  """0-based index of the first non-special word-piece overlapping characters [start, end);
  None when none does (e.g. the text was truncated before it)."""
  for i, ((a, b), is_special) in enumerate(zip(offsets, special)):
    if not is_special and a < end and b > start:
      return i
  return None


def word_position(internals, word: str, occurrence: int = 1) -> int:
  """0-based index of the first word-piece of the `occurrence`-th whole-word `word` in `text`.

  Args:
    internals: the model's SentenceInternals of the text (its text, tokens, offsets, special).
    word: the word as typed, e.g. "told" or "[MASK]"; a word made of letters must match whole
      (`a` does not match inside `ran`).
  Raises ValueError when the word is missing.
  """
  found = whole_word_matches(internals.text, word)
  if len(found) < occurrence:
    raise ExbertError(f"{word!r} does not occur {occurrence} time(s) in {internals.text!r}")
  m = found[occurrence - 1]
  position = first_piece(internals.offsets, internals.special, m.start(), m.end())
  if position is None:
    raise ExbertError(f"{word!r} has no word-piece among {list(internals.tokens)} "
                     "(was the text truncated?)")
  return position
