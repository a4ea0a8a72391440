"""Gender bias (exBERT paper, section 4): who is "told"?

Next-token probabilities after "told" for "The man visited the nurse and told" and "The man
visited the doctor and told", and how the last layers' attention from "told" differs between
the two. The paper, with GPT-2: "her" 90% vs "him" 6% after "nurse"; "him" 68% vs "her" 18%
after "doctor".

  python demos/gender_bias.py                  # smollm2 (SmolLM2-135M-Instruct, from PyPI)
  python demos/gender_bias.py --model gpt2     # the paper's model (hub needed)

Probabilities come from the model wrapper's LIT output (top-k next tokens after the last
token, k = --top-k); a word outside the top-k is reported as "below" the k-th probability.
Attention is reported raw, and renormalised without the first token: causal models park most
of their attention on position 0 (an attention sink), which hides what the rest goes to.

Writes <out>/gender_bias.json and <out>/gender_bias.png.
"""
from __future__ import annotations

import pathlib
import sys
import time
from typing import Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "gender_bias"
TEMPLATE = "The man visited the {} and told"


def _words(text: str, option: str, n: Optional[int] = None) -> list[str]:
  words = [w.strip() for w in text.split(",") if w.strip()]
  if not words or (n is not None and len(words) != n):
    raise _common.DemoError(f"{option} must be {n or 'one or more'} comma-separated words, "
                            f"not {text!r}")
  return words


def main(argv: Optional[list[str]] = None) -> int:
  p = _common.parser(NAME, __doc__.split("\n\n")[1], "smollm2", corpus=False)
  p.add_argument("--template", default=TEMPLATE,
                 help=f"sentence with {{}} for the occupation (default {TEMPLATE!r})")
  p.add_argument("--fillers", default="nurse,doctor", help="two words for {} (default "
                 "nurse,doctor)")
  p.add_argument("--words", default="her,him", help="next words to score (default her,him)")
  p.add_argument("--subject", default="man", help="the other word whose attention is shown")
  p.add_argument("--layers", type=int, default=None, metavar="N",
                 help="how many final layers' heads to compare (default 3, or all if fewer)")
  p.add_argument("--top-k", type=int, default=500, help="predictions kept (default 500)")
  args = p.parse_args(argv)
  from exbert_lit.analysis import next_token  # pylint: disable=g-import-not-at-top
  from exbert_lit.analysis import positions  # pylint: disable=g-import-not-at-top

  if "{}" not in args.template:
    raise _common.DemoError("--template must contain {} where the occupation goes")
  fillers = _words(args.fillers, "--fillers", 2)
  words = _words(args.words, "--words")
  started = time.perf_counter()
  out = _common.out_dir(args, NAME)
  model = _common.load(args.model, top_k=args.top_k)
  if not model.is_causal or not model.has_head:
    raise _common.DemoError(f"{model.name} is not a causal LM with an LM head; this demo needs "
                            f"next-token probabilities (try --model smollm2)")
  count = min(3, model.num_layers) if args.layers is None else args.layers
  if not 1 <= count <= model.num_layers:
    raise _common.DemoError(f"--layers must be 1..{model.num_layers}")
  layers = list(range(model.num_layers - count + 1, model.num_layers + 1))
  pieces = {w: next_token.word_piece(model.tokenizer, w) for w in words}

  sentences = [args.template.format(f) for f in fillers]
  predictions = list(model.predict([{"text": s} for s in sentences]))
  internals = model.internals(sentences)
  per_sentence = []
  for filler, sentence, pred, inside in zip(fillers, sentences, predictions, internals):
    source = len(inside.tokens) - 1          # the last token ("told") predicts the next word
    targets = {"first token": 0,
               args.subject: positions.word_position(inside, args.subject),
               "occupation": positions.word_position(inside, filler)}
    per_sentence.append({
        "filler": filler, "text": sentence, "tokens": inside.tokens,
        "source": {"position": source, "token": inside.tokens[source]},
        "targets": {name: {"position": pos, "token": inside.tokens[pos]}
                    for name, pos in targets.items()},
        "next_token": next_token.candidate_probabilities(pred["pred_tokens"][source], pieces),
        "top5": [[t, round(float(p), 4)] for t, p in pred["pred_tokens"][source][:5]],
        "attention": next_token.attention_from(inside.attention, source, targets, layers),
    })
  a, b = per_sentence
  result = {
      "demo": NAME, "command": _common.command_line(NAME, argv),
      "model": {"name": model.name, "layers": model.num_layers, "heads": model.num_heads},
      "layers": layers, "words": words, "sentences": per_sentence,
      "summary": {
          "probabilities": {s["filler"]: {w: s["next_token"][w]["probability"] for w in words}
                            for s in per_sentence},
          "mean_attention_to": {
              s["filler"]: {t: _mean(s["attention"], t) for t in ("occupation", args.subject,
                                                                   "first token")}
              for s in per_sentence},
          "heads_most_different_to_occupation":
              next_token.difference_summary(a["attention"], b["attention"], "occupation"),
          "heads_most_different_to_subject":
              next_token.difference_summary(a["attention"], b["attention"], args.subject),
      },
      "seconds": {"total": round(time.perf_counter() - started, 1)},
  }
  _common.write_json(out / f"{NAME}.json", result)
  chart(result, args.subject, out / f"{NAME}.png")
  print(report(result, args.subject))
  print(f"wrote {out / (NAME + '.json')} and {out / (NAME + '.png')}")
  return 0


