import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {availableMeasures, chooseMeasure, hasHeads, measureField} from './measures';

describe('measure selector', () => {
  const both = ['layer_1/attention_norm_packed', 'layer_2/attention_norm_packed',
                'layer_1/rollout_packed', 'layer_2/rollout_packed', 'layer_1/rollout'];
  const cases: Array<[string, string[], number[], string[]]> = [
    ['no measures model: weights only', [], [1, 2], ['weights']],
    ['both declared', both, [1, 2], ['weights', 'value-weighted', 'rollout']],
    ['rollout only', both.filter(k => k.includes('rollout')), [1, 2], ['weights', 'rollout']],
    ['a layer missing drops the measure', both.filter(k => k !== 'layer_2/rollout_packed'), [1, 2],
     ['weights', 'value-weighted']],
    ['unpacked fields do not count', ['layer_1/attention_norm', 'layer_1/rollout'], [1], ['weights']],
    ['no layers: weights only', both, [], ['weights']],
  ];
  for (const [name, keys, layers, expected] of cases) {
    it(name, () => assert.deepEqual(availableMeasures(keys, layers), expected));
  }
  it('names the packed fields of the contract', () => {
    assert.equal(measureField('weights', 3), 'layer_3/attention_packed');
    assert.equal(measureField('value-weighted', 3), 'layer_3/attention_norm_packed');
    assert.equal(measureField('rollout', 12), 'layer_12/rollout_packed');
  });
  it('falls back to weights', () => {
    assert.equal(chooseMeasure('rollout', ['weights']), 'weights');
    assert.equal(chooseMeasure('rollout', ['weights', 'rollout']), 'rollout');
    assert.equal(chooseMeasure(null, ['weights', 'rollout']), 'weights');
  });
  it('rollout has no heads', () => {
    assert.deepEqual(['weights', 'value-weighted', 'rollout'].map(m => hasHeads(m as never)),
                     [true, true, false]);
  });
});
