"""The local build with spaCy in its own process beside the model (corpus/annotator.py): for
sentence-per-line corpora the store equals the annotate-first build's file for file, a killed
run resumes to the same store, and sentences the tokenizer alone would get wrong make the build
fall back to annotating first (same store again)."""
from __future__ import annotations

import pytest

from exbert_lit.corpus import annotate
from exbert_lit.corpus import annotator
from exbert_lit.corpus import build
from exbert_lit.corpus import engine
from exbert_lit.corpus import sources
from exbert_lit.corpus import stages
from exbert_lit.errors import ExbertError
from corpus_fakes import FakeModel
from test_store import store_files

LINES = """The girl ran to a local pub.
  She wanted to escape the din of her city.  
Dr. Smith visited New York in 2019, didn't he?
A cat sat on the mat.
The dog slept by the door while it rained.
Researchers read attention heads in every layer of the model.
Language models predict the next word from the words before it.
It's a small world, isn't it? Yes: 42 people said so!
""" + " ".join(["word"] * 40) + """.
The last one.
"""

CONFIG = build.BuildConfig(shard_size=3, batch_size=2, max_words=30)


@pytest.fixture(scope="module")
def lines_file(tmp_path_factory):
  path = tmp_path_factory.mktemp("corpus") / "lines.txt"
  path.write_text(LINES, encoding="utf-8")
  return path


@pytest.fixture(scope="module")
def whole(lines_file, tmp_path_factory):
  """The files of one uninterrupted build beside the annotation (each test compares to it)."""
  out = tmp_path_factory.mktemp("whole") / "store"
  build.build(FakeModel(), str(lines_file), out, CONFIG, progress=False)
  return store_files(out)


def annotate_first(work, model, sentences, pending, templates, config):
  """The local engine passed explicitly: build() then annotates before the model (the path
  every engine without `annotate` takes)."""
  yield from engine.run_shards_locally(work, model, sentences, pending, templates, config)


def test_beside_annotation_equals_annotate_first(tmp_path, lines_file, whole, monkeypatch):
  started = []
  monkeypatch.setattr(annotator.BackgroundAnnotation, "__init__",
                      lambda *args: started.append(args))
  build.build(FakeModel(), str(lines_file), tmp_path / "first", CONFIG, progress=False,
              engine=annotate_first)
  assert not started   # an explicit engine annotates first, in this process
  assert store_files(tmp_path / "first") == whole
  assert whole["sentences.jsonl"].count(b"\n") == 9   # the 40-word line is skipped


def test_tokenizer_words_are_the_annotated_sentences(lines_file):
  source = sources.open_corpus(str(lines_file))
  words = stages.select_words(source, CONFIG)
  annotated, skipped = stages.select_sentences(str(lines_file), CONFIG)
  assert skipped == 1
  assert [(w.text, w.spans, w.meta) for w in words] == \
      [(s.text, s.spans, s.meta) for s in annotated]
  assert words[1].text == "She wanted to escape the din of her city."


def test_killed_build_beside_annotation_resumes_to_the_same_store(tmp_path, lines_file, whole):
  def fail(i):
    if i == 1:
      raise KeyboardInterrupt("killed")

  resumed = tmp_path / "resumed"
  with pytest.raises(KeyboardInterrupt):
    build.build(FakeModel(), str(lines_file), resumed, CONFIG, progress=False, after_shard=fail)
  assert sorted(p.name for p in (resumed / "_build" / "shards").iterdir()) == ["00000", "00001"]
  assert not (resumed / "_build" / "sentences.jsonl").exists()
  model = FakeModel()
  build.build(model, str(lines_file), resumed, CONFIG, progress=False)
  assert model.calls == 2          # only the last shard: 3 sentences in batches of 2
  assert store_files(resumed) == whole


def test_tokenizer_disagreeing_falls_back_to_annotating_first(tmp_path, lines_file, whole,
                                                               monkeypatch, caplog):
  real = stages.select_words

  def off_by_one(source, config):
    words = real(source, config)
    w = words[4]
    words[4] = annotate.SentenceWords(text=w.text + "!", spans=w.spans, meta=w.meta)
    return words

  monkeypatch.setattr(stages, "select_words", off_by_one)
  with caplog.at_level("WARNING"):
    build.build(FakeModel(), str(lines_file), tmp_path / "fallback", CONFIG, progress=False)
  assert "annotating first" in caplog.text
  assert store_files(tmp_path / "fallback") == whole


def test_spacy_errors_reach_the_driver(tmp_path, lines_file):
  config = build.BuildConfig(shard_size=3, batch_size=2, spacy_pipeline="no_such_pipeline")
  with pytest.raises(ExbertError, match="no_such_pipeline"):
    build.build(FakeModel(), str(lines_file), tmp_path / "s", config, progress=False)
