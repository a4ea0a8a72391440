"""The two shipped models (minilm, smollm2) in one live server, over HTTP (integration)."""
from __future__ import annotations

import numpy as np
import pytest

from test_server_http import LitHttp

pytestmark = pytest.mark.integration

PAPER = "The man visited the nurse and told him to attend to his patients."


@pytest.fixture(scope="module")
def client():
  from exbert_lit import server
  from exbert_lit.lit import datasets
  app = server.make_app(models=["minilm", "smollm2"],
                        datasets={"s": datasets.SentencesDataset([PAPER])})
  with server.ExbertServer(app, port=0) as srv:
    yield LitHttp(srv.url)


def test_both_models_listed_with_their_tools(client):
  info = client.ok("/get_info")
  minilm, smollm2 = info["models"]["minilm"], info["models"]["smollm2"]
  assert {"exbert_corpus_search", "pca", "nearest neighbors"} <= set(minilm["interpreters"])
  assert {"exbert_corpus_search", "Grad L2 Norm", "Grad ⋅ Input", "Integrated Gradients",
          "LIME"} <= set(smollm2["interpreters"])
  assert {"Hotflip", "Ablation Flip"} <= set(smollm2["generators"])


@pytest.mark.parametrize("model,layers,heads", [("minilm", 6, 12), ("smollm2", 30, 9)])
def test_attention_request(client, model, layers, heads):
  examples = client.ok("/get_dataset", dataset_name="s")
  status, preds, size = client.post("/get_preds", {"inputs": examples},
                                    model=f"_{model}_internals", dataset_name="s",
                                    requested_fields=f"tokens,layer_{layers}/attention")
  assert status == 200, preds
  att = np.asarray(preds[0][f"layer_{layers}/attention"])
  assert att.shape == (heads, len(preds[0]["tokens"]), len(preds[0]["tokens"]))
  assert size < 1_000_000


def test_gradient_salience_on_smollm2(client):
  examples = client.ok("/get_dataset", dataset_name="s")
  (result,) = client.ok("/get_interpretations", {"inputs": examples, "config": {}},
                        model="smollm2", dataset_name="s", interpreter="Grad L2 Norm")
  salience = result["token_grad_text"]["salience"]
  assert len(salience) == len(result["token_grad_text"]["tokens"])
  assert np.all(np.isfinite(salience)) and max(salience) > 0
