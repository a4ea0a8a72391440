"""`exbert-lit predict`: a model's word-pieces and top-k predictions for one text.

Masked LMs: the top-k at every position (type [MASK] to ask about a position).
Causal LMs: at position i, the top-k tokens predicted to come *next*.

--lens adds the logit lens: at every layer l = 0..L, the top-k of the model's own read-out
applied to E(l), the rank there of the final top-1, and the first layer at which the final
top-1 is within the top 5. --attention weights|value-norm|rollout --layer L prints one layer's
matrix: the raw attention weights [H, T, T], value-weighted attention ||alpha v W_O|| [H, T, T]
(raw norms, and rows rescaled to sum to 1), or attention rollout [T, T] (docs/FIELDS.md).
"""
from __future__ import annotations

import argparse
import json
import sys

from exbert_lit.cli import positive_int
from exbert_lit.commands import checks
from exbert_lit.errors import ExbertError


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "predict", help="tokens and top-k predictions of a model for one text",
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", required=True,
                      help="short name (minilm, smollm2), local directory or hub name")
  parser.add_argument("--text", required=True, help="the sentence; [MASK] marks a masked position")
  parser.add_argument("--text-b", default="", metavar="TEXT",
                      help="masked models: a second sentence, encoded with --text as a pair "
                           "([CLS] A [SEP] B [SEP], token type ids 0 and 1)")
  parser.add_argument("--top-k", type=positive_int, default=5,
                      help="predictions per position (default 5)")
  parser.add_argument("--lens", action="store_true",
                      help="add the logit lens: the top-k at every layer (models with an LM head)")
  parser.add_argument("--attention", choices=ATTENTION_KINDS, default=None,
                      help="print one layer's attention matrix of this kind (needs --layer)")
  parser.add_argument("--layer", type=positive_int, default=None,
                      help="the layer (1..L) that --attention prints")
  parser.add_argument("--json", action="store_true",
                      help="print one JSON document (raw word-pieces and their readable text)")
  parser.set_defaults(func=run)


ATTENTION_KINDS = ("weights", "value-norm", "rollout")
LENS_TOP = 5   # "the first layer at which the final top-1 is within the top 5"


def too_long(count: int, limit: int, model_name: str) -> ExbertError:
  return ExbertError(f"--text is {count} tokens, more than {model_name}'s limit of {limit}; "
                     "shorten it")


def check_text_length(text: str, source: str, config, model_name: str, text_b: str = "") -> None:
  """Counts the text's tokens with the model's tokenizer alone (no weights) against its limit.

  Counted as the model will (specials added, a typed [MASK] as the tokenizer's mask token);
  `predictions` checks the model's own encoding again after loading.
  """
  import transformers  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import hf  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import internals  # pylint: disable=g-import-not-at-top
  tokenizer = transformers.AutoTokenizer.from_pretrained(source)
  limit = min(hf.max_input_length(tokenizer, config), hf.DEFAULT_MAX_TOKENS)
  if not hf.is_causal_config(config) and tokenizer.mask_token:
    text, _ = internals.substitute_mask(text, hf.TYPED_MASK, tokenizer.mask_token)
    if text_b:
      text_b, _ = internals.substitute_mask(text_b, hf.TYPED_MASK, tokenizer.mask_token)
  count = len(tokenizer(text, text_b or None, add_special_tokens=True)["input_ids"])
  if count > limit:
    raise too_long(count, limit, model_name)


def readable_pieces(tokenizer, pieces: list[str]) -> list[str]:
  """How each word-piece reads, by the tokenizer's own convert_tokens_to_string:
  `Ġcat` -> " cat", `âĢĶ` -> "—", `##ing` -> "ing", `▁cat` -> " cat"; special tokens as they are.

  Each piece is read after an anchor piece ("a") and the anchor's text removed, so a piece that
  starts a word keeps its space: sentencepiece-style tokenizers drop the space of a text's first
  piece, and WordPiece marks only continuations (`cat` then reads " cat", `##ing` "ing"). A piece
  holding part of a character (byte-level BPE) reads "�".
  """
  convert = tokenizer.convert_tokens_to_string
  specials = set(tokenizer.all_special_tokens)
  anchor = (tokenizer.tokenize("a") or [None])[0]
  anchor_text = convert([anchor]) if anchor is not None else None
  out = []
  for piece in pieces:
    text = None
    if piece not in specials and anchor_text:
      joined = convert([anchor, piece])
      text = joined[len(anchor_text):] if joined.startswith(anchor_text) else None
    out.append(convert([piece]) if text is None else text)
  return out


