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
  // One pass from the bytes to the weights, in one buffer; each row is a view of it.
  const weights = new Float32Array(text.length / 2);
  for (let k = 0, byte = 0; k < weights.length; k++, byte += 2) {
    weights[k] = (text.charCodeAt(byte) | (text.charCodeAt(byte + 1) << 8)) / SCALE;
  }
  const heads: Float32Array[][] = [];
  for (let h = 0, at = 0; h < weights.length / cells; h++) {
    const rows: Float32Array[] = [];
    for (let i = 0; i < numTokens; i++, at += numTokens) {
      rows.push(weights.subarray(at, at + numTokens));
    }
    heads.push(rows);
  }
  return heads;
}
