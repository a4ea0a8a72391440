"""What a Hugging Face config says about a checkpoint: masked or causal, with or without an LM
head, and how many tokens it accepts. Read before any weights load (registry.load_model picks
the wrapper class from it; the CLI checks a model with it before loading one)."""
from __future__ import annotations

import transformers

from exbert_lit.errors import ExbertError

# model_types whose position ids start after the padding index (limit = max_positions - pad - 1).
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")
_CAUSAL_ARCH_SUFFIXES = ("ForCausalLM", "LMHeadModel")
_MASKED_ARCH_SUFFIXES = ("ForMaskedLM", "ForPreTraining")


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
  """Causal (next-token) or masked LM, from the config's architectures, is_decoder and type.

  Raises ExbertError for a model that is neither (e.g. T5): the user chose the wrong model.
  """
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
  raise ExbertError(f"model_type '{config.model_type}' is neither a masked nor a causal LM")
