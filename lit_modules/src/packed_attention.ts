/**
 * Decoding of the `layer_{l}/attention_packed` fields of a `_NAME_internals`
 * model (exbert_lit/lit/internals_model.py, pack_attention): one layer's
 * attention weights, each rounded to 4 decimals and stored as the integer
 * weight * 10^4 in a little-endian uint16, row-major over [heads, T, T],
 * base64-encoded. One string instead of H*T*T JSON numbers, which LIT's
 * encoder would write one by one.
 */

/** Fields per layer: `layer_{l}/attention` -> `layer_{l}/attention_packed`. */
export const PACKED_SUFFIX = '_packed';
const SCALE = 10000;

/** `[heads, T, T]` weights (multiples of 1e-4) from a packed field. */
export function unpackAttention(packed: string, numTokens: number): number[][][] {
  const text = atob(packed);
  const cells = numTokens * numTokens;
  if (cells === 0 || text.length % (2 * cells) !== 0) {
    throw new Error(`packed attention of ${text.length} bytes does not fit ${
        numTokens} tokens`);
  }
  const heads: number[][][] = [];
  let byte = 0;
  for (let h = 0; h < text.length / (2 * cells); h++) {
    const rows: number[][] = [];
    for (let i = 0; i < numTokens; i++) {
      const row = new Array<number>(numTokens);
      for (let j = 0; j < numTokens; j++) {
        row[j] = (text.charCodeAt(byte) | (text.charCodeAt(byte + 1) << 8)) / SCALE;
        byte += 2;
      }
      rows.push(row);
    }
    heads.push(rows);
  }
  return heads;
}
