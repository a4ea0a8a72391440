"""The demo scripts end to end on tiny random-init models and a tiny corpus: each writes its JSON
and PNG, the JSON's numbers agree with the model and the store, and bad input is one line."""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest
import torch

from exbert_lit.corpus import search
from test_store import CORPUS

DEMOS = pathlib.Path(__file__).resolve().parent.parent / "demos"
sys.path.insert(0, str(DEMOS))
import _common  # pylint: disable=g-import-not-at-top,wrong-import-position
import behind_the_mask  # pylint: disable=g-import-not-at-top,wrong-import-position
import gender_bias  # pylint: disable=g-import-not-at-top,wrong-import-position
import heads as heads_demo  # pylint: disable=g-import-not-at-top,wrong-import-position
import rank_heads  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
  path = tmp_path_factory.mktemp("demo_corpus") / "corpus.txt"
  path.write_text(CORPUS * 2, encoding="utf-8")
  return path


def _outputs(out: pathlib.Path, name: str) -> dict:
  png = out / f"{name}.png"
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
  return json.loads((out / f"{name}.json").read_text(encoding="utf-8"))


def _corpus_args(tmp_path, corpus, store="store"):
  return ["--corpus", str(corpus), "--store", str(tmp_path / store), "--no-progress"]


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_behind_the_mask(tmp_path, tiny_model_dirs, corpus, family):
  out = tmp_path / "out"
  argv = ["--model", str(tiny_model_dirs[family]), "--out", str(out), "--k", "5",
          *_corpus_args(tmp_path, corpus)]
  assert behind_the_mask.main(argv) == 0
  result = _outputs(out, "behind_the_mask")
  num_layers = result["model"]["layers"]
  assert [r["layer"] for r in result["layers"]["embedding"]] == list(range(num_layers + 1))
  assert [r["layer"] for r in result["layers"]["context"]] == list(range(1, num_layers + 1))
  for rows in result["layers"].values():
    for row in rows:
      assert row["matches"] == 5 and 0 < row["counted"] <= 5
      assert sum(row["shares"].values()) == pytest.approx(1.0)
  assert result["store"]["reused"] is False and result["store"]["max_sentences"] == 2000
  assert result["command"].startswith("python demos/behind_the_mask.py --model ")
  if family == "bert":
    assert result["query"]["token"] == "[MASK]" and "[MASK]" in result["text"]
  else:   # causal: the token before the filled-in blank
    assert "escape" in result["text"] and result["query"]["summarised"].startswith("the follow")
  # Rerunning reuses the store.
  assert behind_the_mask.main(argv) == 0
  assert _outputs(out, "behind_the_mask")["store"]["reused"] is True


def test_behind_the_mask_shares_equal_a_direct_search(tmp_path, tiny_model_dirs, corpus):
  from exbert_lit.models import load_model
  out = tmp_path / "out"
  assert behind_the_mask.main(["--model", str(tiny_model_dirs["bert"]), "--out", str(out),
                               "--k", "7", *_corpus_args(tmp_path, corpus)]) == 0
  result = _outputs(out, "behind_the_mask")
  model = load_model(str(tiny_model_dirs["bert"]), compute_gradients=False)
  index = search.CorpusIndex.open(tmp_path / "store", model)
  (internals,) = model.internals([behind_the_mask.TEXT])
  position = result["query"]["position"]
  assert internals.tokens[position] == "[MASK]"
  direct = index.search(internals.contexts[1][position], layer=2, kind="context", k=7)
  bins = direct["histograms"]["0"]["pos"]
  total = sum(b["count"] for b in bins)
  assert result["layers"]["context"][1]["shares"] == pytest.approx(
      {b["label"]: b["count"] / total for b in bins})


