"""Attention through generation in a real browser (lit_modules/src/generation_module.ts): the
view generates with the real `_NAME_generate` member, steps through the tokens (slider and arrow
keys), and at each step shows prompt + tokens so far, the curves of the step's token (its row of
the server's attention), the generated tokens marked, and the chosen token's probability among its
candidates; a click on a generated token sends it to the corpus view. A quick run on tiny GPT-2 and
a 20-token run on the registry's SmolLM2 (integration). Layout `exbert_generate` (the view beside
the corpus view). A screenshot goes to artifacts/ (git-ignored).
"""
from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from browser_support import (ARTIFACTS, TIMEOUT_MS, Page, browser, corpora, example_ids,  # noqa: F401  pylint: disable=unused-import
                             expect, open_tab, post, serving, server_url)

pytestmark = pytest.mark.browser


class GenerationPage(Page):
  """A tab on the `exbert_generate` layout."""

  def open_generation(self, model: str, example: int):
    self.visit(model, example, layout="exbert_generate")
    self.view.locator("button.gen-run").wait_for(timeout=TIMEOUT_MS)

  @property
  def view(self):
    return self.page.locator("exbert-generation-module").first

  @property
  def graph(self):
    return self.view.locator("exbert-attention-canvas")

  def generate(self, n: int, timeout_ms: int = TIMEOUT_MS):
    self.view.locator("input.gen-n").fill(str(n))
    self.view.locator("input.gen-n").dispatch_event("change")
    self.view.locator("button.gen-run").click()
    self.graph.wait_for(state="attached", timeout=timeout_ms)
    expect(self.graph).to_have_attribute("data-step", "0")

  def step_state(self) -> dict:
    return self.graph.evaluate("""c => ({
        shown: c.scene.rowTokens.length,
        generated: c.scene.generated.flatMap((g, i) => g ? [i] : []),
        edges: c.shownEdges().map(e => [e.from, e.to, e.weight]),
        frozen: c.frozen.index})""")

  def panel(self) -> dict:
    info = self.view.locator(".gen-info")
    table = info.locator("table.gen-candidates")
    return {"position": int(table.get_attribute("data-position")),
            "prob": float(info.locator(".gen-prob").text_content()),
            "candidates": [float(p) for p in table.locator("td.pred-prob").all_text_contents()]}


def server_generation(url: str, model: str, dataset: str, text: str, n: int, layer: int) -> dict:
  """What the view asks `_NAME_generate` for, asked directly (no `_id`: see docs/FIELDS.md)."""
  example = {"id": "", "data": {"_id": "", "text": text, "max_new_tokens": n, "temperature": 0, "seed": ""},
             "meta": {}}
  return post(url, "/get_preds", {"inputs": [example]}, model=f"_{model}_generate",
              dataset_name=dataset,
              requested_fields=f"tokens,generation_start,pred_tokens,token_probs,"
                               f"layer_{layer}/attention_packed")[0]


def check_steps(tab: GenerationPage, pred: dict, layer: int, steps: int):
  """Steps 0..steps-1 with the arrow key; each matches the server's generation."""
  from exbert_lit.lit import internals_model  # pylint: disable=g-import-not-at-top
  tokens, start = pred["tokens"], pred["generation_start"]
  att = internals_model.unpack_attention(pred[f"layer_{layer}/attention_packed"], len(tokens))
  mean = att.mean(axis=0)
  assert len(tokens) - start == steps
  tab.view.locator(".module-results-area").focus()
  for k in range(steps):
    if k:
      tab.page.keyboard.press("ArrowRight")
    position = start + k
    expect(tab.graph).to_have_attribute("data-position", str(position))
    state = tab.step_state()
    assert state["shown"] == position + 1 and state["frozen"] == position
    assert state["generated"] == list(range(start, position + 1))
    assert state["edges"], f"no curves at step {k}"
    for f, t, w in state["edges"]:   # the step token's own attention row, nothing ahead
      assert f == position and t <= position
      assert w == pytest.approx(mean[position, t], abs=2e-5)
    panel = tab.panel()
    assert panel["position"] == position
    assert panel["prob"] == pytest.approx(pred["token_probs"][position], abs=1e-3)
    assert panel["candidates"] == pytest.approx([p for _, p in pred["pred_tokens"][position - 1]],
                                                abs=1.5e-3)
  tab.page.keyboard.press("ArrowRight")    # clamped at the last step
  expect(tab.graph).to_have_attribute("data-step", str(steps - 1))


