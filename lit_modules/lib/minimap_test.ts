import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {attentionBins, rowAtMinimap, weightOutside, windowMark} from './minimap';

const edges = [
  {from: 0, to: 0, weight: 0.5},
  {from: 0, to: 5, weight: 0.25},
  {from: 1, to: 9, weight: 1},
  {from: 1, to: 3, weight: 0.2},   // token 3 hidden
];
const rowOf = [0, 1, 2, -1, 3, 4, 5, 6, 7, 8];   // 9 rows

describe('minimap', () => {
  it('bins weight by target row, largest bin = 1', () => {
    assert.deepEqual(Array.from(attentionBins(edges, rowOf, 9, 3)), [0.5, 0.25, 1]);
  });
  it('no edges: zeros', () => {
    assert.deepEqual(Array.from(attentionBins([], rowOf, 9, 2)), [0, 0]);
  });
  const outside: Array<[number, number, number]> = [
    [0, 8, 0], [0, 2, 1.25 / 1.75], [3, 8, 0.5 / 1.75], [4, 4, 1.5 / 1.75], [5, 5, 1],
  ];
  for (const [first, last, share] of outside) {
    it(`share beyond rows ${first}..${last}`, () =>
      assert.ok(Math.abs(weightOutside(edges, rowOf, first, last) - share) < 1e-12));
  }
  it('marks the window and maps clicks to rows', () => {
    assert.deepEqual(windowMark(10, 19, 100, 200), [20, 20]);
    assert.deepEqual(windowMark(0, 0, 1000, 100), [0, 2]);
    assert.equal(rowAtMinimap(150, 100, 200), 75);
    assert.equal(rowAtMinimap(-5, 100, 200), 0);
    assert.equal(rowAtMinimap(500, 100, 200), 99);
  });
});
