/**
 * A corpus search result as CSV tables (one row per match, one per histogram
 * bin) and the names of the downloaded files. The same columns as
 * exbert_lit/corpus/export.py (`exbert-lit search --csv`):
 * tests/corpus_export_cases.json holds results with their expected CSV,
 * checked against both, so a download and the CLI give the same bytes.
 */

import {SearchResult} from './corpus_types';

export const MATCH_COLUMNS: readonly string[] = [
  'rank', 'score', 'sentence_id', 'position', 'token', 'left', 'right',
  'pos', 'tag', 'dep', 'ent', 'lemma', 'max_att_position', 'max_att_token',
  'text',
];

export const HISTOGRAM_COLUMNS: readonly string[] =
    ['column', 'centre', 'field', 'label', 'count'];

const LABEL_FIELDS = ['pos', 'dep', 'ent'] as const;
const MAX_ATT_FIELDS = ['pos', 'dep', 'ent', 'offset'] as const;
const LABEL_COLUMNS = ['pos', 'tag', 'dep', 'ent', 'lemma'] as const;

/**
 * A number in the shortest positional form that reads back to it (String()
 * without its exponent: 1e-7 -> 0.0000001); '' for NaN and infinities.
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return '';
  if (x === 0) return '0';
  const text = String(x);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (m === null) return text;
  const [, sign, first, rest = '', exponent] = m;
  const e = Number(exponent);
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${first}${rest}`;
  return `${sign}${first}${rest}${'0'.repeat(Math.max(0, e - rest.length))}`;
}

/** One row of MATCH_COLUMNS per match, nearest first. */
export function matchRows(result: SearchResult): string[][] {
  return result.matches.map((m, i) => {
    const labels = m.labels[m.position] ?? null;
    const maxAtt = m.max_att;
    return [
      String(i + 1),
      formatNumber(m.score),
      String(m.sentence_id),
      String(m.position),
      m.tokens[m.position],
      m.tokens.slice(0, m.position).join(' '),
      m.tokens.slice(m.position + 1).join(' '),
      ...LABEL_COLUMNS.map(f => labels === null ? '' : String(labels[f] ?? '')),
      maxAtt === null ? '' : String(maxAtt),
      maxAtt === null || maxAtt < 0 || maxAtt >= m.tokens.length ?
          '' :
          m.tokens[maxAtt],
      m.text,
    ];
  });
}

/**
 * One row of HISTOGRAM_COLUMNS per bin: the offset columns left to right
 * (POS, DEP, entity each), then the most-attended token's.
 */
export function histogramRows(result: SearchResult): string[][] {
  const centre = result.query.centre;
  const rows: string[][] = [];
  const keys = Object.keys(result.histograms).sort((a, b) => Number(a) - Number(b));
  for (const key of keys) {
    for (const field of LABEL_FIELDS) {
      for (const bin of result.histograms[key][field]) {
        rows.push([key, centre, field, bin.label, String(bin.count)]);
      }
    }
  }
  for (const field of MAX_ATT_FIELDS) {
    for (const bin of result.max_att[field]) {
      rows.push(['max_att', centre, field, bin.label, String(bin.count)]);
    }
  }
  return rows;
}

/** What a spreadsheet reads as the start of a formula, and the numbers written here (kept). */
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^[+-]?\d+(?:\.\d+)?$/;

/**
 * `value` with a leading apostrophe when a spreadsheet would run it as a
 * formula (it starts with =, +, -, @, a tab or a CR and is not a number:
 * OWASP's advice on CSV injection), so corpus text is shown, never
 * evaluated; "-0.25" and "+1" stay numbers.
 */
export function guardCell(value: string): string {
  return FORMULA_START.test(value) && !NUMBER.test(value) ? `'${value}` : value;
}

/**
 * A field guarded against formulas, then quoted (inner quotes doubled) when
 * it holds a quote, comma or line break.
 */
function csvField(cell: string): string {
  const value = guardCell(cell);
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** RFC 4180 CSV with CRLF line ends, as LIT's own CSV downloads; formula-like cells guarded. */
export function toCsv(columns: readonly string[], rows: string[][]): string {
  return [columns, ...rows].map(row => row.map(csvField).join(',') + '\r\n').join('');
}

export function matchesCsv(result: SearchResult): string {
  return toCsv(MATCH_COLUMNS, matchRows(result));
}

export function histogramsCsv(result: SearchResult): string {
  return toCsv(HISTOGRAM_COLUMNS, histogramRows(result));
}

/** The result as the CLI's `--json` prints it, indented for reading. */
export function resultJson(result: SearchResult): string {
  return JSON.stringify(result, null, 2) + '\n';
}

/**
 * A download's file name from the query: `exbert-corpus-escape-L4-context-
 * matches.csv`. The token keeps letters, digits, '_' and '-' only.
 */
export function exportFileName(
    result: SearchResult, token: string, what: string, extension: string): string {
  const word = token.normalize('NFKD').replace(/[^A-Za-z0-9_-]+/g, '').slice(0, 40);
  const parts = ['exbert-corpus', word, `L${result.query.layer}`, result.query.kind, what];
  return `${parts.filter(p => p !== '').join('-')}.${extension}`;
}
