/**
 * The long-input minimap: a narrow strip beside the scrolling token columns
 * that stands for every row. It shows which rows are on screen and how much
 * of the drawn attention lands in each stretch of rows, so attention going
 * to tokens scrolled out of view is still seen.
 */

import {Edge} from './threshold';

/**
 * Attention weight landing in each of `bins` equal stretches of `numRows`
 * rows, scaled so the largest bin is 1 (all zeros when nothing lands).
 * `rowOf[t]` is token t's row (-1 = hidden); an edge counts at its target.
 */
export function attentionBins(
    edges: Edge[], rowOf: ArrayLike<number>, numRows: number,
    bins: number): Float32Array {
  const out = new Float32Array(Math.max(0, bins));
  if (numRows <= 0 || bins <= 0) return out;
  for (const e of edges) {
    const row = rowOf[e.to];
    if (row < 0) continue;
    out[Math.min(bins - 1, Math.floor((row * bins) / numRows))] += e.weight;
  }
  let max = 0;
  for (const v of out) max = Math.max(max, v);
  if (max > 0) for (let b = 0; b < bins; b++) out[b] /= max;
  return out;
}

/**
 * Share of the drawn weight that lands outside rows [first, last]: what the
 * minimap's caption reports ("12% beyond view").
 */
export function weightOutside(
    edges: Edge[], rowOf: ArrayLike<number>, first: number, last: number): number {
  let total = 0;
  let outside = 0;
  for (const e of edges) {
    const row = rowOf[e.to];
    if (row < 0) continue;
    total += e.weight;
    if (row < first || row > last) outside += e.weight;
  }
  return total > 0 ? outside / total : 0;
}

/** The on-screen window as [top, height] in minimap pixels. */
export function windowMark(
    first: number, last: number, numRows: number, height: number): [number, number] {
  if (numRows <= 0) return [0, 0];
  const top = (first / numRows) * height;
  const bottom = ((last + 1) / numRows) * height;
  return [top, Math.max(2, bottom - top)];
}

/** The row at minimap pixel y (for click-to-scroll), clamped to the rows. */
export function rowAtMinimap(y: number, numRows: number, height: number): number {
  if (numRows <= 0 || height <= 0) return 0;
  return Math.min(numRows - 1, Math.max(0, Math.floor((y / height) * numRows)));
}
