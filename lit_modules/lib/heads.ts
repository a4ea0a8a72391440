/**
 * Head sets in the exBERT paper's notation, for the attention view.
 *
 * The grammar, its errors and the range checks are lib/notation.ts (the same
 * as exbert_lit/notation.py): `4-[1,3,9]` is layer 4, heads 1, 3 and 9; `5-3`
 * layer 5, head 3; `2-[1-3,7]` heads 1, 2, 3 and 7; `4` and `4-[]` every
 * head. An empty head list always means "all heads", so a selection has
 * exactly one canonical form.
 */

import {checkHeads, checkLayer, formatSelection, HeadSelection, NotationError, parseSelection} from './notation';

export type {HeadSelection} from './notation';

/** Thrown for text that is not a head set (the notation's one error type). */
export const HeadSetError = NotationError;
export type HeadSetError = NotationError;

/**
 * Parses `4-[1,3,9]`, `5-3`, `2-[1-3,7]`, `4-[]` or `4`. When numLayers /
 * numHeads are given the numbers are checked against them (layer
 * 0..numLayers, heads 1..numHeads) and a set naming every head is returned
 * as [] (all).
 */
export function parseHeadSet(
    text: string, numLayers?: number, numHeads?: number): HeadSelection {
  const selection = parseSelection(text);
  if (numLayers !== undefined) checkLayer(selection.layer, numLayers);
  if (numHeads !== undefined) {
    selection.heads = checkHeads(selection.heads, numHeads);
  }
  return selection;
}

/** The paper's notation for a selection: `4`, `5-3` or `4-[1,3,9]`. */
export const formatHeadSet = formatSelection;

/** Whether head h (1-based) is in the selection ([] = all). */
export function isHeadSelected(heads: number[], h: number): boolean {
  return heads.length === 0 || heads.includes(h);
}

/**
 * Toggles head h in a selection of numHeads heads, keeping the canonical
 * form: removing a head from "all" leaves the others; selecting every head
 * gives []. Removing the only selected head is refused (returns the input),
 * because an empty set would silently mean "all".
 */
export function toggleHead(
    heads: number[], h: number, numHeads: number): number[] {
  const current = heads.length === 0 ?
      Array.from({length: numHeads}, (_, i) => i + 1) :
      [...heads];
  const next = current.includes(h) ? current.filter(x => x !== h) :
                                     [...current, h].sort((a, b) => a - b);
  if (next.length === 0) return heads;
  return next.length === numHeads ? [] : next;
}
