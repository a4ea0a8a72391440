/**
 * What a user types for a layer, a head set, neighbour offsets and k: the
 * same grammar, defaults and error messages as exbert_lit/notation.py. One
 * table of cases (tests/notation_cases.json) drives the tests of both.
 *
 * Layers are 1..L (0 = input embeddings), heads 1..H. Spaces are allowed
 * between the parts.
 *   selection  `5`, `5-3`, `4-[1,3,9]`, `2-[1-3,7]`; `4` and `4-[]` = all heads
 *   heads      `1,3,9`, `[1-3,7]`; ``, `[]` and `all` = all heads. Ranges go
 *              inside brackets only: outside them `a-b` is layer a, head b.
 *   offsets    `-1,1`, `[-2,2]`; 0 < |o| <= MAX_OFFSET; empty = the default
 *   k          1..MAX_K; empty = DEFAULT_K
 * Head sets are sorted, unique and 1-based; [] = all heads (Python: None).
 */

export const KINDS = ['embedding', 'context'] as const;
export const DEFAULT_K = 50;
export const MAX_K = 1000;
export const DEFAULT_OFFSETS: readonly number[] = Object.freeze([-1, 1]);
export const MAX_OFFSET = 10;
/** Bounds what a head range expands to (as in Python): `[1-99999999]` is refused. */
export const MAX_HEAD = 1000;

/** A layer and its heads. */
export interface HeadSelection {
  /** 0..L (0 = input embeddings). */
  layer: number;
  /** Sorted, unique, 1-based; [] = all heads. */
  heads: number[];
}

/** Text that is not in the notation; the message is the one-line error. */
export class NotationError extends Error {}

const INT = /^[+-]?[0-9]+$/;
const DIGITS = /^[0-9]+$/;
const SELECTION = /^([0-9]+)(?:\s*-\s*(?:([0-9]+)|\[([\s\S]*)\]))?$/;
const RANGE = /^([0-9]+)\s*-\s*([0-9]+)$/;

/** A value as error messages quote it (Python's notation.show writes the same). */
function show(text: string): string {
  return JSON.stringify(text);
}

function headsError(text: string): NotationError {
  return new NotationError(
      `heads must look like 1,3,9 or [1-3,7] (1-based; [] = all); got ${show(text)}`);
}

function head(n: number): number {
  if (n === 0) throw new NotationError('heads are numbered from 1; got 0');
  if (n > MAX_HEAD) {
    throw new NotationError(
        `head ${n} is out of range: no layer has more than ${MAX_HEAD} heads`);
  }
  return n;
}

/** Comma-separated heads (and `a-b` ranges when `ranges`); '' = all ([]). */
function items(text: string, original: string, ranges: boolean): number[] {
  if (text.trim() === '') return [];
  const heads = new Set<number>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (DIGITS.test(part)) {
      heads.add(head(Number(part)));
      continue;
    }
    const match = ranges ? RANGE.exec(part) : null;
    if (match === null) throw headsError(original);
    const lo = head(Number(match[1]));
    const hi = head(Number(match[2]));
    if (hi < lo) {
      throw new NotationError(
          `head range ${lo}-${hi} is empty: write the lower head first, like ${hi}-${lo}`);
    }
    for (let h = lo; h <= hi; h++) heads.add(h);
  }
  return [...heads].sort((a, b) => a - b);
}

/** A head set alone: `1,3,9`, `[1-3,7]`; '', `[]` and `all` = all ([]). */
export function parseHeads(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'all') return [];
  if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
    return items(trimmed.slice(1, -1), text, true);
  }
  return items(trimmed, text, false);
}

/** A layer with its heads: `5`, `5-3`, `4-[1,3,9]`, `2-[1-3,7]`, `4-[]`. */
export function parseSelection(text: string): HeadSelection {
  const match = SELECTION.exec(text.trim());
  if (match === null) {
    throw new NotationError(
        'layer and heads must look like 5, 5-3, 4-[1,3,9], 2-[1-3,7] or 4-[] ' +
        `(all heads); got ${show(text)}`);
  }
  const layer = Number(match[1]);
  if (match[2] !== undefined) return {layer, heads: [head(Number(match[2]))]};
  if (match[3] !== undefined) return {layer, heads: items(match[3], text, true)};
  return {layer, heads: []};
}

/** Checks 0 <= layer <= numLayers (the words of Python's check_layer). */
export function checkLayer(layer: number, numLayers: number): number {
  if (layer < 0 || layer > numLayers) {
    throw new NotationError(
        `layer ${layer} is out of range: this model has layers 1..${numLayers} ` +
        '(0 = input embeddings)');
  }
  return layer;
}

/** Heads within 1..numHeads; a set naming every head becomes [] (all). */
export function checkHeads(heads: number[], numHeads: number): number[] {
  const bad = heads.filter(h => h < 1 || h > numHeads);
  if (bad.length > 0) {
    throw new NotationError(
        `head ${Math.min(...bad)} is out of range: this model has heads 1..${numHeads}`);
  }
  return heads.length === numHeads ? [] : heads;
}

/** Neighbour offsets: `-1,1`, `[-2,2]`; sorted, unique; empty = the default. */
export function parseOffsetList(text: string): number[] {
  let trimmed = text.trim();
  if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
    trimmed = trimmed.slice(1, -1);
  }
  if (trimmed.trim() === '') return [...DEFAULT_OFFSETS];
  const parts = trimmed.split(',').map(s => s.trim());
  if (parts.some(p => !INT.test(p))) {
    throw new NotationError(
        `offsets must look like -1,1 or [-2,2] (whole numbers); got ${show(text)}`);
  }
  const offsets = parts.map(Number);
  for (const offset of offsets) {
    if (offset === 0 || Math.abs(offset) > MAX_OFFSET) {
      throw new NotationError(`offset ${offset} is out of range: use ` +
                              `-${MAX_OFFSET}..-1 or 1..${MAX_OFFSET}`);
    }
  }
  return [...new Set(offsets)].sort((a, b) => a - b);
}

/** The number of matches, 1..MAX_K; empty = DEFAULT_K. */
export function parseK(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '') return DEFAULT_K;
  if (!INT.test(trimmed)) {
    throw new NotationError(
        `k must be a whole number like ${DEFAULT_K}; got ${show(text)}`);
  }
  const k = Number(trimmed);
  if (k < 1 || k > MAX_K) {
    throw new NotationError(`k ${k} is out of range: use 1..${MAX_K}`);
  }
  return k;
}

/** The canonical text of a selection: `4`, `5-3` or `4-[1,3,9]`. */
export function formatSelection(selection: HeadSelection): string {
  const {layer, heads} = selection;
  if (heads.length === 0) return `${layer}`;
  if (heads.length === 1) return `${layer}-${heads[0]}`;
  return `${layer}-[${heads.join(',')}]`;
}
