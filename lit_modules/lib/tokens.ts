/**
 * Word-piece helpers: how a token is shown, and how a sentence with one
 * word-piece replaced by the mask token is written back as text.
 */

/** Markers tokenizers use for "this piece starts a word" / "continues one". */
const WORD_START = /^[\u0120\u2581]/;   // GPT-2 / RoBERTa 'Ġ', SentencePiece '▁'
const CONTINUATION = /^##/;             // BERT / WordPiece

/**
 * A word-piece for display: word markers removed, never empty (a piece that
 * is only a word-start marker, i.e. a space, shows as '␣').
 */
export function displayToken(token: string): string {
  const shown = token.replace(WORD_START, '').replace(CONTINUATION, '')
                    .replace(/\u010a/g, '\\n');
  if (shown !== '') return shown;
  return WORD_START.test(token) ? '\u2423' : token;
}

/**
 * Text from word-pieces (specials skipped) with piece `index` replaced by
 * `mask`. WordPiece joins `##` pieces to the previous one and separates
 * others by spaces; byte-level BPE / SentencePiece use their start markers.
 * Good enough to label a new datapoint; the model gets the exact pieces.
 */
export function maskedText(
    tokens: string[], special: boolean[], index: number,
    mask: string): string {
  const byteLevel = tokens.some(t => WORD_START.test(t));
  let text = '';
  tokens.forEach((token, i) => {
    if (special[i] && i !== index) return;
    if (i === index) {
      const startsWord =
          byteLevel ? WORD_START.test(token) || text === '' : true;
      text += (startsWord && text !== '' ? ' ' : '') + mask;
      return;
    }
    if (byteLevel) {
      text += WORD_START.test(token) ? ' ' + token.slice(1) :
                                       token.replace(/\u010a/g, '\n');
    } else if (CONTINUATION.test(token)) {
      text += token.slice(2);
    } else {
      text += (text === '' ? '' : ' ') + token;
    }
  });
  return text.trim();
}

/** tokens with piece `index` replaced by `mask` (specials kept). */
export function maskTokens(tokens: string[], index: number, mask: string):
    string[] {
  if (index < 0 || index >= tokens.length) {
    throw new RangeError(`token ${index} is out of range 0..${tokens.length - 1}`);
  }
  return tokens.map((t, i) => (i === index ? mask : t));
}
