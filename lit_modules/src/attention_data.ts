/**
 * The attention view's data: one layer of one measure for one sentence, as
 * decoded from LIT's predictions, and the scene the canvases draw from it
 * (thresholded edges, rows, head summaries).
 */

import {Preds} from '../../client/lib/types';

import {Rows} from '../lib/attention';
import {rowIndices, tokensOfRows} from '../lib/geometry';
import {meanInto, strongestOut} from '../lib/head_matrices';
import {Measure} from '../lib/measures';
import {CharSpan, tokenSpans} from '../lib/segments';
import {Edge, thresholdEdges} from '../lib/threshold';
import {displayToken} from '../lib/tokens';

import {AttentionFields} from './attention_fields';
import {TopK} from './attention_info';
import {Scene} from './canvas_paint';
import {unpackAttention} from './packed_attention';

/** The fields of one prediction that this view requests. */
export interface AttentionData {
  inputId: string;
  layer: number;
  measure: Measure;
  tokens: string[];
  special: boolean[];
  /** `[heads, T, T]` of the shown layer and measure (rollout: one "head"). */
  attention: Float32Array[][];
  /** Per position; [] when the model has no predictions. */
  preds: TopK[];
  /** Sentence pairs: each token's segment (0 = A, 1 = B); null for one segment. */
  segments?: number[]|null;
  /** Each token's character span, for linking two models' views; [] when not served. */
  spans?: Array<CharSpan|null>;
}

/** The lightest curve worth drawing (below it a curve is invisible). */
export const MIN_WEIGHT = 0.005;
const SPECIAL_PATTERN = /^(\[[A-Z]+\]|<\/?[a-z|_]+>|<\|[a-z_]+\|>)$/;

/**
 * The data from the internals model's prediction `pred` and, for a measure
 * it does not serve, the measures model's `measurePred`; `field` is the
 * measure's field (packed, or plain `[H, T, T]`).
 */
export function decodeAttention(
    inputId: string, layer: number, measure: Measure, fields: AttentionFields, field: string,
    pred: Preds, measurePred: Preds|null): AttentionData {
  const packed = (measurePred ?? pred)[field];
  const tokens = (pred[fields.tokens] ?? []) as string[];
  const special = fields.special !== null ?
      (pred[fields.special] as number[]).map(v => v > 0.5) :
      tokens.map(t => SPECIAL_PATTERN.test(t));
  return {
    inputId, layer, measure, tokens, special,
    attention: typeof packed === 'string' ? unpackAttention(packed, tokens.length) :
        ((packed ?? []) as number[][][]).map(m => m.map(r => Float32Array.from(r))),
    preds: fields.preds !== null ? (pred[fields.preds] ?? []) as TopK[] : [],
    ...segmentData(fields, pred),
  };
}

/** The segments and character spans of a prediction, where the model serves them. */
function segmentData(fields: AttentionFields, pred: Preds):
    {segments: number[]|null, spans: Array<CharSpan|null>} {
  const segments = fields.segments ? (pred[fields.segments] ?? null) as number[]|null : null;
  const starts = fields.charStart ? pred[fields.charStart] as number[]|undefined : undefined;
  const ends = fields.charEnd ? pred[fields.charEnd] as number[]|undefined : undefined;
  return {
    segments: segments !== null && segments.some(s => s > 0.5) ? segments : null,
    spans: starts && ends ? tokenSpans(starts, ends, segments) : [],
  };
}

/**
 * What the canvases draw: edges of `matrix` `[T, T]` kept by the threshold
 * (out of and into each token), rows of the visible tokens, and the head
 * summaries of `perHead` `[H, T, T]` ([] for a measure without heads).
 */
export function buildScene(
    data: AttentionData, matrix: Rows, threshold: number, visible: boolean[],
    perHead: ArrayLike<Rows>, heads: number[], causal: boolean, maskToken: string|null): Scene {
  const outOf = thresholdEdges(matrix, threshold, MIN_WEIGHT);
  const into: Edge[][] = data.tokens.map(() => []);
  for (const row of outOf) for (const e of row) into[e.to].push(e);
  const rowOf = rowIndices(visible);
  return {
    shown: data.tokens.map(displayToken),
    special: data.special,
    masked: data.tokens.map(t => maskToken !== null && t === maskToken),
    rowOf,
    rowTokens: tokensOfRows(rowOf),
    outOf,
    into,
    att: perHead,
    overview: {left: strongestOut(perHead), right: meanInto(perHead)},
    heads,
    causal,
    segments: data.segments ?? null,
  };
}
