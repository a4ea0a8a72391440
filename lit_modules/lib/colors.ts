/**
 * Colour scales of the exBERT views.
 *
 * Neighbour offsets get fixed colours so a bar in a histogram and a column
 * in the match list that show the same offset always look the same: the
 * summarised token (0) is orange, left neighbours blues, right neighbours
 * greens, fading with distance.
 */

const LEFT = ['#1f77b4', '#6baed6', '#9ecae1', '#c6dbef'];
const RIGHT = ['#2ca02c', '#74c476', '#a1d99b', '#c7e9c0'];
const CENTRE = '#ff7f0e';
/** The max-attention histograms' colour. */
export const MAX_ATT_COLOR = '#9467bd';

/** Colour of the column / bars for a neighbour offset. */
export function offsetColor(offset: number): string {
  if (!Number.isInteger(offset)) {
    throw new RangeError(`offset must be an integer, got ${offset}`);
  }
  if (offset === 0) return CENTRE;
  const palette = offset < 0 ? LEFT : RIGHT;
  return palette[Math.min(Math.abs(offset), palette.length) - 1];
}

/** Label of an offset as the search result keys it: "0", "-1", "+2". */
export function offsetKey(offset: number): string {
  return offset > 0 ? `+${offset}` : `${offset}`;
}

export interface CurveStyle {
  opacity: number;
  width: number;
}

/**
 * Opacity and stroke width of an attention curve. Weight 1 is fully opaque
 * and 4 px wide. Opacity grows with the square root of the weight, so the
 * typical weights of a spread-out head (0.05-0.2) stay visible while the
 * order of weights is kept; weights are clamped to [0, 1].
 */
export function curveStyle(weight: number): CurveStyle {
  const w = Math.min(1, Math.max(0, weight));
  return {
    opacity: Math.round(Math.sqrt(w) * 1000) / 1000,
    width: Math.round((0.5 + 3.5 * w) * 100) / 100,
  };
}

/** Colour of head h of n (1-based), evenly spaced hues. */
export function headColor(h: number, n: number): string {
  const hue = Math.round(((h - 1) * 360) / Math.max(1, n));
  return `hsl(${hue}, 60%, 45%)`;
}

/**
 * A white-to-blue scale for heat-map cells (per-head strips), as rgb().
 * Values outside [0, 1] are clamped.
 */
export function heatColor(value: number): string {
  const [r, g, b] = heatRgb(value);
  return `rgb(${r}, ${g}, ${b})`;
}

/** heatColor as [r, g, b] bytes, for canvas pixels. */
export function heatRgb(value: number): [number, number, number] {
  const v = Number.isNaN(value) ? 0 : Math.min(1, Math.max(0, value));
  const lerp = (a: number, b: number) => Math.round(a + (b - a) * v);
  return [lerp(255, 8), lerp(255, 81), lerp(255, 156)];
}

/**
 * RGBA pixels (row-major, `size` x `size`) of a heat-map thumbnail of the
 * square matrix `m` restricted to the rows/columns in `keep`, sampled
 * nearest-neighbour: cheap for any sentence length, unlike one SVG rect per
 * cell (a 128-token sentence has 16k cells per head).
 */
export function thumbnailPixels(
    m: number[][], keep: number[], size: number): Uint8ClampedArray {
  const pixels = new Uint8ClampedArray(size * size * 4);
  const n = keep.length;
  if (n === 0) return pixels;
  for (let y = 0; y < size; y++) {
    const i = keep[Math.min(n - 1, Math.floor((y * n) / size))];
    for (let x = 0; x < size; x++) {
      const j = keep[Math.min(n - 1, Math.floor((x * n) / size))];
      const [r, g, b] = heatRgb(m[i][j]);
      const at = (y * size + x) * 4;
      pixels[at] = r;
      pixels[at + 1] = g;
      pixels[at + 2] = b;
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}