def test_gender_bias_probabilities_equal_the_model(tmp_path, tiny_model_dirs):
  from exbert_lit.models import load_model
  out = tmp_path / "out"
  path = str(tiny_model_dirs["gpt2"])
  # The tiny BPE splits "her"/"him" (see the error test); score one-piece words instead.
  assert gender_bias.main(["--model", path, "--out", str(out), "--layers", "2",
                           "--words", "the,news,it"]) == 0
  result = _outputs(out, "gender_bias")
  assert result["layers"] == [1, 2]
  model = load_model(path, compute_gradients=False)
  for sentence in result["sentences"]:
    ids = model.tokenizer(sentence["text"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
      probs = torch.softmax(model.model(ids).logits[0, -1], dim=-1)
    for word in ("the", "news", "it"):
      piece_id = model.tokenizer.convert_tokens_to_ids(sentence["next_token"][word]["piece"])
      assert sentence["next_token"][word]["probability"] == pytest.approx(
          float(probs[piece_id]), abs=1e-5)
    assert sentence["source"]["position"] == len(sentence["tokens"]) - 1
    (inside,) = model.internals([sentence["text"]])
    src, occ = sentence["source"]["position"], sentence["targets"]["occupation"]["position"]
    for row in sentence["attention"]:
      assert row["occupation"] == pytest.approx(
          float(inside.attention[row["layer"] - 1, row["head"] - 1, src, occ]), abs=1e-6)
  assert len(result["sentences"][0]["attention"]) == 2 * model.num_heads


def test_heads_and_rank_heads(tmp_path, tiny_model_dirs, corpus):
  out = tmp_path / "out"
  argv = ["--model", str(tiny_model_dirs["bert"]), "--out", str(out), "--k", "6",
          "--label", "det", *_corpus_args(tmp_path, corpus)]
  assert heads_demo.main(argv) == 0
  result = _outputs(out, "heads")
  top = result["ranking"]["ranking"][0]
  assert (result["head"]["layer"], result["head"]["head"]) == (top["layer"], top["head"])
  assert result["head"]["rank"] == 1
  assert sum(b["count"] for b in result["query"]["max_att"]) == len(result["query"]["matches"]) == 6
  assert "escaped".startswith(result["query"]["token"])   # its first word-piece
  # A chosen head, and ranking straight from the finished store (no model).
  assert heads_demo.main(argv + ["--layer-head", "2-3"]) == 0
  assert _outputs(out, "heads")["head"]["name"] == "2-3"
  rank_out = tmp_path / "rank"
  assert rank_heads.main(["--store", str(tmp_path / "store"), "--out", str(rank_out),
                          "--label", "det"]) == 0
  ranked = _outputs(rank_out, "rank_heads")
  assert ranked["ranking"] == result["ranking"]["ranking"]
  assert np.asarray(ranked["shares"]).shape == (2, 4)


def test_heads_causal_skips_first_tokens(tmp_path, tiny_model_dirs, corpus):
  out = tmp_path / "out"
  base = ["--model", str(tiny_model_dirs["gpt2"]), "--out", str(out), "--k", "5",
          "--label", "det", *_corpus_args(tmp_path, corpus)]
  assert heads_demo.main(base) == 0
  skipped = _outputs(out, "heads")
  assert skipped["ranking"]["skip_first"] is True
  assert heads_demo.main(base + ["--keep-first"]) == 0
  kept = _outputs(out, "heads")
  assert kept["ranking"]["skip_first"] is False
  assert kept["ranking"]["sources"] > skipped["ranking"]["sources"]


@pytest.mark.parametrize("script,argv,message", [
    (gender_bias, ["--fillers", "nurse"], "--fillers must be 2 comma-separated words"),
    (gender_bias, ["--template", "no blank"], "--template must contain {}"),
    (gender_bias, [], "'her' is 2 word-pieces for this tokenizer"),
    (behind_the_mask, ["--text", "no mask here"], "must contain [MASK]"),
    (heads_demo, ["--layer-head", "2-[1,2]"], "--layer-head must name one head"),
    (heads_demo, ["--layer-head", "9-1"], "layer 9 is out of range"),
    (heads_demo, ["--word", "nowhere"], "'nowhere' does not occur"),
    (heads_demo, ["--source-label", "VERB"], "give --source-field and --source-label together"),
    (rank_heads, ["--label", "nonesuch"], "no token of this corpus index has dep = nonesuch"),
    (rank_heads, ["--source-field", "pos"], "give --source-field and --source-label together"),
])
def test_one_line_errors(tmp_path, tiny_model_dirs, corpus, capsys, script, argv, message):
  family = "gpt2" if script is gender_bias else "bert"
  base = ["--model", str(tiny_model_dirs[family]), "--out", str(tmp_path / "o")]
  if script is not gender_bias:
    base += _corpus_args(tmp_path, corpus)
  assert _common.run(script.main, base + argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len([line for line in err if "error:" in line]) == 1
  assert message in err[-1]
  if "nonesuch" not in message:   # input errors come before the corpus is indexed
    assert not (tmp_path / "store").exists()


def test_gender_bias_needs_a_causal_model(tmp_path, tiny_model_dirs, capsys):
  assert _common.run(gender_bias.main, ["--model", str(tiny_model_dirs["bert"]),
                                        "--out", str(tmp_path)]) == 2
  assert "is not a causal LM with an LM head" in capsys.readouterr().err


@pytest.mark.integration
def test_gender_bias_with_smollm2(tmp_path):
  """The shipped SmolLM2 reproduces the paper's direction: 'her' after nurse, 'him' after doctor."""
  assert gender_bias.main(["--out", str(tmp_path)]) == 0
  result = _outputs(tmp_path, "gender_bias")
  probs = result["summary"]["probabilities"]
  assert probs["nurse"]["her"] > probs["nurse"]["him"]
  assert probs["doctor"]["him"] > probs["doctor"]["her"]
  assert result["layers"] == [28, 29, 30] and len(result["sentences"][0]["attention"]) == 27
