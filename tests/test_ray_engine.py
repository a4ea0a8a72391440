"""`--engine ray`: the same store as the local engine, a killed worker, a killed driver, the CLI.

One local 2-CPU Ray is shared by the in-process tests (starting one takes seconds); the
driver-kill test runs its own in subprocesses, as a user would. Models are the tiny random-init
BERT of tiny_models.py, loaded in the workers through the real `load_model(path)`.
"""
from __future__ import annotations

import functools
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import faiss
import numpy as np
import pytest
import ray

from exbert_lit import cli
from exbert_lit.corpus import build
from exbert_lit.corpus import ray_engine
from exbert_lit.corpus import search
from exbert_lit.corpus import store
from exbert_lit.errors import ExbertError
from exbert_lit.models import load_model
from test_store import CORPUS
from test_store import store_files

REPO = pathlib.Path(build.__file__).resolve().parents[2]
TESTS = pathlib.Path(__file__).resolve().parent
# 9 sentences in shards of 3, batches of 2: 3 shards for 2 workers, 2 model calls per shard.
CONFIG = build.BuildConfig(shard_size=3, batch_size=2)
# The sentence whose model call kills its worker: shard 1 is sentences 3-5, batched by length as
# [3, 4], [5], so the worker dies mid-shard, after its first batch.
VICTIM = "Researchers read attention heads in every layer of the model."


def _python_path() -> str:
  """Ray workers import exbert_lit and this module (for the loaders below) from here."""
  return os.pathsep.join([str(REPO), str(TESTS)] + [p for p in [os.environ.get("PYTHONPATH")]
                                                    if p])


@pytest.fixture(scope="module")
def local_ray():
  ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
           runtime_env={"env_vars": {"PYTHONPATH": _python_path()}})
  try:
    yield
  finally:
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> pathlib.Path:
  path = tmp_path_factory.mktemp("ray_corpus") / "corpus.txt"
  path.write_text(CORPUS, encoding="utf-8")
  return path


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, tiny_bert_dir, corpus_file) -> pathlib.Path:
  out = tmp_path_factory.mktemp("ray_local") / "store"
  build.build(load_model(str(tiny_bert_dir)), str(corpus_file), out, CONFIG, progress=False)
  return out


def _loader(model_dir: pathlib.Path):
  return functools.partial(load_model, str(model_dir), batch_size=CONFIG.batch_size,
                           compute_gradients=False)


def _search_results(directory: pathlib.Path, model) -> list:
  index = search.CorpusIndex.open(directory, model)
  queries = [("The cat sat on the mat.", 2), ("She wanted to escape the din.", 5),
             ("Language models read words.", 1)]
  out = []
  for text, position in queries:
    for kind, layer, heads in [("embedding", 0, None), ("embedding", 2, None),
                               ("context", 1, None), ("context", 2, [3]),
                               ("context", 2, [1, 4]), ("embedding", 1, [2])]:
      out.append(index.search(layer=layer, kind=kind, heads=heads, k=12, offsets=(-1, 2),
                              model=model, text=text, position=position))
  return out


def test_ray_store_equals_local_store(local_ray, tmp_path, tiny_bert_dir, corpus_file,
                                      local_store):
  out = tmp_path / "store"
  model = load_model(str(tiny_bert_dir))
  build.build(model, str(corpus_file), out, CONFIG, progress=False,
              engine=ray_engine.RayEngine(_loader(tiny_bert_dir), workers=2))
  assert store_files(out) == store_files(local_store)
  ray_results, local_results = _search_results(out, model), _search_results(local_store, model)
  assert len(ray_results[0]["matches"]) == 12
  assert ray_results == local_results


class _DiesOnce:
  """The model, except that the first call on VICTIM (in any process) ends its process."""

  def __init__(self, model, marker: str):
    self._model = model
    self._marker = marker

  def __getattr__(self, name):
    return getattr(self._model, name)

  def internals(self, texts):
    if VICTIM in texts:
      try:
        with open(self._marker, "x", encoding="utf-8") as f:   # only the first time
          f.write(str(os.getpid()))
      except FileExistsError:
        pass
      else:
        os._exit(1)  # pylint: disable=protected-access  (a hard crash: no cleanup, no exception)
    return self._model.internals(texts)


def _dying_loader(model_dir: str, marker: str):
  return _DiesOnce(load_model(model_dir, batch_size=CONFIG.batch_size, compute_gradients=False),
                   marker)


def test_killed_worker_has_its_shard_retried(local_ray, tmp_path, tiny_bert_dir, corpus_file,
                                             local_store):
  marker = tmp_path / "killed"
  out = tmp_path / "store"
  build.build(load_model(str(tiny_bert_dir)), str(corpus_file), out, CONFIG, progress=False,
              engine=ray_engine.RayEngine(
                  functools.partial(_dying_loader, str(tiny_bert_dir), str(marker)), workers=1))
  assert marker.is_file()                          # a worker did die mid-shard
  assert int(marker.read_text()) != os.getpid()    # (a worker, not this process)
  assert store_files(out) == store_files(local_store)   # nothing lost, nothing twice


