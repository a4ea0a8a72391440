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

/**
 * `[heads, T, T]` weights (multiples of 1e-4) from a packed field, as
 * float32 rows: a 1,024-token layer of 9 heads is 9.4M weights, 38 MB as
 * Float32Array rows and several times that as nested JS arrays.
 */
export function unpackAttention(packed: string, numTokens: number): Float32Array[][] {
  const text = atob(packed);
  const cells = numTokens * numTokens;
  if (cells === 0 || text.length % (2 * cells) !== 0) {
    throw new Error(`packed attention of ${text.length} bytes does not fit ${
        numTokens} tokens`);
  }
  const steps = new Uint16Array(text.length / 2);
  for (let k = 0, byte = 0; k < steps.length; k++, byte += 2) {
    steps[k] = text.charCodeAt(byte) | (text.charCodeAt(byte + 1) << 8);
  }
  const heads: Float32Array[][] = [];
  for (let h = 0, at = 0; h < steps.length / cells; h++) {
    const rows: Float32Array[] = [];
    for (let i = 0; i < numTokens; i++, at += numTokens) {
      const row = new Float32Array(numTokens);
      for (let j = 0; j < numTokens; j++) row[j] = steps[at + j] / SCALE;
      rows.push(row);
    }
    heads.push(rows);
  }
  return heads;
}
