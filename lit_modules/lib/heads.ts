/**
 * Head sets in the exBERT paper's notation.
 *
 * Users see layers 1..L (0 = input embeddings where that makes sense) and
 * heads 1..H. `4-[1,3,9]` is layer 4, heads 1, 3 and 9; `5-3` is layer 5,
 * head 3; a bare `4` is layer 4 with every head. Inside brackets a range
 * `2-5` is accepted too. An empty head list always means "all heads", so a
 * selection has exactly one canonical form.
 */

export interface HeadSelection {
  /** 1..L (0 = input embeddings). */
  layer: number;
  /** Sorted, unique, 1-based; [] = all heads. */
  heads: number[];
}

/** Thrown for text that is not a head set; the message names the problem. */
export class HeadSetError extends Error {}

function parseIntStrict(text: string, what: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) {
    throw new HeadSetError(`${what} must be a whole number, got "${text}"`);
  }
  return Number(trimmed);
}

/** Parses `1,3,9` or `1-3,9` (1-based) into sorted unique heads. */
export function parseHeadList(text: string): number[] {
  const heads = new Set<number>();
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'all') return [];
  for (const part of trimmed.split(',')) {
    const range = part.split('-');
    if (range.length === 1) {
      heads.add(parseIntStrict(part, 'head'));
    } else if (range.length === 2) {
      const lo = parseIntStrict(range[0], 'head');
      const hi = parseIntStrict(range[1], 'head');
      if (hi < lo) throw new HeadSetError(`empty head range "${part.trim()}"`);
      for (let h = lo; h <= hi; h++) heads.add(h);
    } else {
      throw new HeadSetError(`bad head range "${part.trim()}"`);
    }
  }
  return [...heads].sort((a, b) => a - b);
}

/**
 * Parses `4-[1,3,9]`, `5-3` or `4`. When numLayers / numHeads are given the
 * numbers are checked against them (layer 0..numLayers, heads 1..numHeads)
 * and a set naming every head is returned as [] (all).
 */
export function parseHeadSet(
    text: string, numLayers?: number, numHeads?: number): HeadSelection {
  const trimmed = text.trim();
  const match = /^(\d+)\s*(?:-\s*(?:\[([^\]]*)\]|(\d+)))?$/.exec(trimmed);
  if (match == null) {
    throw new HeadSetError(
        `"${text}" is not a head set; write e.g. 4-[1,3,9], 5-3 or 4`);
  }
  const layer = Number(match[1]);
  let heads: number[] = [];
  if (match[2] !== undefined) {
    heads = parseHeadList(match[2]);
  } else if (match[3] !== undefined) {
    heads = [Number(match[3])];
  }
  if (numLayers !== undefined && layer > numLayers) {
    throw new HeadSetError(`layer ${layer} is out of range 0..${numLayers}`);
  }
  if (heads.length > 0 && heads[0] < 1) {
    throw new HeadSetError('heads are numbered from 1');
  }
  if (numHeads !== undefined) {
    const last = heads[heads.length - 1];
    if (last > numHeads) {
      throw new HeadSetError(`head ${last} is out of range 1..${numHeads}`);
    }
    if (heads.length === numHeads) heads = [];
  }
  return {layer, heads};
}

/** The paper's notation for a selection: `4`, `5-3` or `4-[1,3,9]`. */
export function formatHeadSet(selection: HeadSelection): string {
  const {layer, heads} = selection;
  if (heads.length === 0) return `${layer}`;
  if (heads.length === 1) return `${layer}-${heads[0]}`;
  return `${layer}-[${heads.join(',')}]`;
}

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
