import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {generatedMask, generateExample, leadingBlock, numSteps, settingsError, stepForKey, stepView} from './generation';

describe('generation settings', () => {
  const cases: Array<[string, number, number, number|null, string]> = [
    ['greedy', 20, 0, null, ''],
    ['sampling with a seed', 5, 0.8, 7, ''],
    ['zero tokens', 0, 0, null, 'new tokens'],
    ['too many tokens', 257, 0, null, 'new tokens'],
    ['fractional tokens', 2.5, 0, null, 'new tokens'],
    ['negative temperature', 5, -1, null, 'temperature'],
    ['temperature too high', 5, 11, null, 'temperature'],
    ['seed with greedy', 5, 0, 3, 'seed is for sampling'],
    ['negative seed', 5, 1, -3, 'seed must'],
  ];
  for (const [name, maxNewTokens, temperature, seed, expected] of cases) {
    it(name, () => {
      const error = settingsError({maxNewTokens, temperature, seed});
      if (expected === '') assert.equal(error, '');
      else assert.ok(error.includes(expected), error);
    });
  }
  it('sends the example without an _id and an unset seed as empty', () => {
    const ex = generateExample('text', 'Hi', {maxNewTokens: 3, temperature: 0, seed: null});
    assert.equal(ex.id, '');
    assert.deepEqual(ex.data, {_id: '', text: 'Hi', max_new_tokens: 3, temperature: 0, seed: ''});
    assert.equal(ex.meta.added, true);
  });
});

describe('stepping through a generation', () => {
  const tokens = ['<s>', 'The', 'cat', 'sat', 'down'];   // P = 3: 'sat', 'down' generated
  const preds: Array<Array<[string, number]>> = [
    [['x', 0.5]], [['y', 0.5]], [['sat', 0.6], ['ran', 0.3]], [['up', 0.5], ['down', 0.4]], []];
  const probs = [0, 0.1, 0.2, 0.6, 0.4];
  it('counts the generated tokens', () => {
    assert.equal(numSteps(5, 3), 2);
    assert.equal(numSteps(3, 3), 0);
  });
  it('step 0 is the first generated token, chosen from the prompt end', () => {
    assert.deepEqual(stepView(tokens, 3, preds, probs, 0),
                     {position: 3, shown: 4, token: 'sat', prob: 0.6,
                      candidates: [['sat', 0.6], ['ran', 0.3]], rank: 1});
  });
  it('a sampled token below the top is ranked', () => {
    const s = stepView(tokens, 3, preds, probs, 1);
    assert.equal(s.position, 4);
    assert.equal(s.rank, 2);
    assert.equal(s.prob, 0.4);
  });
  it('refuses a step outside the generation', () => {
    assert.throws(() => stepView(tokens, 3, preds, probs, 2), RangeError);
  });
  const keys: Array<[string, number, number|null]> = [
    ['ArrowRight', 1, 2], ['ArrowRight', 4, 4], ['ArrowLeft', 0, 0], ['ArrowLeft', 3, 2],
    ['Home', 3, 0], ['End', 0, 4], ['a', 2, null],
  ];
  for (const [key, step, expected] of keys) {
    it(`${key} from ${step}`, () => assert.equal(stepForKey(key, step, 5), expected));
  }
  it('cuts the attention to the shown tokens', () => {
    const rows = [Float32Array.from([1, 0, 0]), Float32Array.from([0.5, 0.5, 0]),
                  Float32Array.from([0.2, 0.3, 0.5])];
    const cut = leadingBlock([rows], 2);
    assert.deepEqual(cut.map(h => h.map(r => Array.from(r))), [[[1, 0], [0.5, 0.5]]]);
  });
  it('marks the generated tokens', () => {
    assert.deepEqual(generatedMask(5, 3), [false, false, false, true, true]);
  });
});
