import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {formatHeadSet, HeadSetError, isHeadSelected, parseHeadList, parseHeadSet, toggleHead} from './heads';

describe('parseHeadSet', () => {
  const cases: Array<[string, number|undefined, number|undefined, number, number[]]> = [
    ['4-[1,3,9]', undefined, undefined, 4, [1, 3, 9]],
    ['5-3', undefined, undefined, 5, [3]],
    ['4', undefined, undefined, 4, []],
    [' 4 - [ 9, 1 ,3 ] ', undefined, undefined, 4, [1, 3, 9]],
    ['2-[1-3,7]', undefined, undefined, 2, [1, 2, 3, 7]],
    ['2-[3,3,1]', undefined, undefined, 2, [1, 3]],
    ['0', 12, 12, 0, []],
    ['12-[1-12]', 12, 12, 12, []],   // every head is "all"
    ['4-[]', 12, 12, 4, []],
  ];
  for (const [text, layers, heads, layer, expected] of cases) {
    it(`parses "${text}"`, () => {
      assert.deepEqual(parseHeadSet(text, layers, heads), {layer, heads: expected});
    });
  }

  const bad: Array<[string, number|undefined, number|undefined, RegExp]> = [
    ['', undefined, undefined, /not a head set/],
    ['x-1', undefined, undefined, /not a head set/],
    ['4-[1,a]', undefined, undefined, /whole number/],
    ['4-[5-2]', undefined, undefined, /empty head range/],
    ['4-[1-2-3]', undefined, undefined, /bad head range/],
    ['13-1', 12, 12, /layer 13 is out of range 0\.\.12/],
    ['4-13', 12, 12, /head 13 is out of range 1\.\.12/],
    ['4-0', 12, 12, /numbered from 1/],
  ];
  for (const [text, layers, heads, message] of bad) {
    it(`rejects "${text}"`, () => {
      assert.throws(() => parseHeadSet(text, layers, heads),
                    (e: Error) => e instanceof HeadSetError && message.test(e.message));
    });
  }
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

describe('parseHeadList', () => {
  const cases: Array<[string, number[]]> = [
    ['', []], ['all', []], ['3', [3]], ['9,1,3', [1, 3, 9]], ['1-3', [1, 2, 3]],
  ];
  for (const [text, heads] of cases) {
    it(`parses "${text}"`, () => assert.deepEqual(parseHeadList(text), heads));
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
