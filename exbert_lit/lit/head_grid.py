"""`exbert_head_profiles`: the head profile grid of a model's corpus as a LIT Interpreter.

For the corpus built with the asked model, returns one HeadProfile (exbert_lit/analysis/
head_profiles.py) as JSON: labels, base rates and counts [L][H][V] for a field (dep, pos, tag,
ent, offset) and a direction (attended, attending). The grid depends on the corpus only, not on
the selected example: every answer is the same object, once per input (one when none is given).

Counting the 1.4M-token Brown store takes ~20 s on two cores, so profiles are computed once per
store (exbert_lit/analysis/profile_cache.py: in memory, then in the disk cache) and warmed in a
background thread as soon as a corpus is added; a request that comes first waits for it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional, Sequence

from lit_nlp.api import components as lit_components
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from exbert_lit.analysis import head_profiles
from exbert_lit.analysis import profile_cache
from exbert_lit.errors import ExbertError
from exbert_lit.lit import corpus_search

NAME = "exbert_head_profiles"
logger = logging.getLogger(__name__)


class HeadGrid(lit_components.Interpreter):
  """Per layer x head, the labels of the max-attended (or attending) tokens over a corpus."""

  def __init__(self, search: corpus_search.CorpusSearch, warm: bool = True):
    """Args: search: the server's corpus search, whose corpora (and their matching to models)
    this interpreter shares; warm: count every corpus's profiles in the background now."""
    self._search = search
    if warm:
      for name, corpus in search.corpora.items():
        threading.Thread(target=self._warm, args=(name, corpus), daemon=True,
                         name=f"head-profiles-{name}").start()

  @staticmethod
  def _warm(name: str, corpus) -> None:
    try:
      started = time.perf_counter()
      profile_cache.profiles_for(corpus)
      logger.info("head profiles of corpus %s ready in %.1f s", name,
                  time.perf_counter() - started)
    except Exception as e:  # pylint: disable=broad-except
      logger.warning("head profiles of corpus %s failed: %s", name, e)

  def description(self) -> str:
    return ("exBERT head profiles: for every layer and head, the labels of the tokens it "
            "attends to most over the whole corpus (or of the tokens that attend with it), "
            "from the attention summaries stored with the corpus index.")

  def is_compatible(self, model: lit_model.Model, dataset: lit_dataset.Dataset) -> bool:
    del dataset
    return any(corpus_search.built_for(c, model) and hasattr(c, "table")
               for c in self._search.corpora.values())

  def config_spec(self) -> lit_types.Spec:
    return {
        "field": lit_types.CategoryLabel(vocab=list(head_profiles.FIELDS), required=False),
        "by": lit_types.CategoryLabel(vocab=list(head_profiles.BY), required=False),
        "corpus": lit_types.CategoryLabel(vocab=sorted(self._search.corpora), required=False),
    }

  def meta_spec(self) -> lit_types.Spec:
    return {}  # JSON read by the exBERT head grid only

  def profile(self, model: lit_model.Model, config: Optional[lit_types.JsonDict]) -> dict:
    """The grid JSON for the model's corpus (HeadProfile.to_json plus corpus and seconds)."""
    config = dict(config or {})
    field = str(config.get("field") or "dep")
    by = str(config.get("by") or "attended")
    if field not in head_profiles.FIELDS:
      raise ExbertError(f"field must be one of {', '.join(head_profiles.FIELDS)}, not {field!r}")
    if by not in head_profiles.BY:
      raise ExbertError(f"by must be attended or attending, not {by!r}")
    if field == "offset" and by == "attending":
      raise ExbertError("offset describes the attended token: choose by = attended")
    name, corpus = self._search.corpus_for(model, config.get("corpus") or None)
    started = time.perf_counter()
    profile = profile_cache.profiles_for(corpus)[(by, field)]
    out = profile.to_json()
    out["corpus"] = name
    out["seconds"] = round(time.perf_counter() - started, 4)
    return out

  def run(self, inputs: Sequence[lit_types.JsonDict], model: lit_model.Model,
          dataset: lit_dataset.Dataset,
          model_outputs: Optional[Sequence[lit_types.JsonDict]] = None,
          config: Optional[lit_types.JsonDict] = None) -> list[dict]:
    del dataset, model_outputs
    grid = self.profile(model, config)
    return [grid] * max(1, len(inputs))
