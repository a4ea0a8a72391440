/**
 * The per-head summaries of exBERT's Figure 1: beside the token columns, for
 * every head of the layer a column of cells, one per token. The left matrix
 * shows attention out of each token, the right one attention into each token.
 *
 * With nothing pointed at, a left cell is the token's strongest weight in
 * that head (1 = the head sends all of it to one token, low = spread out)
 * and a right cell the mean attention the token receives from every row
 * (high = a sink such as [CLS] or a full stop). Pointing at a token shows its
 * own attention in every head: pointing left at i fills the right matrix
 * with att[h][i][j] (where each head sends i), pointing right at j fills the
 * left matrix with att[h][i][j] (who attends to j in each head); the matrix
 * on the pointed side keeps its overview.
 */

import {Row} from './threshold';

/** `[heads][T]`: one value per head and token, in [0, 1]. */
export type HeadColumns = Float32Array[];

/** Per head, each row's largest weight: `[H, T, T]` -> `[H][T]`. */
export function strongestOut(att: ArrayLike<ArrayLike<Row>>): HeadColumns {
  return Array.from({length: att.length}, (_, h) => {
    const m = att[h];
    const out = new Float32Array(m.length);
    for (let i = 0; i < m.length; i++) {
      let best = 0;
      const row = m[i];
      for (let j = 0; j < row.length; j++) if (row[j] > best) best = row[j];
      out[i] = best;
    }
    return out;
  });
}

/** Per head, the mean attention each column receives: `[H, T, T]` -> `[H][T]`. */
export function meanInto(att: ArrayLike<ArrayLike<Row>>): HeadColumns {
  return Array.from({length: att.length}, (_, h) => {
    const m = att[h];
    const into = new Float32Array(m.length);
    for (let i = 0; i < m.length; i++) {
      const row = m[i];
      for (let j = 0; j < row.length; j++) into[j] += row[j];
    }
    if (m.length > 0) for (let j = 0; j < into.length; j++) into[j] /= m.length;
    return into;
  });
}

/** Per head, row i of each head: where token i's attention goes. */
export function rowOfEveryHead(att: ArrayLike<ArrayLike<Row>>, i: number): HeadColumns {
  return Array.from({length: att.length}, (_, h) => Float32Array.from(att[h][i]));
}

/** Per head, column j of each head: who attends to token j. */
export function columnOfEveryHead(att: ArrayLike<ArrayLike<Row>>, j: number): HeadColumns {
  return Array.from({length: att.length}, (_, h) => {
    const m = att[h];
    return Float32Array.from({length: m.length}, (_, i) => m[i][j]);
  });
}

/** The left and right matrices for a pointed token (see the module doc). */
export function headMatrices(
    att: ArrayLike<ArrayLike<Row>>, overview: {left: HeadColumns, right: HeadColumns},
    focus: {index: number, side: 'left'|'right'}|null):
    {left: HeadColumns, right: HeadColumns} {
  if (focus === null) return overview;
  return focus.side === 'left' ?
      {left: overview.left, right: rowOfEveryHead(att, focus.index)} :
      {left: columnOfEveryHead(att, focus.index), right: overview.right};
}

/**
 * The head selection after a click on head h's column: a plain click selects
 * only h, or all heads again when h alone is already selected; shift-click
 * adds h (or removes it when it is selected and not the last one). Heads are
 * 1-based; [] means all, and a set naming every head is returned as [].
 */
export function clickHead(
    heads: number[], h: number, numHeads: number, shift: boolean): number[] {
  if (!shift) return heads.length === 1 && heads[0] === h ? [] : (numHeads === 1 ? [] : [h]);
  const current = heads.length === 0 ?
      Array.from({length: numHeads}, (_, i) => i + 1) : [...heads];
  let next: number[];
  if (heads.length === 0) {
    next = [h];   // from "all", shift-click starts a set with this head
  } else if (current.includes(h)) {
    next = current.filter(x => x !== h);
    if (next.length === 0) return heads;
  } else {
    next = [...current, h].sort((a, b) => a - b);
  }
  return next.length === numHeads ? [] : next;
}
