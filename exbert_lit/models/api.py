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
