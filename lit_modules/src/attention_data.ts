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
  };
}
