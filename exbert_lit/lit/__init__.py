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
plus a `fingerprint()` matching the corpus index). To give the views their gradient-free model
in your own server, serve each model as a group: `model_group.model_group(name, model).models()`
gives `{name: ..., "_name_internals": ...}` (and `"_name_generate"` for a causal LM) for
LitApp's `models`.

`exbert_lit.make_server` does that and more, around an unmodified LitApp:
- model_group.py: each model as `NAME` and `_NAME_internals`, one model call at a time;
- internals_model.py: `_NAME_internals`, the same weights without gradients, attention packed;
- generate_model.py: `_NAME_generate`, generation with every layer's attention (causal LMs);
- text_checks.py: empty and over-long sentences refused with one line;
- request_checks.py: unknown models, datasets, tools and fields refused before LIT runs;
- http_errors.py: LIT's error body (with its traceback) turned into one line;
- app.py: ExbertApp, the WSGI app that puts these together.
Also here: corpus_search.py (the interpreter), datasets.py, layouts.py, stale_ids.py (LIT 1.3.1's
Ablation Flip id bug), client.py (where the built client bundle is).
"""
