"""Context-embedding capture (output-projection pre-hooks) and the pure helpers of internals.py."""
from __future__ import annotations

import pytest
import torch
import transformers

from exbert_lit.models import internals

# Tiny configs for every entry of the OUTPUT_PROJECTIONS table: each builds in milliseconds.
_TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64, max_position_embeddings=64)
CONFIGS = {
    "bert": lambda: transformers.BertConfig(**_TINY),
    "roberta": lambda: transformers.RobertaConfig(**_TINY),
    "xlm-roberta": lambda: transformers.XLMRobertaConfig(**_TINY),
    "camembert": lambda: transformers.CamembertConfig(**_TINY),
    "electra": lambda: transformers.ElectraConfig(embedding_size=32, **_TINY),
    "distilbert": lambda: transformers.DistilBertConfig(
        vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=64),
    "gpt2": lambda: transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4),
    "llama": lambda: transformers.LlamaConfig(num_key_value_heads=2, **_TINY),
    "mistral": lambda: transformers.MistralConfig(num_key_value_heads=2, **_TINY),
    "qwen2": lambda: transformers.Qwen2Config(num_key_value_heads=2, **_TINY),
    "qwen3": lambda: transformers.Qwen3Config(num_key_value_heads=2, head_dim=8, **_TINY),
    "gpt_neox": lambda: transformers.GPTNeoXConfig(**_TINY),
    "opt": lambda: transformers.OPTConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=64),
}


def test_every_table_entry_has_a_test_config():
  assert set(CONFIGS) == set(internals.OUTPUT_PROJECTIONS)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_captured_input_through_projection_reproduces_its_output(model_type):
  """C(l) un-normalised, fed to the output projection, gives the module's own output."""
  torch.manual_seed(0)
  config = CONFIGS[model_type]()
  config._attn_implementation = "eager"  # pylint: disable=protected-access
  model = transformers.AutoModel.from_config(config).eval()
  projections = internals.output_projections(model, model_type, config.num_hidden_layers)
  outputs = [None] * len(projections)
  handles = [p.register_forward_hook(
      lambda m, a, o, i=i: outputs.__setitem__(i, o.detach())) for i, p in enumerate(projections)]
  ids = torch.randint(4, 99, (2, 7))
  mask = torch.ones_like(ids)
  mask[1, 5:] = 0
  with internals.capture_projection_inputs(projections) as captured, torch.no_grad():
    model(input_ids=ids, attention_mask=mask)
  for h in handles:
    h.remove()
  heads = config.num_attention_heads
  for layer, (proj, ctx, out) in enumerate(zip(projections, captured, outputs)):
    assert ctx.shape[:2] == (2, 7), (model_type, layer)
    assert ctx.shape[-1] % heads == 0
    with torch.no_grad():
      err = (proj(ctx) - out).abs().max().item()
    assert err <= 1e-5, (model_type, layer, err)
  # hooks are gone after the block
  assert all(not p._forward_pre_hooks for p in projections)  # pylint: disable=protected-access


def test_unknown_architecture_is_one_line_error_naming_it():
  model = torch.nn.Linear(2, 2)
  with pytest.raises(internals.UnsupportedArchitectureError, match="'t5'") as e:
    internals.output_projections(model, "t5", 2)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("vector, heads, expected", [
    ([3.0, 4.0, 0.0, 2.0], 2, [0.6, 0.8, 0.0, 1.0]),
    ([3.0, 4.0, 0.0, 2.0], 1, [3 / 29 ** .5, 4 / 29 ** .5, 0.0, 2 / 29 ** .5]),
    ([0.0, 0.0, 1.0, 1.0], 2, [0.0, 0.0, 2 ** -.5, 2 ** -.5]),   # zero head stays zero
])
def test_normalize_heads(vector, heads, expected):
  got = internals.normalize_heads(torch.tensor([vector]), heads)
  torch.testing.assert_close(got, torch.tensor([expected]))


@pytest.mark.parametrize("text, mask, expected_text, edits", [
    ("a [MASK] b", "<mask>", "a <mask> b", [(2, 0)]),
    ("[MASK] x [MASK]", "<mask>", "<mask> x <mask>", [(0, 0), (9, 0)]),
    ("a [MASK] b", "<m>", "a <m> b", [(2, -3)]),
    ("no mask here", "<mask>", "no mask here", []),
    ("a [MASK] b", "[MASK]", "a [MASK] b", []),
])
def test_substitute_mask(text, mask, expected_text, edits):
  assert internals.substitute_mask(text, "[MASK]", mask) == (expected_text, edits)


@pytest.mark.parametrize("offset, expected", [(0, 0), (2, 2), (5, 8), (6, 9), (7, 10)])
def test_map_offset_back(offset, expected):
  # "a [MASK] b" -> "a <m> b": the mask token spans [2, 5) in new text, [2, 8) in the original.
  assert internals.map_offset_back(offset, [(2, -3)]) == expected
