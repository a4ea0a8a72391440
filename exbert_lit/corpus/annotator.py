"""spaCy in its own process, beside the model: the annotation stage of a local build, streamed.

The model needs only a sentence's text; the labels (POS, dependencies, entities, lemmas) are
needed when a shard is written, after its forward. So the build starts this process, which
annotates the corpus exactly as stages.annotate_stage does (stages.select_sentences over
stages.annotate_corpus) and sends the kept sentences back in corpus order, while the driver runs
the model; the driver waits for a shard's labels only when it writes that shard.

The model keeps all its torch threads while spaCy runs: with fewer, its matrix products round
differently and the store would differ in the last bits from an annotate-first build's (and a
resumed build from an uninterrupted one). The child runs at a lower priority (NICE).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import subprocess
import sys
import threading
from typing import Optional

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import stages
from exbert_lit.errors import ExbertError

log = logging.getLogger(__name__)

# Added to the annotating process's niceness (EXBERT_ANNOTATE_NICE, for measuring). At 10 a
# bert-base build took 24.5 s against 29.7 s at 0 (load ~1.5 here); on a machine at load 12,
# though, 10 starved spaCy and the model waited 94 s for its labels.
NICE = int(os.environ.get("EXBERT_ANNOTATE_NICE", "10"))


def main(argv: list[str]) -> int:
  """The child process (`python -m exbert_lit.corpus.annotator CORPUS CONFIG_JSON`): one JSON
  line per kept annotated sentence on stdout, then {"end": skipped}, or {"error": message,
  "user": bool} when the corpus fails to read or annotate."""
  try:
    os.nice(NICE)
  except OSError:
    pass
  corpus, config = argv[0], stages.BuildConfig(**json.loads(argv[1]))
  out = sys.stdout
  try:
    skipped = [0]
    kept = stages.kept_sentences(stages.annotate_corpus(corpus, config), config, skipped)
    with contextlib.closing(kept):
      for sentence in kept:
        out.write(json.dumps(sentence.to_json(), ensure_ascii=False) + "\n")
    out.write(json.dumps({"end": skipped[0]}) + "\n")
  except BrokenPipeError:   # the driver has gone
    return 1
  except Exception as e:  # pylint: disable=broad-except  (re-raised in the driver)
    out.write(json.dumps({"error": f"{type(e).__name__}: {e}",
                          "user": isinstance(e, ExbertError)}) + "\n")
  out.flush()
  return 0


class BackgroundAnnotation:
  """The corpus's kept annotated sentences, annotated by a child process; `take(end)` blocks
  until the first `end` are in. A reader thread drains the child's output as it comes, so the
  child never waits on the driver. A child process (not multiprocessing) so that nothing of
  the caller's __main__ is imported again, and nothing of a process running torch is forked."""

  def __init__(self, corpus: str, config: stages.BuildConfig):
    env = dict(os.environ)
    root = str(pathlib.Path(__file__).resolve().parents[2])   # where exbert_lit is imported from
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]]
                                                  if env.get("PYTHONPATH") else []))
    self._process = subprocess.Popen(
        [sys.executable, "-m", "exbert_lit.corpus.annotator", corpus,
         json.dumps(dataclasses.asdict(config))],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, encoding="utf-8")
    self._sentences: list[annotate_lib.AnnotatedSentence] = []
    self._done = False
    self._error: Optional[tuple[str, bool]] = None
    self.skipped = 0
    self._cond = threading.Condition()
    self._reader = threading.Thread(target=self._read, daemon=True, name="exbert-annotate-read")
    self._reader.start()

  def _read(self) -> None:
    for line in self._process.stdout:
      data = json.loads(line)
      with self._cond:
        if "text" in data:
          self._sentences.append(annotate_lib.AnnotatedSentence.from_json(data))
          if len(self._sentences) % 64 == 0:
            self._cond.notify_all()
          continue
        if "end" in data:
          self.skipped = int(data["end"])
        else:
          self._error = (data["error"], bool(data["user"]))
        self._done = True
        self._cond.notify_all()
        return
    with self._cond:
      if not self._done:
        self._error = (f"the spaCy process ended without finishing (exit status "
                       f"{self._process.wait()})", False)
        self._done = True
      self._cond.notify_all()

  @property
  def done(self) -> bool:
    """Whether the child has sent everything (or failed)."""
    with self._cond:
      return self._done

  def take(self, end: Optional[int] = None) -> list[annotate_lib.AnnotatedSentence]:
    """The first `end` kept sentences (all of them when None or past the end), once in."""
    with self._cond:
      while not self._done and (end is None or len(self._sentences) < end):
        self._cond.wait(timeout=0.5)
      if self._error is not None and (end is None or len(self._sentences) < end):
        message, user_error = self._error
        raise (ExbertError if user_error else RuntimeError)(f"annotating the corpus: {message}")
      return self._sentences[:end] if end is not None else list(self._sentences)

  def close(self) -> None:
    """Stops the child if it is still running (an early exit of the build) and waits for it."""
    if self._process.poll() is None and not self._done:
      self._process.terminate()
    self._process.wait(timeout=30)
    self._reader.join(timeout=5)
    self._process.stdout.close()

  def __enter__(self) -> "BackgroundAnnotation":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
