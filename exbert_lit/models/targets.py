"""Which token the gradients of an example explain, remembered for its HotFlip children.

LIT's HotFlip sends counterfactuals of an example with `_meta.parentId` set but without the
original's `grad_target`; their gradients must explain the same token as the original's, so the
wrapper remembers each example's target by id (a bounded, least-recently-written memory).
"""
from __future__ import annotations

import collections
from typing import Any, Optional

MEMORY = 4096   # example ids whose gradient target children (HotFlip) inherit


class TargetMemory:
  """example id -> gradient target (a word-piece), the MEMORY most recently written."""

  def __init__(self, size: int = MEMORY):
    self.size = int(size)
    self._by_id: collections.OrderedDict[str, str] = collections.OrderedDict()

  def requested(self, example: dict[str, Any]) -> Optional[str]:
    """The token the gradients explain: given (`grad_target`), else inherited from the parent
    example (`_meta.parentId`), else None (the model's own top prediction)."""
    target = example.get("grad_target")
    if target:
      return target
    meta = example.get("_meta") or {}
    parent = meta.get("parentId") if isinstance(meta, dict) else getattr(meta, "parentId", None)
    return self._by_id.get(parent) if parent else None

  def remember(self, example_id: str, target: str) -> None:
    self._by_id[example_id] = target
    self._by_id.move_to_end(example_id)
    while len(self._by_id) > self.size:
      self._by_id.popitem(last=False)

  def __len__(self) -> int:
    return len(self._by_id)
