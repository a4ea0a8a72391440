import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {aggregateHeads, edgesToDraw, futureTokens, isCausalAttention, isLowerTriangular, renormaliseRows, zeroColumns} from './attention';

function close(actual: number[][], expected: number[][], tol = 1e-9) {
  assert.equal(actual.length, expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => {
    assert.ok(Math.abs(v - expected[i][j]) < tol, `[${i}][${j}] ${v} != ${expected[i][j]}`);
  }));
}

// [heads=3, T=2, T=2]
const ATT = [
  [[1, 0], [0.5, 0.5]],
  [[0, 1], [0.25, 0.75]],
  [[0.5, 0.5], [1, 0]],
];

describe('aggregateHeads', () => {
  const cases: Array<[number[], number[][]]> = [
    [[1], [[1, 0], [0.5, 0.5]]],
    [[1, 2], [[0.5, 0.5], [0.375, 0.625]]],
    [[], [[0.5, 0.5], [0.583333333333, 0.416666666667]]],
    [[1, 2, 3], [[0.5, 0.5], [0.583333333333, 0.416666666667]]],
  ];
  for (const [heads, expected] of cases) {
    it(`averages heads [${heads}]`, () => {
      const m = aggregateHeads(ATT, heads);
      m.forEach((row, i) => row.forEach((v, j) => {
        assert.ok(Math.abs(v - expected[i][j]) < 1e-9, `${v} vs ${expected[i][j]}`);
      }));
    });
  }
  it('keeps rows stochastic', () => {
    for (const row of aggregateHeads(ATT, [2, 3])) {
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    }
  });
  it('rejects a head out of range', () => {
    assert.throws(() => aggregateHeads(ATT, [4]), /head 4 is out of range 1\.\.3/);
  });
  it('does not modify its input', () => {
    const copy = JSON.parse(JSON.stringify(ATT));
    aggregateHeads(ATT, []);
    assert.deepEqual(ATT, copy);
  });
});

describe('renormaliseRows', () => {
  const m = [
    [0.5, 0.25, 0.25],
    [0.8, 0.1, 0.1],
    [0.9, 0.0, 0.1],
  ];
  const cases: Array<[string, boolean[], number[][], number[][]]> = [
    ['nothing hidden', [true, true, true], m, m],
    ['first token hidden', [false, true, true], m,
     [[0, 0, 0], [0, 0.5, 0.5], [0, 0, 1]]],
    ['last token hidden', [true, true, false], m,
     [[2 / 3, 1 / 3, 0], [8 / 9, 1 / 9, 0], [0, 0, 0]]],
    ['all weight on hidden stays zero', [false, true, true], [[1, 0, 0], [1, 0, 0], [0, 0, 1]],
     [[0, 0, 0], [0, 0, 0], [0, 0, 1]]],
  ];
  for (const [name, visible, input, expected] of cases) {
    it(name, () => close(renormaliseRows(input, visible), expected));
  }
});

describe('causal detection', () => {
  const cases: Array<[string, number[][][], boolean]> = [
    ['lower triangular heads', [[[1, 0], [0.3, 0.7]], [[1, 0], [0.9, 0.1]]], true],
    ['one head looks ahead', [[[1, 0], [0.3, 0.7]], [[0.9, 0.1], [0.9, 0.1]]], false],
    ['tiny float noise is tolerated', [[[1, 1e-9], [0.5, 0.5]]], true],
    ['single token says nothing', [[[1]]], false],
    ['no heads', [], false],
  ];
  for (const [name, att, causal] of cases) {
    it(name, () => assert.equal(isCausalAttention(att), causal));
  }
  it('isLowerTriangular respects tol', () => {
    assert.equal(isLowerTriangular([[0.9, 0.1], [0, 1]], 0.2), true);
    assert.equal(isLowerTriangular([[0.9, 0.1], [0, 1]], 0.05), false);
  });
});

describe('edgesToDraw', () => {
  const m = [[0.6, 0.4], [0.005, 0.995]];
  const cases: Array<[string, Parameters<typeof edgesToDraw>[1], number, Array<[number, number]>]> = [
    ['all edges above threshold', null, 0.01, [[0, 0], [0, 1], [1, 1]]],
    ['outgoing of left token 0', {index: 0, side: 'left'}, 0.01, [[0, 0], [0, 1]]],
    ['incoming of right token 1', {index: 1, side: 'right'}, 0.01, [[0, 1], [1, 1]]],
    ['incoming of right token 0, low threshold', {index: 0, side: 'right'}, 0, [[0, 0], [1, 0]]],
  ];
  for (const [name, focus, min, expected] of cases) {
    it(name, () => {
      assert.deepEqual(edgesToDraw(m, focus, min).map(e => [e.from, e.to]), expected);
    });
  }
});

describe('futureTokens', () => {
  it('greys tokens after the focus', () => {
    assert.deepEqual(futureTokens(4, 1), [false, false, true, true]);
    assert.deepEqual(futureTokens(3, null), [false, false, false]);
  });
});

describe('zeroColumns (zero attention to specials, renormalise)', () => {
  const m = [
    [0.5, 0.25, 0.25],
    [0.8, 0.1, 0.1],
    [1, 0, 0],
  ];
  const cases: Array<[string, boolean[], number[][]]> = [
    ['nothing dropped', [false, false, false], m],
    ['first column dropped', [true, false, false], [[0, 0.5, 0.5], [0, 0.5, 0.5], [0, 0, 0]]],
    ['last column dropped', [false, false, true], [[2 / 3, 1 / 3, 0], [0.8 / 0.9, 0.1 / 0.9, 0], [1, 0, 0]]],
  ];
  for (const [name, dropped, expected] of cases) {
    it(name, () => close(zeroColumns(m, dropped).map(r => Array.from(r)), expected, 1e-6));  // float32 rows
  }
  it('keeps the rows of dropped tokens and sums rows to 1', () => {
    const out = zeroColumns(m, [true, false, false]);
    assert.equal(out.length, 3);
    for (const row of out.slice(0, 2)) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  });
});
