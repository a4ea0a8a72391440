"""The one place that names the LIT output fields of docs/FIELDS.md (as TransformerLens names
every hook in `get_act_name`): the models that write them, the internals model, the corpus-search
config, the request checks and the bench build and parse the names here, so they cannot drift.

Layers: `attention(l)`, `context_emb(l)`, `attention_norm(l)` and `rollout(l)` for l = 1..L;
`token_emb(l)`, `lens(l)` and `lens_rank(l)` for l = 0..L (0 = the input embeddings).
"""
from __future__ import annotations

import re
from typing import Optional

TOKENS = "tokens"
SPECIAL_TOKENS = "special_tokens"
PRED_TOKENS = "pred_tokens"
# Masked models: the optional second segment of a sentence pair (TextSegment input; empty = none),
# and each token's segment, TokenScores [T]: 0 = segment A (with its specials), 1 = segment B.
TEXT_B = "text_b"
SEGMENT_IDS = "segment_ids"
# Each token's character span in its segment's text (`text`, or `text_b` for segment B),
# TokenScores [T] of integers; [0, 0] for specials and given word-pieces. The attention views
# of two models link the selected word by these spans (their tokenisations differ).
CHAR_START = "char_start"
CHAR_END = "char_end"

ATTENTION = "attention"        # AttentionHeads [H, T, T]
TOKEN_EMB = "token_emb"        # E(l), TokenEmbeddings [T, D]
CONTEXT_EMB = "context_emb"    # C(l), TokenEmbeddings [T, H*dh]
PACKED = "_packed"             # suffix of the internals model's packed attention (a String)
# Served by `_NAME_measures` (lit/measures_model.py), computed only when a view asks:
ATTENTION_NORM = "attention_norm"  # value-weighted attention, AttentionHeads [H, T, T], rows sum to 1
ROLLOUT = "rollout"                # attention rollout, AttentionHeads [1, T, T]
# Served by `_NAME_lens`:
LENS = "lens"                      # logit lens of E(l), TokenTopKPreds [T] x k
LENS_RANK = "lens_rank"            # TokenScores [T]: rank at layer l of the final top-1 (1 = top)

# `_NAME_generate` (lit/generate_model.py, docs/FIELDS.md "Generation"): its inputs beside
# `text`, and its outputs beside tokens, special_tokens, pred_tokens and the attention fields.
MAX_NEW_TOKENS = "max_new_tokens"    # Integer input; empty = default
TEMPERATURE = "temperature"          # Scalar input; empty or 0 = greedy
SEED = "seed"                        # Integer input; sampling only, empty = drawn at random
GENERATION_START = "generation_start"  # Integer: index in `tokens` of the first generated token
TOKEN_PROBS = "token_probs"          # TokenScores: p(token i | tokens before it); 0 at i = 0
GENERATED_TEXT = "generated_text"    # GeneratedText: the generated tokens, decoded
STOP_REASON = "stop_reason"          # String: "eos" or "max_new_tokens"
USED_SEED = "used_seed"              # Integer: the sampling seed used; -1 for greedy

_LAYER_FIELD = re.compile(r"^layer_(\d+)/(\w+)$")


def layer_field(layer: int, name: str) -> str:
  """`layer_{layer}/{name}`, e.g. layer_field(3, ATTENTION) == "layer_3/attention"."""
  return f"layer_{layer}/{name}"


def attention(layer: int) -> str:
  return layer_field(layer, ATTENTION)


def attention_packed(layer: int) -> str:
  return layer_field(layer, ATTENTION + PACKED)


def attention_norm(layer: int) -> str:
  return layer_field(layer, ATTENTION_NORM)


def attention_norm_packed(layer: int) -> str:
  return layer_field(layer, ATTENTION_NORM + PACKED)


def rollout(layer: int) -> str:
  return layer_field(layer, ROLLOUT)


def rollout_packed(layer: int) -> str:
  return layer_field(layer, ROLLOUT + PACKED)


def lens(layer: int) -> str:
  return layer_field(layer, LENS)


def lens_rank(layer: int) -> str:
  return layer_field(layer, LENS_RANK)


def token_emb(layer: int) -> str:
  return layer_field(layer, TOKEN_EMB)


def context_emb(layer: int) -> str:
  return layer_field(layer, CONTEXT_EMB)


def vectors(kind: str, layer: int) -> str:
  """The field holding a corpus search's query vectors: E(l) for "embedding", C(l) for "context"."""
  return token_emb(layer) if kind == "embedding" else context_emb(layer)


def parse_layer_field(name: str) -> Optional[tuple[int, str]]:
  """"layer_3/attention" -> (3, "attention"); None for a field that is not per layer."""
  match = _LAYER_FIELD.match(name)
  return None if match is None else (int(match.group(1)), match.group(2))
