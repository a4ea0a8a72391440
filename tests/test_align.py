"""Word-piece to word alignment: a table of the cases tokenizers produce."""
from __future__ import annotations

import numpy as np
import pytest

from exbert_lit.corpus import align

S = True   # special
N = False


def spans(text: str, words: list[str]) -> list[tuple[int, int]]:
  """Character spans of `words`, found left to right in `text`."""
  out, at = [], 0
  for w in words:
    start = text.index(w, at)
    out.append((start, start + len(w)))
    at = start + len(w)
  return out


CASES = [
    # id, text, words (spaCy), pieces as (start, end, special), expected word per piece
    ("wordpiece_with_specials", "The girl ran",
     ["The", "girl", "ran"],
     [(0, 0, S), (0, 3, N), (4, 8, N), (9, 11, N), (11, 12, N), (0, 0, S)],  # ran -> ra ##n
     [-1, 0, 1, 2, 2, -1]),
    ("contraction_wordpiece", "She didn't go",
     ["She", "did", "n't", "go"],
     [(0, 0, S), (0, 3, N), (4, 8, N), (8, 9, N), (9, 10, N), (11, 13, N), (0, 0, S)],
     # didn -> did (3 of 4 chars); ' -> n't; t -> n't
     [-1, 0, 1, 2, 2, 3, -1]),
    ("contraction_bpe_G_prefix_span_includes_space", "She didn't go",
     ["She", "did", "n't", "go"],
     # GPT-2 style without trimmed offsets: "Ġdid" spans " did", "n't" whole, "Ġgo" spans " go"
     [(0, 3, N), (3, 7, N), (7, 10, N), (10, 13, N)],
     [0, 1, 2, 3]),
    ("metaspace_bare_marker", "a cat",
     ["a", "cat"],
     # Llama: <s>, "▁a", a bare "▁" (the space) then "cat"
     [(0, 0, S), (0, 1, N), (1, 2, N), (2, 5, N)],
     [-1, 0, 1, 1]),
    ("punctuation_run", "Wait...!? Yes",
     ["Wait", "...", "!?", "Yes"],
     [(0, 4, N), (4, 5, N), (5, 6, N), (6, 7, N), (7, 8, N), (8, 9, N), (10, 13, N)],
     [0, 1, 1, 1, 2, 2, 3]),
    ("piece_spanning_two_words_goes_to_larger_overlap", "can't",
     ["ca", "n't"],
     [(0, 3, N), (3, 5, N)],
     [0, 1]),
    ("unicode_accents_and_cjk", "Café 東京 naïve",
     ["Café", "東京", "naïve"],
     [(0, 3, N), (3, 4, N), (5, 6, N), (6, 7, N), (8, 13, N)],
     [0, 0, 1, 1, 2]),
    ("emoji_byte_pieces_share_a_span", "hi 👍",
     ["hi", "👍"],
     # byte-level BPE splits the emoji into bytes that all report its one-character span
     [(0, 2, N), (3, 4, N), (3, 4, N)],
     [0, 1, 1]),
    ("zero_width_piece_inside_text_goes_to_next_word", "a b",
     ["a", "b"],
     [(0, 1, N), (2, 2, N), (2, 3, N)],
     [0, 1, 1]),
    ("trailing_marker_after_last_word", "end",
     ["end"],
     [(0, 3, N), (3, 3, N)],
     [0, 0]),
    ("only_specials", "",
     [],
     [(0, 0, S), (0, 0, S)],
     [-1, -1]),
    ("empty_input", "", [], [], []),
    ("truncated_pieces_cover_first_words", "one two three",
     ["one", "two", "three"],
     [(0, 0, S), (0, 3, N), (0, 0, S)],
     [-1, 0, -1]),
]


@pytest.mark.parametrize("text,words,pieces,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_align_pieces(text, words, pieces, expected):
  offsets = np.array([(a, b) for a, b, _ in pieces], dtype=np.int32).reshape(-1, 2)
  special = np.array([s for _, _, s in pieces], dtype=bool)
  got = align.align_pieces(offsets, special, np.array(spans(text, words)).reshape(-1, 2))
  assert got.tolist() == expected
  assert got.dtype == np.int32


def test_mismatched_lengths_is_an_error():
  with pytest.raises(ValueError, match="special has 1 entries"):
    align.align_pieces(np.zeros((2, 2)), np.zeros(1, bool), np.zeros((1, 2)))


def test_real_tokenizer_offsets_align_with_spacy(tiny_model_dirs):
  """End to end with a real fast tokenizer's offsets (tiny RoBERTa: byte-level BPE, Ġ)."""
  transformers = pytest.importorskip("transformers")
  from exbert_lit.corpus import annotate
  tok = transformers.AutoTokenizer.from_pretrained(str(tiny_model_dirs["roberta"]))
  text = "It's a small world, isn't it?"
  enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
  nlp = annotate.load_pipeline()
  (sentence,) = list(annotate.annotate([text], nlp, split=False))
  words, labels = annotate.piece_labels(sentence, np.array(enc["offset_mapping"]),
                                        np.array(enc["special_tokens_mask"], bool))
  pieces = tok.convert_ids_to_tokens(enc["input_ids"])
  assert labels[0] is None and labels[-1] is None  # <s>, </s>
  for piece, w, (a, b) in zip(pieces, words, enc["offset_mapping"]):
    if w >= 0:  # every real piece overlaps the word it is given (or is only whitespace)
      wa, wb = sentence.spans[w]
      assert max(a, wa) < min(b, wb) or not text[a:b].strip(), (piece, w)
  # "," after "world" is its own word with POS PUNCT
  comma = [i for i, p in enumerate(pieces) if p == ","]
  assert comma and labels[comma[0]]["pos"] == "PUNCT"
