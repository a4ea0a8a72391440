import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {continuesWord, displayOffsets, histogramBars, histogramsAt, labelTooltip, summarisedPosition} from './corpus';
import {SearchResult} from './corpus_types';

describe('displayOffsets', () => {
  const cases: Array<[number[], number[]]> = [
    [[-1, 1], [-1, 0, 1]], [[2, -2, 1], [-2, 0, 1, 2]], [[], [0]], [[0, 1], [0, 1]],
  ];
  for (const [offsets, shown] of cases) {
    it(`shows [${offsets}] as [${shown}]`, () => assert.deepEqual(displayOffsets(offsets), shown));
  }
});

describe('histogramBars', () => {
  it('scales to the longest bar', () => {
    assert.deepEqual(histogramBars([{label: 'NOUN', count: 4}, {label: 'VERB', count: 1}]), [
      {label: 'NOUN', count: 4, fraction: 1}, {label: 'VERB', count: 1, fraction: 0.25},
    ]);
  });
  it('sums the tail into "(other)" so counts add up', () => {
    const bins = [5, 4, 3, 2, 1].map((count, i) => ({label: `L${i}`, count}));
    const bars = histogramBars(bins, 2);
    assert.deepEqual(bars.map(b => [b.label, b.count]), [['L0', 5], ['L1', 4], ['(other)', 6]]);
    assert.equal(bars.reduce((s, b) => s + b.count, 0), 15);
    assert.equal(bars[2].fraction, 1);
  });
  it('handles no bins', () => assert.deepEqual(histogramBars([]), []));
});

describe('labels and positions', () => {
  it('describes labels', () => {
    assert.equal(
        labelTooltip({pos: 'NOUN', tag: 'NN', dep: 'nsubj', ent: 'O', lemma: 'girl', head: 3}),
        'POS NOUN (NN) · DEP nsubj · ENT O · lemma "girl"');
    assert.equal(labelTooltip(null), 'special token');
  });
  const cases: Array<[number, number, 'match'|'next', number|null]> = [
    [2, 5, 'match', 2], [2, 5, 'next', 3], [4, 5, 'next', null],
  ];
  for (const [position, n, centre, expected] of cases) {
    it(`summarises ${position} of ${n} (${centre})`, () => {
      assert.equal(summarisedPosition(position, n, centre), expected);
    });
  }
  it('finds histograms by offset key', () => {
    const empty = {pos: [], dep: [], ent: []};
    const result: SearchResult = {
      query: {layer: 1, kind: 'context', heads: null, k: 50, offsets: [-1, 1], centre: 'match'},
      matches: [], histograms: {'0': empty, '+1': empty}, max_att: {...empty, offset: []},
    };
    assert.equal(histogramsAt(result, 1), empty);
    assert.equal(histogramsAt(result, -1), null);
  });
});

describe('continuesWord', () => {
  const G = '\u0120';
  const cases: Array<[string[], boolean[]]> = [
    [['[CLS]', 'play', '##ing', '.', '[SEP]'], [false, false, true, false, false]],
    [['J', 'udge', `${G}Parsons`, `${G}in`, 'quired', ','], [false, true, false, false, true, true]],
    [['\u2581The', '\u2581cat', 's'], [false, false, true]],
    [['<|endoftext|>', `${G}a`], [false, false]],
  ];
  for (const [tokens, expected] of cases) {
    it(`joins ${JSON.stringify(tokens)}`, () => {
      assert.deepEqual(tokens.map((_, i) => continuesWord(tokens, i)), expected);
    });
  }
});
