import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {alignedToken, CharSpan, linkedToken, LinkedToken, segmentBoundaryRow, tokenSpans} from './segments';

describe('segmentBoundaryRow', () => {
  const cases: Array<[string, number[], number[], number|null]> = [
    ['one sentence', [0, 0, 0, 0], [0, 1, 2, 3], null],
    ['a pair: B after the first [SEP]', [0, 0, 0, 1, 1], [0, 1, 2, 3, 4], 3],
    ['hidden [SEP] rows: the boundary is between visible rows', [0, 0, 0, 1, 1, 1], [1, 4, 5], 1],
    ['only segment B shown', [0, 1, 1], [1, 2], null],
    ['no rows', [0, 1], [], null],
  ];
  for (const [name, segments, rowTokens, row] of cases) {
    it(name, () => assert.equal(segmentBoundaryRow(segments, rowTokens), row));
  }
});

describe('tokenSpans', () => {
  it('drops empty spans and rounds', () => {
    assert.deepEqual(tokenSpans([0, 0, 3.0, 0], [0, 3, 7, 0], [0, 0, 1, 1]),
                     [null, {segment: 0, start: 0, end: 3}, {segment: 1, start: 3, end: 7}, null]);
  });
  it('reads one segment without segment ids', () => {
    assert.deepEqual(tokenSpans([4], [7], null), [{segment: 0, start: 4, end: 7}]);
  });
});

describe('alignedToken', () => {
  // "the cats sat": WordPiece [CLS] the cat ##s sat [SEP]; byte-level BPE the Ġcats Ġsat.
  const wordpiece = tokenSpans([0, 0, 4, 7, 9, 0], [0, 3, 7, 8, 12, 0], null);
  const bpe: Array<CharSpan|null> = [
    {segment: 0, start: 0, end: 3}, {segment: 0, start: 3, end: 8}, {segment: 0, start: 8, end: 12}];
  const cases: Array<[string, Array<CharSpan|null>, CharSpan, number|null]> = [
    ['BPE word with its space -> first WordPiece piece', wordpiece, {segment: 0, start: 3, end: 8}, 2],
    ['WordPiece continuation -> the BPE word', bpe, {segment: 0, start: 7, end: 8}, 1],
    ['same tokenisation -> same token', bpe, {segment: 0, start: 8, end: 12}, 2],
    ['no overlap', bpe, {segment: 0, start: 20, end: 24}, null],
    ['other segment', bpe, {segment: 1, start: 0, end: 3}, null],
    ['specials never match', wordpiece, {segment: 0, start: 0, end: 0}, null],
  ];
  for (const [name, spans, target, index] of cases) {
    it(name, () => assert.equal(alignedToken(spans, target), index));
  }
});

describe('linkedToken', () => {
  // "the cats sat" in gpt2 (byte-level BPE) and bert (WordPiece): "cats" is gpt2's token 1, bert's 2.
  const gpt2: Array<CharSpan|null> = [
    {segment: 0, start: 0, end: 3}, {segment: 0, start: 3, end: 8}, {segment: 0, start: 8, end: 12}];
  const bert = tokenSpans([0, 0, 4, 7, 9, 0], [0, 3, 7, 8, 12, 0], null);
  const cats: LinkedToken = {model: 'gpt2', span: {segment: 0, start: 3, end: 8}};
  const cases: Array<[string, string, number|null, LinkedToken|null,
                      Array<CharSpan|null>|null, number, number|null]> = [
    ['frozen in this model\'s view: its own index', 'gpt2', 1, cats, gpt2, 3, 1],
    ['frozen in the other model\'s view: the token over the same characters', 'bert', 1, cats,
     bert, 6, 2],
    ['the other model\'s sentence not loaded yet: none', 'bert', 1, cats, null, 6, null],
    ['no link (one model): the index', 'bert', 4, null, bert, 6, 4],
    ['no link, past this sentence\'s end: none', 'bert', 7, null, bert, 6, null],
    ['nothing frozen', 'bert', null, cats, bert, 6, null],
  ];
  for (const [name, model, token, linked, spans, length, index] of cases) {
    it(name, () => assert.equal(linkedToken(model, token, linked, spans, length), index));
  }
});
