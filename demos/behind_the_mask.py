"""Behind the mask (exBERT paper, section 4 and Figure 3).

What does a model's representation of a masked word look like, layer by layer? For the masked
token of "The girl ran to a local pub to [MASK] the din of her city." we search the corpus at
every layer, by embedding E(l) and by context C(l) over all heads, and plot the share of each
part of speech among the top-k matches. The paper (BERT-base): the share of VERB rises with
depth, and context search reaches it at an earlier layer than embedding search.

Causal models have no mask. Their representation at a position is their guess of the *next*
token, so the query is the token before the blank ("... pub to"), and the corpus search
summarises the token that follows each match (exbert_lit.corpus.search, centre = "next"). Only
the text left of the blank reaches that position, so the word written in the blank (--fill,
default "escape") does not change the result.

  python demos/behind_the_mask.py                      # minilm (headless BERT encoder), Brown
  python demos/behind_the_mask.py --model smollm2      # causal: the token before the blank
  python demos/behind_the_mask.py --model bert-base-cased   # the paper's model (hub needed)

Writes <out>/behind_the_mask.json (per kind and layer: matches counted, POS shares) and
<out>/behind_the_mask.png (share of the main POS labels per layer, one panel per kind).
"""
from __future__ import annotations

import pathlib
import sys
import time
from typing import Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "behind_the_mask"
TEXT = "The girl ran to a local pub to [MASK] the din of her city."
MASK = "[MASK]"
# Labels drawn in the chart: the focus label always, others once they reach this share.
MIN_SHARE_TO_DRAW = 0.1
COLOURS = {"VERB": "#d62728", "NOUN": "#1f77b4", "ADJ": "#2ca02c", "ADP": "#9467bd",
           "DET": "#8c564b", "PRON": "#e377c2", "ADV": "#bcbd22", "PROPN": "#17becf",
           "AUX": "#ff7f0e", "PUNCT": "#7f7f7f", "PART": "#aec7e8", "NUM": "#98df8a",
           "CCONJ": "#c5b0d5", "SCONJ": "#c49c94"}


def query_position(model, text: str, fill: str):
  """(text the model reads, query position, query token, blank token or None, internals).

  Masked LM: the [MASK] itself. Causal LM: [MASK] is replaced by `fill` and the query is the
  token before it, whose representation predicts the blank.
  """
  from exbert_lit.analysis import positions  # pylint: disable=g-import-not-at-top
  if MASK not in text:
    raise _common.DemoError(f"--text must contain {MASK} (the blank)")
  if not model.is_causal:
    (internals,) = model.internals([text])
    position = positions.word_position(internals, MASK)
    return text, position, internals.tokens[position], None, internals
  if not fill.strip():
    raise _common.DemoError("--fill is empty")
  start = text.index(MASK)
  text = text.replace(MASK, fill.strip(), 1)
  (internals,) = model.internals([text])
  blank = positions.first_piece(internals.offsets, internals.special, start, start + 1)
  if blank is None or blank == 0:
    raise _common.DemoError("the blank must follow at least one token for a causal model")
  return text, blank - 1, internals.tokens[blank - 1], internals.tokens[blank], internals


