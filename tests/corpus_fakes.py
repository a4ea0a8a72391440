"""A deterministic stand-in LanguageModel for the corpus tests of the store's own logic.

It is a test double of the protocol in exbert_lit/models/api.py, not a language model: it
splits on words/punctuation (long words into 4-character `##` pieces), and derives E(l), C(l)
and attention from hashes of the pieces, so the store, resume and search logic can be tested
in milliseconds and byte for byte. The real models are tested through tests/tiny_models.py.
"""
from __future__ import annotations

import re
import zlib
from typing import Sequence

import numpy as np

from exbert_lit.models import api


def _rng(*keys) -> np.random.Generator:
  return np.random.default_rng(zlib.crc32("\x00".join(map(str, keys)).encode()))


class FakeModel:
  """LanguageModel protocol: L=2 layers, H=3 heads of dh=4, D=8."""

  def __init__(self, name: str = "fake", seed: int = 0, is_causal: bool = False,
               max_tokens: int = 64):
    self.name = name
    self.seed = seed
    self.is_causal = is_causal
    self.num_layers, self.num_heads, self.head_dim, self.hidden_size = 2, 3, 4, 8
    self.max_tokens = max_tokens
    self.calls = 0

  def fingerprint(self) -> str:
    return f"{self.name}@seed{self.seed}"

  def tokenize(self, text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    tokens, offsets = ["[CLS]"], [(0, 0)]
    for m in re.finditer(r"\w+|[^\w\s]", text):
      word, start = m.group(), m.start()
      for i in range(0, len(word), 4):
        tokens.append(word[i:i + 4] if i == 0 else "##" + word[i:i + 4])
        offsets.append((start + i, start + min(i + 4, len(word))))
    tokens.append("[SEP]")
    offsets.append((0, 0))
    special = np.array([t in ("[CLS]", "[SEP]") for t in tokens])
    return tokens, np.asarray(offsets, dtype=np.int32), special

  def internals(self, texts: Sequence[str]) -> list[api.SentenceInternals]:
    self.calls += 1
    return [self._one(t) for t in texts]

  def _one(self, text: str) -> api.SentenceInternals:
    tokens, offsets, special = self.tokenize(text)
    t = len(tokens)
    if t > self.max_tokens:
      raise ValueError(f"text has {t} tokens; the model takes at most {self.max_tokens}")
    l, h, dh, d = self.num_layers, self.num_heads, self.head_dim, self.hidden_size
    base = np.stack([_rng(self.seed, tok.lower()).standard_normal(d) for tok in tokens])
    emb = [base]
    contexts, attention = [], []
    for layer in range(l):
      w = _rng(self.seed, "w", layer).standard_normal((h, d, dh))
      scores = np.einsum("id,hde,je->hij", emb[-1], w, np.einsum("jd,hde->hje", emb[-1], w)
                         .mean(axis=0))
      if self.is_causal:
        scores = np.where(np.tril(np.ones((t, t), bool))[None], scores, -np.inf)
      att = np.exp(scores - scores.max(axis=-1, keepdims=True))
      att /= att.sum(axis=-1, keepdims=True)
      values = np.einsum("jd,hde->hje", emb[-1], w)             # [H, T, dh]
      heads = np.einsum("hij,hje->hie", att, values)            # [H, T, dh]
      heads /= np.linalg.norm(heads, axis=-1, keepdims=True)
      contexts.append(heads.transpose(1, 0, 2).reshape(t, h * dh))
      attention.append(att)
      emb.append(np.tanh(emb[-1] + heads.transpose(1, 0, 2).reshape(t, h * dh)[:, :d]))
    return api.SentenceInternals(
        text=text, tokens=tokens, offsets=offsets, special=special,
        embeddings=np.stack(emb).astype(np.float32),
        contexts=np.stack(contexts).astype(np.float32),
        attention=np.stack(attention).astype(np.float32))
