"""Errors over HTTP: one line to the client, the traceback to the server log only.

LIT's WSGI app answers an exception raised by a handler with HTTP 500 and the body
`Uncaught error: <str(e)>\\n\\nDetails: <traceback>` (lit_nlp/lib/wsgi_app.py), served as
text/html, after logging both. `rewrite_lit_error` turns that body into ours: the first line of
the message, and a Details line without the traceback. LIT's client shows the part before
`\\n\\nDetails:` in its status bar (api_service.ts), so that separator stays.

User errors (`ExbertError`, and the `ValueError`s LIT and its components raise for bad input)
get HTTP 400 and the message alone; anything else is a bug: HTTP 500 and
`Uncaught error: <type>: <message>`. Responses are text/plain, so a name echoed from a request
is never read as HTML.

tests/test_server_lit_contract.py pins LIT's error body format.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Optional

LIT_PREFIX = "Uncaught error: "   # lit_nlp/lib/wsgi_app.py, App.__call__
DETAILS = "\n\nDetails: "          # the separator LIT's client splits on
USER_ERROR_TYPES = frozenset({"ExbertError", "ValueError"})
CONTENT_TYPE = "text/plain; charset=utf-8"
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")   # "pkg.module.TypeName: message"


@dataclasses.dataclass(frozen=True)
class ErrorResponse:
  """What the client gets for a failed request."""
  status: int      # 400: the request was wrong; 500: a bug in the server
  body: str

  @property
  def status_line(self) -> str:
    return f"{self.status} {'BAD REQUEST' if self.status == 400 else 'INTERNAL SERVER ERROR'}"


def one_line(message: str) -> str:
  """The first non-blank line of a message."""
  lines = [line.strip() for line in str(message).splitlines() if line.strip()]
  return lines[0] if lines else ""


def exception_type(traceback_text: str) -> str:
  """The unqualified name of the last exception in a Python traceback ('' if none is found):
  the first unindented line after the last `  File "..."` frame, up to its colon."""
  lines = traceback_text.splitlines()
  frames = [i for i, line in enumerate(lines) if line.startswith('  File "')]
  for line in lines[frames[-1] + 1:] if frames else []:
    if line and not line[0].isspace():
      match = _EXCEPTION_LINE.match(line)
      return match.group(1).rsplit(".", 1)[-1] if match else ""
  return ""


def error_response(message: str, type_name: str, path: str, *,
                   traceback_logged: bool) -> ErrorResponse:
  """Our response for an error of type `type_name` (unqualified) raised serving `path`."""
  message = one_line(message) or "no message"
  where = f"{type_name or 'error'} in {path}"
  details = (f"{where}; the traceback is in the server log" if traceback_logged
             else f"{where}; refused before anything ran")
  if type_name in USER_ERROR_TYPES:
    return ErrorResponse(400, message + DETAILS + details)
  headline = f"{LIT_PREFIX}{type_name or 'Exception'}: {message}"
  return ErrorResponse(500, headline + DETAILS + details)


def rewrite_lit_error(body: str, path: str) -> Optional[ErrorResponse]:
  """Our response for LIT's error body, or None if `body` is not one."""
  if not body.startswith(LIT_PREFIX) or DETAILS not in body:
    return None
  head, traceback_text = body[len(LIT_PREFIX):].split(DETAILS, 1)
  return error_response(head, exception_type(traceback_text), path, traceback_logged=True)