def main(argv: Optional[list[str]] = None) -> int:
  p = _common.parser(NAME, __doc__.split("\n\n")[1], "minilm")
  p.add_argument("--text", default=TEXT, help=f"sentence with one {MASK} (default: the paper's)")
  p.add_argument("--fill", default="escape",
                 help="causal models: the word written in the blank (default escape)")
  p.add_argument("--field", choices=("pos", "dep", "ent"), default="pos",
                 help="label to summarise (default pos)")
  p.add_argument("--focus", default="VERB", help="label whose rise the summary reports "
                 "(default VERB)")
  args = p.parse_args(argv)
  from exbert_lit.analysis import layer_labels  # pylint: disable=g-import-not-at-top

  started = time.perf_counter()
  out = _common.out_dir(args, NAME)
  model = _common.load(args.model)
  # The query first: a mistyped --text fails before minutes of indexing.
  text, position, token, summarised, internals = query_position(model, args.text, args.fill)
  index, store_info = _common.corpus_index(args, model)
  t0 = time.perf_counter()
  layers = layer_labels.labels_by_layer(index, internals, position, field=args.field, k=args.k)
  search_seconds = time.perf_counter() - t0

  focus = args.focus
  summary = {}
  for kind, rows in layers.items():
    summary[kind] = {
        "focus_share_by_layer": {r["layer"]: round(r["shares"].get(focus, 0.0), 3) for r in rows},
        "first_layer_focus_on_top": layer_labels.first_layer_on_top(rows, focus),
        "first_layer_focus_at_least_half": layer_labels.first_layer_reaching(rows, focus, 0.5),
        "top_label_by_layer": {r["layer"]: r["top"] for r in rows},
    }
  result = {
      "demo": NAME, "command": _common.command_line(NAME, argv),
      "model": {"name": model.name, "is_causal": bool(model.is_causal),
                "layers": model.num_layers, "heads": model.num_heads},
      "text": text, "query": {"position": position, "token": token,
                              "summarised": ("the following token of each match (causal model;"
                                             f" here the blank holds {summarised!r})"
                                             if model.is_causal else "the matched token")},
      "store": store_info, "k": args.k, "field": args.field, "focus": focus,
      "summary": summary, "layers": layers,
      "seconds": {"total": round(time.perf_counter() - started, 1),
                  "searches": round(search_seconds, 1), "store": store_info["seconds"]},
  }
  _common.write_json(out / f"{NAME}.json", result)
  chart(layers, focus, out / f"{NAME}.png",
        title=f"{model.name}: {args.field.upper()} of the top-{args.k} corpus matches of "
        f"{token!r}" + (" (next token summarised)" if model.is_causal else ""))
  print(report(result))
  print(f"wrote {out / (NAME + '.json')} and {out / (NAME + '.png')}")
  return 0


def report(result: dict) -> str:
  lines = [f"{result['model']['name']}: {result['text']}",
           f"query token {result['query']['token']!r} at position {result['query']['position']}; "
           f"{result['store']['sentences']} corpus sentences, {result['store']['tokens']} tokens; "
           f"k = {result['k']}"]
  focus = result["focus"]
  for kind, s in result["summary"].items():
    shares = " ".join(f"{l}:{v:.2f}" for l, v in s["focus_share_by_layer"].items())
    lines.append(f"  {kind:9} {focus} share by layer  {shares}")
    lines.append(f"  {kind:9} first layer where {focus} is the top label: "
                 f"{s['first_layer_focus_on_top']}; first layer >= 50%: "
                 f"{s['first_layer_focus_at_least_half']}")
  return "\n".join(lines)


def chart(layers: dict, focus: str, path: pathlib.Path, title: str) -> None:
  from exbert_lit.analysis import layer_labels  # pylint: disable=g-import-not-at-top
  plt = _common.pyplot()
  kinds = list(layers)
  fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.2), sharey=True,
                           squeeze=False)
  drawn = {focus} | {label for rows in layers.values() for r in rows
                     for label, share in r["shares"].items() if share >= MIN_SHARE_TO_DRAW}
  order = sorted(drawn, key=lambda x: (x != focus, x))
  spare = iter(plt.get_cmap("tab20").colors[1::2] + plt.get_cmap("Dark2").colors)
  colours = {label: COLOURS.get(label) or next(spare) for label in order}
  for ax, kind in zip(axes[0], kinds):
    rows = layers[kind]
    xs = [r["layer"] for r in rows]
    for label in order:
      special = label.startswith(("[", "<"))   # special tokens count under their own text
      ax.plot(xs, layer_labels.series(rows, label), marker="o", ms=3,
              lw=2.6 if label == focus else 1.2, color=colours[label],
              ls="--" if special else "-", label=label, zorder=3 if label == focus else 2)
    ax.set_title(f"{kind} search" + (" (all heads)" if kind == "context" else ""))
    ax.set_xlabel("layer" + (" (0 = input embeddings)" if kind == "embedding" else ""))
    ax.set_xticks(xs[::max(1, len(xs) // 12)])
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel("share of matches")
  axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
  fig.suptitle(title, fontsize=10)
  _common.save_figure(fig, path)


if __name__ == "__main__":
  sys.exit(_common.run(main, name=NAME))
