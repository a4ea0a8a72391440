import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {firstTopLayer, lensFieldNames, lensLayers, lensRows} from './lens';

describe('logit lens table', () => {
  it('finds the lens layers, 0 included, in numeric order', () => {
    assert.deepEqual(
        lensLayers(['tokens', 'layer_10/lens', 'layer_2/lens', 'layer_0/lens', 'layer_2/lens_rank']),
        [0, 2, 10]);
    assert.deepEqual(lensLayers(['tokens', 'layer_1/attention']), []);
  });
  it('requests the lens and rank of each layer', () => {
    assert.deepEqual(lensFieldNames([0, 1]),
                     ['layer_0/lens', 'layer_0/lens_rank', 'layer_1/lens', 'layer_1/lens_rank']);
  });
  const pred = {
    'layer_0/lens': [[['a', 0.5], ['b', 0.2], ['c', 0.1], ['d', 0.05]], [['x', 0.9]]],
    'layer_0/lens_rank': [7, 12],
    'layer_1/lens': [[['e', 0.6]], [['y', 0.4], ['z', 0.3]]],
    'layer_1/lens_rank': [1, 1],
  };
  const cases: Array<[string, number, number, unknown]> = [
    ['position 0, top 3', 0, 3,
     [{layer: 0, top: [['a', 0.5], ['b', 0.2], ['c', 0.1]], rank: 7},
      {layer: 1, top: [['e', 0.6]], rank: 1}]],
    ['position 1, top 1', 1, 1,
     [{layer: 0, top: [['x', 0.9]], rank: 12}, {layer: 1, top: [['y', 0.4]], rank: 1}]],
    ['a position past the end is empty', 5, 3,
     [{layer: 0, top: [], rank: null}, {layer: 1, top: [], rank: null}]],
  ];
  for (const [name, index, k, expected] of cases) {
    it(name, () => assert.deepEqual(lensRows(pred, [0, 1], index, k), expected));
  }
  it('reports the first layer where the final top-1 leads', () => {
    assert.equal(firstTopLayer(lensRows(pred, [0, 1], 0)), 1);
    assert.equal(firstTopLayer(lensRows(pred, [0], 0)), null);
  });
});
