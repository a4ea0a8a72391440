/**
 * The notation's shared table of cases (tests/notation_cases.json, also run
 * by tests/test_notation.py): every case whose input is text, in the
 * sections a view parses. heads null in the table is [] here (all heads).
 */
import {strict as assert} from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, it} from 'node:test';

import {checkHeads, DEFAULT_K, DEFAULT_OFFSETS, formatSelection, KINDS, MAX_HEAD, MAX_K, MAX_OFFSET, NotationError, parseHeads, parseK, parseOffsetList, parseSelection} from './notation';
import {parseHeadSet} from './heads';

// Compiled to lit_modules/.test-build/, two levels below the repository root.
const TABLE_PATH = path.resolve(__dirname, '..', '..', 'tests', 'notation_cases.json');

interface Case {
  input: unknown;
  error?: string;
  [key: string]: unknown;
}

const TABLE = JSON.parse(fs.readFileSync(TABLE_PATH, 'utf8')) as
    {defaults: Record<string, unknown>}&Record<string, Case[]>;

type Parse = (c: Case&{input: string}) => unknown;

/** Section -> [parse a case, its expected value]. */
const SECTIONS: Record<string, [Parse, (c: Case) => unknown]> = {
  selection: [
    c => c.num_layers === undefined ?
        parseSelection(c.input) :
        parseHeadSet(c.input, c.num_layers as number, c.num_heads as number),
    c => ({layer: c.layer, heads: c.heads ?? []}),
  ],
  heads: [
    c => c.num_heads === undefined ? parseHeads(c.input) :
                                     checkHeads(parseHeads(c.input), c.num_heads as number),
    c => c.heads ?? [],
  ],
  offsets: [c => parseOffsetList(c.input), c => c.offsets],
  k: [c => parseK(c.input), c => c.k],
};

for (const [section, [parse, expected]] of Object.entries(SECTIONS)) {
  describe(`notation table: ${section}`, () => {
    const cases = TABLE[section].filter(c => typeof c.input === 'string');
    it('has text cases', () => assert.ok(cases.length > 5));
    for (const c of cases as Array<Case&{input: string}>) {
      if (c.error !== undefined) {
        it(`rejects ${JSON.stringify(c.input)}`, () => {
          assert.throws(() => parse(c), (e: Error) => {
            assert.ok(e instanceof NotationError);
            assert.equal(e.message, c.error);
            return true;
          });
        });
      } else {
        it(`parses ${JSON.stringify(c.input)}`, () => {
          assert.deepEqual(parse(c), expected(c));
        });
      }
    }
  });
}

describe('notation table: canonical text', () => {
  for (const c of TABLE['selection'].filter(c => c.text !== undefined)) {
    it(`writes ${JSON.stringify(c.input)} as ${c.text}`, () => {
      const selection = SECTIONS['selection'][0](c as Case&{input: string});
      assert.equal(formatSelection(selection as {layer: number, heads: number[]}), c.text);
      assert.deepEqual(parseHeadSet(c.text as string), selection);
    });
  }
});

describe('notation table: defaults', () => {
  it('match Python', () => {
    assert.deepEqual(
        {DEFAULT_K, MAX_K, DEFAULT_OFFSETS: [...DEFAULT_OFFSETS], MAX_OFFSET, MAX_HEAD, KINDS: [...KINDS]},
        TABLE.defaults);
  });
});
