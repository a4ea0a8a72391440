"""Checks of a request's names against the server's metadata, before LIT runs it.

LIT answers a request naming an unknown model, dataset, interpreter or generator with a bare
`KeyError: 'nope'`, and silently drops requested fields a model does not have (the attention
view would draw nothing for a layer the model lacks). These checks give one line that names the
problem and what exists instead. They read LIT's own `/get_info` metadata (`ServerMetadata`),
so they know every model LIT serves, including those loaded later from LIT's UI.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from lit_nlp.api import types as lit_types

from exbert_lit.errors import ExbertError
from exbert_lit.lit import internals_model
from exbert_lit.models import fields as fields_lib

# Request parameter -> (what it names, ServerMetadata attribute).
_NAMED = (("model", "model", "models"), ("dataset_name", "dataset", "datasets"),
          ("interpreter", "interpreter", "interpreters"), ("generator", "generator", "generators"))


@dataclasses.dataclass(frozen=True)
class ServerMetadata:
  """What the checks need from LIT's `/get_info` answer."""
  models: Mapping[str, frozenset[str]]   # model name -> its output field names
  datasets: frozenset[str]
  interpreters: frozenset[str]
  generators: frozenset[str]

  @classmethod
  def from_info(cls, info: Mapping[str, Any]) -> "ServerMetadata":
    return cls(models={name: frozenset(m["spec"]["output"]) for name, m in info["models"].items()},
               datasets=frozenset(info["datasets"]),
               interpreters=frozenset(info["interpreters"]),
               generators=frozenset(info["generators"]))


def names_something(args: Mapping[str, str]) -> bool:
  """Whether a request has a parameter these checks read (else they need no metadata)."""
  return any(param in args for param, _, _ in _NAMED)


def check_request(path: str, args: Mapping[str, str], metadata: ServerMetadata) -> None:
  """Raises ExbertError for an unknown name, or (`/get_preds`) a field or type the model lacks."""
  for param, what, attribute in _NAMED:
    value = args.get(param)
    if value is None:
      continue
    known = getattr(metadata, attribute)
    if value not in known:
      listed = ", ".join(sorted(k for k in known if not k.startswith("_"))) or "none"
      raise ExbertError(f"unknown {what} {value!r}; this server has: {listed}")
  if path == "/get_preds" and args.get("model") is not None:
    check_requested(args["model"], args.get("requested_fields"), args.get("requested_types"),
                    metadata.models[args["model"]])


def check_requested(model: str, requested_fields: Optional[str], requested_types: Optional[str],
                    outputs: frozenset[str]) -> None:
  """Each requested field must be one of the model's outputs, each type a LIT type."""
  for field in _split(requested_fields):
    if field not in outputs:
      raise ExbertError(f"model {internals_model.served_name(model)!r} has no output {field!r}"
                        f"{_layer_hint(field, outputs)}")
  for type_name in _split(requested_types):
    type_class = getattr(lit_types, type_name, None)
    if not (isinstance(type_class, type) and issubclass(type_class, lit_types.LitType)):
      raise ExbertError(f"{type_name!r} is not a LIT type (requested_types)")


def _split(value: Optional[str]) -> list[str]:
  return [v for v in (value or "").split(",") if v]


def _layer_hint(field: str, outputs: frozenset[str]) -> str:
  """'; its layers are 1..6' for a `layer_{l}/...` field at a layer the model lacks."""
  parsed = fields_lib.parse_layer_field(field)
  if parsed is None:
    return ""
  layers = sorted(layer for layer, name in filter(None, map(fields_lib.parse_layer_field, outputs))
                  if name == parsed[1])
  return f"; its layers are {layers[0]}..{layers[-1]}" if layers else ""

