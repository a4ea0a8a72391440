/**
 * What the attention view's measure selector offers. "weights" is the
 * attention itself (`layer_{l}/attention_packed` of `_NAME_internals`);
 * "value-weighted" (Kobayashi et al. 2020, ||alpha v W_O|| per head) and
 * "rollout" (Abnar & Zuidema 2020, one [T, T] matrix per layer) are served by
 * `_NAME_measures` as `layer_{l}/attention_norm_packed` and
 * `layer_{l}/rollout_packed`. A measure is offered only where that model's
 * spec declares its packed field for every layer the view can show, so a
 * server without the measures model shows just "weights".
 */

export type Measure = 'weights'|'value-weighted'|'rollout';

export const MEASURES: readonly Measure[] = ['weights', 'value-weighted', 'rollout'];

export const MEASURE_LABELS: {[m in Measure]: string} = {
  'weights': 'weights',
  'value-weighted': 'value-weighted',
  'rollout': 'rollout',
};

/** The packed field of a measure at a layer. */
export function measureField(measure: Measure, layer: number): string {
  switch (measure) {
    case 'weights': return `layer_${layer}/attention_packed`;
    case 'value-weighted': return `layer_${layer}/attention_norm_packed`;
    case 'rollout': return `layer_${layer}/rollout_packed`;
    default: throw new RangeError(`unknown measure ${measure}`);
  }
}

/**
 * The measures to offer, in MEASURES order: "weights" always (the internals
 * model has it), the others when `measureKeys` (the output spec keys of
 * `_NAME_measures`, [] when there is none) hold their field for every layer.
 */
export function availableMeasures(measureKeys: Iterable<string>, layers: number[]): Measure[] {
  const keys = new Set(measureKeys);
  return MEASURES.filter(m => m === 'weights' || (
      layers.length > 0 && layers.every(l => keys.has(measureField(m, l)))));
}

/** The measure to show: the wanted one if offered, else "weights". */
export function chooseMeasure(wanted: string|null, offered: Measure[]): Measure {
  return offered.find(m => m === wanted) ?? 'weights';
}

/** Whether a measure has one matrix per head (rollout has one per layer). */
export function hasHeads(measure: Measure): boolean {
  return measure !== 'rollout';
}
