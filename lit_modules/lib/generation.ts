/**
 * Stepping through a generation (`_NAME_generate`, docs/FIELDS.md
 * "Generation"): prompt tokens 0..P-1, generated token k at position P+k,
 * chosen from the candidates after position P+k-1. At step k the view shows
 * tokens 0..P+k and the attention row of token P+k; this file holds the
 * index arithmetic, the settings check and the request, free of the DOM.
 */

/** The settings of one generation; null = the server's default. */
export interface GenerateSettings {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** Sampling only; null = drawn by the server (and reported back). */
  seed: number|null;
}

export const MAX_NEW_TOKENS = 256;
export const MAX_TEMPERATURE = 10;
export const MAX_SEED = 4294967295;

/** One line that says what to change, or '' when the settings are valid (the server's rules). */
export function settingsError(s: GenerateSettings): string {
  if (!Number.isInteger(s.maxNewTokens) || s.maxNewTokens < 1 || s.maxNewTokens > MAX_NEW_TOKENS) {
    return `the number of new tokens must be a whole number in 1..${MAX_NEW_TOKENS}`;
  }
  if (!Number.isFinite(s.temperature) || s.temperature < 0 || s.temperature > MAX_TEMPERATURE) {
    return `the temperature must be 0 (greedy) or above 0 up to ${MAX_TEMPERATURE}`;
  }
  if (s.seed !== null) {
    if (s.temperature === 0) return 'a seed is for sampling: set a temperature above 0, or clear the seed';
    if (!Number.isInteger(s.seed) || s.seed < 0 || s.seed > MAX_SEED) {
      return `the seed must be a whole number in 0..${MAX_SEED}`;
    }
  }
  return '';
}

/**
 * The example to send to `_NAME_generate`: no `_id`, so LIT's prediction
 * cache (keyed by `_id`) cannot answer with another example's generation.
 */
export function generateExample(textField: string, text: string, s: GenerateSettings) {
  const data: {[key: string]: unknown} = {
    '_id': '',   // LIT checks data._id against id
    [textField]: text,
    'max_new_tokens': s.maxNewTokens,
    'temperature': s.temperature,
    'seed': s.seed ?? '',
  };
  return {id: '', data, meta: {added: true, source: 'exbert-generate'}};
}

/** What the view shows at one step. */
export interface StepView {
  /** Index of the step's token in the sequence (P+k). */
  position: number;
  /** Tokens 0..position are shown. */
  shown: number;
  /** The step's token and the model's probability of it. */
  token: string;
  prob: number;
  /** Candidates it was chosen from (entry position-1 of the predictions). */
  candidates: Array<[string, number]>;
  /** Rank of the chosen token among them (1-based), null if not among them. */
  rank: number|null;
}

/** Number of generated tokens. */
export function numSteps(numTokens: number, start: number): number {
  return Math.max(0, numTokens - start);
}

/** Step k (0-based) of a generation with `tokens`, start P, `preds` and `probs` per position. */
export function stepView(
    tokens: string[], start: number, preds: Array<Array<[string, number]>>, probs: number[],
    step: number): StepView {
  const n = numSteps(tokens.length, start);
  if (step < 0 || step >= n) throw new RangeError(`step ${step} is outside 0..${n - 1}`);
  const position = start + step;
  const token = tokens[position];
  const candidates = preds[position - 1] ?? [];
  const at = candidates.findIndex(([t]) => t === token);
  return {position, shown: position + 1, token, prob: probs[position] ?? 0, candidates,
          rank: at < 0 ? null : at + 1};
}

/** The step after a key press (arrows, Home, End), clamped to 0..n-1; null for other keys. */
export function stepForKey(key: string, step: number, n: number): number|null {
  const last = Math.max(0, n - 1);
  switch (key) {
    case 'ArrowRight': case 'ArrowDown': return Math.min(last, step + 1);
    case 'ArrowLeft': case 'ArrowUp': return Math.max(0, step - 1);
    case 'Home': return 0;
    case 'End': return last;
    default: return null;
  }
}

/** `[H, T, T]` cut to tokens 0..shown-1 (views, no copies). */
export function leadingBlock<R extends {subarray(a: number, b: number): R}>(
    heads: R[][], shown: number): R[][] {
  return heads.map(rows => rows.slice(0, shown).map(r => r.subarray(0, shown)));
}

/** Whether each of `shown` tokens was generated (index >= start). */
export function generatedMask(shown: number, start: number): boolean[] {
  return Array.from({length: shown}, (_, i) => i >= start);
}
