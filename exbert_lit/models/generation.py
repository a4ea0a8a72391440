"""Text generation from a causal LM, one token at a time on the key/value cache, with the
attention of each new token captured only when asked for.

Why our own loop and not Hugging Face's `generate`: at every step we want the model's top-k
(the candidates the token was chosen from), the chosen token's probability, and, when asked,
the new token's attention row in chosen layers, without a second pass. The loop is the one
`generate` runs for greedy search (one prefill of the prompt, then one token per forward with
its key/value cache), so greedy output equals `generate(do_sample=False)` (tests pin this).

Positions: the prompt is tokens 0..P-1 (specials included, as the model encodes text) and the
generated token k sits at position P+k. Step k chooses that token from the next-token
distribution at position P+k-1. With attention captured, each generated token is also fed
through the model (the last one by one extra single-token forward), so its own attention row
`[H, P+k+1]` (over the prompt and the generated tokens up to itself) is known: it equals row
P+k of the attention of one full forward over the final sequence (tests pin this to 1e-5).

Sampling draws from softmax(logits / temperature) over the whole vocabulary (no top-k or
top-p cut-off) with a `torch.Generator` seeded from `seed`, so a seed reproduces a sample.
Probabilities reported are the model's own (temperature 1), as in `pred_tokens`.

Shapes: H query heads, T = P + (generated tokens), V vocabulary.
"""
from __future__ import annotations

import dataclasses
import math
import random
from typing import Any, Optional, Sequence

import numpy as np
import torch

from exbert_lit import notation
from exbert_lit.errors import ExbertError
from exbert_lit.models.forward import topk_from_logits

DEFAULT_NEW_TOKENS = 20
MAX_NEW_TOKENS = 256     # the stated cap; the model's position limit may be lower
MAX_TEMPERATURE = 10.0     # above ~2 the samples are noise already
MAX_SEED = 2**32 - 1
STOP_EOS = "eos"                       # the model generated an end-of-sequence token
STOP_MAX_NEW_TOKENS = "max_new_tokens"


@dataclasses.dataclass(frozen=True)
class Settings:
  """How to generate: greedy (temperature 0) or sampling with a temperature and a seed."""
  max_new_tokens: int = DEFAULT_NEW_TOKENS
  temperature: float = 0.0
  seed: Optional[int] = None     # sampling only; None: drawn at random and reported

  @property
  def sampling(self) -> bool:
    return self.temperature > 0


def settings(max_new_tokens: Any = None, temperature: Any = None, seed: Any = None, *,
             names: Sequence[str] = ("max_new_tokens", "temperature", "seed")) -> Settings:
  """Settings from what a user gave: numbers, or the strings and empty values of a LIT config
  ("", None or [] mean the default). ExbertError (one line, naming the option as `names` spell
  it, e.g. "--max-new-tokens") for a value out of range."""
  n_name, t_name, s_name = names
  new_tokens = DEFAULT_NEW_TOKENS
  if not notation.is_unset(max_new_tokens):
    new_tokens = notation.whole_number(max_new_tokens, n_name)
    if not 1 <= new_tokens <= MAX_NEW_TOKENS:
      raise ExbertError(f"{n_name} {new_tokens} is out of range: use 1..{MAX_NEW_TOKENS}")
  temp = 0.0
  if not notation.is_unset(temperature):
    temp = _real(temperature, t_name)
    if not 0.0 <= temp <= MAX_TEMPERATURE:
      raise ExbertError(f"{t_name} {temp:g} is out of range: use 0 (greedy) "
                        f"or a number above 0 up to {MAX_TEMPERATURE:g} (sampling)")
  chosen_seed = None
  if not notation.is_unset(seed):
    chosen_seed = notation.whole_number(seed, s_name)
    if not 0 <= chosen_seed <= MAX_SEED:
      raise ExbertError(f"{s_name} {chosen_seed} is out of range: use 0..{MAX_SEED}")
    if temp == 0.0:
      raise ExbertError(f"{s_name} applies to sampling only: give a {t_name} above 0 too, "
                        f"or drop {s_name} for greedy generation")
  return Settings(max_new_tokens=new_tokens, temperature=temp, seed=chosen_seed)


def _real(value: Any, what: str) -> float:
  if isinstance(value, bool):
    value = None
  try:
    number = float(value.strip() if isinstance(value, str) else value)
  except (TypeError, ValueError):
    number = math.nan
  if not math.isfinite(number):
    raise ExbertError(f"{what} must be a number like 0.7 (0 = greedy); got {notation.show(value)}")
  return number


