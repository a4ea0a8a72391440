"""`exbert-lit serve` as a user runs it: a subprocess on a free port, then real HTTP."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

import tiny_models


def _exbert_lit(*args: str, **kw) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "exbert_lit", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture(scope="module")
def bert_store(tiny_bert_dir, tmp_path_factory):
  from exbert_lit.corpus import build
  from exbert_lit.models import load_model
  root = tmp_path_factory.mktemp("cli_corpus")
  text = root / "corpus.txt"
  text.write_text("\n\n".join(tiny_models.SENTENCES), encoding="utf-8")
  build.build(load_model(str(tiny_bert_dir)), str(text), root / "store", progress=False)
  return root / "store"


def test_serve_prints_url_and_answers(tiny_bert_dir, bert_store, tmp_path):
  data = tmp_path / "mine.txt"
  data.write_text("\n".join(tiny_models.SENTENCES[:3]), encoding="utf-8")
  proc = _exbert_lit("serve", "--model", f"bert={tiny_bert_dir}", "--corpus", str(bert_store),
                     "--data", str(data), "--port", "0")
  try:
    url = None
    deadline = time.time() + 120
    while time.time() < deadline and url is None:
      line = proc.stdout.readline()
      if not line and proc.poll() is not None:
        pytest.fail(f"serve exited: {proc.stderr.read()[-2000:]}")
      match = re.search(r"serving at (http://127\.0\.0\.1:\d+/)", line)
      url = match.group(1) if match else None
    assert url, "no URL printed"
    request = urllib.request.Request(url + "get_info", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
      info = json.loads(response.read())
    assert "exbert_corpus_search" in info["models"]["bert"]["interpreters"]
    assert {"mine", "store"} <= set(info["datasets"])
  finally:
    proc.send_signal(signal.SIGINT)
    try:
      proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
      proc.kill()


@pytest.mark.parametrize("extra,message", [
    (["--data", "/nonexistent.txt"], "--data /nonexistent.txt: no such file"),
    (["--corpus", "/nonexistent_store"], "no corpus index at /nonexistent_store"),
    (["--model", "x=/nonexistent_model"], "/nonexistent_model"),
])
def test_serve_errors_are_one_line(tiny_bert_dir, extra, message, capsys):
  from exbert_lit import cli
  assert cli.main(["serve", "--model", str(tiny_bert_dir), "--port", "0", *extra]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith("exbert-lit serve: error: ") and message in err[-1], err[-3:]


def test_serve_refuses_a_corpus_of_another_model(tiny_gpt2_dir, bert_store, capsys):
  from exbert_lit import cli
  assert cli.main(["serve", "--model", str(tiny_gpt2_dir), "--corpus", str(bert_store),
                   "--port", "0"]) == 2
  assert "which is none of the served models" in capsys.readouterr().err.strip().splitlines()[-1]


def test_serve_refuses_a_corpus_of_same_sized_other_weights(tiny_roberta_dir, bert_store, capsys):
  """RoBERTa and BERT here have the same kind and size: the fingerprint, after loading, decides."""
  from exbert_lit import cli
  assert cli.main(["serve", "--model", str(tiny_roberta_dir), "--corpus", str(bert_store),
                   "--port", "0"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith("exbert-lit serve: error: --corpus: corpus 'store' was built with "
                            "model"), err[-3:]


def test_demo_refuses_a_count_below_one(capsys):
  from exbert_lit import cli
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["demo", "--sentences", "0"])
  assert exit_info.value.code == 2
  assert "--sentences: expected a positive whole number or all, not '0'" in capsys.readouterr().err
