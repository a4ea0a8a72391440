"""Heads (exBERT paper, section 4): what does one head point at?

Two views of a head's max-attended tokens:
  1. Ranking: every head of the model, by how often its max-attended token carries a label
     (default DEP = aux) over the whole corpus store (as demos/rank_heads.py).
  2. One head (--layer-head, default the top-ranked one), one query: context search with that
     head only for a token of a sentence (default "escaped" in "She would have escaped the din
     of the city if she could."), and the distribution of the dependency labels of the tokens
     the k matches attend to most with that head, beside the head's corpus-wide distribution.
Special tokens (and, for causal models, each sentence's first token, their attention sink)
are skipped as targets unless --keep-special / --keep-first; see exbert_lit/analysis/heads.py.
The paper: BERT-base head 5-3 points to AUX, 7-5 to POBJ, 5-5 links pronouns to entities; GPT-2
has heads for AUX and DOBJ. Try `--model bert-base-cased --layer-head 5-3` where the hub is
reachable.

  python demos/heads.py                                   # minilm, DEP = aux, Brown
  python demos/heads.py --model smollm2 --label dobj --text "She opened the door." --word opened

Writes <out>/heads.json and <out>/heads.png.
"""
from __future__ import annotations

import collections
import pathlib
import sys
import time
from typing import Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # pylint: disable=g-import-not-at-top,wrong-import-position
import rank_heads  # pylint: disable=g-import-not-at-top,wrong-import-position
from exbert_lit import notation  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "heads"
TEXT = "She would have escaped the din of the city if she could."
WORD = "escaped"


def main(argv: Optional[list[str]] = None) -> int:
  p = _common.parser(NAME, __doc__.split("\n\n")[1], "minilm")
  rank_heads.add_label_options(p)
  p.add_argument("--layer-head", type=_common.notation_type(notation.parse_selection),
                 default=None, metavar="L-H",
                 help="the head to inspect, e.g. 5-3 (default: the top-ranked head)")
  p.add_argument("--text", default=TEXT, help="query sentence")
  p.add_argument("--word", default=WORD, help="query word in --text (its first word-piece)")
  args = p.parse_args(argv)
  from exbert_lit.analysis import heads  # pylint: disable=g-import-not-at-top
  from exbert_lit.analysis import positions  # pylint: disable=g-import-not-at-top

  if args.layer_head and (args.layer_head.heads is None or len(args.layer_head.heads) != 1):
    raise _common.DemoError("--layer-head must name one head, like 5-3, not "
                            f"{notation.format_selection(args.layer_head)}")
  if args.layer_head and args.layer_head.layer == 0:
    raise _common.DemoError("--layer-head: layer 0 (input embeddings) has no attention heads")
  started = time.perf_counter()
  out = _common.out_dir(args, NAME)
  model = _common.load(args.model)
  # Check what the user typed before minutes of indexing.
  rank_heads.check_label_options(args)
  chosen_head = None
  if args.layer_head:
    notation.check_layer(args.layer_head.layer, model.num_layers)
    notation.check_heads(args.layer_head.heads, model.num_heads)
    chosen_head = (args.layer_head.layer, args.layer_head.heads[0])
  (internals,) = model.internals([args.text])
  position = positions.word_position(internals, args.word)
  index, store_info = _common.corpus_index(args, model)
  t0 = time.perf_counter()
  ranked = rank_heads.ranking(args, index)
  rank_seconds = time.perf_counter() - t0
  layer, head = chosen_head or (ranked["ranking"][0]["layer"], ranked["ranking"][0]["head"])
  vector = internals.contexts[layer - 1][position]
  skip, skip_first = ranked["skip_special"], ranked["skip_first"]
  query = heads.query_target_distribution(index, vector, layer, head, field=args.field,
                                          k=args.k, skip_special=skip, skip_first=skip_first)
  corpus_wide = heads.head_target_distribution(index.table, layer, head, args.field, skip,
                                               skip_first)
  rank_of_head = next(i for i, r in enumerate(ranked["ranking"], start=1)
                      if (r["layer"], r["head"]) == (layer, head))
  matches = query["result"]["matches"]
  offsets = [{"label": k, "count": v} for k, v in sorted(
      collections.Counter("none" if o is None else f"{o:+d}" if o else "0"
                          for o in query["offsets"]).items(), key=lambda kv: (-kv[1], kv[0]))]
  result = {
      "demo": NAME, "command": _common.command_line(NAME, argv),
      "model": {"name": model.name, "layers": model.num_layers, "heads": model.num_heads},
      "store": store_info,
      "ranking": {k: v for k, v in ranked.items()},
      "head": {"layer": layer, "head": head, "name": f"{layer}-{head}", "rank": rank_of_head,
               "share": ranked["ranking"][rank_of_head - 1]["share"]},
      "query": {"text": args.text, "word": args.word, "position": position,
                "token": internals.tokens[position], "k": args.k,
                "max_att": query["histogram"], "max_att_offsets": offsets,
                "matches": [{"text": m["text"], "token": m["tokens"][m["position"]],
                             "score": round(m["score"], 4),
                             "max_att_token": (None if o is None
                                               else m["tokens"][m["position"] + o])}
                            for m, o in zip(matches, query["offsets"])]},
      "corpus_wide": corpus_wide,
      "seconds": {"total": round(time.perf_counter() - started, 1),
                  "ranking": round(rank_seconds, 2), "store": store_info["seconds"]},
  }
  _common.write_json(out / f"{NAME}.json", result)
  chart(result, ranked, out / f"{NAME}.png", args.field)
  print(rank_heads.format_ranking(ranked, args.top))
  print(report(result, args.field))
  print(f"wrote {out / (NAME + '.json')} and {out / (NAME + '.png')}")
  return 0


