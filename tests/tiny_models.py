"""Tiny random-init Hugging Face models built from configs, saved so they load offline.

Each builder writes a directory (config, safetensors weights, tokenizer) that loads through the
real `AutoModel*.from_pretrained(path)` / `AutoTokenizer.from_pretrained(path)` code, exactly as
a hub checkpoint would. No network: BERT-style models get a WordPiece vocabulary written here;
RoBERTa and GPT-2 get a byte-level BPE, Llama a metaspace (sentencepiece-style) BPE, each trained
with the `tokenizers` library on a few sentences in milliseconds.

The models are small (2 layers, hidden size 32, 4 heads) so a whole test file runs in seconds,
and have a short position limit (`MAX_POSITIONS`) so over-long input is cheap to test.
"""
from __future__ import annotations

import json
import pathlib
from typing import Callable

import tokenizers
import torch
import transformers

MAX_POSITIONS = 64   # tokens, specials included
HIDDEN = 32
LAYERS = 2
HEADS = 4
KV_HEADS = 2         # Llama: grouped-query attention, 2 query heads per key/value head
INTERMEDIATE = 64
# Larger than the usual 0.02 so that random models make distinct, non-uniform predictions.
INIT_RANGE = 0.2

SENTENCES = (
    "The man visited the nurse and told her the news.",
    "The woman visited the doctor and asked him about the results.",
    "A cat sat on the mat while the dog slept by the door.",
    "Researchers read attention heads in every layer of the model.",
    "She went to the store because she needed bread, milk and eggs.",
    "It's a small world, isn't it? Yes: 42 people said so!",
    "Language models predict the next word from the words before it.",
)

_WORDS = sorted({w.strip(".,?!:'").lower() for s in SENTENCES for w in s.split()} - {""})
_PIECES = ("##s", "##ed", "##ing", "##er", "##ly", "##'", "##t")


def bert_vocab() -> list[str]:
  """A WordPiece vocabulary: specials, characters (so nothing is [UNK]), words, suffixes."""
  specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  chars = sorted({c for s in SENTENCES for c in s.lower() if not c.isspace()})
  vocab = specials + chars + ["##" + c for c in chars if c.isalnum()]
  vocab += _WORDS + list(_PIECES)
  return list(dict.fromkeys(vocab))   # unique, first occurrence keeps its id


def _bpe_vocab_merges(trainer_cls, vocab_size: int, special_tokens: list[str]):
  """Trains a BPE tokenizer on SENTENCES; returns (vocab dict, merges as pairs)."""
  bpe = trainer_cls()
  bpe.train_from_iterator(list(SENTENCES), vocab_size=vocab_size, min_frequency=1,
                          special_tokens=special_tokens, show_progress=False)
  model = json.loads(bpe._tokenizer.to_str())["model"]  # pylint: disable=protected-access
  return model["vocab"], [tuple(m) for m in model["merges"]]


def _bert_tokenizer() -> transformers.PreTrainedTokenizerBase:
  vocab = {tok: i for i, tok in enumerate(bert_vocab())}
  return transformers.BertTokenizer(vocab=vocab, do_lower_case=True,
                                    model_max_length=MAX_POSITIONS)


def _save(path: pathlib.Path, model: transformers.PreTrainedModel,
          tokenizer: transformers.PreTrainedTokenizerBase) -> pathlib.Path:
  path = pathlib.Path(path)
  path.mkdir(parents=True, exist_ok=True)
  model.eval()
  model.save_pretrained(path)
  tokenizer.save_pretrained(path)
  return path


def build_bert(path) -> pathlib.Path:
  """BertForMaskedLM: WordPiece, [CLS] ... [SEP], [MASK]."""
  torch.manual_seed(0)
  tok = _bert_tokenizer()
  config = transformers.BertConfig(
      vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
      num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
      max_position_embeddings=MAX_POSITIONS, initializer_range=INIT_RANGE)
  return _save(path, transformers.BertForMaskedLM(config), tok)


def build_bert_encoder(path) -> pathlib.Path:
  """A headless BertModel, like the minilm sentence encoder: no MLM head in the weights."""
  torch.manual_seed(1)
  tok = _bert_tokenizer()
  config = transformers.BertConfig(
      vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
      num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
      max_position_embeddings=MAX_POSITIONS, initializer_range=INIT_RANGE,
      architectures=["BertModel"])
  return _save(path, transformers.BertModel(config), tok)


