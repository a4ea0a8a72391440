"""The head grid and the probing curves in a real browser (same server and tiny models as
test_browser_exbert.py): click a grid cell and the attention view shows that head; draw a
probing curve for a clicked token and corpus-wide; two models side by side. Screenshots at
1600x1000 go to artifacts/ (git-ignored)."""
from __future__ import annotations

import numpy as np
import pytest

# Fixtures and helpers shared by the browser tests.
from browser_support import ARTIFACTS  # pylint: disable=unused-import
from browser_support import Page
from browser_support import TIMEOUT_MS
from browser_support import assert_drawn_above_threshold
from browser_support import browser  # pylint: disable=unused-import
from browser_support import corpora  # pylint: disable=unused-import
from browser_support import example_ids  # pylint: disable=unused-import
from browser_support import open_tab
from browser_support import post
from browser_support import server_attention
from browser_support import server_url  # pylint: disable=unused-import
import tiny_models

pytestmark = pytest.mark.browser


@pytest.fixture
def heads_page(browser, server_url, example_ids):
  with open_tab(browser, server_url, example_ids) as tab:
    yield tab


def open_probing(tab: Page):
  """The probing curves live in their own tab of the lower half."""
  tab.page.locator("div.tab", has_text="Probing").first.click()
  probe = tab.page.locator("exbert-probe-module").first
  probe.locator("select.mode-select").wait_for(timeout=TIMEOUT_MS)
  return probe


def grid(tab: Page, i: int = 0):
  return tab.page.locator("exbert-head-grid-module").nth(i)


def cells(tab: Page, i: int = 0):
  return grid(tab, i).locator(".cell")


def wait_for_grid(tab: Page, i: int = 0):
  """The grid lives in the "Heads" tab of the lower half (after the data table's tab)."""
  heads_tab = tab.page.locator("div.tab", has_text="Heads").first
  heads_tab.wait_for(timeout=TIMEOUT_MS)
  heads_tab.click()
  cells(tab, i).first.wait_for(state="attached", timeout=TIMEOUT_MS)


def test_grid_click_moves_the_attention_view(heads_page, server_url, example_ids):
  heads_page.open("bert", 0)
  wait_for_grid(heads_page)
  assert cells(heads_page).count() == tiny_models.LAYERS * tiny_models.HEADS
  # The cells say what the server counted: the same top label per head as the interpreter's grid.
  profile = post(server_url, "/get_interpretations", {"inputs": example_ids[:1]},
                 model="_bert_internals", dataset_name="sentences",
                 interpreter="exbert_head_profiles")[0]
  counts = np.asarray(profile["counts"])
  first = cells(heads_page).first
  assert first.get_attribute("data-layer") == "1" and first.get_attribute("data-head") == "1"
  assert heads_page.page.locator("exbert-head-grid-module .status").inner_text().count("drawn in")
  # Hover: the card lists the head's top labels, the first being its most frequent.
  cell = grid(heads_page).locator(".cell[data-layer='2'][data-head='3']")
  cell.hover()
  rows = grid(heads_page).locator(".card tr.top-label")
  rows.first.wait_for(timeout=TIMEOUT_MS)
  assert 1 <= rows.count() <= 5
  top = profile["labels"][int(np.argmax(counts[1, 2]))]
  assert rows.first.locator("td").first.inner_text() == top
  # Click: the attention view shows layer 2, head 3 alone, and the URL says so.
  cell.click()
  heads_page.wait_until(lambda: heads_page.url_params().get("exbert_heads") == "2-3",
                        "head in URL")
  _, att = server_attention(server_url, example_ids[0], "bert", 2)
  heads_page.wait_until(lambda: heads_page.edges() and all(
      w == pytest.approx(att[2][f, t], abs=2e-5) for f, t, w in heads_page.edges()),
      "attention view shows head 2-3")
  assert_drawn_above_threshold(heads_page.edges(), att[2])
  assert "selected" in cell.get_attribute("class")
  # The label picker recolours by one label's share.
  grid(heads_page).locator("select.field-select").select_option("offset")
  heads_page.wait_until(lambda: "[CLS]" in grid(heads_page).locator(
      "select.label-select option").all_inner_texts(), "offset labels")
  grid(heads_page).locator("select.label-select").select_option("[CLS]")
  heads_page.wait_until(lambda: all(t.strip().endswith("%") for t in
                                    cells(heads_page).all_inner_texts()), "shares shown")
  ARTIFACTS.mkdir(exist_ok=True)
  grid(heads_page).screenshot(path=str(ARTIFACTS / "head_grid_tiny.png"))


def test_probing_curves_for_a_token_and_the_corpus(heads_page):
  heads_page.open("bert", 0)
  probe = open_probing(heads_page)
  heads_page.token(2, "left").click()
  curves = probe.locator("path.curve")
  curves.first.wait_for(state="attached", timeout=TIMEOUT_MS)
  names = curves.evaluate_all("els => els.map(e => e.dataset.name)")
  assert any(n.endswith(" E") for n in names) and any(n.endswith(" C") for n in names)
  # One point per layer: E(0..L) has L + 1 points.
  e_path = probe.locator("path.curve").first.get_attribute("d")
  assert e_path.count("L") == tiny_models.LAYERS
  probe.locator("select.mode-select").select_option("corpus")
  heads_page.wait_until(lambda: probe.locator("path.curve[data-name='bert E(l)']").count() == 1,
                        "corpus curves")
  assert probe.locator("path.curve").count() == 2
  probe.screenshot(path=str(ARTIFACTS / "probe_tiny.png"))


def test_two_models_side_by_side(heads_page):
  heads_page.visit("bert,gpt2", 0)
  for i in (0, 1):
    wait_for_grid(heads_page, i)
  grids = heads_page.page.locator("exbert-head-grid-module")
  assert grids.count() == 2
  statuses = [grids.nth(i).locator(".status").inner_text() for i in (0, 1)]
  assert all("tokens of" in s for s in statuses)
  assert statuses[0] != statuses[1]          # each grid is its own model's corpus
  heads_page.page.screenshot(path=str(ARTIFACTS / "two_models_grids.png"))
  probe = open_probing(heads_page)
  probe.locator("select.mode-select").select_option("corpus")
  heads_page.wait_until(lambda: probe.locator("path.curve").count() == 4, "both models' curves")
  names = set(probe.locator("path.curve").evaluate_all("els => els.map(e => e.dataset.name)"))
  assert names == {"bert E(l)", "bert C(l)", "gpt2 E(l)", "gpt2 C(l)"}
  heads_page.page.screenshot(path=str(ARTIFACTS / "two_models.png"))
