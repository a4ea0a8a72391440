"""`exbert-lit probe`: layer probing curves of a corpus index.

Corpus-wide (default): per layer, how well the k nearest tokens of E(l) and of C(l) agree with a
token's label, for a sample of tokens (leave-one-sentence-out; no model run). With --text and
--word: for that one token, per layer, the label shares among its k embedding and context
matches (the exBERT paper's Figure 3; runs the model once).
"""
from __future__ import annotations

import csv
import json
import sys

from exbert_lit.cli import positive_int

COLUMNS = ("kind", "layer", "share", "accuracy")


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "probe", help="per layer, how well E(l) and C(l) neighbours agree on a label",
      description="For a sample of corpus tokens, search each one's own E(l) and C(l) (all "
      "heads) in the index and let its k nearest tokens from other sentences vote on its label: "
      "share = mean share of neighbours with the token's label, accuracy = share of tokens whose "
      "neighbours' majority label is theirs. With --text and --word: one token's label shares "
      "among its k matches at every layer instead.")
  p.add_argument("--index", required=True, help="directory written by `exbert-lit index`")
  p.add_argument("--label", default="pos", choices=("pos", "dep", "ent", "tag"),
                 help="label field (default pos)")
  p.add_argument("--sample", type=positive_int, default=2000, metavar="N",
                 help="tokens sampled from the corpus (default 2000)")
  p.add_argument("--k", type=positive_int, default=10, metavar="K",
                 help="neighbours per token (default 10; with --text the matches, default 10)")
  p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
  p.add_argument("--text", default=None, help="one sentence: probe one of its tokens instead")
  p.add_argument("--word", default=None, help="with --text: the word whose first piece to probe")
  p.add_argument("--heads", default=None, help="with --text: heads for context search, e.g. "
                 "1,3 (default all)")
  out = p.add_mutually_exclusive_group()
  out.add_argument("--json", action="store_true", help="print the curves as JSON")
  out.add_argument("--csv", action="store_true", help="print one row per kind and layer")
  p.set_defaults(func=run)


def one_token(args, index) -> dict:
  from exbert_lit import notation  # pylint: disable=g-import-not-at-top
  from exbert_lit.analysis import positions  # pylint: disable=g-import-not-at-top
  from exbert_lit.analysis import probing  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  from exbert_lit.errors import ExbertError  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top

  if not args.word:
    raise ExbertError("--text needs --word: the word whose first word-piece to probe")
  heads = notation.parse_heads(args.heads) if args.heads else None
  model = load_model(index.model_name, compute_gradients=False)
  store.check_model(index.manifest, model)
  (internals,) = model.internals([args.text])
  position = positions.word_position(internals, args.word)
  vectors = {("embedding", l): internals.embeddings[l][position]
             for l in range(index.num_layers + 1)}
  vectors.update({("context", l): internals.contexts[l - 1][position]
                  for l in range(1, index.num_layers + 1)})
  out = probing.token_curves(index, vectors, args.label, args.k, heads)
  out.update(text=args.text, word=args.word, position=position,
             token=internals.tokens[position])
  return out


def run(args) -> int:
  from exbert_lit.analysis import probing  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.errors import ExbertError  # pylint: disable=g-import-not-at-top

  if args.word and not args.text:
    raise ExbertError("--word needs --text")
  index = search.CorpusIndex.open(args.index)
  if args.text:
    result = one_token(args, index)
    rows = [{"kind": kind, "layer": r["layer"], "label": label, "share": share}
            for kind, series in result["layers"].items() for r in series
            for label, share in r["shares"].items()]
    columns = ("kind", "layer", "label", "share")
  else:
    result = probing.agreement(index, args.label, args.sample, args.k, args.seed)
    rows = [{"kind": kind, **r} for kind, series in result["layers"].items() for r in series]
    columns = COLUMNS
  if args.json:
    json.dump(result, sys.stdout, ensure_ascii=False)
    print()
  elif args.csv:
    from exbert_lit.corpus import export  # pylint: disable=g-import-not-at-top
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(export.guard_row(row) for row in rows)
  else:
    print(format_result(result))
  return 0


def format_result(result: dict) -> str:
  if "text" in result:
    lines = [f"{result['model']}: {result['field']} of the {result['k']} matches of "
             f"{result['token']!r} in {result['text']!r}, per layer"]
    for kind, series in result["layers"].items():
      for r in series:
        top = ", ".join(f"{label} {share:.0%}" for label, share in list(r["shares"].items())[:4])
        lines.append(f"  {kind:<9} {r['layer']:>2}  {top}")
    return "\n".join(lines)
  lines = [f"{result['model']}: kNN agreement on {result['field']} of {result['sample']:,} tokens "
           f"(k={result['k']}, neighbours from other sentences; majority label "
           f"{result['majority_label']} = {result['chance']:.1%})",
           f"  {'layer':>5}  {'E share':>8} {'E acc':>7}  {'C share':>8} {'C acc':>7}"]
  by_layer: dict = {}
  for kind, series in result["layers"].items():
    for r in series:
      by_layer.setdefault(r["layer"], {})[kind] = r
  for layer in sorted(by_layer):
    e, c = by_layer[layer].get("embedding"), by_layer[layer].get("context")
    cell = lambda r: (f"{r['share']:>8.1%} {r['accuracy']:>7.1%}" if r else f"{'':>8} {'':>7}")
    lines.append(f"  {layer:>5}  {cell(e)}  {cell(c)}")
  return "\n".join(lines)
