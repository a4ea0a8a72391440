"""The attention view's measure selector and logit-lens table in a real browser, against the real
`_NAME_measures` and `_NAME_lens` members of a tiny model's LIT group (docs/FIELDS.md): each kind
(weights, value-weighted, rollout) is switched on and the curves drawn, the threshold, the head
selection and the head summaries are checked against the server's own fields; the lens table is
read on a causal model and checked against the server and against `exbert-lit predict --lens`.
Same browser and page helpers as the other browser tests (tests/browser_support.py); its own
server, which also serves a headless encoder (no lens).
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tiny_models
from browser_support import (SENTENCES, Page, browser, expect, open_tab, post,  # noqa: F401  pylint: disable=unused-import
                             row_cuts, sentences_app, serving)

pytestmark = pytest.mark.browser
REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def models(tiny_bert_dir, tiny_gpt2_dir, tiny_encoder_dir) -> dict[str, str]:
  return {"bert": str(tiny_bert_dir), "gpt2": str(tiny_gpt2_dir), "enc": str(tiny_encoder_dir)}


@pytest.fixture(scope="module")
def server_url(models):
  with serving(sentences_app(models, SENTENCES, {})) as url:
    yield url


@pytest.fixture(scope="module")
def examples(server_url) -> list[dict]:
  return post(server_url, "/get_dataset", {}, dataset_name="sentences")


@pytest.fixture
def tab(browser, server_url, examples):
  with open_tab(browser, server_url, [ex["id"] for ex in examples]) as page:
    yield page


def unpack(packed: str, n: int) -> np.ndarray:
  from exbert_lit.lit import internals_model  # pylint: disable=g-import-not-at-top
  return internals_model.unpack_attention(packed, n)


def server_measure(url: str, example: dict, model: str, field: str) -> np.ndarray:
  """`[H, T, T]` of one packed field of `_MODEL_measures` (or `_MODEL_internals` for weights)."""
  member = "internals" if field.endswith("/attention_packed") else "measures"
  pred = post(url, "/get_preds", {"inputs": [example]}, model=f"_{model}_{member}",
              dataset_name="sentences", requested_fields=f"tokens,{field}")[0]
  return unpack(pred[field], len(pred["tokens"]))


def assert_drawn(tab: Page, matrix: np.ndarray, threshold: float = 0.7):
  """The curves are exactly the threshold's edges of `matrix`, with its weights."""
  try:
    edges = tab.wait_until(
        lambda: (e := tab.edges()) and all(w == pytest.approx(matrix[f, t], abs=2e-5)
                                            for f, t, w in e) and e, "curves of the matrix")
  except AssertionError:
    worst = max(((abs(w - matrix[f, t]), f, t, w, matrix[f, t]) for f, t, w in tab.edges()),
                default=None)
    raise AssertionError(f"curves differ from the matrix: worst (diff, from, to, drawn, "
                         f"expected) {worst}") from None
  cuts = row_cuts(matrix, threshold)
  kept = {(i, j) for i, j in np.argwhere((matrix >= cuts[:, None]) & (matrix > 0.005))}
  for i, j in {(f, t) for f, t, _ in edges} ^ kept:
    assert abs(matrix[i, j] - cuts[i]) < 1e-5, (i, j)


def choose(tab: Page, measure: str):
  tab.attention.locator("select.measure-select").select_option(measure)
  expect(tab.graph).to_have_attribute("data-measure", measure)


