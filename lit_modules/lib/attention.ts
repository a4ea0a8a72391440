/**
 * Attention maths for the attention view, as pure functions.
 *
 * A layer's attention arrives from the model as `[heads, T, T]` with
 * att[h][i][j] = how much token i (query, left column) attends to token j
 * (key, right column); every row sums to 1.
 */

/** `[T, T]`: rows = attending token (left), columns = attended token. */
export type Matrix = number[][];

/** Read-only rows: plain arrays or the typed rows packed attention decodes to. */
export type Rows = ArrayLike<ArrayLike<number>>;

/**
 * Mean over the selected heads (1-based; [] = all) of `[heads, T, T]`.
 * The mean of row-stochastic matrices is row-stochastic, so the aggregate
 * reads like a single head.
 */
export function aggregateHeads(att: ArrayLike<Rows>, heads: number[]): Float64Array[] {
  if (att.length === 0) return [];
  const chosen = heads.length === 0 ? Array.from({length: att.length}, (_, i) => i) :
                                      heads.map(h => h - 1);
  for (const h of chosen) {
    if (h < 0 || h >= att.length) {
      throw new RangeError(`head ${h + 1} is out of range 1..${att.length}`);
    }
  }
  const size = att[0].length;
  const width = att[0][0]?.length ?? 0;
  // Typed rows and hoisted row lookups: a 1,024-token layer is 1M cells per head.
  const out = Array.from({length: size}, () => new Float64Array(width));
  const scale = 1 / chosen.length;
  for (let i = 0; i < size; i++) {
    const sum = out[i];
    for (const h of chosen) {
      const row = att[h][i];
      for (let j = 0; j < row.length; j++) sum[j] += row[j];
    }
    for (let j = 0; j < width; j++) sum[j] *= scale;
  }
  return out;
}

/**
 * Drops hidden tokens (e.g. [CLS], [SEP]) and renormalises: every visible
 * row is rescaled to sum to 1 over the visible columns, so the weight that
 * went to hidden tokens is shared out in proportion. Hidden rows and columns
 * become 0. A visible row whose visible weights are all 0 stays 0.
 */
export function renormaliseRows(m: Rows, visible: boolean[]): Matrix {
  return Array.from(m, (row, i) => {
    if (!visible[i]) return new Array<number>(row.length).fill(0);
    const kept = Array.from(row, (w, j) => (visible[j] ? w : 0));
    const total = kept.reduce((a, b) => a + b, 0);
    return total > 0 ? kept.map(w => w / total) : kept;
  });
}

/** True iff nothing above the diagonal exceeds tol (no attention forward). */
export function isLowerTriangular(m: Rows, tol = 1e-6): boolean {
  for (let i = 0; i < m.length; i++) {
    for (let j = i + 1; j < m[i].length; j++) {
      if (m[i][j] > tol) return false;
    }
  }
  return true;
}

/**
 * Whether a model is causal, judged from one layer's attention
 * `[heads, T, T]`: every head lower-triangular. A one-token sentence says
 * nothing, so it counts as not causal.
 */
export function isCausalAttention(att: ArrayLike<Rows>, tol = 1e-6): boolean {
  if (att.length === 0 || att[0].length < 2) return false;
  return Array.from(att).every(m => isLowerTriangular(m, tol));
}

/** Which token the user points at, and in which column. */
export interface Focus {
  index: number;
  /** 'left' = the attending token (outgoing), 'right' = attended (incoming). */
  side: 'left'|'right';
}

export interface Edge {
  from: number;
  to: number;
  weight: number;
}

/**
 * The curves to draw: every weight above minWeight, or with a focus only
 * the focused token's outgoing (left) or incoming (right) attention.
 */
export function edgesToDraw(
    m: Matrix, focus: Focus|null, minWeight = 0.01): Edge[] {
  const edges: Edge[] = [];
  for (let i = 0; i < m.length; i++) {
    if (focus?.side === 'left' && focus.index !== i) continue;
    for (let j = 0; j < m[i].length; j++) {
      if (focus?.side === 'right' && focus.index !== j) continue;
      const weight = m[i][j];
      if (weight > minWeight) edges.push({from: i, to: j, weight});
    }
  }
  return edges;
}

/**
 * The tokens greyed out for a causal model when the user points at token
 * `index`: those after it, which it cannot see.
 */
export function futureTokens(numTokens: number, index: number|null): boolean[] {
  return Array.from(
      {length: numTokens}, (_, j) => index !== null && j > index);
}

/**
 * Attention with the columns of `dropped` tokens (e.g. [CLS], [SEP], BOS)
 * set to 0 and every row renormalised to sum to 1 over the rest: the
 * attention a head pays to everything but the sinks. Unlike renormaliseRows
 * the dropped tokens keep their rows (their own attention out is shown).
 * A row with nothing left stays 0. Works on plain or typed rows.
 */
export function zeroColumns<R extends ArrayLike<number>>(
    m: ArrayLike<R>, dropped: boolean[]): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < m.length; i++) {
    const row = Float32Array.from(m[i]);
    let total = 0;
    for (let j = 0; j < row.length; j++) {
      if (dropped[j]) row[j] = 0;
      total += row[j];
    }
    if (total > 0) for (let j = 0; j < row.length; j++) row[j] /= total;
    out.push(row);
  }
  return out;
}
