"""The demo's background indexing: a child `exbert-lit index` run while the server serves, the
switch to its store over real HTTP, no orphan child, and the --background flag's errors.

Tiny random-init models (tests/tiny_models.py) on a corpus of their own sentences, so each test
takes seconds plus one child start (Python, torch and spaCy imports).
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

import tiny_models

from exbert_lit import cli
from exbert_lit.analysis import stores
from exbert_lit.commands import background
from exbert_lit.commands import demo
from exbert_lit.corpus import build as build_lib
from exbert_lit.corpus import search as search_lib

# 49 distinct lines (every ordered pair of the tiny models' sentences), all in their vocabulary.
LINES = [f"{a} {b}" for a in tiny_models.SENTENCES for b in tiny_models.SENTENCES]
FIRST = 5          # the store served first holds LINES[:FIRST]
QUERY_LINE = 40    # a line only the larger store holds


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> pathlib.Path:
  path = tmp_path_factory.mktemp("bg_corpus") / "lines.txt"
  path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  return path


def alive(pid: int) -> bool:
  """Whether a process exists and is not a zombie awaiting its reaper."""
  try:
    state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
  except (FileNotFoundError, ProcessLookupError, IndexError):
    return False
  return state != "Z"


def wait_for(predicate, seconds: float, what: str):
  deadline = time.monotonic() + seconds
  while time.monotonic() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(0.2)
  raise AssertionError(f"timed out after {seconds} s waiting for {what}")


# --- the flag ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["--background", "0"], "argument --background: expected a positive whole number, all or none, "
                            "not '0'"),
    (["--background", "-5"], "not '-5'"),
    (["--background", "everything"], "not 'everything'"),
    (["--background", "1.5"], "not '1.5'"),
    (["--sentences", "none"], "argument --sentences: expected a positive whole number or all, "
                              "not 'none'"),
    (["--sentences", "0"], "argument --sentences: expected a positive whole number or all, not '0'"),
])
def test_bad_sizes_are_one_line_before_any_model_loads(argv, message, capsys):
  started = time.perf_counter()
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["demo", "--models", "./no-such-model", *argv])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and message in err[0], err
  assert time.perf_counter() - started < 5


@pytest.mark.parametrize("text,value", [("all", "all"), ("none", "none"), ("1", 1),
                                        ("57340", 57340)])
def test_good_background_values(text, value):
  assert demo.background_arg(text) == value


@pytest.mark.parametrize("have,want,covered", [
    (None, None, True), (None, 300, True), (2000, 300, True), (300, 300, True),
    (300, 2000, False), (2000, None, False)])
def test_covers(have, want, covered):
  assert demo.covers(have, want) is covered


# --- the child: same settings as the foreground build, and no orphan --------------------------

def test_child_resumes_as_the_foreground_build_and_stops_with_the_server(
    tiny_bert_dir, corpus_file, tmp_path):
  """The child's unfinished build has the settings demo.build_config gives (so `demo
  --sentences N` in the foreground resumes it); stop() leaves no process behind."""
  out = tmp_path / "store"
  job = background.IndexJob("tiny", demo.index_args(str(tiny_bert_dir), 40, out,
                                                    corpus=str(corpus_file)), out)
  indexer = background.BackgroundIndexer([job], tmp_path / "log.txt", lambda job: None)
  indexer.start()
  try:
    pid = wait_for(lambda: indexer.pid, 30, "the child to start")
    run_json = out / "_build" / "run.json"
    wait_for(run_json.is_file, 60, f"{run_json}; log: {_log(tmp_path / 'log.txt')}")
  finally:
    indexer.stop()
  assert not alive(pid), f"child {pid} outlived stop()"
  assert indexer.pid is None
  run = json.loads(run_json.read_text())
  assert run["config"] == demo.build_config(40).resumable_part()
  assert "stopped with the server" in _log(tmp_path / "log.txt") or (out / "manifest.json").exists()


def test_child_ends_when_the_server_process_is_killed(tiny_bert_dir, tmp_path):
  """kill -9 of the server (no finally runs): the kernel's parent-death signal ends the child
  while it is still building (a corpus long enough not to finish first)."""
  corpus_file = tmp_path / "long.txt"
  corpus_file.write_text("\n".join(LINES * 60) + "\n", encoding="utf-8")
  out = tmp_path / "store"
  script = textwrap.dedent(f"""
      import pathlib, sys, time
      from exbert_lit.commands import background
      job = background.IndexJob("tiny", ("--model", {str(tiny_bert_dir)!r}, "--corpus",
                                         {str(corpus_file)!r}, "--out", {str(out)!r}),
                                pathlib.Path({str(out)!r}))
      indexer = background.BackgroundIndexer([job], {str(tmp_path / 'log.txt')!r}, print)
      indexer.start()
      while indexer.pid is None:
        time.sleep(0.05)
      print(indexer.pid, flush=True)
      time.sleep(120)
  """)
  server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))
  try:
    child = int(server.stdout.readline())
    # The build has started (so the child has made its parent-death request).
    wait_for((out / "_build" / "run.json").is_file, 60, "the child's build to start")
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    wait_for(lambda: not alive(child), 10, f"child {child} to end after its server was killed")
    assert not (out / "manifest.json").exists(), "the child finished instead of being ended"
  finally:
    if server.poll() is None:
      server.kill()


def _log(path: pathlib.Path) -> str:
  return path.read_text(encoding="utf-8") if path.is_file() else "(none)"


# --- the switch, over HTTP --------------------------------------------------------------------

def _post(url: str, body: dict):
  request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                   headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=60) as response:
    return json.loads(response.read())


def _search(url: str, model: str) -> dict:
  """The best corpus match of a token of the served dataset's one sentence, over HTTP."""
  examples = _post(f"{url}get_dataset?dataset_name=sentences", {})
  body = {"inputs": examples, "config": {"position": 3, "layer": 2, "kind": "embedding", "k": 1}}
  (found,) = _post(f"{url}get_interpretations?model=_{model}_internals&dataset_name=sentences"
                   "&interpreter=exbert_corpus_search", body)
  return found["matches"][0]


def _head_grid_tokens(url: str, model: str) -> int:
  """Tokens the head grid counted over the served corpus, over HTTP."""
  examples = _post(f"{url}get_dataset?dataset_name=sentences", {})
  (grid,) = _post(f"{url}get_interpretations?model=_{model}_internals&dataset_name=sentences"
                  "&interpreter=exbert_head_profiles", {"inputs": examples, "config": {}})
  return grid["tokens"]


def test_server_switches_to_the_larger_store_when_it_is_finished(
    tiny_bert_dir, corpus_file, tmp_path):
  from exbert_lit import server
  from exbert_lit.lit import datasets
  from exbert_lit.models import load_model
  model = load_model(str(tiny_bert_dir), name="bert")
  small, large = tmp_path / "small", tmp_path / "large"
  build_lib.build(model, str(corpus_file), small, demo.build_config(FIRST), progress=False)
  handle = stores.StoreHandle(search_lib.CorpusIndex.open(small, model))
  served = demo.Served("bert", model, handle)
  app = server.make_app(
      models={"bert": model}, corpora={"lines": handle}, corpus_examples=0,
      datasets={"sentences": datasets.SentencesDataset([LINES[QUERY_LINE]])})
  query = LINES[QUERY_LINE]
  job = background.IndexJob("tiny, all lines", demo.index_args(
      str(tiny_bert_dir), demo.ALL, large, corpus=str(corpus_file)), large)
  indexer = background.BackgroundIndexer(
      [job], tmp_path / "log.txt",
      lambda job: demo.switch_store(served, job.out, search_lib.CorpusIndex.open))
  with server.ExbertServer(app, port=0) as srv:
    before = _search(srv.url, "bert")
    grid_before = _head_grid_tokens(srv.url, "bert")
    small_tokens = handle.info.counts.tokens
    assert before["sentence_id"] < FIRST and before["text"] != query
    indexer.start()
    try:
      assert indexer.wait(120), f"the background job did not end; log: {_log(tmp_path / 'log.txt')}"
    finally:
      indexer.stop()
    assert indexer.finished == [job], _log(tmp_path / "log.txt")
    after = _search(srv.url, "bert")
    grid_after = _head_grid_tokens(srv.url, "bert")
  assert (after["sentence_id"], after["text"]) == (QUERY_LINE, query)
  assert after["score"] > 0.999
  # The head grid counts over the store served at the time (specials are skipped).
  assert 0 < grid_before <= small_tokens < grid_after
  assert handle.current.directory == large


def test_finished_stores_lists_the_cached_sizes_largest_last(tiny_bert_dir, corpus_file, tmp_path):
  from exbert_lit.models import load_model
  model = load_model(str(tiny_bert_dir), name="bert")
  for size in (3, 12):
    stores.ensure_store(model, str(corpus_file), size, progress=False, cache=tmp_path,
                        config=demo.build_config(size))
  unfinished = stores.default_store_dir(model, str(corpus_file), None, tmp_path)
  (unfinished / "_build").mkdir(parents=True)
  found = stores.finished_stores(model, str(corpus_file), tmp_path)
  assert [(f.requested, f.sentences) for f in found] == [(3, 3), (12, 12)]


def test_check_starts_no_background_indexing(tiny_bert_dir, tmp_path, capsys):
  """`demo --check` serves, checks and exits: it names no background job and starts none,
  even when --background asks for one (Brown comes from the corpus cache, or npm)."""
  code = cli.main(["demo", "--models", str(tiny_bert_dir), "--sentences", "5", "--background", "20",
                   "--cache", str(tmp_path), "--port", "0", "--check"])
  out = capsys.readouterr().out
  assert "answered" in out, out
  assert code in (0, 1)       # 1: a tiny model may lack some of LIT's tools; not this test's point
  assert "background" not in out and not (tmp_path / "logs").exists()
  assert not any(p.name.endswith("-20") for p in (tmp_path / "stores").iterdir())
