/**
 * The JSON shape of a corpus search result; mirrors
 * exbert_lit/corpus/result.py (keep the two in step).
 *
 * Numbering: `layer` 1..L (0 = input embeddings); `heads` 1..H; positions
 * 0-based into the sentence's word-pieces (specials included). Histograms
 * are sorted by count (descending, then label).
 */

export type Kind = 'embedding'|'context';

export interface TokenLabels {
  pos: string;
  tag: string;
  dep: string;
  ent: string;
  lemma: string;
  head: number;
}

export interface Match {
  sentence_id: number;
  position: number;
  score: number;
  text: string;
  tokens: string[];
  labels: Array<TokenLabels|null>;
  max_att: number|null;
  /** The corpus record's metadata columns (e.g. a document id), if it had any. */
  meta?: {[column: string]: string};
}

export interface Bin {
  label: string;
  count: number;
}

export interface LabelHistograms {
  pos: Bin[];
  dep: Bin[];
  ent: Bin[];
}

export interface MaxAttHistograms extends LabelHistograms {
  offset: Bin[];
}

export interface Query {
  layer: number;
  kind: Kind;
  heads: number[]|null;
  k: number;
  offsets: number[];
  centre: 'match'|'next';
}

export interface SearchResult {
  query: Query;
  matches: Match[];
  /** Keyed by offset from the summarised token: "0", "-1", "+1", ... */
  histograms: {[offset: string]: LabelHistograms};
  max_att: MaxAttHistograms;
}
