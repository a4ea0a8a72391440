"""Corpus indexing in a child process while a server runs (the demo's larger stores).

Each job is one `exbert-lit index` run, started as `python -m exbert_lit.commands.background`,
which first lowers its own priority, asks the kernel to end it if the server dies (Linux's
parent-death signal: no orphan even after a `kill -9` of the server) and then runs the index
command. Jobs run one after another, each with one torch/OpenMP thread: on two cores the server
keeps the other, so the attention and corpus views stay responsive. The index command resumes
from its finished shards, so a stopped job continues where it was when it is run again.
Everything the child prints goes to one log file, appended to.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Optional, Sequence

logger = logging.getLogger(__name__)

NICENESS = 10
THREADS = 1
# The child's progress bar, written to a log file, is redrawn at most this often (seconds).
PROGRESS_SECONDS = 30
STOP_SECONDS = 10.0     # SIGTERM, then this long, then SIGKILL
_PR_SET_PDEATHSIG = 1   # linux/prctl.h


@dataclasses.dataclass(frozen=True)
class IndexJob:
  """One `exbert-lit index` run: `label` names it in messages ('minilm, all Brown sentences')."""
  label: str
  index_args: tuple[str, ...]
  out: pathlib.Path

  def command_line(self) -> str:
    return "exbert-lit index " + " ".join(self.index_args)


def child_command(job: IndexJob, parent_pid: int) -> list[str]:
  return [sys.executable, "-m", "exbert_lit.commands.background", str(parent_pid), str(NICENESS),
          "--", *job.index_args]


def child_environment() -> dict[str, str]:
  env = dict(os.environ)
  for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    env[name] = str(THREADS)
  env["TOKENIZERS_PARALLELISM"] = "false"
  env["TQDM_MININTERVAL"] = str(PROGRESS_SECONDS)
  env["PYTHONUNBUFFERED"] = "1"
  return env


class BackgroundIndexer:
  """Runs IndexJobs in order, one child process at a time, from a daemon thread.

  `on_finished(job)` is called (on that thread) after a job's store is finished; a failed job
  is reported in the log and on stderr and the next one runs. `stop()` ends the running child
  and its process group and waits for it; a server calls it when it stops.
  """

  def __init__(self, jobs: Sequence[IndexJob], log_path: os.PathLike,
               on_finished: Callable[[IndexJob], None]):
    self.jobs = list(jobs)
    self.log_path = pathlib.Path(log_path)
    self.on_finished = on_finished
    self.finished: list[IndexJob] = []
    self.failed: list[IndexJob] = []
    self._process: Optional[subprocess.Popen] = None
    self._stopping = threading.Event()
    self._lock = threading.Lock()
    self._thread: Optional[threading.Thread] = None

  @property
  def pid(self) -> Optional[int]:
    """The running child's process id (None between jobs and after the last)."""
    process = self._process
    return process.pid if process is not None and process.poll() is None else None

  def start(self) -> None:
    self.log_path.parent.mkdir(parents=True, exist_ok=True)
    self._thread = threading.Thread(target=self._run, daemon=True, name="background-index")
    self._thread.start()

  def wait(self, timeout: Optional[float] = None) -> bool:
    """Waits for every job to end; True if they have."""
    if self._thread is not None:
      self._thread.join(timeout)
    return self._thread is None or not self._thread.is_alive()

  def stop(self, timeout: float = STOP_SECONDS) -> None:
    """Ends the running child (SIGTERM to its process group, SIGKILL after `timeout` s) and
    runs no further job. Safe to call twice, and before or after the jobs end."""
    self._stopping.set()
    with self._lock:
      process = self._process
    if process is not None and process.poll() is None:
      _signal_group(process, signal.SIGTERM)
      try:
        process.wait(timeout)
      except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
    if self._thread is not None:
      self._thread.join(timeout)

  def _run(self) -> None:
    for job in self.jobs:
      if self._stopping.is_set():
        return
      with open(self.log_path, "a", encoding="utf-8") as log:
        log.write(f"\n{time.strftime('%Y-%m-%d %H:%M:%S')} {job.label}: {job.command_line()} "
                  f"(nice {NICENESS}, {THREADS} thread; resumes from finished shards)\n")
        log.flush()
        with self._lock:
          if self._stopping.is_set():
            return
          # Started from this thread, which waits for it: the parent-death signal follows the
          # thread that forked, so the child also ends if this process dies.
          self._process = subprocess.Popen(
              child_command(job, os.getpid()), stdout=log, stderr=subprocess.STDOUT,
              stdin=subprocess.DEVNULL, env=child_environment(), start_new_session=True)
        code = self._process.wait()
        if self._stopping.is_set():
          log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {job.label}: stopped with the "
                    "server; the next start resumes it\n")
          return
      if code != 0:
        self.failed.append(job)
        print(f"background indexing of {job.label} failed (exit {code}): see {self.log_path}",
              file=sys.stderr, flush=True)
        continue
      try:
        self.on_finished(job)
        self.finished.append(job)
      except Exception as e:  # pylint: disable=broad-except
        self.failed.append(job)
        logger.exception("switching to the store of %s failed", job.label)
        print(f"background indexing of {job.label} finished, but opening {job.out} failed: {e}",
              file=sys.stderr, flush=True)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
  try:
    os.killpg(process.pid, sig)     # the child leads its own session and group
  except (ProcessLookupError, PermissionError):
    pass


def _die_with_parent(parent_pid: int) -> None:
  """Asks Linux to SIGTERM this process when its parent ends; exits now if it already has."""
  if sys.platform.startswith("linux"):
    try:
      import ctypes  # pylint: disable=g-import-not-at-top
      ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):
      pass
  if os.getppid() != parent_pid:
    sys.exit(143)


def child_main(argv: list[str]) -> int:
  """`python -m exbert_lit.commands.background PARENT_PID NICENESS -- INDEX_ARGS...`"""
  parent_pid, niceness, separator, *index_args = argv
  if separator != "--":
    raise SystemExit("usage: background PARENT_PID NICENESS -- INDEX_ARGS...")
  _die_with_parent(int(parent_pid))
  os.nice(int(niceness))
  # SIGTERM (the server stopping) ends the run between two Python steps, like Ctrl+C; finished
  # shards stay, the one being written is discarded (shards appear by an atomic rename).
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
  from exbert_lit import cli  # pylint: disable=g-import-not-at-top
  return cli.main(["index", *index_args])


if __name__ == "__main__":
  sys.exit(child_main(sys.argv[1:]))
