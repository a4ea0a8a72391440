"""`exbert-lit generate`: generate tokens after a text with a causal LM, step by step.

Greedy by default; with --temperature above 0 it samples (a --seed reproduces a sample; without
one a seed is drawn and printed). Each step shows the chosen token, the model's probability of
it, and the model's top-k at that step. With --layer L, each step also gives the generated
token's attention in layer L over the prompt and the tokens generated up to it, [heads, t+1]
for the token at position t (equal to row t of one full forward over the final sequence).
The forward passes reuse the key/value cache; attention is captured only with --layer.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from exbert_lit.cli import positive_int
from exbert_lit.commands import checks
from exbert_lit.commands import predict
from exbert_lit.errors import ExbertError

OPTION_NAMES = ("--max-new-tokens", "--temperature", "--seed")


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "generate", help="generate tokens after a text (causal LMs), with each step's top-k "
      "and attention", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", required=True,
                      help="a causal LM: short name (smollm2), local directory or hub name")
  parser.add_argument("--text", required=True, help="the prompt")
  parser.add_argument("--max-new-tokens", default=None, metavar="N",
                      help="tokens to generate, 1..256 (default 20; fewer if the model "
                      "generates its end-of-sequence token)")
  parser.add_argument("--temperature", default=None, metavar="X",
                      help="0 (default): greedy; above 0 (up to 10): sample at this temperature")
  parser.add_argument("--seed", default=None, metavar="S",
                      help="sampling seed, 0..4294967295 (default: drawn at random, printed)")
  parser.add_argument("--top-k", type=positive_int, default=5,
                      help="predictions shown per step (default 5)")
  parser.add_argument("--layer", type=int, action="append", default=None, metavar="L",
                      help="capture this layer's attention (1..L; repeatable)")
  parser.add_argument("--json", action="store_true",
                      help="print one JSON document (docs/FIELDS.md, \"Generation\")")
  parser.set_defaults(func=run)


def check_before_load(args) -> tuple[str, object]:
  """Everything checkable without the weights: settings, model kind, layers, k, lengths.
  Returns (where from_pretrained finds the model, the generation settings)."""
  from exbert_lit.models import arch  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import generation  # pylint: disable=g-import-not-at-top
  if not args.text.strip():
    raise ExbertError("--text: empty or whitespace-only input; give a prompt")
  config = generation.settings(args.max_new_tokens, args.temperature, args.seed,
                               names=OPTION_NAMES)
  source, model_config = checks.model_config(args.model)
  if not arch.is_causal_config(model_config):
    raise ExbertError(f"--model {args.model}: a masked model cannot generate; give a causal "
                      "LM (e.g. smollm2)")
  if not arch.has_lm_head(model_config):
    raise ExbertError(f"--model {args.model}: has no LM head, so it cannot generate")
  generation.check_layers(args.layer or (), int(model_config.num_hidden_layers), "--layer")
  vocab_size = getattr(model_config, "vocab_size", None)
  if vocab_size and args.top_k > vocab_size:
    raise ExbertError(f"--top-k {args.top_k} is more than the model's {vocab_size} tokens")
  predict.check_text_length(args.text, source, model_config, args.model)
  import transformers  # pylint: disable=g-import-not-at-top
  tokenizer = transformers.AutoTokenizer.from_pretrained(source)
  count = len(tokenizer(args.text, add_special_tokens=True)["input_ids"])
  generation.check_room(count, config.max_new_tokens,
                        arch.max_input_length(tokenizer, model_config), args.model,
                        "--max-new-tokens")
  return source, config


def document(model, result) -> dict:
  """The JSON document: Generation.to_json() with how each word-piece reads beside it
  (`text`, as `exbert-lit predict --json` gives it)."""
  def read(pieces):
    return predict.readable_pieces(model.tokenizer, pieces)

  doc = result.to_json()
  doc["token_text"] = read(doc["tokens"])
  for step in doc["steps"]:
    step["text"] = doc["token_text"][step["position"]]
    for pred, text in zip(step["top_k"], read([p["token"] for p in step["top_k"]])):
      pred["text"] = text
  return doc


def _print_plain(doc: dict, out) -> None:
  mode = (f"sampling at temperature {doc['temperature']:g}, seed {doc['seed']}"
          if doc["sampling"] else "greedy")
  start = doc["generation_start"]
  print(f"{doc['model']}: {len(doc['steps'])} tokens generated ({mode}; stopped: "
        f"{doc['stop_reason']})", file=out)
  print(f"prompt: {''.join(doc['token_text'][:start])!r}", file=out)
  print(f"generated: {doc['generated_text']!r}", file=out)
  for step in doc["steps"]:
    shown = "  ".join(f"{p['text']!r} {p['prob']:.3f}" for p in step["top_k"])
    print(f"{step['step']:>4} @{step['position']:<4} {step['text']!r:<14} p={step['prob']:.4f}"
          f"   top-k: {shown}", file=out)
    for layer, rows in step["attention"].items():
      mean = np.asarray(rows).mean(axis=0)
      top = np.argsort(-mean, kind="stable")[:3]
      attended = ", ".join(f"{doc['token_text'][j]!r}@{j} {mean[j]:.2f}" for j in top)
      print(f"{'':>11}layer {layer}, mean over heads, attends most to: {attended}", file=out)


def run(args: argparse.Namespace) -> int:
  source, config = check_before_load(args)
  del source
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  model = registry.load_model(args.model, top_k=args.top_k, compute_gradients=False)
  result = model.generate(args.text, config.max_new_tokens, config.temperature, config.seed,
                          layers=args.layer or (), top_k=args.top_k)
  doc = document(model, result)
  if args.json:
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
  else:
    _print_plain(doc, sys.stdout)
  return 0
