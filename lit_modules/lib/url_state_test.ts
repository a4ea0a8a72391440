import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {decodeState, DEFAULT_STATE, encodeState, parseOffsets, searchLayer, ViewState, withState} from './url_state';

const FULL: ViewState = {
  layer: 4, heads: [1, 3, 9], token: 5, side: 'right', hideSpecials: true, zeroSpecials: true,
  threshold: 0.45, measure: 'rollout', kind: 'embedding', inputLayer: true, offsets: [-2, -1, 1],
};

describe('encode / decode', () => {
  const cases: Array<[string, ViewState, string]> = [
    ['defaults give no parameters', {...DEFAULT_STATE}, ''],
    ['everything set', FULL,
     'exbert_heads=4-%5B1%2C3%2C9%5D&exbert_token=5&exbert_side=right&' +
     'exbert_hide_specials=1&exbert_zero_specials=1&exbert_threshold=45&exbert_measure=rollout&' +
     'exbert_kind=embedding&exbert_input_layer=1&exbert_offsets=-2%2C-1%2C1'],
    ['threshold of 100%', {...DEFAULT_STATE, threshold: 1}, 'exbert_threshold=100'],
    ['threshold of 5%, value-weighted', {...DEFAULT_STATE, threshold: 0.05, measure: 'value-weighted'},
     'exbert_threshold=5&exbert_measure=value-weighted'],
    ['zeroed specials alone', {...DEFAULT_STATE, zeroSpecials: true}, 'exbert_zero_specials=1'],
    ['one head, left column', {...DEFAULT_STATE, layer: 2, heads: [3], token: 0},
     'exbert_heads=2-3&exbert_token=0'],
  ];
  for (const [name, state, query] of cases) {
    it(name, () => {
      assert.equal(new URLSearchParams(encodeState(state)).toString(), query);
      assert.deepEqual(decodeState(new URLSearchParams(query)), state);
    });
  }

  const bad: Array<[string, string, Partial<ViewState>]> = [
    ['unreadable heads fall back', 'exbert_heads=four', {}],
    ['negative token ignored', 'exbert_token=-3', {}],
    ['unknown kind ignored', 'exbert_kind=magic', {}],
    ['bad offsets ignored', 'exbert_offsets=1,x', {}],
    ['offset 0 falls back', 'exbert_offsets=2,0', {}],
    ['duplicate offsets merged', 'exbert_offsets=2,-2,2', {offsets: [-2, 2]}],
    ['other parameters ignored', 'models=bert&primary=abc', {}],
    ['threshold 0 ignored', 'exbert_threshold=0', {}],
    ['threshold over 100 ignored', 'exbert_threshold=150', {}],
    ['fractional threshold ignored', 'exbert_threshold=0.5', {}],
    ['threshold of 1%', 'exbert_threshold=1', {threshold: 0.01}],
    ['unknown measure ignored', 'exbert_measure=gradient', {}],
    ['zero specials only when 1', 'exbert_zero_specials=yes', {}],
    ['threshold 70 is the default', 'exbert_threshold=70', {}],
  ];
  for (const [name, query, changes] of bad) {
    it(name, () => {
      assert.deepEqual(decodeState(new URLSearchParams(query)), {...DEFAULT_STATE, ...changes});
    });
  }
});

describe('parseOffsets', () => {
  const cases: Array<[string, number[]|null]> = [
    ['-1,1', [-1, 1]], ['+2, -2', [-2, 2]], ['[-3,1]', [-3, 1]], ['', [-1, 1]], ['a', null],
    ['0', null],
  ];
  for (const [text, offsets] of cases) {
    it(`parses "${text}"`, () => assert.deepEqual(parseOffsets(text), offsets));
  }
});

describe('withState', () => {
  const cases: Array<[string, ViewState, string]> = [
    ['/?models=bert&dataset=d', {...DEFAULT_STATE, layer: 2, heads: []},
     '/?models=bert&dataset=d&exbert_heads=2'],
    ['/?models=bert&exbert_heads=9&exbert_token=3', {...DEFAULT_STATE, layer: 2},
     '/?models=bert&exbert_heads=2'],
    ['/', {...DEFAULT_STATE}, '/'],
    ['/x?a=1#frag', {...DEFAULT_STATE, hideSpecials: true}, '/x?a=1&exbert_hide_specials=1#frag'],
  ];
  for (const [url, state, expected] of cases) {
    it(`rewrites ${url}`, () => assert.equal(withState(url, state), expected));
  }
});

describe('searchLayer', () => {
  const cases: Array<[Partial<ViewState>, number|null]> = [
    [{layer: 4, kind: 'context', inputLayer: true}, 4],    // context has no layer 0
    [{layer: 4, kind: 'embedding', inputLayer: true}, 0],
    [{layer: 4, kind: 'embedding', inputLayer: false}, 4],
    [{layer: null, kind: 'context'}, null],
  ];
  for (const [changes, layer] of cases) {
    it(`searches ${JSON.stringify(changes)} at ${layer}`, () => {
      assert.equal(searchLayer({...DEFAULT_STATE, ...changes}), layer);
    });
  }
});
