/**
 * Which output fields the attention view reads, found in the LIT specs of
 * the model group (exbert_lit/lit/model_group.py): the tokens, specials,
 * predictions and per-layer attention of `_NAME_internals` (else NAME), and
 * the other measures ("value-weighted", "rollout") of `_NAME_measures` when
 * the server has one.
 */

import {AttentionHeads, TokenScores, Tokens, TokenTopKPreds} from '../../client/lib/lit_types';
import {ModelInfoMap, Spec} from '../../client/lib/types';
import {findSpecKeys} from '../../client/lib/utils';

import {availableMeasures, Measure, measureField} from '../lib/measures';

import {PACKED_SUFFIX} from './packed_attention';

/** Names of the output fields this view reads, from the model's spec. */
export interface AttentionFields {
  /** layer number (1..L) -> AttentionHeads field. */
  layers: Map<number, string>;
  /** layer number -> its packed copy, where the model has one (`_NAME_internals`). */
  packed: Map<number, string>;
  tokens: string;
  special: string|null;
  preds: string|null;
  maskToken: string|null;
  /** Input field holding the sentence (the Tokens field's parent). */
  text: string;
  /** Whether the model accepts word-pieces as input (`tokens`). */
  acceptsTokens: boolean;
  /** A sentence pair's segment of each token (masked models' `segment_ids`), if served. */
  segments?: string|null;
  /** Each token's character span (`char_start`, `char_end`), if served. */
  charStart?: string|null;
  charEnd?: string|null;
}

/** The field names for a model's spec; null if it has no attention. */
export function attentionFields(inputSpec: Spec, outputSpec: Spec):
    AttentionFields|null {
  const keys = findSpecKeys(outputSpec, AttentionHeads);
  if (keys.length === 0) return null;
  const layers = new Map<number, string>();
  for (const key of keys) {
    const match = /^layer_(\d+)\/attention$/.exec(key);
    if (match !== null) layers.set(Number(match[1]), key);
  }
  if (layers.size === 0) keys.forEach((key, i) => layers.set(i + 1, key));
  const packed = new Map<number, string>();
  for (const [layer, key] of layers) {
    if (outputSpec[key + PACKED_SUFFIX] !== undefined) {
      packed.set(layer, key + PACKED_SUFFIX);
    }
  }
  const first = outputSpec[keys[0]] as AttentionHeads;
  const tokens = first.align_in || 'tokens';
  const tokensSpec = outputSpec[tokens] as Tokens | undefined;
  const special = findSpecKeys(outputSpec, TokenScores)
                      .find(k => k === 'special_tokens') ?? null;
  const preds = findSpecKeys(outputSpec, TokenTopKPreds)
                    .find(k => (outputSpec[k] as TokenTopKPreds).align === tokens) ??
      null;
  return {
    layers,
    packed,
    tokens,
    special,
    preds,
    maskToken: tokensSpec?.mask_token || null,
    text: tokensSpec?.parent || 'text',
    acceptsTokens: tokens in inputSpec,
    segments: tokenScores(outputSpec, 'segment_ids', tokens),
    charStart: tokenScores(outputSpec, 'char_start', tokens),
    charEnd: tokenScores(outputSpec, 'char_end', tokens),
  };
}

/** `name` if the spec has it as TokenScores aligned to `tokens`, else null. */
function tokenScores(outputSpec: Spec, name: string, tokens: string): string|null {
  const spec = outputSpec[name];
  return spec instanceof TokenScores && spec.align === tokens ? name : null;
}

/** `_NAME_measures`, the group member that serves value-weighted attention and rollout. */
export function measuresModelName(model: string): string {
  return `_${model}_measures`;
}

/** The measures offered for a served model: "weights", plus what `_NAME_measures` declares. */
export function offeredMeasures(model: string, models: ModelInfoMap, layers: number[]): Measure[] {
  const info = models[measuresModelName(model)];
  return availableMeasures(info === undefined ? [] : Object.keys(info.spec.output), layers);
}

/** The LIT model and field to request a measure's layer from. */
export function measureSource(
    model: string, viewModel: string, measure: Measure, layer: number,
    fields: AttentionFields): {model: string, field: string} {
  if (measure === 'weights') {
    return {model: viewModel, field: fields.packed.get(layer) ?? fields.layers.get(layer)!};
  }
  return {model: measuresModelName(model), field: measureField(measure, layer)};
}
