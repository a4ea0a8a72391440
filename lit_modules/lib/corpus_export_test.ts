/**
 * The corpus view's CSV export against the table shared with the CLI
 * (tests/corpus_export_cases.json, also run by tests/test_corpus_export.py):
 * a download holds the same bytes as `exbert-lit search --csv`.
 */
import {strict as assert} from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, it} from 'node:test';

import {exportFileName, formatNumber, guardCell, histogramsCsv, matchesCsv, resultJson, toCsv} from './corpus_export';
import {SearchResult} from './corpus_types';

// Compiled to lit_modules/.test-build/, two levels below the repository root.
const TABLE_PATH = path.resolve(__dirname, '..', '..', 'tests', 'corpus_export_cases.json');

interface Case {
  name: string;
  result: SearchResult;
  matches_csv: string;
  histograms_csv: string;
}

const TABLE = JSON.parse(fs.readFileSync(TABLE_PATH, 'utf8')) as
    {numbers: Array<[number, string]>, cells: Array<[string, string]>, cases: Case[]};

describe('formatNumber', () => {
  for (const [value, text] of TABLE.numbers) {
    it(`writes ${value} as ${text}`, () => {
      assert.equal(formatNumber(value), text);
      assert.equal(Number(text), value === 0 ? 0 : value);
    });
  }
  it('writes nothing for NaN and infinities', () => {
    assert.deepEqual([NaN, Infinity, -Infinity].map(formatNumber), ['', '', '']);
  });
});

describe('guardCell', () => {
  for (const [cell, written] of TABLE.cells) {
    it(`writes ${JSON.stringify(cell)} as ${JSON.stringify(written)}`, () => {
      assert.equal(guardCell(cell), written);
    });
  }
});

describe('CSV tables', () => {
  for (const c of TABLE.cases) {
    it(`matches: ${c.name}`, () => assert.equal(matchesCsv(c.result), c.matches_csv));
    it(`histograms: ${c.name}`, () => assert.equal(histogramsCsv(c.result), c.histograms_csv));
  }
});

describe('toCsv', () => {
  const cases: Array<[string[], string]> = [
    [['plain', 'a b'], 'plain,a b\r\n'],
    [['a,b', 'say "hi"'], '"a,b","say ""hi"""\r\n'],
    [['line\nbreak', 'cr\rhere', ''], '"line\nbreak","cr\rhere",\r\n'],
    [['<b>&amp;</b>', 'café'], '<b>&amp;</b>,café\r\n'],
    [['=1+1', '-0.5', '@a,b'], "'=1+1,-0.5,\"'@a,b\"\r\n"],
  ];
  for (const [row, text] of cases) {
    it(`writes ${JSON.stringify(row)}`, () => assert.equal(toCsv(['x'], [row]), 'x\r\n' + text));
  }
});

describe('resultJson', () => {
  it('reads back to the result', () => {
    const result = TABLE.cases[0].result;
    assert.deepEqual(JSON.parse(resultJson(result)), result);
  });
});

describe('exportFileName', () => {
  const result = TABLE.cases[0].result;  // layer 4, context
  const cases: Array<[string, string]> = [
    ['escape', 'exbert-corpus-escape-L4-context-matches.csv'],
    ['café', 'exbert-corpus-cafe-L4-context-matches.csv'],
    ['"', 'exbert-corpus-L4-context-matches.csv'],
    ['../x y', 'exbert-corpus-xy-L4-context-matches.csv'],
  ];
  for (const [token, name] of cases) {
    it(`names a search for ${JSON.stringify(token)}`, () => {
      assert.equal(exportFileName(result, token, 'matches', 'csv'), name);
    });
  }
});
