import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {curveStyle, headColor, heatColor, heatRgb, offsetColor, offsetKey, thumbnailPixels} from './colors';

describe('offsetColor', () => {
  const cases: Array<[number, string]> = [
    [0, '#ff7f0e'], [-1, '#1f77b4'], [-2, '#6baed6'], [1, '#2ca02c'],
    [2, '#74c476'], [9, '#c7e9c0'], [-9, '#c6dbef'],
  ];
  for (const [offset, colour] of cases) {
    it(`colours offset ${offset}`, () => assert.equal(offsetColor(offset), colour));
  }
  it('gives distinct colours to -2..2', () => {
    assert.equal(new Set([-2, -1, 0, 1, 2].map(offsetColor)).size, 5);
  });
  it('rejects fractions', () => assert.throws(() => offsetColor(0.5), RangeError));
});

describe('offsetKey', () => {
  const cases: Array<[number, string]> = [[0, '0'], [-1, '-1'], [2, '+2']];
  for (const [offset, key] of cases) {
    it(`keys ${offset}`, () => assert.equal(offsetKey(offset), key));
  }
});

describe('curveStyle', () => {
  const cases: Array<[number, number, number]> = [
    [0, 0, 0.5], [1, 1, 4], [0.25, 0.5, 1.38], [0.5, 0.707, 2.25], [-0.2, 0, 0.5], [1.7, 1, 4],
  ];
  for (const [w, opacity, width] of cases) {
    it(`styles weight ${w}`, () => assert.deepEqual(curveStyle(w), {opacity, width}));
  }
  it('is monotone in the weight', () => {
    let last = {opacity: -1, width: -1};
    for (let w = 0; w <= 1; w += 0.1) {
      const style = curveStyle(w);
      assert.ok(style.width > last.width && style.opacity > last.opacity);
      last = style;
    }
  });
});

describe('scales', () => {
  it('heat goes from white to blue, clamped', () => {
    assert.equal(heatColor(0), 'rgb(255, 255, 255)');
    assert.equal(heatColor(1), 'rgb(8, 81, 156)');
    assert.equal(heatColor(2), heatColor(1));
  });
  it('spaces head hues evenly', () => {
    assert.equal(headColor(1, 4), 'hsl(0, 60%, 45%)');
    assert.equal(headColor(3, 4), 'hsl(180, 60%, 45%)');
  });
});

describe('thumbnailPixels', () => {
  const m = [[1, 0, 0.5], [0, 1, 0], [0.25, 0.25, 0.5]];
  const pixel = (p: Uint8ClampedArray, size: number, x: number, y: number) =>
      Array.from(p.slice((y * size + x) * 4, (y * size + x) * 4 + 4));
  const cases: Array<[string, number[], number, Array<[number, number, number]>]> = [
    // [x, y, expected weight] triples: x = column (attended), y = row (attending)
    ['one pixel per cell', [0, 1, 2], 3, [[0, 0, 1], [1, 0, 0], [2, 0, 0.5], [0, 2, 0.25]]],
    ['upsampled 2x', [0, 1, 2], 6, [[0, 0, 1], [1, 1, 1], [2, 0, 0], [5, 5, 0.5]]],
    ['hidden first token', [1, 2], 2, [[0, 0, 1], [1, 0, 0], [0, 1, 0.25], [1, 1, 0.5]]],
    ['downsampled', [0, 1, 2], 2, [[0, 0, 1], [1, 1, 1]]],
  ];
  for (const [name, keep, size, checks] of cases) {
    it(name, () => {
      const p = thumbnailPixels(m, keep, size);
      assert.equal(p.length, size * size * 4);
      for (const [x, y, w] of checks) {
        assert.deepEqual(pixel(p, size, x, y), [...heatRgb(w), 255], `(${x}, ${y})`);
      }
    });
  }
  it('is blank for no tokens', () => {
    assert.ok(thumbnailPixels([], [], 4).every(v => v === 0));
  });
  it('treats NaN as 0', () => assert.deepEqual(heatRgb(NaN), heatRgb(0)));
});
