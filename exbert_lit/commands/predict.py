"""`exbert-lit predict`: a model's word-pieces and top-k predictions for one text.

Masked LMs: the top-k at every position (type [MASK] to ask about a position).
Causal LMs: at position i, the top-k tokens predicted to come *next*.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "predict", help="tokens and top-k predictions of a model for one text",
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", required=True,
                      help="short name (minilm, smollm2), local directory or hub name")
  parser.add_argument("--text", required=True, help="the sentence; [MASK] marks a masked position")
  parser.add_argument("--top-k", type=int, default=5, help="predictions per position (default 5)")
  parser.add_argument("--json", action="store_true", help="print one JSON document")
  parser.set_defaults(func=run)


def predictions(model, text: str, top_k: int) -> dict:
  """The JSON document `--json` prints (also what the plain output shows)."""
  if top_k < 1:
    raise ValueError(f"--top-k: must be at least 1, got {top_k}")
  model.top_k = top_k
  encoded = model.encode(text)
  output = list(model.predict([{"text": text}]))[0]
  doc = {
      "model": model.name,
      "kind": "causal" if model.is_causal else "masked",
      "text": text,
      "truncated": encoded.truncated,
      "max_tokens": model.max_length,
      "tokens": output["tokens"],
      "special": [bool(s) for s in output["special_tokens"]],
  }
  if "pred_tokens" in output:
    doc["predictions"] = [
        [{"token": tok, "prob": float(p)} for tok, p in position]
        for position in output["pred_tokens"]]
  else:
    doc["predictions"] = None
  return doc


def _print_plain(doc: dict, out) -> None:
  if doc["truncated"]:
    print(f"warning: text truncated to the model's limit of {doc['max_tokens']} tokens", file=out)
  if doc["predictions"] is None:
    print(f"{doc['model']} has no prediction head (an encoder): no predictions; tokens: "
          + " ".join(doc["tokens"]), file=out)
    return
  header = "next-token predictions" if doc["kind"] == "causal" else "predictions"
  print(f"{doc['model']} ({doc['kind']} LM): {len(doc['tokens'])} tokens, {header}", file=out)
  width = max(len(repr(t)) for t in doc["tokens"])
  for i, (tok, preds) in enumerate(zip(doc["tokens"], doc["predictions"])):
    shown = "  ".join(f"{p['token']!r} {p['prob']:.4f}" for p in preds)
    print(f"{i:>4} {tok!r:<{width}}  {shown}", file=out)


def run(args: argparse.Namespace) -> int:
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top

  if not args.text.strip():   # fail before spending seconds on loading the model
    raise ValueError("--text: empty or whitespace-only input; give a sentence")
  model = registry.load_model(args.model, top_k=args.top_k, compute_gradients=False)
  doc = predictions(model, args.text, args.top_k)
  if args.json:
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
  else:
    _print_plain(doc, sys.stdout)
  return 0
