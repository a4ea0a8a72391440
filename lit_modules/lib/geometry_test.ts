import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {columnHeight, curvePath, edgePath, rowAt, rowCentre, rowIndices, tokensOfRows, visibleRows} from './geometry';

const LAYOUT = {top: 10, rowHeight: 20, leftX: 100, rightX: 300};

describe('rowIndices', () => {
  const cases: Array<[boolean[], number[]]> = [
    [[true, true, true], [0, 1, 2]],
    [[false, true, true, false], [-1, 0, 1, -1]],
    [[], []],
  ];
  for (const [visible, rows] of cases) {
    it(`maps [${visible}]`, () => assert.deepEqual(rowIndices(visible), rows));
  }
});

describe('curves', () => {
  const cases: Array<[number, number, number, number, string]> = [
    [0, 0, 100, 50, 'M0,0 C50,0 50,50 100,50'],
    [10, 20, 10, 20, 'M10,20 C10,20 10,20 10,20'],
    [0.04, 1.26, 3.33, 7.77, 'M0,1.3 C1.7,1.3 1.7,7.8 3.3,7.8'],
  ];
  for (const [x0, y0, x1, y1, path] of cases) {
    it(`draws ${path}`, () => assert.equal(curvePath(x0, y0, x1, y1), path));
  }
  it('places rows and edges', () => {
    assert.equal(rowCentre(0, LAYOUT), 20);
    assert.equal(rowCentre(2, LAYOUT), 60);
    assert.equal(columnHeight(3, LAYOUT), 80);
    assert.equal(edgePath(0, 2, LAYOUT), 'M100,20 C200,20 200,60 300,60');
  });
});

describe('hit-testing and scrolling', () => {
  const cases: Array<[number, number]> = [[9, -1], [10, 0], [29.9, 0], [30, 1], [69, 2], [70, -1]];
  for (const [y, row] of cases) {
    it(`y=${y} is row ${row}`, () => assert.equal(rowAt(y, LAYOUT, 3), row));
  }
  const windows: Array<[number, number, number, [number, number]]> = [
    [0, 45, 10, [0, 1]],
    [30, 40, 10, [1, 3]],
    [0, 1000, 3, [0, 2]],
    [500, 40, 3, [0, -1]],
    [0, 0, 3, [0, -1]],
  ];
  for (const [top, height, rows, expected] of windows) {
    it(`window ${top}+${height} over ${rows} rows`, () =>
      assert.deepEqual(visibleRows(top, height, LAYOUT, rows), expected));
  }
  it('inverts rowIndices', () => {
    assert.deepEqual(tokensOfRows([-1, 0, 1, -1, 2]), [1, 2, 4]);
  });
});
