import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {focusedEdges, keptColumns, rowCut, thresholdEdges} from './threshold';

describe('cumulative threshold (exBERT slider)', () => {
  const cases: Array<[string, number[], number, number[]]> = [
    ['one strong edge reaches 70%', [0.8, 0.1, 0.1], 0.7, [0]],
    ['two edges needed', [0.5, 0.3, 0.2], 0.7, [0, 1]],
    ['exactly at the threshold', [0.4, 0.3, 0.3], 0.7, [0, 1, 2]],
    ['ties at the cut kept together', [0.4, 0.3, 0.3], 0.6, [0, 1, 2]],
    ['threshold 1 keeps every positive weight', [0.6, 0, 0.4], 1, [0, 2]],
    ['threshold 0 keeps the strongest', [0.2, 0.5, 0.3], 0, [1]],
    ['order does not matter', [0.1, 0.2, 0.7], 0.7, [2]],
    ['a row that sums to less than 1 (specials zeroed)', [0.3, 0.1, 0.1], 0.7, [0, 1, 2]],
    ['uniform row keeps enough', [0.25, 0.25, 0.25, 0.25], 0.7, [0, 1, 2, 3]],
    ['zeros keep nothing', [0, 0, 0], 0.7, []],
  ];
  for (const [name, row, threshold, kept] of cases) {
    it(name, () => assert.deepEqual(keptColumns(row, threshold), kept));
  }
  it('kept weights reach the threshold and one fewer would not', () => {
    const row = [0.05, 0.3, 0.15, 0.2, 0.1, 0.2];
    for (const t of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const kept = keptColumns(row, t);
      const sum = kept.reduce((a, j) => a + row[j], 0);
      assert.ok(sum >= t - 1e-12, `${t}: ${sum}`);
      const lightest = Math.min(...kept.map(j => row[j]));
      assert.ok(sum - lightest < t, `${t}: dropping ${lightest} still reaches it`);
    }
  });
  it('cut of an empty row is Infinity', () => assert.equal(rowCut([], 0.7), Infinity));
  it('works on typed rows', () =>
    assert.deepEqual(keptColumns(Float32Array.from([0.1, 0.9]), 0.7), [1]));
});

describe('thresholdEdges and focusedEdges', () => {
  const m = [[0.8, 0.2], [0.5, 0.5]];
  const rows = thresholdEdges(m, 0.7);
  it('keeps per row', () => {
    assert.deepEqual(rows, [
      [{from: 0, to: 0, weight: 0.8}],
      [{from: 1, to: 0, weight: 0.5}, {from: 1, to: 1, weight: 0.5}],
    ]);
  });
  it('drops edges under minWeight', () => {
    assert.deepEqual(thresholdEdges([[0.996, 0.004]], 1, 0.005), [[{from: 0, to: 0, weight: 0.996}]]);
  });
  const cases: Array<[string, {index: number, side: 'left'|'right'}|null, Array<[number, number]>]> = [
    ['no focus: all', null, [[0, 0], [1, 0], [1, 1]]],
    ['left: out of the row', {index: 1, side: 'left'}, [[1, 0], [1, 1]]],
    ['right: into the column', {index: 0, side: 'right'}, [[0, 0], [1, 0]]],
    ['right: nothing kept into it', {index: 1, side: 'right'}, [[1, 1]]],
  ];
  for (const [name, focus, expected] of cases) {
    it(name, () => assert.deepEqual(focusedEdges(rows, focus).map(e => [e.from, e.to]), expected));
  }
});
