"""`exbert-lit predict --lens` and `--attention weights|value-norm|rollout --layer L`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from exbert_lit import cli
from exbert_lit.models import load_model
import tiny_models

TEXT = "The man visited the nurse and told her the news."


def _run(capsys, *args):
  rc = cli.main(["predict", *args])
  captured = capsys.readouterr()
  return rc, captured.out, captured.err


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_lens_json(capsys, tiny_model_dirs, name):
  rc, out, _ = _run(capsys, "--model", str(tiny_model_dirs[name]), "--text", TEXT, "--lens",
                    "--top-k", "3", "--json")
  assert rc == 0
  doc = json.loads(out)
  lens = doc["lens"]
  assert lens["layers"] == tiny_models.LAYERS and len(lens["positions"]) == len(doc["tokens"])
  for preds, position in zip(doc["predictions"], lens["positions"]):
    assert [l["layer"] for l in position["layers"]] == list(range(tiny_models.LAYERS + 1))
    last = position["layers"][-1]
    assert [p["token"] for p in last["top"]] == [p["token"] for p in preds]
    assert position["final"] == preds[0]["token"] and last["final_rank"] == 1
    ranks = [l["final_rank"] for l in position["layers"]]
    first = position["first_layer_in_top_5"]
    assert ranks[first] <= 5 and all(r > 5 for r in ranks[:first])


@pytest.mark.parametrize("kind", ["weights", "value-norm", "rollout"])
def test_attention_json_is_the_models_matrix(capsys, tiny_model_dirs, kind):
  directory = tiny_model_dirs["gpt2"]
  rc, out, _ = _run(capsys, "--model", str(directory), "--text", TEXT, "--attention", kind,
                    "--layer", "2", "--json")
  assert rc == 0
  att = json.loads(out)["attention"]
  (m,) = load_model(str(directory)).measures([TEXT])
  expected = {"weights": m.attention, "value-norm": m.attention_norm, "rollout": m.rollout}[kind][1]
  assert att["kind"] == kind and att["layer"] == 2 and att["shape"] == list(expected.shape)
  np.testing.assert_allclose(att["values"], expected, rtol=1e-5, atol=1e-6)
  if kind == "value-norm":
    np.testing.assert_allclose(np.sum(att["rescaled"], -1), 1.0, atol=1e-5)
  if kind == "rollout":
    assert np.triu(att["values"], 1).max() == 0   # causal: lower-triangular


def test_plain_lens_and_attention(capsys, tiny_llama_dir):
  rc, out, _ = _run(capsys, "--model", str(tiny_llama_dir), "--text", "the cat sat", "--lens")
  lines = out.strip().splitlines()
  assert rc == 0 and len(lines) == 1 + 2 * 4 + 1 and "in top-5 from layer" in lines[1]
  assert lines[-1].startswith("the final top-1 enters the top-5 at layer ")
  assert lines[2].split()[0].startswith("0:") and lines[2].split()[-1].startswith("2:")
  rc, out, _ = _run(capsys, "--model", str(tiny_llama_dir), "--text", "the cat sat",
                    "--attention", "value-norm", "--layer", "1")
  assert rc == 0 and out.startswith("value-norm at layer 1, shape [4, 4, 4]")
  assert out.count("head ") == tiny_models.HEADS


@pytest.mark.parametrize("args, message", [
    (("--attention", "rollout"), "--attention rollout: give the layer to print with --layer L"),
    (("--layer", "1"), "--layer: say which matrix with --attention weights|value-norm|rollout"),
    (("--attention", "weights", "--layer", "3"), "--layer 3: {model} has layers 1..2"),
])
def test_bad_options_are_refused_before_loading(capsys, tiny_gpt2_dir, args, message):
  rc, out, err = _run(capsys, "--model", str(tiny_gpt2_dir), "--text", TEXT, *args)
  assert rc == 2 and out == ""
  assert message.format(model=tiny_gpt2_dir) in err


def test_layer_zero_is_refused_by_argparse(capsys, tiny_gpt2_dir):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["predict", "--model", str(tiny_gpt2_dir), "--text", TEXT, "--attention", "weights",
              "--layer", "0"])
  assert exit_info.value.code == 2
  assert "--layer: expected a positive whole number, not '0'" in capsys.readouterr().err


def test_an_encoder_has_no_lens(capsys, tiny_encoder_dir):
  rc, out, err = _run(capsys, "--model", str(tiny_encoder_dir), "--text", TEXT, "--lens")
  assert rc == 2 and out == "" and err.count("\n") == 1
  assert "has no language-model head (an encoder), so no logit lens" in err
  rc, out, _ = _run(capsys, "--model", str(tiny_encoder_dir), "--text", TEXT,
                    "--attention", "value-norm", "--layer", "1", "--json")
  assert rc == 0 and json.loads(out)["attention"]["shape"][0] == tiny_models.HEADS