def build_distilbert(path) -> pathlib.Path:
  """DistilBertForMaskedLM: same WordPiece tokenizer as BERT."""
  torch.manual_seed(2)
  tok = _bert_tokenizer()
  config = transformers.DistilBertConfig(
      vocab_size=len(tok), dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS,
      hidden_dim=INTERMEDIATE, max_position_embeddings=MAX_POSITIONS,
      initializer_range=INIT_RANGE)
  return _save(path, transformers.DistilBertForMaskedLM(config), tok)


def build_roberta(path) -> pathlib.Path:
  """RobertaForMaskedLM: byte-level BPE (Ġ prefixes), <s> ... </s>, <mask>."""
  torch.manual_seed(3)
  vocab, merges = _bpe_vocab_merges(
      tokenizers.ByteLevelBPETokenizer, 400, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
  tok = transformers.RobertaTokenizer(
      vocab=vocab, merges=merges, model_max_length=MAX_POSITIONS,
      mask_token=tokenizers.AddedToken("<mask>", lstrip=True, rstrip=False))
  config = transformers.RobertaConfig(
      vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
      num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
      # RoBERTa's positions start after the padding index (1), hence + 2.
      max_position_embeddings=MAX_POSITIONS + 2, pad_token_id=1, bos_token_id=0,
      eos_token_id=2, initializer_range=INIT_RANGE)
  return _save(path, transformers.RobertaForMaskedLM(config), tok)


def build_gpt2(path) -> pathlib.Path:
  """GPT2LMHeadModel: byte-level BPE, no special tokens added around the text."""
  torch.manual_seed(4)
  vocab, merges = _bpe_vocab_merges(tokenizers.ByteLevelBPETokenizer, 400, ["<|endoftext|>"])
  tok = transformers.GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=MAX_POSITIONS)
  config = transformers.GPT2Config(
      vocab_size=len(tok), n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
      n_positions=MAX_POSITIONS, bos_token_id=0, eos_token_id=0,
      initializer_range=INIT_RANGE)
  return _save(path, transformers.GPT2LMHeadModel(config), tok)


def build_llama(path) -> pathlib.Path:
  """LlamaForCausalLM with grouped-query attention (4 query heads share 2 key/value heads)."""
  torch.manual_seed(5)
  vocab, merges = _bpe_vocab_merges(
      tokenizers.SentencePieceBPETokenizer, 300, ["<unk>", "<s>", "</s>"])
  tok = transformers.LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True,
                                    model_max_length=MAX_POSITIONS)
  config = transformers.LlamaConfig(
      vocab_size=len(tok), hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
      num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
      head_dim=HIDDEN // HEADS, max_position_embeddings=MAX_POSITIONS,
      bos_token_id=1, eos_token_id=2, initializer_range=INIT_RANGE,
      tie_word_embeddings=False)
  return _save(path, transformers.LlamaForCausalLM(config), tok)


BUILDERS: dict[str, Callable[[pathlib.Path], pathlib.Path]] = {
    "bert": build_bert,
    "roberta": build_roberta,
    "distilbert": build_distilbert,
    "gpt2": build_gpt2,
    "llama": build_llama,
    "bert_encoder": build_bert_encoder,
}
MASKED = ("bert", "roberta", "distilbert")
CAUSAL = ("gpt2", "llama")


def build_corpus_stores(root: pathlib.Path, sentences, model_dirs) -> dict[str, pathlib.Path]:
  """A corpus store per tiny model over `sentences` (each twice), keyed '<name>_corpus'.

  model_dirs: name -> tiny model directory. Shared by the HTTP and browser tests' fixtures.
  """
  from exbert_lit.corpus import build  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  text = root / "corpus.txt"
  text.write_text("\n\n".join(list(sentences) * 2), encoding="utf-8")
  stores = {}
  for name, path in model_dirs.items():
    stores[f"{name}_corpus"] = root / f"{name}_store"
    build.build(load_model(str(path)), str(text), stores[f"{name}_corpus"], progress=False)
  return stores
