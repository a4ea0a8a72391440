/**
 * Sentence pairs and two tokenisations of one sentence, as pure functions:
 * where segment B starts among the rows on screen (the attention view draws
 * a divider there and tints B's tokens), and which token of another model's
 * tokenisation covers the word a user selected (the views of two models are
 * linked by character spans, since their word-pieces differ).
 */

/** A token's character span in its segment's text (`text`: 0, `text_b`: 1). */
export interface CharSpan {
  segment: number;
  start: number;
  end: number;
}

/**
 * The row before which the divider is drawn: the first visible row whose
 * token is in segment B, after a row of segment A; null when the rows shown
 * hold one segment only. `rowTokens[r]` is the token of row r.
 */
export function segmentBoundaryRow(segments: ArrayLike<number>, rowTokens: ArrayLike<number>):
    number|null {
  for (let r = 1; r < rowTokens.length; r++) {
    if (segments[rowTokens[r]] === 1 && segments[rowTokens[r - 1]] !== 1) return r;
  }
  return null;
}

/**
 * The spans of a prediction's tokens from its `char_start`, `char_end` and
 * (masked models) `segment_ids` fields; null for a token without a span
 * (specials, word-pieces given as such: [0, 0]).
 */
export function tokenSpans(
    starts: ArrayLike<number>, ends: ArrayLike<number>,
    segments: ArrayLike<number>|null): Array<CharSpan|null> {
  const spans: Array<CharSpan|null> = [];
  for (let i = 0; i < starts.length; i++) {
    const start = Math.round(starts[i]);
    const end = Math.round(ends[i]);
    spans.push(end > start ? {segment: segments ? Math.round(segments[i]) : 0, start, end} :
                             null);
  }
  return spans;
}

/**
 * The token whose span overlaps `target` most (the first of equals), in
 * the same segment; null when none overlaps. A byte-level piece that holds
 * a leading space (" cat": 3..7) still matches "cat" (4..7).
 */
export function alignedToken(spans: ArrayLike<CharSpan|null>, target: CharSpan): number|null {
  let best: number|null = null;
  let bestOverlap = 0;
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i];
    if (span === null || span.segment !== target.segment) continue;
    const overlap = Math.min(span.end, target.end) - Math.max(span.start, target.start);
    if (overlap > bestOverlap) {
      best = i;
      bestOverlap = overlap;
    }
  }
  return best;
}

/** A token frozen in one model's view, by its character span (view_state.ts `linked`). */
export interface LinkedToken {
  model: string;
  span: CharSpan;
}

/**
 * The token of `model`'s tokenisation that a view of it treats as frozen:
 * when another model's view froze it (LIT's compare mode), the token over the
 * same characters (`spans`: this model's, null while not loaded); otherwise
 * `token` itself, if this sentence has it (`length` tokens). Null when none.
 */
export function linkedToken(
    model: string, token: number|null, linked: LinkedToken|null,
    spans: ArrayLike<CharSpan|null>|null, length: number): number|null {
  if (token === null) return null;
  if (linked !== null && linked.model !== model) {
    return spans === null ? null : alignedToken(spans, linked.span);
  }
  return token < length ? token : null;
}
