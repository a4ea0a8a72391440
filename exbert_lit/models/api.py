"""What every exbert-lit language model gives server-side code (corpus build, search, server).

Shapes follow TransformerLens' habit of writing them down: L layers, H (query) heads,
T tokens of one sentence (special tokens included), D hidden size, dh head size.
Layers are numbered 1..L everywhere a user sees them; index 0 of `embeddings` is the
input-embedding layer E(0). Heads are numbered 1..H where a user sees them and 0..H-1
in arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@dataclasses.dataclass(frozen=True)
class SentenceInternals:
  """One sentence as the model sees it, with the internals exBERT searches over."""
  text: str                 # the text the model was given, exactly as written
  tokens: list[str]         # the model's own word-pieces, specials included, length T
  offsets: np.ndarray       # int32 [T, 2] character span of each token in `text`; [0, 0] for specials
  special: np.ndarray       # bool [T] True for special tokens ([CLS], [SEP], <s>, ...)
  embeddings: np.ndarray    # float32 [L+1, T, D] E(l): hidden states, E(0) = input embeddings; not normalised
  contexts: np.ndarray      # float32 [L, T, H*dh] C(l): per-head outputs before the output projection,
                            #   each head's dh-slice L2-normalised on its own
  attention: np.ndarray     # float32 [L, H, T, T] attention[l, h, i, j] = weight of token i on token j


@dataclasses.dataclass(frozen=True)
class SentenceMeasures:
  """Readings of attention beyond the raw weights (models/measures.py says what each is)."""
  text: str
  tokens: list[str]         # length T, as SentenceInternals.tokens
  special: np.ndarray       # bool [T]
  attention: np.ndarray     # float32 [L, H, T, T] raw weights alpha (as SentenceInternals)
  attention_norm: np.ndarray  # float32 [L, H, T, T] ||alpha_ij^h v_j^h W_O^h||, raw (not rescaled)
  rollout: np.ndarray       # float32 [L, T, T] attention rollout after layers 1..L


@dataclasses.dataclass(frozen=True)
class SentenceLens:
  """The logit lens of one sentence (models/lens.py): the model's read-out applied to each E(l)."""
  text: str
  tokens: list[str]         # length T
  special: np.ndarray       # bool [T]
  top_tokens: list[list[list[str]]]  # [L+1][T][k] word-pieces, best first; layer 0 = E(0)
  top_ids: np.ndarray       # int64 [L+1, T, k]
  top_probs: np.ndarray     # float32 [L+1, T, k] softmax over the whole vocabulary
  final_rank: np.ndarray    # int64 [L+1, T] rank (1 = top-1) at layer l of the last layer's top-1


@runtime_checkable
class LanguageModel(Protocol):
  """The server-side face of MaskedLM and CausalLM (besides LIT's Model API)."""
  name: str                 # short name or path it was loaded from
  is_causal: bool
  num_layers: int           # L
  num_heads: int            # H, query heads
  head_dim: int             # dh
  hidden_size: int          # D

  def fingerprint(self) -> str:
    """Stable id of the weights' config and the tokenizer, e.g. 'minilm@sha256:ab12...'.

    A corpus store records it; opening the store with another model fails.
    """

  def internals(self, texts: Sequence[str]) -> list[SentenceInternals]:
    """Batched forward pass (no gradients) returning SentenceInternals per text."""
