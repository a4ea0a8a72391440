"""LIT model wrappers over Hugging Face masked and causal language models.

One forward pass (eager attention, so the weights come back) yields attention, hidden states
E(l) and, through pre-hooks on the output projections, the context embeddings C(l). When
gradients are asked for, the same pass is taken with the word embeddings as a leaf tensor and
one backward of one scalar (sum over the batch of log p(target) at each example's focus
position) gives every example's token gradients.

Field names and LIT types are the contract in docs/FIELDS.md (tokens, special_tokens,
layer_{l}/attention, pred_tokens, mean_emb, layer_{l}/token_emb, layer_{l}/context_emb,
input_embs, token_grad_text, grad_target, target_margin).
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import threading
from typing import Any, Iterable, Optional, Sequence

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types
import numpy as np
import torch
import transformers

from exbert_lit.models import api
from exbert_lit.models import internals as internals_lib

logger = logging.getLogger(__name__)

JsonDict = lit_types.JsonDict
TYPED_MASK = "[MASK]"   # what a user types to mask a position, whatever the tokenizer's mask string
# model_types whose position ids start after the padding index (limit = max_positions - pad - 1).
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")
_CAUSAL_ARCH_SUFFIXES = ("ForCausalLM", "LMHeadModel")
_MASKED_ARCH_SUFFIXES = ("ForMaskedLM", "ForPreTraining")
_TARGET_MEMORY = 4096   # example ids whose gradient target children (HotFlip) inherit
# Default cap on tokens per input, below the model's own limit where that is larger: every
# forward keeps all attention, L x H x T x T floats (SmolLM2 at its 8192 positions: 72 GB).
DEFAULT_MAX_TOKENS = 512


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


def max_input_length(tokenizer, config) -> int:
  """The most tokens (specials included) the model accepts: the tighter of tokenizer and positions."""
  limits = []
  tok_max = getattr(tokenizer, "model_max_length", None)
  if tok_max and tok_max < 1_000_000:
    limits.append(int(tok_max))
  positions = getattr(config, "max_position_embeddings", None)
  if positions:
    if config.model_type in _OFFSET_POSITIONS:
      positions -= (config.pad_token_id or 0) + 1
    limits.append(int(positions))
  return min(limits) if limits else 512


def has_lm_head(config) -> bool:
  """Whether the checkpoint's weights include a language-model head (from `architectures`)."""
  archs = getattr(config, "architectures", None) or []
  if not archs:
    return True   # a bare config: trust the model type
  return any(a.endswith(_CAUSAL_ARCH_SUFFIXES + _MASKED_ARCH_SUFFIXES) for a in archs)


def is_causal_config(config) -> bool:
  """Causal (next-token) or masked LM, from the config's architectures, is_decoder and type."""
  archs = getattr(config, "architectures", None) or []
  if any(a.endswith(_CAUSAL_ARCH_SUFFIXES) for a in archs):
    return True
  if any(a.endswith(_MASKED_ARCH_SUFFIXES) for a in archs):
    return False
  if getattr(config, "is_decoder", False):
    return True
  masked = transformers.models.auto.modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
  causal = transformers.models.auto.modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
  if config.model_type in masked:
    return False
  if config.model_type in causal:
    return True
  raise ValueError(f"model_type '{config.model_type}' is neither a masked nor a causal LM")