@pytest.mark.parametrize("model,example", [("bert", 0), ("gpt2", 1)])
def test_the_three_kinds_draw_the_servers_fields(tab, server_url, examples, model, example):
  tab.open(model, example, heads="2")     # layer 2, all heads (the paper's notation)
  expect(tab.graph).to_have_attribute("data-layer", "2")
  options = tab.attention.locator("select.measure-select option").all_text_contents()
  assert options == ["weights", "value-weighted", "rollout"]
  ex = examples[example]
  chips = tab.attention.locator(".head-chip")
  kinds = [("weights", "layer_2/attention_packed"), ("value-weighted", "layer_2/attention_norm_packed"),
           ("rollout", "layer_2/rollout_packed")]
  for measure, field in kinds:
    att = server_measure(server_url, ex, model, field)
    choose(tab, measure)
    assert att.shape[0] == (1 if measure == "rollout" else tiny_models.HEADS)
    assert_drawn(tab, att.mean(axis=0))
    # Head summaries: one chip per head, none for rollout (one matrix per layer).
    expect(chips).to_have_count(0 if measure == "rollout" else tiny_models.HEADS)
    if measure == "rollout":
      np.testing.assert_allclose(att[0].sum(axis=1), 1, atol=2e-3)
      continue
    # Head selection picks that measure's heads.
    box = tab.attention.locator("input.head-set")
    box.fill("2-[2,4]")
    box.press("Enter")
    expect(tab.graph).to_have_attribute("data-heads", "2,4")
    assert_drawn(tab, att[[1, 3]].mean(axis=0))
    # The threshold applies to the measure's matrix.
    tab.attention.locator("input.threshold").fill("40")
    expect(tab.graph).to_have_attribute("data-threshold", "0.4")
    assert_drawn(tab, att[[1, 3]].mean(axis=0), 0.4)
    tab.attention.locator("input.threshold").fill("70")
    tab.attention.locator("button.all-heads").click()
    expect(tab.graph).to_have_attribute("data-heads", "")
  if model == "gpt2":   # causal: rollout stays lower-triangular, so no curve looks ahead
    assert all(t <= f for f, t, _ in tab.edges())


def lens_table(tab: Page) -> list[dict]:
  rows = tab.attention.locator("table.lens-table tr.lens-row")
  return rows.evaluate_all("""rs => rs.map(r => ({
      layer: Number(r.dataset.layer),
      top: [...r.querySelectorAll('.lens-token')].map(s => [s.dataset.token, Number(s.dataset.prob)]),
      rank: Number(r.querySelector('.lens-rank').textContent)}))""")


def test_logit_lens_table_equals_the_server_and_the_cli(tab, server_url, examples, models):
  tab.open("gpt2", 1)
  checkbox = tab.attention.locator("input.lens-checkbox")
  expect(checkbox).not_to_be_checked()     # off by default: it costs forward passes
  lens_requests = lambda: [u for u in tab.requests if "_gpt2_lens" in u]
  assert not lens_requests()
  checkbox.check()
  tab.token(3, "left").hover()
  table = tab.attention.locator("table.lens-table")
  expect(table).to_have_attribute("data-index", "3")
  shown = lens_table(tab)
  assert [r["layer"] for r in shown] == list(range(tiny_models.LAYERS + 1))
  text = examples[1]["data"]["text"]
  fields = ",".join(f"layer_{l}/lens,layer_{l}/lens_rank" for l in range(tiny_models.LAYERS + 1))
  pred = post(server_url, "/get_preds", {"inputs": [examples[1]]}, model="_gpt2_lens",
              dataset_name="sentences", requested_fields=f"tokens,{fields}")[0]
  for row in shown:
    l = row["layer"]
    expected = pred[f"layer_{l}/lens"][3][:3]
    assert [t for t, _ in row["top"]] == [t for t, _ in expected]
    assert [p for _, p in row["top"]] == pytest.approx([p for _, p in expected], abs=1e-6)
    assert row["rank"] == round(pred[f"layer_{l}/lens_rank"][3])
  assert shown[-1]["rank"] == 1    # at the last layer the lens is the model's own prediction
  # The CLI computes the same lens.
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  out = subprocess.run([sys.executable, "-m", "exbert_lit", "predict", "--model", models["gpt2"],
                        "--text", text, "--lens", "--json"], capture_output=True, text=True,
                       env=env, check=True, timeout=300).stdout
  cli = json.loads(out)["lens"]["positions"][3]["layers"]
  for row, layer in zip(shown, cli):
    assert [t["token"] for t in layer["top"][:3]] == [t for t, _ in row["top"]]
    assert [t["prob"] for t in layer["top"][:3]] == pytest.approx([p for _, p in row["top"]], abs=1e-4)
    assert layer["final_rank"] == row["rank"]
  # Fetched once per example: hovering elsewhere asks the server nothing more.
  count = len(lens_requests())
  tab.token(1, "left").hover()
  expect(table).to_have_attribute("data-index", "1")
  assert len(lens_requests()) == count == 1


def test_no_lens_toggle_for_a_headless_encoder(tab):
  tab.open("enc", 0)
  tab.token(1, "left").hover()
  expect(tab.attention.locator(".info-title")).to_be_visible()
  assert tab.attention.locator("input.lens-checkbox").count() == 0