def _shares(bins: list[dict], top: int = 8) -> list[tuple[str, float]]:
  total = sum(b["count"] for b in bins) or 1
  return [(b["label"], b["count"] / total) for b in bins[:top]]


def report(result: dict, field: str) -> str:
  h, q = result["head"], result["query"]
  lines = [f"head {h['name']} (rank {h['rank']}, corpus-wide share {h['share']:.3f}); query "
           f"{q['token']!r} in {q['text']!r}: {field.upper()} of the max-attended tokens of its "
           f"{len(q['matches'])} matches:"]
  lines.append("  " + ", ".join(f"{label} {share:.0%}" for label, share in _shares(q["max_att"])))
  lines.append(f"  corpus-wide for this head: " + ", ".join(
      f"{label} {share:.0%}" for label, share in _shares(result["corpus_wide"])))
  lines.append(f"  offsets of the max-attended token: " + ", ".join(
      f"{label} {share:.0%}" for label, share in _shares(q["max_att_offsets"], 5)))
  return "\n".join(lines)


def chart(result: dict, ranked: dict, path: pathlib.Path, field: str) -> None:
  plt = _common.pyplot()
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [1, 1.3]})
  rank_heads.heatmap(ax1, ranked, fig)
  ax1.set_title(f"all heads: max-attended token has {ranked['field'].upper()} = "
                f"{ranked['label']}", fontsize=9)
  h, q = result["head"], result["query"]
  query = dict(_shares(q["max_att"], 10))
  corpus = dict(_shares(result["corpus_wide"], 40))
  labels = list(query)
  x = range(len(labels))
  ax2.bar([i - 0.2 for i in x], [query[l] for l in labels], 0.4,
          label=f"max-attended by the {len(q['matches'])} matches of {q['token']!r}")
  ax2.bar([i + 0.2 for i in x], [corpus.get(l, 0.0) for l in labels], 0.4, color="#bbbbbb",
          label="max-attended by all corpus tokens")
  ax2.set_xticks(list(x), labels, rotation=45, ha="right", fontsize=8)
  ax2.set_ylabel("share")
  ax2.set_title(f"head {h['name']}: {field.upper()} of the max-attended token", fontsize=9)
  ax2.legend(fontsize=8)
  fig.suptitle(f"{result['model']['name']} over {result['store']['sentences']} sentences of "
               f"{result['store']['corpus']}", fontsize=10)
  _common.save_figure(fig, path)


if __name__ == "__main__":
  sys.exit(_common.run(main, name=NAME))
