/**
 * Which LIT model the exBERT views ask. The server serves each loaded model
 * as a LIT model group (exbert_lit/lit/model_group.py): `NAME` with every
 * field (gradients included) and `_NAME_internals`, a gradient-free model on
 * the same weights with tokens, attention, top-k and E(l)/C(l). LIT's model
 * selector hides `_`-prefixed models, as for its own `_NAME_salience`
 * (sequence_salience_module.ts), so users pick `NAME` and the views request
 * its internals model. Without one (another LIT server), they ask `NAME`.
 */

import {ModelInfoMap} from '../../client/lib/types';

/** `_NAME_internals`, the name the server gives NAME's internals model. */
export function internalsModelName(model: string): string {
  return `_${model}_internals`;
}

/** The model to request the views' fields from: NAME's internals model, else NAME. */
export function viewModel(model: string, models: ModelInfoMap): string {
  const internals = internalsModelName(model);
  return model !== '' && models[internals] !== undefined ? internals : model;
}
