/**
 * The exBERT views' state in the URL, so an experiment is a link.
 *
 * LIT keeps the model and the example (`models=`, `primary=`, and the fields
 * of added examples) in its own URL parameters; we add ours with the
 * `exbert_` prefix. Decoding never throws: a hand-edited or stale link falls
 * back to defaults for whatever it cannot read.
 */

import {formatHeadSet, HeadSetError, parseHeadSet} from './heads';
import {Measure, MEASURES} from './measures';
import {DEFAULT_OFFSETS, KINDS, NotationError, parseOffsetList} from './notation';
import {DEFAULT_THRESHOLD} from './threshold';

export type SearchKind = typeof KINDS[number];

export interface ViewState {
  /** 1..L; null = not chosen yet (the view picks one). */
  layer: number|null;
  /** Sorted 1-based heads; [] = all. */
  heads: number[];
  /** Frozen (clicked) token, 0-based word-piece index; null = none. */
  token: number|null;
  /** Column of the frozen token: left = outgoing, right = incoming. */
  side: 'left'|'right';
  hideSpecials: boolean;
  /** Attention to special tokens set to 0 and rows renormalised. */
  zeroSpecials: boolean;
  /** exBERT's cumulative threshold, 0.01..1 (whole percents in the URL). */
  threshold: number;
  /** The measure asked for; the view falls back to weights where it is not offered. */
  measure: Measure;
  kind: SearchKind;
  /** Embedding search in the input embeddings E(0) instead of the layer shown. */
  inputLayer: boolean;
  /** Neighbour offsets shown beside the summarised token (never 0). */
  offsets: number[];
}

export const DEFAULT_STATE: Readonly<ViewState> = Object.freeze({
  layer: null,
  heads: [],
  token: null,
  side: 'left',
  hideSpecials: false,
  zeroSpecials: false,
  threshold: DEFAULT_THRESHOLD,
  measure: 'weights',
  kind: 'context',
  inputLayer: false,
  offsets: [...DEFAULT_OFFSETS],
});

export const URL_PREFIX = 'exbert_';
const KEY_HEADS = 'exbert_heads';
const KEY_TOKEN = 'exbert_token';
const KEY_SIDE = 'exbert_side';
const KEY_SPECIALS = 'exbert_hide_specials';
const KEY_ZERO = 'exbert_zero_specials';
const KEY_THRESHOLD = 'exbert_threshold';
const KEY_MEASURE = 'exbert_measure';
const KEY_KIND = 'exbert_kind';
const KEY_INPUT = 'exbert_input_layer';
const KEY_OFFSETS = 'exbert_offsets';

/**
 * Offsets in the notation (`-1,1`, `[-2,2]`; empty = the default), or null
 * if the text is not; parseOffsetList in lib/notation.ts gives the error.
 */
export function parseOffsets(text: string): number[]|null {
  try {
    return parseOffsetList(text);
  } catch (e) {
    if (!(e instanceof NotationError)) throw e;
    return null;
  }
}

/** Our parameters for a state; defaults are left out to keep links short. */
export function encodeState(state: ViewState): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (state.layer !== null) {
    out.push([KEY_HEADS, formatHeadSet({layer: state.layer, heads: state.heads})]);
  }
  if (state.token !== null) {
    out.push([KEY_TOKEN, String(state.token)]);
    if (state.side !== 'left') out.push([KEY_SIDE, state.side]);
  }
  if (state.hideSpecials) out.push([KEY_SPECIALS, '1']);
  if (state.zeroSpecials) out.push([KEY_ZERO, '1']);
  const percent = Math.round(state.threshold * 100);
  if (percent !== Math.round(DEFAULT_THRESHOLD * 100)) out.push([KEY_THRESHOLD, String(percent)]);
  if (state.measure !== DEFAULT_STATE.measure) out.push([KEY_MEASURE, state.measure]);
  if (state.kind !== DEFAULT_STATE.kind) out.push([KEY_KIND, state.kind]);
  if (state.inputLayer) out.push([KEY_INPUT, '1']);
  if (state.offsets.join(',') !== DEFAULT_STATE.offsets.join(',')) {
    out.push([KEY_OFFSETS, state.offsets.join(',')]);
  }
  return out;
}

/** The state a URL's query describes (defaults for what is missing or bad). */
export function decodeState(params: URLSearchParams): ViewState {
  const state: ViewState = {...DEFAULT_STATE, heads: [], offsets: [...DEFAULT_STATE.offsets]};
  const heads = params.get(KEY_HEADS);
  if (heads !== null) {
    try {
      const selection = parseHeadSet(heads);
      state.layer = selection.layer;
      state.heads = selection.heads;
    } catch (e) {
      if (!(e instanceof HeadSetError)) throw e;
    }
  }
  const token = params.get(KEY_TOKEN);
  if (token !== null && /^\d+$/.test(token)) state.token = Number(token);
  if (params.get(KEY_SIDE) === 'right') state.side = 'right';
  state.hideSpecials = params.get(KEY_SPECIALS) === '1';
  state.zeroSpecials = params.get(KEY_ZERO) === '1';
  const threshold = params.get(KEY_THRESHOLD);
  if (threshold !== null && /^\d+$/.test(threshold)) {
    const percent = Number(threshold);
    if (percent >= 1 && percent <= 100) state.threshold = percent / 100;
  }
  const measure = params.get(KEY_MEASURE);
  if (MEASURES.includes(measure as Measure)) state.measure = measure as Measure;
  const kind = params.get(KEY_KIND);
  if (KINDS.includes(kind as SearchKind)) state.kind = kind as SearchKind;
  state.inputLayer = params.get(KEY_INPUT) === '1';
  const offsets = params.get(KEY_OFFSETS);
  if (offsets !== null) {
    const parsed = parseOffsets(offsets);
    if (parsed !== null) state.offsets = parsed;
  }
  return state;
}

/**
 * The layer a corpus search runs at: E(0) for an embedding search of the
 * input layer, else the layer shown (null until one is).
 */
export function searchLayer(state: ViewState): number|null {
  return state.kind === 'embedding' && state.inputLayer ? 0 : state.layer;
}

/**
 * A URL (path + query + hash) with our parameters replaced by the state's,
 * keeping every other parameter as it was. LIT rewrites the query from its
 * own state; this puts ours back.
 */
export function withState(url: string, state: ViewState): string {
  const hashAt = url.indexOf('#');
  const hash = hashAt >= 0 ? url.slice(hashAt) : '';
  const noHash = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const queryAt = noHash.indexOf('?');
  const path = queryAt >= 0 ? noHash.slice(0, queryAt) : noHash;
  const params = new URLSearchParams(queryAt >= 0 ? noHash.slice(queryAt + 1) : '');
  for (const key of [...params.keys()]) {
    if (key.startsWith(URL_PREFIX)) params.delete(key);
  }
  for (const [key, value] of encodeState(state)) params.append(key, value);
  const query = params.toString();
  return `${path}${query === '' ? '' : '?' + query}${hash}`;
}
