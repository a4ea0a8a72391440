"""Value-weighted attention, rollout and the logit lens against independent computations.

- Tiny random-init BERT, GPT-2 and Llama (grouped-query) and, marked integration, SmolLM2:
  each quantity equals, within 1e-4, one computed from the checkpoint's weights alone
  (tests/reference_forward.py recomputes alpha, v and W_O^h from the weight matrices).
- Every architecture family of the model table (the configs of test_models_internals): the
  captured values and W_O slices recompose each head's own pre-projection output, and the
  lens read-out reproduces the model's logits from the raw last stream.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from exbert_lit.errors import ExbertError
from exbert_lit.models import internals
from exbert_lit.models import lens as lens_lib
from exbert_lit.models import load_model
from exbert_lit.models import measures as measures_lib
import reference_forward
from test_models_internals import CONFIGS
import tiny_models

TEXT = "The man visited the nurse and told her the news."
TOL = dict(rtol=1e-4, atol=1e-4)
K = 4


def reference_attention_norm(rec: reference_forward.Record) -> np.ndarray:
  """[L, H, T, T]: ||alpha_ij^h (v_j^{kv(h)} W_O^h)||, the vector built before its norm, float64."""
  out = []
  for alpha, v, w_o in zip(rec.alpha, rec.values, rec.out_heads):
    heads, kv = alpha.shape[0], v.shape[0]
    layer = np.zeros(alpha.shape)
    for h in range(heads):
      f = v[h // (heads // kv)].double() @ w_o[h].double()            # [T, D]
      vectors = alpha[h].double()[:, :, None] * f[None, :, :]         # [T, T, D]
      layer[h] = torch.linalg.vector_norm(vectors, dim=-1).numpy()
    out.append(layer)
  return np.stack(out)


def numpy_rollout(attention: np.ndarray) -> np.ndarray:
  """Abnar & Zuidema, written out: [L, H, T, T] -> [L, T, T]."""
  tokens = attention.shape[-1]
  current = np.eye(tokens)
  out = []
  for layer in attention.astype(np.float64):
    mixed = 0.5 * layer.mean(0) + 0.5 * np.eye(tokens)
    mixed /= mixed.sum(-1, keepdims=True)
    current = mixed @ current
    current /= current.sum(-1, keepdims=True)
    out.append(current)
  return np.stack(out)


def reference_lens(rec: reference_forward.Record, k: int):
  """(top-k ids [L+1, T, k], their probabilities, rank of the last layer's top-1 [L+1, T])."""
  logits = [rec.read(x).double() for x in rec.stream]
  final = logits[-1].argmax(-1)
  ids, probs, ranks = [], [], []
  for lg in logits:
    p = torch.softmax(lg, -1)
    top = torch.topk(lg, k, -1).indices
    ids.append(top.numpy())
    probs.append(p.gather(-1, top).numpy())
    ranks.append((1 + (lg > lg.gather(-1, final[:, None])).sum(-1)).numpy())
  return np.stack(ids), np.stack(probs), np.stack(ranks)


def _check_against_reference(model, kind: str, directory, text: str) -> None:
  (m,) = model.measures([text])
  rec = reference_forward.run(kind, directory, model.encode(text).ids)
  alpha = np.stack([a.numpy() for a in rec.alpha])
  np.testing.assert_allclose(m.attention, alpha, **TOL)
  norm = reference_attention_norm(rec)
  assert norm.max() > 0.05   # not all vanishing: the comparison below means something
  np.testing.assert_allclose(m.attention_norm, norm, **TOL)
  np.testing.assert_allclose(m.rollout, numpy_rollout(alpha), **TOL)
  (lens,) = model.logit_lens([text], k=K)
  ids, probs, ranks = reference_lens(rec, K)
  np.testing.assert_array_equal(lens.top_ids, ids)
  np.testing.assert_allclose(lens.top_probs, probs, **TOL)
  np.testing.assert_array_equal(lens.final_rank, ranks)


@pytest.mark.parametrize("kind", sorted(reference_forward.REFERENCES))
def test_equal_to_a_computation_from_the_weights(tiny_model_dirs, kind):
  model = load_model(str(tiny_model_dirs[kind]), compute_gradients=False)
  _check_against_reference(model, kind, tiny_model_dirs[kind], TEXT)


@pytest.mark.integration
def test_smollm2_equal_to_a_computation_from_the_weights():
  from exbert_lit.models import registry  # pylint: disable=g-import-not-at-top
  model = load_model("smollm2", compute_gradients=False)
  _check_against_reference(model, "llama", registry.smollm2_dir(), TEXT)


@pytest.mark.parametrize("name", tiny_models.MASKED + tiny_models.CAUSAL)
def test_lens_at_the_last_layer_is_the_models_own_top_k(tiny_model_dirs, name):
  model = load_model(str(tiny_model_dirs[name]), compute_gradients=False, top_k=K)
  (lens,) = model.logit_lens([TEXT], k=K)
  own = list(model.predict([{"text": TEXT}]))[0]["pred_tokens"]
  assert lens.top_tokens[-1] == [[tok for tok, _ in position] for position in own]
  np.testing.assert_allclose(lens.top_probs[-1], [[p for _, p in pos] for pos in own], **TOL)
  assert (lens.final_rank[-1] == 1).all()
  assert len(lens.top_tokens) == model.num_layers + 1 == lens.final_rank.shape[0]


@pytest.mark.parametrize("name", tiny_models.MASKED + tiny_models.CAUSAL + ("bert_encoder",))
def test_rollout_rows_sum_to_one_and_causal_rollout_is_lower_triangular(tiny_model_dirs, name):
  model = load_model(str(tiny_model_dirs[name]), compute_gradients=False)
  (m,) = model.measures([TEXT])
  np.testing.assert_allclose(m.rollout.sum(-1), 1.0, atol=1e-5)
  np.testing.assert_allclose(m.rollout, numpy_rollout(m.attention), **TOL)
  upper = np.triu(m.rollout, k=1)
  if name in tiny_models.CAUSAL:
    assert np.abs(upper).max() == 0
  else:
    assert np.abs(upper).max() > 0.01


def test_value_norms_reweigh_attention(tiny_model_dirs):
  """Not the raw weights rescaled: the tokens' transformed values differ in size."""
  model = load_model(str(tiny_model_dirs["bert"]), compute_gradients=False)
  (m,) = model.measures([TEXT])
  shown = measures_lib.rescale_rows(torch.from_numpy(m.attention_norm)).numpy()
  np.testing.assert_allclose(shown.sum(-1), 1.0, atol=1e-5)
  assert np.abs(shown - m.attention).max() > 0.05


def test_batching_does_not_change_the_measures(tiny_model_dirs):
  model = load_model(str(tiny_model_dirs["llama"]), compute_gradients=False)
  texts = [TEXT, "A cat sat.", "Researchers read attention heads in every layer of the model."]
  together = model.measures(texts)
  lenses = model.logit_lens(texts, k=K)
  for text, m, lens in zip(texts, together, lenses):
    (alone,) = model.measures([text])
    np.testing.assert_allclose(m.attention_norm, alone.attention_norm, **TOL)
    np.testing.assert_allclose(m.rollout, alone.rollout, **TOL)
    (lens_alone,) = model.logit_lens([text], k=K)
    np.testing.assert_allclose(lens.top_probs, lens_alone.top_probs, **TOL)


def test_given_word_pieces_are_used_as_they_are(tiny_model_dirs):
  model = load_model(str(tiny_model_dirs["bert"]), compute_gradients=False)
  pieces = ["[CLS]", "the", "[MASK]", "sat", "[SEP]"]
  (m,) = model.measures(["ignored"], tokens=[pieces])
  (lens,) = model.logit_lens(["ignored"], tokens=[pieces])
  assert m.tokens == lens.tokens == pieces and m.attention_norm.shape[-1] == 5


def test_an_encoder_without_a_head_has_no_lens(tiny_encoder_dir):
  model = load_model(str(tiny_encoder_dir))
  assert not model.has_lens
  with pytest.raises(ExbertError, match="no language-model head .* no logit lens"):
    model.logit_lens([TEXT])
  (m,) = model.measures([TEXT])   # value norms and rollout need no head
  t = len(m.tokens)
  assert m.attention_norm.shape == (tiny_models.LAYERS, tiny_models.HEADS, t, t)


# --- every architecture family in the model table -------------------------------------------

_MASKED_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert")
# The test's own table of where each family's blocks are (to hook the raw last stream x_L).
_BLOCKS = {"gpt2": "h.{i}", "llama": "layers.{i}", "mistral": "layers.{i}", "qwen2": "layers.{i}",
           "qwen3": "layers.{i}", "gpt_neox": "layers.{i}", "opt": "decoder.layers.{i}"}


def _tiny_lm(model_type: str):
  torch.manual_seed(0)
  config = CONFIGS[model_type]()
  config._attn_implementation = "eager"  # pylint: disable=protected-access
  auto = (transformers.AutoModelForMaskedLM if model_type in _MASKED_TYPES
          else transformers.AutoModelForCausalLM)
  model = auto.from_config(config).eval()
  for p in model.parameters():   # random biases too (some init to zero), so none is skipped
    p.data.add_(0.05 * torch.randn_like(p))
  return model, config


def test_every_table_has_every_family():
  assert set(internals.VALUE_PROJECTIONS) == set(internals.OUTPUT_PROJECTIONS) == set(CONFIGS)
  assert set(lens_lib.MASKED_HEADS) | set(lens_lib.FINAL_NORMS) == set(CONFIGS)
  assert set(lens_lib.FINAL_NORMS) == set(_BLOCKS)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_values_and_output_slices_recompose_each_heads_output(model_type):
  """sum_j alpha_ij^h f^h(x_j) == C_i^h W_O^h, C^h the head's captured pre-projection output:
  a wrong value slice, head grouping or W_O slice breaks it."""
  model, config = _tiny_lm(model_type)
  heads, layers = config.num_attention_heads, config.num_hidden_layers
  projections = internals.output_projections(model, model_type, layers)
  head_dim = internals.projection_width(projections[0]) // heads
  modules, layout = internals.value_modules(model, model_type, layers)
  ids = torch.randint(4, 99, (1, 7))
  with internals.capture_projection_inputs(projections) as contexts, \
      internals.capture_values(modules, layout, head_dim) as values, torch.no_grad():
    out = model.base_model(input_ids=ids, output_attentions=True)
  for layer in range(layers):
    w_o = internals.output_weights_per_head(projections[layer], heads)
    f = measures_lib.transformed_values(values[layer], w_o)[0]         # [H, T, D]
    recomposed = torch.einsum("hij,hjd->hid", out.attentions[layer][0], f)
    ctx = contexts[layer][0].reshape(7, heads, head_dim).transpose(0, 1)
    direct = torch.einsum("hid,hde->hie", ctx, w_o)
    assert direct.abs().max() > 1e-3
    torch.testing.assert_close(recomposed, direct, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_lens_read_out_reproduces_the_logits(model_type):
  """Read-out of E(L) at the last layer, and of the raw last stream x_L (norm applied) at any
  other layer, both give the model's own logits."""
  model, config = _tiny_lm(model_type)
  layers = config.num_hidden_layers
  causal = model_type not in _MASKED_TYPES
  read = lens_lib.readout(model, model_type, is_causal=causal, has_head=True, num_layers=layers)
  ids = torch.randint(4, 99, (1, 7))
  raw = []
  if causal:
    block = model.base_model.get_submodule(_BLOCKS[model_type].format(i=layers - 1))
    block.register_forward_hook(
        lambda m, a, o: raw.append(o[0] if isinstance(o, tuple) else o))
  with torch.no_grad():
    out = model(input_ids=ids, output_hidden_states=True)
    torch.testing.assert_close(read(out.hidden_states[-1], layers), out.logits)
    if causal:
      assert not torch.allclose(raw[0], out.hidden_states[-1])
      torch.testing.assert_close(read(raw[0], layers - 1), out.logits, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (6, 2), (9, 3)])
def test_norms_from_grams_equal_the_definition(heads, kv_heads):
  torch.manual_seed(heads)
  values = torch.randn(2, 5, kv_heads, 8)
  out_weights = torch.randn(heads, 8, 24)
  torch.testing.assert_close(
      measures_lib.value_norms_from_grams(values, measures_lib.output_grams(out_weights)),
      measures_lib.value_norms(values, out_weights), rtol=1e-5, atol=1e-5)
