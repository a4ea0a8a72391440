"""`exbert-lit heads`: every head of a store ranked by a label of the tokens it attends to (or
attends from), counted from the store's attention summaries (no model run)."""
from __future__ import annotations

import csv
import json
import sys

from exbert_lit.cli import positive_int

COLUMNS = ("rank", "layer", "head", "name", "label", "share", "base", "lift", "count", "sources")


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "heads", help="rank every head by a label of its max-attended (or attending) tokens",
      description="Count, for every layer and head of a corpus index, the labels of the tokens "
      "each head attends to most (--by attended) or of the tokens that attend to content with "
      "it (--by attending), from the attention summaries stored at build time: no model run. "
      "share = the label's share of the head's counts, base = what a head without preference "
      "would get (uniform attention over what it sees), lift = share / base. Fields: dep, pos, "
      "tag, ent, and offset (where the max-attended token is: -2..+2, <-2, >+2, first, or a "
      "special token such as [CLS]). The counts are cached per store "
      "(<cache>/head_profiles).")
  p.add_argument("--index", required=True, help="directory written by `exbert-lit index`")
  p.add_argument("--label", required=True, metavar="FIELD[=LABEL]",
                 help="dep=det, pos=NOUN, dep=aux,auxpass (alternatives summed), offset=-1, "
                 "offset=[CLS]; a field alone (dep) ranks each head's top label by lift")
  p.add_argument("--by", choices=("attended", "attending"), default="attended",
                 help="label of the max-attended token (default) or of the attending token")
  p.add_argument("--top", type=positive_int, default=None, metavar="N",
                 help="show the N best heads (default all)")
  p.add_argument("--min-sources", type=positive_int, default=50, metavar="N",
                 help="heads that counted fewer tokens rank last (default 50)")
  out = p.add_mutually_exclusive_group()
  out.add_argument("--json", action="store_true", help="print the ranking and the grid as JSON")
  out.add_argument("--csv", action="store_true", help="print the ranking as CSV")
  p.add_argument("--no-cache", action="store_true",
                 help="count again and do not read or write the cache")
  p.set_defaults(func=run)


def ranking(args) -> dict:
  """The JSON answer: setting, base rate, the ranked heads and the [L][H] share grid."""
  from exbert_lit.analysis import head_profiles  # pylint: disable=g-import-not-at-top
  from exbert_lit.analysis import profile_cache  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.errors import ExbertError  # pylint: disable=g-import-not-at-top

  field, labels = head_profiles.parse_label(args.label)
  if field == "offset" and args.by == "attending":
    raise ExbertError("--label offset describes the attended token: use --by attended")
  index = search.CorpusIndex.open(args.index)
  profiles = profile_cache.profiles_for(index, use_disk=not args.no_cache)
  profile = profiles[(args.by, field)]
  rows = profile.rank(labels or None, args.top, args.min_sources)
  for i, row in enumerate(rows, start=1):
    row["rank"] = i
  out = {"index": str(args.index), "model": profile.model, "field": field, "by": args.by,
         "labels": labels, "tokens": profile.tokens, "sources": profile.sources,
         "skip_special": profile.skip_special, "skip_first": profile.skip_first,
         "ranking": rows}
  if labels:
    idx = profile.label_indices(labels)
    out["base"] = float(profile.base[idx].sum())
    out["shares"] = profile.shares()[..., idx].sum(axis=-1).round(6).tolist()
  return out


def format_ranking(result: dict) -> str:
  what = (f"{result['field']} = {','.join(result['labels'])}" if result["labels"]
          else f"its most frequent {result['field']} label")
  token = "max-attended token" if result["by"] == "attended" else "attending token"
  lines = [f"{result['model']}: {result['tokens']:,} tokens, {result['sources']:,} sources; "
           f"heads by the share of tokens whose {token} has {what}"
           + (f" (base rate {result['base']:.1%})" if "base" in result else " (by lift)")]
  lines.append(f"{'rank':>4}  {'head':<6} {'label':<10} {'share':>7} {'base':>7} {'lift':>6} "
               f"{'count':>9} {'sources':>9}")
  for r in result["ranking"]:
    lines.append(f"{r['rank']:>4}  {r['name']:<6} {r['label']:<10} {r['share']:>7.1%} "
                 f"{r['base']:>7.1%} {r['lift']:>6.2f} {r['count']:>9,} {r['sources']:>9,}")
  return "\n".join(lines)


def run(args) -> int:
  result = ranking(args)
  if args.json:
    json.dump(result, sys.stdout, ensure_ascii=False)
    print()
  elif args.csv:
    from exbert_lit.corpus import export  # pylint: disable=g-import-not-at-top
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in result["ranking"]:
      writer.writerow(export.guard_row(
          {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}))
  else:
    print(format_ranking(result))
  return 0
