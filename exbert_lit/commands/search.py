"""`exbert-lit search`: what a corpus says about one token of a sentence at one layer."""
from __future__ import annotations

import json
import sys

from exbert_lit.analysis import positions


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "search", help="search a corpus index for the tokens nearest to one token of a text",
      description="Run the index's model on --text, take the representation of one token at "
      "--layer and show its nearest corpus tokens with histograms of their labels. Layers are "
      "1..L (0 = input embeddings, embedding search only); heads 1..H; the paper's 4-[1,3,9] "
      "notation is accepted by --layer.")
  p.add_argument("--index", required=True, help="directory written by `exbert-lit index`")
  p.add_argument("--text", required=True, help="the sentence; [MASK] is the mask token")
  which = p.add_mutually_exclusive_group(required=True)
  which.add_argument("--token", type=int, metavar="N",
                     help="0-based word-piece index, special tokens included")
  which.add_argument("--word", metavar="W", help="the first word-piece of the first W in text")
  p.add_argument("--layer", required=True, help="layer, or layer-head / layer-[heads]")
  p.add_argument("--kind", choices=("embedding", "context"), default="embedding")
  p.add_argument("--heads", default=None, help="1-based heads, e.g. 1,3,9 (default all)")
  p.add_argument("--k", type=int, default=50, help="number of matches (default 50)")
  p.add_argument("--offsets", default="-1,1", help="neighbour offsets (default -1,1; write --offsets=-2,2 when the first is negative)")
  p.add_argument("--model", default=None, help="load the model from here instead of the name "
                 "in the index's manifest (must be the same model)")
  p.add_argument("--show", type=int, default=10, help="matches to print (default 10)")
  p.add_argument("--json", action="store_true", help="print the SearchResult as JSON")
  p.set_defaults(func=run)


def parse_offsets(text: str) -> list[int]:
  try:
    return [int(o) for o in text.replace(" ", "").split(",") if o]
  except ValueError:
    raise ValueError(f"--offsets must be comma-separated whole numbers like -1,1, "
                     f"not {text!r}") from None


def find_word(text: str, word: str, offsets, special) -> int:
  """Index of the first word-piece of the first whole-word occurrence of `word` in `text`
  (analysis.positions' matching: `a` does not match inside `ran`)."""
  if not word:
    raise ValueError("--word is empty")
  found = positions.whole_word_matches(text, word)
  if not found:
    raise ValueError(f"--word {word!r} does not occur in the text")
  position = positions.first_piece(offsets, special, found[0].start(), found[0].end())
  if position is None:
    raise ValueError(f"--word {word!r} has no word-piece (was the text truncated?)")
  return position


def run(args) -> int:
  from exbert_lit.cli import UserError  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top

  layer, heads = search.parse_layer_heads(args.layer)
  if args.heads is not None:
    if heads is not None:
      raise UserError("give the heads once: in --layer (4-[1,3,9]) or in --heads")
    heads = search.parse_heads(args.heads)
  offsets = parse_offsets(args.offsets)
  index = search.CorpusIndex.open(args.index)
  # Check everything the index can check before the (slow) model load.
  index.check_layer(layer, args.kind)
  heads = search.check_heads(heads, index.num_heads)
  if args.k < 1:
    raise UserError(f"k must be a positive number of matches, not {args.k}")
  model = load_model(args.model or index.model_name, compute_gradients=False)
  store.check_model(index.manifest, model)
  (internals,) = model.internals([args.text])
  if args.word is not None:
    position = find_word(args.text, args.word, internals.offsets, internals.special)
  else:
    position = args.token
    if not 0 <= position < len(internals.tokens):
      raise UserError(f"--token {position} is out of range: the text has "
                      f"{len(internals.tokens)} word-pieces (0..{len(internals.tokens) - 1})")
  vector = search.vector_of(internals, args.kind, layer, position)
  result = index.search(vector, layer=layer, kind=args.kind, heads=heads, k=args.k,
                        offsets=offsets)
  if args.json:
    json.dump(result, sys.stdout, ensure_ascii=False)
    print()
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
