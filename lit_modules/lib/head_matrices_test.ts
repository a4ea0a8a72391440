import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {clickHead, columnOfEveryHead, headMatrices, meanInto, rowOfEveryHead, strongestOut} from './head_matrices';

// [heads=2, T=3, T=3]
const ATT = [
  [[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]],
  [[0, 0, 1], [0, 1, 0], [1 / 3, 1 / 3, 1 / 3]],
];
const plain = (cols: Float32Array[]) => cols.map(c => Array.from(c, v => Math.round(v * 1e4) / 1e4));

describe('head matrices', () => {
  it('strongest weight out of each token, per head', () => {
    assert.deepEqual(plain(strongestOut(ATT)), [[1, 0.5, 0.5], [1, 1, 0.3333]]);
  });
  it('mean attention into each token, per head', () => {
    assert.deepEqual(plain(meanInto(ATT)), [[0.5667, 0.2667, 0.1667], [0.1111, 0.4444, 0.4444]]);
  });
  it('a token\'s row and column in every head', () => {
    assert.deepEqual(plain(rowOfEveryHead(ATT, 1)), [[0.5, 0.5, 0], [0, 1, 0]]);
    assert.deepEqual(plain(columnOfEveryHead(ATT, 2)), [[0, 0, 0.5], [1, 0, 0.3333]]);
  });
  const overview = {left: strongestOut(ATT), right: meanInto(ATT)};
  const cases: Array<[string, {index: number, side: 'left'|'right'}|null, string, string]> = [
    ['no focus: overview', null, 'strongest', 'mean'],
    ['left focus fills the right matrix', {index: 1, side: 'left'}, 'strongest', 'row1'],
    ['right focus fills the left matrix', {index: 2, side: 'right'}, 'col2', 'mean'],
  ];
  const named: {[k: string]: Float32Array[]} = {
    strongest: overview.left, mean: overview.right,
    row1: rowOfEveryHead(ATT, 1), col2: columnOfEveryHead(ATT, 2),
  };
  for (const [name, focus, left, right] of cases) {
    it(name, () => {
      const got = headMatrices(ATT, overview, focus);
      assert.deepEqual(plain(got.left), plain(named[left]));
      assert.deepEqual(plain(got.right), plain(named[right]));
    });
  }
});

describe('clickHead (click selects one head, shift-click adds)', () => {
  const cases: Array<[number[], number, boolean, number[]]> = [
    [[], 3, false, [3]],           // from all heads, a click picks one
    [[3], 3, false, []],           // clicking the only selected head goes back to all
    [[1, 3], 2, false, [2]],       // a click replaces the set
    [[1], 3, true, [1, 3]],        // shift adds
    [[1, 3], 3, true, [1]],        // shift on a selected head removes it
    [[1], 1, true, [1]],           // never empty (empty would mean all)
    [[], 2, true, [2]],            // shift from all starts a set
    [[1, 2, 3], 4, true, []],      // every head selected is "all"
    [[], 1, false, []],            // a one-head model has nothing to pick
  ];
  for (const [heads, h, shift, expected] of cases) {
    it(`${shift ? 'shift-' : ''}click ${h} on [${heads}]`, () => {
      assert.deepEqual(clickHead(heads, h, heads.length === 0 && h === 1 && !shift ? 1 : 4, shift), expected);
    });
  }
});
