/**
 * The head grid's arithmetic: what each cell of a layer x head grid shows,
 * from a head profile the server counted over a corpus
 * (exbert_lit/analysis/head_profiles.py): label counts per head, and each
 * label's base rate (what a head without preference would get). Pure and
 * tested (head_grid_test.ts); the module only draws what these return.
 */

/** One profile as the `exbert_head_profiles` interpreter returns it. */
export interface HeadProfile {
  field: string;
  by: string;
  model: string;
  labels: string[];
  /** [V] share a preference-free head would give each label. */
  base: number[];
  /** [L][H][V] per head, how many source tokens had each label. */
  counts: number[][][];
  tokens: number;
  sources: number;
  num_layers: number;
  num_heads: number;
  corpus?: string;
  seconds?: number;
}

/** One label of one head, as the hover card lists it. */
export interface LabelStat {
  label: string;
  count: number;
  share: number;
  base: number;
  lift: number;
}

/** What a cell shows: its label (the picked one, or the head's best) and colour value. */
export interface Cell {
  layer: number;  // 1-based
  head: number;   // 1-based
  label: string;
  share: number;
  lift: number;
  total: number;
}

/** Labels holding less than this share of a head's counts are not its "top" label. */
export const MIN_SHARE = 0.05;

function statOf(profile: HeadProfile, counts: number[], total: number, v: number): LabelStat {
  const share = total > 0 ? counts[v] / total : 0;
  const base = profile.base[v];
  return {label: profile.labels[v], count: counts[v], share, base,
          lift: base > 0 ? share / base : NaN};
}

/** A head's labels by count (ties: by name), the first n (0-based layer, head). */
export function topLabels(profile: HeadProfile, layer: number, head: number,
                          n = 5): LabelStat[] {
  const counts = profile.counts[layer][head];
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((_, v) => v)
      .filter(v => counts[v] > 0)
      .sort((a, b) => counts[b] - counts[a] ||
                (profile.labels[a] < profile.labels[b] ? -1 : 1))
      .slice(0, n)
      .map(v => statOf(profile, counts, total, v));
}

/**
 * Every cell of the grid, rows = layers. Without `picked`: each head's label
 * with the largest lift among those with at least MIN_SHARE of its counts
 * (the most frequent when none has). With `picked` (a label of the profile):
 * that label's share and lift in every head.
 */
export function gridCells(profile: HeadProfile, picked: string|null = null): Cell[][] {
  const v0 = picked === null ? -1 : profile.labels.indexOf(picked);
  if (picked !== null && v0 < 0) {
    throw new RangeError(`label ${picked} is not among this profile's labels`);
  }
  return profile.counts.map((row, l) => row.map((counts, h) => {
    const total = counts.reduce((a, b) => a + b, 0);
    let v = v0;
    if (v < 0) {
      let best = -1;
      let bestLift = -Infinity;
      let most = 0;
      counts.forEach((c, i) => {
        if (c > counts[most]) most = i;
        const stat = statOf(profile, counts, total, i);
        if (stat.share >= MIN_SHARE && stat.lift > bestLift) {
          best = i;
          bestLift = stat.lift;
        }
      });
      v = best >= 0 ? best : most;
    }
    const stat = statOf(profile, counts, total, v);
    return {layer: l + 1, head: h + 1, label: stat.label, share: stat.share,
            lift: stat.lift, total};
  }));
}

/** Labels for the picker: by base rate, most common first. */
export function pickerLabels(profile: HeadProfile): string[] {
  return profile.labels.map((label, v) => ({label, base: profile.base[v]}))
      .sort((a, b) => b.base - a.base || (a.label < b.label ? -1 : 1))
      .map(x => x.label);
}

/**
 * Background of a cell: white at lift <= 1 (no preference), to deep orange
 * at lift >= 16, on a log2 scale. NaN (base rate 0) is grey.
 */
export function liftColor(lift: number): string {
  if (Number.isNaN(lift)) return 'rgb(230, 230, 230)';
  const t = Math.min(1, Math.max(0, Math.log2(Math.max(lift, 1)) / 4));
  return mix(t, [255, 255, 255], [217, 72, 1]);
}

/** Background of a cell by a share in [0, 1]: white to deep blue (linear). */
export function shareColor(share: number): string {
  const t = Math.min(1, Math.max(0, Number.isNaN(share) ? 0 : share));
  return mix(t, [255, 255, 255], [8, 69, 148]);
}

/** Black or white text, whichever reads on the background t of a scale. */
export function textColorFor(background: string): string {
  const m = background.match(/\d+/g);
  if (!m) return '#202124';
  const [r, g, b] = m.map(Number);
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? '#ffffff' : '#202124';
}

function mix(t: number, from: number[], to: number[]): string {
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** "12.3%" with one decimal; "<0.1%" for tiny non-zero shares. */
export function formatShare(share: number): string {
  if (share > 0 && share < 0.001) return '<0.1%';
  return `${(share * 100).toFixed(1)}%`;
}

/** "x3.2" lift, "-" when undefined. */
export function formatLift(lift: number): string {
  return Number.isFinite(lift) ? `x${lift.toFixed(lift >= 10 ? 0 : 1)}` : '-';
}
