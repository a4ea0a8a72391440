"""`exbert_lit.attention`: one layer's attention of one sentence as numpy, with its token labels.

    att = exbert_lit.attention("minilm", "The cat sat on the mat.", layer="3-[1,2]")
    att.values   # float32 [heads, T, T]: att.values[h, i, j] = weight of token i on token j
    att.tokens   # the T word-pieces labelling both axes; att.frame() is the labelled mean

A kind of attention is a per-layer output field of the model's LIT model group
(lit/model_group.py): "weights" is `layer_{l}/attention` of `_NAME_internals`; the measures
that `_NAME_measures` serves become kinds by a row in ATTENTION_KINDS, and a model offers a kind
when one member of its group declares the field. The model runs through that member, so text
checks and errors are the server's.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Union

import numpy as np

from exbert_lit import notation
from exbert_lit.errors import ExbertError
from exbert_lit.models import fields as fields_lib
from exbert_lit.notebook import api
from exbert_lit.notebook import html_table

# What `attention(kind=...)` can name, and the per-layer output field (docs/FIELDS.md) holding
# it: [H, T, T], or [1, T, T] (or [T, T]) for a measure over all heads. A model offers a kind
# when one member of its LIT model group declares that field (lit/model_group.py); measures
# added to models/fields.py (value-weighted attention, rollout) become kinds by a row here.
ATTENTION_KINDS: dict[str, str] = {
    "weights": fields_lib.ATTENTION,
    "value-norm": fields_lib.ATTENTION_NORM,   # rows rescaled to sum to 1, as the view shows it
    "rollout": fields_lib.ROLLOUT,             # one matrix [1, T, T]
}


@dataclasses.dataclass(frozen=True, eq=False)
class Attention:
  """One layer's attention of one sentence, with its token labels.

  `np.asarray(att)` and `att[h]` read `values`; `att.mean()` averages the heads; `att.frame()`
  labels rows (attending token) and columns (attended token) with "position:piece".
  """
  values: np.ndarray        # float32 [heads, T, T]; values[h, i, j] = weight of token i on j
  tokens: list              # the T word-pieces, specials included
  layer: int                # 1..L
  heads: tuple              # 1-based heads along values' first axis ((), for a measure over all)
  kind: str                 # one of ATTENTION_KINDS
  model: str

  def __array__(self, dtype=None, copy=None):
    return np.asarray(self.values, dtype=dtype)

  def __getitem__(self, item):
    return self.values[item]

  def __len__(self) -> int:
    return len(self.values)

  @property
  def shape(self) -> tuple:
    return self.values.shape

  def labels(self) -> list[str]:
    """Unique axis labels, "0:[CLS]", "1:the", ... (a piece can occur twice in a sentence)."""
    return [f"{i}:{t}" for i, t in enumerate(self.tokens)]

  def mean(self) -> np.ndarray:
    """[T, T] the average over the heads (what the attention view draws for a head set)."""
    return self.values.mean(axis=0)

  def frame(self, head: Optional[int] = None):
    """A [T, T] DataFrame labelled by tokens: one head (1-based, as numbered in `heads`) or the
    mean over the heads."""
    import pandas as pd  # pylint: disable=g-import-not-at-top
    if head is None:
      matrix = self.mean()
    else:
      if head not in self.heads:
        raise ExbertError(f"head {head} is not in this result: it has heads "
                          f"{','.join(map(str, self.heads)) or 'none (a measure over all)'}")
      matrix = self.values[self.heads.index(head)]
    return pd.DataFrame(matrix, index=self.labels(), columns=self.labels())

  def top(self, n: int = 3) -> list[list[tuple[int, float]]]:
    """Per attending token, the `n` most attended positions with their mean weights."""
    mean = self.mean()
    order = np.argsort(-mean, axis=1, kind="stable")[:, :n]
    return [[(int(j), float(mean[i, j])) for j in row] for i, row in enumerate(order)]

  def describe(self) -> str:
    return (f"{self.model}: attention {self.kind} at layer {self.layer} "
            f"({api.heads_text(self.heads)}), {len(self.tokens)} tokens, values "
            f"{list(self.values.shape)}")

  def __repr__(self) -> str:
    return f"<exbert_lit.Attention {self.describe()}>"

  def _repr_html_(self) -> str:
    rows = []
    for i, best in enumerate(self.top(3)):
      rows.append([f"{i}: {self.tokens[i]}"] + [f"{self.tokens[j]} ({j}) {w:.2f}" for j, w in best])
    return html_table.table(["token", "attends most to", "2nd", "3rd"], rows,
                            caption=self.describe() + "; mean over the heads", max_rows=40)


def attention_kinds(model: Any, layer: int = 1) -> list[str]:
  """The kinds of `attention(kind=...)` this model offers (by its LIT model group's fields)."""
  group = api.model_group_of(api.load(model))
  return [kind for kind in ATTENTION_KINDS if _member_for(group, kind, layer)]


def _member_for(group, kind: str, layer: int):
  """The group member declaring the kind's field at `layer`: a `_`-prefixed (gradient-free)
  member before the served model."""
  field = fields_lib.layer_field(layer, ATTENTION_KINDS[kind])
  members = sorted(group.models().items(), key=lambda item: not item[0].startswith("_"))
  for _, member in members:
    if field in member.output_spec():
      return member
  return None


def attention(model: Any, text: str, layer: Union[int, str], kind: str = "weights",
              heads: Any = None) -> Attention:
  """One layer's attention of `text`, labelled by its word-pieces.

  Args:
    model: a name ("minilm", "smollm2", a path) or a loaded model.
    text: the sentence.
    layer: 1..L, optionally with heads in the paper's notation ("5-3", "4-[1,3,9]").
    kind: "weights" (softmax attention) or another kind the model offers (attention_kinds).
    heads: 1-based heads to keep ("1,3", [1, 3]); default all, unless `layer` names them.
  Returns: Attention with values [heads, T, T] ([1, T, T] for a measure over all heads).
  """
  selection = api.selection_of(layer, heads)
  if kind not in ATTENTION_KINDS:
    raise ExbertError(f"attention kind must be one of {', '.join(ATTENTION_KINDS)}; "
                      f"got {notation.show(kind)}")
  lm = api.load(model)
  num_layers = getattr(lm, "num_layers", None)
  num_heads = getattr(lm, "num_heads", None)
  if isinstance(num_layers, int):
    notation.check_layer(selection.layer, num_layers)
  if selection.layer == 0:
    raise ExbertError("layer 0 (input embeddings) has no attention: use layers 1..L")
  if isinstance(num_heads, int):
    notation.check_heads(selection.heads, num_heads)
  group = api.model_group_of(lm)
  member = _member_for(group, kind, selection.layer)
  if member is None:
    offered = [k for k in ATTENTION_KINDS if _member_for(group, k, selection.layer)]
    raise ExbertError(f"model {api.model_name(lm)!r} does not offer attention kind {kind!r} at "
                      f"layer {selection.layer}: it offers {', '.join(offered) or 'none'}")
  (output,) = member.predict([{"text": api.check_text(lm, text)}])
  values = np.asarray(output[fields_lib.layer_field(selection.layer, ATTENTION_KINDS[kind])],
                      dtype=np.float32)
  if values.ndim == 2:
    values = values[None]
  # One matrix where the model has several heads ([1, T, T], as rollout): a measure over all.
  if values.shape[0] == 1 and num_heads != 1:
    if selection.heads is not None:
      raise ExbertError(f"attention kind {kind!r} is one matrix for all heads: leave out heads")
    chosen = ()
  else:
    chosen = selection.heads or tuple(range(1, values.shape[0] + 1))
    values = values[np.asarray(chosen) - 1]
  return Attention(values=values, tokens=list(output["tokens"]), layer=selection.layer,
                   heads=tuple(chosen), kind=kind, model=api.model_name(lm))
