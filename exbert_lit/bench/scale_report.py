"""The report of `exbert-lit bench --section scale --real STORE` (bench/scale_real.py): its
metrics for the bench table, and the real and synthetic figures side by side."""
from __future__ import annotations

from typing import Optional

from exbert_lit import bench


def side_by_side(rows: list[tuple[str, str, Optional[dict], Optional[dict], str]]) -> str:
  """A text table: index, query kind, p50 / p95 / recall@50 of the real and the synthetic
  measurement (blank where not measured), and the index's bytes per token."""
  def cells(f):
    return ("", "", "") if f is None else (
        f"{f['p50_ms']:.2f}", f"{f['p95_ms']:.2f}", f"{f['recall@50']:.3f}")
  table = [("index", "query", "real p50 ms", "p95", "recall@50", "synthetic p50 ms", "p95",
            "recall@50", "bytes/token: store dims, bert-base dims")]
  table += [(name, kind) + cells(real) + cells(synthetic) + (size,)
            for name, kind, real, synthetic, size in rows]
  widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def _name(factory: str, params: str) -> str:
  return factory + (f" ({params})" if params else "")


def table_of(details: dict) -> str:
  """The real and synthetic figures side by side, one row per index and query kind."""
  synthetic = details.get("synthetic", {})
  own = _name(details["factory"], details["search_params"] or "")
  rows = []
  sizes = details["store_bytes"]
  size = f"{sizes['store_dims']:,.0f}, {sizes['bert_base_dims']:,.0f}"
  for i, (label, real) in enumerate(details["store_figures"].items()):
    rows.append((f"store: {own}", label, real, synthetic.get(own, {}).get("queries", {})
                 .get(label), "" if i else size + " (store measured)"))
  for r in details["factories"]:
    name = _name(r["factory"], r["params"])
    t = r["bytes_per_token"]
    for i, (label, real) in enumerate(r["queries"].items()):
      rows.append((name, label, real, synthetic.get(name, {}).get("queries", {}).get(label),
                   "" if i else f"{t['store_dims']:,.0f}, {t['bert_base_dims']:,.0f}"))
  return (f"scale on {details['store']}: layer {details['layer']}, {details['tokens']:,} "
          f"tokens, k={details['k']}, {details['queries']} queries per kind; real recall "
          "against exact search over the store's decoded vectors\n" + side_by_side(rows) +
          bound_table(details))


def _sigma(value: Optional[float]) -> str:
  return "-" if value is None else f"{value:.4f}"


def bound_table(details: dict) -> str:
  """The noise oracle (recall@50 when exact scores get Gaussian noise of std sigma) and each
  compared layout's measured score error std, per query kind; '' when not measured."""
  bound = details.get("bound")
  if not bound:
    return ""
  labels = list(bound)
  sigmas = next(iter(bound.values()))["sigmas"]
  table = [("score error std",) + tuple(labels)]
  table += [(f"oracle: noise {s:g}",) + tuple(f"{bound[l]['recall@50'][i]:.3f}" for l in labels)
            for i, s in enumerate(sigmas)]
  table.append(("largest std for recall@50 0.95",) +
               tuple(_sigma(bound[l]["sigma_at_0.95"]) for l in labels))
  for r in details["factories"]:
    errors = r.get("score_error_std") or {}
    if any(v is not None for v in errors.values()):
      table.append((f"{_name(r['factory'], r['params'])} (re-ranking codes)",) +
                   tuple(_sigma(errors.get(l)) for l in labels))
  widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return ("\n\nwhat bounds bytes against recall: recall@50 of exact scores plus Gaussian noise "
          "(optimistic), and the score error std each layout makes\n" + "\n".join(lines))


def _latency(name: str, f: dict, where: str) -> dict:
  """One query kind's p50/p95 metric, with its recall@50, against the issue's goal."""
  return bench.metric(f"{name} p50/p95", f"{f['p50_ms']:.2f} / {f['p95_ms']:.2f}", "ms",
                      "p50 <= 5 ms at 1M, recall@50 >= 0.95",
                      f"recall@50 {f['recall@50']:.3f}; {where}")


def metrics_of(details: dict) -> list[dict]:
  n, layer = details["tokens"], details["layer"]
  where = f"layer {layer}, {n:,} tokens, {details['queries']} real queries"
  out = []
  own = _name(details["factory"], details["search_params"] or "")
  out += [_latency(f"real store {own}: {label}", f, where)
          for label, f in details["store_figures"].items()]
  b = details["bytes_per_token"]
  out.append(bench.metric("real store bytes per token, all layers, E + C", b["total"], "bytes",
                          "<= 8 KB", ", ".join(f"{part} {v:.0f}" for part, v in b.items()
                                               if part != "total")))
  out.append(bench.metric("same index at bert-base dims, all 25 layers",
                          details["store_bytes"]["bert_base_dims"], "bytes",
                          "<= 8 KB at recall@50 >= 0.95", "the store's bytes per vector x "
                          "768 / its width, + attention + table (bench.scale.store_bytes_per_token)"))
  for r in details["factories"]:
    name = _name(r["factory"], r["params"])
    out += [_latency(f"{name} on real vectors: {label}", f, where)
            for label, f in r["queries"].items()]
    t = r["bytes_per_token"]
    out.append(bench.metric(f"{name}: bytes per token, all layers", f"{t['store_dims']:.0f} / "
                            f"{t['bert_base_dims']:.0f}", "bytes", "<= 8 KB at bert-base dims",
                            "at the store's dims / at bert-base dims (bytes per vector x "
                            "768 / store width); build "
                            f"{r['build_seconds']:.0f} s for E + C"))
    for label, e in (r.get("score_error_std") or {}).items():
      if e is not None:
        out.append(bench.metric(f"{name}: score error std of its re-ranking codes, {label}",
                                _sigma(e), "", None, f"over each query's exact top "
                                "200 (bench/scale_bound.py); " + where))
  for label, b in details.get("bound", {}).items():
    out.append(bench.metric(f"largest score error std for recall@50 0.95: {label}",
                            _sigma(b["sigma_at_0.95"]), "", None,
                            "noise oracle on the exact top-1000 scores (bench/scale_bound.py); "
                            f"{where}"))
  for label, f in details.get("exact_check", {}).items():
    out.append(bench.metric(f"exact check: {label} recall@50 of decoded vs model vectors",
                            f["recall@50"], "", None,
                            f"mean cosine {f['mean_cosine']:.6f}; first {f['tokens']:,} tokens "
                            f"re-run through the model, {f['queries']} queries"))
  return out