def check_room(prompt_tokens: int, max_new_tokens: int, limit: int, label: str,
               option: str = "max_new_tokens") -> None:
  """Prompt plus new tokens must fit the model's position limit."""
  if prompt_tokens + max_new_tokens > limit:
    room = limit - prompt_tokens
    fix = (f"use {option} {room} or less" if room >= 1 else "shorten the text")
    raise ExbertError(f"the text is {prompt_tokens} tokens and {option} is {max_new_tokens}, "
                      f"together more than the {limit} positions model {label!r} takes; {fix}")


def check_layers(layers: Sequence[int], num_layers: int, option: str = "layer") -> tuple[int, ...]:
  """Layers 1..L (layer 0, the input embeddings, has no attention); sorted, unique."""
  for layer in layers:
    if not 1 <= int(layer) <= num_layers:
      raise ExbertError(f"{option} {layer} is out of range: this model has layers 1..{num_layers}")
  return tuple(sorted({int(layer) for layer in layers}))


@dataclasses.dataclass
class Step:
  """One generated token. `top_k` and `prob` are the model's next-token distribution at
  position `position - 1`, which the token was chosen from."""
  position: int                         # index of the token in Generation.tokens
  token: str                            # the word-piece (`Ġcat`)
  token_id: int
  prob: float                           # the model's probability of this token (temperature 1)
  top_k: list[tuple[str, float]]        # [(word-piece, probability)] * k, descending
  attention: dict[int, np.ndarray]      # layer -> float32 [H, position + 1]; {} if not captured


@dataclasses.dataclass
class Generation:
  """A prompt and what the model generated after it (see the module docstring)."""
  model: str
  text: str                             # the prompt as given
  tokens: list[str]                     # prompt + generated word-pieces, length T
  token_ids: list[int]
  special: np.ndarray                   # bool [T]
  start: int                            # P: index in `tokens` of the first generated token
  steps: list[Step]
  generated_text: str                   # the generated tokens decoded (specials kept)
  stop_reason: str                      # STOP_EOS or STOP_MAX_NEW_TOKENS
  settings: Settings                    # with the seed actually used when sampling
  layers: tuple[int, ...]               # layers whose attention was captured
  prompt_attention: dict[int, np.ndarray]   # layer -> float32 [H, P, P], from the prefill
  next_preds: list[list[tuple[str, float]]]  # per fed position: the top-k next tokens after it
  token_probs: np.ndarray               # float32 [T]: p(token i | tokens < i); 0 at i = 0

  def attention(self, layer: int) -> np.ndarray:
    """The layer's attention over the final sequence, float32 [H, T, T], lower-triangular:
    the prefill's rows for the prompt, each generated token's own row below. Equal to the
    attention of one full forward over `tokens` (module docstring)."""
    if layer not in self.layers:
      raise ExbertError(f"layer {layer}: attention was not captured (captured: "
                        f"{', '.join(map(str, self.layers)) or 'none'})")
    prompt = self.prompt_attention[layer]
    heads, size = prompt.shape[0], len(self.tokens)
    out = np.zeros((heads, size, size), np.float32)
    out[:, :self.start, :self.start] = prompt
    for step in self.steps:
      out[:, step.position, :step.position + 1] = step.attention[layer]
    return out

  def to_json(self) -> dict[str, Any]:
    """What `exbert-lit generate --json` prints (docs/FIELDS.md, "Generation")."""
    return {
        "model": self.model,
        "text": self.text,
        "tokens": list(self.tokens),
        "token_ids": list(self.token_ids),
        "special": [bool(s) for s in self.special],
        "generation_start": self.start,
        "generated_text": self.generated_text,
        "stop_reason": self.stop_reason,
        "max_new_tokens": self.settings.max_new_tokens,
        "sampling": self.settings.sampling,
        "temperature": self.settings.temperature,
        "seed": self.settings.seed,
        "layers": list(self.layers),
        "steps": [{
            "step": k,
            "position": step.position,
            "token": step.token,
            "token_id": step.token_id,
            "prob": step.prob,
            "top_k": [{"token": t, "prob": p} for t, p in step.top_k],
            "attention": {str(l): a.tolist() for l, a in step.attention.items()},
        } for k, step in enumerate(self.steps)],
    }


def eos_ids(net: torch.nn.Module) -> frozenset[int]:
  """The token ids after which Hugging Face's `generate` stops (its generation config's)."""
  config = getattr(net, "generation_config", None) or net.config
  value = getattr(config, "eos_token_id", None)
  if value is None:
    return frozenset()
  return frozenset([int(value)] if isinstance(value, int) else [int(v) for v in value])


def _top_k(logits: torch.Tensor, k: int, pieces) -> list[list[tuple[str, float]]]:
  """logits [N, V] -> per row [(word-piece, probability)] * k, descending."""
  probs, ids = topk_from_logits(logits, k)
  tokens = pieces(ids.reshape(-1).tolist())
  flat = probs.reshape(-1).tolist()
  return [list(zip(tokens[i * k:(i + 1) * k], flat[i * k:(i + 1) * k]))
          for i in range(ids.shape[0])]


