"""A Hugging Face masked or causal LM loaded for exbert-lit, and the server-side API
(api.LanguageModel) on it: loading (config, tokenizer, weights, device), fingerprint, internals,
measures, the logit lens, tokenisation and the forward pass. No LIT here: hf.py makes it a LIT
model (specs, predict_minibatch, HotFlip's embedding table).

The work is done by its neighbours:
  arch.py         what the config says (masked or causal, LM head, token limit)
  tokens.py       text or given word-pieces -> ids, offsets, special flags
  forward.py      the padded forward (and backward) pass: attention, E(l), C(l), gradients
  fingerprint.py  the stable id a corpus store records
  measures.py     value-weighted attention and rollout (`measures`)
  lens.py         the logit lens (`logit_lens`)
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Sequence

import torch
import transformers

from exbert_lit.errors import ExbertError
from exbert_lit.models import api
from exbert_lit.models import fingerprint as fingerprint_lib
from exbert_lit.models import forward as forward_lib
from exbert_lit.models import internals as internals_lib
from exbert_lit.models import lens as lens_lib
from exbert_lit.models import measures as measures_lib
from exbert_lit.models import tokens as tokens_lib
from exbert_lit.models.arch import has_lm_head
from exbert_lit.models.arch import max_input_length
from exbert_lit.models.tokens import Encoded


class LoadedLM:
  """A loaded model and what the server asks of it (see the module docstring); `is_causal` is
  set by the subclass (hf.MaskedLM, hf.CausalLM)."""

  is_causal: bool = False

  def __init__(self, name_or_path: str, *, name: Optional[str] = None, top_k: int = 10,
               batch_size: int = 8, compute_gradients: bool = True,
               has_head: Optional[bool] = None, dtype: torch.dtype = torch.float32,
               max_tokens: Optional[int] = None, device: Optional[str] = None):
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
      max_tokens: longer inputs are truncated (also to the model's own, smaller, limit); None
        or 0: the model's own limit.
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
    self.head_dim: int = internals_lib.projection_width(self._projections[0]) // self.num_heads
    # The model's own limit (positions, tokenizer); inputs are cut to max_length, at most that.
    self.position_limit: int = max_input_length(self.tokenizer, self.config)
    self.max_length: int = (min(self.position_limit, int(max_tokens)) if max_tokens
                            else self.position_limit)
    self.codec = tokens_lib.TokenCodec(self.tokenizer, name=self.name, max_length=self.max_length,
                                       masked=not self.is_causal)
    self.mask_token: Optional[str] = self.codec.mask_token
    self._fingerprint: Optional[str] = None
    self._out_grams: Optional[list[torch.Tensor]] = None   # W_O^h W_O^h^T per layer, [H, dh, dh]
    self._readout: Optional[lens_lib.Readout] = lens_lib.readout(
        self.model, self.model_type, is_causal=self.is_causal, has_head=self.has_head,
        num_layers=self.num_layers)
    # The capture hooks are per model, so two threads must not run forward passes at once.
    self._lock = threading.Lock()

  def to(self, device: str) -> "LoadedLM":
    """Moves the weights (e.g. to the GPU a Ray worker was given); outputs stay on the CPU."""
    self.device = torch.device(device)
    self.model.to(self.device)
    self._out_grams = None
    return self

  # --- exbert-lit server-side API (api.LanguageModel) ---------------------------------------

  def fingerprint(self) -> str:
    """'<name>@sha256:<hex>' over config, tokenizer vocabulary/specials and a weight digest."""
    if self._fingerprint is None:
      self._fingerprint = fingerprint_lib.fingerprint(self.name, self.config, self.tokenizer,
                                                      self.model)
    return self._fingerprint

  def internals(self, texts: Sequence[str],
                texts_b: Optional[Sequence[Optional[str]]] = None
                ) -> list[api.SentenceInternals]:
    """Batched, gradient-free forward passes; see api.SentenceInternals for shapes. `texts_b`,
    per text, a sentence pair's second segment (masked models) or None."""
    results: list[api.SentenceInternals] = []
    pairs = list(zip(texts, texts_b or [None] * len(texts)))
    for start in range(0, len(pairs), self.batch_size):
      encoded = [self.encode(t, None, b) for t, b in pairs[start:start + self.batch_size]]
      run = self._forward(encoded, with_gradients=False, with_logits=False)
      for b, enc in enumerate(encoded):
        n = enc.length
        results.append(api.SentenceInternals(
            text=enc.text,
            tokens=self.codec.pieces(enc.ids),
            offsets=enc.offsets,
            special=enc.special,
            embeddings=torch.stack([h[b, :n] for h in run["hidden"]]).numpy(),
            contexts=torch.stack([c[b, :n] for c in run["contexts"]]).numpy(),
            attention=torch.stack([a[b, :, :n, :n] for a in run["attention"]]).numpy(),
        ))
    return results

  def measures(self, texts: Sequence[str],
               tokens: Optional[Sequence[Optional[Sequence[str]]]] = None,
               texts_b: Optional[Sequence[Optional[str]]] = None
               ) -> list[api.SentenceMeasures]:
    """Value-weighted attention and rollout (measures.py), from batched gradient-free forward
    passes; `tokens`, per text, word-pieces to use as given (or None); `texts_b`, per text, a
    sentence pair's second segment (or None). Shapes in api.py."""
    items = list(zip(texts, tokens or [None] * len(texts), texts_b or [None] * len(texts)))
    results: list[api.SentenceMeasures] = []
    for start in range(0, len(items), self.batch_size):
      encoded = [self.encode(*item) for item in items[start:start + self.batch_size]]
      run = self._forward(encoded, with_gradients=False, with_logits=False, with_values=True,
                          with_contexts=False)
      for b, enc in enumerate(encoded):
        n = enc.length
        attention = torch.stack([a[b, :, :n, :n] for a in run["attention"]])
        norms = torch.stack([v[b, :, :n] for v in run["value_norms"]])
        results.append(api.SentenceMeasures(
            text=enc.text, tokens=self.codec.pieces(enc.ids), special=enc.special,
            attention=attention.numpy(),
            attention_norm=measures_lib.attention_norm(attention, norms).numpy(),
            rollout=measures_lib.rollout(attention).numpy()))
    return results

  @property
  def has_lens(self) -> bool:
    """Whether the model has a read-out for the logit lens (an LM head of a known kind)."""
    return self._readout is not None

  def logit_lens(self, texts: Sequence[str], k: int = 5,
                 tokens: Optional[Sequence[Optional[Sequence[str]]]] = None,
                 texts_b: Optional[Sequence[Optional[str]]] = None
                 ) -> list[api.SentenceLens]:
    """The top-k of the model's read-out applied to every E(l), l = 0..L (lens.py); ExbertError
    for a model without one (an encoder)."""
    if self._readout is None:
      raise lens_lib.no_lens_error(self.name, self.model_type, self.has_head)
    if k < 1:
      raise ExbertError(f"logit lens: k must be at least 1, got {k}")
    items = list(zip(texts, tokens or [None] * len(texts), texts_b or [None] * len(texts)))
    results: list[api.SentenceLens] = []
    for start in range(0, len(items), self.batch_size):
      encoded = [self.encode(*item) for item in items[start:start + self.batch_size]]
      run = self._forward(encoded, with_gradients=False, with_logits=False, with_contexts=False)
      for b, enc in enumerate(encoded):
        hidden = [h[b, :enc.length].to(self.device) for h in run["hidden"]]
        lens = lens_lib.logit_lens(hidden, self._readout, k)
        ids = lens.ids.cpu()
        flat = self.codec.pieces(ids.reshape(-1).tolist())
        layers, count, kept = ids.shape
        results.append(api.SentenceLens(
            text=enc.text, tokens=self.codec.pieces(enc.ids), special=enc.special,
            top_tokens=[[flat[(l * count + i) * kept:(l * count + i + 1) * kept]
                         for i in range(count)] for l in range(layers)],
            top_ids=ids.numpy(), top_probs=lens.probs.cpu().numpy(),
            final_rank=lens.final_rank.cpu().numpy()))
    return results

  # --- tokenisation (tokens.py) --------------------------------------------------------------

  def encode(self, text: str, tokens: Optional[Sequence[str]] = None,
             text_b: Optional[str] = None) -> Encoded:
    """Text (or given word-pieces, used as-is) -> ids, offsets, special flags, truncation flag
    (see tokens.TokenCodec.encode); `text_b` makes a sentence pair (masked models; ExbertError
    for a causal one); ExbertError for empty input."""
    return self.codec.encode(text, tokens, text_b)

  def focus_position(self, enc: Encoded) -> int:
    """Where the gradients look. Masked: first mask token, else the last non-special token.
    Causal: the last token (its next-token prediction)."""
    return self.codec.focus_position(enc, self.is_causal)

  # --- the forward (and backward) pass (forward.py) -------------------------------------------

  def _forward(self, batch: list[Encoded], *, input_embs: Optional[list] = None,
               targets: Optional[list[Optional[str]]] = None, with_gradients: bool,
               with_logits: bool = True, with_values: bool = False,
               with_contexts: bool = True) -> dict[str, Any]:
    """One padded forward pass (and, with gradients, one backward).

    Returns tensors with the batch first, padded to the longest input:
      attention: L x [B, H, T, T]; hidden: L+1 x [B, T, D]; contexts: L x [B, T, H*dh]
      (head-normalised); word_embs [B, T, D]; logits [B, T, V] (if a head);
      grads [B, T, D], targets [B] ids, margins [B] (if gradients);
      value_norms: L x [B, H, T] (if with_values); no contexts if not with_contexts.
    """
    values = out_grams = None
    if with_values:
      modules, layout = internals_lib.value_modules(self.model, self.model_type, self.num_layers)
      values = (modules, layout, self.head_dim)
      if self._out_grams is None:
        self._out_grams = [measures_lib.output_grams(
            internals_lib.output_weights_per_head(p, self.num_heads)) for p in self._projections]
      out_grams = self._out_grams
    with self._lock:
      return forward_lib.forward(
          self.model, batch, codec=self.codec, projections=self._projections,
          num_heads=self.num_heads, has_head=self.has_head, is_causal=self.is_causal,
          device=self.device, input_embs=input_embs, targets=targets,
          with_gradients=with_gradients, with_logits=with_logits, values=values,
          out_grams=out_grams, with_contexts=with_contexts)
