/**
 * The logit lens table of the attention view (nostalgebraist 2020): for the
 * pointed position, the top tokens the model's own read-out gives at every
 * layer 0..L and the rank there of the final prediction. The fields are
 * `_NAME_lens`'s `layer_{l}/lens` (TokenTopKPreds, top 3 per position) and
 * `layer_{l}/lens_rank` (TokenScores, 1 = top-1), docs/FIELDS.md.
 */

/** [(token, probability)], best first. */
export type Candidates = Array<[string, number]>;

/** One row of the table: a layer, its top tokens at the position, the final top-1's rank. */
export interface LensRow {
  layer: number;
  top: Candidates;
  rank: number|null;
}

/** Layers 0..L with a lens field in a `_NAME_lens` output spec, ascending. */
export function lensLayers(outputKeys: Iterable<string>): number[] {
  const layers: number[] = [];
  for (const key of outputKeys) {
    const match = /^layer_(\d+)\/lens$/.exec(key);
    if (match !== null) layers.push(Number(match[1]));
  }
  return layers.sort((a, b) => a - b);
}

/** The fields to request for the layers: each layer's lens and its rank. */
export function lensFieldNames(layers: number[]): string[] {
  return layers.flatMap(l => [`layer_${l}/lens`, `layer_${l}/lens_rank`]);
}

/**
 * The table for position `index` from one `_NAME_lens` prediction `pred`,
 * one row per layer ascending, each with at most `k` candidates.
 */
export function lensRows(
    pred: {[key: string]: unknown}, layers: number[], index: number, k = 3): LensRow[] {
  return layers.map(layer => {
    const top = ((pred[`layer_${layer}/lens`] as Candidates[] | undefined)?.[index] ?? [])
                    .slice(0, k);
    const rank = (pred[`layer_${layer}/lens_rank`] as number[] | undefined)?.[index];
    return {layer, top, rank: rank === undefined ? null : Math.round(rank)};
  });
}

/** The first layer at which the final top-1 is the lens's top-1 (null if never). */
export function firstTopLayer(rows: LensRow[]): number|null {
  return rows.find(r => r.rank === 1)?.layer ?? null;
}
