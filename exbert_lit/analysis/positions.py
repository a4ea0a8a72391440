"""Finding a word of the user's text among the model's word-pieces (by character offsets)."""
from __future__ import annotations

import re


def word_position(internals, word: str, occurrence: int = 1) -> int:
  """0-based index of the first word-piece of the `occurrence`-th whole-word `word` in `text`.

  Args:
    internals: the model's SentenceInternals of the text (its text, tokens, offsets, special).
    word: the word as typed, e.g. "told" or "[MASK]"; a word made of letters must match whole
      (`a` does not match inside `ran`).
  Raises ValueError when the word is missing.
  """
  text, tokens, offsets, special = (internals.text, internals.tokens, internals.offsets,
                                    internals.special)
  pattern = re.escape(word)
  if re.match(r"\w", word):
    pattern = r"(?<!\w)" + pattern
  if re.search(r"\w$", word):
    pattern += r"(?!\w)"
  found = list(re.finditer(pattern, text))
  if len(found) < occurrence:
    raise ValueError(f"{word!r} does not occur {occurrence} time(s) in {text!r}")
  m = found[occurrence - 1]
  for i, ((a, b), is_special) in enumerate(zip(offsets, special)):
    if not is_special and a < m.end() and b > m.start():
      return i
  raise ValueError(f"{word!r} has no word-piece among {list(tokens)} (was the text truncated?)")
