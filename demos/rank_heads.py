"""Rank every head of a model by how often its max-attended token carries a label.

Over a corpus store, for each layer-head: the share of corpus tokens whose most-attended token
has the label (e.g. DEP = aux), from the attention positions the store kept at build time (no
model run). The chance level is the label's share among all tokens; `lift` = share / chance.
`--source-field pos --source-label VERB` restricts the attending tokens (what verbs attend to).

  python demos/rank_heads.py --field dep --label aux            # minilm over Brown
  python demos/rank_heads.py --model smollm2 --field dep --label dobj
  python demos/rank_heads.py --store DIR --field pos --label PRON  # any finished store

Writes <out>/rank_heads.json (the full [L, H] share matrix and the ranking) and
<out>/rank_heads.png (the share matrix as a heat map).
"""
from __future__ import annotations

import pathlib
import sys
import time
from typing import Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "rank_heads"


def add_label_options(p, default_label: str = "aux") -> None:
  p.add_argument("--field", choices=("pos", "tag", "dep", "ent"), default="dep",
                 help="label column of the max-attended token (default dep)")
  p.add_argument("--label", default=default_label,
                 help=f"label, or comma-separated labels (default {default_label})")
  p.add_argument("--source-field", choices=("pos", "tag", "dep", "ent"), default=None,
                 help="only count attending tokens with this label column ...")
  p.add_argument("--source-label", default=None, help="... equal to this label (e.g. VERB)")
  p.add_argument("--keep-special", action="store_true",
                 help="let special tokens ([CLS], [SEP], <s>) be max-attended targets (default: "
                 "the most-attended non-special token, as with special tokens hidden in the "
                 "attention view)")
  p.add_argument("--keep-first", action="store_true",
                 help="causal models: let each sentence's first token be a target (default: "
                 "skip it, it is where causal models without <s> park their attention)")
  p.add_argument("--top", type=int, default=10, help="heads to print (default 10)")


def check_label_options(args) -> None:
  if bool(args.source_field) != bool(args.source_label):
    raise _common.DemoError("give --source-field and --source-label together")
  if not args.label.strip(" ,"):
    raise _common.DemoError("--label is empty")


def ranking(args, index) -> dict:
  from exbert_lit.analysis import heads  # pylint: disable=g-import-not-at-top
  check_label_options(args)
  return heads.rank(index, args.field, args.label, source_field=args.source_field,
                    source_label=args.source_label, skip_special=not args.keep_special,
                    skip_first=False if args.keep_first else None)


def format_ranking(ranked: dict, top: int) -> str:
  what = f"{ranked['field'].upper()} = {ranked['label']}"
  sources = ("every token" if not ranked["source_field"] else
             f"tokens with {ranked['source_field'].upper()} = {ranked['source_label']}")
  skipped = [what for what, on in (("special tokens", ranked["skip_special"]),
                                   ("first tokens", ranked["skip_first"])) if on]
  target = "max-attended token" + (f" (skipping {' and '.join(skipped)})" if skipped else "")
  lines = [f"heads whose {target} has {what} (attending: {sources}, "
           f"{ranked['sources']} tokens; chance level {ranked['chance']:.3f}, i.e. a random "
           f"visible token)"]
  for i, r in enumerate(ranked["ranking"][:top], start=1):
    lines.append(f"  {i:3}. {r['name']:6} share {r['share']:.3f}  lift {r['lift']:.1f}")
  return "\n".join(lines)


def heatmap(ax, ranked: dict, fig) -> None:
  import numpy as np  # pylint: disable=g-import-not-at-top
  scores = np.asarray(ranked["shares"], dtype=float)
  num_layers, num_heads = scores.shape
  image = ax.imshow(scores, aspect="auto", cmap="viridis", origin="lower",
                    extent=(0.5, num_heads + 0.5, 0.5, num_layers + 0.5))
  ax.set_xlabel("head")
  ax.set_ylabel("layer")
  step = max(1, num_layers // 15)
  ax.set_yticks(range(1, num_layers + 1, step))
  ax.set_xticks(range(1, num_heads + 1, max(1, num_heads // 16)))
  for r in ranked["ranking"][:3]:
    ax.annotate(r["name"], (r["head"], r["layer"]), color="w", fontsize=7, ha="center",
                va="center")
  fig.colorbar(image, ax=ax, label="share of max-attended tokens with the label")


def finished_store(args):
  """(CorpusIndex, info) for --store DIR holding a finished store, else (None, None): ranking
  reads only the stored attention summaries, so no model is loaded."""
  from exbert_lit.corpus import search  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  if not args.store or not (pathlib.Path(args.store) / store.MANIFEST).is_file():
    return None, None
  index = search.CorpusIndex.open(args.store)
  return index, _common.store_info(index, True, 0.0)


def main(argv: Optional[list[str]] = None) -> int:
  p = _common.parser(NAME, __doc__.split("\n\n")[1], "minilm")
  add_label_options(p)
  args = p.parse_args(argv)
  check_label_options(args)
  started = time.perf_counter()
  out = _common.out_dir(args, NAME)
  index, store_info = finished_store(args)
  if index is None:   # no finished store given: find or build the model's own
    index, store_info = _common.corpus_index(args, _common.load(args.model))
  t0 = time.perf_counter()
  ranked = ranking(args, index)
  rank_seconds = time.perf_counter() - t0
  result = {"demo": NAME, "command": _common.command_line(NAME, argv),
            "model": {"name": index.model_name, "layers": index.num_layers,
                      "heads": index.num_heads},
            "store": store_info, **ranked,
            "seconds": {"total": round(time.perf_counter() - started, 1),
                        "ranking": round(rank_seconds, 2), "store": store_info["seconds"]}}
  _common.write_json(out / f"{NAME}.json", result)
  plt = _common.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4.5))
  heatmap(ax, ranked, fig)
  ax.set_title(f"{index.model_name}: max-attended token has {args.field.upper()} = {args.label}",
               fontsize=10)
  _common.save_figure(fig, out / f"{NAME}.png")
  print(format_ranking(ranked, args.top))
  print(f"wrote {out / (NAME + '.json')} and {out / (NAME + '.png')}")
  return 0


if __name__ == "__main__":
  sys.exit(_common.run(main, name=NAME))
