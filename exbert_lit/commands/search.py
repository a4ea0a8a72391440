"""`exbert-lit search`: what a corpus says about one token of a sentence at one layer."""
from __future__ import annotations

import json
import sys

from exbert_lit import notation
from exbert_lit.analysis import positions
from exbert_lit.errors import ExbertError


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "search", help="search a corpus index for the tokens nearest to one token of a text",
      description="Run the index's model on --text, take the representation of one token at "
      "--layer and show its nearest corpus tokens with histograms of their labels. Layers are "
      "1..L (0 = input embeddings, embedding search only); heads 1..H; --layer takes the paper's "
      "notation: 5-3 is layer 5, head 3; 4-[1,3,9] and 2-[1-3,7] name several heads; 4 and 4-[] "
      "all heads. Quote it: brackets are special to the shell.")
  p.add_argument("--index", required=True, help="directory written by `exbert-lit index`")
  p.add_argument("--text", required=True, help="the sentence; [MASK] is the mask token")
  which = p.add_mutually_exclusive_group(required=True)
  which.add_argument("--token", type=int, metavar="N",
                     help="0-based word-piece index, special tokens included")
  which.add_argument("--word", metavar="W", help="the first word-piece of the first W in text")
  p.add_argument("--layer", required=True,
                 help="layer, with its heads: 5, 5-3, 4-[1,3,9], 2-[1-3,7], 4-[] (all heads)")
  p.add_argument("--kind", choices=notation.KINDS, default="embedding")
  p.add_argument("--heads", default=None,
                 help="1-based heads, e.g. 1,3,9 or [1-3,7] (default all); or give them in --layer")
  p.add_argument("--k", default=None,
                 help=f"number of matches, 1..{notation.MAX_K} (default {notation.DEFAULT_K})")
  p.add_argument("--offsets", default=None,
                 help="neighbour offsets, e.g. -2,2 or [-2,2] (default "
                 f"{','.join(map(str, notation.DEFAULT_OFFSETS))}; write --offsets=-2,2 when the "
                 "first is negative)")
  p.add_argument("--model", default=None, help="load the model from here instead of the name "
                 "in the index's manifest (must be the same model)")
  p.add_argument("--show", type=int, default=10, help="matches to print (default 10)")
  output = p.add_mutually_exclusive_group()
  output.add_argument("--json", action="store_true", help="print the SearchResult as JSON")
  output.add_argument("--csv", nargs="?", const="matches", choices=("matches", "histograms"),
                      help="print CSV: one row per match (the default), or with `histograms` one "
                      "row per histogram bin; the corpus view's CSV downloads have the same "
                      "columns")
  p.set_defaults(func=run)


def find_word(text: str, word: str, offsets, special) -> int:
  """Index of the first word-piece of the first whole-word occurrence of `word` in `text`
  (analysis.positions' matching: `a` does not match inside `ran`)."""
  if not word:
    raise ExbertError("--word is empty")
  found = positions.whole_word_matches(text, word)
  if not found:
    raise ExbertError(f"--word {word!r} does not occur in the text")
  position = positions.first_piece(offsets, special, found[0].start(), found[0].end())
  if position is None:
    raise ExbertError(f"--word {word!r} has no word-piece (was the text truncated?)")
  return position


def parse_query(args) -> tuple[notation.Selection, int, tuple[int, ...]]:
  """--layer / --heads, --k and --offsets in the notation (before anything is opened)."""
  selection = notation.parse_selection(args.layer)
  if args.heads is not None:
    if selection.heads is not None:
      raise ExbertError("give the heads once: in --layer (4-[1,3,9]) or in --heads")
    selection = notation.Selection(selection.layer, notation.parse_heads(args.heads))
  if args.word is not None and not args.word:
    raise ExbertError("--word is empty")
  return selection, notation.parse_k(args.k), notation.parse_offsets(args.offsets)


def run(args) -> int:
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top

  selection, k, offsets = parse_query(args)
  layer = selection.layer
  index = search.CorpusIndex.open(args.index)
  # Check everything the index can check before the (slow) model load.
  notation.check_layer(layer, index.num_layers, args.kind)
  index.check_layer(layer, args.kind)
  heads = search.check_heads(selection.heads, index.num_heads)
  model = load_model(args.model or index.model_name, compute_gradients=False)
  store.check_model(index.manifest, model)
  (internals,) = model.internals([args.text])
  if args.word is not None:
    position = find_word(args.text, args.word, internals.offsets, internals.special)
  else:
    position = args.token
    if not 0 <= position < len(internals.tokens):
      raise ExbertError(f"--token {position} is out of range: the text has "
                      f"{len(internals.tokens)} word-pieces (0..{len(internals.tokens) - 1})")
  vector = search.vector_of(internals, args.kind, layer, position)
  result = index.search(vector, layer=layer, kind=args.kind, heads=heads, k=k,
                        offsets=offsets)
  if args.json:
    json.dump(result, sys.stdout, ensure_ascii=False)
    print()
    return 0
  if args.csv:
    from exbert_lit.corpus import export  # pylint: disable=g-import-not-at-top
    table = export.matches_csv if args.csv == "matches" else export.histograms_csv
    sys.stdout.write(table(result))
    return 0
  print(format_result(result, internals.tokens, position, index.num_layers, args.show))
  return 0


def _bars(bins, width: int = 30, top: int = 8) -> list[str]:
  total = sum(b["count"] for b in bins) or 1
  lines = []
  for b in bins[:top]:
    share = b["count"] / total
    lines.append(f"    {b['label']:<12} {b['count']:>4} {share:6.1%} {'#' * round(share * width)}")
  if len(bins) > top:
    lines.append(f"    ... {len(bins) - top} more")
  return lines


def format_result(result, tokens: list[str], position: int, num_layers: int, show: int) -> str:
  q = result["query"]
  heads = "all heads" if q["heads"] is None else "heads " + ",".join(map(str, q["heads"]))
  lines = [f"query: {' '.join(t if i != position else f'[[{t}]]' for i, t in enumerate(tokens))}",
           f"{q['kind']} search at layer {q['layer']} of {num_layers}, {heads}, "
           f"k={q['k']}: {len(result['matches'])} matches"
           + (" (summaries centred on the following token)" if q["centre"] == "next" else ""),
           ""]
  for m in result["matches"][:show]:
    marked = " ".join(t if i != m["position"] else f"[[{t}]]" for i, t in enumerate(m["tokens"]))
    lines.append(f"  {m['score']:.3f}  {marked}")
    if m.get("meta"):   # the corpus record's metadata columns (document id...)
      lines.append("         " + "  ".join(f"{k}={v}" for k, v in m["meta"].items()))
  if len(result["matches"]) > show:
    lines.append(f"  ... {len(result['matches']) - show} more (--show N, or --json)")
  for offset, hist in result["histograms"].items():
    where = "matched token" if offset == "0" else f"neighbour {offset}"
    if q["centre"] == "next":
      where = "following token" if offset == "0" else f"neighbour {offset} of the following token"
    for field in ("pos", "dep", "ent"):
      lines += ["", f"  {where}: {field.upper()}"] + _bars(hist[field])
  if result["max_att"]["offset"]:
    for field in ("offset", "pos", "dep"):
      lines += ["", f"  max-attended token: {field.upper()}"] + _bars(result["max_att"][field])
  return "\n".join(lines)
