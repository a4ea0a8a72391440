"""Builds a corpus store (see store.py): annotate, run the model in batches, index, finish.

The build runs in stages inside DIR/_build, each finished stage written atomically, so a run
that is killed continues where it stopped:
  run.json           the settings of the run; resuming with other settings is refused
  sentences.jsonl    spaCy's annotation of the (first --max-sentences) sentences
  index.json         the faiss factory chosen (exact for small corpora, compressed for large)
  trained/           empty trained indexes, for factories that need training
  shards/NNNNN/      per shard of `shard_size` sentences: token rows, attention summaries and
                     one faiss index per (kind, layer); a shard directory appears by an atomic
                     rename only when complete
Finishing merges the shards into DIR, writes manifest.json last and removes _build. Within a
shard, sentences are sorted by length into batches (less padding) and put back in corpus order,
so a resumed build equals an uninterrupted one array for array.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import os
import pathlib
import shutil
import time
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from exbert_lit.corpus import annotate as annotate_lib
from exbert_lit.corpus import faiss_tools
from exbert_lit.corpus import sources
from exbert_lit.corpus import store

log = logging.getLogger(__name__)

# Below this many vectors per index the exact (Flat) index is the default.
EXACT_MAX_VECTORS = 200_000
# Training sample for trainable factories, per index (vectors): partitioned indexes (IVF
# k-means) need ~40 per list; scalar quantisers only per-dimension ranges.
TRAIN_VECTORS = 65_536
TRAIN_VECTORS_NO_PARTITION = 16_384
# Candidates re-ranked per result by the default compressed index: k x this many. 12 kept
# recall@50 >= 0.95 for head sets and all heads at 1M and 10M vectors (bench --scale); one-head
# queries re-rank more (faiss_tools.one_head_candidates).
REFINE_K_FACTOR = 12


def train_size(factory: str) -> int:
  return TRAIN_VECTORS if "IVF" in factory.upper() else TRAIN_VECTORS_NO_PARTITION


@dataclasses.dataclass(frozen=True)
class BuildConfig:
  """Settings of one build; all but `progress` must match when a build is resumed."""
  index_type: Optional[str] = None     # faiss factory string; None = by corpus size
  search_params: Optional[str] = None  # faiss ParameterSpace string, e.g. "nprobe=32"
  batch_size: int = 16
  shard_size: int = 256                # sentences per resumable shard
  max_sentences: Optional[int] = None
  max_words: int = 150                 # longer sentences are skipped (model position limit)
  attention_top_k: int = 3             # attended positions kept per token, layer and head
  spacy_pipeline: str = annotate_lib.DEFAULT_PIPELINE

  def resumable_part(self) -> dict:
    return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Pure helpers.

def default_factory(num_vectors: int, dims: Iterable[int]) -> tuple[str, str]:
  """(faiss factory, search params) for indexes of `num_vectors` vectors of sizes `dims`.

  Exact (Flat, 4 bytes per dimension) while small. Beyond that, one scan of 4-bit fast-scan
  product-quantiser codes (PQ{D/2}x4fs: half a byte per dimension) picks 12k candidates, and
  8-bit scalar-quantised codes (SQ8) re-rank them (faiss's IndexRefine, `k_factor_rf`).

  Why this and not a partitioned index (IVF/HNSW): a head-subset query zeroes most of the
  vector, and its neighbours over the chosen heads are scattered over partitions made from
  whole vectors (IVF lost most of recall@50 on head subsets in `exbert-lit bench --scale`).
  Every sub-quantiser here covers 2 dimensions, so none straddles two heads (head sizes are
  even): a zeroed head adds exactly 0 to every candidate's score, and the candidate scan ranks
  by the chosen heads only. Needs one vector size for both kinds (true of the supported
  architectures, where hidden size = heads x head size); otherwise SQ8 alone.
  `exbert-lit bench --scale` reports recall@50, latency and bytes per token;
  `--index-type` overrides the choice.
  """
  if num_vectors <= EXACT_MAX_VECTORS:
    return "Flat", ""
  sizes = set(dims)
  if len(sizes) == 1 and next(iter(sizes)) % 2 == 0:
    return f"PQ{next(iter(sizes)) // 2}x4fs,Refine(SQ8)", f"k_factor_rf={REFINE_K_FACTOR}"
  return "SQ8", ""


def normalize_rows(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
  """L2-normalises the last axis (zero rows stay zero).   [..., D] -> [..., D] float32"""
  x = np.asarray(x, dtype=np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def normalize_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
  """Each head's dh-slice of the last axis to unit norm.   [..., H*dh] -> [..., H*dh]"""
  shape = x.shape
  heads = np.asarray(x, dtype=np.float32).reshape(*shape[:-1], num_heads, -1)
  return normalize_rows(heads).reshape(shape)


def summarize_attention(attention: np.ndarray, top_k: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """What the histograms need of one sentence's attention, so search needs no model run.

  Args:
    attention: [L, H, T, T], attention[l, h, i, j] = weight of token i on token j.
  Returns:
    top_pos: int16 [T, L, H, K] the K positions token i attends to most (descending weight;
      ties to the lower position), K = min(top_k, T) padded with -1 up to top_k.
    top_weight: float16 [T, L, H, K] their weights (0 where padded).
    mean_argmax: int16 [T, L] argmax over j of the attention averaged over all heads.
  """
  att = np.asarray(attention, dtype=np.float32)
  num_layers, num_heads, t, _ = att.shape
  k = min(top_k, t)
  if k < t:  # partial selection, then order the k by weight (ties: lower position first)
    candidates = np.sort(np.argpartition(-att, k - 1, axis=-1)[..., :k], axis=-1)
    cand_w = np.take_along_axis(att, candidates, axis=-1)
    order = np.take_along_axis(candidates, np.argsort(-cand_w, axis=-1, kind="stable"), -1)
  else:
    order = np.argsort(-att, axis=-1, kind="stable")                   # [L, H, T, k]
  weights = np.take_along_axis(att, order, axis=-1)
  top_pos = np.full((t, num_layers, num_heads, top_k), -1, dtype=np.int16)
  top_weight = np.zeros((t, num_layers, num_heads, top_k), dtype=np.float16)
  top_pos[..., :k] = order.transpose(2, 0, 1, 3)
  top_weight[..., :k] = weights.transpose(2, 0, 1, 3)
  mean_argmax = att.mean(axis=1).argmax(axis=-1).T.astype(np.int16)  # [T, L]
  return top_pos, top_weight, mean_argmax


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
  return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
  """Indices grouped into batches of similar length (stable: ties keep corpus order)."""
  order = sorted(range(len(lengths)), key=lambda i: lengths[i])
  return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------------------------------------
# Stages.

def _faiss():
  import faiss  # pylint: disable=g-import-not-at-top
  return faiss


def _make_index(factory: str, dim: int):
  faiss = _faiss()
  try:
    return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
  except RuntimeError as e:
    raise ValueError(f"invalid faiss index type {factory!r}: "
                     f"{str(e).strip().splitlines()[-1][:200]}") from e


def _read_jsonl(path: pathlib.Path) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def _write_jsonl_atomic(path: pathlib.Path, rows) -> None:
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    for row in rows:
      f.write(json.dumps(row, ensure_ascii=False) + "\n")
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def annotate_corpus(corpus: str, config: BuildConfig
                    ) -> Iterator[annotate_lib.AnnotatedSentence]:
  """spaCy's sentences of `corpus`, in corpus order, annotated in this process."""
  source = sources.open_corpus(corpus)
  nlp = annotate_lib.load_pipeline(config.spacy_pipeline)
  yield from annotate_lib.annotate(source.texts, nlp, split=source.split)


def select_sentences(corpus: str, config: BuildConfig,
                     annotated: Optional[Iterator[annotate_lib.AnnotatedSentence]] = None
                     ) -> tuple[list[annotate_lib.AnnotatedSentence], int]:
  """The sentences a build indexes: spaCy's sentences of `corpus` of at most
  `config.max_words` words, the first `config.max_sentences` of them; and how many longer
  ones were skipped on the way.

  Args:
    annotated: the corpus's annotated sentences in corpus order from elsewhere (an engine's);
      default: annotate_corpus. Closed once enough sentences are taken.
  """
  annotated = annotate_corpus(corpus, config) if annotated is None else annotated
  out, skipped = [], 0
  with contextlib.closing(annotated):
    for sentence in annotated:
      if len(sentence.spans) > config.max_words:
        skipped += 1
        continue
      out.append(sentence)
      if config.max_sentences is not None and len(out) >= config.max_sentences:
        break
  return out, skipped


def _annotate_stage(work: pathlib.Path, corpus: str, config: BuildConfig, engine=None
                    ) -> list[annotate_lib.AnnotatedSentence]:
  path = work / "sentences.jsonl"
  if path.is_file():
    return [annotate_lib.AnnotatedSentence.from_json(d) for d in _read_jsonl(path)]
  # An engine may annotate too (`engine.annotate(corpus, config)`: sentences in corpus order).
  annotated = engine.annotate(corpus, config) if hasattr(engine, "annotate") else None
  out, skipped = select_sentences(corpus, config, annotated)
  if not out:
    raise ValueError(f"corpus {corpus!r} has no sentences")
  if skipped:
    log.info("skipped %d sentences longer than %d words", skipped, config.max_words)
  _write_jsonl_atomic(path, (s.to_json() for s in out))
  return out


def _vectors(internals, num_heads: int) -> dict[tuple[str, int], np.ndarray]:
  """(kind, layer) -> normalised vectors of one sentence.   [T, D] or [T, H*dh]"""
  out = {}
  for layer in range(internals.embeddings.shape[0]):
    out[("embedding", layer)] = normalize_rows(internals.embeddings[layer])
  for layer in range(1, internals.contexts.shape[0] + 1):
    out[("context", layer)] = normalize_heads(internals.contexts[layer - 1], num_heads)
  return out


def _run_model(model, texts: list[str], batch_size: int):
  """model.internals over `texts` in length-sorted batches; None for a text the model refuses
  (e.g. longer than its position limit). Returns a list in the order of `texts`."""
  results = [None] * len(texts)
  for batch in length_batches([len(t) for t in texts], batch_size):
    try:
      outs = model.internals([texts[i] for i in batch])
    except ValueError:
      outs = []
      for i in batch:  # find the culprit(s); keep the rest
        try:
          outs.extend(model.internals([texts[i]]))
        except ValueError as e:
          log.warning("skipped a sentence the model refused: %s", e)
          outs.append(None)
    for i, out in zip(batch, outs):
      results[i] = out
  return results


def _index_stage(work: pathlib.Path, model, sentences, config: BuildConfig) -> dict:
  path = work / "index.json"
  if path.is_file():
    return json.loads(path.read_text(encoding="utf-8"))
  dims = {"embedding": model.hidden_size, "context": model.num_heads * model.head_dim}
  if config.index_type:
    factory = config.index_type
    params = config.search_params or ""  # build() has checked the factory before annotating
  else:
    # ~1.3 word-pieces per spaCy word plus two specials per sentence.
    estimate = int(1.3 * annotate_lib.word_count(sentences)) + 2 * len(sentences)
    factory, params = default_factory(estimate, dims.values())
    if config.search_params is not None:
      params = config.search_params
  info = {"factory": factory, "search_params": params, "dims": dims}
  store.write_json_atomic(path, info)
  return info


def _train_stage(work: pathlib.Path, model, sentences, config: BuildConfig, info: dict):
  """Templates (empty, trained) per (kind, layer), trained on the first sentences' vectors."""
  faiss = _faiss()
  keys = [(kind, layer) for kind in store.KINDS
          for layer in store.layers_of(kind, model.num_layers)]
  templates = {key: _make_index(info["factory"], info["dims"][key[0]]) for key in keys}
  if all(t.is_trained for t in templates.values()):
    return templates
  trained_dir = work / "trained"
  if (trained_dir / "done").is_file():
    return {key: faiss.read_index(str(trained_dir / store.index_filename(*key))) for key in keys}
  wanted = train_size(info["factory"])
  log.info("training %s on up to %d vectors per index", info["factory"], wanted)
  sample: dict[tuple[str, int], list[np.ndarray]] = {key: [] for key in keys}
  count, i = 0, 0
  while count < wanted and i < len(sentences):
    texts = [s.text for s in sentences[i:i + config.batch_size]]
    i += config.batch_size
    for out in _run_model(model, texts, config.batch_size):
      if out is None:
        continue
      for key, vecs in _vectors(out, model.num_heads).items():
        sample[key].append(vecs.astype(np.float16))
      count += len(out.tokens)
  tmp = work / "trained.tmp"
  shutil.rmtree(tmp, ignore_errors=True)
  tmp.mkdir(parents=True)
  for key in keys:
    x = np.concatenate(sample.pop(key)).astype(np.float32)[:wanted]
    templates[key].train(x)
    faiss.write_index(templates[key], str(tmp / store.index_filename(*key)))
  (tmp / "done").write_text("ok")
  shutil.rmtree(trained_dir, ignore_errors=True)
  os.replace(tmp, trained_dir)
  return templates


def _shard_stage(shard_dir: pathlib.Path, model, sentences, first: int, templates,
                 config: BuildConfig) -> int:
  """Runs one shard and writes it (atomically). Returns its token count."""
  faiss = _faiss()
  outs = _run_model(model, [s.text for s in sentences], config.batch_size)
  rows: dict[str, list] = {c: [] for c in store.TEXT_COLUMNS}
  ints: dict[str, list] = {c: [] for c in ("start", "end", "head", "special", "position")}
  kept, lengths, att_pos, att_w, att_mean = [], [], [], [], []
  vectors: dict[tuple[str, int], list[np.ndarray]] = {key: [] for key in templates}
  for j, (sentence, out) in enumerate(zip(sentences, outs)):
    if out is None:
      continue
    kept.append(first + j)
    t = len(out.tokens)
    lengths.append(t)
    _, labels = annotate_lib.piece_labels(sentence, out.offsets, out.special)
    rows["piece"].extend(out.tokens)
    for column in ("pos", "tag", "dep", "ent", "lemma"):
      rows[column].extend(None if lab is None else lab[column] for lab in labels)
    ints["head"].extend(-1 if lab is None else lab["head"] for lab in labels)
    ints["start"].extend(int(o) for o in out.offsets[:, 0])
    ints["end"].extend(int(o) for o in out.offsets[:, 1])
    ints["special"].extend(bool(s) for s in out.special)
    ints["position"].extend(range(t))
    top_pos, top_w, mean_argmax = summarize_attention(out.attention, config.attention_top_k)
    att_pos.append(top_pos)
    att_w.append(top_w)
    att_mean.append(mean_argmax)
    for key, vecs in _vectors(out, model.num_heads).items():
      vectors[key].append(vecs)
  tmp = shard_dir.with_name(shard_dir.name + ".tmp")
  shutil.rmtree(tmp, ignore_errors=True)
  tmp.mkdir(parents=True)
  store.write_json_atomic(tmp / "tokens.json", rows)
  store.save_array(tmp / "kept.npy", np.asarray(kept, dtype=np.int64))
  store.save_array(tmp / "lengths.npy", np.asarray(lengths, dtype=np.int64))
  for name, values in ints.items():
    store.save_array(tmp / f"{name}.npy",
                     np.asarray(values, dtype=bool if name == "special" else np.int32))
  empty_att = (0, model.num_layers, model.num_heads, config.attention_top_k)
  store.save_array(tmp / "top_pos.npy",
                   np.concatenate(att_pos) if att_pos else np.zeros(empty_att, np.int16))
  store.save_array(tmp / "top_weight.npy",
                   np.concatenate(att_w) if att_w else np.zeros(empty_att, np.float16))
  store.save_array(tmp / "mean_argmax.npy", np.concatenate(att_mean) if att_mean else
                   np.zeros((0, model.num_layers), np.int16))
  for key, template in templates.items():
    index = faiss.clone_index(template)
    if vectors[key]:
      index.add(np.concatenate(vectors[key]))
    faiss.write_index(index, str(tmp / store.index_filename(*key)))
  os.replace(tmp, shard_dir)
  return sum(lengths)


def _merge_indexes(paths: list[pathlib.Path], ivfdata: Optional[pathlib.Path] = None):
  """One index holding the shards' vectors in order (ids 0..N-1).

  An IVF index (at the top level) is merged into on-disk inverted lists in `ivfdata` (faiss
  contrib's merge_ondisk): the lists of a store larger than RAM are then read from disk as
  searches need them. The index file refers to them by name in its own directory.
  """
  faiss = _faiss()
  merged = faiss.read_index(str(paths[0]))
  if ivfdata is not None and isinstance(faiss.downcast_index(merged), faiss.IndexIVF):
    from faiss.contrib import ondisk  # pylint: disable=g-import-not-at-top
    merged.reset()   # trained and empty, as merge_ondisk wants it
    ondisk.merge_ondisk(merged, [str(p) for p in paths], str(ivfdata), shift_ids=True)
    return merged
  for path in paths[1:]:
    faiss_tools.merge_into(merged, faiss.read_index(str(path)))
  return merged


def _finish(out: pathlib.Path, work: pathlib.Path, model, sentences, config: BuildConfig,
            info: dict, n_shards: int, corpus: str, keys) -> dict:
  faiss = _faiss()
  shard_dirs = [work / "shards" / f"{i:05d}" for i in range(n_shards)]
  vocab: dict[str, int] = {}

  def codes(values):
    return np.asarray([-1 if v is None else vocab.setdefault(v, len(vocab)) for v in values],
                      dtype=np.int32)

  columns: dict[str, list[np.ndarray]] = {}
  kept, lengths = [], []
  for d in shard_dirs:
    rows = json.loads((d / "tokens.json").read_text(encoding="utf-8"))
    for column in store.TEXT_COLUMNS:
      columns.setdefault(column, []).append(codes(rows[column]))
    for column in ("start", "end", "head", "special", "position"):
      columns.setdefault(column, []).append(store.load_array(d / f"{column}.npy", mmap=False))
    kept.append(store.load_array(d / "kept.npy", mmap=False))
    lengths.append(store.load_array(d / "lengths.npy", mmap=False))
  kept_all, lengths_all = np.concatenate(kept), np.concatenate(lengths)
  sentence_start = np.concatenate([[0], np.cumsum(lengths_all)]).astype(np.int64)
  for column, parts in columns.items():
    store.save_array(out / "tokens" / f"{column}.npy", np.concatenate(parts))
  store.save_array(out / "tokens" / "sentence_id.npy",
                   np.repeat(np.arange(len(lengths_all), dtype=np.int32), lengths_all))
  store.save_array(out / "tokens" / "sentence_start.npy", sentence_start)
  for name in ("top_pos", "top_weight", "mean_argmax"):
    store.save_array(out / "attention" / f"{name}.npy",
                     np.concatenate([store.load_array(d / f"{name}.npy", mmap=False)
                                     for d in shard_dirs]))
  store.write_json_atomic(out / "vocab.json", list(vocab))
  _write_jsonl_atomic(out / "sentences.jsonl",
                      ({"id": i, "text": sentences[int(k)].text} for i, k in enumerate(kept_all)))
  (out / "index").mkdir(exist_ok=True)
  for key in keys:
    target = out / "index" / store.index_filename(*key)
    if len(shard_dirs) == 1:  # nothing to merge: move, don't rewrite
      source = shard_dirs[0] / store.index_filename(*key)
      if source.is_file() or not target.is_file():  # (a resumed finish moved it already)
        os.replace(source, target)
      continue
    merged = _merge_indexes([d / store.index_filename(*key) for d in shard_dirs],
                            ivfdata=store.ondisk_lists_path(target))
    faiss.write_index(merged, str(target))
    del merged
  nlp = annotate_lib.load_pipeline(config.spacy_pipeline)
  manifest = {
      "format": store.FORMAT,
      "format_version": store.FORMAT_VERSION,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "model": {"name": model.name, "fingerprint": model.fingerprint(),
                "is_causal": bool(model.is_causal), "num_layers": model.num_layers,
                "num_heads": model.num_heads, "head_dim": model.head_dim,
                "hidden_size": model.hidden_size},
      "spacy": dict(annotate_lib.pipeline_info(nlp), name=config.spacy_pipeline),
      "corpus": {"source": corpus, "max_sentences": config.max_sentences,
                 "max_words": config.max_words},
      "layers": {kind: store.layers_of(kind, model.num_layers) for kind in store.KINDS},
      "dims": info["dims"],
      "counts": {"sentences": int(len(lengths_all)), "tokens": int(sentence_start[-1]),
                 "annotated_sentences": len(sentences),
                 "skipped_sentences": len(sentences) - int(len(lengths_all))},
      "index": {"factory": info["factory"], "metric": "inner_product",
                "search_params": info["search_params"],
                "normalisation": {"embedding": "L2 per vector", "context": "L2 per head"}},
      "attention": {"top_k": config.attention_top_k,
                    "mean_argmax": "argmax of the mean over all heads"},
      "build": {"batch_size": config.batch_size, "shard_size": config.shard_size},
  }
  store.write_json_atomic(out / store.MANIFEST, manifest)
  shutil.rmtree(work)
  return manifest


# An engine runs the shards a build still needs: engine(work, model, sentences, pending,
# templates, config) with pending = [(shard, first sentence, end sentence)], yielding
# (shard, tokens) as each shard directory appears, in any order. Every engine writes shards
# with `_shard_stage`; `_finish` reads them by number, so the store does not depend on the
# engine. The local one is below; exbert_lit/corpus/ray_engine.py runs them on Ray. An engine
# object may also have `annotate(corpus, config)` to run the spaCy stage (see _annotate_stage).
ShardEngine = Callable[..., Iterator[tuple[int, int]]]


def shard_dir(work: pathlib.Path, shard: int) -> pathlib.Path:
  return work / "shards" / f"{shard:05d}"


def run_shards_locally(work: pathlib.Path, model, sentences, pending, templates,
                       config: BuildConfig) -> Iterator[tuple[int, int]]:
  """The default engine: the pending shards one after another with the driver's model."""
  for i, a, b in pending:
    yield i, _shard_stage(shard_dir(work, i), model, sentences[a:b], a, templates, config)


def build(model, corpus: str, out_dir: str | os.PathLike, config: BuildConfig = BuildConfig(),
          *, progress: bool = True,
          after_shard: Optional[Callable[[int], None]] = None,
          engine: Optional[ShardEngine] = None) -> dict:
  """Builds (or resumes building) the store for `corpus` with `model` in `out_dir`.

  Args:
    model: a LanguageModel (exbert_lit/models/api.py).
    corpus: "brown" or a UTF-8 text file path.
    after_shard: called with the shard number after each shard is written (tests inject
      failures here).
    engine: runs the pending shards (see ShardEngine), and the annotation if it has an
      `annotate` method; default: both locally, in order.
  Returns the manifest.
  """
  out = pathlib.Path(out_dir)
  work = out / "_build"
  if (out / store.MANIFEST).exists():
    raise store.StoreError(f"{out} already holds a finished corpus index; choose another --out")
  if out.exists() and any(out.iterdir()) and not work.is_dir():
    raise store.StoreError(f"{out} is not empty and is not an unfinished corpus index")
  work.mkdir(parents=True, exist_ok=True)
  run = {"model": model.fingerprint(), "corpus": corpus, "config": config.resumable_part()}
  run_path = work / "run.json"
  if run_path.is_file():
    before = json.loads(run_path.read_text(encoding="utf-8"))
    if before != run:
      diff = _first_difference(before, run)
      raise store.StoreError(f"{out} holds an unfinished build with other settings ({diff}); "
                             f"rerun it as before or choose another --out")
    log.info("resuming the unfinished build in %s", out)
  else:
    store.write_json_atomic(run_path, run)

  if config.index_type:  # a bad factory fails now, not after annotating the corpus
    for dim in (model.hidden_size, model.num_heads * model.head_dim):
      _make_index(config.index_type, dim)
  sentences = _annotate_stage(work, corpus, config, engine)
  info = _index_stage(work, model, sentences, config)
  templates = _train_stage(work, model, sentences, config, info)
  ranges = shard_ranges(len(sentences), config.shard_size)
  (work / "shards").mkdir(exist_ok=True)
  pending = [(i, a, b) for i, (a, b) in enumerate(ranges) if not shard_dir(work, i).is_dir()]
  sizes = {i: b - a for i, a, b in pending}
  bar = _progress_bar(len(sentences), len(sentences) - sum(sizes.values()), progress)
  tokens, started = 0, time.perf_counter()
  try:
    for i, shard_tokens in (engine or run_shards_locally)(work, model, sentences, pending,
                                                           templates, config):
      tokens += shard_tokens
      if bar is not None:
        bar.update(sizes[i])
        bar.set_postfix_str(f"{tokens / (time.perf_counter() - started):.0f} tok/s")
      if after_shard is not None:
        after_shard(i)
  finally:
    if bar is not None:
      bar.close()
  if pending:
    seconds = time.perf_counter() - started
    log.info("indexed %d shards, %d tokens in %.1f s (%.0f tokens/s)", len(pending), tokens,
             seconds, tokens / max(seconds, 1e-9))
  return _finish(out, work, model, sentences, config, info, len(ranges), corpus,
                 list(templates))


def _first_difference(before: dict, now: dict, prefix: str = "") -> str:
  for key in sorted(set(before) | set(now)):
    a, b = before.get(key), now.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      if a != b:
        return _first_difference(a, b, f"{prefix}{key}.")
    elif a != b:
      return f"{prefix}{key} was {a!r}, now {b!r}"
  return "unknown"


def _progress_bar(total: int, initial: int, enabled: bool):
  if not enabled:
    return None
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, initial=initial, unit="sent", desc="indexing", smoothing=0.1)
