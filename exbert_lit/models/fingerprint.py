"""A stable id of a loaded model: what a corpus store records, so that it refuses to be searched
with other weights or another tokenizer."""
from __future__ import annotations

import hashlib
import json

import torch

# Config entries that change with how a model was loaded or saved, not with what it computes.
_VOLATILE_CONFIG = ("_name_or_path", "name_or_path", "transformers_version", "_commit_hash",
                    "torch_dtype", "dtype", "_attn_implementation_autoset",
                    "_attn_implementation", "quantization_config")
SAMPLES_PER_TENSOR = 1024


def fingerprint(name: str, config, tokenizer, model: torch.nn.Module) -> str:
  """'<name>@sha256:<hex>' over the config, the tokenizer's vocabulary and specials, and a
  digest of the weights: names, shapes and ~SAMPLES_PER_TENSOR evenly strided values per tensor.
  Cheap (no pass over all weights), yet any fine-tune or re-initialisation changes it; loading
  the same weights by another path or dtype does not change the hash part."""
  h = hashlib.sha256()
  entries = config.to_dict()
  for volatile in _VOLATILE_CONFIG:
    entries.pop(volatile, None)
  h.update(json.dumps(entries, sort_keys=True, default=str).encode())
  h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
  h.update(json.dumps(tokenizer.all_special_tokens).encode())
  with torch.no_grad():
    for pname, p in model.state_dict().items():
      flat = p.reshape(-1)
      sample = flat[::max(1, flat.numel() // SAMPLES_PER_TENSOR)]
      h.update(f"{pname}{tuple(p.shape)}".encode())
      h.update(sample.float().cpu().numpy().tobytes())
  return f"{name}@sha256:{h.hexdigest()}"
