"""LIT glue: the corpus-search interpreter, datasets, layouts, and the app used by make_server.

Adding exBERT to a LIT server you already run (plain `lit_nlp.dev_server`):

    from lit_nlp import dev_server
    from exbert_lit import server as exbert_server
    from exbert_lit.corpus.search import CorpusIndex
    from exbert_lit.lit import corpus_search, layouts

    search = corpus_search.CorpusSearch({"brown": CorpusIndex.open("~/corpora/brown-bert")})
    client_root, has_views = exbert_server.resolve_client()   # our bundle, else LIT's stock one
    dev_server.Server(
        models, datasets,
        interpreters=exbert_server.lit_interpreters(search),  # + LIT's salience/embedding tools
        generators=exbert_server.lit_generators(),
        layouts=layouts.exbert_layouts() if has_views else layouts.stock_layouts(),
        default_layout=layouts.DEFAULT_LAYOUT_NAME, client_root=client_root).serve()

Your own LIT model works with the views if it declares the docs/FIELDS.md outputs (`tokens`,
`layer_{l}/attention`, and for corpus search `layer_{l}/token_emb` / `layer_{l}/context_emb`
plus a `fingerprint()` matching the corpus index). `exbert_lit.make_server` adds what a plain
LitApp lacks: one-line errors, one model call at a time, and gradient-free field-limited
predictions (lit/app.py).
"""
