"""`exbert-lit` command line: one sub-command per module in `exbert_lit.commands`.

Each command module defines `register(subparsers)` (adds its parser and sets `func`)
and keeps its heavy imports inside the function it runs, so `exbert-lit --help` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Command modules under exbert_lit.commands, in the order `--help` lists them.
COMMANDS = ("predict", "index", "search", "serve", "demo", "bench")


class UserError(Exception):
  """A problem with the user's input: printed as one line, no traceback."""


def positive_int(text: str) -> int:
  """argparse type for counts (sentences, batch size, k): a whole number >= 1."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
  return value


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="exbert-lit",
      description="exBERT attention and corpus search inside LIT.")
  parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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


def main(argv: list[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  logging.basicConfig(
      level=logging.DEBUG if args.verbose else logging.INFO,
      format="%(levelname)s %(name)s: %(message)s")
  if not getattr(args, "func", None):
    parser.print_help()
    return 2
  try:
    return int(args.func(args) or 0)
  except (UserError, FileNotFoundError, ValueError) as e:
    print(f"exbert-lit {args.command}: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f"exbert-lit {args.command}: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
