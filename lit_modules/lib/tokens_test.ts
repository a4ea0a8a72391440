import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {displayToken, maskedText, maskTokens} from './tokens';

describe('displayToken', () => {
  const cases: Array<[string, string]> = [
    ['##ing', 'ing'], ['\u0120the', 'the'], ['\u2581the', 'the'], ['[CLS]', '[CLS]'],
    ['##', '##'], ['\u0120', '\u2423'], ['\u2581', '\u2423'], ['\u010a', '\\n'],
  ];
  for (const [token, shown] of cases) {
    it(`shows ${JSON.stringify(token)}`, () => assert.equal(displayToken(token), shown));
  }
});

describe('maskedText', () => {
  const cases: Array<[string, string[], boolean[], number, string, string]> = [
    ['wordpiece', ['[CLS]', 'the', 'girl', 'ran', '.', '[SEP]'],
     [true, false, false, false, false, true], 2, '[MASK]', 'the [MASK] ran .'],
    ['wordpiece continuation', ['[CLS]', 'play', '##ing', 'games', '[SEP]'],
     [true, false, false, false, true], 3, '[MASK]', 'playing [MASK]'],
    ['byte-level BPE', ['<s>', 'The', '\u0120girl', '\u0120ran', '</s>'],
     [true, false, false, false, true], 2, '<mask>', 'The <mask> ran'],
    ['byte-level first piece', ['The', '\u0120girl'], [false, false], 0, '<mask>', '<mask> girl'],
    ['sentencepiece', ['\u2581The', '\u2581girl', '\u2581ran'], [false, false, false], 1,
     '<mask>', 'The <mask> ran'],
  ];
  for (const [name, tokens, special, index, mask, text] of cases) {
    it(name, () => assert.equal(maskedText(tokens, special, index, mask), text));
  }
});

describe('maskTokens', () => {
  it('replaces one piece', () => {
    assert.deepEqual(maskTokens(['a', 'b', 'c'], 1, '[MASK]'), ['a', '[MASK]', 'c']);
  });
  it('rejects an index out of range', () => {
    assert.throws(() => maskTokens(['a'], 1, '[MASK]'), /out of range 0\.\.0/);
  });
});