# The first run of the driver-kill test: the CLI's build, with a model whose every call takes
# 0.4 s so that the test can kill the driver between the first shard and the last. One worker:
# the other tests run two; starting one is quicker.
SLOW_DRIVER = """
import functools, sys, time
from exbert_lit.corpus import build, ray_engine
from exbert_lit.models import load_model

class Slow:
  def __init__(self, model):
    self._model = model
  def __getattr__(self, name):
    return getattr(self._model, name)
  def internals(self, texts):
    time.sleep(0.4)
    return self._model.internals(texts)

def slow_loader(path):
  return Slow(load_model(path, batch_size=2, compute_gradients=False))

model_dir, corpus, out = sys.argv[1:]
build.build(load_model(model_dir, batch_size=2, compute_gradients=False), corpus, out,
            build.BuildConfig(batch_size=2, shard_size=1), progress=False,
            engine=ray_engine.RayEngine(functools.partial(slow_loader, model_dir), workers=1))
"""


def _shards(out: pathlib.Path) -> dict[str, tuple[int, int]]:
  """Finished shard directories -> (inode, mtime) (not the .tmp of a shard being written)."""
  root = out / "_build" / "shards"
  if not root.is_dir():
    return {}
  return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.iterdir()
          if p.name.isdigit()}


def _session_processes(session: int, name: str) -> list[int]:
  """Live (not zombie) processes of a session whose command line contains `name`."""
  out = []
  for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
    try:
      fields = stat.read_text().rsplit(")", 1)[1].split()
      cmdline = (stat.parent / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
      continue
    if fields[0] != "Z" and int(fields[3]) == session and name in cmdline:
      out.append(int(stat.parent.name))
  return out


def _kill_group(proc: subprocess.Popen) -> None:
  try:
    os.killpg(proc.pid, signal.SIGKILL)   # the driver's session: its Ray, if any is left
  except ProcessLookupError:
    pass


@pytest.mark.slow   # a minute or more: starts Ray twice and kills a driver mid-build
def test_killed_driver_resumes_with_the_cli(tmp_path, tiny_bert_dir, corpus_file):
  whole = tmp_path / "whole"
  one_per_shard = build.BuildConfig(batch_size=2, shard_size=1)
  build.build(load_model(str(tiny_bert_dir)), str(corpus_file), whole, one_per_shard,
              progress=False)
  out = tmp_path / "store"
  env = dict(os.environ, PYTHONPATH=_python_path())
  script = tmp_path / "slow_driver.py"
  script.write_text(textwrap.dedent(SLOW_DRIVER), encoding="utf-8")
  first = subprocess.Popen([sys.executable, str(script), str(tiny_bert_dir), str(corpus_file),
                            str(out)], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  try:
    deadline = time.monotonic() + 120
    while not _shards(out) and first.poll() is None and time.monotonic() < deadline:
      time.sleep(0.05)
    assert first.poll() is None, first.stderr.read().decode()[-2000:]
    assert _shards(out), "no shard within 120 s"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    # Ray ends the dead driver's actors (a shard in flight may still be renamed into place).
    deadline = time.monotonic() + 30
    while _session_processes(first.pid, "MapWorker") and time.monotonic() < deadline:
      time.sleep(0.1)
    assert not _session_processes(first.pid, "MapWorker")
    assert not (out / "manifest.json").exists()
    done = _shards(out)
    assert 1 <= len(done) < 9
    # Rerun while the dead run's leftovers (Ray's dashboard and runtime-env agents outlive a
    # SIGKILLed driver) are still there: a fresh local Ray, no hang.
    rerun = subprocess.run(
        [sys.executable, "-m", "exbert_lit", "index", "--model", str(tiny_bert_dir),
         "--corpus", str(corpus_file), "--out", str(out), "--batch-size", "2",
         "--shard-size", "1", "--engine", "ray", "--workers", "1", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=180, start_new_session=True,
        check=False)
  finally:
    _kill_group(first)
    first.stderr.close()
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert "resuming the unfinished build" in rerun.stderr
  assert f"indexed {9 - len(done)} shards" in rerun.stderr   # the finished ones were not redone
  assert "indexed 9 sentences" in rerun.stdout
  assert store_files(out) == store_files(whole)


@pytest.mark.parametrize("argv,message", [
    (["--engine", "spark"], "argument --engine: invalid choice: 'spark'"),
    (["--engine", "ray", "--workers", "0"], "--workers: expected a positive whole number, not '0'"),
])
def test_bad_engine_arguments_are_usage_errors(tmp_path, capsys, argv, message):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["index", "--model", "m", "--corpus", "brown", "--out", str(tmp_path / "o")] + argv)
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv,message", [
    (["--workers", "2"], "--address and --workers are for --engine ray"),
    (["--address", "auto"], "--address and --workers are for --engine ray"),
])
def test_ray_options_without_the_ray_engine(tmp_path, capsys, argv, message):
  rc = cli.main(["index", "--model", "m", "--corpus", "brown", "--out", str(tmp_path / "o")]
                + argv)
  err = capsys.readouterr().err.strip().splitlines()
  assert rc == 2 and err == [f"exbert-lit index: error: {message}"]


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path, capsys, monkeypatch):
  monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` raises ImportError
  rc = cli.main(["index", "--model", "m", "--corpus", "brown", "--out", str(tmp_path / "o"),
                 "--engine", "ray"])
  err = capsys.readouterr().err.strip().splitlines()
  assert rc == 2
  assert err == ["exbert-lit index: error: the Ray engine needs Ray: "
                 "pip install 'exbert-lit[scale]'"]
  assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cluster,workers,resources,threads", [
    ({"CPU": 2.0}, 2, {"num_cpus": 1}, 1),
    ({"CPU": 2.0}, 1, {"num_cpus": 2}, 2),
    ({"CPU": 16.0}, 3, {"num_cpus": 5}, 5),
    ({"CPU": 2.0}, 4, {"num_cpus": 1}, 1),           # more workers than CPUs: one each
    ({"CPU": 64.0, "GPU": 4.0}, 4, {"num_gpus": 1}, 0),
])
def test_worker_resources(cluster, workers, resources, threads):
  assert ray_engine.worker_resources(cluster, workers) == (resources, threads)


@pytest.mark.parametrize("cluster,workers", [
    ({"CPU": 2.0}, 1), ({"CPU": 16.0}, 4), ({"CPU": 64.0, "GPU": 8.0}, 8), ({}, 1),
])
def test_default_workers(cluster, workers):
  assert ray_engine.default_workers(cluster) == workers


def test_ray_engine_is_an_annotating_engine():
  from exbert_lit.corpus import engine   # pylint: disable=g-import-not-at-top
  assert isinstance(ray_engine.RayEngine(lambda: None), engine.AnnotatingEngine)


def test_engine_refuses_zero_workers():
  with pytest.raises(ExbertError, match="workers must be at least 1"):
    ray_engine.RayEngine(lambda: None, workers=0)


def test_worker_refuses_a_build_directory_it_cannot_see(tmp_path):
  with pytest.raises(store.StoreError, match="not visible on this worker's node; with "
                     "--address, --out must be on a filesystem every node mounts"):
    ray_engine.ShardWorker(lambda: pytest.fail("loaded the model"), str(tmp_path / "_build"),
                           [], CONFIG, 0)


@pytest.mark.parametrize("message,expected", [
    ("The actor died\n  File x\nfoo.StoreError: out is not visible\n\n",
     "foo.StoreError: out is not visible"),
    ("one line", "one line"),
    ("", "unknown error"),
    ("x" * 400, "x" * 300),
])
def test_last_line(message, expected):
  assert ray_engine.last_line(message) == expected


def test_templates_reach_the_workers_unchanged():
  """A trained template (SQ8 learns per-dimension ranges) survives the trip to the workers."""
  rng = np.random.default_rng(0)
  trained = faiss.index_factory(8, "SQ8", faiss.METRIC_INNER_PRODUCT)
  trained.train(rng.standard_normal((256, 8)).astype(np.float32))
  templates = {("embedding", 0): trained,
               ("context", 1): faiss.index_factory(8, "Flat", faiss.METRIC_INNER_PRODUCT)}
  back = ray_engine.deserialize_templates(ray_engine.serialize_templates(templates))
  assert list(back) == list(templates)
  for key, index in templates.items():
    assert back[key].is_trained
    np.testing.assert_array_equal(faiss.serialize_index(back[key]), faiss.serialize_index(index))


@pytest.mark.parametrize("texts,size,chunks", [
    ([], 2, []),
    (["a"], 2, [["a"]]),
    (["a", "b", "c", "d"], 2, [["a", "b"], ["c", "d"]]),
    (["a", "b", "c"], 2, [["a", "b"], ["c"]]),
])
def test_text_chunks(texts, size, chunks):
  assert list(ray_engine.text_chunks(iter(texts), size)) == chunks


@pytest.mark.parametrize("max_sentences", [None, 3])
def test_ray_annotation_equals_local_annotation(local_ray, corpus_file, monkeypatch,
                                                max_sentences):
  """spaCy on Ray workers, in chunks of 2 texts, gives the local build's sentences in order;
  with --max-sentences the job ends early."""
  monkeypatch.setattr(ray_engine, "TEXTS_PER_TASK", 2)
  config = build.BuildConfig(max_sentences=max_sentences, max_words=10)  # skips some
  engine = ray_engine.RayEngine(_loader(pathlib.Path("unused")), workers=2)
  got = build.select_sentences(str(corpus_file), config, engine.annotate(str(corpus_file), config))
  want = build.select_sentences(str(corpus_file), config)
  assert [s.to_json() for s in got[0]] == [s.to_json() for s in want[0]]
  assert got[1] == want[1]
  assert len(want[0]) == (3 if max_sentences else 9 - want[1]) and want[1] > 0
