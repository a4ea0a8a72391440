"""From what a user gives (text, or word-pieces as LIT's HotFlip sends them) to token ids, with
the character offsets, special-token flags and truncation the outputs report.

A user types `[MASK]` for a masked position whatever the tokenizer's own mask string is
(`<mask>` for RoBERTa); offsets point into the text as the user typed it.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Optional, Sequence

import numpy as np

from exbert_lit.errors import ExbertError
from exbert_lit.models import internals as internals_lib

logger = logging.getLogger(__name__)

TYPED_MASK = "[MASK]"   # what a user types to mask a position, whatever the tokenizer's mask string


@dataclasses.dataclass
class Encoded:
  """One input as token ids, with what the outputs need to know about it."""
  text: str
  ids: list[int]            # [T]
  offsets: np.ndarray       # int32 [T, 2] into `text`; [0, 0] for specials and given tokens
  special: np.ndarray       # bool [T]
  truncated: bool           # True if the text had more tokens than the model's limit

  @property
  def length(self) -> int:
    return len(self.ids)


class TokenCodec:
  """A Hugging Face tokenizer seen as the model wrappers need it: encode text or given
  word-pieces, map word-pieces to ids and back, and find where gradients look.

  Args:
    tokenizer: the checkpoint's tokenizer.
    name: the model's name, for error messages.
    max_length: longer inputs are cut to this many tokens (specials kept).
    masked: whether the model reads a mask token (masked LMs); causal LMs have none.
  """

  def __init__(self, tokenizer, *, name: str, max_length: int, masked: bool):
    self.tokenizer = tokenizer
    self.name = name
    self.max_length = int(max_length)
    self.mask_token: Optional[str] = tokenizer.mask_token if masked else None
    self.mask_id: Optional[int] = tokenizer.mask_token_id if self.mask_token else None
    self.special_ids = frozenset(tokenizer.all_special_ids) - {tokenizer.mask_token_id,
                                                                tokenizer.unk_token_id}
    self.pad_id: int = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0)
                            if i is not None)
    self.vocab: dict[str, int] = tokenizer.get_vocab()

  def encode(self, text: str, tokens: Optional[Sequence[str]] = None) -> Encoded:
    """Text (or given word-pieces, used as-is) -> ids, offsets, special flags, truncation flag.

    Raises ExbertError naming the field for empty input or an unknown word-piece. Over-long
    input is cut to `max_length` tokens (specials kept) with a logged warning and
    `truncated=True`.
    """
    if tokens is not None and len(tokens) > 0:
      tokens = list(tokens)
      truncated = len(tokens) > self.max_length
      if truncated:
        logger.warning("tokens: %d word-pieces, more than %s's limit of %d; truncated",
                       len(tokens), self.name, self.max_length)
        tokens = tokens[:self.max_length]
      ids = [self.token_id(t) for t in tokens]
      return Encoded(text=text if isinstance(text, str) else "", ids=ids,
                     offsets=np.zeros((len(ids), 2), np.int32),
                     special=np.array([i in self.special_ids for i in ids], bool),
                     truncated=truncated)
    if not isinstance(text, str) or not text.strip():
      raise ExbertError("text: empty or whitespace-only input; give a sentence")
    model_text, edits = text, []
    if self.mask_token:
      model_text, edits = internals_lib.substitute_mask(text, TYPED_MASK, self.mask_token)
    enc = self._tokenize(model_text)
    truncated = len(enc["input_ids"]) > self.max_length
    if truncated:
      logger.warning("text: %d tokens, more than %s's limit of %d; truncated",
                     len(enc["input_ids"]), self.name, self.max_length)
      enc = self._tokenize(model_text, truncation=True, max_length=self.max_length)
    ids = list(enc["input_ids"])
    special = np.array([i in self.special_ids for i in ids], bool)
    offsets = np.array(enc.get("offset_mapping") or np.zeros((len(ids), 2)),
                       np.int32).reshape(-1, 2)
    if edits:
      offsets = np.vectorize(lambda o: internals_lib.map_offset_back(int(o), edits),
                             otypes=[np.int32])(offsets)
    offsets[special] = 0
    return Encoded(text=text, ids=ids, offsets=offsets, special=special, truncated=truncated)

  def _tokenize(self, text: str, **kwargs):
    """The tokenizer's encoding with character offsets, or without them (all [0, 0] later)
    for tokenizers that cannot give offsets (pure-Python ones)."""
    try:
      return self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True, **kwargs)
    except NotImplementedError:
      return self.tokenizer(text, add_special_tokens=True, **kwargs)

  def token_id(self, token: str) -> int:
    """A given word-piece's id; `[MASK]` is the mask; unknown pieces the unknown token."""
    if token == TYPED_MASK and self.mask_id is not None:
      return self.mask_id
    if token in self.vocab:
      return self.vocab[token]
    unk = self.tokenizer.unk_token_id
    if unk is None:
      raise ExbertError(f"tokens: '{token}' is not a word-piece of {self.name}")
    return unk

  def target_id(self, target: str) -> int:
    """The id of a gradient target (a word-piece, exactly as in the vocabulary)."""
    if target not in self.vocab:
      raise ExbertError(f"grad_target: '{target}' is not a word-piece of {self.name}")
    return self.vocab[target]

  def pieces(self, ids) -> list[str]:
    """ids -> the tokenizer's word-pieces (`Ġcat`, `##s`)."""
    return self.tokenizer.convert_ids_to_tokens(list(ids))

  def piece(self, token_id: int) -> str:
    return self.tokenizer.convert_ids_to_tokens(int(token_id))

  def focus_position(self, enc: Encoded, is_causal: bool) -> int:
    """Where the gradients look. Masked: first mask token, else the last non-special token.
    Causal: the last token (its next-token prediction)."""
    if is_causal:
      return enc.length - 1
    if self.mask_id is not None and self.mask_id in enc.ids:
      return enc.ids.index(self.mask_id)
    plain = np.flatnonzero(~enc.special)
    return int(plain[-1]) if plain.size else enc.length - 1
