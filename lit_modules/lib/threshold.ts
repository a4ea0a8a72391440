/**
 * exBERT's cumulative-attention threshold, as pure functions: for each row
 * (attending token) only its strongest edges are drawn, the fewest whose
 * weights add up to the threshold (exBERT's slider, default 70%). A head that
 * looks at one token draws one curve per row; a diffuse one draws many, so
 * the picture shows how focused attention is rather than every weak edge.
 */

/** A row of attention weights (plain or typed array). */
export type Row = ArrayLike<number>;

/** One curve: row `from` (left) attends to column `to` (right) with `weight`. */
export interface Edge {
  from: number;
  to: number;
  weight: number;
}

/** exBERT's default: the strongest edges that make up 70% of a row. */
export const DEFAULT_THRESHOLD = 0.7;

/**
 * The smallest weight kept in a row at `threshold` (0..1): weights sorted
 * descending are summed until they reach `threshold` times the row's total;
 * the weight that reaches it is the cut, and every weight >= the cut is kept
 * (ties at the cut are kept together, so the result does not depend on the
 * order of equal weights). A row of zeros keeps nothing (Infinity); a
 * threshold of 1 keeps every positive weight.
 */
export function rowCut(row: Row, threshold: number): number {
  const sorted = Float64Array.from(row).sort().reverse();
  let total = 0;
  for (const w of sorted) total += w;
  if (!(total > 0)) return Infinity;
  if (threshold >= 1) {
    let smallest = Infinity;
    for (const w of sorted) if (w > 0) smallest = w;
    return smallest;
  }
  // Relative tolerance so float sums that land a hair under the target count.
  const target = Math.max(0, threshold) * total * (1 - 1e-9);
  let sum = 0;
  for (const w of sorted) {
    sum += w;
    if (sum >= target) return w > 0 ? w : Infinity;
  }
  return sorted[sorted.length - 1];
}

/** Indices of the edges a row keeps at `threshold` (ascending). */
export function keptColumns(row: Row, threshold: number): number[] {
  const cut = rowCut(row, threshold);
  const kept: number[] = [];
  for (let j = 0; j < row.length; j++) {
    if (row[j] >= cut && row[j] > 0) kept.push(j);
  }
  return kept;
}

/**
 * Every edge of `[T, T]` kept by the threshold and above `minWeight` (the
 * lightest curve worth drawing), row by row: rows[i] = the edges out of i.
 */
export function thresholdEdges(
    m: ArrayLike<Row>, threshold: number, minWeight = 0): Edge[][] {
  const rows: Edge[][] = [];
  for (let i = 0; i < m.length; i++) {
    const row = m[i];
    const cut = Math.max(rowCut(row, threshold), minWeight);
    const out: Edge[] = [];
    for (let j = 0; j < row.length; j++) {
      const weight = row[j];
      if (weight >= cut && weight > minWeight) out.push({from: i, to: j, weight});
    }
    rows.push(out);
  }
  return rows;
}

/**
 * The edges to draw: all kept ones, or with a focus only those out of the
 * focused row (left) or into the focused column (right).
 */
export function focusedEdges(
    rows: Edge[][], focus: {index: number, side: 'left'|'right'}|null): Edge[] {
  if (focus === null) return rows.flat();
  if (focus.side === 'left') return rows[focus.index] ?? [];
  const into: Edge[] = [];
  for (const row of rows) {
    for (const e of row) if (e.to === focus.index) into.push(e);
  }
  return into;
}
