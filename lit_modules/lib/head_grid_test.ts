import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {formatLift, formatShare, gridCells, HeadProfile, liftColor, pickerLabels, shareColor, textColorFor, topLabels} from './head_grid';

// 1 layer, 2 heads; labels x (base 0.5), y (0.25), z (0.25), w (0: never a candidate).
// The same numbers as tests/test_head_profiles.py::test_rank_and_best_by_lift.
const PROFILE: HeadProfile = {
  field: 'dep', by: 'attended', model: 'm', labels: ['x', 'y', 'z', 'w'],
  base: [0.5, 0.25, 0.25, 0], counts: [[[6, 3, 1, 0], [2, 0, 8, 0]]],
  tokens: 20, sources: 10, num_layers: 1, num_heads: 2,
};

describe('gridCells', () => {
  it('labels each head with its best lift among labels of >= 5% share', () => {
    const cells = gridCells(PROFILE);
    assert.deepEqual(cells.map(r => r.map(c => [c.layer, c.head, c.label, c.total])),
                     [[[1, 1, 'x', 10], [1, 2, 'z', 10]]]);
    assert.ok(Math.abs(cells[0][1].lift - 3.2) < 1e-9);
    assert.ok(Math.abs(cells[0][0].share - 0.6) < 1e-9);
  });
  it('shows a picked label in every head', () => {
    const cells = gridCells(PROFILE, 'y');
    assert.deepEqual(cells[0].map(c => [c.label, c.share]), [['y', 0.3], ['y', 0]]);
    assert.ok(Number.isNaN(gridCells(PROFILE, 'w')[0][0].lift));
  });
  it('refuses a label the profile lacks', () => {
    assert.throws(() => gridCells(PROFILE, 'nope'), RangeError);
  });
  it('falls back to the most frequent label when none reaches 5%', () => {
    const spread: HeadProfile = {...PROFILE, labels: Array.from({length: 40}, (_, i) => `l${i}`),
                                 base: Array(40).fill(1 / 40),
                                 counts: [[Array.from({length: 40}, (_, i) => (i === 7 ? 2 : 1))]]};
    assert.equal(gridCells(spread)[0][0].label, 'l7');
  });
});

describe('topLabels', () => {
  it('lists a head by count with share, base and lift', () => {
    assert.deepEqual(topLabels(PROFILE, 0, 0, 2).map(s => [s.label, s.count, s.share, s.base]),
                     [['x', 6, 0.6, 0.5], ['y', 3, 0.3, 0.25]]);
    assert.deepEqual(topLabels(PROFILE, 0, 1).map(s => s.label), ['z', 'x']);
  });
});

describe('colours and text', () => {
  const cases: Array<[number, string]> = [
    [0.5, 'rgb(255, 255, 255)'], [1, 'rgb(255, 255, 255)'], [16, 'rgb(217, 72, 1)'],
    [100, 'rgb(217, 72, 1)'], [4, 'rgb(236, 164, 128)'], [NaN, 'rgb(230, 230, 230)'],
  ];
  for (const [lift, colour] of cases) {
    it(`colours lift ${lift} as ${colour}`, () => assert.equal(liftColor(lift), colour));
  }
  it('colours shares white to blue', () => {
    assert.equal(shareColor(0), 'rgb(255, 255, 255)');
    assert.equal(shareColor(1), 'rgb(8, 69, 148)');
    assert.equal(shareColor(2), 'rgb(8, 69, 148)');
  });
  it('picks readable text', () => {
    assert.equal(textColorFor('rgb(8, 69, 148)'), '#ffffff');
    assert.equal(textColorFor('rgb(255, 255, 255)'), '#202124');
  });
  it('formats shares and lifts', () => {
    assert.equal(formatShare(0.1234), '12.3%');
    assert.equal(formatShare(0.0001), '<0.1%');
    assert.equal(formatLift(3.21), 'x3.2');
    assert.equal(formatLift(27.5), 'x28');
    assert.equal(formatLift(NaN), '-');
  });
  it('orders the picker by base rate', () => {
    assert.deepEqual(pickerLabels(PROFILE), ['x', 'y', 'z', 'w']);
  });
});
