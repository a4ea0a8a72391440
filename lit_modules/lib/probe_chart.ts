/**
 * Probing curves as lines over layers: the series and the geometry of the
 * probing module's chart (src/probe_module.ts), pure and tested
 * (probe_chart_test.ts). Answers come from the `exbert_probe` interpreter
 * (exbert_lit/analysis/probing.py).
 */

export type Kind = 'embedding'|'context';

/** One token's answer: per kind, per layer, label -> share among its matches. */
export interface TokenAnswer {
  field: string;
  k: number;
  model: string;
  token?: string;
  /** Server time of the searches, seconds. */
  seconds?: number;
  layers: {[kind: string]: Array<{layer: number, counted: number, shares: {[label: string]: number}}>};
}

/** A corpus-wide answer: per kind, per layer, kNN agreement. */
export interface CorpusAnswer {
  field: string;
  k: number;
  model: string;
  sample: number;
  chance: number;
  layers: {[kind: string]: Array<{layer: number, share: number, accuracy: number}>};
}

export interface Series {
  name: string;      // legend text
  group: string;     // what shares a colour: a label, or a model
  kind: Kind;        // solid (embedding) or dashed (context)
  points: Array<[number, number]>;   // [x, y]
}

/**
 * One token's curves: the `top` labels with the largest share at any layer
 * (ties: by name), each as an E(l) line and a C(l) line.
 */
export function tokenSeries(answer: TokenAnswer, top = 4): Series[] {
  const best = new Map<string, number>();
  for (const rows of Object.values(answer.layers)) {
    for (const row of rows) {
      for (const [label, share] of Object.entries(row.shares)) {
        best.set(label, Math.max(best.get(label) ?? 0, share));
      }
    }
  }
  const labels = [...best.keys()]
      .sort((a, b) => best.get(b)! - best.get(a)! || (a < b ? -1 : 1))
      .slice(0, top);
  const out: Series[] = [];
  for (const label of labels) {
    for (const kind of ['embedding', 'context'] as Kind[]) {
      const rows = answer.layers[kind] ?? [];
      out.push({name: `${label} ${kind === 'embedding' ? 'E' : 'C'}`, group: label, kind,
                points: rows.map(r => [r.layer, r.shares[label] ?? 0] as [number, number])});
    }
  }
  return out;
}

/**
 * Corpus-wide curves of one or more models: per model an E and a C line of
 * `metric`. Models of different depth are put on one axis by relative depth
 * (layer / L); `relative` says whether that happened.
 */
export function corpusSeries(answers: CorpusAnswer[], metric: 'accuracy'|'share' = 'accuracy'):
    {series: Series[], relative: boolean} {
  const depth = (a: CorpusAnswer) => Math.max(...(a.layers['embedding'] ?? []).map(r => r.layer), 1);
  const relative = new Set(answers.map(depth)).size > 1;
  const series: Series[] = [];
  for (const a of answers) {
    const L = depth(a);
    for (const kind of ['embedding', 'context'] as Kind[]) {
      series.push({
        name: `${a.model} ${kind === 'embedding' ? 'E(l)' : 'C(l)'}`, group: a.model, kind,
        points: (a.layers[kind] ?? []).map(
            r => [relative ? r.layer / L : r.layer, r[metric]] as [number, number]),
      });
    }
  }
  return {series, relative};
}

/** A linear map from [d0, d1] to [r0, r1] (d0 == d1 maps to r0). */
export function linear(d0: number, d1: number, r0: number, r1: number): (x: number) => number {
  return (x: number) => d1 === d0 ? r0 : r0 + ((x - d0) / (d1 - d0)) * (r1 - r0);
}

/** SVG path through the points, mapped by the scales; '' for no points. */
export function linePath(points: Array<[number, number]>, x: (v: number) => number,
                         y: (v: number) => number): string {
  return points.map(([px, py], i) =>
      `${i === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
}

/** The x extent of every series, [min, max] ([0, 1] when empty). */
export function xExtent(series: Series[]): [number, number] {
  const xs = series.flatMap(s => s.points.map(p => p[0]));
  return xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2',
                 '#17becf'];

/** A colour per group, in order of first appearance. */
export function groupColors(series: Series[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of series) {
    if (!out.has(s.group)) out.set(s.group, PALETTE[out.size % PALETTE.length]);
  }
  return out;
}
