"""Generation benchmark (section `generation` of `exbert-lit bench`): tokens per second of
greedy generation on the key/value cache, with and without capturing attention.

Per model and repeat, side by side on the same prompt and the same loaded weights:
  - HF's own `generate(do_sample=False)` (the reference loop, no attention);
  - our loop without attention (`exbert-lit generate` without --layer);
  - our loop capturing one layer's attention (`--layer 1`);
  - our loop capturing every layer's (what `_NAME_generate` serves the attention view).
Each generates exactly `--generation-tokens` tokens (the end-of-sequence token is disabled for
the run, so every variant does the same work). Medians over `--generation-repeats`, after one
untimed warm-up of each. Tokens/s counts generated tokens over the wall time of the whole call
(prefill included). Our models load with eager attention (the weights must come back), so the
attention itself is computed in every variant; capturing it costs the copies and, for the last
token, one extra single-token forward.

Models: `smollm2` (SmolLM2-135M) and `tiny-llama-random` (a 2-layer Llama, 64 wide, 4 query and
2 key/value heads, random weights, smollm2's tokenizer: where the per-step overhead shows).
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time
from typing import Callable

from exbert_lit.bench import metric
from exbert_lit.cli import positive_int

SECTION = "generation"
DEFAULT_MODELS = ("smollm2", "tiny-llama-random")
PROMPT = "The committee said that the city council would meet again next week because"


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--generation-models", default=",".join(DEFAULT_MODELS),
                      help="comma-separated causal models for the generation section")
  parser.add_argument("--generation-tokens", type=positive_int, default=64,
                      help="tokens generated per call (default 64)")
  parser.add_argument("--generation-repeats", type=positive_int, default=5,
                      help="timed repeats per variant (default 5)")


def _tiny_llama(directory: pathlib.Path) -> pathlib.Path:
  """A 2-layer random Llama with smollm2's tokenizer (see module docstring)."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  tokenizer = transformers.AutoTokenizer.from_pretrained(str(registry.smollm2_dir()))
  config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64,
                                    intermediate_size=128, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2,
                                    max_position_embeddings=2048,
                                    architectures=["LlamaForCausalLM"])
  transformers.LlamaForCausalLM(config).save_pretrained(directory)
  tokenizer.save_pretrained(directory)
  return directory


RANDOM_MODELS = {"tiny-llama-random": _tiny_llama}


def bench_model(name: str, new_tokens: int, repeats: int, workdir: pathlib.Path) -> dict:
  """Median seconds per variant for one model; see the module docstring."""
  import torch  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  source = str(RANDOM_MODELS[name](workdir / name)) if name in RANDOM_MODELS else name
  model = registry.load_model(source, compute_gradients=False)
  net = model.model
  net.generation_config.eos_token_id = None   # every variant generates new_tokens tokens
  all_layers = tuple(range(1, model.num_layers + 1))
  prompt = torch.tensor([model.encode(PROMPT).ids])

  def ours(layers) -> Callable[[], int]:
    return lambda: len(model.generate(PROMPT, new_tokens, layers=layers).steps)

  def reference() -> int:
    with torch.no_grad():
      out = net.generate(prompt, do_sample=False, max_new_tokens=new_tokens,
                         min_new_tokens=new_tokens, pad_token_id=model.codec.pad_id)
    return out.shape[1] - prompt.shape[1]

  variants = {"hf_generate": reference, "no_attention": ours(()), "one_layer": ours((1,)),
              "all_layers": ours(all_layers)}
  times: dict[str, list[float]] = {k: [] for k in variants}
  for run in variants.values():
    assert run() == new_tokens   # warm-up, and every variant does the same work
  for _ in range(repeats):
    for key, run in variants.items():
      started = time.perf_counter()
      run()
      times[key].append(time.perf_counter() - started)
  return {"model": name, "layers": model.num_layers, "prompt_tokens": int(prompt.shape[1]),
          "new_tokens": new_tokens, "seconds": {k: statistics.median(v) for k, v in times.items()}}


def run(args: argparse.Namespace) -> dict:
  names = [m.strip() for m in str(args.generation_models).split(",") if m.strip()]
  results, metrics = [], []
  with tempfile.TemporaryDirectory(prefix="exbert-bench-generation-") as tmp:
    for name in names:
      r = bench_model(name, args.generation_tokens, args.generation_repeats, pathlib.Path(tmp))
      results.append(r)
      rate = {k: r["new_tokens"] / s for k, s in r["seconds"].items()}
      note = f"{r['prompt_tokens']}-token prompt, {r['new_tokens']} new tokens, greedy"
      metrics += [
          metric(f"{name} HF generate (reference)", rate["hf_generate"], "tok/s", note=note),
          metric(f"{name} generate, no attention", rate["no_attention"], "tok/s"),
          metric(f"{name} generate, attention of layer 1", rate["one_layer"], "tok/s"),
          metric(f"{name} generate, attention of all {r['layers']} layers", rate["all_layers"],
                 "tok/s", note="what _NAME_generate serves"),
          metric(f"{name} all-layer attention / no attention (time)",
                 r["seconds"]["all_layers"] / r["seconds"]["no_attention"], "x"),
      ]
  return {"section": SECTION, "metrics": metrics, "models": results}