def topk_from_logits(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
  """Top-k probabilities (softmax of the logits) and ids, without a full softmax copy.

  logits: [..., V] -> (probs [..., k], ids [..., k]), probabilities in descending order.
  """
  values, ids = torch.topk(logits, k, dim=-1)
  return torch.exp(values - torch.logsumexp(logits, dim=-1, keepdim=True)), ids


def target_margin(logits: torch.Tensor, target: int) -> float:
  """logit(target) - max logit of any other token; > 0 iff target is the unique top-1. logits: [V]."""
  top2_values, top2_ids = torch.topk(logits, 2)
  other = top2_values[1] if int(top2_ids[0]) == target else top2_values[0]
  return float(logits[target] - other)


class HFLanguageModel(lit_model.BatchedModel):
  """Shared machinery of MaskedLM and CausalLM (see module docstring)."""

  is_causal: bool = False

  def __init__(self, name_or_path: str, *, name: Optional[str] = None, top_k: int = 10,
               batch_size: int = 8, compute_gradients: bool = True,
               has_head: Optional[bool] = None, dtype: torch.dtype = torch.float32,
               max_tokens: int = DEFAULT_MAX_TOKENS, device: Optional[str] = None):
    """Loads config, tokenizer and weights with `from_pretrained(name_or_path)`.

    Args:
      name_or_path: short name (see registry.py), local directory, or hub name (passed to
        from_pretrained unchanged).
      name: the name users know it by (default: name_or_path); used in fingerprint().
      top_k: predictions kept per position in `pred_tokens`.
      batch_size: examples per forward pass.
      compute_gradients: False drops the gradient fields (cheaper predictions; no salience).
      has_head: whether the weights carry an LM head; default: read from config.architectures.
      dtype: weights' dtype (float32: gradients and probabilities to 1e-4 need it on CPU).
      max_tokens: longer inputs are truncated (also to the model's own, smaller, limit).
      device: where the forward passes run ("cpu" by default, "cuda", "cuda:1", ...); every
        output is returned on the CPU.
    """
    from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top  (cycle)

    self.name = name or str(name_or_path)
    # Short names (minilm, smollm2) work here too, e.g. from LIT's "load model" dialog.
    name_or_path = registry.resolve(str(name_or_path))
    self.name_or_path = name_or_path
    self.top_k = int(top_k)
    self.batch_size = int(batch_size)
    self.config = transformers.AutoConfig.from_pretrained(name_or_path)
    self.has_head = has_lm_head(self.config) if has_head is None else bool(has_head)
    self.compute_gradients = bool(compute_gradients) and self.has_head
    self.tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path)
    if self.has_head:
      auto = (transformers.AutoModelForCausalLM if self.is_causal
              else transformers.AutoModelForMaskedLM)
    else:
      auto = transformers.AutoModel
    self.model = auto.from_pretrained(name_or_path, attn_implementation="eager", dtype=dtype)
    self.model.eval()
    self.model.requires_grad_(False)   # gradients flow to the input embeddings only
    self.device = torch.device("cpu")
    if device is not None:
      self.to(device)

    self.model_type: str = self.config.model_type
    self.num_layers: int = int(self.config.num_hidden_layers)
    self.num_heads: int = int(self.config.num_attention_heads)
    self.hidden_size: int = int(self.config.hidden_size)
    self._projections = internals_lib.output_projections(
        self.model, self.model_type, self.num_layers)
    self.head_dim: int = _in_features(self._projections[0]) // self.num_heads
    self.max_length: int = min(max_input_length(self.tokenizer, self.config), int(max_tokens))

    tok = self.tokenizer
    self.mask_token: Optional[str] = None if self.is_causal else tok.mask_token
    self._mask_id = tok.mask_token_id if self.mask_token else None
    self._special_ids = frozenset(tok.all_special_ids) - {tok.mask_token_id, tok.unk_token_id}
    self._pad_id = next((i for i in (tok.pad_token_id, tok.eos_token_id, 0) if i is not None))
    self._vocab: dict[str, int] = tok.get_vocab()
    self._embedding_table: Optional[tuple[list[str], np.ndarray]] = None
    self._fingerprint: Optional[str] = None
    self._targets_by_id: collections.OrderedDict[str, str] = collections.OrderedDict()
    # The capture hooks are per model, so two threads must not run forward passes at once.
    self._lock = threading.Lock()

  def to(self, device: str) -> "HFLanguageModel":
    """Moves the weights (e.g. to the GPU a Ray worker was given); outputs stay on the CPU."""
    self.device = torch.device(device)
    self.model.to(self.device)
    self._embedding_table = None
    return self

  # --- LIT Model API -------------------------------------------------------------------------

  @classmethod
  def init_spec(cls) -> lit_types.Spec:
    """Constructor arguments, so LIT's "load model" dialog can make new instances."""
    return {
        "name_or_path": lit_types.String(default=""),
        "top_k": lit_types.Integer(default=10, min_val=1, max_val=100),
        "batch_size": lit_types.Integer(default=8, min_val=1, max_val=256),
        "compute_gradients": lit_types.Boolean(default=True),
        "max_tokens": lit_types.Integer(default=DEFAULT_MAX_TOKENS, min_val=8, max_val=8192),
    }

  def description(self) -> str:
    return f"{self.name} ({'causal' if self.is_causal else 'masked'} LM, {self.model_type})"

  def max_minibatch_size(self) -> int:
    return self.batch_size

  def input_spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {
        "text": lit_types.TextSegment(),
        # Identical to the output's Tokens (LIT's HotFlip requires is_compatible()).
        "tokens": lit_types.Tokens(parent="text", mask_token=self.mask_token, required=False),
    }
    if self.compute_gradients:
      spec["input_embs"] = lit_types.TokenEmbeddings(align="tokens", required=False)
      spec["grad_target"] = lit_types.CategoryLabel(required=False)
    return spec

  def output_spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {
        "tokens": lit_types.Tokens(parent="text", mask_token=self.mask_token),
        "special_tokens": lit_types.TokenScores(align="tokens"),
    }
    for l in range(1, self.num_layers + 1):
      spec[f"layer_{l}/attention"] = lit_types.AttentionHeads(
          align_in="tokens", align_out="tokens")
    if self.has_head:
      spec["pred_tokens"] = lit_types.TokenTopKPreds(align="tokens")
    spec["mean_emb"] = lit_types.Embeddings()
    for l in range(0, self.num_layers + 1):
      spec[f"layer_{l}/token_emb"] = lit_types.TokenEmbeddings(align="tokens")
    for l in range(1, self.num_layers + 1):
      spec[f"layer_{l}/context_emb"] = lit_types.TokenEmbeddings(align="tokens")
    if self.compute_gradients:
      spec["input_embs"] = lit_types.TokenEmbeddings(align="tokens")
      spec["token_grad_text"] = lit_types.TokenGradients(
          align="tokens", grad_for="input_embs", grad_target_field_key="grad_target")
      spec["grad_target"] = lit_types.CategoryLabel()
      spec["target_margin"] = lit_types.RegressionScore()
    return spec

  def get_embedding_table(self) -> tuple[list[str], np.ndarray]:
    """(vocabulary by id, word-embedding matrix [V, D]) for HotFlip's replacement search."""
    if self._embedding_table is None:
      matrix = self.model.get_input_embeddings().weight.detach()
      size = min(matrix.shape[0], len(self.tokenizer))
      vocab = [t if t is not None else "" for t in
               self.tokenizer.convert_ids_to_tokens(list(range(size)))]
      self._embedding_table = (vocab, matrix[:size].cpu().numpy())
    return self._embedding_table

  def predict_minibatch(self, inputs: list[JsonDict]) -> list[JsonDict]:
    encoded = [self.encode(ex.get("text", ""), ex.get("tokens")) for ex in inputs]
    input_embs = [ex.get("input_embs") for ex in inputs]
    targets = [self._requested_target(ex) for ex in inputs]
    run = self._forward(encoded, input_embs=input_embs, targets=targets,
                        with_gradients=self.compute_gradients)
    outputs = [self._example_output(run, b, enc) for b, enc in enumerate(encoded)]
    for ex, out in zip(inputs, outputs):
      if ex.get("_id") and "grad_target" in out:
        self._remember_target(ex["_id"], out["grad_target"])
    return outputs

  # --- exbert-lit server-side API (api.LanguageModel) ---------------------------------------

  def fingerprint(self) -> str:
    """'<name>@sha256:<hex>' over config, tokenizer vocabulary/specials and a weight digest."""
    if self._fingerprint is None:
      h = hashlib.sha256()
      config = self.config.to_dict()
      for volatile in ("_name_or_path", "name_or_path", "transformers_version", "_commit_hash",
                       "torch_dtype", "dtype", "_attn_implementation_autoset",
                       "_attn_implementation", "quantization_config"):
        config.pop(volatile, None)
      h.update(json.dumps(config, sort_keys=True, default=str).encode())
      h.update(json.dumps(sorted(self._vocab.items())).encode())
      h.update(json.dumps(self.tokenizer.all_special_tokens).encode())
      # Weights: names, shapes and ~1k evenly strided values per tensor; cheap (no pass over
      # all weights) yet any fine-tune or re-initialisation changes it.
      with torch.no_grad():
        for pname, p in self.model.state_dict().items():
          flat = p.reshape(-1)
          sample = flat[::max(1, flat.numel() // 1024)]
          h.update(f"{pname}{tuple(p.shape)}".encode())
          h.update(sample.float().cpu().numpy().tobytes())
      self._fingerprint = f"{self.name}@sha256:{h.hexdigest()}"
    return self._fingerprint

  def internals(self, texts: Sequence[str]) -> list[api.SentenceInternals]:
    """Batched, gradient-free forward passes; see api.SentenceInternals for shapes."""
    results: list[api.SentenceInternals] = []
    for start in range(0, len(texts), self.batch_size):
      encoded = [self.encode(t) for t in texts[start:start + self.batch_size]]
      run = self._forward(encoded, with_gradients=False, with_logits=False)
      for b, enc in enumerate(encoded):
        n = enc.length
        results.append(api.SentenceInternals(
            text=enc.text,
            tokens=self.tokenizer.convert_ids_to_tokens(enc.ids),
            offsets=enc.offsets,
            special=enc.special,
            embeddings=torch.stack([h[b, :n] for h in run["hidden"]]).numpy(),
            contexts=torch.stack([c[b, :n] for c in run["contexts"]]).numpy(),
            attention=torch.stack([a[b, :, :n, :n] for a in run["attention"]]).numpy(),
        ))
    return results

  # --- tokenisation ---------------------------------------------------------------------------

  def encode(self, text: str, tokens: Optional[Sequence[str]] = None) -> Encoded:
    """Text (or given word-pieces, used as-is) -> ids, offsets, special flags, truncation flag.

    Raises ValueError naming the field for empty input. Over-long input is cut to
    `max_length` tokens (specials kept) with a logged warning and `truncated=True`.
    """
    if tokens is not None and len(tokens) > 0:
      tokens = list(tokens)
      truncated = len(tokens) > self.max_length
      if truncated:
        logger.warning("tokens: %d word-pieces, more than %s's limit of %d; truncated",
                       len(tokens), self.name, self.max_length)
        tokens = tokens[:self.max_length]
      ids = [self._token_id(t) for t in tokens]
      return Encoded(text=text if isinstance(text, str) else "", ids=ids,
                     offsets=np.zeros((len(ids), 2), np.int32),
                     special=np.array([i in self._special_ids for i in ids], bool),
                     truncated=truncated)
    if not isinstance(text, str) or not text.strip():
      raise ValueError("text: empty or whitespace-only input; give a sentence")
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
    special = np.array([i in self._special_ids for i in ids], bool)
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

  def _token_id(self, token: str) -> int:
    if token == TYPED_MASK and self._mask_id is not None:
      return self._mask_id
    if token in self._vocab:
      return self._vocab[token]
    unk = self.tokenizer.unk_token_id
    if unk is None:
      raise ValueError(f"tokens: '{token}' is not a word-piece of {self.name}")
    return unk

  def _requested_target(self, ex: JsonDict) -> Optional[str]:
    """The token the gradients explain: given, else inherited from the parent example
    (HotFlip's counterfactuals must explain the same token as the original), else None."""
    target = ex.get("grad_target")
    if target:
      return target
    meta = ex.get("_meta") or {}
    parent = meta.get("parentId") if isinstance(meta, dict) else getattr(meta, "parentId", None)
    return self._targets_by_id.get(parent) if parent else None

  def _remember_target(self, example_id: str, target: str):
    self._targets_by_id[example_id] = target
    self._targets_by_id.move_to_end(example_id)
    while len(self._targets_by_id) > _TARGET_MEMORY:
      self._targets_by_id.popitem(last=False)

  # --- the forward (and backward) pass --------------------------------------------------------

  def focus_position(self, enc: Encoded) -> int:
    """Where the gradients look. Masked: first mask token, else the last non-special token.
    Causal: the last token (its next-token prediction)."""
    if self.is_causal:
      return enc.length - 1
    if self._mask_id is not None and self._mask_id in enc.ids:
      return enc.ids.index(self._mask_id)
    plain = np.flatnonzero(~enc.special)
    return int(plain[-1]) if plain.size else enc.length - 1

  def _forward(self, batch: list[Encoded], *, input_embs: Optional[list] = None,
               targets: Optional[list[Optional[str]]] = None, with_gradients: bool,
               with_logits: bool = True) -> dict[str, Any]:
    """One padded forward pass (and, with gradients, one backward).

    Returns tensors with the batch first, padded to the longest input:
      attention: L x [B, H, T, T]; hidden: L+1 x [B, T, D]; contexts: L x [B, T, H*dh]
      (head-normalised); word_embs [B, T, D]; logits [B, T, V] (if a head);
      grads [B, T, D], targets [B] ids, margins [B] (if gradients).
    """
    with self._lock:
      return self._forward_locked(batch, input_embs=input_embs, targets=targets,
                                  with_gradients=with_gradients, with_logits=with_logits)

  def _forward_locked(self, batch, *, input_embs, targets, with_gradients, with_logits):
    n = max(e.length for e in batch)
    ids = torch.full((len(batch), n), self._pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for b, e in enumerate(batch):
      ids[b, :e.length] = torch.tensor(e.ids, dtype=torch.long)
      mask[b, :e.length] = 1
    ids, mask = ids.to(self.device), mask.to(self.device)
    embedding = self.model.get_input_embeddings()
    with torch.no_grad():
      word_embs = embedding(ids)
      for b, given in enumerate(input_embs or []):
        if given is not None:
          given = torch.as_tensor(np.asarray(given), dtype=word_embs.dtype,
                                  device=self.device)
          if given.shape != (batch[b].length, word_embs.shape[-1]):
            raise ValueError(
                f"input_embs: shape {tuple(given.shape)} does not match "
                f"{batch[b].length} tokens x {word_embs.shape[-1]} dims")
          word_embs[b, :batch[b].length] = given
    run: dict[str, Any] = {}
    with torch.set_grad_enabled(with_gradients):
      if with_gradients:
        word_embs.requires_grad_(True)
      with internals_lib.capture_projection_inputs(self._projections) as captured:
        # Without logits or gradients the LM head (for SmolLM2 ~20% of the compute) is skipped.
        needs_head = self.has_head and (with_logits or with_gradients)
        runner = self.model if needs_head else self.model.base_model
        out = runner(inputs_embeds=word_embs, attention_mask=mask,
                     output_attentions=True, output_hidden_states=True)
      logits = getattr(out, "logits", None) if needs_head else None
      if with_gradients and logits is not None:
        focus = [self.focus_position(e) for e in batch]
        focus_logits = logits[torch.arange(len(batch)), focus]          # [B, V]
        target_ids = focus_logits.detach().argmax(-1)
        for b, t in enumerate(targets or []):
          if t:
            target_ids[b] = self._target_id(t)
        log_probs = torch.log_softmax(focus_logits, dim=-1)
        log_probs.gather(1, target_ids[:, None]).sum().backward()
        run["grads"] = word_embs.grad.cpu()
        run["targets"] = target_ids.cpu()
        run["margins"] = [target_margin(focus_logits[b].detach(), int(target_ids[b]))
                          for b in range(len(batch))]
    # Everything returned is on the CPU (a no-op there), where numpy and LIT read it.
    run["attention"] = [a.detach().cpu() for a in out.attentions]
    run["hidden"] = [h.detach().cpu() for h in out.hidden_states]
    run["contexts"] = [internals_lib.normalize_heads(c, self.num_heads).cpu() for c in captured]
    run["word_embs"] = word_embs.detach().cpu()
    if with_logits and logits is not None:
      run["logits"] = logits.detach().cpu()
    return run

  def _target_id(self, target: str) -> int:
    if target not in self._vocab:
      raise ValueError(f"grad_target: '{target}' is not a word-piece of {self.name}")
    return self._vocab[target]

  def _example_output(self, run: dict[str, Any], b: int, enc: Encoded) -> JsonDict:
    """One example's LIT output, as views into the batch tensors (no copies)."""
    n = enc.length
    out: JsonDict = {
        "tokens": self.tokenizer.convert_ids_to_tokens(enc.ids),
        "special_tokens": [float(s) for s in enc.special],
    }
    for l, att in enumerate(run["attention"], start=1):
      out[f"layer_{l}/attention"] = att[b, :, :n, :n].numpy()
    if "logits" in run:
      out["pred_tokens"] = self._top_k_lists(run["logits"][b, :n])
    last = run["hidden"][-1][b, :n]
    plain = torch.from_numpy(~enc.special)
    out["mean_emb"] = (last[plain] if plain.any() else last).mean(0).numpy()
    for l, h in enumerate(run["hidden"]):
      out[f"layer_{l}/token_emb"] = h[b, :n].numpy()
    for l, c in enumerate(run["contexts"], start=1):
      out[f"layer_{l}/context_emb"] = c[b, :n].numpy()
    if "grads" in run:
      out["input_embs"] = run["word_embs"][b, :n].numpy()
      out["token_grad_text"] = run["grads"][b, :n].numpy()
      out["grad_target"] = self._id_to_token(int(run["targets"][b]))
      out["target_margin"] = run["margins"][b]
    return out

  def _top_k_lists(self, logits: torch.Tensor) -> list[list[tuple[str, float]]]:
    """logits [T, V] -> per position [(token, probability)] * k, descending."""
    probs, ids = topk_from_logits(logits, min(self.top_k, logits.shape[-1]))
    tokens = self.tokenizer.convert_ids_to_tokens(ids.reshape(-1).tolist())
    probs = probs.reshape(-1).tolist()
    k = ids.shape[-1]
    return [list(zip(tokens[i * k:(i + 1) * k], probs[i * k:(i + 1) * k]))
            for i in range(ids.shape[0])]

  def _id_to_token(self, token_id: int) -> str:
    return self.tokenizer.convert_ids_to_tokens(token_id)


def _in_features(module: torch.nn.Module) -> int:
  """Input width of a Linear or GPT-2 Conv1D output projection (= heads * head_dim)."""
  if hasattr(module, "in_features"):
    return int(module.in_features)
  return int(module.weight.shape[0])   # transformers' Conv1D stores weight as [in, out]


class MaskedLM(HFLanguageModel):
  """A masked LM (BERT, RoBERTa, DistilBERT, ...): top-k predictions at every position.

  A headless encoder (e.g. a sentence-transformers BERT) loads with `has_head=False`: attention,
  embeddings and contexts work; prediction and gradient fields are absent from the spec.
  """
  is_causal = False


class CausalLM(HFLanguageModel):
  """A causal LM (GPT-2, Llama, ...): entry i of pred_tokens = top-k next tokens after token i."""
  is_causal = True
