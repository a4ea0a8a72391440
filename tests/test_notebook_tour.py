"""demos/exbert_tour.ipynb executed with nbclient, as a reader would run it (integration: the
offline models minilm and smollm2, and the Brown stores of `exbert-lit demo`, which the notebook
builds smaller when they are not cached: minutes on two cores the first time).

Each case study must run without an error and show what it is about: the search results as
tables, the charts, and the paper's directions where our models reproduce them (README, "The
paper's case studies"): smollm2's embedding search finds more VERBs after "to" in its last layers
than at its input, and "her" is likelier after "nurse" than after "doctor".
"""
from __future__ import annotations

import pathlib
import re

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

TOUR = pathlib.Path(__file__).resolve().parent.parent / "demos" / "exbert_tour.ipynb"


def _text(output) -> str:
  if output.output_type == "stream":
    return output.text
  return output.get("data", {}).get("text/plain", "")


@pytest.fixture(scope="module")
def executed():
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  notebook = nbformat.read(str(TOUR), as_version=4)
  nbclient.NotebookClient(notebook, timeout=1500, kernel_name="python3",
                          resources={"metadata": {"path": str(TOUR.parent)}}).execute()
  return [c for c in notebook.cells if c.cell_type == "code"]


def test_every_cell_runs_and_shows_its_result(executed):
  for cell in executed:
    assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
    assert cell.outputs, f"no output from:\n{cell.source}"
  html = [o for c in executed for o in c.outputs if "text/html" in o.get("data", {})]
  assert sum("exbert-result" in o.data["text/html"] for o in html) == 3   # three searches shown
  assert sum("image/png" in o.get("data", {}) for c in executed for o in c.outputs) == 2
  stderr = [o.text for c in executed for o in c.outputs
            if o.output_type == "stream" and o.name == "stderr"]
  assert not stderr, stderr   # no library notes or progress bars in the reader's cells


def test_the_papers_directions(executed):
  text = "\n".join(_text(o) for c in executed for o in c.outputs)
  stores = re.findall(r"(minilm|smollm2): (\d+) Brown sentences", text)
  assert {name for name, _ in stores} == {"minilm", "smollm2"}
  verb = next(c for c in executed if "by_layer.pivot" in c.source)
  embedding = re.search(r"^embedding\s+(.*)$", _text(verb.outputs[0]), re.M).group(1).split()
  assert float(embedding[-1]) > float(embedding[0])   # layer 30 vs layer 0
  probabilities = next(c for c in executed if "probabilities[job]" in c.source)
  rows = dict(re.findall(r"^(nurse|doctor)\s+([\d.]+)\s+[\d.]+$", _text(probabilities.outputs[0]),
                         re.M))
  assert float(rows["nurse"]) > float(rows["doctor"])   # P(her) after nurse vs after doctor
