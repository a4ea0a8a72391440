"""Short names resolved offline: minilm (headless BERT encoder) and smollm2 (GGUF, cached)."""
from __future__ import annotations

import json
import time

from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types
from lit_nlp.lib import validation
import numpy as np
import pytest

from exbert_lit.models import hf
from exbert_lit.models import registry

SENTENCE = "The man visited the nurse and told"


def _dataset(texts):
  return lit_dataset.Dataset(spec={"text": lit_types.TextSegment()},
                             examples=[{"text": t} for t in texts])


def test_cache_root_follows_env(monkeypatch, tmp_path):
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(tmp_path))
  assert registry.cache_root() == tmp_path
  monkeypatch.delenv("EXBERT_LIT_CACHE")
  assert registry.cache_root().parts[-2:] == (".cache", "exbert-lit")


def test_failed_conversion_leaves_no_partial_cache(tmp_path):
  bad = tmp_path / "broken.gguf"
  bad.write_bytes(b"not a gguf file at all")
  target = tmp_path / "cache" / "models" / "broken"
  with pytest.raises(Exception):  # whatever the GGUF reader raises on garbage
    registry.convert_gguf(bad, target)
  assert not target.exists()
  assert list(target.parent.iterdir()) == []   # the temporary directory is gone too


def test_existing_cache_is_reused_without_conversion(tmp_path):
  gguf = tmp_path / "m.gguf"
  gguf.write_bytes(b"x" * 10)
  target = tmp_path / "cache"
  target.mkdir()
  (target / "exbert-lit-source.json").write_text(json.dumps({"size": 10}))
  assert registry.convert_gguf(gguf, target) == target   # garbage file never read


@pytest.mark.integration
def test_minilm_loads_as_headless_masked_lm_with_internals():
  model = registry.load_model("minilm")
  assert isinstance(model, hf.MaskedLM) and not model.has_head
  assert (model.num_layers, model.num_heads, model.head_dim, model.hidden_size) == (6, 12, 32, 384)
  assert "pred_tokens" not in model.output_spec()
  [si] = model.internals([SENTENCE])
  t = len(si.tokens)
  assert si.tokens[0] == "[CLS]" and si.tokens[-1] == "[SEP]"
  assert si.embeddings.shape == (7, t, 384)
  assert si.contexts.shape == (6, t, 384)
  assert si.attention.shape == (6, 12, t, t)
  np.testing.assert_allclose(np.linalg.norm(si.contexts.reshape(6, t, 12, 32), axis=-1), 1.0,
                             atol=1e-5)
  assert model.fingerprint().startswith("minilm@sha256:")
  validation.validate_model(model, _dataset([SENTENCE, "A [MASK] sat on the mat."]))


@pytest.mark.integration
def test_smollm2_loads_from_cache_with_grouped_query_attention():
  registry.smollm2_dir()   # converts on first use (~20 s), then cached
  start = time.time()
  model = registry.load_model("smollm2")
  warm = time.time() - start
  assert isinstance(model, hf.CausalLM)
  assert (model.num_layers, model.num_heads, model.config.num_key_value_heads) == (30, 9, 3)
  assert warm < 30, f"warm load took {warm:.1f} s"
  out = list(model.predict([{"text": SENTENCE}]))[0]
  t = len(out["tokens"])
  assert out["layer_30/attention"].shape == (9, t, t)
  assert out["layer_30/context_emb"].shape == (t, 9 * model.head_dim)
  assert out["layer_0/token_emb"].shape == (t, 576)
  assert out["token_grad_text"].shape == (t, 576)
  assert out["grad_target"] == out["pred_tokens"][-1][0][0]
  validation.validate_model(model, _dataset([SENTENCE]))