def _cache_of(out) -> dict[str, Any]:
  """The forward's key/value cache as the next forward takes it: `cache` in transformers
  releases that renamed it, `past_key_values` in earlier 5.x."""
  if "cache" in getattr(type(out), "__dataclass_fields__", {}):
    return {"cache": out.cache}
  return {"past_key_values": out.past_key_values}


def generate(model, text: str, config: Settings, *, layers: Sequence[int] = (),
             top_k: Optional[int] = None) -> Generation:
  """Generates after `text` with a loaded CausalLM wrapper (models/hf.py), which must hold the
  forward lock of its model while this runs (CausalLM.generate does).

  Args:
    model: the wrapper: its `model` (HF, eager attention, with an LM head), `codec`, `device`.
    config: from `settings()`.
    layers: 1-based layers whose attention to capture; () captures none (faster: no attention
      is copied out and the last generated token is not fed through the model).
    top_k: predictions kept per step (default: the wrapper's top_k).
  """
  if not model.is_causal or not model.has_head:
    raise ExbertError(f"model {model.name!r} is a {'masked' if not model.is_causal else 'headless'}"
                      " model: generation needs a causal LM with its LM head (e.g. smollm2)")
  layers = check_layers(layers, model.num_layers)
  encoded = model.encode(text)
  if encoded.truncated:
    count = len(model.tokenizer(text, add_special_tokens=True)["input_ids"])
    raise ExbertError(f"the text is {count} tokens; model {model.name!r} takes at most "
                      f"{model.max_length}: shorten it")
  net = model.model
  limit = model.position_limit
  check_room(encoded.length, config.max_new_tokens, limit, model.name)
  if config.sampling and config.seed is None:
    config = dataclasses.replace(config, seed=random.SystemRandom().randrange(MAX_SEED + 1))
  k = min(int(top_k or model.top_k), net.config.vocab_size)
  pieces = model.codec.pieces
  stop_ids = eos_ids(net)
  capture = bool(layers)
  device = model.device
  generator = None
  if config.sampling:
    generator = torch.Generator(device=device).manual_seed(int(config.seed))

  ids = list(encoded.ids)
  start = len(ids)
  steps: list[Step] = []
  stop_reason = STOP_MAX_NEW_TOKENS
  with torch.no_grad():
    out = net(input_ids=torch.tensor([ids], device=device), use_cache=True,
              output_attentions=capture)
    prompt_logits = out.logits[0].float()                                 # [P, V]
    log_probs = torch.log_softmax(prompt_logits[:-1], dim=-1)
    token_probs = [0.0] + log_probs.gather(
        1, torch.tensor(ids[1:], device=device)[:, None])[:, 0].exp().tolist()
    prompt_attention = {l: out.attentions[l - 1][0].float().cpu().numpy() for l in layers}
    next_preds = _top_k(prompt_logits, k, pieces)
    logits = prompt_logits[-1]
    for step_index in range(config.max_new_tokens):
      if config.sampling:
        probs = torch.softmax(logits / config.temperature, dim=-1)
        chosen = int(torch.multinomial(probs, 1, generator=generator))
      else:
        chosen = int(torch.argmax(logits))
      prob = float(torch.softmax(logits, dim=-1)[chosen])
      steps.append(Step(position=len(ids), token=pieces([chosen])[0], token_id=chosen,
                        prob=prob, top_k=next_preds[-1], attention={}))
      ids.append(chosen)
      token_probs.append(prob)
      last = chosen in stop_ids or step_index == config.max_new_tokens - 1
      if chosen in stop_ids:
        stop_reason = STOP_EOS
      if last and not capture:
        break
      out = net(input_ids=torch.tensor([[chosen]], device=device),
                use_cache=True, output_attentions=capture, **_cache_of(out))
      logits = out.logits[0, -1].float()                                  # [V]
      next_preds += _top_k(logits[None], k, pieces)
      steps[-1].attention = {l: out.attentions[l - 1][0, :, 0].float().cpu().numpy()
                             for l in layers}                             # [H, position + 1]
      if last:
        break
  generated = ids[start:]
  return Generation(
      model=model.name, text=text, tokens=pieces(ids), token_ids=ids,
      special=np.array([i in model.codec.special_ids for i in ids], bool), start=start,
      steps=steps, generated_text=model.tokenizer.decode(generated),
      stop_reason=stop_reason, settings=config, layers=layers,
      prompt_attention=prompt_attention, next_preds=next_preds,
      token_probs=np.asarray(token_probs, np.float32))