def predictions(model, text: str, top_k: int, text_b: str = "") -> dict:
  """The JSON document `--json` prints (also what the plain output shows).

  `tokens` and each prediction's `token` are the raw word-pieces (`Ġcat`); `token_text` and
  `text` beside them are how they read (" cat", see readable_pieces), for reading, not for
  looking tokens up.
  """
  if top_k < 1:
    raise ExbertError(f"--top-k: must be at least 1, got {top_k}")
  model.top_k = top_k
  encoded = model.encode(text, None, text_b or None)
  if encoded.truncated:
    raise too_long(len(model.tokenizer(text, text_b or None)["input_ids"]), model.max_length,
                   model.name)
  example = {"text": text, "text_b": text_b} if text_b else {"text": text}
  output = list(model.predict([example]))[0]
  tokenizer = model.tokenizer
  doc = {
      "model": model.name,
      "kind": "causal" if model.is_causal else "masked",
      "text": text,
      "max_tokens": model.max_length,
      "tokens": output["tokens"],
      "token_text": readable_pieces(tokenizer, output["tokens"]),
      "special": [bool(s) for s in output["special_tokens"]],
  }
  if text_b:
    doc["text_b"] = text_b
    doc["segments"] = [int(s) for s in output["segment_ids"]]
  if "pred_tokens" in output:
    doc["predictions"] = [
        [{"token": tok, "text": text, "prob": float(p)}
         for (tok, p), text in zip(position, readable_pieces(tokenizer, [t for t, _ in position]))]
        for position in output["pred_tokens"]]
  else:
    doc["predictions"] = None
  return doc


def lens_document(model, text: str, top_k: int, text_b: str = "") -> dict:
  """`lens` of the JSON document: per position, per layer 0..L, the top-k (token, readable text,
  probability) and `final_rank` (rank of the last layer's top-1 there), and per position the
  first layer where the final top-1 is within the top LENS_TOP."""
  from exbert_lit.models import lens as lens_lib  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  (lens,) = model.logit_lens([text], k=top_k, texts_b=[text_b or None])
  first = lens_lib.first_layer_in_top(torch.from_numpy(lens.final_rank), LENS_TOP).tolist()
  layers = len(lens.top_tokens)
  readable = {}
  for layer in lens.top_tokens:
    for position in layer:
      missing = [t for t in position if t not in readable]
      readable.update(zip(missing, readable_pieces(model.tokenizer, missing)))
  positions = []
  for i in range(len(lens.tokens)):
    positions.append({
        "final": lens.top_tokens[-1][i][0],
        f"first_layer_in_top_{LENS_TOP}": first[i],
        "layers": [{"layer": l,
                    "top": [{"token": t, "text": readable[t], "prob": float(p)}
                            for t, p in zip(lens.top_tokens[l][i], lens.top_probs[l, i])],
                    "final_rank": int(lens.final_rank[l, i])} for l in range(layers)]})
  return {"layers": layers - 1, "top_k": top_k, "positions": positions}


def attention_document(model, text: str, kind: str, layer: int, text_b: str = "") -> dict:
  """`attention` of the JSON document: one layer's matrix, `values` nested lists ([H, T, T] or,
  for rollout, [T, T]); for value-norm `values` are the raw norms and `rescaled` their rows
  divided by the row sums (what the view draws)."""
  (m,) = model.measures([text], texts_b=[text_b or None])
  doc = {"kind": kind, "layer": layer}
  if kind == "weights":
    values = m.attention[layer - 1]
  elif kind == "rollout":
    values = m.rollout[layer - 1]
  else:
    values = m.attention_norm[layer - 1]
    doc["rescaled"] = (values / values.sum(-1, keepdims=True).clip(1e-12)).tolist()
  doc["shape"] = list(values.shape)
  doc["values"] = values.tolist()
  return doc