@pytest.fixture
def gen_tab(browser, server_url, example_ids):
  with open_tab(browser, server_url, example_ids, GenerationPage) as tab:
    yield tab


def test_generation_steps_on_tiny_gpt2_and_a_generated_token_goes_to_the_corpus(gen_tab, server_url):
  gen_tab.open_generation("gpt2", 1)
  gen_tab.generate(5)
  text = post(server_url, "/get_dataset", {}, dataset_name="sentences")[1]["data"]["text"]
  pred = server_generation(server_url, "gpt2", "sentences", text, 5, 1)
  steps = len(pred["tokens"]) - pred["generation_start"]
  check_steps(gen_tab, pred, 1, steps)
  # The slider moves back.
  gen_tab.view.locator("input.gen-step").fill("0")
  expect(gen_tab.graph).to_have_attribute("data-position", str(pred["generation_start"]))
  ARTIFACTS.mkdir(exist_ok=True)
  gen_tab.page.screenshot(path=str(ARTIFACTS / "generation_tiny_gpt2.png"))
  # A click on the last generated token: a datapoint of prompt + generation, searched in the corpus.
  last = len(pred["tokens"]) - 1
  gen_tab.page.keyboard.press("End")
  xy = gen_tab.graph.evaluate(f"c => c.tokenPoint({last}, 'left')")
  gen_tab.page.mouse.click(xy["x"], xy["y"])
  query = gen_tab.page.locator("exbert-corpus-module").first.locator(".query")
  expect(query).to_contain_text(f"(#{last})", timeout=TIMEOUT_MS)
  params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(gen_tab.page.url).query))
  assert params["primary"] not in gen_tab.example_ids and params["exbert_token"] == str(last)


def test_bad_settings_are_refused_in_the_view(gen_tab):
  gen_tab.open_generation("gpt2", 1)
  seed = gen_tab.view.locator("input.gen-seed")
  seed.fill("3")
  seed.dispatch_event("change")
  expect(gen_tab.view.locator(".gen-settings-error")).to_contain_text("a seed is for sampling")
  expect(gen_tab.view.locator("button.gen-run")).to_be_disabled()


# --- SmolLM2 (registry model) ---------------------------------------------------------------------

PAPER = "The man visited the nurse and told"


@pytest.fixture(scope="module")
def smollm2_url():
  from exbert_lit import server
  from exbert_lit.lit import datasets
  app = server.make_app(models=["smollm2"], datasets={"s": datasets.SentencesDataset([PAPER])},
                        corpora={}, corpus_examples=0)
  with serving(app) as url:
    yield url


@pytest.mark.integration
@pytest.mark.slow
def test_twenty_generated_tokens_on_smollm2(browser, smollm2_url):
  ids = [ex["id"] for ex in post(smollm2_url, "/get_dataset", {}, dataset_name="s")]
  with open_tab(browser, smollm2_url, ids, GenerationPage) as tab:
    tab.dataset = "s"
    tab.open_generation("smollm2", 0)
    tab.generate(20, timeout_ms=120_000)
    pred = server_generation(smollm2_url, "smollm2", "s", PAPER, 20, 5)
    tab.view.locator("select.gen-layer").select_option("5")
    expect(tab.graph).to_have_attribute("data-layer", "5")
    check_steps(tab, pred, 5, 20)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / "generation_smollm2.png"))