def _mean(rows: list[dict], target: str) -> float:
  return round(sum(r[target] for r in rows) / len(rows), 4)


def _prob(entry: dict) -> str:
  if entry["probability"] is None:
    return f"<{entry['below']:.2%}"
  return f"{entry['probability']:.1%}"


def report(result: dict, subject: str) -> str:
  lines = [f"{result['model']['name']}: next-token probabilities"]
  for s in result["sentences"]:
    probs = ", ".join(f"{w} {_prob(s['next_token'][w])}" for w in result["words"])
    lines.append(f"  {s['text']!r:45} -> {probs}   (top: "
                 + ", ".join(f"{t} {p:.1%}" for t, p in s["top5"][:3]) + ")")
  lines.append(f"attention from {result['sentences'][0]['source']['token']!r}, layers "
               f"{result['layers'][0]}-{result['layers'][-1]}, mean over heads:")
  for filler, means in result["summary"]["mean_attention_to"].items():
    lines.append(f"  {filler:8} " + ", ".join(f"to {t} {v:.3f}" for t, v in means.items()))
  a, b = (s["filler"] for s in result["sentences"])
  lines.append(f"heads whose attention to the occupation differs most ({a} - {b}):")
  for r in result["summary"]["heads_most_different_to_occupation"]:
    lines.append(f"  {r['name']:6} {r['a']:.3f} vs {r['b']:.3f}  ({r['difference']:+.3f})")
  return "\n".join(lines)


def chart(result: dict, subject: str, path: pathlib.Path) -> None:
  import numpy as np  # pylint: disable=g-import-not-at-top
  plt = _common.pyplot()
  sentences = result["sentences"]
  words = result["words"]
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.2),
                                 gridspec_kw={"width_ratios": [1, 3.2]})
  width = 0.8 / len(words)
  x = np.arange(len(sentences))
  for i, w in enumerate(words):
    ys = [s["next_token"][w]["probability"] or 0.0 for s in sentences]
    bars = ax1.bar(x + (i - (len(words) - 1) / 2) * width, ys, width, label=repr(w))
    ax1.bar_label(bars, labels=[_prob(s["next_token"][w]) for s in sentences], fontsize=8)
  ax1.set_xticks(x, [f"...the {s['filler']} and told" for s in sentences], fontsize=8)
  ax1.set_ylabel("next-token probability")
  ax1.set_ylim(0, 1)
  ax1.legend(fontsize=8)
  ax1.set_title("P(next word)")

  names = [r["name"] for r in sentences[0]["attention"]]
  hx = np.arange(len(names))
  colours = ("#d62728", "#1f77b4")
  for i, s in enumerate(sentences):
    occ = [r["occupation"] for r in s["attention"]]
    subj = [r[subject] for r in s["attention"]]
    ax2.bar(hx + (i - 0.5) * 0.4, occ, 0.4, color=colours[i % 2],
            label=f"'{s['filler']}' sentence: told -> {s['filler']}")
    ax2.plot(hx + (i - 0.5) * 0.4, subj, "_", ms=9, mew=2, color="k" if i == 0 else "#7f7f7f",
             label=f"'{s['filler']}' sentence: told -> {subject}")
  ax2.set_xticks(hx, names, rotation=90, fontsize=7)
  ax2.set_xlabel("layer-head")
  ax2.set_ylabel("attention weight (raw)")
  ax2.set_title(f"attention from 'told' in the last {len(result['layers'])} layers")
  ax2.legend(fontsize=7, ncol=2)
  ax2.grid(axis="y", alpha=0.3)
  fig.suptitle(f"{result['model']['name']}: gender bias after 'told'", fontsize=10)
  _common.save_figure(fig, path)


if __name__ == "__main__":
  sys.exit(_common.run(main, name=NAME))
