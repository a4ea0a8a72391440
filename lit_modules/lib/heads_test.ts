import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {formatHeadSet, HeadSetError, isHeadSelected, parseHeadSet, toggleHead} from './heads';
import {NotationError} from './notation';

// The grammar itself is tested by notation_test.ts from tests/notation_cases.json.
describe('parseHeadSet', () => {
  it('parses and checks in one call', () => {
    assert.deepEqual(parseHeadSet('3-[1-3,7]', 12, 12), {layer: 3, heads: [1, 2, 3, 7]});
    assert.deepEqual(parseHeadSet('12-[1-12]', 12, 12), {layer: 12, heads: []});
  });
  it('throws HeadSetError, which is NotationError', () => {
    assert.throws(() => parseHeadSet('4-13', 12, 12),
                  (e: Error) => e instanceof HeadSetError && e instanceof NotationError &&
                      e.message === 'head 13 is out of range: this model has heads 1..12');
    assert.ok(new HeadSetError('x') instanceof NotationError);
  });
});

describe('formatHeadSet', () => {
  const cases: Array<[number, number[], string]> = [
    [4, [1, 3, 9], '4-[1,3,9]'],
    [5, [3], '5-3'],
    [4, [], '4'],
  ];
  for (const [layer, heads, text] of cases) {
    it(`formats ${text} and parses it back`, () => {
      assert.equal(formatHeadSet({layer, heads}), text);
      assert.deepEqual(parseHeadSet(text), {layer, heads});
    });
  }
});

describe('toggleHead', () => {
  const cases: Array<[number[], number, number, number[]]> = [
    [[], 2, 4, [1, 3, 4]],       // from all: drop one
    [[1, 3, 4], 2, 4, []],       // back to all: canonical []
    [[1], 3, 4, [1, 3]],
    [[1, 3], 1, 4, [3]],
    [[3], 3, 4, [3]],            // the last head cannot be removed
  ];
  for (const [heads, h, n, expected] of cases) {
    it(`toggles ${h} in [${heads}] of ${n}`, () => {
      assert.deepEqual(toggleHead(heads, h, n), expected);
    });
  }
  it('reads [] as every head', () => {
    assert.equal(isHeadSelected([], 7), true);
    assert.equal(isHeadSelected([1, 2], 7), false);
  });
});
