"""`exbert-lit` command line: one sub-command per module in `exbert_lit.commands`.

Each command module defines `register(subparsers)` (adds its parser and sets `func`)
and keeps its heavy imports inside the function it runs, so `exbert-lit --help` is fast.

Errors: a user's mistake (`exbert_lit.errors.ExbertError`, or a bad option that argparse
refuses) is printed as one line, `exbert-lit COMMAND: error: ...`, and exits with 2. Anything
else is a bug and keeps its traceback. Each command checks its cheap inputs (files,
directories, numbers, ranges) before it loads a model, and third-party libraries are quiet
(no INFO logs, no weight-loading bars, no warnings) unless `-v` is given, so a failed command
prints its one line and nothing else.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from typing import Callable, Optional

from exbert_lit.errors import ExbertError

# Command modules under exbert_lit.commands, in the order `--help` lists them.
COMMANDS = ("predict", "generate", "index", "search", "serve", "demo", "bench", "heads", "probe")


class ArgumentParser(argparse.ArgumentParser):
  """argparse, but a bad option is one line on stderr (`PROG: error: ...`), no usage block.

  Sub-command parsers are made with the same class (argparse's `parser_class` default).
  """

  def error(self, message: str):
    self.exit(2, f"{self.prog}: error: {message}\n")


def _whole_number_in(low: int, high: Optional[int], expected: str) -> Callable[[str], int]:
  """An argparse type for a whole number in low..high (no upper bound when high is None),
  refusing anything else with "expected EXPECTED, not 'TEXT'"."""

  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      value = None
    if value is None or value < low or (high is not None and value > high):
      raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}")
    return value

  return parse


# argparse types: counts (sentences, batch size, k); counts where 0 means none; a TCP port
# (0 = any free port).
positive_int = _whole_number_in(1, None, "a positive whole number")
non_negative_int = _whole_number_in(0, None, "a whole number >= 0")
port_number = _whole_number_in(0, 65535, "a port number 0..65535")


def fraction(text: str) -> float:
  """argparse type for a share: a number from 0 to 1."""
  try:
    value = float(text)
  except ValueError:
    value = -1.0
  if not 0.0 <= value <= 1.0:   # also refuses nan
    raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text!r}")
  return value


def build_parser() -> argparse.ArgumentParser:
  parser = ArgumentParser(
      prog="exbert-lit",
      description="exBERT attention and corpus search inside LIT.")
  parser.add_argument("-v", "--verbose", action="store_true",
                      help="debug logging, and the logs, warnings and progress bars of the "
                      "libraries underneath (faiss, transformers, LIT, spaCy, Ray)")
  subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name in COMMANDS:
    try:
      module = importlib.import_module(f"exbert_lit.commands.{name}")
    except ModuleNotFoundError as e:
      if e.name == f"exbert_lit.commands.{name}":
        continue  # command not built yet
      raise
    module.register(subparsers)
  return parser


def configure_output(verbose: bool) -> None:
  """Our INFO logs always; third-party INFO logs, warnings and progress bars only if verbose.

  The environment variables are read when the libraries are first imported (this runs before
  any command imports them) and are inherited by worker processes (Ray); a value the user set
  wins. Libraries already imported (tests calling `main` in-process) are told directly.
  """
  logging.basicConfig(
      level=logging.DEBUG if verbose else logging.WARNING,
      format="%(levelname)s %(name)s: %(message)s")
  logging.getLogger("exbert_lit").setLevel(logging.DEBUG if verbose else logging.INFO)
  if verbose:
    return
  # LIT's notes about its own internals ("Unable to infer init spec ...") are for its developers.
  logging.getLogger("absl").setLevel(logging.ERROR)
  os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")   # "Loading weights: 100%|..."
  os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
  os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # corpus/readers.py's datasets
  os.environ.setdefault("DATASETS_VERBOSITY", "error")
  logging.getLogger("huggingface_hub").setLevel(logging.ERROR)     # "Retrying in 1s" (no network)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")             # if LIT pulls TensorFlow in
  if "transformers" in sys.modules:
    import transformers  # pylint: disable=g-import-not-at-top
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
  # Library warnings (deprecations, spaCy's model-version notes) are for developers; ours stay.
  warnings.simplefilter("ignore")
  warnings.filterwarnings("default", module=r"exbert_lit(\.|$)")


def main(argv: list[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  configure_output(args.verbose)
  if not getattr(args, "func", None):
    parser.print_help()
    return 2
  try:
    return int(args.func(args) or 0)
  except ExbertError as e:
    message = " ".join(str(e).split("\n"))   # one line, whatever the message
    print(f"exbert-lit {args.command}: error: {message}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f"exbert-lit {args.command}: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
