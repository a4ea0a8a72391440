"""LIT model wrappers for Hugging Face masked and causal LMs (see api.py for the server-side contract).

`load_model`, `MaskedLM`, `CausalLM` and `ModelNotFoundError` are imported lazily, so that
`from exbert_lit.models import api` stays cheap (no torch, no LIT).
"""
import importlib

_LAZY = {
    "load_model": "exbert_lit.models.registry",
    "ModelNotFoundError": "exbert_lit.models.registry",
    "MaskedLM": "exbert_lit.models.hf",
    "CausalLM": "exbert_lit.models.hf",
}


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'exbert_lit.models' has no attribute '{name}'")
