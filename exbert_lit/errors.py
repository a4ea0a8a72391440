"""The one error type for mistakes in what a user gave us (a file, a layer, a text, a config).

The CLI prints an `ExbertError` as one line on stderr with no traceback, and the server sends its
message (one line) to the client. Anything else is a bug and keeps its traceback. It subclasses
ValueError so callers that already catch ValueError (LIT, argparse helpers) still see it as bad input.
Standard library only: every layer of the package may import it.
"""
from __future__ import annotations


class ExbertError(ValueError):
  """A problem with the user's input, worded as one line that says what to change."""
