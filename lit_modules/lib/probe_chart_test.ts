import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {CorpusAnswer, corpusSeries, groupColors, linear, linePath, TokenAnswer, tokenSeries, xExtent} from './probe_chart';

const TOKEN: TokenAnswer = {
  field: 'pos', k: 10, model: 'm',
  layers: {
    embedding: [{layer: 0, counted: 10, shares: {NOUN: 0.6, VERB: 0.4}},
                {layer: 1, counted: 10, shares: {VERB: 0.9, ADJ: 0.1}}],
    context: [{layer: 1, counted: 10, shares: {ADJ: 0.5, NOUN: 0.5}}],
  },
};

describe('tokenSeries', () => {
  it('keeps the labels with the largest share anywhere, an E and a C line each', () => {
    const s = tokenSeries(TOKEN, 2);
    assert.deepEqual(s.map(x => x.name), ['VERB E', 'VERB C', 'NOUN E', 'NOUN C']);
    assert.deepEqual(s[0].points, [[0, 0.4], [1, 0.9]]);
    assert.deepEqual(s[1].points, [[1, 0]]);
    assert.deepEqual(s[3].points, [[1, 0.5]]);
  });
  it('breaks ties by label', () => {
    assert.deepEqual(tokenSeries(TOKEN, 4).map(x => x.group).filter((_, i) => i % 2 === 0),
                     ['VERB', 'NOUN', 'ADJ']);
  });
});

function corpus(model: string, L: number): CorpusAnswer {
  const rows = (from: number) => Array.from({length: L - from + 1}, (_, i) => (
      {layer: from + i, share: 0.5, accuracy: (from + i) / L}));
  return {field: 'pos', k: 10, model, sample: 100, chance: 0.2,
          layers: {embedding: rows(0), context: rows(1)}};
}

describe('corpusSeries', () => {
  it('uses layers for one model', () => {
    const {series, relative} = corpusSeries([corpus('a', 2)]);
    assert.equal(relative, false);
    assert.deepEqual(series.map(s => s.name), ['a E(l)', 'a C(l)']);
    assert.deepEqual(series[0].points, [[0, 0], [1, 0.5], [2, 1]]);
  });
  it('uses relative depth for models of different depth', () => {
    const {series, relative} = corpusSeries([corpus('a', 2), corpus('b', 4)], 'share');
    assert.equal(relative, true);
    assert.deepEqual(series[2].points.map(p => p[0]), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(series[2].points.map(p => p[1]), [0.5, 0.5, 0.5, 0.5, 0.5]);
    assert.deepEqual([...groupColors(series).keys()], ['a', 'b']);
  });
});

describe('geometry', () => {
  it('maps linearly and draws paths', () => {
    const x = linear(0, 10, 0, 100);
    const y = linear(0, 1, 50, 0);
    assert.equal(x(5), 50);
    assert.equal(y(1), 0);
    assert.equal(linear(3, 3, 7, 9)(3), 7);
    assert.equal(linePath([[0, 0], [10, 1]], x, y), 'M0.0,50.0 L100.0,0.0');
    assert.equal(linePath([], x, y), '');
    assert.deepEqual(xExtent([]), [0, 1]);
    assert.deepEqual(xExtent(tokenSeries(TOKEN)), [0, 1]);
  });
});
