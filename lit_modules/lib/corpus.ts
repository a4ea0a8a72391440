/**
 * Pure helpers of the corpus view: which histogram columns to show, bar
 * lengths, and the text shown on hover. Rendering stays in lit-html.
 */

import {offsetKey} from './colors';
import {Bin, LabelHistograms, SearchResult, TokenLabels} from './corpus_types';

/** Offsets shown as columns: the neighbours with 0 in its place, sorted. */
export function displayOffsets(offsets: number[]): number[] {
  return [...new Set([0, ...offsets])].sort((a, b) => a - b);
}

/** A histogram bar: its label, count and length as a fraction of the longest. */
export interface Bar extends Bin {
  fraction: number;
}

/**
 * The first maxBars bins as bars; the rest are summed into one "other" bar
 * so the counts still add up to the number of matches.
 */
export function histogramBars(bins: Bin[], maxBars = 8): Bar[] {
  const shown = bins.slice(0, maxBars).map(b => ({...b}));
  const rest = bins.slice(maxBars).reduce((sum, b) => sum + b.count, 0);
  if (rest > 0) shown.push({label: '(other)', count: rest});
  const max = shown.reduce((m, b) => Math.max(m, b.count), 0);
  return shown.map(b => ({...b, fraction: max > 0 ? b.count / max : 0}));
}

/** The histograms of one offset column, or null if the server sent none. */
export function histogramsAt(result: SearchResult, offset: number):
    LabelHistograms|null {
  return result.histograms[offsetKey(offset)] ?? null;
}

/** Hover text of a corpus token's labels ('special token' for none). */
export function labelTooltip(labels: TokenLabels|null): string {
  if (labels === null) return 'special token';
  return `POS ${labels.pos} (${labels.tag}) · DEP ${labels.dep} · ` +
      `ENT ${labels.ent} · lemma "${labels.lemma}"`;
}

/**
 * Position of the summarised token in a match: the match itself, or for a
 * causal model ("next") the token after it, or null past the sentence end.
 */
export function summarisedPosition(
    position: number, numTokens: number, centre: 'match'|'next'): number|null {
  const p = centre === 'next' ? position + 1 : position;
  return p < numTokens ? p : null;
}

const WORD_START = /^[\u0120\u2581]/;   // GPT-2 / RoBERTa 'Ġ', SentencePiece '▁'

/**
 * Whether word-piece i continues the word before it, so the view shows it
 * without a space: a WordPiece `##` piece, or in a byte-level / SentencePiece
 * sentence (one with any start marker) a piece without one ("in" "quired",
 * "bench" ","), the sentence's first piece excepted.
 */
export function continuesWord(tokens: string[], i: number): boolean {
  const token = tokens[i];
  if (token.startsWith('##')) return true;
  if (i === 0 || !tokens.some(t => WORD_START.test(t))) return false;
  return !WORD_START.test(token);
}
