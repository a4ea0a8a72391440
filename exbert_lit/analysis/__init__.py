"""Analyses behind the demos (the exBERT paper's case studies), reusable from Python.

  stores.py        find or build the corpus store an analysis needs (cached per model/corpus/size)
  layer_labels.py  share of each label among the corpus matches of one token, layer by layer
  heads.py         which heads' max-attended tokens carry a label (ranking over a whole store)
  head_profiles.py every head's label distribution of its attended / attending tokens (the grid)
  profile_cache.py those profiles counted once per store, kept in memory and on disk
  head_sets.py     when the stored top-3 provably give a head set's max-attended token
  probing.py       per layer, kNN label agreement of E(l) / C(l), and one token's label curves
  next_token.py    next-token probabilities of chosen words and attention from one token
  positions.py     a typed word -> the index of its first word-piece

Each module keeps its arithmetic in small pure functions (tested in tests/test_analysis.py);
the corpus, search and model work is done by exbert_lit.corpus and exbert_lit.models.
"""
