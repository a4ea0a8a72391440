"""LIT model wrappers over Hugging Face masked and causal language models: the LIT adapter.

This module speaks LIT (specs, predict_minibatch, the embedding table HotFlip searches, the
constructor arguments LIT's "load model" dialog offers) over a loaded.LoadedLM, which loads the
model and answers the server-side api.LanguageModel (fingerprint, internals, measures, lens);
targets.py keeps the gradient target HotFlip's children inherit from their parent.

Field names and LIT types are the contract in docs/FIELDS.md (tokens, special_tokens,
layer_{l}/attention, pred_tokens, mean_emb, layer_{l}/token_emb, layer_{l}/context_emb,
input_embs, token_grad_text, grad_target, target_margin).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types
import numpy as np
import torch

from exbert_lit.models import fields
from exbert_lit.models import generation as generation_lib
from exbert_lit.models import loaded
from exbert_lit.models import targets as targets_lib
# Re-exported: the names other modules and tests know this module by.
from exbert_lit.models.arch import has_lm_head  # noqa: F401  pylint: disable=unused-import
from exbert_lit.models.arch import is_causal_config  # noqa: F401  pylint: disable=unused-import
from exbert_lit.models.arch import max_input_length  # noqa: F401  pylint: disable=unused-import
from exbert_lit.models.forward import target_margin  # noqa: F401  pylint: disable=unused-import
from exbert_lit.models.forward import topk_from_logits
from exbert_lit.models.tokens import Encoded
from exbert_lit.models.tokens import TYPED_MASK  # noqa: F401  pylint: disable=unused-import

JsonDict = lit_types.JsonDict
# By default a model takes as many tokens as its positions allow (SmolLM2: 8,192; BERT-style
# encoders: 512); `max_tokens` sets a lower cap. Every forward keeps all attention, L x H x T x T
# floats (SmolLM2 at 8,192 tokens: 72 GB), so the exBERT views state their own limit
# (lit/text_checks.py VIEW_MAX_TOKENS) and `exbert-lit predict`, which prints every layer, keeps
# this one.
DEFAULT_MAX_TOKENS = 512


class HFLanguageModel(loaded.LoadedLM, lit_model.BatchedModel):
  """Shared machinery of MaskedLM and CausalLM (see the module docstring)."""

  def __init__(self, name_or_path: str, **options: Any):
    """Loads the model (loaded.LoadedLM: the options are documented there)."""
    super().__init__(name_or_path, **options)
    self._embedding_table: Optional[tuple[list[str], np.ndarray]] = None
    self._targets = targets_lib.TargetMemory()

  def to(self, device: str) -> "HFLanguageModel":
    super().to(device)
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
        "max_tokens": lit_types.Integer(default=0, min_val=0, max_val=131072),   # 0: model's own
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
    if not self.is_causal:
      # A sentence pair's second segment (exBERT issue #12); empty = one sentence. A String, not
      # a TextSegment: LIT's LIME and Ablation Flip read every TextSegment of a model's input spec
      # from each example (`example[key]`), which fails on a dataset without `text_b`. A dataset
      # declares it as a TextSegment (lit/datasets.py), so LIT's editor offers it.
      spec[fields.TEXT_B] = lit_types.String(required=False, default="")
    if self.compute_gradients:
      spec["input_embs"] = lit_types.TokenEmbeddings(align="tokens", required=False)
      spec["grad_target"] = lit_types.CategoryLabel(required=False)
    return spec

  def output_spec(self) -> lit_types.Spec:
    spec: lit_types.Spec = {
        "tokens": lit_types.Tokens(parent="text", mask_token=self.mask_token),
        "special_tokens": lit_types.TokenScores(align="tokens"),
        fields.CHAR_START: lit_types.TokenScores(align="tokens"),
        fields.CHAR_END: lit_types.TokenScores(align="tokens"),
    }
    if not self.is_causal:
      spec[fields.SEGMENT_IDS] = lit_types.TokenScores(align="tokens")
    for l in range(1, self.num_layers + 1):
      spec[fields.attention(l)] = lit_types.AttentionHeads(
          align_in="tokens", align_out="tokens")
    if self.has_head:
      spec["pred_tokens"] = lit_types.TokenTopKPreds(align="tokens")
    spec["mean_emb"] = lit_types.Embeddings()
    for l in range(0, self.num_layers + 1):
      spec[fields.token_emb(l)] = lit_types.TokenEmbeddings(align="tokens")
    for l in range(1, self.num_layers + 1):
      spec[fields.context_emb(l)] = lit_types.TokenEmbeddings(align="tokens")
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
    # A causal model's spec has no text_b: a pair dataset's second segment is not its input.
    encoded = [self.encode(ex.get("text", ""), ex.get("tokens"),
                           None if self.is_causal else ex.get(fields.TEXT_B))
               for ex in inputs]
    input_embs = [ex.get("input_embs") for ex in inputs]
    targets = [self._targets.requested(ex) for ex in inputs]
    run = self._forward(encoded, input_embs=input_embs, targets=targets,
                        with_gradients=self.compute_gradients)
    outputs = [self._example_output(run, b, enc) for b, enc in enumerate(encoded)]
    for ex, out in zip(inputs, outputs):
      if ex.get("_id") and "grad_target" in out:
        self._targets.remember(ex["_id"], out["grad_target"])
    return outputs

  def _example_output(self, run: dict[str, Any], b: int, enc: Encoded) -> JsonDict:
    """One example's LIT output, as views into the batch tensors (no copies)."""
    n = enc.length
    out: JsonDict = {
        "tokens": self.codec.pieces(enc.ids),
        "special_tokens": [float(s) for s in enc.special],
        fields.CHAR_START: [float(o) for o in enc.offsets[:, 0]],
        fields.CHAR_END: [float(o) for o in enc.offsets[:, 1]],
    }
    if not self.is_causal:
      out[fields.SEGMENT_IDS] = [float(s) for s in enc.segments]
    for l, att in enumerate(run["attention"], start=1):
      out[fields.attention(l)] = att[b, :, :n, :n].numpy()
    if "logits" in run:
      out["pred_tokens"] = self._top_k_lists(run["logits"][b, :n])
    last = run["hidden"][-1][b, :n]
    plain = torch.from_numpy(~enc.special)
    out["mean_emb"] = (last[plain] if plain.any() else last).mean(0).numpy()
    for l, h in enumerate(run["hidden"]):
      out[fields.token_emb(l)] = h[b, :n].numpy()
    for l, c in enumerate(run["contexts"], start=1):
      out[fields.context_emb(l)] = c[b, :n].numpy()
    if "grads" in run:
      out["input_embs"] = run["word_embs"][b, :n].numpy()
      out["token_grad_text"] = run["grads"][b, :n].numpy()
      out["grad_target"] = self.codec.piece(int(run["targets"][b]))
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