def _print_lens(doc: dict, out) -> None:
  lens = doc["lens"]
  print(f"logit lens: top-1 at layers 0..{lens['layers']} (0 = input embeddings); "
        f"'in top-{LENS_TOP} from' = first layer whose top-{LENS_TOP} holds the final top-1",
        file=out)
  for i, (tok, position) in enumerate(zip(doc["tokens"], lens["positions"])):
    first = position[f"first_layer_in_top_{LENS_TOP}"]
    print(f"{i:>4} {tok!r}  final {position['final']!r}, in top-{LENS_TOP} from layer {first}",
          file=out)
    print("       " + " ".join(f"{l['layer']}:{l['top'][0]['token']!r}"
                               for l in position["layers"]), file=out)
  firsts = sorted(p[f"first_layer_in_top_{LENS_TOP}"] for p in lens["positions"])
  print(f"the final top-1 enters the top-{LENS_TOP} at layer {firsts[len(firsts) // 2]} "
        f"(median over {len(firsts)} positions; earliest {firsts[0]}, latest {firsts[-1]}) "
        f"of {lens['layers']}", file=out)


def _print_attention(doc: dict, out) -> None:
  att = doc["attention"]
  print(f"{att['kind']} at layer {att['layer']}, shape {att['shape']} (rows: from token i, "
        "columns: to token j)", file=out)
  blocks = [att["values"]] if att["kind"] == "rollout" else att["values"]
  for h, block in enumerate(blocks, start=1):
    if att["kind"] != "rollout":
      print(f"head {h}", file=out)
    for i, row in enumerate(block):
      print(f"{i:>4} " + " ".join(f"{v:.3f}" for v in row), file=out)


def _print_plain(doc: dict, out) -> None:
  if "lens" in doc:
    _print_lens(doc, out)
  if "attention" in doc:
    _print_attention(doc, out)
  if "lens" in doc or "attention" in doc:
    return
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


def check_measures(args: argparse.Namespace, config) -> None:
  """--lens, --attention and --layer against each other and the model's config (no weights)."""
  from exbert_lit.models import arch  # pylint: disable=g-import-not-at-top
  if args.attention and args.layer is None:
    raise ExbertError(f"--attention {args.attention}: give the layer to print with --layer L")
  if args.layer is not None and not args.attention:
    raise ExbertError("--layer: say which matrix with --attention weights|value-norm|rollout")
  layers = int(config.num_hidden_layers)
  if args.layer is not None and args.layer > layers:
    raise ExbertError(f"--layer {args.layer}: {args.model} has layers 1..{layers}")
  if args.lens and not arch.has_lm_head(config):
    raise ExbertError(f"--lens: {args.model} has no language-model head (an encoder), so no "
                      "logit lens; use a masked or causal LM")


def run(args: argparse.Namespace) -> int:
  if not args.text.strip():
    raise ExbertError("--text: empty or whitespace-only input; give a sentence")
  # Everything checkable without the weights, before the (slow) load.
  source, config = checks.model_config(args.model)
  vocab_size = getattr(config, "vocab_size", None)
  if vocab_size and args.top_k > vocab_size:
    raise ExbertError(f"--top-k {args.top_k} is more than the model's {vocab_size} tokens")
  text_b = args.text_b if args.text_b.strip() else ""
  if text_b:
    from exbert_lit.models import arch  # pylint: disable=g-import-not-at-top
    if arch.is_causal_config(config):
      raise ExbertError(f"--text-b: {args.model} is a causal LM; sentence pairs are for masked "
                        "models (drop --text-b, or join the sentences in --text)")
  check_text_length(args.text, source, config, args.model, text_b)
  check_measures(args, config)
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  model = registry.load_model(args.model, top_k=args.top_k, compute_gradients=False)
  doc = predictions(model, args.text, args.top_k, text_b)
  if args.lens:
    doc["lens"] = lens_document(model, args.text, args.top_k, text_b)
  if args.attention:
    doc["attention"] = attention_document(model, args.text, args.attention, args.layer, text_b)
  if args.json:
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
  else:
    _print_plain(doc, sys.stdout)
  return 0
