"""Compact, escaped HTML tables for the rich display (`_repr_html_`) of notebook results.

Everything a cell shows comes from a corpus or a model: sentences with `<script>` in them, word
pieces like `<s>` or `</w>`. So every text is escaped here, in one place, and nothing is ever
passed through as markup; the only markup is the fixed table structure and the match marker.
Standard library only (pandas frames are turned into rows by the caller).
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Optional, Sequence

MAX_ROWS = 12          # rows shown before "... N more"
MAX_CELL_CHARS = 120   # characters of a cell's text shown before an ellipsis

_STYLE = ("border-collapse:collapse;font-size:12px;margin:2px 0",
          "padding:1px 6px;text-align:left;border-bottom:1px solid #ddd;white-space:nowrap",
          "padding:1px 6px;text-align:left;vertical-align:top")


def cell_text(value: Any, max_chars: int = MAX_CELL_CHARS) -> str:
  """A value as the text of a cell: floats to 3 decimals, None and NaN as empty, long text cut."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return ""
  if isinstance(value, float):
    text = f"{value:.3f}"
  else:
    text = str(value)
  return text if len(text) <= max_chars else text[:max_chars - 1] + "…"


def escape(value: Any, max_chars: int = MAX_CELL_CHARS) -> str:
  return html.escape(cell_text(value, max_chars), quote=True)


def marked_tokens(tokens: Sequence[str], position: int, max_chars: int = MAX_CELL_CHARS) -> str:
  """Word-pieces joined by spaces, the one at `position` in bold: escaped HTML.

  Cut to about `max_chars` characters around the marked piece, so a long sentence still shows
  its match.
  """
  pieces = [html.escape(str(t), quote=True) for t in tokens]
  if 0 <= position < len(pieces):
    pieces[position] = f"<b>{pieces[position]}</b>"
  lo, hi = position, position + 1
  width = len(str(tokens[position])) if 0 <= position < len(tokens) else 0
  while (lo > 0 or hi < len(tokens)) and width < max_chars:
    if lo > 0:
      lo -= 1
      width += len(str(tokens[lo])) + 1
    if hi < len(tokens) and width < max_chars:
      width += len(str(tokens[hi])) + 1
      hi += 1
  lo, hi = max(0, min(lo, position)), min(len(pieces), max(hi, position + 1))
  return ("… " if lo > 0 else "") + " ".join(pieces[lo:hi]) + (" …" if hi < len(pieces) else "")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
          caption: Optional[str] = None, total: Optional[int] = None,
          raw_html_columns: Sequence[str] = (), max_rows: int = MAX_ROWS) -> str:
  """An HTML table of at most `max_rows` rows; every cell escaped except those in
  `raw_html_columns`, whose values the caller built from escaped parts (marked_tokens).

  Args:
    columns: header texts.
    rows: cell values, one sequence per row.
    caption: a line above the table (escaped).
    total: how many rows there are in all, for the "... N more" line (default: counted).
  """
  raw = {columns.index(c) for c in raw_html_columns}
  table_style, th_style, td_style = _STYLE
  out = [f'<table class="exbert-table" style="{table_style}">']
  if caption:
    out.append('<caption style="text-align:left;font-weight:bold">'
               f'{escape(caption, 400)}</caption>')
  out.append("<thead><tr>" + "".join(f'<th style="{th_style}">{escape(c)}</th>' for c in columns)
             + "</tr></thead><tbody>")
  shown = 0
  counted = 0
  for row in rows:
    counted += 1
    if shown >= max_rows:
      continue
    cells = [(str(v) if i in raw else escape(v)) for i, v in enumerate(row)]
    out.append("<tr>" + "".join(f'<td style="{td_style}">{c}</td>' for c in cells) + "</tr>")
    shown += 1
  out.append("</tbody></table>")
  total = counted if total is None else total
  if total > shown:
    out.append(f'<div style="font-size:11px;color:#666">… {total - shown} more rows</div>')
  return "".join(out)


def block(*parts: str) -> str:
  """Tables side by side where there is room (flex-wrap), as one output."""
  inner = "".join(f'<div style="margin-right:16px">{p}</div>' for p in parts)
  return ('<div class="exbert-result" style="display:flex;flex-wrap:wrap;'
          f'align-items:flex-start">{inner}</div>')