class MaskedLM(HFLanguageModel):
  """A masked LM (BERT, RoBERTa, DistilBERT, ...): top-k predictions at every position.

  A headless encoder (e.g. a sentence-transformers BERT) loads with `has_head=False`: attention,
  embeddings and contexts work; prediction and gradient fields are absent from the spec.
  """
  is_causal = False


class CausalLM(HFLanguageModel):
  """A causal LM (GPT-2, Llama, ...): entry i of pred_tokens = top-k next tokens after token i."""
  is_causal = True

  def generate(self, text: str, max_new_tokens: Any = None, temperature: Any = None,
               seed: Any = None, *, layers: Sequence[int] = (),
               top_k: Optional[int] = None) -> "generation_lib.Generation":
    """Generates after `text` on the key/value cache: greedy, or sampling when a temperature
    above 0 is given (reproducible with `seed`). `layers` (1-based) are the layers whose
    attention to capture: each generated token's row [H, position + 1], and
    `Generation.attention(l)` [H, T, T]. `Generation.to_json()` is what
    `exbert-lit generate --json` prints; see models/generation.py and docs/FIELDS.md."""
    config = generation_lib.settings(max_new_tokens, temperature, seed)
    with self._lock:
      return generation_lib.generate(self, text, config, layers=layers, top_k=top_k)
