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
  # A sentence pair (masked models' `text_b`): the tokenizer's token type ids [T], 0 for
  # segment A (and its specials), 1 for segment B; None for one sentence. Offsets of segment B's
  # pieces point into `text_b`.
  token_type_ids: Optional[list[int]] = None
  text_b: str = ""

  @property
  def segments(self) -> np.ndarray:
    """int [T]: the segment of each token (0 = A, 1 = B); all 0 for one sentence."""
    if self.token_type_ids is None:
      return np.zeros(len(self.ids), np.int32)
    return np.asarray(self.token_type_ids, np.int32)

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
    # Whether the model reads token type ids (BERT: yes; RoBERTa, DistilBERT: no, and the
    # segments are then only shown, not given to the model).
    self.uses_token_types: bool = "token_type_ids" in getattr(tokenizer, "model_input_names", ())

  def encode(self, text: str, tokens: Optional[Sequence[str]] = None,
             text_b: Optional[str] = None) -> Encoded:
    """Text (or given word-pieces, used as-is) -> ids, offsets, special flags, truncation flag.

    `text_b` (masked models only; empty or None = one sentence) makes a sentence pair with the
    tokenizer's pair encoding (`[CLS] A [SEP] B [SEP]`) and its token type ids; with given
    word-pieces, the pieces after the first separator are segment B.
    Raises ExbertError naming the field for empty input or an unknown word-piece. Over-long
    input is cut to `max_length` tokens (specials kept) with a logged warning and
    `truncated=True`.
    """
    text_b = text_b if isinstance(text_b, str) and text_b.strip() else None
    if text_b is not None and self.mask_token is None:
      raise ExbertError(f"text_b: {self.name} is a causal LM; sentence pairs are for masked "
                        "models: leave text_b empty")
    encoded = self._encode_one(text, tokens, text_b)
    if text_b is not None:
      encoded.text_b = text_b
    return encoded

  def _encode_one(self, text: str, tokens: Optional[Sequence[str]],
                  text_b: Optional[str]) -> Encoded:
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
                     truncated=truncated,
                     token_type_ids=None if text_b is None else self._given_types(ids))
    if not isinstance(text, str) or not text.strip():
      raise ExbertError("text: empty or whitespace-only input; give a sentence")
    model_text, edits = text, []
    if self.mask_token:
      model_text, edits = internals_lib.substitute_mask(text, TYPED_MASK, self.mask_token)
    model_b, edits_b = text_b, []
    if text_b is not None and self.mask_token:
      model_b, edits_b = internals_lib.substitute_mask(text_b, TYPED_MASK, self.mask_token)
    enc = self._tokenize(model_text, model_b)
    truncated = len(enc["input_ids"]) > self.max_length
    if truncated:
      logger.warning("text: %d tokens, more than %s's limit of %d; truncated",
                     len(enc["input_ids"]), self.name, self.max_length)
      enc = self._tokenize(model_text, model_b, truncation=True, max_length=self.max_length)
    ids = list(enc["input_ids"])
    special = np.array([i in self.special_ids for i in ids], bool)
    offsets = np.array(enc.get("offset_mapping") or np.zeros((len(ids), 2)),
                       np.int32).reshape(-1, 2)
    types = None
    if text_b is not None:
      types = (list(enc["token_type_ids"]) if self.uses_token_types and enc.get("token_type_ids")
               else self._given_types(ids))
    in_b = np.asarray(types, bool) if types is not None else np.zeros(len(ids), bool)
    for part, part_edits in ((~in_b, edits), (in_b, edits_b)):
      if part_edits and part.any():
        offsets[part] = np.vectorize(lambda o, e=part_edits: internals_lib.map_offset_back(int(o), e),
                                     otypes=[np.int32])(offsets[part])
    offsets[special] = 0
    return Encoded(text=text, ids=ids, offsets=offsets, special=special, truncated=truncated,
                   token_type_ids=types)

  def _given_types(self, ids: Sequence[int]) -> list[int]:
    """Token types of a pair given as ids: 0 up to and including the first separator, 1 after
    (the tokenizers that return no token type ids, e.g. RoBERTa's, are read the same way)."""
    sep = self.tokenizer.sep_token_id
    first = ids.index(sep) if sep in ids else len(ids) - 1
    return [0 if i <= first else 1 for i in range(len(ids))]

  def _tokenize(self, text: str, text_b: Optional[str] = None, **kwargs):
    """The tokenizer's encoding (of a pair when `text_b` is given) with character offsets, or
    without them (all [0, 0] later) for tokenizers that cannot give offsets (pure-Python ones)."""
    args = (text,) if text_b is None else (text, text_b)
    if text_b is not None:
      kwargs["return_token_type_ids"] = True
    try:
      return self.tokenizer(*args, return_offsets_mapping=True, add_special_tokens=True, **kwargs)
    except NotImplementedError:
      return self.tokenizer(*args, add_special_tokens=True, **kwargs)

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
